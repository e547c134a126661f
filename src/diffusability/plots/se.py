"""Figures of the SE study: Fig. 4 (latent spectra with and without SE) and Fig. 5 (high-frequency erasure)."""
from __future__ import annotations

import numpy as np

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


def fig5_hf_erasure(curves_csv: str, grid_csv: str, outputs: list[str]) -> None:
    """Fig. 5: reconstructions with the top share of DCT coefficients erased (grid), and PSNR vs share erased."""
    curves = read_tidy(curves_csv, "erasure")
    grid = read_tidy(grid_csv, "erasure_grid")
    seed0 = grid.seed.min()
    grid = grid[(grid.seed == seed0) & (grid.image == 0)]
    methods = ["rgb", "vanilla", "ft", "se"]
    names = {"rgb": "RGB", "vanilla": "AE latent", "ft": "FT latent", "se": "SE latent"}
    methods = [m for m in methods if m in set(grid.method)]
    fractions = sorted(curves.erase_fraction.unique())
    with theme():
        fig = plt.figure(figsize=(2.0 + 1.3 * len(fractions) + 3.6, 1.35 * len(methods) + 0.6))
        gs = fig.add_gridspec(len(methods), len(fractions) + 2, width_ratios=[1] * len(fractions) + [0.25, 3.2])
        for i, m in enumerate(methods):
            for j, f in enumerate(fractions):
                ax = fig.add_subplot(gs[i, j])
                px = grid[(grid.method == m) & np.isclose(grid.erase_fraction, f)]
                h, w = px.y.max() + 1, px.x.max() + 1
                img = np.zeros((h, w, 3), dtype=np.uint8)
                img[px.y, px.x] = px[["r", "g", "b"]].to_numpy()
                ax.imshow(img, interpolation="nearest")
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
