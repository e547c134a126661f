"""Data-parallel training over the tasks of one job (one task per GPU), with torch.distributed.

The world comes from the job: torchrun's RANK/WORLD_SIZE, or, under srun/submitit, the Slurm task layout
(submitit's JobEnvironment). Each rank reads its slice of the step's global batch (StepBatchSampler) and draws its
slice of the step's global noise, and gradients are averaged across ranks after every backward pass, so a step
of N ranks at batch B/N is the step of one process at batch B (up to float summation order).
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["setup_distributed", "average_gradients", "is_main", "barrier", "global_noise", "optimizer_step"]


def _job_world() -> int:
    if "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    return int(os.environ.get("SLURM_NTASKS", "1")) if "SLURM_JOB_ID" in os.environ else 1


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world_size, this rank's device). A no-op for a single process."""
    world = _job_world()
    if world <= 1:
        return 0, 1, device
    if not dist.is_initialized():
        if "RANK" not in os.environ:  # srun / submitit task: derive torchrun's variables from the Slurm job
            import submitit
            env = submitit.JobEnvironment()
            os.environ.update(RANK=str(env.global_rank), LOCAL_RANK=str(env.local_rank), WORLD_SIZE=str(env.num_tasks),
                              MASTER_ADDR=env.hostnames[0], MASTER_PORT=str(20000 + int(env.job_id) % 20000))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def is_main(rank: int) -> bool:
    return rank == 0


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


@torch.no_grad()
def average_gradients(params, world: int) -> None:
    """All-reduce (mean) the gradients of `params` in one flat buffer: one collective per step, not one per tensor.

    By hand rather than DistributedDataParallel: DDP syncs the gradients of a backward through its own forward(), and
    the AE trainer calls encode() and decode() (the SE term decodes again), which a DDP wrapper would not see. The
    result is the gradient mean DDP computes, in one bucket.
    """
    if world <= 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for g, f in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(f.view_as(g))


def global_noise(shape: tuple[int, ...], gen: torch.Generator, rank: int, world: int) -> torch.Tensor:
    """This rank's slice of a standard-normal tensor drawn for the whole step's global batch."""
    full = torch.randn((shape[0] * world, *shape[1:]), generator=gen, device=gen.device)
    return full[rank * shape[0]:(rank + 1) * shape[0]]


def optimizer_step(loss: torch.Tensor, params: list, opt: torch.optim.Optimizer, ema, step: int, world: int,
                   grad_clip: float | None) -> None:
    """One update of every trainer: backward, gradient mean across ranks, optional clipping, step, EMA."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(params, world)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, float(grad_clip))
    opt.step()
    ema.update(step)
