"""Figures of the SE study: Fig. 4 (latent spectra with and without SE) and Fig. 5 (high-frequency erasure)."""
from __future__ import annotations

import numpy as np

from ..grid import CUT_MODE
from ..sheets import read_sheet
from ..tidy import read_tidy
from .lines import DEEP, MARKERS, mean_sd_line, plt, theme
from .spectra import save_figure, spectrum_plot


def variant_label(row) -> str:
    if row["variant"] == "vanilla":
        return "vanilla"
    if row["variant"] == "ft":
        return "FT (SE weight 0)"
    return f"SE weight {row['se_weight']:g}"


def fig4_se_spectra(spectra_csv: str, channels: int, kl_weight: float, factors: str, mode: str,
                    outputs: list[str], log_amplitude: bool = True) -> None:
    """Fig. 4: latent spectra of the base AE, its FT control and its SE fine-tunes at each weight, beside RGB."""
    df = read_tidy(spectra_csv, "spectrum")
    same_ae = (df.channels == channels) & np.isclose(df.kl_weight.fillna(-1), kl_weight)
    sweep = (df.variant == "vanilla") | ((df.se_factors == factors) & (df.se_mode == mode))
    lat = df[same_ae & sweep & df.variant.isin(["vanilla", "ft", "se"])].copy()
    lat["label"] = lat.apply(variant_label, axis=1)
    lat["order"] = lat.variant.map({"vanilla": -2.0, "ft": -1.0}).fillna(lat.se_weight)
    order = list(lat.sort_values("order").label.drop_duplicates())
    spectrum_plot(lat, "label", "autoencoder", f"Latent spectra with and without SE (x{factors}, {mode})",
                  outputs, log_amplitude, reference=df[df.model == "rgb"], order=order)


def fig5_hf_erasure(curves_csv: str, grid_png: str, outputs: list[str]) -> None:
    """Fig. 5: reconstructions with the top share of DCT coefficients erased (the first image of the sheet that
    analysis.erasure wrote), and PSNR vs share erased, for RGB and the latents of the vanilla AE, its FT control, its
    SE fine-tune and its high-frequency cutoff fine-tune (the paper's third row)."""
    curves = read_tidy(curves_csv, "erasure")
    sheet = read_sheet(grid_png)
    # The paper's rows: RGB, a plain AE's latent, and the high-frequency cutoff regulariser's (random_cut); ours
    # add the FT control and SE beside it, so each regulariser is seen against the same fine-tune without it.
    names = {"rgb": "RGB", "vanilla": "AE latent", "ft": "FT latent", "se": "SE latent",
             CUT_MODE: "HF-cutoff latent"}
    first = {r["method"]: i for i, r in enumerate(sheet.rows) if r["image"] == 0}  # sheet row of each method
    methods = [m for m in names if m in first]
    fractions = [c["erase_fraction"] for c in sheet.columns]
    with theme():
        fig = plt.figure(figsize=(2.0 + 1.3 * len(fractions) + 3.6, 1.35 * len(methods) + 0.6))
        gs = fig.add_gridspec(len(methods), len(fractions) + 2, width_ratios=[1] * len(fractions) + [0.25, 3.2])
        for i, m in enumerate(methods):
            for j, f in enumerate(fractions):
                ax = fig.add_subplot(gs[i, j])
                ax.imshow(sheet.tiles[first[m], j], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{100 * f:.0f}% erased", fontsize=8)
                if j == 0:
                    ax.set_ylabel(names[m], fontsize=8)
        ax = fig.add_subplot(gs[:, -1])
        # Against the un-erased signal (the image for RGB, the AE's own reconstruction for a latent), so the curve
        # shows what the erasure destroys, not the AE's reconstruction error; fraction 0 is lossless by definition.
        curves = curves[curves.erase_fraction > 0]
        for m, color, marker in zip(methods, DEEP, MARKERS):
            mean_sd_line(ax, curves[curves.method == m], "erase_fraction", "psnr_vs_clean", color=color,
                         marker=marker, label=names[m])
        ax.set_xlabel("share of zigzag DCT coefficients erased")
        ax.set_ylabel("PSNR vs un-erased signal (dB)")
        ax.legend(title=None, fontsize=7)
        save_figure(fig, outputs)
