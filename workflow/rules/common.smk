# Config resolution (base + scale overlay + user overrides), validation before any job, and path helpers.
import yaml
from diffusability.grid import ae_grid
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
AE_RUNS = [run["model"] for run in ae_grid(config)]


def res(rule_name, key):
    """Per-scale cluster resource of a heavy rule (config key resources.<rule>.<key>)."""
    return config["resources"][rule_name][key]


wildcard_constraints:
    run=r"[A-Za-z0-9]+-c\d+-kl[0-9.e+-]+-s\d+",
