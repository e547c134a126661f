# Config resolution (base + scale overlay + user overrides), validation before any job, and the grid.
import os

from diffusability.grid import (RUN_KEYS, ae_grid, ae_overrides, all_runs, finetune_overrides, main_variants,
                                pretrained_run, run_meta, se_grid, video_runs, view_of)
from diffusability.checks import check_config_files, check_inputs_exist, check_overrides
from diffusability.workflow_config import ConfigError, load_schema, resolve_config

try:
    _resolved = resolve_config(
        config, "config", workflow.config_settings.overwrite_config,
        load_schema(workflow.source_path("../schemas/config.schema.yaml")),
    )
    check_overrides(_resolved)  # the Hydra override lists compose (a typo there would fail only inside a job)
    check_inputs_exist(_resolved)  # weights files the DAG reads (else Snakemake's MissingInputException)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_resolved)
# snakemake's own validator too (it also fills schema defaults).
validate(config, "../schemas/config.schema.yaml")


onstart:
    # The files, override lists and device the config names: checked before any job, but not in a dry run (the
    # paper overlay's placeholder paths must not stop planning).
    try:
        check_config_files(config, local_exec=workflow.local_exec)
    except ConfigError as err:
        raise WorkflowError(str(err)) from None


SCALE = config["scale"]
R = f"{config['results_dir']}/{SCALE}"
F = f"{config['figures_dir']}/{SCALE}"
RUNS = [r["model"] for r in all_runs(config)]
BASES = list(main_variants(config))
# The video track: the same rules on the video runs (grid.video_view), which live beside the image runs.
VIDEO_RUNS = [r["model"] for r in video_runs(config)]
VIDEO = bool(VIDEO_RUNS)
# Feature space of every Fréchet distance: real Inception when its weights are given, else the DAG's proxy.
FD = ({"kind": "inception", "weights": config["metrics"]["inception_weights"]}
      if config["metrics"]["inception_weights"] else {"kind": "proxy", "weights": f"{R}/features/proxy.safetensors"})
# ... and of every video one: I3D (FVD) when its weights are given, else the DAG's video proxy (fvd_proxy).
_i3d = config["video"]["metrics"]["i3d_weights"]
FD_VIDEO = ({"kind": "i3d", "weights": _i3d} if _i3d
            else {"kind": "video_proxy", "weights": f"{R}/features/video_proxy.safetensors"})


def view(name):
    """The config as an AE or DiT run sees it (video runs: video data/AE/SE/DiT settings; grid.video_view)."""
    return view_of(config, name)


def is_video(name):
    return view(name).get("modality") == "video"


def fd_of(name):
    return FD_VIDEO if is_video(name) else FD


def res_of(rule_name, video_rule, wildcard):
    """Resources of a rule that serves both modalities: the video rule's when the run named by `wildcard` is video."""
    def get(key):
        def f(w):
            return res(video_rule if is_video(w[wildcard]) else rule_name, key)
        return f
    return {"mem_mb": get("mem_mb"), "runtime": get("runtime")}

SUBMITIT = config["launcher"] == "submitit"  # trainings then go to Slurm via submitit, waited on by a local rule
# Partition / account / GPU type of cluster jobs: environment first, then the config's `cluster` section.
_cl = config["cluster"]
CLUSTER = {k: v for k, v in {
    "slurm_partition": os.environ.get("DIFFUSABILITY_SLURM_PARTITION") or _cl["partition"],
    "slurm_account": os.environ.get("DIFFUSABILITY_SLURM_ACCOUNT") or _cl["account"],
}.items() if v}
# Job order (never what a job computes): first the chain of Figs. 2, 3 and RGB noise (the vanilla image grid, its
# evaluations, the RGB spectra), then the rest of the spectral tables (fine-tunes, video AEs, collect_spectra),
# then the diffusion chain.
SPINE_PRIORITY = 10
TABLES_PRIORITY = 5
VANILLA_GRID = ae_grid(config)  # the AEs trained from scratch: what Figs. 2 and 3 plot
SPINE_RUNS = frozenset(r["model"] for r in VANILLA_GRID)


def spine_priority(wildcard):
    """Priority of a job of a rule that serves every AE: the spine's when the run named by `wildcard` is in it."""
    return lambda w: SPINE_PRIORITY if w[wildcard] in SPINE_RUNS else TABLES_PRIORITY


THREADS = config["threads"]  # fixed per scale, not workflow.cores: part of what makes CPU results bitwise repeatable


def _publish_launchers():
    """Hand each training rule its launcher (diffusability.launch) through the environment, not as a param: how a
    training is run does not change its weights, so switching to the cluster must not retrain finished models."""
    import json
    from diffusability.launch import LAUNCHER_ENV, launcher_settings
    os.environ[LAUNCHER_ENV] = json.dumps({r: launcher_settings(config, config["resources"][r], THREADS, CLUSTER)
                                           for r in ("train_ae", "finetune_se", "train_dit", "train_video_ae",
                                                     "train_video_dit")})


_publish_launchers()


def res(rule_name, key):
    """Per-scale cluster resource of a heavy rule (config key resources.<rule>.<key>)."""
    return config["resources"][rule_name][key]


def gpu_res(rule_name):
    """GPU request of a heavy rule: `gpu` (-> --gpus), with `gpu_model` when cluster.gpu_model names a type."""
    n = res(rule_name, "gpu")
    return {"gpu": n, **({"gpu_model": _cl["gpu_model"]} if n and _cl["gpu_model"] else {})}


def run_dir(name):
    return f"{R}/ae/{name}"


def weights(name):
    return f"{run_dir(name)}/ae/diffusion_pytorch_model.safetensors"


wildcard_constraints:
    run=r"[A-Za-z0-9-]+?-c\d+-kl[0-9.e+-]+-s\d+",
    base=r"[A-Za-z0-9-]+?-(c\d+-kl[0-9.e+-]+-s\d+|pretrained)",
    tag=r"se[0-9.e+-]+-f[0-9x]+-[a-z_]+(-frozen)?(-t[0-9x]+)?",
    model=r"[^/]+",
    dit=r"[^/]+__dit-[A-Za-z0-9]+-s\d+",
