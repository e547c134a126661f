# What every stage shares: the config (base + scale overlay + the user's files and flags, validated before any
# job), the grid, and the constants and helper functions of the rules (the other .smk files hold rules only).
import os
from dataclasses import asdict

from diffusability.checks import (check_adm_reference, check_config_files, check_inputs_exist, check_overrides,
                                  check_shards, check_zoo)
from diffusability.grid import (ae_grid, all_runs, dit_grid, dit_meta, main_variants, run_meta, video_runs,
                                video_views, view_of)
from diffusability.paper_map import items_of, load_paper_map
from diffusability.models.zoo import read_spec
from diffusability.runconfig import (ae_run_config, dit_run_config, finetune_run_config, import_run_config,
                                     zoo_finetune_run_config)
from diffusability.shards import SHARD_WILDCARDS, shard_paths
from diffusability.workflow_config import ConfigError, check_config, load_schema, scale_overlays

try:
    _overlays = scale_overlays("config", config.get("scale"))
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# The scale overlay goes over config/config.yaml and under the user's --configfile and --config files and flags:
# Snakemake applies those again over every configfile directive. A scale built on another (rehearsal on paper)
# has that scale's overlay first.
configfile: _overlays[0]


if len(_overlays) > 1:

    configfile: _overlays[1]


try:
    _resolved = check_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
    check_overrides(_resolved)  # the Hydra override lists compose (a typo there would fail only inside a job)
    check_inputs_exist(_resolved)  # weights files the DAG reads (else Snakemake's MissingInputException)
    check_adm_reference(_resolved)  # dit.adm_reference needs the Inception feature space
    check_shards(_resolved)  # every shard of a sharded stage gets work
    check_zoo(_resolved)  # each zoo.models[i].source is a supported AE by its config.json (no torch, no weights)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_resolved)  # typed as the schema says (Snakemake hands nested --config values over as text)
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
DIT_RUNS = [r["dit_run"] for r in dit_grid(config)]
VIDEO_DIT_RUNS = [r["dit_run"] for v in video_views(config) for r in dit_grid(v)]
# Feature space of every Fréchet distance: real Inception when its weights are given, else the DAG's proxy.
FD = ({"kind": "inception", "weights": config["metrics"]["inception_weights"]}
      if config["metrics"]["inception_weights"] else {"kind": "proxy", "weights": f"{R}/features/proxy.safetensors"})
# ... and of every video one: I3D (FVD) when its weights are given, else the DAG's video proxy (fvd_proxy).
_i3d, _i3d_ts = config["video"]["metrics"]["i3d_weights"], config["video"]["metrics"]["i3d_torchscript"]
FD_VIDEO = ({"kind": "i3d", "weights": _i3d} if _i3d
            else {"kind": "i3d_torchscript", "weights": _i3d_ts} if _i3d_ts  # StyleGAN-V's FVD
            else {"kind": "video_proxy", "weights": f"{R}/features/video_proxy.safetensors"})
# "How diffusable is my autoencoder?" (issue 19): the AEs of zoo.models, by name; their figure and table only when
# there are any. Every analysed AE (the `ae` wildcard): each zoo AE, and for an entry with `se: true` its FT control
# and SE fine-tune `<name>__ft` / `<name>__se` (trained into results/<scale>/zoo/<that>/), side by side.
ZOO = {m["name"]: m["source"] for m in config["zoo"]["models"]}
ZOO_SPECS = {name: read_spec(source) for name, source in ZOO.items()}  # config.json only (check_zoo read them)
ZOO_RUNS = {name: {"base": name, "variant": "vanilla"} for name in ZOO}
ZOO_RUNS.update({f"{m['name']}__{v}": {"base": m["name"], "variant": v}
                 for m in config["zoo"]["models"] if m.get("se") for v in ("ft", "se")})
THREADS = config["threads"]  # fixed per scale, not workflow.cores: part of what makes CPU results bitwise repeatable

