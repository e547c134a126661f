"""Checks of the files and settings a config names, run by the workflow's `onstart` handler: after the DAG is
built and before any job (a dry run, which runs nothing, plans without them: the paper overlay's placeholder
paths must not stop `snakemake -n`).

`workflow_config` checks values and their relations; this module checks what they point at (weights files,
pretrained AE folders, data roots), the Hydra override lists and the device, each failure one sentence naming the
workflow's config key. torch is imported only when a weights file or a CUDA device is configured.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from .presets import VIDEO_AE_PRESETS, ae_compression
from .workflow_config import ConfigError

AE_CLASS = {"cogvideox": "AutoencoderKLCogVideoX", "ltx": "AutoencoderKLLTXVideo"}  # by video preset family


def _ae_config(source: str, key: str) -> dict:
    """config.json of a pretrained AE: a local diffusers folder (its vae/ sub-folder is found) or a cached hub id."""
    path = Path(source).expanduser()
    if path.exists():
        for cfg in (path / "vae" / "config.json", path / "config.json"):
            if cfg.is_file():
                break
        else:
            raise ConfigError(f"config key {key} names {path}, which has no diffusers config.json (nor vae/config.json)")
    else:
        from huggingface_hub import try_to_load_from_cache
        try:
            hits = [try_to_load_from_cache(source, name) for name in ("vae/config.json", "config.json")]
        except ValueError:  # not of a hub id's form either (huggingface_hub's HFValidationError)
            hits = []
        cfg = next((Path(h) for h in hits if isinstance(h, str)), None)
        if cfg is None:
            raise ConfigError(f"config key {key} is {source!r}: neither an existing folder nor a hub id in the local "
                              "cache (nothing is downloaded)")
    try:
        return json.loads(cfg.read_text())
    except ValueError:
        raise ConfigError(f"config key {key}: {cfg} is not valid JSON") from None


def check_pretrained(config: dict) -> None:
    ae = config["ae"]
    if ae.get("pretrained"):
        cfg = _ae_config(ae["pretrained"], "ae.pretrained")
        if cfg.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
            raise ConfigError(f"config key ae.pretrained holds a {cfg.get('_class_name')}, but ae.preset "
                              f"{ae['preset']} needs an AutoencoderKL")
        got = (cfg.get("latent_channels"), ae_compression(cfg.get("block_out_channels", [0])))
        want = (int(ae["channels_reference"]), int(ae["compression"]))
        if got != want:
            raise ConfigError(f"config key ae.pretrained has {got[0]} latent channels and {got[1]}x compression, but "
                              f"ae.channels_reference and ae.compression ask for {want[0]} and {want[1]}x")
    video = config["video"]
    for i, m in enumerate(video["models"] if video["enabled"] else []):
        if m.get("pretrained"):
            key = f"video.models[{i}].pretrained"
            cfg = _ae_config(m["pretrained"], key)
            want = AE_CLASS[VIDEO_AE_PRESETS[m["preset"]].family]
            if cfg.get("_class_name") != want:
                raise ConfigError(f"config key {key} holds a {cfg.get('_class_name')}, but preset {m['preset']} "
                                  f"needs an {want}")
            if cfg.get("latent_channels") != int(m["channels"]):
                raise ConfigError(f"config key {key} has {cfg.get('latent_channels')} latent channels, but "
                                  f"video.models[{i}].channels is {m['channels']}")


def check_weights_files(config: dict) -> None:
    """Each weights file holds the tensors its key says (read without unpickling code: weights.read_weights)."""
    from .weights import read_weights
    from .metrics.i3d import TORCHSCRIPT_KEY, is_torchscript_archive
    for key, path in weights_inputs(config).items():
        if key == TORCHSCRIPT_KEY:  # TorchScript, not a state dict: its zip directory says which (nothing loaded)
            if not is_torchscript_archive(Path(path).expanduser()):
                raise ConfigError(f"config key {key} names {path}, which is not a TorchScript archive (StyleGAN-V's "
                                  "i3d_torchscript.pt; a state dict goes to video.metrics.i3d_weights)")
            continue
        try:
            read_weights(path, key)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def weights_inputs(config: dict) -> dict[str, str]:
    """The weights files the DAG reads as inputs, by config key."""
    files = {"metrics.inception_weights": config["metrics"]["inception_weights"]}
    if config["video"]["enabled"] or config["zoo"]["models"]:  # a zoo video AE's rFVD reads it too
        files["video.metrics.i3d_weights"] = config["video"]["metrics"]["i3d_weights"]
        files["video.metrics.i3d_torchscript"] = config["video"]["metrics"].get("i3d_torchscript")
    return {k: v for k, v in files.items() if v}


def check_inputs_exist(config: dict) -> None:
    """Weights files (and the ADM reference batch) are inputs of the DAG: a missing one would stop even a dry run,
    in Snakemake's words."""
    files = {**weights_inputs(config), "dit.adm_reference": config["dit"]["adm_reference"]}
    for key, path in files.items():
        if path and not Path(path).expanduser().is_file():
            hint = " (python -m diffusability.rehearsal writes it)" if config.get("scale") == "rehearsal" else ""
            raise ConfigError(f"config key {key} names {path}, which is not a file{hint}")


