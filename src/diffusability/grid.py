"""The experiment grid: which autoencoders and DiTs a config asks for, and their names.

Light (no torch import): the Snakefile reads it to build the DAG. Names:
  vanilla AEs trained from scratch   `<preset>-c<channels>-kl<kl>-s<seed>`             e.g. tiny-c16-kl1e-06-s0
  a pretrained AE, imported          `<preset>-pretrained`                              e.g. flux-pretrained
  fine-tunes of a base AE (SE / FT)  `<base>__se<weight>-f<factors>-<mode>[-frozen][-t<time factors>]`
                                                                                        e.g. ...__se0.5-f2x4-bilinear
  the high-frequency cutoff fine-tune `<base>__se<weight>-random_cut[-frozen]` (no factor set: it resamples nothing)
A fine-tune with weight 0 is the FT control: the same fine-tune without the SE term.

Video is one more dimension of the same grid: each entry of `video.models` gets a *view* of the config
(`video_view`) in which the video data, AE, SE, DiT and spectrum settings stand where the image ones do, and the
same functions then give its vanilla / FT / SE runs and DiTs. Every run carries `modality` (image | video).
"""
from __future__ import annotations

# The SE factor sets of a fine-tune as lists (the run config's se.factors / se.temporal_factors); the run's name and
# its CSV columns show them as text ("2x4").
_NO_FACTORS = {"se_factor_list": None, "se_time_factor_list": None}
RUN_KEYS = ["model", "modality", "preset", "channels", "kl_weight", "seed", "variant", "se_weight", "se_factors",
            "se_mode"]
VARIANT_SEP = "__"
# The high-frequency cutoff regulariser (se.py, paper Fig. 5's third row): a mode of the SE term without factors.
# One fine-tune of each image SE base at se.main_weight uses it; its label in Fig. 5 and erasure.csv is this name.
CUT_MODE = "random_cut"


def fmt_num(v: float) -> str:
    return f"{float(v):g}"


def run_name(preset: str, channels: int, kl: float, seed: int) -> str:
    return f"{preset}-c{int(channels)}-kl{fmt_num(kl)}-s{int(seed)}"


def fmt_factors(factors) -> str:
    return "x".join(str(int(f)) for f in factors)


def finetune_name(base: str, weight: float, factors, mode: str, frozen: bool, time_factors=()) -> str:
    resampling = f"-f{fmt_factors(factors)}" if mode != CUT_MODE else ""
    return (f"{base}{VARIANT_SEP}se{fmt_num(weight)}{resampling}-{mode}" + ("-frozen" if frozen else "")
            + (f"-t{fmt_factors(time_factors)}" if time_factors else ""))


def _modality(config: dict) -> str:
    return config.get("modality", "image")


def _vanilla(config: dict, channels: int, kl: float, seed: int) -> dict:
    ae = config["ae"]
    return {"model": run_name(ae["preset"], channels, kl, seed), "modality": _modality(config),
            "preset": ae["preset"], "channels": int(channels),
            "kl_weight": float(kl), "seed": int(seed), "variant": "vanilla", "se_weight": None,
            "se_factors": None, "se_mode": None, "se_time_factors": None, "base": None, **_NO_FACTORS}


def ae_grid(config: dict) -> list[dict]:
    """Every vanilla AE the config asks for: the channel sweep at kl_reference, the KL sweep at channels_reference."""
    ae = config["ae"]
    pairs = [(c, ae["kl_reference"]) for c in ae["channels"]]
    pairs += [(ae["channels_reference"], kl) for kl in ae["kl_weights"]]
    pairs += [(ae["channels_reference"], kl) for kl in config["se"]["ablation"]["kl_weights"]]
    return _unique([_vanilla(config, c, kl, seed) for seed in config["seeds"] for c, kl in pairs])


def pretrained_run(config: dict) -> dict:
    ae = config["ae"]
    return {"model": f"{ae['preset']}-pretrained", "modality": _modality(config), "preset": ae["preset"],
            "channels": int(ae["channels_reference"]),
            "kl_weight": None, "seed": 0, "variant": "vanilla", "se_weight": None, "se_factors": None,
            "se_mode": None, "se_time_factors": None, "base": None, **_NO_FACTORS}


