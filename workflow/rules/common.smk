# Config resolution (base + scale overlay + user overrides), validation before any job, and the grid.
from diffusability.grid import (RUN_KEYS, ae_grid, ae_overrides, all_runs, finetune_overrides, main_variants,
                                pretrained_run, run_meta, se_grid)
from diffusability.workflow_config import ConfigError, load_schema, resolve_config

try:
    _resolved = resolve_config(
        config, "config", workflow.config_settings.overwrite_config,
        load_schema(workflow.source_path("../schemas/config.schema.yaml")),
    )
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_resolved)
# snakemake's own validator too (it also fills schema defaults).
validate(config, "../schemas/config.schema.yaml")

SCALE = config["scale"]
R = f"{config['results_dir']}/{SCALE}"
F = f"{config['figures_dir']}/{SCALE}"
RUNS = [r["model"] for r in all_runs(config)]
BASES = list(main_variants(config))
# Feature space of every Fréchet distance: real Inception when its weights are given, else the DAG's proxy.
FD = ({"kind": "inception", "weights": config["metrics"]["inception_weights"]}
      if config["metrics"]["inception_weights"] else {"kind": "proxy", "weights": f"{R}/features/proxy.safetensors"})
TRAIN_THREADS = 2  # fixed, not workflow.cores: the thread count is part of what makes CPU results bitwise repeatable


def res(rule_name, key):
    """Per-scale cluster resource of a heavy rule (config key resources.<rule>.<key>)."""
    return config["resources"][rule_name][key]


def run_dir(name):
    return f"{R}/ae/{name}"


def weights(name):
    return f"{run_dir(name)}/ae/diffusion_pytorch_model.safetensors"


wildcard_constraints:
    run=r"[A-Za-z0-9]+-c\d+-kl[0-9.e+-]+-s\d+",
    base=r"[A-Za-z0-9]+-(c\d+-kl[0-9.e+-]+-s\d+|pretrained)",
    tag=r"se[0-9.e+-]+-f[0-9x]+-[a-z_]+(-frozen)?",
    model=r"[^/]+",
