"""What a target costs at a scale we have not run, extrapolated from the Snakemake benchmarks of the scales we have.

    python -m diffusability.cost all_tables --scale paper [--benchmarks benchmarks] [--gpu-speedup X]

Every heavy rule gets a *work* measure: the approximate FLOPs of one job, computed from the resolved config of its
scale (steps x batch x pixels x the model's per-pixel cost for autoencoders, 6 x params x tokens x batch x steps for
DiT training). Per rule, the measured seconds are fitted as `overhead + work / throughput`; the target's jobs (from a
Snakemake dry run) are then priced with the target scale's work. Throughput measured on CPUs does not carry over to
GPUs, so GPU jobs divide their work term by a device factor: by default the ratio of an H100's bf16 rate at 30%
utilisation to the FLOP rate our CPU reached on DiT training (the one rule whose work is an honest FLOP count).
The numbers are order-of-magnitude planning aids; the paper's own DiT budget is printed beside them as a check.
"""
from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import nnls

from .grid import VARIANT_SEP, video_view
from .presets import AE_PRESETS, DIT_PRESETS, VIDEO_AE_PRESETS, latent_frames
from .workflow_config import SCALES, load_schema, resolve_config

GPU_PEAK_FLOPS = 989e12     # H100 SXM dense bf16
GPU_MFU = 0.30              # utilisation we assume for our GPU jobs (DiT-XL/2 bf16 reaches about this)
PAPER_MFU = 0.40            # utilisation behind the paper-budget line (config/scales/paper.yaml's estimate)
CPU_FALLBACK_FLOPS = 50e9   # a 2-core CPU's rate, used only when no train_dit benchmark gives a measured one
DEFAULT_OVERHEAD_S = 10.0   # start-up of a job (Python, torch, data) when a single work value cannot separate it
SE_EXTRA = 1.3              # an SE fine-tune step also encodes/decodes the downsampled batch (our estimate)
FEATURE_MACS_PER_PIXEL = 64e3  # Inception-v3: 5.7 GMAC at 299^2; the proxy nets are priced alike

TAPS_2D, TAPS_3D = 9, 27  # conv taps of the image (3x3) and video (3x3x3) presets


def dit_params(preset: str) -> float:
    """Parameters of a DiT preset: per block 4w^2 attention + 8w^2 MLP + 6w^2 adaLN-Zero modulation, i.e. 18 d w^2
    (675M for XL/2, 33M for S/2, as published)."""
    p = DIT_PRESETS[preset]
    return 18.0 * p.depth * p.width ** 2


def ae_macs_per_pixel(preset: str, compression: int) -> float:
    """Multiply-accumulates of one encode + decode per input pixel: each level has `layers` encoder and `layers + 1`
    decoder resnets of two convs at width w, on 4^-level of the pixels (attention and norms ignored)."""
    if preset in VIDEO_AE_PRESETS:
        kw = VIDEO_AE_PRESETS[preset].kwargs
        base, layers = tuple(kw["block_out_channels"]), kw["layers_per_block"]
        layers = sum(layers) / len(layers) if isinstance(layers, tuple) else layers
        levels, taps, patch = len(base), TAPS_3D, kw.get("patch_size", 1)
    else:
        p = AE_PRESETS[preset]
        base, layers, taps, patch = p.widths, p.layers_per_block, TAPS_2D, 1
        levels = int(math.log2(compression)) + 1
    widths = [base[min(i, len(base) - 1)] for i in range(levels)]
    return sum((2 * layers + 1) * 2 * taps * w ** 2 / 4 ** i for i, w in enumerate(widths)) / patch ** 2


def _pixels(v: dict) -> int:
    return v["data"]["resolution"] ** 2 * v["data"].get("frames", 1)


def _ae_flops(v: dict, samples: float, passes: float) -> float:
    """FLOPs (2 a MAC) of `samples` AE passes; passes 3 = forward + backward, 0.5 = encoder only."""
    return 2 * passes * ae_macs_per_pixel(v["ae"]["preset"], v["ae"]["compression"]) * _pixels(v) * samples


