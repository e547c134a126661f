"""Stop a diverged training before it writes anything: a non-finite loss ends the run with one sentence.

A NaN loss makes NaN weights one optimizer step later, and every checkpoint, snapshot and final model written after
that would carry them into the evaluations, the CSVs and the figures as blanks. The guard watches the loss on its
device (no host sync per step) and is checked wherever the trainer syncs anyway or writes a file: at log steps,
before each checkpoint or snapshot, and before the final weights.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["DivergenceError", "FiniteGuard"]


class DivergenceError(RuntimeError):
    """A training's loss became NaN or infinite."""


class FiniteGuard:
    """Remembers the first step whose loss (or any loss term) was not finite, and raises when checked."""

    def __init__(self, settings_key: str, world: int = 1):
        self.settings_key, self.world = settings_key, world
        self._bad_step: torch.Tensor | None = None  # -1 while every loss so far was finite
        self._names: list[str] = []
        self._values: torch.Tensor | None = None

    @torch.no_grad()
    def observe(self, step: int, terms: dict[str, torch.Tensor]) -> None:
        """Record step `step` (0-based) with its loss terms (scalars, the total loss first)."""
        values = torch.stack([v.detach().float().reshape(()) for v in terms.values()])
        if self._bad_step is None:
            self._bad_step = torch.full((), -1, dtype=torch.long, device=values.device)
            self._names, self._values = list(terms), values.clone()
        first = (self._bad_step < 0) & ~torch.isfinite(values).all()
        self._bad_step = torch.where(first, torch.full_like(self._bad_step, step + 1), self._bad_step)
        if list(terms) == self._names:
            self._values = torch.where(first, values, self._values)

    def check(self) -> None:
        """Raise DivergenceError if any observed loss was not finite (on any rank of a data-parallel job)."""
        if self._bad_step is None:
            return
        bad = self._bad_step.clone()
        if self.world > 1:  # every rank raises together instead of leaving the others in a collective
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        step = int(bad.item())
        if step < 0:
            return
        terms = ", ".join(f"{n}={v:.4g}" for n, v in zip(self._names, self._values.tolist()))
        raise DivergenceError(
            f"training diverged: the loss was not finite at step {step} ({terms}), so no weights were written "
            f"after it; lower the learning rate {self.settings_key}.lr (or check the other {self.settings_key}.* "
            "settings) and rerun")
