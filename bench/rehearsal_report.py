"""Report (not a test) of a finished rehearsal (issue 17, Sec. 4): per rule, its jobs, the summed and longest job
seconds and the largest peak RSS, from Snakemake's benchmark files (benchmarks/<scale>/**/*.tsv), beside the
largest Slurm MaxRSS of the submitit trainings of that rule when `sacct` knows them (a submitit training's
benchmark file measures the local rule that waits for it, not the training).

    python bench/rehearsal_report.py [--scale rehearsal] [--root .] [--since 2026-01-01T00:00:00]
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pandas as pd


TRAININGS = ("train_ae", "finetune_se", "train_dit")


def benchmark_rows(root: Path, scale: str) -> pd.DataFrame:
    rows = []
    base = root / "benchmarks" / scale
    for tsv in sorted(base.rglob("*.tsv")):
        rel = tsv.relative_to(base)
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        b = pd.read_csv(tsv, sep="\t").iloc[0]
        rows.append({"rule": rule, "job": tsv.stem, "s": float(b["s"]), "max_rss_mb": float(b["max_rss"])})
    return pd.DataFrame(rows)


def slurm_max_rss(since: str | None) -> dict[str, float]:
    """Job name -> largest MaxRSS (MB) of its steps, from sacct (empty when sacct is not there)."""
    cmd = ["sacct", "-a", "-n", "-P", "-o", "JobID,JobName,MaxRSS"] + (["-S", since] if since else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    units = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}
    names, best = {}, {}
    for line in out.splitlines():
        job_id, name, rss = line.split("|")
        job = job_id.split(".")[0]
        if "." not in job_id:  # the allocation line names the job; its steps (batch, 0, ...) hold the MaxRSS
            names[job] = name
        elif rss and rss[-1] in units and job in names:
            best[names[job]] = max(best.get(names[job], 0.0), float(rss[:-1]) * units[rss[-1]])
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="rehearsal")
    ap.add_argument("--root", default=".")
    ap.add_argument("--since", default=None, help="sacct start time of the run (default: sacct's own)")
    args = ap.parse_args()
    df = benchmark_rows(Path(args.root), args.scale)
    slurm = slurm_max_rss(args.since)
    # only trainings are submitit jobs named after their run; the plugin's jobs share one name per Snakemake run
    df["slurm_max_rss_mb"] = [slurm.get(j) if r in TRAININGS else None for r, j in zip(df.rule, df.job)]
    table = df.groupby("rule").agg(jobs=("job", "size"), sum_s=("s", "sum"), max_s=("s", "max"),
                                   max_rss_mb=("max_rss_mb", "max"), slurm_max_rss_mb=("slurm_max_rss_mb", "max"))
    print(table.round(0).to_markdown())


if __name__ == "__main__":
    main()