def _dit_tokens(v: dict) -> int:
    side = v["data"]["resolution"] // v["ae"]["compression"] // 2
    if v.get("modality") != "video":
        return side ** 2
    frames = latent_frames(v["data"]["frames"], VIDEO_AE_PRESETS[v["ae"]["preset"]].temporal)
    return side ** 2 * max(frames // v["dit"].get("patch_t", 1), 1)


def _dit_preset(v: dict, job: str) -> str:
    """The DiT preset a job name carries (grid.dit_name drops the '/'), else the scale's first preset."""
    m = re.search(r"__dit-([A-Za-z0-9]+)-s\d+$", job)
    return {p.replace("/", ""): p for p in DIT_PRESETS}[m.group(1)] if m else v["dit"]["presets"][0]


def _train_dit(v: dict, job: str) -> float:
    d = v["dit"]
    return 6 * dit_params(_dit_preset(v, job)) * _dit_tokens(v) * d["batch_size"] * d["steps"]


def _evaluate_dit(v: dict, job: str) -> float:
    """Sampling every kept snapshot (x2 with classifier-free guidance); decoding and features are left out."""
    d = v["dit"]
    cfg = 2 if d["guidance"] != 1 else 1
    return (2 * cfg * dit_params(_dit_preset(v, job)) * _dit_tokens(v) * d["num_samples"] * d["sample_steps"]
            * len(d["eval_steps"]))


def _reference_stats(v: dict, job: str) -> float:
    return 2 * FEATURE_MACS_PER_PIXEL * _pixels(v) * v["dit"]["reference_images"]


def _encode(v: dict, job: str) -> float:
    return _ae_flops(v, v["dit"]["num_latents"] or v["dit"]["reference_images"], 0.5)


def _sharded(work, key: str, part: bool):
    """The work of one job of a stage split over dit.<key> shards (`part`: a shard's share), or of the job that
    follows the shards (the whole stage with one shard, else a gather of sums: start-up only, no work)."""
    def shard_work(v: dict, job: str) -> float:
        n = v["dit"][key]
        return work(v, job) / n if part else (work(v, job) if n == 1 else 0.0)
    return shard_work


# rule -> FLOPs of one of its jobs, from the config view the job runs under and the job's name:
#   train_ae / finetune_se   steps x batch training passes of the AE (backward = 2 forwards); SE x1.3
#   evaluate_ae              an encode + decode of every reconstruction-metric and spectrum image
#   encode_latents           an encode (half the AE) of every cached training latent (or the whole split)
#   erasure                  a decode of every (AE variant, erased fraction, image); RGB's erasure is free
#   *reference_stats         a feature-network pass over every reference image or clip
#   train_dit / evaluate_dit 6 N T per trained sample; 2 N T per sampler step of every sample of every snapshot
#   *_shard / sample_dit     a shard's share of its stage (dit.*_shards); the gather after the shards: no work
#   export_adm               sampling the final snapshot once more
WORK = {
    "train_ae": lambda v, job: _ae_flops(v, v["ae"]["steps"] * v["ae"]["batch_size"], 3),
    "finetune_se": lambda v, job: SE_EXTRA * _ae_flops(v, v["se"]["steps"] * v["ae"]["batch_size"], 3),
    "evaluate_ae": lambda v, job: _ae_flops(v, v["eval"]["num_images"] + v["spectrum"]["num_images"], 1),
    "encode_latents": _sharded(_encode, "encode_shards", part=False),
    "encode_latent_shard": _sharded(_encode, "encode_shards", part=True),
    "erasure": lambda v, job: _ae_flops(v, 3 * v["erasure"]["num_images"] * len(v["erasure"]["fractions"]), 1),
    "reference_stats": _sharded(_reference_stats, "reference_shards", part=False),
    "video_reference_stats": _sharded(_reference_stats, "reference_shards", part=False),
    "reference_shard": _sharded(_reference_stats, "reference_shards", part=True),
    "video_reference_shard": _sharded(_reference_stats, "reference_shards", part=True),
    "train_dit": _train_dit,
    "evaluate_dit": _sharded(_evaluate_dit, "sample_shards", part=False),
    "sample_dit": _sharded(_evaluate_dit, "sample_shards", part=True),
    "export_adm": lambda v, job: _evaluate_dit(v, job) / len(v["dit"]["eval_steps"]),
}
# A rule never run at the measured scales (one shard there) is priced with the fit of the rule running the same code
# unsharded: the same throughput per FLOP.
FIT_OF = {"encode_latent_shard": "encode_latents", "reference_shard": "reference_stats",
          "video_reference_shard": "video_reference_stats", "sample_dit": "evaluate_dit", "export_adm": "evaluate_dit"}
SHARD_SUFFIX = re.compile(r"\.shard-\d+-of-\d+$")  # shards.SHARD_WILDCARDS in a job's name


def job_view(config: dict, rule: str, job: str) -> dict:
    """The config a job runs under: the video view for video AEs (names starting with a video preset) and video
    rules, else the image config. Video presets absent from this scale's video.models still get their own sizes."""
    m = re.match(r"(.+?)-(?:c\d+-kl|pretrained)", job.split(VARIANT_SEP)[0])
    preset = m.group(1) if m else None
    models = config["video"]["models"]
    if not models or not (rule.startswith("video_") or preset in VIDEO_AE_PRESETS):
        return config
    model = next((x for x in models if x["preset"] == preset), None)
    if model is None:
        model = {**models[0], **({"preset": preset, "compression": VIDEO_AE_PRESETS[preset].spatial} if preset else {})}
    return video_view(config, model)


def job_work(config: dict, rule: str, job: str) -> float:
    """FLOPs of one job; 0 for rules without a work model (their time is all overhead)."""
    job = SHARD_SUFFIX.sub("", job)
    return float(WORK[rule](job_view(config, rule, job), job)) if rule in WORK else 0.0


def load_benchmarks(root: str | Path) -> pd.DataFrame:
    """Every benchmarks/<scale>/<rule>[/<job>].tsv as one row (mean over repeats)."""
    rows = []
    for path in sorted(Path(root).glob("*/**/*.tsv")):
        parts = path.relative_to(root).parts
        if len(parts) not in (2, 3):
            continue
        bench = pd.read_csv(path, sep="\t")
        rule, job = (path.stem, "") if len(parts) == 2 else (parts[1], path.stem)
        rows.append({"scale": parts[0], "rule": rule, "job": job, "seconds": float(bench["s"].mean()),
                     "max_rss_mb": float(pd.to_numeric(bench["max_rss"], errors="coerce").mean())})
    return pd.DataFrame(rows, columns=["scale", "rule", "job", "seconds", "max_rss_mb"])


@dataclass(frozen=True)
class Fit:
    rule: str
    overhead_s: float
    throughput: float    # FLOP/s of the work term; inf for rules without a work model
    jobs: int
    basis: str

    def seconds(self, work: float, speedup: float = 1.0) -> float:
        return self.overhead_s + (work / (self.throughput * speedup) if work else 0.0)


def fit_rule(rule: str, work, seconds) -> Fit:
    """seconds = overhead + work / throughput, non-negative least squares when the jobs span two or more work values;
    else (or when the fit finds no work dependence) the largest-work jobs less a default start-up overhead."""
    w, s = np.asarray(work, float), np.asarray(seconds, float)
    if np.unique(w).size >= 2:
        (overhead, slope), _ = nnls(np.c_[np.ones_like(w), w / w.max()], s)
        if slope > 0:
            return Fit(rule, float(overhead), float(w.max() / slope), len(w), "least squares")
    top = s[w == w.max()].mean()
    overhead = min(DEFAULT_OVERHEAD_S, top / 2)
    return Fit(rule, overhead, float(w.max() / (top - overhead)), len(w), "one work value")


def fit_benchmarks(bench: pd.DataFrame, configs: dict[str, dict]) -> dict[str, Fit]:
    """One Fit per benchmarked rule. Rules without a work model take the median time at the largest measured scale."""
    bench = bench[bench.scale.isin(configs)]
    fits = {}
    for rule, rows in bench.groupby("rule", sort=False):
        if rule in WORK:
            work = [job_work(configs[r.scale], rule, r.job) for r in rows.itertuples()]
            fits[rule] = fit_rule(rule, work, rows.seconds)
        else:
            top = rows[rows.scale == max(rows.scale, key=SCALES.index)]
            fits[rule] = Fit(rule, float(top.seconds.median()), math.inf, len(rows), "median (no work model)")
    return fits


class Job(NamedTuple):
    rule: str
    name: str    # the benchmark file's stem (wildcards joined by "__"), "" for a rule with one job
    gpus: int    # per node
    nodes: int = 1
    mem_mb: int = 0  # per node (resources.<rule>.mem_mb: what Slurm lets the job hold)


def parse_dry_run(text: str) -> list[Job]:
    """The jobs of a `snakemake -n` log: each `rule X:` block's benchmark name (else wildcards) and gpu resource."""
    jobs, cur = [], None
    for line in text.splitlines() + ["rule end:"]:
        head = re.match(r"^(?:local)?rule (\S+):$", line)
        if head:
            if cur:
                jobs.append(Job(cur["rule"], cur.get("bench", cur.get("wildcards", "")), cur.get("gpus", 0),
                                cur.get("nodes", 1), cur.get("mem_mb", 0)))
            cur = {"rule": head.group(1)}
        elif cur and (m := re.match(r"^\s+(benchmark|wildcards|resources): (.*)$", line)):
            key, val = m.groups()
            if key == "benchmark":
                path = Path(val.strip())
                cur["bench"] = path.stem if path.parent.name == cur["rule"] else ""
            elif key == "wildcards":
                cur["wildcards"] = VARIANT_SEP.join(kv.split("=", 1)[1] for kv in val.split(", "))
            else:
                for field, res in (("gpus", "gpu"), ("nodes", "nodes"), ("mem_mb", "mem_mb")):
                    if g := re.search(rf"\b{res}=(\d+)", val):
                        cur[field] = int(g.group(1))
    return jobs


def dry_run_jobs(target: str, scale: str, root: str | Path = ".") -> list[Job]:
    """Every job of `target` at `scale` (forced, so finished results do not hide jobs), from a dry run in `root`."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe) if exe.exists() else "snakemake", target, "-n", "-F", "--config", f"scale={scale}"]
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return parse_dry_run(out.stdout + "\n" + out.stderr)


def estimate(jobs: list[Job], config: dict, fits: dict[str, Fit], gpu_speedup: float) -> pd.DataFrame:
    """Per rule: jobs (one per shard of a sharded stage), GPUs of its largest job (nodes x GPUs per node), FLOPs a
    job, hours run one after another (`wall_hours`), GPU-hours, and the peak memory a job may hold (its mem_mb
    resource, per node), with a total row. GPU jobs divide only their work term by `gpu_speedup` x their GPUs (start-up
    does not get faster); rules never benchmarked are NaN (not zero) so the total says what it leaves out."""
    rows = []
    for job in jobs:
        fit, work = fits.get(job.rule) or fits.get(FIT_OF.get(job.rule)), job_work(config, job.rule, job.name)
        gpus = job.gpus * job.nodes  # data-parallel ranks share the work term
        sec = fit.seconds(work, gpu_speedup * gpus if gpus else 1.0) if fit else math.nan
        basis = "not benchmarked" if not fit else fit.basis if fit.rule == job.rule else f"fit of {fit.rule}"
        rows.append({"rule": job.rule, "work": work if job.rule in WORK else math.nan, "seconds": sec,
                     "gpu_seconds": sec * gpus, "gpu": gpus > 0, "gpus": gpus,
                     "mem_gb": job.mem_mb / 1024 if job.mem_mb else math.nan, "basis": basis})
    per_job = pd.DataFrame(rows)
    g = per_job.groupby("rule", sort=False)
    table = pd.DataFrame({"jobs": g.size(), "gpu_jobs": g["gpu"].sum(), "gpus_per_job": g["gpus"].max(),
                          "flop_per_job": g["work"].mean(), "wall_hours": g["seconds"].sum(min_count=1) / 3600,
                          "gpu_hours": g["gpu_seconds"].sum(min_count=1) / 3600,
                          "peak_mem_gb": g["mem_gb"].max(), "basis": g["basis"].first()})
    total = {"jobs": len(per_job), "gpu_jobs": int(per_job.gpu.sum()), "gpus_per_job": per_job.gpus.max(),
             "flop_per_job": math.nan, "wall_hours": table.wall_hours.sum(), "gpu_hours": table.gpu_hours.sum(),
             "peak_mem_gb": per_job.mem_gb.max(), "basis": ""}
    return pd.concat([table, pd.DataFrame([total], index=["total"])]).rename_axis("rule").reset_index()


def default_gpu_speedup(fits: dict[str, Fit]) -> tuple[float, str]:
    """GPU rate (peak x assumed utilisation) over the CPU rate measured on DiT training (else a nominal CPU rate)."""
    dit = fits.get("train_dit")
    measured = dit is not None and math.isfinite(dit.throughput)
    cpu = dit.throughput if measured else CPU_FALLBACK_FLOPS
    source = f"measured on train_dit ({dit.jobs} jobs)" if measured else "nominal, no train_dit benchmark"
    speedup = GPU_PEAK_FLOPS * GPU_MFU / cpu
    return speedup, (f"{GPU_PEAK_FLOPS / 1e12:.0f} TFLOP/s bf16 (H100) x {GPU_MFU:.0%} utilisation / "
                     f"{cpu / 1e9:.3g} GFLOP/s CPU ({source}) = {speedup:.3g}x")


def paper_dit_budget() -> tuple[float, float]:
    """FLOPs and H100-hours of the paper's DiT-XL/2 training: 6 x 675M params x 256 tokens x batch 256 x 400K steps,
    at 40% of the bf16 peak."""
    flops = 6 * 675e6 * 256 * 256 * 400_000
    return flops, flops / (GPU_PEAK_FLOPS * PAPER_MFU) / 3600


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m diffusability.cost", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="Snakemake target, e.g. all_tables")
    ap.add_argument("--scale", default="tiny", choices=SCALES)
    ap.add_argument("--benchmarks", help="folder of <scale>/<rule>[/<job>].tsv to fit on (default: ROOT/benchmarks)")
    ap.add_argument("--gpu-speedup", type=float, default=None,
                    help="GPU over CPU throughput factor for GPU jobs (default: H100 bf16 at 30%% utilisation over "
                         "the CPU rate measured on train_dit)")
    ap.add_argument("--root", default=".", help="the workflow's folder (Snakefile, config/)")
    args = ap.parse_args(argv)

    root = Path(args.root)
    base = yaml.safe_load((root / "config" / "config.yaml").read_text())
    schema = load_schema(root / "workflow" / "schemas" / "config.schema.yaml")
    configs = {s: resolve_config(base, root / "config", {"scale": s}, schema) for s in SCALES}
    bench = load_benchmarks(args.benchmarks or root / "benchmarks")
    fits = fit_benchmarks(bench, configs)
    speedup, derivation = default_gpu_speedup(fits)
    if args.gpu_speedup is not None:
        speedup, derivation = args.gpu_speedup, f"{args.gpu_speedup:.3g}x (--gpu-speedup)"
    jobs = dry_run_jobs(args.target, args.scale, root)
    table = estimate(jobs, configs[args.scale], fits, speedup)

    print(f"Estimated cost of `{args.target}` at scale {args.scale} ({len(jobs)} jobs; peak_mem_gb: the mem_mb a "
          f"job asks Slurm for, per node)\n")
    shown = table.astype(object).where(table.notna(), None)  # tabulate writes missingval for None, not for NaN
    print(shown.to_markdown(index=False, floatfmt=".3g", missingval="–"))
    measured = sorted(set(bench.scale) & set(SCALES), key=SCALES.index)
    print(f"\nFits (seconds = overhead + FLOPs / throughput) on the benchmarks of {', '.join(measured) or 'no scale'}:")
    for f in fits.values():
        rate = "-" if math.isinf(f.throughput) else f"{f.throughput / 1e9:.3g} GFLOP/s"
        print(f"  {f.rule:24s} overhead {f.overhead_s:8.1f} s  throughput {rate:>16s}  {f.jobs:3d} jobs, {f.basis}")
    print(f"Work measure: approximate FLOPs per job from the {args.scale} config (see diffusability.cost.WORK).")
    print(f"Device factor for GPU jobs (work term only): {derivation}.")
    flops, hours = paper_dit_budget()
    n_dit = sum(j.rule == "train_dit" for j in jobs)
    ours = table.set_index("rule").gpu_hours.get("train_dit", math.nan) / max(n_dit, 1)
    print(f"Paper budget, one DiT-XL/2 (6 x 675M x 256 tokens x 256 x 400K = {flops:.3g} FLOP) at {PAPER_MFU:.0%} of "
          f"{GPU_PEAK_FLOPS / 1e12:.0f} TFLOP/s: {hours:.1f} GPU-hours; this estimate: {ours:.3g} GPU-hours per "
          f"train_dit job ({n_dit} jobs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
