"""Each training's run config, built from the workflow config (config/config.yaml + scale overlay + the user's
files and flags): the one home of every setting. Hydra composes it with the run's override lists and the trainer
saves it resolved as `<out_dir>/config.yaml`.

The tables below say where every leaf of a run config comes from: a workflow key, read in the run's config view
(grid.view_of: the video settings stand where the image ones do for a video run), or a value of the run itself
(its name's channels, KL and SE settings, its folders). Nothing here holds a default of its own, so changing a
setting in the workflow config changes the run (tests/test_runconfig.py checks every leaf).

Light (no torch, no Hydra at import): the workflow builds these while the DAG is parsed.
"""
from __future__ import annotations

import copy
from pathlib import Path

# The keys each dataset reads (data/__init__.py); the rest of the workflow's data section means nothing to it.
DATASET_KEYS = {
    "photos": ("name", "resolution", "train_photos", "val_photos", "val_crops_per_photo", "val_seed", "crop_scale",
               "num_workers"),
    "imagefolder": ("name", "root", "train_dir", "val_dir", "resolution", "hflip", "num_workers"),
    "clips": ("name", "clips", "frames", "frame_stride", "resolution", "train_fraction", "cut_threshold",
              "val_clips", "val_seed", "crop_scale", "num_workers"),
    "videofolder": ("name", "root", "train_dir", "val_dir", "frames", "frame_stride", "resolution", "cut_threshold",
                    "crop_scale", "hflip", "num_workers"),
}

# run-config leaf: workflow key (dotted, in the run's config view)
AE_SETTINGS = {
    "device": "device", "threads": "threads", "deterministic": "deterministic", "precision": "ae.precision",
    "model.preset": "ae.preset", "model.compression": "ae.compression",
    "optim.steps": "ae.steps", "optim.batch_size": "ae.batch_size", "optim.lr": "ae.lr", "optim.betas": "ae.betas",
    "optim.weight_decay": "ae.weight_decay", "optim.warmup_steps": "ae.warmup_steps", "optim.grad_clip": "ae.grad_clip",
    "optim.ema_decay": "ae.ema_decay", "optim.checkpoint_every": "ae.checkpoint_every",
    "optim.keep_checkpoints": "ae.keep_checkpoints", "optim.log_every": "ae.log_every",
    "loss.l1": "ae.l1_weight", "loss.l2": "ae.l2_weight", "loss.lpips": "ae.lpips_weight",
    "loss.latent": "ae.train_latent",
}
# A fine-tune (SE, or its FT control at weight 0): the AE's settings with the se.* ones where they differ.
FINETUNE_SETTINGS = {
    **AE_SETTINGS, "optim.steps": "se.steps", "optim.lr": "se.lr", "optim.warmup_steps": "se.warmup_steps",
    "optim.checkpoint_every": "se.checkpoint_every", "se.latent_block": "spectrum.block",
    "se.freeze_encoder": "se.freeze_encoder", "se.lpips": "se.lpips_in_se",
}
DIT_SETTINGS = {
    "device": "device", "threads": "threads", "deterministic": "deterministic", "precision": "dit.precision",
    "compile": "dit.compile", "model.conditional": "dit.conditional", "latent_norm": "dit.latent_norm",
    "flow.t_mean": "dit.t_mean", "flow.t_std": "dit.t_std", "flow.label_dropout": "dit.label_dropout",
    "optim.steps": "dit.steps", "optim.batch_size": "dit.batch_size", "optim.lr": "dit.lr", "optim.betas": "dit.betas",
    "optim.weight_decay": "dit.weight_decay", "optim.grad_clip": "dit.grad_clip", "optim.ema_decay": "dit.ema_decay",
    "optim.checkpoint_every": "dit.checkpoint_every", "optim.keep_checkpoints": "dit.keep_checkpoints",
    "optim.log_every": "dit.log_every", "snapshots": "dit.eval_steps",
}
VIDEO_DIT_SETTINGS = {**DIT_SETTINGS, "model.patch_t": "dit.patch_t"}