def se_bases(config: dict, kl: float | None = None) -> list[dict]:
    """The AEs that SE fine-tunes start from (one per seed), at the reference KL weight unless `kl` is given."""
    if config["se"]["base"] == "pretrained":
        return [pretrained_run(config)] if kl is None else []
    kl = config["ae"]["kl_reference"] if kl is None else kl
    return [_vanilla(config, config["ae"]["channels_reference"], kl, seed) for seed in config["seeds"]]


def _finetune(config: dict, base: dict, weight: float, factors, mode: str) -> dict:
    frozen = bool(config["se"]["freeze_encoder"])
    factors = () if mode == CUT_MODE else factors  # the cutoff draws a ratio per batch, not a factor
    # Temporal SE (video) applies to SE runs only; the FT control is the same fine-tune without any SE term.
    time_factors = config["se"].get("temporal_factors") or () if float(weight) > 0 else ()
    return {**base, "model": finetune_name(base["model"], weight, factors, mode, frozen, time_factors),
            "base": base["model"], "se_time_factors": fmt_factors(time_factors) if time_factors else None,
            "variant": "ft" if float(weight) == 0 else "se", "se_weight": float(weight),
            "se_factors": fmt_factors(factors) if factors else None, "se_mode": mode,
            "se_factor_list": [int(f) for f in factors],
            "se_time_factor_list": [int(f) for f in time_factors]}


def se_grid(config: dict) -> list[dict]:
    """Every fine-tune: the SE-weight sweep (weight 0 = FT control) with the default factors and mode, then the
    factor-set, resampling-mode and KL ablations at se.main_weight."""
    se = config["se"]
    main_w, factors, mode, abl = se["main_weight"], se["factors"], se["mode"], se["ablation"]
    runs = []
    for base in se_bases(config):
        # The FT control and the main SE model (Fig. 5, main tables) exist whatever the sweep lists.
        runs += [_finetune(config, base, w, factors, mode) for w in (0.0, main_w, *se["weights"])]
        runs += [_finetune(config, base, main_w, fs, mode) for fs in abl["factor_sets"]]
        runs += [_finetune(config, base, main_w, factors, m) for m in abl["modes"]]
        if _modality(config) == "image":  # Fig. 5's third row: the high-frequency cutoff regulariser
            runs.append(_finetune(config, base, main_w, (), CUT_MODE))
    for kl in abl["kl_weights"]:
        for base in se_bases(config, kl):
            runs += [_finetune(config, base, w, factors, mode) for w in (0.0, main_w)]
    return _unique(runs)


def all_runs(config: dict) -> list[dict]:
    """Every AE that gets evaluated: vanilla (trained or pretrained) and every fine-tune."""
    vanilla = [pretrained_run(config)] if config["se"]["base"] == "pretrained" else []
    return _unique(vanilla + ae_grid(config) + se_grid(config))