def check_adm_reference(config: dict) -> None:
    """An ADM reference batch holds Inception-v3 statistics: it needs the Inception feature space (no file read, so
    a dry run catches it too)."""
    if config["dit"]["adm_reference"] and not config["metrics"]["inception_weights"]:
        raise ConfigError("config key dit.adm_reference holds Inception-v3 statistics, so the samples must be scored "
                          "with Inception too: set metrics.inception_weights (null scores with the offline proxy "
                          "network, whose features an ADM batch does not hold)")


def check_adm_file(config: dict) -> None:
    """The ADM reference batch holds a mean and its covariance (read with numpy, nothing unpickled)."""
    if config["dit"]["adm_reference"]:
        from .generation.adm import adm_reference_statistics
        try:
            adm_reference_statistics(Path(config["dit"]["adm_reference"]).expanduser(), "inception")
        except (ValueError, OSError, zipfile.BadZipFile) as err:
            raise ConfigError(f"config key dit.adm_reference: {err}") from None


def check_overrides(config: dict) -> None:
    """Each Hydra override list must compose with the run configs it is meant for (run while the workflow is
    parsed, only for lists that are not empty: no file is involved, so a dry run catches it too)."""
    from .runconfig import compose_run_config, reference_run_config
    for key, name, finetune in (("ae.overrides", "train_ae", False), ("se.overrides", "train_ae", True),
                                ("dit.overrides", "train_dit", False)):
        section, field = key.split(".")
        if not config[section].get(field):
            continue
        run = reference_run_config(name, config, finetune=finetune)
        for override in config[section][field]:
            try:
                compose_run_config(name, run, [override])
            except Exception as err:  # noqa: BLE001 - Hydra raises several kinds; its first line says which
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ConfigError(f"config key {key} has {override!r}, which the {name} run config does not "
                                  f"accept ({first})") from None


def check_device(config: dict, local_exec: bool) -> None:
    """`device: cuda` for jobs that run on this machine (the local executor), which has no CUDA device."""
    if not config["device"].startswith("cuda") or not local_exec:
        return  # a cluster's login node need not have the GPUs its jobs get
    import torch
    if not torch.cuda.is_available():
        raise ConfigError(f"config key device is {config['device']!r}, but the jobs run on this machine, which has "
                          "no CUDA device; use device: auto (GPU when present) or cpu")


