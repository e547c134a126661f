"""The experiment grid: which autoencoders a config asks for, and their run names. Light: no torch import,
because the Snakefile reads it to build the DAG.

Runs are named `<preset>-c<channels>-kl<kl_weight>-s<seed>`, e.g. `tiny-c16-kl1e-06-s0`.
"""
from __future__ import annotations

RUN_KEYS = ["model", "preset", "channels", "kl_weight", "seed"]


def fmt_kl(kl: float) -> str:
    return f"{float(kl):g}"


def run_name(preset: str, channels: int, kl: float, seed: int) -> str:
    return f"{preset}-c{int(channels)}-kl{fmt_kl(kl)}-s{int(seed)}"


def ae_grid(config: dict) -> list[dict]:
    """Every AE the config asks for: the channel sweep at kl_reference and the KL sweep at channels_reference."""
    ae = config["ae"]
    pairs = [(c, ae["kl_reference"]) for c in ae["channels"]]
    pairs += [(ae["channels_reference"], kl) for kl in ae["kl_weights"]]
    runs, seen = [], set()
    for seed in config["seeds"]:
        for c, kl in pairs:
            name = run_name(ae["preset"], c, kl, seed)
            if name not in seen:
                seen.add(name)
                runs.append({"model": name, "preset": ae["preset"], "channels": int(c),
                             "kl_weight": float(kl), "seed": int(seed)})
    return runs


def run_meta(config: dict, name: str) -> dict:
    for run in ae_grid(config):
        if run["model"] == name:
            return run
    raise KeyError(f"run {name!r} is not in the configured AE grid")
