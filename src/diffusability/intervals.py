"""Seed-level uncertainty of a claim's number, and the verdict its interval gives.

A claim is measured once per independent seed (an AE training seed, or, when only one AE was trained, a DiT seed);
its number is the mean of those seed-level values and its interval the Student-t interval of that mean:

    mean ± t_{(1+c)/2, n-1} · sd / sqrt(n)      (sd with n - 1 degrees of freedom)

Why t and not a bootstrap: with the 2-5 seeds a study can afford, a percentile bootstrap cannot reach beyond the
range of the seed values (3 seeds give only 10 distinct resamples), so its interval is far narrower than the
uncertainty it should show; the t interval widens correctly as n shrinks (for n = 2 at 95% it is ±12.7 standard
errors). It assumes roughly normal seed-level values, which holds for means over many validation images.

With one seed there is no spread to estimate: the interval is undefined and the verdict `inconclusive`. No claim of
this suite can be decided from one seed: every number is a property of trained networks, i.e. a draw from the
distribution over training seeds (RGB's spectrum is fixed, but the latent it is compared with is not).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not run")


class Interval(NamedTuple):
    mean: float
    low: float
    high: float
    n: int


def t_interval(values, confidence: float) -> Interval:
    """Mean of the seed-level `values` (NaNs dropped) and its two-sided `confidence` t interval (NaN bounds with
    fewer than two values)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"claims.confidence must be in (0, 1), got {confidence}")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


def _num(t: float) -> str:
    return f"{t + 0.0:g}"  # + 0.0: a zero tolerance reads "0", not "-0"


class Rule(NamedTuple):
    """'The paper's effect is there' as a side of `threshold` (the no-effect value, moved by a tolerance): the verdict
    is `reproduced` when the whole interval lies on the paper's side, `not reproduced` when it lies wholly on the
    other, `inconclusive` when it straddles the threshold (or there is no interval)."""
    threshold: float
    side: str  # above | at_least | below

    @property
    def text(self) -> str:
        t = _num(self.threshold)
        return {"above": f"ci_low > {t} (ci_high < {t}: not reproduced)",
                "at_least": f"ci_low >= {t} (ci_high < {t}: not reproduced)",
                "below": f"ci_high < {t} (ci_low > {t}: not reproduced)"}[self.side]

    def verdict(self, interval: Interval) -> str:
        if interval.n == 0 or not math.isfinite(interval.mean):
            return "not run"
        lo, hi, t = interval.low, interval.high, self.threshold
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return "inconclusive"
        if self.side == "above":
            agrees, contradicts = lo > t, hi < t
        elif self.side == "at_least":
            agrees, contradicts = lo >= t, hi < t
        elif self.side == "below":
            agrees, contradicts = hi < t, lo > t
        else:
            raise ValueError(f"unknown rule side {self.side!r}")
        return "reproduced" if agrees else "not reproduced" if contradicts else "inconclusive"


def above(t: float) -> Rule:
    return Rule(float(t), "above")


def at_least(t: float) -> Rule:
    return Rule(float(t), "at_least")


def below(t: float) -> Rule:
    return Rule(float(t), "below")
