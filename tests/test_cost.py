"""The cost model: benchmark loading, the overhead + work / throughput fit, linear extrapolation, the CLI."""
import copy
import math
from pathlib import Path

import pytest
import yaml

from diffusability.cost import (Fit, Job, dit_params, estimate, fit_benchmarks, fit_rule,
                                job_work, load_benchmarks, main, paper_dit_budget, parse_dry_run)
from diffusability.workflow_config import load_schema, resolve_config

ROOT = Path(__file__).resolve().parents[1]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
OVERHEAD, THROUGHPUT = 12.0, 5e9


@pytest.fixture(scope="module")
def configs():
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return {s: resolve_config(base, ROOT / "config", {"scale": s}, schema) for s in ("smoke", "tiny", "paper")}


def _write_bench(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds:.4f}\t0:00:01\t900.5\t3800\t600\t700\t60\t50\t60\t{seconds * 0.6:.2f}\n")


def _synthetic(root: Path, configs) -> None:
    """train_dit jobs of two scales (one a video DiT) timed exactly as OVERHEAD + work / THROUGHPUT, plus a rule
    without a work model and a one-job rule."""
    jobs = {"smoke": ["tiny-c4-kl0-s0__dit-tiny-s0", "cogvideox-tiny-c4-kl1e-06-s0__dit-tiny-s0"],
            "tiny": ["tiny-c16-kl1e-06-s0__dit-tiny-s0", "tiny-c16-kl1e-06-s0__se0.5-f2x4-bilinear__dit-tiny-s1"]}
    for scale, names in jobs.items():
        for name in names:
            seconds = OVERHEAD + job_work(configs[scale], "train_dit", name) / THROUGHPUT
            _write_bench(root / scale / "train_dit" / f"{name}.tsv", seconds)
        _write_bench(root / scale / "rgb_spectrum.tsv", 7.0 if scale == "smoke" else 11.0)


def test_load_benchmarks(tmp_path, configs):
    _synthetic(tmp_path, configs)
    bench = load_benchmarks(tmp_path)
    assert list(bench.columns) == ["scale", "rule", "job", "seconds", "max_rss_mb"]
    assert len(bench) == 6 and set(bench.rule) == {"train_dit", "rgb_spectrum"}
    assert set(bench[bench.rule == "rgb_spectrum"].job) == {""}
    assert (bench.max_rss_mb == 900.5).all()


def test_fit_recovers_overhead_and_throughput(tmp_path, configs):
    _synthetic(tmp_path, configs)
    fits = fit_benchmarks(load_benchmarks(tmp_path), configs)
    dit = fits["train_dit"]
    assert dit.basis == "least squares" and dit.jobs == 4
    assert dit.overhead_s == pytest.approx(OVERHEAD, rel=1e-3)
    assert dit.throughput == pytest.approx(THROUGHPUT, rel=1e-3)
    # No work model: the median time at the largest scale measured (tiny), whatever the work.
    assert fits["rgb_spectrum"].seconds(0.0) == 11.0 and math.isinf(fits["rgb_spectrum"].throughput)


def test_fit_with_one_work_value_uses_the_default_overhead():
    fit = fit_rule("train_ae", [4e12, 4e12], [100.0, 110.0])
    assert fit.basis == "one work value" and fit.overhead_s == 10.0
    assert fit.throughput == pytest.approx(4e12 / 95.0)


def test_estimate_scales_linearly_with_work(configs):
    paper = configs["paper"]
    fits = {"train_dit": Fit("train_dit", 0.0, 1e10, 2, "least squares")}
    jobs = [Job("train_dit", "flux-c16-kl1e-06-s0__dit-XL2-s0", 1), Job("tab_main_image", "", 0)]

    def hours(config, speedup=1.0):
        return estimate(jobs, config, fits, speedup).set_index("rule").loc["train_dit", "gpu_hours"]

    longer = copy.deepcopy(paper)
    longer["dit"]["steps"] *= 2
    assert hours(longer) == pytest.approx(2 * hours(paper))
    assert hours(paper, speedup=100.0) == pytest.approx(hours(paper) / 100)
    # 6 x params x 256 tokens (32^2 latents, patch 2) x batch 256 x 400K steps.
    assert hours(paper) * 3600 * 1e10 == pytest.approx(6 * dit_params("XL/2") * 256 * 256 * 400_000)
    table = estimate(jobs, paper, fits, 1.0).set_index("rule")
    assert math.isnan(table.loc["tab_main_image", "wall_hours"])  # never benchmarked: unknown, not free
    assert table.loc["total", "jobs"] == 2 and table.loc["total", "gpu_jobs"] == 1


def test_overhead_is_not_sped_up():
    fit = Fit("train_ae", 100.0, 1e9, 3, "least squares")
    assert fit.seconds(1e12, speedup=1000.0) == pytest.approx(101.0)


