"""What every trainer (autoencoder, DiT) shares around its loop: the run folder, its log, its identity, its result.

A run folder holds config.yaml and provenance.json (written first), train_log.csv (appended as training goes),
checkpoints/ (to resume) and the final model as a diffusers folder. `config_fingerprint` names the settings that
determine the weights, so that a checkpoint of another config is never resumed.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from ..provenance import atomic_path, atomic_write, write_provenance
from ..runtime import resolve_device, setup_determinism
from .distributed import barrier, is_main, setup_distributed

__all__ = ["TrainLog", "config_fingerprint", "finish_run", "save_final", "start_run"]


class TrainLog:
    """Appends train_log.csv rows as training goes; on resume drops rows past the resumed step.

    Not written atomically on purpose: a killed job keeps every row it logged, and a resume keeps those up to its
    checkpoint.
    """

    def __init__(self, path: Path, start_step: int, fields: tuple[str, ...]):
        rows = []
        if start_step > 0 and path.exists():
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        self.f = path.open("w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields, extrasaction="ignore")
        self.w.writeheader()
        self.w.writerows(rows)

    def write(self, row: dict) -> None:
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def config_fingerprint(cfg: DictConfig) -> str:
    """Hash of everything that determines the trained weights (not where they are written)."""
    c = OmegaConf.to_container(cfg, resolve=True)
    c.pop("out_dir", None)
    return hashlib.sha256(json.dumps(c, sort_keys=True).encode()).hexdigest()[:16]


def save_final(model, out_dir: Path, name: str) -> Path:
    """Write a diffusers model folder `out_dir/name` atomically (safetensors weights, the user's umask)."""
    with atomic_path(Path(out_dir) / name, folder=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
    return Path(out_dir) / name


def finish_run(*, model, ema, out: Path, name: str, main: bool, world: int) -> Path:
    """Every trainer's ending: the EMA weights become the model, saved (by rank 0) as the diffusers folder
    `out/name`, and the checkpoints go. Returns that folder."""
    ema.copy_to(model)
    if main:
        save_final(model.eval(), out, name)
        # Checkpoints exist only to resume; once the final weights are in place they are dead weight (GBs at paper
        # scale). A later fine-tune or DiT starts from the final folder, not from them.
        shutil.rmtree(Path(out) / "checkpoints", ignore_errors=True)
    barrier(world)
    return Path(out) / name


def start_run(cfg: DictConfig) -> tuple[Path, torch.device, int, int]:
    """Every trainer's preamble: the output folder, device, determinism, the data-parallel world, and (on rank 0)
    the resolved config and provenance beside the outputs. Returns (out_dir, device, rank, world_size)."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    setup_determinism(seed=int(cfg.seed), threads=cfg.get("threads"), device=device,
                      deterministic=bool(cfg.get("deterministic", True)))
    rank, world, device = setup_distributed(device)
    if world > 1:  # in each rank's job log: which of how many ranks this process is
        print(f"rank {rank} of {world} data-parallel ranks on {device}", flush=True)
    if is_main(rank):
        atomic_write(out / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg, resolve=True)))
        write_provenance(out / "provenance.json", OmegaConf.to_container(cfg, resolve=True), int(cfg.seed))
    return out, device, rank, world
