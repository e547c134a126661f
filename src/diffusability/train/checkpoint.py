"""Checkpoints that survive being killed at any instant, and EMA of parameters.

A checkpoint is a folder `step_XXXXXXXX/` holding `model.safetensors` (weights and EMA weights), `optim.pt`
(optimizer state, read back with `weights_only=True`) and `state.json`. It is written under a temporary name and
renamed into place, so the newest complete folder is always a consistent state to resume from.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


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


def latest_checkpoint(ckpt_dir: str | Path) -> Path | None:
    dirs = _step_dirs(Path(ckpt_dir))
    return dirs[-1] if dirs else None


def save_checkpoint(ckpt_dir: str | Path, step: int, model: torch.nn.Module, ema: EMA | None,
                    optimizer: torch.optim.Optimizer, extra: dict | None = None, keep: int = 2) -> Path:
    ckpt_dir = Path(ckpt_dir)
    final = ckpt_dir / f"step_{step:08d}"
    tmp = ckpt_dir / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v.contiguous() for k, v in ema.shadow.items()})
    save_file(tensors, tmp / "model.safetensors")
    torch.save(optimizer.state_dict(), tmp / "optim.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **(extra or {})}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in _step_dirs(ckpt_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path, model: torch.nn.Module, ema: EMA | None,
                    optimizer: torch.optim.Optimizer | None) -> dict:
    """Restore a checkpoint in place; returns its state.json (with `step`)."""
    path = Path(path)
    tensors = load_file(path / "model.safetensors", device=str(next(model.parameters()).device))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:
        for k in ema.shadow:
            ema.shadow[k].copy_(tensors[f"ema.{k}"])
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(path / "optim.pt", weights_only=True,
                                             map_location=next(model.parameters()).device))
    return json.loads((path / "state.json").read_text())