def _unique(runs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in runs:
        if r["model"] not in seen:
            seen.add(r["model"])
            out.append(r)
    return out


def main_variants(config: dict) -> dict[str, dict[str, str]]:
    """For Figs. 4-5: per seed, the vanilla base, its FT control and its SE fine-tune at se.main_weight, and for
    images its high-frequency cutoff fine-tune at se.main_weight (CUT_MODE: Fig. 5's third row)."""
    se = config["se"]
    out = {}
    for base in se_bases(config):
        out[base["model"]] = {
            "vanilla": base["model"],
            "ft": finetune_name(base["model"], 0.0, se["factors"], se["mode"], se["freeze_encoder"]),
            "se": finetune_name(base["model"], se["main_weight"], se["factors"], se["mode"], se["freeze_encoder"],
                                se.get("temporal_factors") or ()),
        }
        if _modality(config) == "image":
            out[base["model"]][CUT_MODE] = finetune_name(base["model"], se["main_weight"], (), CUT_MODE,
                                                         se["freeze_encoder"])
    return out


# --- Video: the same grid on a view of the config -------------------------------------------------------------------

def video_view(config: dict, model: dict) -> dict:
    """The config as one video AE (an entry of video.models) sees it: video data, AE, SE, DiT and spectrum settings
    where the image ones stand, one bottleneck and KL weight, the SE weight sweep reduced to FT + main SE."""
    v = config["video"]
    pretrained = bool(model.get("pretrained"))  # then the released AE is the vanilla one: nothing from scratch
    ae = {**config["ae"], "preset": model["preset"], "compression": int(model["compression"]),
          "channels": [] if pretrained else [int(model["channels"])], "kl_weights": [],
          "channels_reference": int(model["channels"]),
          "kl_reference": float(v["kl_weight"]), "pretrained": model.get("pretrained"),
          **{k: v[k] for k in ("steps", "batch_size", "lr", "checkpoint_every")}, "lpips_weight": 0.0}
    vs = v["se"]
    se = {**config["se"], **{k: vs[k] for k in ("steps", "lr", "warmup_steps", "checkpoint_every", "factors", "mode",
                                                 "temporal_factors", "keep_first_frame")},
          "base": "pretrained" if pretrained else "reference", "weights": [0.0, float(vs["weight"])],
          "main_weight": float(vs["weight"]), "ablation": {"factor_sets": [], "modes": [], "kl_weights": []},
          "pretrained_kl_weight": float(v["kl_weight"])}
    return {**config, "modality": "video", "data": v["data"], "ae": ae, "se": se,
            "dit": {**config["dit"], **v["dit"]}, "spectrum": {**config["spectrum"], **v["spectrum"]},
            "eval": {**config["eval"], **v["eval"]}}


def video_views(config: dict) -> list[dict]:
    v = config.get("video") or {}
    return [video_view(config, m) for m in v.get("models", [])] if v.get("enabled") else []


def video_runs(config: dict) -> list[dict]:
    return _unique([r for view in video_views(config) for r in all_runs(view)])


_INDEX: dict[int, tuple[dict, dict]] = {}


def _index(config: dict) -> dict:
    """name -> (run or DiT meta, the config view it belongs to), built once per config object (the rules ask for
    it once per job while Snakemake builds the DAG)."""
    hit = _INDEX.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    index = {}
    for view in [config, *video_views(config)]:
        for run in all_runs(view):
            index.setdefault(run["model"], (run, view))
        for run in dit_grid(view):
            index.setdefault(run["dit_run"], (run, view))
    _INDEX[id(config)] = (config, index)
    return index


def _find(config: dict, name: str, key: str) -> tuple[dict, dict]:
    hit = _index(config).get(name)
    if hit is None or key not in hit[0]:
        raise KeyError(f"{'DiT run' if key == 'dit_run' else 'run'} {name!r} is not in the configured grid")
    return hit


def run_meta(config: dict, name: str) -> dict:
    """The grid entry of an AE run (image or video) by name."""
    return _find(config, name, "model")[0]


def view_of(config: dict, name: str) -> dict:
    """The config view an AE run or DiT run belongs to (the config itself for image runs)."""
    return _index(config).get(name, (None, config))[1]


# --- Latent diffusion (Fig. 1, Table 1) ----------------------------------------------------------------------------

def dit_name(ae_model: str, preset: str, seed: int) -> str:
    return f"{ae_model}__dit-{preset.replace('/', '')}-s{seed}"


def dit_grid(config: dict) -> list[dict]:
    """One DiT per (SE base, AE variant in dit.variants, DiT preset, DiT seed), on that variant's latents."""
    dit = config["dit"]
    runs = []
    runs_by_name = {r["model"]: r for r in all_runs(config)}
    for base, variants in main_variants(config).items():
        for variant in dit["variants"]:
            ae = runs_by_name[variants[variant]]
            for preset in dit["presets"]:
                for seed in dit["seeds"]:
                    runs.append({"dit_run": dit_name(ae["model"], preset, seed), "ae": ae["model"],
                                 "modality": ae["modality"], "base": base,
                                 "variant": variant, "se_weight": ae["se_weight"], "channels": ae["channels"],
                                 "kl_weight": ae["kl_weight"], "dit": preset, "seed": seed})
    return runs


def dit_meta(config: dict, name: str) -> dict:
    """The grid entry of a DiT run (image or video) by name."""
    return _find(config, name, "dit_run")[0]