def _get(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _put(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = copy.deepcopy(value)


def _from_settings(view: dict, table: dict[str, str], run: dict) -> dict:
    tree = {}
    for leaf, key in table.items():
        _put(tree, leaf, _get(view, key))
    for leaf, value in run.items():
        _put(tree, leaf, value)
    return tree


def run_data(data: dict) -> dict:
    """A dataset's settings: the keys of the workflow's data section (or video.data) that its dataset reads."""
    return {k: copy.deepcopy(data[k]) for k in DATASET_KEYS[data["name"]]}


def _settings_key(view: dict, image: str, video: str) -> str:
    """The workflow section a run's optimiser settings come from (named when its training diverges)."""
    return video if view.get("modality") == "video" else image


def ae_run_config(view: dict, meta: dict, *, out_dir: str) -> dict:
    """The run config of a vanilla AE trained from scratch (`meta`: its grid entry, grid.run_meta)."""
    return _from_settings(view, AE_SETTINGS, {
        "out_dir": out_dir, "seed": meta["seed"], "settings_key": _settings_key(view, "ae", "video"),
        "init_from": None, "model.latent_channels": meta["channels"], "model.pretrained": None,
        "loss.kl_weight": meta["kl_weight"], "data": run_data(view["data"])})


def import_run_config(view: dict, meta: dict, *, out_dir: str) -> dict:
    """The config a pretrained AE is imported with: its architecture and the weights the workflow names (never
    downloaded; the `vae/` sub-folder is found)."""
    run = ae_run_config(view, meta, out_dir=out_dir)
    run["model"].update(pretrained=view["ae"]["pretrained"], subfolder=None, allow_download=False)
    return run


def finetune_run_config(view: dict, meta: dict, *, out_dir: str, init_from: str | None) -> dict:
    """The run config of a fine-tune of the AE at `init_from` (a diffusers folder). SE and its FT control differ
    only in se.weight."""
    se = view["se"]
    kl = meta["kl_weight"] if meta["kl_weight"] is not None else se["pretrained_kl_weight"]
    run = {"out_dir": out_dir, "seed": meta["seed"], "settings_key": _settings_key(view, "se", "video.se"),
           "init_from": init_from, "model.latent_channels": meta["channels"], "model.pretrained": None,
           "loss.kl_weight": kl, "data": run_data(view["data"]), "se.weight": meta["se_weight"],
           "se.factors": list(meta["se_factor_list"]), "se.mode": meta["se_mode"]}
    if meta["se_mode"] == "random_cut":  # only the cutoff's runs: a changed ratio reruns them alone
        run["se.cut_max_ratio"] = se["cut_max_ratio"]
    if view.get("modality") == "video":  # temporal SE: the SE runs' time factors ([] for the FT control)
        run.update({"se.temporal_factors": list(meta["se_time_factor_list"]),
                    "se.keep_first_frame": se["keep_first_frame"]})
    return _from_settings(view, FINETUNE_SETTINGS, run)


def zoo_finetune_run_config(config: dict, *, spatial: int, channels: int, variant: str, out_dir: str,
                            init_from: str) -> dict:
    """The FT control (`variant` ft) or SE fine-tune (se, at se.main_weight) of a zoo.models AutoencoderKL (issue
    19): the suite's fine-tune of a pretrained AE (se.* settings, se.pretrained_kl_weight, the data section), started
    from the zoo AE's own folder, with its compression and latent channels (read from its config.json)."""
    se = config["se"]
    meta = {"seed": 0, "channels": int(channels), "kl_weight": None, "se_mode": se["mode"],
            "se_weight": 0.0 if variant == "ft" else float(se["main_weight"]),
            "se_factor_list": [int(f) for f in se["factors"]]}
    view = {**config, "ae": {**config["ae"], "compression": int(spatial)}}
    return finetune_run_config(view, meta, out_dir=out_dir, init_from=init_from)


def dit_run_config(view: dict, meta: dict, *, out_dir: str, latents: str) -> dict:
    """The run config of a DiT trained on the latent cache `latents` (`meta`: grid.dit_meta)."""
    table = VIDEO_DIT_SETTINGS if view.get("modality") == "video" else DIT_SETTINGS
    return _from_settings(view, table, {"out_dir": out_dir, "latents": latents, "seed": meta["seed"],
                                        "settings_key": _settings_key(view, "dit", "video.dit"),
                                        "model.preset": meta["dit"]})


def compose_run_config(name: str, run_config: dict, overrides: list[str] | tuple[str, ...] = ()):
    """The run config as Hydra composes it with override strings ("optim.lr=1e-3", "model.preset=flux"): a
    DictConfig in struct mode, so an override of a key that does not exist fails."""
    from hydra import compose, initialize
    from hydra.core.config_store import ConfigStore
    ConfigStore.instance().store(name=name, node=copy.deepcopy(run_config))
    with initialize(version_base="1.3", config_path=None):
        return compose(config_name=name, overrides=list(overrides))


# --- By hand (cli/, tests, benchmarks): the reference run of a workflow config, then Hydra overrides -------------

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def workflow_config(scale: str = "tiny", configfiles: tuple[str, ...] = (), config_dir: str | Path = REPO_CONFIG
                    ) -> dict:
    """The workflow config as `snakemake --configfile ... --config scale=<scale>` resolves it, checked."""
    import yaml

    from .workflow_config import deep_merge, load_schema, resolve_config
    config_dir = Path(config_dir)
    user = {}
    for f in configfiles:
        user = deep_merge(user, yaml.safe_load(Path(f).read_text()) or {})
    schema = load_schema(config_dir.parent / "workflow" / "schemas" / "config.schema.yaml")
    return resolve_config(yaml.safe_load((config_dir / "config.yaml").read_text()), config_dir,
                          {**user, "scale": scale}, schema)


def reference_run_config(name: str, config: dict, *, modality: str = "image", finetune: bool = False) -> dict:
    """The run config of the reference run of `config`: its first SE base (ae.channels_reference at
    ae.kl_reference, the first seed), that base's FT control with `finetune`, its first DiT for "train_dit"; out_dir
    (and latents / init_from) left mandatory (`???`)."""
    from .grid import dit_grid, se_bases, se_grid, video_views
    view = config if modality == "image" else video_views(config)[0]
    if name == "train_dit":
        return dit_run_config(view, dit_grid(view)[0], out_dir="???", latents="???")
    if finetune:
        ft = next(r for r in se_grid(view) if r["variant"] == "ft")
        return finetune_run_config(view, ft, out_dir="???", init_from="???")
    return ae_run_config(view, se_bases(view)[0], out_dir="???")


def run_config_by_hand(name: str, overrides: list[str] | tuple[str, ...] = (), *, scale: str = "tiny",
                       configfiles: tuple[str, ...] = (), modality: str = "image", finetune: bool = False):
    """What `python -m diffusability.cli.<name>` trains: the reference run of the workflow config at `scale`, with
    Hydra overrides."""
    run = reference_run_config(name, workflow_config(scale, configfiles), modality=modality, finetune=finetune)
    return compose_run_config(name, run, overrides)
