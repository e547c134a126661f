"""The paper map (config/paper_map.yaml) and the workflow agree: every item names a rule, every figure and table
rule is an item, and all_figures / all_tables are exactly the items' outputs."""
import re

import pytest

from conftest import ROOT, copy_workflow, snakemake, write_ae_config
from diffusability.paper_map import load_paper_map

ITEMS = load_paper_map(ROOT / "config" / "paper_map.yaml")


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """Rule -> outputs of every job of `all` at smoke scale (a dry run in an empty copy plans every job), with one AE
    in zoo.models so that the AE-zoo items are built too."""
    wf = copy_workflow(tmp_path_factory.mktemp("map"))
    vae = write_ae_config(tmp_path_factory.mktemp("vae") / "vae")
    (wf / "zoo.yaml").write_text(f"zoo:\n  models:\n    - {{name: mine, source: '{vae}'}}\n")
    proc = snakemake(wf, "-n", "all", "--config", "scale=smoke", "--configfile", "zoo.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs, rule = {}, None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
        elif rule and line.strip().startswith("output:"):
            outputs.setdefault(rule, set()).update(f.strip() for f in line.split(":", 1)[1].split(","))
    rules = snakemake(wf, "--list-rules").stdout.split()
    return outputs, set(rules)


@pytest.mark.slow  # a Snakemake dry run of `all`
def test_every_item_names_a_rule_of_the_workflow(plan):
    outputs, rules = plan
    for item in ITEMS:
        assert item.target in rules, f"paper map item {item.id} names no rule {item.target!r}"
        assert item.target in outputs, f"paper map item {item.id}: rule {item.target} is not part of `all`"


@pytest.mark.slow  # a Snakemake dry run of `all`
def test_every_figure_and_table_output_is_an_item(plan):
    outputs, _ = plan
    targets = {item.target for item in ITEMS}
    for rule, files in outputs.items():
        if any(f.startswith("paper_figures/") for f in files):
            assert rule in targets, f"rule {rule} writes {sorted(files)[0]} but is not in config/paper_map.yaml"
    defined = re.findall(r"^rule (\w+):", (ROOT / "workflow" / "rules" / "figures.smk").read_text(), re.M)
    assert set(defined) - targets == {"all_tables", "all_figures"}


def test_every_item_is_told_apart_and_runs_at_a_known_scale():
    captions = [it.caption for it in ITEMS]
    assert len(set(captions)) == len(captions), "two items share a caption: the report would show one text twice"
    scales = {p.stem for p in (ROOT / "config" / "scales").glob("*.yaml")}
    for item in ITEMS:
        assert set(item.scales) <= scales, f"item {item.id} names scales {item.scales}; known: {sorted(scales)}"
        assert "\n" not in item.caption and "  " not in item.caption, item.id  # folded to one line for the report


GOOD = "{id: a, paper: x, kind: figure, target: r, caption: c, scales: [tiny], choices: c}"


@pytest.mark.parametrize("entries, message", [
    ([GOOD, GOOD], "item id 'a' appears twice"),
    ([GOOD.replace("kind: figure", "kind: plot")], "kind 'plot'"),
    ([GOOD.replace("target: r, ", "")], r"item 0 lacks \['target'\]"),
])
def test_a_map_with_a_bad_item_is_refused(tmp_path, entries, message):
    bad = tmp_path / "map.yaml"
    bad.write_text("items:\n" + "".join(f"  - {e}\n" for e in entries))
    with pytest.raises(ValueError, match=message):
        load_paper_map(bad)


def test_zoo_items_are_built_only_when_zoo_models_names_an_ae():
    from diffusability.paper_map import items_of
    zoo = {"fig_ae_zoo", "tab_ae_zoo"}
    for kind in ("figure", "table"):
        assert not zoo & {it.id for it in items_of(ITEMS, kind, video=True)}
        assert len(zoo & {it.id for it in items_of(ITEMS, kind, video=True, zoo=True)}) == 1


def test_a_caption_written_over_several_lines_reads_as_one(tmp_path):
    folded = tmp_path / "map.yaml"
    folded.write_text("items:\n  - id: a\n    paper: x\n    kind: table\n    target: r\n    caption: |\n"
                      "      first line\n      second   line\n    scales: [tiny]\n    choices: c\n")
    assert load_paper_map(folded)[0].caption == "first line second line"
