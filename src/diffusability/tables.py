"""Rendered tables (Markdown and LaTeX) built from the tidy CSVs under results/."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .provenance import atomic_write


def render_table(df: pd.DataFrame, out_md: str | Path, out_tex: str | Path, caption: str,
                 floatfmt: str = ".4g") -> None:
    md = f"**{caption}**\n\n" + df.to_markdown(index=False, floatfmt=floatfmt) + "\n"
    atomic_write(out_md, lambda f: f.write(md))
    tex = df.to_latex(index=False, float_format=lambda v: format(v, floatfmt), caption=caption, escape=True)
    atomic_write(out_tex, lambda f: f.write(tex))


def _mean_sd(df: pd.DataFrame, keys: list[str], cols: list[str]) -> pd.DataFrame:
    g = df.groupby(keys, dropna=False, sort=False)
    out = g[cols].mean().reset_index()
    out["seeds"] = g["seed"].nunique().to_numpy()
    return out


def hf_energy_table(hf_csv: str, recon_csv: str, out_md: str, out_tex: str) -> None:
    """Per AE: latent HF-energy share (with RGB's for reference), PSNR and SSIM, averaged over seeds."""
    hf = pd.read_csv(hf_csv)
    rec = pd.read_csv(recon_csv)
    keys = ["preset", "channels", "kl_weight"]
    table = _mean_sd(hf, keys, ["hf_share"]).merge(
        _mean_sd(rec, keys, ["psnr", "ssim"]).drop(columns="seeds"), on=keys, how="left")
    table = table.sort_values(["preset", "channels", "kl_weight"], na_position="first")
    render_table(table, out_md, out_tex, "Latent high-frequency energy share and reconstruction quality")
