"""The paper's claims as a table of verdicts, each with its interval over seeds, from the results CSVs of one scale.

Each claim is measured once per independent seed (a seed-level value: an AE training seed, see `_per_seed`), then
summarised by the mean and its t interval (diffusability.intervals), and judged by a `Rule` on that interval:
`reproduced` when the whole interval lies on the paper's side of the no-effect value (moved by the claims.*
tolerance), `not reproduced` when it lies wholly on the other side, `inconclusive` when it straddles it or when one
seed leaves no interval. The rule's text in the table and the test applied are built by the same `Rule`, so the
table cannot state one rule and apply another, and no verdict is typed by hand. A claim whose CSV is missing, or
holds no rows it can use, is "not run" with 0 seeds: absent evidence is never reported as a failed reproduction.

SE's own effect is told apart from fine-tuning's (issue 18): every SE claim is measured against the FT control (the
same base and fine-tune with SE weight 0), and, in a row of its own, against the vanilla AE; `baseline` says which.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from .grid import CUT_MODE, VARIANT_SEP
from .intervals import Rule, above, at_least, below, t_interval
from .provenance import atomic_write, write_csv
from .tables import of_modality

# The parameters of the decision rules, all from the workflow config: its claims.* keys (tolerances and the
# interval's confidence), and main_se_weight (se.main_weight), which picks the SE model of the main results.
TOLERANCES = ("recon_tolerance_db", "min_rel_improvement", "confidence", "main_se_weight")
COLUMNS = ["claim_id", "claim", "baseline", "paper_value", "our_value", "ci_low", "ci_high", "metric", "rule", "seeds",
           "scale", "verdict"]
FT, VANILLA, RGB, NONE = "FT control", "vanilla AE", "RGB", "-"


class Measured(NamedTuple):
    values: pd.Series       # one value per seed (the index names it): what the interval is computed over
    metric: str | None = None  # replaces the claim's metric text when the data says what was measured (FID or proxy)


NOT_RUN = Measured(pd.Series(dtype=float))


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    baseline: str                            # what the effect is measured against (FT control, vanilla AE, RGB, -)
    metric: str
    paper_value: str
    source: str                              # the CSV under results_dir it is measured on
    needs: tuple[str, ...]                   # its columns the measure reads (an older CSV without them: not run)
    rule: Callable[[dict], Rule]             # tolerances -> the decision rule
    measure: Callable[[pd.DataFrame, dict], Measured]


CLAIMS: list[Claim] = []  # in table order; each entry is audited by reading its measure function below


def claim(id: str, text: str, baseline: str, metric: str, paper_value: str, source: str, needs: tuple[str, ...],
          rule: Callable[[dict], Rule]):
    def register(measure):
        CLAIMS.append(Claim(id, text, baseline, metric, paper_value, source, needs, rule, measure))
        return measure
    return register


def _per_seed(rows: pd.DataFrame, column: str) -> Measured:
    """Seed-level values: the mean of `column` per AE training seed (over the bases and runs of that seed)."""
    rows = rows.dropna(subset=[column])
    return Measured(rows.groupby("seed")[column].mean()) if not rows.empty else NOT_RUN


def _spearman(x, y) -> float:
    """Rank correlation (NaN when either side is constant)."""
    return float(pd.Series(np.asarray(x, float)).rank().corr(pd.Series(np.asarray(y, float)).rank()))


def _slope_per_doubling(x, y) -> float:
    """Least-squares slope of y against log2(x): the change of y per doubling of x."""
    return float(np.polyfit(np.log2(np.asarray(x, float)), np.asarray(y, float), 1)[0])


def _trend(hf: pd.DataFrame, along: str, held: str, statistic) -> Measured:
    """Per seed, `statistic`(along, HF share) over the vanilla image AEs of that seed at the value of `held` run with
    the most distinct values of `along` (the sweep's reference). Under three points a seed has no trend to show."""
    van = of_modality(hf, "image")
    van = van[(van.variant == "vanilla") & van[held].notna() & van[along].notna()]
    if van.empty:
        return NOT_RUN
    counts = van.groupby(held)[along].nunique()
    rows = van[van[held] == counts.idxmax()]
    curves = {seed: g.groupby(along).hf_share.mean() for seed, g in rows.groupby("seed")}
    values = {seed: statistic(c.index, c.to_numpy()) for seed, c in curves.items() if len(c) >= 3}
    return Measured(pd.Series(values, dtype=float))


HF_COLUMNS = ("modality", "variant", "seed", "hf_share")
PAIR_COLUMNS = ("model", "modality", "variant", "seed", "se_weight", "se_factors", "se_mode")
ERASURE_COLUMNS = ("method", "erase_fraction", "psnr_vs_clean", "seed")
GENERATION_COLUMNS = ("modality", "base", "variant", "dit", "dit_run", "seed", "step", "metric", "value")


def _se_pairs(df: pd.DataFrame, main_weight: float, column: str) -> pd.DataFrame:
    """Each image FT control beside the SE model at `main_weight` fine-tuned from the same base (and seed) with the
    same factor set and resampling mode (the two differ only in the SE term, so their difference is SE's doing),
    and beside that base, the vanilla AE (`<column>_vanilla`)."""
    img = of_modality(df, "image").assign(base=lambda d: d["model"].str.split(VARIANT_SEP).str[0])
    keys = ["base", "se_factors", "se_mode"]
    ft = img[img.variant == "ft"][[*keys, "seed", column]]
    se = img[(img.variant == "se") & np.isclose(img.se_weight.astype(float), main_weight)][[*keys, column]]
    vanilla = img[img.variant == "vanilla"][["model", column]].rename(columns={"model": "base",
                                                                              column: f"{column}_vanilla"})
    pairs = ft.merge(se, on=keys, suffixes=("_ft", "_se")).merge(vanilla, on="base", how="left")
    return pairs.dropna(subset=[f"{column}_ft", f"{column}_se"])


def _erasure_per_seed(er: pd.DataFrame, methods: tuple[str, str]) -> pd.DataFrame:
    """Per seed (rows) and method (columns): PSNR of the erased signal against its un-erased self (psnr_vs_clean),
    averaged over that seed's bases, at the median erased fraction strictly between 0 and 1 that both methods were
    run at (the lower median when the count is even: the middle of the sweep, away from the trivial and the
    near-total erasures).

    psnr_vs_clean rather than psnr_drop: RGB's un-erased PSNR is that of an identity (~126 dB, float round-off), so
    a drop from it measures nothing about erasure; vs-clean gives every method the same reference, its own
    un-erased reconstruction. Damage = -psnr_vs_clean, so a damage difference is a difference of these PSNRs.
    """
    er = er[er.method.isin(methods) & er.psnr_vs_clean.notna()]
    inner = er[(er.erase_fraction > 0) & (er.erase_fraction < 1)]
    shared = sorted(set.intersection(*(set(inner[inner.method == m].erase_fraction) for m in methods)))
    if not shared:
        return pd.DataFrame(columns=list(methods), dtype=float)
    rows = inner[inner.erase_fraction == shared[(len(shared) - 1) // 2]]
    return rows.pivot_table(index="seed", columns="method", values="psnr_vs_clean", aggfunc="mean")


def _psnr_difference(er: pd.DataFrame, a: str, b: str) -> Measured:
    """psnr_vs_clean(a) - psnr_vs_clean(b) per seed, in dB (= damage(b) - damage(a))."""
    psnr = _erasure_per_seed(er, (a, b))
    if psnr.empty or a not in psnr or b not in psnr:
        return NOT_RUN
    return Measured((psnr[a] - psnr[b]).dropna())


def _generation_change(gen: pd.DataFrame, modality: str, against: str) -> Measured:
    """Relative change of the final generation score of the DiT on the SE model's latents vs the DiT on `against`'s
    (ft | vanilla) latents of the same base, DiT preset and DiT seed. Seed-level values are per AE seed (its base;
    DiT seeds and presets averaged) when two or more AE seeds were run, else per DiT seed of the one AE (the
    interval then covers DiT training noise only, and the metric text says so)."""
    g = of_modality(gen, modality)
    final = g[g.step == g.groupby("dit_run").step.transform("max")]
    scores = final.pivot_table(index=["base", "dit", "seed", "metric"], columns="variant", values="value",
                               aggfunc="mean")
    if "se" not in scores or against not in scores:
        return NOT_RUN
    rel = (scores["se"] / scores[against] - 1.0).dropna().rename("rel").reset_index()
    if rel.empty:
        return NOT_RUN
    metric = ", ".join(sorted(rel.metric.unique()))
    name = "the FT control's" if against == "ft" else "the vanilla AE's"
    if rel.base.nunique() >= 2:
        return Measured(rel.groupby("base").rel.mean(),
                        f"relative change of {metric} vs {name} DiT, per AE seed (DiT seeds averaged)")
    return Measured(rel.groupby("seed").rel.mean(),
                    f"relative change of {metric} vs {name} DiT, per DiT seed of one AE seed")


@claim("latent_hf_above_rgb", "Latents of plain autoencoders carry more high-frequency energy than RGB images do",
       RGB, "mean HF share of vanilla AE latents / RGB HF share, per seed", "qualitative", "hf_energy.csv",
       HF_COLUMNS, lambda r: above(1.0))
def latent_hf_above_rgb(hf: pd.DataFrame, rules: dict) -> Measured:
    img = of_modality(hf, "image")
    van, rgb = img[img.variant == "vanilla"], img[img.variant == "rgb"]
    if van.empty or rgb.empty:
        return NOT_RUN
    # RGB's spectrum does not depend on a training seed (fixed validation crops): one value for every seed.
    return Measured(van.groupby("seed").hf_share.mean() / rgb.hf_share.mean())


@claim("hf_grows_with_channels", "Wider bottlenecks (more latent channels) put more energy into high frequencies",
       NONE, "slope of HF share per doubling of channels (least squares on log2 channels), vanilla AEs at the "
       "reference KL weight, per seed", "qualitative", "hf_energy.csv", HF_COLUMNS + ("channels", "kl_weight"),
       lambda r: above(0.0))
def hf_grows_with_channels(hf: pd.DataFrame, rules: dict) -> Measured:
    return _trend(hf, along="channels", held="kl_weight", statistic=_slope_per_doubling)


@claim("kl_adds_hf", "Stronger KL regularisation adds high-frequency energy to the latents", NONE,
       "Spearman rho(KL weight, HF share), vanilla AEs at the reference channel count, per seed (ranks: the sweep "
       "includes KL 0)", "qualitative", "hf_energy.csv", HF_COLUMNS + ("channels", "kl_weight"), lambda r: above(0.0))
def kl_adds_hf(hf: pd.DataFrame, rules: dict) -> Measured:
    return _trend(hf, along="kl_weight", held="channels", statistic=_spearman)


@claim("se_lowers_hf", "Scale-equivariance fine-tuning lowers the latents' high-frequency energy", FT,
       "HF share of the main SE model / its FT control, per seed (bases averaged)", "qualitative", "hf_energy.csv",
       PAIR_COLUMNS + ("hf_share",), lambda r: below(1.0 - r["min_rel_improvement"]))
def se_lowers_hf(hf: pd.DataFrame, rules: dict) -> Measured:
    pairs = _se_pairs(hf, rules["main_se_weight"], "hf_share")
    return _per_seed(pairs.assign(ratio=pairs.hf_share_se / pairs.hf_share_ft), "ratio")


@claim("se_keeps_reconstruction", "Scale-equivariance fine-tuning keeps reconstruction quality", FT,
       "PSNR(main SE model) - PSNR(its FT control), dB, per seed (bases averaged)", "qualitative",
       "reconstruction.csv", PAIR_COLUMNS + ("psnr",), lambda r: at_least(-r["recon_tolerance_db"]))
def se_keeps_reconstruction(recon: pd.DataFrame, rules: dict) -> Measured:
    pairs = _se_pairs(recon, rules["main_se_weight"], "psnr")
    return _per_seed(pairs.assign(d=pairs.psnr_se - pairs.psnr_ft), "d")


@claim("se_keeps_reconstruction_vs_vanilla", "Scale-equivariance fine-tuning keeps reconstruction quality", VANILLA,
       "PSNR(main SE model) - PSNR(its vanilla base), dB, per seed (bases averaged)", "qualitative",
       "reconstruction.csv", PAIR_COLUMNS + ("psnr",), lambda r: at_least(-r["recon_tolerance_db"]))
def se_keeps_reconstruction_vs_vanilla(recon: pd.DataFrame, rules: dict) -> Measured:
    pairs = _se_pairs(recon, rules["main_se_weight"], "psnr")
    return _per_seed(pairs.assign(d=pairs.psnr_se - pairs.psnr_vanilla), "d")


@claim("erasure_hurts_latents_more",
       "Erasing the same share of high frequencies damages a latent's decode more than it damages an RGB image", RGB,
       "PSNR vs un-erased: RGB - vanilla latent's decode, dB, at the median erased fraction, per seed",
       "qualitative", "erasure.csv", ERASURE_COLUMNS, lambda r: above(0.0))
def erasure_hurts_latents_more(er: pd.DataFrame, rules: dict) -> Measured:
    return _psnr_difference(er, "rgb", "vanilla")


def _erasure_claim(id: str, text: str, method: str, against: str, who: str):
    baseline = FT if against == "ft" else VANILLA
    metric = (f"damage({who}) - damage({baseline}) = PSNR vs un-erased: {against} - {method} latent's decode, dB, "
              "at the median erased fraction, per seed")
    return claim(id, text, baseline, metric, "qualitative (Fig. 5)", "erasure.csv", ERASURE_COLUMNS,
                 lambda r: below(0.0))(lambda er, rules: _psnr_difference(er, against, method))


_SE_ERASURE = "After SE fine-tuning, erasing high frequencies damages the decode less"
_CUT_ERASURE = ("After fine-tuning with the high-frequency cutoff regulariser (random_cut), erasing high frequencies "
                "damages the decode less")
_erasure_claim("se_reduces_erasure_damage", _SE_ERASURE, "se", "ft", "SE")
_erasure_claim("se_reduces_erasure_damage_vs_vanilla", _SE_ERASURE, "se", "vanilla", "SE")
_erasure_claim("cut_reduces_erasure_damage", _CUT_ERASURE, CUT_MODE, "ft", "cut")
_erasure_claim("cut_reduces_erasure_damage_vs_vanilla", _CUT_ERASURE, CUT_MODE, "vanilla", "cut")


def _generation_claim(id: str, text: str, modality: str, against: str, metric: str, paper_value: str):
    return claim(id, text, FT if against == "ft" else VANILLA, metric, paper_value, "generation.csv",
                 GENERATION_COLUMNS, lambda r: below(-r["min_rel_improvement"]))(
        lambda gen, rules: _generation_change(gen, modality, against))


_FID = "A DiT trained on the SE model's latents generates better images"
_FVD = "A DiT trained on the SE video AE's latents generates better videos"
_generation_claim("se_lowers_fid", _FID, "image", "ft", "relative change of FID vs the FT control's DiT",
                  "-19% vs vanilla (FID, DiT-XL/2, ImageNet 256²); vs FT not reported")
_generation_claim("se_lowers_fid_vs_vanilla", _FID, "image", "vanilla",
                  "relative change of FID vs the vanilla AE's DiT", "-19% (FID, DiT-XL/2, ImageNet 256²)")
_generation_claim("se_lowers_fvd", _FVD, "video", "ft", "relative change of FVD vs the FT control's DiT",
                  "≤ -44% vs vanilla (FVD, Kinetics-700); vs FT not reported")
_generation_claim("se_lowers_fvd_vs_vanilla", _FVD, "video", "vanilla",
                  "relative change of FVD vs the vanilla AE's DiT", "≤ -44% (FVD, Kinetics-700)")


def _read(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def claims_table(results_dir: str | Path, tolerances: dict, scale: str) -> pd.DataFrame:
    """One row per claim of `CLAIMS`, measured per seed on the CSVs in `results_dir` and judged by its rule on the
    t interval at `tolerances["confidence"]` (`tolerances`: every key of TOLERANCES)."""
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
        interval = t_interval(m.values.to_numpy(), float(rules["confidence"]))
        rule = c.rule(rules)
        rows.append({"claim_id": c.id, "claim": c.text, "baseline": c.baseline, "paper_value": c.paper_value,
                     "our_value": interval.mean, "ci_low": interval.low, "ci_high": interval.high,
                     "metric": m.metric or c.metric, "rule": rule.text, "seeds": interval.n, "scale": scale,
                     "verdict": rule.verdict(interval)})
    return pd.DataFrame(rows, columns=COLUMNS).astype({"our_value": float, "ci_low": float, "ci_high": float,
                                                       "seeds": int})


def write_claims(results_dir: str | Path, tolerances: dict, scale: str, out_csv: str | Path, out_md: str | Path
                 ) -> None:
    """The claims table as a tidy CSV and as Markdown (the same table; no LaTeX: it is read, not typeset).
    `tolerances`: the config's claims.* and the main SE weight, the parameters of the decision rules."""
    table = claims_table(results_dir, tolerances, scale)
    write_csv(out_csv, table)
    shown = table.drop(columns="scale").astype(object).where(table.notna(), None)  # tabulate: missingval for None
    conf = float(tolerances["confidence"])
    md = (f"**Claims of the paper and our verdicts ({scale} scale)**\n\n"
          f"our_value: mean of the seed-level values; ci_low, ci_high: its {conf:.0%} t interval over the `seeds` "
          "seed-level values (none with one seed: then `inconclusive`). Verdict from the interval: `reproduced` when "
          "it lies wholly on the paper's side of the rule's threshold, `not reproduced` when wholly on the other, "
          "`inconclusive` when it straddles. `baseline`: what SE's effect is measured against (the FT control "
          "isolates SE from fine-tuning).\n\n"
          + shown.to_markdown(index=False, floatfmt=".4g", missingval="–") + "\n")
    atomic_write(out_md, lambda f: f.write(md))