SUBMITIT = config["launcher"] == "submitit"  # trainings then go to Slurm via submitit, waited on by a local rule
# Partition / account / GPU type of cluster jobs: environment first, then the config's `cluster` section.
_cl = config["cluster"]
CLUSTER = {k: v for k, v in {
    "slurm_partition": os.environ.get("DIFFUSABILITY_SLURM_PARTITION") or _cl["partition"],
    "slurm_account": os.environ.get("DIFFUSABILITY_SLURM_ACCOUNT") or _cl["account"],
}.items() if v}
# How a training runs (launch.launcher_settings): resources, not params, since it does not change the weights and
# switching to the cluster must not retrain finished models.
LAUNCH = {"launcher": config["launcher"],
          **({"submitit_cluster": _cl["submitit_cluster"]} if _cl["submitit_cluster"] else {})}

# Job order (never what a job computes): first the chain of Figs. 2, 3 and RGB noise (the vanilla image grid, its
# evaluations, the RGB spectra), then the rest of the spectral tables (fine-tunes, video AEs, collect_spectra),
# then the diffusion chain.
SPINE_PRIORITY = 10
TABLES_PRIORITY = 5
VANILLA_GRID = ae_grid(config)  # the AEs trained from scratch: what Figs. 2 and 3 plot
SPINE_RUNS = frozenset(r["model"] for r in VANILLA_GRID)

# Figures and tables: the paper map says which make up all_figures / all_tables and captions them in the report.
PLOT_LOG = config["plots"]["log_amplitude"]
PAPER_ITEMS = load_paper_map(workflow.source_path("../../config/paper_map.yaml"))
PAPER = {it.id: it for it in PAPER_ITEMS}
SE_REF = {
    "channels": config["ae"]["channels_reference"],
    "kl_weight": config["ae"]["kl_reference"],
    "factors": "x".join(map(str, config["se"]["factors"])),
    "mode": config["se"]["mode"],
    "main_weight": config["se"]["main_weight"],
    "kl_weights": config["se"]["ablation"]["kl_weights"],
}
ABLATIONS = ["se_weight", "factors", "mode", "se_kl"]
# What the paper-map items' targets produce, every wildcard expanded (ablations, DiT runs).
EXPANSIONS = {"ablation": ABLATIONS, "dit": DIT_RUNS + VIDEO_DIT_RUNS}


wildcard_constraints:
    run=r"[A-Za-z0-9-]+?-c\d+-kl[0-9.e+-]+-s\d+",
    base=r"[A-Za-z0-9-]+?-(c\d+-kl[0-9.e+-]+-s\d+|pretrained)",
    tag=r"se[0-9.e+-]+(-f[0-9x]+)?-[a-z_]+(-frozen)?(-t[0-9x]+)?",
    model=r"[^/]+",
    dit=r"[^/]+__dit-[A-Za-z0-9]+-s\d+",
    ae=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    shard=r"\d{5}",
    nshards=r"\d{5}",


def view(name):
    """The config as an AE or DiT run sees it (video runs: video data/AE/SE/DiT settings; grid.video_view)."""
    return view_of(config, name)


def is_video(name):
    return view(name).get("modality") == "video"


def fd_of(name):
    return FD_VIDEO if is_video(name) else FD


def spine_priority(wildcard):
    """Priority of a job that serves every AE: the spine's when the run named by `wildcard` is in it."""
    return lambda w: SPINE_PRIORITY if w[wildcard] in SPINE_RUNS else TABLES_PRIORITY


def res(name):
    """Cluster resources of a heavy job (config key resources.<name>): runtime, memory, GPUs (with the GPU type
    when cluster.gpu_model names one), partition and account; and nodes, for the keys of trainings."""
    r = config["resources"][name]
    gpu_model = {"gpu_model": _cl["gpu_model"]} if r["gpu"] and _cl["gpu_model"] else {}
    nodes = {"nodes": r["nodes"]} if "nodes" in r else {}
    return {"mem_mb": r["mem_mb"], "runtime": r["runtime"], "gpu": r["gpu"], **nodes, **gpu_model, **CLUSTER}


