"""The high-frequency energy share of a spectrum (paper Sec. 2), from per-frequency energies alone.

numpy and pandas only: the job that merges the spectrum CSVs and computes hf_energy.csv reads nothing but CSVs, and
does not pay torch's import for a sum over 64 numbers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def hf_energy_share(energy, exclude_dc: bool = False) -> float:
    """Share of spectral energy at zigzag indices in the upper half (index >= B*B/2) of a profile."""
    energy = np.asarray(energy, dtype=np.float64)
    e = energy[1:] if exclude_dc else energy
    first_hf = energy.size // 2 - (1 if exclude_dc else 0)
    return float(e[first_hf:].sum() / max(e.sum(), np.finfo(e.dtype).tiny))


def hf_share_table(spectra: pd.DataFrame, exclude_dc: bool, keys: list[str]) -> pd.DataFrame:
    """One hf_share per group of `keys`, from the per-frequency `energy` column."""
    rows = []
    if "axis" in spectra:  # the HF share is a spatial measure (per image / per frame)
        spectra = spectra[spectra["axis"].fillna("space") == "space"]
    for group, g in spectra.groupby(keys, dropna=False, sort=False):
        energy = g.sort_values("freq_index")["energy"].to_numpy()
        rows.append({**dict(zip(keys, group)), "hf_share": hf_energy_share(energy, exclude_dc)})
    return pd.DataFrame(rows)
