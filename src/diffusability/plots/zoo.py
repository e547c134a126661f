"""The AE-zoo figure (issue 19): every analysed autoencoder's latent spectrum beside RGB at its latent's size, in
the style of paper Fig. 2 (normalised amplitude vs zigzag frequency index, log scale), with a second panel along
time when any AE is a video AE. One colour per AE; its RGB reference is the dashed line of the same colour (each AE
has its own latent size, hence its own RGB reference); its FT control and SE fine-tune, when asked for, are dotted
and dash-dotted lines of its colour.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .lines import mean_sd_line, plt, theme, viridis
from .spectra import save_figure


# A zoo AE and its fine-tunes share a colour; the line tells them apart (paper Fig. 4's vanilla / FT / SE).
VARIANT_STYLE = {"vanilla": {"marker": "o"}, "ft": {"marker": "s", "ls": ":"}, "se": {"marker": "^", "ls": "-."}}


def ae_label(row) -> str:
    """Legend label of one AE: its name (the folder's last part) and geometry."""
    t = f"{int(row.temporal_compression)}x{int(row.spatial_compression)}x{int(row.spatial_compression)}" \
        if row.kind == "video" else f"{int(row.spatial_compression)}x"
    return f"{Path(str(row.ae)).name or row.ae} ({row.ae_class}, {t}, {int(row.latent_channels)} ch)"


def fig_ae_zoo(spectrum: pd.DataFrame, outputs: list[str | Path], log_amplitude: bool = True,
               hf: pd.DataFrame | None = None) -> None:
    """Draw `spectrum` (rows of analysis.zoo.analyse_autoencoder, any number of AEs) to each of `outputs`.

    With `hf` (the matching HF-share rows) the legend also gives each AE's latent / RGB HF share.
    """
    df = spectrum.copy()
    df["axis"] = df["axis"].fillna("space") if "axis" in df else "space"
    if "base" not in df:  # rows of the CLI or the package API: each AE on its own
        df["base"], df["variant"] = df["ae"], "vanilla"
    aes = list(dict.fromkeys(df["ae"]))
    bases = list(dict.fromkeys(df["base"]))
    base_of = df.drop_duplicates("ae").set_index("ae")["base"]
    variant_of = df.drop_duplicates("ae").set_index("ae")["variant"]
    colors = dict(zip(bases, viridis(len(bases)) if len(bases) > 1 else ["C0"]))
    labels = {ae: ae_label(df[df.ae == ae].iloc[0]) if variant_of[ae] == "vanilla"
              else f"{Path(str(base_of[ae])).name} + {variant_of[ae].upper()}" for ae in aes}
    if hf is not None and len(hf):
        share = hf.set_index(["ae", "source"])["hf_share"]
        labels = {ae: f"{lab}: HF {share.get((ae, 'latent'), float('nan')):.3f} vs RGB "
                      f"{share.get((ae, 'rgb'), float('nan')):.3f}" for ae, lab in labels.items()}
    axes_names = [a for a in ("space", "time") if a in set(df["axis"])]
    with theme():
        fig, axes = plt.subplots(1, len(axes_names), figsize=(5.6 * len(axes_names), 3.6), squeeze=False,
                                 layout="constrained")
        for ax, axis in zip(axes[0], axes_names):
            sub = df[df["axis"] == axis]
            for ae in aes:
                one, color, variant = sub[sub.ae == ae], colors[base_of[ae]], variant_of[ae]
                if one.empty:
                    continue
                mean_sd_line(ax, one[one.source == "latent"], "freq_index", "amplitude", color=color,
                             **VARIANT_STYLE[variant], label=labels[ae])
                if variant == "vanilla":  # the fine-tunes see the same images: one RGB reference per zoo AE
                    mean_sd_line(ax, one[one.source == "rgb"], "freq_index", "amplitude", color=color,
                                 dashes=(2, 2), lw=1.0)
            ax.plot([], [], "--", color=".3", lw=1.0, label="dashed: RGB at the latent's size")
            if log_amplitude:
                ax.set_yscale("log")
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
            ax.set_xlabel("zigzag frequency index" + (" (per frame)" if "time" in axes_names else "")
                          if axis == "space" else "temporal frequency index")
            ax.set_ylabel("normalized amplitude")
            ax.set_title("Latent spectrum" + (" along time" if axis == "time" else ""), fontsize=9)
            ax.legend(fontsize=6.5)
        save_figure(fig, outputs)
