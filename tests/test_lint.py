"""`snakemake --lint` on the workflow: the one kind of lint left is the one the README gives its reason for (rules
without a conda environment or container: they run in the project's virtualenv)."""
import re

import pytest

from conftest import copy_workflow, snakemake

pytestmark = pytest.mark.slow  # starts Snakemake on the workflow

ACCEPTED = "Specify a conda environment or container for each rule."


def test_lint_reports_only_rules_without_a_software_environment(tmp_path):
    wf = copy_workflow(tmp_path)
    proc = snakemake(wf, "--lint")
    out = proc.stdout + proc.stderr
    headers = re.findall(r"^Lints for (rule|snakefile) (\S+)", out, flags=re.M)
    titles = re.findall(r"^\s+\* (.+?):$", out, flags=re.M)
    assert headers, out[-3000:]
    assert {kind for kind, _ in headers} == {"rule"}, headers  # no snakefile-level lint (mixed functions, + paths)
    assert set(titles) == {ACCEPTED} and len(titles) == len(headers), titles
    listed = set(snakemake(wf, "--list-rules").stdout.split())
    # every rule that runs something (the target-only rules all, all_tables, all_figures run nothing), nothing else
    assert {name for _, name in headers} == listed - {"all", "all_tables", "all_figures"}