def res_of(image_key, video_key, wildcard):
    """Resources of a training that serves both modalities: resources.<video_key> when the run named by `wildcard`
    is a video run, else resources.<image_key> (with `nodes`: a training may span nodes, gpu is per node)."""
    def get(key):
        return lambda w: config["resources"][video_key if is_video(w[wildcard]) else image_key][key]
    keys = (image_key, video_key)
    gpu_model = ({"gpu_model": _cl["gpu_model"]}
                 if _cl["gpu_model"] and any(config["resources"][k]["gpu"] for k in keys) else {})
    return {"mem_mb": get("mem_mb"), "runtime": get("runtime"), "gpu": get("gpu"), "nodes": get("nodes"),
            **gpu_model, **CLUSTER}


def res_when(key_of, keys):
    """Resources of a job whose resources key depends on its wildcards: key_of(wildcards) -> one of `keys` (e.g. a
    heavy one-shard job or a light gather of shards)."""
    def get(field):
        return lambda w: config["resources"][key_of(w)][field]
    gpu_model = ({"gpu_model": _cl["gpu_model"]}
                 if _cl["gpu_model"] and any(config["resources"][k]["gpu"] for k in keys) else {})
    return {"mem_mb": get("mem_mb"), "runtime": get("runtime"), "gpu": get("gpu"), **gpu_model, **CLUSTER}


def shards(name, key):
    """dit.<key> (encode_shards, sample_shards, reference_shards) as the AE or DiT run `name` sees it."""
    return view(name)["dit"][key]


def latent_cache(model):
    return f"{R}/latents/{model}.safetensors"


def latent_shards(model):
    """The shard files of an AE's latent cache ([] when dit.encode_shards is 1: the cache is one file)."""
    return shard_paths(latent_cache(model), shards(model, "encode_shards"))


def sample_shards(dit):
    """The sample_dit jobs' files of a DiT ([] when dit.sample_shards is 1: evaluate_dit then samples itself)."""
    return shard_paths(f"{R}/dit/{dit}/samples/sums.safetensors", shards(dit, "sample_shards"))


def adm_reference(dit):
    """The ADM reference batch an image DiT is scored against (dit.adm_reference), else None."""
    return None if is_video(dit) else config["dit"]["adm_reference"]


def run_dir(name):
    return f"{R}/ae/{name}"


def weights(name):
    return f"{run_dir(name)}/ae/diffusion_pytorch_model.safetensors"


def dit_dir(name):
    return f"{R}/dit/{name}"


# The dit.* settings that decide a DiT's samples: the same samples for its sample_dit shards, its scoring job and its
# ADM export (params, so that a changed value reruns them).
SAMPLING_KEYS = ("num_samples", "sample_steps", "sampler", "guidance", "batch_size_eval", "labels")


def sampling_of(dit, *more):
    """SAMPLING_KEYS and `more` of DiT run `dit`'s dit section (the video one for a video DiT)."""
    return {k: view(dit)["dit"][k] for k in SAMPLING_KEYS + more}


def latents_of(dit):
    """The latent cache a DiT trains on (a path from the wildcard alone: params computed from `input` are not
    Snakemake rerun triggers, so a changed dit.* setting would rerun nothing)."""
    return latent_cache(dit_meta(config, dit)["ae"])


def ae_run(name):
    """Run config of a vanilla AE (runconfig.py: every leaf from the workflow config)."""
    return ae_run_config(view(name), run_meta(config, name), out_dir=run_dir(name))


def finetune_run(base, tag):
    name = f"{base}__{tag}"
    return finetune_run_config(view(base), run_meta(config, name), out_dir=run_dir(name),
                               init_from=f"{run_dir(base)}/ae")


