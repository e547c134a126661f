"""Rendered tables (Markdown and LaTeX) built from the tidy CSVs under results/."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .grid import CUT_MODE
from .provenance import atomic_write
from .tidy import read_tidy


def render_table(df: pd.DataFrame, out_md: str | Path, out_tex: str | Path, caption: str,
                 floatfmt: str = ".4g") -> None:
    md = f"**{caption}**\n\n" + df.to_markdown(index=False, floatfmt=floatfmt, missingval="–") + "\n"
    atomic_write(out_md, lambda f: f.write(md))
    tex = df.to_latex(index=False, float_format=lambda v: format(v, floatfmt), caption=caption, escape=True)
    atomic_write(out_tex, lambda f: f.write(tex))


def of_modality(df: pd.DataFrame, modality: str) -> pd.DataFrame:
    """Rows of one modality (image | video)."""
    return df[df["modality"] == modality]


def _mean_over_seeds(df: pd.DataFrame, keys: list[str], cols: list[str]) -> pd.DataFrame:
    """Per group of `keys`: the mean of `cols` over its rows (one per seed) and the number of seeds (`seeds`)."""
    g = df.groupby(keys, dropna=False, sort=False)
    out = g[cols].mean().reset_index()
    out["seeds"] = g["seed"].nunique().to_numpy()
    return out


def hf_energy_table(hf_csv: str, recon_csv: str, out_md: str, out_tex: str) -> None:
    """Per vanilla AE: latent HF-energy share (with RGB's for reference), PSNR and SSIM, averaged over seeds."""
    hf = of_modality(read_tidy(hf_csv, "hf"), "image")
    hf = hf[hf.variant.isin(["vanilla", "rgb"])]
    rec = of_modality(read_tidy(recon_csv, "reconstruction"), "image")
    rec = rec[rec.variant == "vanilla"]
    keys = ["preset", "channels", "kl_weight"]
    table = _mean_over_seeds(hf, keys, ["hf_share"]).merge(
        _mean_over_seeds(rec, keys, ["psnr", "ssim"]).drop(columns="seeds"), on=keys, how="left")
    table = table.sort_values(["preset", "channels", "kl_weight"], na_position="first")
    render_table(table, out_md, out_tex, "Latent high-frequency energy share and reconstruction quality")


VARIANT_KEYS = ["modality", "preset", "channels", "kl_weight", "variant", "se_weight", "se_factors", "se_mode"]
METRICS = ["psnr", "ssim", "lpips", "rfid", "rfid_proxy", "rfvd", "rfvd_proxy", "hf_share", "latent_mean",
           "latent_std"]
VARIANT_ORDER = {"vanilla": 0, "ft": 1, "se": 2}


def variants_summary(recon: pd.DataFrame) -> pd.DataFrame:
    """One row per AE variant (seeds averaged, their count in `seeds`), metrics that were measured."""
    cols = [c for c in METRICS if c in recon and recon[c].notna().any()]
    table = _mean_over_seeds(recon, VARIANT_KEYS, cols)
    order = table["variant"].map(VARIANT_ORDER)
    return table.assign(_o=order).sort_values(
        ["modality", "preset", "channels", "kl_weight", "_o", "se_weight", "se_factors", "se_mode"],
        na_position="first").drop(columns="_o")


def reconstruction_table(recon_csv: str, out_md: str, out_tex: str) -> None:
    """Every AE variant: reconstruction quality, latent HF share and the latent statistics used by diffusion."""
    render_table(variants_summary(read_tidy(recon_csv, "reconstruction")), out_md, out_tex,
                 "Reconstruction and latent statistics of every autoencoder variant")


def ablation_rows(table: pd.DataFrame, kind: str, ref: dict) -> pd.DataFrame:
    """The rows of one SE ablation. `ref` holds channels, kl_weight, factors, mode, main_weight, kl_weights."""
    at_ref = (table.channels == ref["channels"]) & (table.kl_weight == ref["kl_weight"])
    vanilla, ft = table.variant == "vanilla", table.variant == "ft"
    se = table.variant == "se"
    default_f, default_m = table.se_factors == ref["factors"], table.se_mode == ref["mode"]
    main = table.se_weight == ref["main_weight"]
    if kind == "se_weight":
        rows = at_ref & (vanilla | ((ft | se) & default_f & default_m))
    elif kind == "factors":
        rows = at_ref & (vanilla | (ft & default_f & default_m) | (se & main & default_m))
    elif kind == "mode":  # the high-frequency cutoff (random_cut, no factor set) stands beside the resampling modes
        cut = table.se_mode == CUT_MODE
        rows = at_ref & (vanilla | (ft & default_f & default_m) | (se & main & (default_f | cut)))
    elif kind == "se_kl":
        kls = set(ref["kl_weights"]) | {ref["kl_weight"]}
        rows = (table.channels == ref["channels"]) & table.kl_weight.isin(kls) & (
            vanilla | ((ft | (se & main)) & default_f & default_m))
    else:
        raise ValueError(f"unknown ablation {kind!r}")
    return table[rows]


ABLATION_CAPTIONS = {
    "se_weight": "Ablation: SE weight (0 = FT control)",
    "factors": "Ablation: SE downsampling factor set",
    "mode": "Ablation: SE resampling mode",
    "se_kl": "Ablation: SE combined with KL regularisation",
}


def ablation_table(recon_csv: str, kind: str, ref: dict, out_csv: str, out_md: str, out_tex: str) -> None:
    from .provenance import write_csv
    table = ablation_rows(variants_summary(of_modality(read_tidy(recon_csv, "reconstruction"), "image")), kind, ref)
    write_csv(out_csv, table)
    render_table(table, out_md, out_tex, ABLATION_CAPTIONS[kind])


def main_table(generation_csv: str, modality: str, out_csv: str, out_md: str, out_tex: str,
               recon_csv: str | None = None) -> None:
    """Table 1, one half per modality: final score per AE x {vanilla, FT, SE} x DiT, with its change relative to
    the FT control (`rel_change_vs_ft`: SE's own effect, the FT control isolating fine-tuning's) and to vanilla
    (`rel_change_vs_vanilla`: SE and fine-tuning together, the paper's comparison); with `recon_csv` also each AE's
    reconstruction metrics and latent HF share (the video half).

    Scores average over DiT seeds; `value_sd` is their standard deviation (NaN with a single seed). The extra
    columns of dit.extra_metrics (Inception Score, precision, recall), where the CSV has them, average the same way.
    """
    from .metrics.sample_quality import EXTRA_COLUMNS
    from .provenance import write_csv
    df = of_modality(read_tidy(generation_csv, "generation"), modality)
    final = df[df.step == df.groupby("dit_run").step.transform("max")]
    keys = ["base", "ae", "channels", "kl_weight", "dit", "variant", "se_weight", "metric"]
    g = final.groupby(keys, dropna=False, sort=False)
    table = g["value"].mean().rename("value").reset_index()
    table["value_sd"] = g["value"].std().to_numpy()
    table["seeds"] = g.size().to_numpy()
    table["step"] = g["step"].max().to_numpy()
    extra = [c for c in EXTRA_COLUMNS if c in final and final[c].notna().any()]
    for c in extra:
        table[c] = g[c].mean().to_numpy()
    index = table.set_index(["base", "dit", "metric"]).index
    for variant in ("ft", "vanilla"):
        ref = table[table.variant == variant].set_index(["base", "dit", "metric"])["value"]
        table[f"rel_change_vs_{variant}"] = table["value"] / pd.Series(index.map(ref.get), index=table.index,
                                                                         dtype=float) - 1.0
    if recon_csv is not None:
        rec = of_modality(read_tidy(recon_csv, "reconstruction"), modality)
        cols = [c for c in ("psnr", "ssim", "lpips", "rfvd", "rfvd_proxy", "rfid", "rfid_proxy", "hf_share")
                if c in rec and rec[c].notna().any()]
        table = table.merge(rec[["model", *cols]].rename(columns={"model": "ae"}), on="ae", how="left")
    table = table.sort_values(["base", "dit", "variant"], key=lambda s: s.map(VARIANT_ORDER) if s.name == "variant"
                              else s, kind="stable")
    write_csv(out_csv, table)
    metric = ", ".join(sorted(table.metric.unique())) or "no runs"
    what = "DiT on each AE's latents" if modality == "image" else "video DiT on each video AE's latents"
    higher = f"; {', '.join(extra)}: higher is better" if extra else ""
    render_table(table.drop(columns="ae"), out_md, out_tex,
                 f"Generation quality of {what} ({metric}; lower is better{higher})")


def ae_zoo_table(hf_csv: str, recon_csv: str, erasure_csv: str, out_md: str, out_tex: str,
                 erase_fraction: float = 0.5) -> None:
    """The AE-zoo table (issue 19): every analysed autoencoder's geometry, latent vs RGB HF share, reconstruction
    and the PSNR left after erasing `erase_fraction` of the latent spectrum (paper Sec. 2 and Fig. 5)."""
    from .analysis.zoo import FD_COLUMNS, zoo_summary
    table = zoo_summary(read_tidy(hf_csv, "hf"), read_tidy(recon_csv, "reconstruction"),
                        read_tidy(erasure_csv, "erasure"), erase_fraction)
    caption = ("How diffusable is each autoencoder: latent HF share beside RGB's, reconstruction, and PSNR after "
               f"erasing {erase_fraction:.0%} of the zigzag spectrum")
    fd_cols = [c for c in FD_COLUMNS if c in table]
    if fd_cols:  # say how few samples the distance rests on instead of letting it pass for a paper-size rFID
        n = ", ".join(str(v) for v in sorted(table["num_images"].dropna().astype(int).unique()))
        caption += (f". {'/'.join(fd_cols)} is over {n} images (or clips) per AE: far fewer than the 50K of a "
                    "paper rFID, so it is biased upward and noisy; compare AEs only at the same n")
        for c in fd_cols:  # an image AE has no rFVD, a video AE no rFID: a dash, not "nan"
            table[c] = table[c].astype(object).where(table[c].notna(), None)
    render_table(table, out_md, out_tex, caption)