def check_shards(config: dict) -> None:
    """Every shard of a sharded stage gets work: an encode shard is at least one batch (eval.batch_size latents), a
    sampling shard at least one sample (image and video DiTs alike). Pure config, so a dry run catches it too."""
    from .grid import video_views
    for prefix, view in [("", config)] + [("video.", v) for v in video_views(config)]:
        dit, batch = view["dit"], view["eval"]["batch_size"]
        # video.dit inherits dit's keys: name the one the user set
        key = {k: f"video.dit.{k}" if prefix and k in config["video"]["dit"] else f"dit.{k}"
               for k in ("encode_shards", "sample_shards")}
        batches = -(-dit["num_latents"] // batch) if dit["num_latents"] else None
        if batches is not None and dit["encode_shards"] > batches:
            raise ConfigError(f"config key {key['encode_shards']} is {dit['encode_shards']}, but "
                              f"{prefix}dit.num_latents={dit['num_latents']} makes only {batches} batches of "
                              f"{prefix}eval.batch_size={batch}: some shards would be empty (use at most {batches})")
        if dit["sample_shards"] > dit["num_samples"]:
            raise ConfigError(f"config key {key['sample_shards']} is {dit['sample_shards']}, more than the "
                              f"{dit['num_samples']} samples of {prefix}dit.num_samples")


TRAININGS = ("train_ae", "finetune_se", "train_dit", "train_video_ae", "train_video_dit")


def check_training_nodes(config: dict) -> None:
    """A training spans nodes only as a submitit job (run here, it would be one process on one machine). Checked by
    each training (launch.run_training), not before every run: jobs that train nothing (the manifest, a figure) must
    run under the paper overlay's multi-node resources with the local launcher."""
    for key in TRAININGS:
        nodes = config["resources"][key]["nodes"]
        if nodes > 1 and config["launcher"] != "submitit":
            raise ConfigError(f"config key resources.{key}.nodes is {nodes}, but a training spans nodes only with "
                              f"launcher: submitit (the slurm profile's config/cluster.yaml sets it), not "
                              f"{config['launcher']!r}")


def check_data_roots(config: dict) -> None:
    roots = [("data.root", config["data"], "imagefolder")]
    if config["video"]["enabled"]:  # video.enabled: false runs no video job
        roots.append(("video.data.root", config["video"]["data"], "videofolder"))
    for key, data, name in roots:
        root = data.get("root")
        if data["name"] == name and root and not Path(root).expanduser().is_dir():
            raise ConfigError(f"config key {key} names {root}, which is not a folder")


def check_config_files(config: dict, local_exec: bool = True) -> None:
    """Everything above, in the order a user would fix it (`local_exec`: the jobs run on this machine)."""
    check_device(config, local_exec)
    check_data_roots(config)
    check_inputs_exist(config)
    check_pretrained(config)
    check_weights_files(config)
    check_adm_file(config)


def check_zoo(config: dict) -> None:
    """Every zoo.models[i] names a supported autoencoder, read from its config.json alone (models.zoo.read_spec,
    torch-free): run while the workflow is parsed, so a non-AE folder or a broken config stops even a dry run in one
    sentence naming the key. Names are unique (they are the `ae` wildcard), and the table's erasure column is one of
    the fractions the jobs erase."""
    from .models.zoo import NotAnAutoencoderError, read_spec
    zoo, seen = config["zoo"], set()
    for i, model in enumerate(zoo["models"]):
        if model["name"] in seen:
            raise ConfigError(f"config key zoo.models[{i}].name repeats {model['name']!r}; each AE needs its own name")
        if "__" in model["name"]:
            raise ConfigError(f"config key zoo.models[{i}].name is {model['name']!r}, but '__' is reserved (it "
                              "joins an AE's name to its fine-tunes': <name>__ft, <name>__se)")
        seen.add(model["name"])
        try:
            spec = read_spec(model["source"])
        except NotAnAutoencoderError as err:
            raise ConfigError(f"config key zoo.models[{i}].source: {err}") from None
        side = config["spectrum"]["block"] * spec.spatial
        if zoo["resolution"] % side:
            raise ConfigError(f"config key zoo.resolution is {zoo['resolution']}, not a multiple of {side} "
                              f"(spectrum.block x the {spec.spatial}x compression of zoo.models[{i}], "
                              f"{model['name']})")
        if model.get("se"):
            _check_zoo_finetune(config, i, model, spec)
    for key, builtin in (("image_data", "photos"), ("video_data", "clips")):
        if zoo["models"] and zoo[key] != builtin and not Path(zoo[key]).expanduser().is_dir():
            raise ConfigError(f"config key zoo.{key} is {zoo[key]!r}, neither {builtin} nor an existing folder")
    fractions = config["erasure"]["fractions"]
    if zoo["models"] and not any(abs(f - zoo["erase_fraction"]) < 1e-9 for f in fractions):
        raise ConfigError(f"config key zoo.erase_fraction is {zoo['erase_fraction']}, which is not one of "
                          f"erasure.fractions {fractions}")


# The zoo classes the suite's AE trainer fine-tunes (train.ae: an image AE whose encoder gives a latent_dist and
# whose folder models.autoencoders.load_autoencoder_folder loads).
ZOO_FINETUNE_CLASSES = ("AutoencoderKL",)


def _check_zoo_finetune(config: dict, i: int, model: dict, spec) -> None:
    """`se: true` asks for the suite's pretrained-AE fine-tune (FT control and SE) of a zoo AE: only for classes
    the trainer fine-tunes, and with a training latent that every se.factors entry divides."""
    key = f"config key zoo.models[{i}].se"
    if spec.kind == "video":
        raise ConfigError(f"{key} is true, but {model['name']} is a video autoencoder ({spec.class_name}) and SE "
                          "fine-tuning of zoo video AEs is not offered (use video.models with a pretrained folder)")
    if spec.class_name not in ZOO_FINETUNE_CLASSES:
        raise ConfigError(f"{key} is true, but {model['name']} is an {spec.class_name} and the suite's SE fine-tune "
                          f"trains {', '.join(ZOO_FINETUNE_CLASSES)} only")
    res = int(config["data"]["resolution"])
    latent = res // spec.spatial
    bad = [f for f in config["se"]["factors"] if res % spec.spatial or latent % int(f)]
    if bad:
        raise ConfigError(f"{key} is true, but data.resolution {res} (the fine-tune's training crops) over the "
                          f"{spec.spatial}x compression of {model['name']} gives a latent of {res / spec.spatial:g}, "
                          f"which se.factors {bad} does not divide")
