"""Fig. 1: generation quality of DiT against training step on vanilla, FT and SE latents of each AE: image panels
(left: FID), then video panels (right: FVD)."""
from __future__ import annotations


from ..tidy import read_tidy
from .lines import DEEP, mean_sd_line, plt, theme
from .spectra import save_figure

VARIANT_LABELS = {"vanilla": "vanilla", "ft": "FT (no SE)", "se": "SE"}
METRIC_LABELS = {"fid": "FID", "fd_proxy": "Fréchet distance (offline proxy features, not FID)",
                 "fvd": "FVD", "fvd_proxy": "Fréchet video distance (offline proxy, not FVD)"}


def fig1_convergence(generation_csv: str, outputs: list[str]) -> None:
    """One panel per (modality, AE base, DiT preset): score vs DiT step, a line per AE variant; bands over seeds."""
    df = read_tidy(generation_csv, "generation")
    df["AE"] = df.variant.map(VARIANT_LABELS)
    df["modality"] = df["modality"].fillna("image") if "modality" in df else "image"
    df["_m"] = df["modality"].map({"image": 0, "video": 1})
    panels = [(m, b, d) for _, m, b, d in sorted(df.groupby(["_m", "modality", "base", "dit"]).groups)]
    with theme():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4), squeeze=False)
        order = [v for v in VARIANT_LABELS.values() if v in set(df.AE)]
        palette = dict(zip(VARIANT_LABELS.values(), DEEP))
        for ax, (modality, base, dit) in zip(axes[0], panels):
            sub = df[(df.modality == modality) & (df.base == base) & (df.dit == dit)]
            for ae in order:  # every variant in every legend, as in one figure-wide hue order
                mean_sd_line(ax, sub[sub.AE == ae], "step", "value", color=palette[ae], marker="o", label=ae)
            ax.legend(title="AE")
            ax.set_title(f"{'video ' if modality == 'video' else ''}DiT-{dit} on {base}", fontsize=8)
            ax.set_xlabel("DiT training step")
            ax.set_ylabel(METRIC_LABELS.get(sub.metric.iloc[0], sub.metric.iloc[0]), fontsize=7)
        save_figure(fig, outputs)
