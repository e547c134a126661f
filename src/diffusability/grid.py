"""The experiment grid: which autoencoders a config asks for, their names, and their Hydra overrides.

Light (no torch import): the Snakefile reads it to build the DAG. Names:
  vanilla AEs trained from scratch   `<preset>-c<channels>-kl<kl>-s<seed>`             e.g. tiny-c16-kl1e-06-s0
  a pretrained AE, imported          `<preset>-pretrained`                              e.g. flux-pretrained
  fine-tunes of a base AE (SE / FT)  `<base>__se<weight>-f<factors>-<mode>[-frozen]`    e.g. ...__se0.5-f2x4-bilinear
A fine-tune with weight 0 is the FT control: the same fine-tune without the SE term.
"""
from __future__ import annotations

RUN_KEYS = ["model", "preset", "channels", "kl_weight", "seed", "variant", "se_weight", "se_factors", "se_mode"]
VARIANT_SEP = "__"


def fmt_num(v: float) -> str:
    return f"{float(v):g}"


def run_name(preset: str, channels: int, kl: float, seed: int) -> str:
    return f"{preset}-c{int(channels)}-kl{fmt_num(kl)}-s{int(seed)}"


def fmt_factors(factors) -> str:
    return "x".join(str(int(f)) for f in factors)


def finetune_name(base: str, weight: float, factors, mode: str, frozen: bool) -> str:
    return f"{base}{VARIANT_SEP}se{fmt_num(weight)}-f{fmt_factors(factors)}-{mode}" + ("-frozen" if frozen else "")


def _vanilla(config: dict, channels: int, kl: float, seed: int) -> dict:
    ae = config["ae"]
    return {"model": run_name(ae["preset"], channels, kl, seed), "preset": ae["preset"], "channels": int(channels),
            "kl_weight": float(kl), "seed": int(seed), "variant": "vanilla", "se_weight": None,
            "se_factors": None, "se_mode": None, "base": None}


def ae_grid(config: dict) -> list[dict]:
    """Every vanilla AE the config asks for: the channel sweep at kl_reference, the KL sweep at channels_reference."""
    ae = config["ae"]
    pairs = [(c, ae["kl_reference"]) for c in ae["channels"]]
    pairs += [(ae["channels_reference"], kl) for kl in ae["kl_weights"]]
    pairs += [(ae["channels_reference"], kl) for kl in config["se"]["ablation"]["kl_weights"]]
    return _unique([_vanilla(config, c, kl, seed) for seed in config["seeds"] for c, kl in pairs])


def pretrained_run(config: dict) -> dict:
    ae = config["ae"]
    return {"model": f"{ae['preset']}-pretrained", "preset": ae["preset"], "channels": int(ae["channels_reference"]),
            "kl_weight": None, "seed": 0, "variant": "vanilla", "se_weight": None, "se_factors": None,
            "se_mode": None, "base": None}


def se_bases(config: dict, kl: float | None = None) -> list[dict]:
    """The AEs that SE fine-tunes start from (one per seed), at the reference KL weight unless `kl` is given."""
    if config["se"]["base"] == "pretrained":
        return [pretrained_run(config)] if kl is None else []
    kl = config["ae"]["kl_reference"] if kl is None else kl
    return [_vanilla(config, config["ae"]["channels_reference"], kl, seed) for seed in config["seeds"]]


def _finetune(config: dict, base: dict, weight: float, factors, mode: str) -> dict:
    frozen = bool(config["se"]["freeze_encoder"])
    return {**base, "model": finetune_name(base["model"], weight, factors, mode, frozen), "base": base["model"],
            "variant": "ft" if float(weight) == 0 else "se", "se_weight": float(weight),
            "se_factors": fmt_factors(factors), "se_mode": mode}


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


def run_meta(config: dict, name: str) -> dict:
    for run in all_runs(config):
        if run["model"] == name:
            return run
    raise KeyError(f"run {name!r} is not in the configured grid")


def main_variants(config: dict) -> dict[str, list[str]]:
    """For Figs. 4-5: per seed, the vanilla base, its FT control and its SE fine-tune at se.main_weight."""
    se = config["se"]
    out = {}
    for base in se_bases(config):
        out[base["model"]] = {
            "vanilla": base["model"],
            "ft": finetune_name(base["model"], 0.0, se["factors"], se["mode"], se["freeze_encoder"]),
            "se": finetune_name(base["model"], se["main_weight"], se["factors"], se["mode"], se["freeze_encoder"]),
        }
    return out


# --- Hydra overrides -------------------------------------------------------------------------------------------

def _hydra_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_hydra_value(x) for x in v) + "]"
    return "null" if v is None else str(v)


