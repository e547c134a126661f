"""Checkpoints that survive being killed at any instant, and EMA of parameters.

A checkpoint is a folder `step_XXXXXXXX/` holding `model.safetensors` (weights and EMA weights), `optim.pt`
(optimizer state, read back with `weights_only=True`) and `state.json`. It is written as a hidden temporary folder
renamed into place (provenance.atomic_path), so the newest complete folder is always a consistent state to resume
from. A folder damaged after the fact (a node lost mid-write of its filesystem's cache, a full disk, a bad copy) is
set aside as `damaged_step_XXXXXXXX/` and the one before it is resumed instead.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..provenance import atomic_path

log = logging.getLogger(__name__)


class EMA:
    """Exponential moving average of parameters with warm-up: decay_t = min(decay, (1 + t) / (10 + t)).

    The warm-up keeps short CPU runs meaningful: with a fixed 0.999 a 300-step run's EMA would still be mostly
    the random initialisation.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._pairs = [(self.shadow[k], p) for k, p in model.named_parameters()]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        shadows, params = zip(*self._pairs)
        torch._foreach_lerp_(list(shadows), [p.detach() for p in params], 1.0 - d)

    def copy_to(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.shadow)


def _step_dirs(ckpt_dir: Path) -> list[Path]:
    return sorted(p for p in ckpt_dir.glob("step_*") if p.is_dir() and (p / "state.json").exists())


def save_checkpoint(ckpt_dir: str | Path, step: int, model: torch.nn.Module, ema: EMA | None,
                    optimizer: torch.optim.Optimizer, extra: dict | None = None, keep: int = 2) -> Path:
    ckpt_dir = Path(ckpt_dir)
    final = ckpt_dir / f"step_{step:08d}"
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v.contiguous() for k, v in ema.shadow.items()})
    with atomic_path(final, folder=True) as tmp:
        save_file(tensors, tmp / "model.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optim.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **(extra or {})}))
    for old in _step_dirs(ckpt_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path, model: torch.nn.Module, ema: EMA | None,
                    optimizer: torch.optim.Optimizer | None) -> dict:
    """Restore a checkpoint in place; returns its state.json (with `step`). Every file is read before anything is
    changed, so a damaged checkpoint raises and leaves the model, EMA and optimizer as they were."""
    path = Path(path)
    device = next(model.parameters()).device
    state = json.loads((path / "state.json").read_text())
    tensors = load_file(path / "model.safetensors", device=str(device))
    optim_state = (torch.load(path / "optim.pt", weights_only=True, map_location=device)
                   if optimizer is not None else None)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = set(model.state_dict()) - set(weights)
    if missing or (ema is not None and any(f"ema.{k}" not in tensors for k in ema.shadow)):
        raise ValueError(f"{path / 'model.safetensors'} lacks {len(missing) or 'EMA'} tensors of the model")
    model.load_state_dict(weights)
    if ema is not None:
        for k in ema.shadow:
            ema.shadow[k].copy_(tensors[f"ema.{k}"])
    if optimizer is not None:
        optimizer.load_state_dict(optim_state)
    return state


def resume_latest(ckpt_dir: str | Path, fingerprint: str, model: torch.nn.Module, ema: EMA | None,
                  optimizer: torch.optim.Optimizer | None) -> int:
    """Restore the newest readable checkpoint of this config in place and return its step (0: none to resume).

    Checkpoints of another config are discarded, never resumed. A checkpoint that cannot be read is set aside
    (renamed `damaged_<name>`, kept for inspection) and the one before it is tried.
    """
    ckpt_dir = Path(ckpt_dir)
    for ckpt in reversed(_step_dirs(ckpt_dir)):
        try:
            fp = json.loads((ckpt / "state.json").read_text()).get("config_fingerprint")
        except (OSError, ValueError):
            fp = fingerprint  # an unreadable state.json is damage, handled below, not another config
        if fp != fingerprint:
            log.warning("checkpoints in %s belong to a different config; starting from scratch", ckpt_dir)
            shutil.rmtree(ckpt_dir)
            return 0
        try:
            step = int(load_checkpoint(ckpt, model, ema, optimizer)["step"])
        except Exception as err:  # noqa: BLE001 - any failure to read it means: damaged, try the one before
            aside = ckpt.with_name(f"damaged_{ckpt.name}")
            shutil.rmtree(aside, ignore_errors=True)
            ckpt.rename(aside)
            msg = f"checkpoint {ckpt} cannot be read ({type(err).__name__}: {err}); set aside as {aside.name}"
            log.warning(msg)
            print(msg, flush=True)
            continue
        log.info("resuming from checkpoint %s at step %d", ckpt, step)
        print(f"resumed from step {step}", flush=True)
        return step
    return 0
