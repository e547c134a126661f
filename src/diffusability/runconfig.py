"""Compose a run's config with Hydra from `config/hydra/` (the groups: model, data, optim)."""
from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

HYDRA_DIR = Path(os.environ.get("DIFFUSABILITY_HYDRA_DIR",
                                Path(__file__).resolve().parents[2] / "config" / "hydra"))


def compose_run_config(name: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The resolved config `name` (e.g. "train_ae") with Hydra override strings applied ("a.b=1", "model=flux")."""
    if not (HYDRA_DIR / f"{name}.yaml").exists():
        raise FileNotFoundError(f"no run config {name}.yaml in {HYDRA_DIR} (set DIFFUSABILITY_HYDRA_DIR)")
    with initialize_config_dir(version_base="1.3", config_dir=str(HYDRA_DIR)):
        return compose(config_name=name, overrides=list(overrides))