def import_run(preset):
    name = f"{preset}-pretrained"
    return import_run_config(view(name), run_meta(config, name), out_dir=run_dir(name))


def dit_run(dit):
    return dit_run_config(view(dit), dit_meta(config, dit), out_dir=dit_dir(dit), latents=latents_of(dit))


def shown(path, item):
    """An output that goes into the HTML report (`snakemake --report`), filed under its paper item."""
    return report(path, caption="../report/caption.rst", category=PAPER[item].paper)


def paper_item(item):
    return asdict(PAPER[item])


def vanilla_spectra(key, value):
    """Per-AE spectrum CSVs of the vanilla grid at one setting: Figs. 2 and 3 wait for these AEs only, not for the
    fine-tunes and video AEs that spectra.csv also holds."""
    return [f"{R}/eval/{r['model']}/spectrum.csv" for r in VANILLA_GRID if r[key] == value]


def paper_outputs(kind):
    """The files of the paper map's figures or tables (`kind`), every wildcard expanded."""
    files = []
    for it in items_of(PAPER_ITEMS, kind, VIDEO, zoo=bool(ZOO)):
        for pattern in getattr(rules, it.target).output:
            keys = {k: v for k, v in EXPANSIONS.items() if f"{{{k}}}" in pattern}
            files += expand(pattern, **keys) if keys else [pattern]
    return list(dict.fromkeys(files))


def zoo_settings():
    """What analysis.zoo.analyse_source takes from the config (zoo.*, spectrum.*, erasure.fractions), the same for
    every AE: data for both kinds (the job picks by the AE's class), the spectrum's and erasure's settings."""
    z, s = config["zoo"], config["spectrum"]
    return {"data": {"image": z["image_data"], "video": z["video_data"]}, "num": z["num_images"],
            "resolution": z["resolution"], "frames": z["frames"], "block": s["block"],
            "normalization": s["normalization"], "latent": s["latent"], "hf_exclude_dc": s["hf_exclude_dc"],
            "fractions": config["erasure"]["fractions"], "batch_size": z["batch_size"], "device": config["device"]}


def zoo_source(ae):
    """What analyse_zoo_ae loads: the zoo AE's source, or the folder its fine-tune was saved to."""
    run = ZOO_RUNS[ae]
    return ZOO[run["base"]] if run["variant"] == "vanilla" else f"{R}/zoo/{ae}/ae"


def zoo_fd(ae):
    """Feature space of a zoo AE's reconstruction Fréchet distance: the main evaluation's (FD, or FD_VIDEO for a
    video AE), so the zoo's rfid/rfid_proxy reads like reconstruction.csv's."""
    return FD_VIDEO if ZOO_SPECS[ZOO_RUNS[ae]["base"]].kind == "video" else FD


def zoo_finetune_run(name, variant):
    """Run config of the FT control or SE fine-tune of zoo AE `name` (runconfig.zoo_finetune_run_config)."""
    spec = ZOO_SPECS[name]
    folder = os.path.join(spec.folder, spec.subfolder) if spec.subfolder else spec.folder  # the AE's own config.json
    return zoo_finetune_run_config(config, spatial=spec.spatial, channels=spec.latent_channels, variant=variant,
                                   out_dir=f"{R}/zoo/{name}__{variant}", init_from=folder)


def zoo_csvs(name):
    """Input function: the per-AE `name` CSVs of every zoo.models AE; asking for the zoo's figure or table with no
    AE configured is one sentence naming the key, not an empty table."""

    def inputs(wildcards):
        if not ZOO:
            raise WorkflowError("config key zoo.models is empty: list at least one autoencoder ({name, source}) to "
                                "build the AE-zoo figure and table")
        return expand(f"{R}/zoo/{{ae}}/{name}.csv", ae=ZOO_RUNS)

    return inputs
