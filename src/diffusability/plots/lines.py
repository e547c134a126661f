"""What every figure draws with, in matplotlib alone: the theme, the palettes and a mean line with a +-1 sd band.

These reproduce what seaborn's `set_theme(style="whitegrid", context="paper")` and `lineplot(errorbar="sd")` drew
before: importing seaborn (which imports scipy.stats) took longer than a figure job's whole drawing. The figure
modules take pyplot from here, so that it always comes with the Agg backend.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DEEP = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]
# seaborn's whitegrid style at its paper context (font and line sizes 0.8x its notebook context)
THEME = {
    "axes.axisbelow": True, "axes.edgecolor": ".8", "axes.grid": True, "axes.labelcolor": ".15",
    "axes.labelsize": 9.6, "axes.linewidth": 1.0, "axes.prop_cycle": plt.cycler(color=DEEP), "axes.titlesize": 9.6,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 9.6, "grid.color": ".8", "legend.fontsize": 8.8, "legend.title_fontsize": 9.6,
    "lines.linewidth": 1.2, "lines.markersize": 4.8, "lines.solid_capstyle": "round", "patch.edgecolor": "w",
    "patch.force_edgecolor": True, "patch.linewidth": 0.8, "text.color": ".15",
    "xtick.bottom": False, "xtick.color": ".15", "xtick.labelsize": 8.8, "xtick.major.size": 4.8,
    "xtick.major.width": 1.0, "xtick.minor.size": 3.2, "xtick.minor.width": 0.8,
    "ytick.left": False, "ytick.color": ".15", "ytick.labelsize": 8.8, "ytick.major.size": 4.8,
    "ytick.major.width": 1.0, "ytick.minor.size": 3.2, "ytick.minor.width": 0.8,
}
# One marker per line where lines differ by marker (seaborn's order)
MARKERS = ["o", "X", (4, 0, 45), "P", (4, 0, 0), (4, 1, 0), "^", (4, 1, 45), "v"]


def theme():
    """A context in which figures are drawn and saved with THEME."""
    return plt.rc_context(THEME)


def viridis(n: int) -> list[tuple[float, float, float]]:
    """n colours evenly inside viridis (its two ends left out, as seaborn's palette does)."""
    return [tuple(c) for c in matplotlib.colormaps["viridis"](np.linspace(0, 1, n + 2)[1:-1])[:, :3]]


def mean_sd_line(ax, df: pd.DataFrame, x: str, y: str, **line_kws):
    """The mean of `y` at each `x` (sorted), with a band of one standard deviation where there are several values."""
    g = df.groupby(x, sort=True)[y]
    mean, sd = g.mean(), g.std()
    line, = ax.plot(mean.index, mean.to_numpy(), markeredgewidth=0.75, markeredgecolor="w", **line_kws)
    if sd.notna().any():
        ax.fill_between(mean.index, (mean - sd).to_numpy(), (mean + sd).to_numpy(), color=line.get_color(), alpha=0.2)
    return line