def data_settings(config: dict) -> dict:
    """The workflow's data keys that the chosen dataset's Hydra group knows (photo lists mean nothing to a folder)."""
    from .runconfig import compose_run_config
    group = compose_run_config("train_ae", [f"data={config['data']['name']}"]).data
    return {k: v for k, v in config["data"].items() if k in group and k != "name" and v is not None}


def _common_overrides(config: dict, meta: dict, out_dir: str, threads: int) -> list[str]:
    ae = config["ae"]
    ov = [f"out_dir={out_dir}", f"seed={meta['seed']}", f"device={config['device']}", f"threads={threads}",
          f"model={ae['preset']}", f"model.latent_channels={meta['channels']}",
          f"model.compression={ae['compression']}", f"data={config['data']['name']}",
          f"loss.lpips={ae.get('lpips_weight', 0)}"]
    return ov + [f"data.{k}={_hydra_value(v)}" for k, v in data_settings(config).items()]


def ae_overrides(config: dict, meta: dict, out_dir: str, threads: int) -> list[str]:
    """Overrides that turn config/hydra/train_ae.yaml into this vanilla run's config (training from scratch)."""
    ae = config["ae"]
    ov = _common_overrides(config, meta, out_dir, threads) + [
        f"optim={ae['optim']}", f"optim.steps={ae['steps']}", f"optim.batch_size={ae['batch_size']}",
        f"optim.lr={ae['lr']}", f"optim.checkpoint_every={ae['checkpoint_every']}",
        f"loss.kl_weight={meta['kl_weight']}"]
    return ov + list(ae.get("overrides", []))


def finetune_overrides(config: dict, meta: dict, out_dir: str, base_dir: str, threads: int) -> list[str]:
    """Overrides of a fine-tune (SE or FT control). SE and its FT control differ only in se.weight."""
    ae, se = config["ae"], config["se"]
    kl = meta["kl_weight"] if meta["kl_weight"] is not None else se["pretrained_kl_weight"]
    ov = _common_overrides(config, meta, out_dir, threads) + [
        f"optim={ae['optim']}", f"optim.steps={se['steps']}", f"optim.batch_size={ae['batch_size']}",
        f"optim.lr={se['lr']}", f"optim.warmup_steps={se['warmup_steps']}",
        f"optim.checkpoint_every={se['checkpoint_every']}", f"loss.kl_weight={kl}",
        f"init_from={base_dir}/ae",
        f"se.weight={meta['se_weight']}", f"se.factors=[{meta['se_factors'].replace('x', ',')}]",
        f"se.mode={meta['se_mode']}", f"se.freeze_encoder={se['freeze_encoder']}", f"se.lpips={se['lpips_in_se']}",
        f"se.latent_block={config['spectrum']['block']}"]
    return ov + list(ae.get("overrides", [])) + list(se.get("overrides", []))


# --- Latent diffusion (Fig. 1, Table 1) ----------------------------------------------------------------------------

def dit_name(ae_model: str, preset: str, seed: int) -> str:
    return f"{ae_model}__dit-{preset.replace('/', '')}-s{seed}"


def dit_grid(config: dict) -> list[dict]:
    """One DiT per (SE base, AE variant in dit.variants, DiT preset, DiT seed), on that variant's latents."""
    dit = config["dit"]
    runs = []
    for base, variants in main_variants(config).items():
        for variant in dit["variants"]:
            ae = run_meta(config, variants[variant])
            for preset in dit["presets"]:
                for seed in dit["seeds"]:
                    runs.append({"dit_run": dit_name(ae["model"], preset, seed), "ae": ae["model"], "base": base,
                                 "variant": variant, "se_weight": ae["se_weight"], "channels": ae["channels"],
                                 "kl_weight": ae["kl_weight"], "dit": preset, "seed": seed})
    return runs


def dit_meta(config: dict, name: str) -> dict:
    for run in dit_grid(config):
        if run["dit_run"] == name:
            return run
    raise KeyError(f"DiT run {name!r} is not in the configured grid")


def dit_overrides(config: dict, meta: dict, out_dir: str, latents: str, threads: int) -> list[str]:
    """Overrides that turn config/hydra/train_dit.yaml into this DiT run's config."""
    d = config["dit"]
    ov = [f"out_dir={out_dir}", f"latents={latents}", f"seed={meta['seed']}", f"device={config['device']}",
          f"threads={threads}", f"model.preset={meta['dit']}", f"model.conditional={d['conditional']}",
          f"latent_norm={d['latent_norm']}", f"precision={d['precision']}", f"compile={d['compile']}",
          f"flow.label_dropout={d['label_dropout']}", f"optim.steps={d['steps']}",
          f"optim.batch_size={d['batch_size']}", f"optim.lr={d['lr']}", f"optim.ema_decay={d['ema_decay']}",
          f"optim.checkpoint_every={d['checkpoint_every']}", f"snapshots={_hydra_value(d['eval_steps'])}"]
    return ov + list(d.get("overrides", []))