def test_paper_budget_and_presets():
    assert dit_params("XL/2") == pytest.approx(675e6, rel=0.02)
    assert dit_params("S/2") == pytest.approx(33e6, rel=0.05)
    flops, hours = paper_dit_budget()
    assert flops == pytest.approx(1.06e20, rel=0.01) and hours == pytest.approx(74.5, rel=0.01)


def test_parse_dry_run():
    log = """Job stats:
job          count
train_dit        1
total            3

[Thu Nov 26 04:36:13 2026]
rule train_dit:
    input: results/paper/latents/flux-c16-kl1e-06-s0.safetensors
    benchmark: benchmarks/paper/train_dit/flux-c16-kl1e-06-s0__dit-XL2-s0.tsv
    wildcards: dit=flux-c16-kl1e-06-s0__dit-XL2-s0
    resources: tmpdir=/tmp, runtime=720, gpu=8, nodes=2, launcher=submitit, mem_mb=256000, mem=256 GB
Shell command: None

rule reference_stats:
    benchmark: benchmarks/paper/reference_stats.tsv
    resources: tmpdir=/tmp, runtime=60, gpu=1, mem_mb=32000

localrule ablation_table:
    wildcards: kind=se_weight
    resources: tmpdir=/tmp
"""
    assert parse_dry_run(log) == [Job("train_dit", "flux-c16-kl1e-06-s0__dit-XL2-s0", 8, 2, 256000),
                                  Job("reference_stats", "", 1, 1, 32000), Job("ablation_table", "se_weight", 0)]


def test_sharded_stages_split_the_work_and_multi_node_jobs_split_the_hours(configs):
    paper, name = configs["paper"], "flux-c16-kl1e-06-s0__dit-XL2-s0"
    unsharded = copy.deepcopy(paper)
    unsharded["dit"].update(sample_shards=1, encode_shards=1)
    # 8 sampling shards hold the work of one unsharded evaluation; the scoring job after them only adds sums
    shard = job_work(paper, "sample_dit", f"{name}.shard-00003-of-00008")
    assert shard > 0 and 8 * shard == pytest.approx(job_work(unsharded, "evaluate_dit", name))
    assert job_work(paper, "evaluate_dit", name) == 0.0
    ae = "flux-c16-kl1e-06-s0"
    assert 32 * job_work(paper, "encode_latent_shard", f"{ae}.shard-00000-of-00032") == pytest.approx(
        job_work(unsharded, "encode_latents", ae))
    # A shard rule never benchmarked is priced with its unsharded rule's fit; a 2 x 8 GPU training takes 1/16 of the
    # hours of one GPU and the same GPU-hours.
    fits = {"train_dit": Fit("train_dit", 0.0, 1e10, 2, "least squares"),
            "evaluate_dit": Fit("evaluate_dit", 0.0, 1e10, 2, "least squares")}
    jobs = [Job("train_dit", name, 8, 2, 256000), Job("sample_dit", f"{name}.shard-00000-of-00008", 1, 1, 64000)]
    table = estimate(jobs, paper, fits, 1.0).set_index("rule")
    one = estimate([Job("train_dit", name, 1)], paper, fits, 1.0).set_index("rule")
    assert table.loc["train_dit", "gpu_hours"] == pytest.approx(one.loc["train_dit", "gpu_hours"])
    assert table.loc["train_dit", "wall_hours"] == pytest.approx(one.loc["train_dit", "wall_hours"] / 16)
    assert table.loc["train_dit", "gpus_per_job"] == 16 and table.loc["train_dit", "peak_mem_gb"] == 250
    assert table.loc["sample_dit", "basis"] == "fit of evaluate_dit" and table.loc["sample_dit", "gpu_hours"] > 0
    assert table.loc["total", "peak_mem_gb"] == 250


@pytest.mark.slow  # a Snakemake dry run of the workflow
def test_cli_prices_the_real_workflow(tmp_path, configs, capsys, monkeypatch):
    """A dry run of the repository's workflow at the smoke scale, priced with synthetic benchmarks."""
    _synthetic(tmp_path, configs)
    monkeypatch.chdir(ROOT)
    assert main(["all_tables", "--scale", "smoke", "--benchmarks", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "train_dit" in rows and "total" in rows
    assert "Device factor" in out and "Paper budget" in out
    assert "peak_mem_gb" in out and "gpus_per_job" in out
    # The README's command: the sharded paper plan, one row per rule with its jobs, GPU-hours and memory
    assert main(["all_tables", "--scale", "paper", "--benchmarks", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines()
            if line.startswith("| ")}
    assert rows["sample_dit"][:3] == ["72", "72", "1"] and rows["encode_latent_shard"][0] == "288"
    assert rows["train_dit"][:3] == ["9", "9", "32"] and rows["train_dit"][6] == "250"  # 4 x 8 GPUs, GB per node
