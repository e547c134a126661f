"""Reading the tidy CSVs under results/<scale>/ that figures and tables are drawn from.

A figure drawn from a CSV with empty cells shows legend entries without curves, and a table prints blanks that look
like results; both hide a job that failed quietly. Every figure and table reads its CSVs here, which refuses them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

# The measured columns of each CSV: a figure or table drawn from it needs every one of them filled.
VALUES = {"spectrum": ["amplitude"], "noise": ["amplitude"], "generation": ["value"], "erasure": ["psnr", "ssim"],
          "reconstruction": ["psnr", "ssim"], "hf": ["hf_share"]}


def read_tidy(path: str | Path, kind: str) -> pd.DataFrame:
    """The CSV at `path`, refused (ValueError, one sentence naming the file) when it has no rows or a measured
    column (VALUES[kind]) has a missing or NaN cell."""
    df = pd.read_csv(path)
    if df.empty:
        raise ValueError(f"{path} has no rows: the job that wrote it found nothing to measure; rerun it")
    for col in VALUES[kind]:
        if col not in df:
            raise ValueError(f"{path} has no column {col!r}: it was written by another version of the workflow")
        bad = df[col].isna()
        if bad.any():
            who = ", ".join(sorted(df.loc[bad, "model"].astype(str).unique())[:3]) if "model" in df else "?"
            raise ValueError(f"{path} has {int(bad.sum())} empty {col!r} cells (models {who}): a run behind it "
                             "diverged or its evaluation failed, so nothing is drawn from it; rerun that run's jobs")
    return df
