"""Spectrum figures: Fig. 2 (bottleneck channels), Fig. 3 (KL weight), and the RGB-with-noise companion figure.

Each reads spectrum CSVs (Figs. 2 and 3 the per-AE ones of the vanilla grid, so they wait for no fine-tune), draws
normalised amplitude against zigzag frequency index (the paper's axes), one line per setting, RGB as a black dashed
reference, and writes the same figure as PDF and PNG. Lines average over seeds, with a band of one standard
deviation when there are several.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..provenance import atomic_write
from ..tidy import read_tidy
from .lines import mean_sd_line, plt, theme, viridis


def save_figure(fig, outputs: list[str | Path]) -> None:
    """Save one figure to each output (format from the suffix), atomically, with fixed metadata for repeatability."""
    for out in outputs:
        fmt = Path(out).suffix.lstrip(".")
        meta = {"CreationDate": None} if fmt == "pdf" else {}
        atomic_write(out, lambda f, fmt=fmt, meta=meta: fig.savefig(f, format=fmt, dpi=150, bbox_inches="tight",
                                                                    metadata=meta), mode="wb")
    plt.close(fig)


def spectrum_plot(df: pd.DataFrame, hue: str, hue_label: str, title: str, outputs: list[str | Path],
                  log_amplitude: bool = True, reference: pd.DataFrame | None = None,
                  order: list | None = None) -> None:
    with theme():
        fig, ax = plt.subplots(figsize=(5.2, 3.4))
        levels = order if order is not None else sorted(df[hue].unique())
        for level, color in zip(levels, viridis(len(levels))):
            mean_sd_line(ax, df[df[hue] == level], "freq_index", "amplitude", color=color, label=str(level))
        if reference is not None and len(reference):
            ref = reference.groupby("freq_index", as_index=False)["amplitude"].mean()
            ax.plot(ref["freq_index"], ref["amplitude"], "--", color=".1", lw=1.6, label="RGB")  # seaborn's "k"
        if log_amplitude:
            ax.set_yscale("log")
        ax.set_xlabel("zigzag frequency index")
        ax.set_ylabel("normalized amplitude")
        ax.set_title(title)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, labels, title=hue_label, fontsize=7, title_fontsize=8, ncol=2)
        save_figure(fig, outputs)


def _fmt_kl(v: float) -> str:
    return "0" if v == 0 else f"{v:.0e}"


def read_spectra(rgb_csv: str, latent_csvs: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RGB and vanilla-AE latent spectra from per-model spectrum CSVs (fine-tunes dropped if any are passed)."""
    rgb = read_tidy(rgb_csv, "spectrum")
    lat = pd.concat([read_tidy(f, "spectrum") for f in latent_csvs], ignore_index=True)
    return rgb, lat[lat["variant"] == "vanilla"].copy()


def fig2_channels(rgb_csv: str, latent_csvs: list[str], kl_reference: float, outputs: list[str],
                  log_amplitude: bool = True) -> None:
    """Fig. 2: latent spectra of AEs with different bottleneck channel counts, beside RGB at the latent's size."""
    rgb, lat = read_spectra(rgb_csv, latent_csvs)
    lat = lat[lat.kl_weight == kl_reference]
    spectrum_plot(lat, "channels", "latent channels", f"Latent spectra vs bottleneck size (KL {_fmt_kl(kl_reference)})",
                  outputs, log_amplitude, reference=rgb)


def fig3_kl(rgb_csv: str, latent_csvs: list[str], channels_reference: int, outputs: list[str],
            log_amplitude: bool = True) -> None:
    """Fig. 3: latent spectra of AEs trained with different KL weights (same channel count), beside RGB."""
    rgb, lat = read_spectra(rgb_csv, latent_csvs)
    lat = lat[lat.channels == channels_reference].copy()
    lat["kl"] = lat["kl_weight"].map(_fmt_kl)
    order = [_fmt_kl(v) for v in sorted(lat["kl_weight"].unique())]
    spectrum_plot(lat, "kl", "KL weight", f"Latent spectra vs KL weight ({channels_reference} channels)", outputs,
                  log_amplitude, reference=rgb, order=order)


def fig_rgb_noise(noise_csv: str, outputs: list[str], log_amplitude: bool = True) -> None:
    """Companion of Fig. 3: RGB spectra with added Gaussian noise of several strengths (noise adds HF)."""
    df = read_tidy(noise_csv, "noise")
    spectrum_plot(df, "noise_std", "noise std", "RGB spectra with additive Gaussian noise", outputs, log_amplitude)


def fig_video_spectra(video_spectra_csv: str, outputs: list[str], log_amplitude: bool = True) -> None:
    """Video latent spectra (paper Sec. 5): per frame (zigzag index) and along time, vanilla / FT / SE of each video
    AE beside its RGB clips at the latent's size; one row of panels per video AE preset."""
    df = read_tidy(video_spectra_csv, "spectrum")
    df["axis"] = df["axis"].fillna("space")
    labels = {"vanilla": "vanilla", "ft": "FT (no SE)", "se": "SE", "rgb": "RGB"}
    df["AE"] = df.variant.map(labels)
    presets = sorted(df.preset.unique())
    axes_names = [a for a in ("space", "time") if a in set(df["axis"])]
    with theme():
        fig, axes = plt.subplots(len(presets), len(axes_names), figsize=(4.8 * len(axes_names), 3.3 * len(presets)),
                                 squeeze=False, layout="constrained")
        palette = {"vanilla": "C0", "FT (no SE)": "C1", "SE": "C2", "RGB": "black"}
        for row, preset in zip(axes, presets):
            for ax, axis in zip(row, axes_names):
                sub = df[(df.preset == preset) & (df["axis"] == axis)]
                for ae in [v for v in labels.values() if v in set(sub.AE)]:
                    dashes = {"dashes": (2, 2)} if ae == "RGB" else {}
                    mean_sd_line(ax, sub[sub.AE == ae], "freq_index", "amplitude", color=palette[ae], marker="o",
                                 label=ae, **dashes)
                ax.legend(title="AE")
                if log_amplitude:
                    ax.set_yscale("log")
                ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
                ax.set_xlabel("zigzag frequency index (per frame)" if axis == "space" else "temporal frequency index")
                ax.set_ylabel("normalized amplitude")
                ax.set_title(f"{preset}: latent spectrum {'per frame' if axis == 'space' else 'along time'}",
                             fontsize=8)
        save_figure(fig, outputs)
