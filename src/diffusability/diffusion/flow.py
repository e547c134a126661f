"""Rectified flow as in the authors' code: x_t = (1 - t) x + t eps, the network predicts v = eps - x.

Time is drawn logit-normal (t = sigmoid(m + s n), n ~ N(0, 1)); sampling integrates dx/dt = v from t = 1 (noise)
to t = 0 (data) with Euler or Heun steps and optional classifier-free guidance.
"""
from __future__ import annotations

from typing import Callable

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t, labels) -> v

__all__ = ["sample_time", "flow_loss", "sample_flow", "VelocityFn"]


def sample_time(n: int, gen: torch.Generator, mean: float = 0.0, std: float = 1.0, device=None) -> torch.Tensor:
    return torch.sigmoid(mean + std * torch.randn(n, generator=gen, device=gen.device)).to(device)


def flow_loss(velocity: VelocityFn, x: torch.Tensor, labels: torch.Tensor, gen: torch.Generator,
              t_mean: float = 0.0, t_std: float = 1.0, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Mean squared error between predicted and true velocity at a logit-normal time per sample.

    With `world` data-parallel ranks, times and noise are drawn for the global batch and this rank takes its slice.
    """
    n = x.shape[0]
    t = sample_time(n * world, gen, t_mean, t_std)[rank * n:(rank + 1) * n].to(x.device)
    eps = torch.randn((n * world, *x.shape[1:]), generator=gen, device=gen.device)[rank * n:(rank + 1) * n]
    eps = eps.to(x.device)
    tb = t.view(-1, *([1] * (x.ndim - 1)))
    xt = (1 - tb) * x + tb * eps
    return (velocity(xt, t, labels) - (eps - x)).square().mean()


@torch.no_grad()
def sample_flow(velocity: VelocityFn, noise: torch.Tensor, labels: torch.Tensor, steps: int,
                sampler: str = "euler", guidance: float = 1.0, null_label: int | None = None) -> torch.Tensor:
    """Integrate from t = 1 to t = 0 on a uniform grid; guidance > 1 mixes in the null-label velocity (CFG)."""
    if sampler not in ("euler", "heun"):
        raise ValueError(f"unknown sampler {sampler!r}; use euler or heun")
    if guidance != 1.0 and null_label is None:
        raise ValueError("classifier-free guidance needs the null label")

    def v(x, t):
        tt = torch.full((x.shape[0],), float(t), device=x.device)
        if guidance == 1.0:
            return velocity(x, tt, labels)
        both = velocity(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, torch.full_like(labels, null_label)]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)

    ts = torch.linspace(1.0, 0.0, steps + 1).tolist()
    x = noise
    for t_cur, t_next in zip(ts[:-1], ts[1:]):
        d = v(x, t_cur)
        x_next = x + (t_next - t_cur) * d
        if sampler == "heun" and t_next > 0:
            x_next = x + (t_next - t_cur) * 0.5 * (d + v(x_next, t_next))
        x = x_next
    return x
