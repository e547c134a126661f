"""The paper's claims as a table of verdicts computed from the results CSVs of one scale.

Each claim is a small measurement on one CSV under results/<scale>/ plus a decision rule. The rule's text in the
table and the test applied to the number are built by the same `Rule`, so the table cannot state one rule and apply
another, and no verdict is ever typed by hand. A claim whose CSV is missing, or holds no rows it can use, is
"not run" with 0 seeds: absent evidence is never reported as a failed reproduction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from .grid import VARIANT_SEP
from .provenance import atomic_write, write_csv
from .tables import of_modality

# The parameters of the decision rules, all from the workflow config: its claims.* tolerances, and main_se_weight
# (se.main_weight), which picks the SE model of the main results among the SE-weight sweep.
TOLERANCES = ("recon_tolerance_db", "min_rel_improvement", "main_se_weight")
COLUMNS = ["claim_id", "claim", "metric", "paper_value", "our_value", "rule", "seeds", "scale", "verdict"]


def _num(t: float) -> str:
    return f"{t + 0.0:g}"  # + 0.0: a zero tolerance reads "0", not "-0"


class Rule(NamedTuple):
    text: str
    holds: Callable[[float], bool]


def above(t: float) -> Rule:
    return Rule(f"our_value > {_num(t)}", lambda v: v > t)


def below(t: float) -> Rule:
    return Rule(f"our_value < {_num(t)}", lambda v: v < t)


def at_least(t: float) -> Rule:
    return Rule(f"our_value >= {_num(t)}", lambda v: v >= t)


class Measured(NamedTuple):
    value: float
    seeds: int
    metric: str | None = None  # replaces the claim's metric text when the data says what was measured (FID or proxy)


NOT_RUN = Measured(math.nan, 0)


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    metric: str
    paper_value: str
    source: str                              # the CSV under results_dir it is measured on
    needs: tuple[str, ...]                   # its columns the measure reads (an older CSV without them: not run)
    rule: Callable[[dict], Rule]             # tolerances -> the decision rule
    measure: Callable[[pd.DataFrame, dict], Measured]


CLAIMS: list[Claim] = []  # in table order; each entry is audited by reading its measure function below


def claim(id: str, text: str, metric: str, paper_value: str, source: str, needs: tuple[str, ...],
          rule: Callable[[dict], Rule]):
    def register(measure):
        CLAIMS.append(Claim(id, text, metric, paper_value, source, needs, rule, measure))
        return measure
    return register


def _seeds(rows: pd.DataFrame) -> int:
    return int(rows["seed"].nunique())


def _spearman(x, y) -> float:
    """Rank correlation (NaN when either side is constant): only the direction of a trend matters here."""
    return float(pd.Series(np.asarray(x, float)).rank().corr(pd.Series(np.asarray(y, float)).rank()))


def _trend(hf: pd.DataFrame, along: str, held: str) -> Measured:
    """Spearman correlation of seed-mean HF share with `along` among vanilla image AEs, at the value of `held` that
    was run with the most distinct values of `along` (the sweep's reference). Under three points a rank correlation
    says nothing, so the claim is then not run."""
    van = of_modality(hf, "image")
    van = van[(van.variant == "vanilla") & van[held].notna() & van[along].notna()]
    if van.empty:
        return NOT_RUN
    counts = van.groupby(held)[along].nunique()
    if counts.max() < 3:
        return NOT_RUN
    rows = van[van[held] == counts.idxmax()]
    per_value = rows.groupby(along)["hf_share"].mean()
    return Measured(_spearman(per_value.index, per_value.to_numpy()), _seeds(rows))


HF_COLUMNS = ("modality", "variant", "seed", "hf_share")
PAIR_COLUMNS = ("model", "modality", "variant", "seed", "se_weight", "se_factors", "se_mode")
ERASURE_COLUMNS = ("method", "erase_fraction", "psnr_vs_clean", "seed")
MAIN_COLUMNS = ("variant", "metric", "seeds", "rel_change_vs_vanilla")


def _se_pairs(df: pd.DataFrame, main_weight: float, column: str) -> pd.DataFrame:
    """Each image FT control beside the SE model at `main_weight` fine-tuned from the same base (and seed) with the
    same factor set and resampling mode: the two differ only in the SE term, so their difference is SE's doing."""
    img = of_modality(df, "image").assign(base=lambda d: d["model"].str.split(VARIANT_SEP).str[0])
    keys = ["base", "se_factors", "se_mode"]
    ft = img[img.variant == "ft"][[*keys, "seed", column]]
    se = img[(img.variant == "se") & np.isclose(img.se_weight.astype(float), main_weight)][[*keys, column]]
    return ft.merge(se, on=keys, suffixes=("_ft", "_se")).dropna(subset=[f"{column}_ft", f"{column}_se"])


def _erasure_at_median_fraction(er: pd.DataFrame, methods: tuple[str, str]) -> tuple[pd.Series, pd.DataFrame]:
    """Seed-mean PSNR of each method's erased signal against its un-erased self (psnr_vs_clean), at the median
    erased fraction strictly between 0 and 1 that both methods were run at (the lower median when the count is
    even: the middle of the sweep, away from the trivial and the near-total erasures).

    psnr_vs_clean rather than psnr_drop: RGB's un-erased PSNR is that of an identity (~126 dB, float round-off), so
    a drop from it measures nothing about erasure; vs-clean gives every method the same reference, its own
    un-erased reconstruction. Damage = -psnr_vs_clean, so a damage difference is a difference of these PSNRs.
    """
    er = er[er.method.isin(methods) & er.psnr_vs_clean.notna()]
    inner = er[(er.erase_fraction > 0) & (er.erase_fraction < 1)]
    shared = sorted(set.intersection(*(set(inner[inner.method == m].erase_fraction) for m in methods)))
    if not shared:
        return pd.Series(dtype=float), er.iloc[:0]
    rows = inner[inner.erase_fraction == shared[(len(shared) - 1) // 2]]
    return rows.groupby("method")["psnr_vs_clean"].mean(), rows


def _main_table(main: pd.DataFrame) -> Measured:
    """Mean relative change of the SE model's generation score vs the vanilla AE's (over bases and DiT presets);
    `seeds` is the fewest DiT seeds behind any of those scores, the metric the one(s) the table holds."""
    se = main[(main.variant == "se") & main.rel_change_vs_vanilla.notna()]
    if se.empty:
        return NOT_RUN
    metric = ", ".join(sorted(se.metric.unique()))
    return Measured(float(se.rel_change_vs_vanilla.mean()), int(se.seeds.min()),
                    f"relative change of {metric} vs the vanilla AE's DiT")


@claim("latent_hf_above_rgb", "Latents of plain autoencoders carry more high-frequency energy than RGB images do",
       "mean HF share of vanilla AE latents / RGB HF share", "qualitative", "hf_energy.csv",
       HF_COLUMNS, lambda r: above(1.0))
def latent_hf_above_rgb(hf: pd.DataFrame, rules: dict) -> Measured:
    img = of_modality(hf, "image")
    van, rgb = img[img.variant == "vanilla"], img[img.variant == "rgb"]
    if van.empty or rgb.empty:
        return NOT_RUN
    return Measured(float(van.hf_share.mean() / rgb.hf_share.mean()), _seeds(van))


@claim("hf_grows_with_channels", "Wider bottlenecks (more latent channels) put more energy into high frequencies",
       "Spearman rho(channels, seed-mean HF share), vanilla AEs at the reference KL weight", "qualitative",
       "hf_energy.csv", HF_COLUMNS + ("channels", "kl_weight"), lambda r: above(0.0))
def hf_grows_with_channels(hf: pd.DataFrame, rules: dict) -> Measured:
    return _trend(hf, along="channels", held="kl_weight")


@claim("kl_adds_hf", "Stronger KL regularisation adds high-frequency energy to the latents",
       "Spearman rho(KL weight, seed-mean HF share), vanilla AEs at the reference channel count", "qualitative",
       "hf_energy.csv", HF_COLUMNS + ("channels", "kl_weight"), lambda r: above(0.0))
def kl_adds_hf(hf: pd.DataFrame, rules: dict) -> Measured:
    return _trend(hf, along="kl_weight", held="channels")


@claim("se_lowers_hf", "Scale-equivariance fine-tuning lowers the latents' high-frequency energy",
       "HF share of the main SE model / its FT control, mean over bases and seeds", "qualitative", "hf_energy.csv",
       PAIR_COLUMNS + ("hf_share",), lambda r: below(1.0 - r["min_rel_improvement"]))
def se_lowers_hf(hf: pd.DataFrame, rules: dict) -> Measured:
    pairs = _se_pairs(hf, rules["main_se_weight"], "hf_share")
    if pairs.empty:
        return NOT_RUN
    return Measured(float((pairs.hf_share_se / pairs.hf_share_ft).mean()), _seeds(pairs))


@claim("se_keeps_reconstruction", "Scale-equivariance fine-tuning keeps reconstruction quality",
       "PSNR(main SE model) - PSNR(its FT control), dB, mean over bases and seeds", "qualitative",
       "reconstruction.csv", PAIR_COLUMNS + ("psnr",), lambda r: at_least(-r["recon_tolerance_db"]))
def se_keeps_reconstruction(recon: pd.DataFrame, rules: dict) -> Measured:
    pairs = _se_pairs(recon, rules["main_se_weight"], "psnr")
    if pairs.empty:
        return NOT_RUN
    return Measured(float((pairs.psnr_se - pairs.psnr_ft).mean()), _seeds(pairs))


@claim("erasure_hurts_latents_more",
       "Erasing the same share of high frequencies damages a latent's decode more than it damages an RGB image",
       "PSNR vs un-erased: RGB - vanilla latent's decode, dB, at the median erased fraction", "qualitative",
       "erasure.csv", ERASURE_COLUMNS, lambda r: above(0.0))
def erasure_hurts_latents_more(er: pd.DataFrame, rules: dict) -> Measured:
    psnr, rows = _erasure_at_median_fraction(er, ("rgb", "vanilla"))
    if rows.empty:
        return NOT_RUN
    return Measured(float(psnr["rgb"] - psnr["vanilla"]), _seeds(rows))


@claim("se_reduces_erasure_damage", "After SE fine-tuning, erasing high frequencies damages the decode less",
       "PSNR vs un-erased: vanilla - SE latent's decode, dB (damage(SE) - damage(vanilla)), at the median "
       "erased fraction", "qualitative", "erasure.csv", ERASURE_COLUMNS, lambda r: below(0.0))
def se_reduces_erasure_damage(er: pd.DataFrame, rules: dict) -> Measured:
    psnr, rows = _erasure_at_median_fraction(er, ("vanilla", "se"))
    if rows.empty:
        return NOT_RUN
    return Measured(float(psnr["vanilla"] - psnr["se"]), _seeds(rows))


@claim("se_lowers_fid", "A DiT trained on the SE model's latents generates better images than on the vanilla AE's",
       "relative change of FID vs the vanilla AE's DiT", "-19% (FID, DiT-XL/2, ImageNet 256²)", "main_image.csv",
       MAIN_COLUMNS, lambda r: below(-r["min_rel_improvement"]))
def se_lowers_fid(main: pd.DataFrame, rules: dict) -> Measured:
    return _main_table(main)


@claim("se_lowers_fvd", "A DiT trained on the SE video AE's latents generates better videos than on the vanilla one's",
       "relative change of FVD vs the vanilla AE's DiT", "≤ -44% (FVD, Kinetics-700)", "main_video.csv",
       MAIN_COLUMNS, lambda r: below(-r["min_rel_improvement"]))
def se_lowers_fvd(main: pd.DataFrame, rules: dict) -> Measured:
    return _main_table(main)


def _read(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def verdict(value: float, seeds: int, rule: Rule) -> str:
    if seeds == 0 or not math.isfinite(value):
        return "not run"
    return "reproduced" if rule.holds(value) else "not reproduced"


def claims_table(results_dir: str | Path, tolerances: dict, scale: str) -> pd.DataFrame:
    """One row per claim of `CLAIMS`, measured on the CSVs in `results_dir` and judged by its rule with the
    `tolerances` (every key of TOLERANCES)."""
    missing = [k for k in TOLERANCES if k not in tolerances]
    if missing:
        raise KeyError(f"claims_table needs the tolerances {', '.join(missing)} (config keys claims.*, se.main_weight)")
    rules = dict(tolerances)
    frames: dict[str, pd.DataFrame | None] = {}
    rows = []
    for c in CLAIMS:
        if c.source not in frames:
            frames[c.source] = _read(Path(results_dir) / c.source)
        df = frames[c.source]
        m = NOT_RUN if df is None or not set(c.needs) <= set(df.columns) else c.measure(df, rules)
        rule = c.rule(rules)
        v = verdict(m.value, m.seeds, rule)
        rows.append({"claim_id": c.id, "claim": c.text, "metric": m.metric or c.metric, "paper_value": c.paper_value,
                     "our_value": m.value, "rule": rule.text, "seeds": m.seeds if v != "not run" else 0,
                     "scale": scale, "verdict": v})
    return pd.DataFrame(rows, columns=COLUMNS).astype({"our_value": float, "seeds": int})


def write_claims(results_dir: str | Path, tolerances: dict, scale: str, out_csv: str | Path, out_md: str | Path
                 ) -> None:
    """The claims table as a tidy CSV and as Markdown (the same table; no LaTeX: it is read, not typeset).
    `tolerances`: the config's claims.* and the main SE weight, the parameters of the decision rules."""
    table = claims_table(results_dir, tolerances, scale)
    write_csv(out_csv, table)
    shown = table.astype(object).where(table.notna(), None)  # tabulate writes missingval for None, not for NaN
    md = (f"**Claims of the paper and our verdicts ({scale} scale)**\n\n"
          + shown.to_markdown(index=False, floatfmt=".4g", missingval="–") + "\n")
    atomic_write(out_md, lambda f: f.write(md))
