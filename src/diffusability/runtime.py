"""Where a job runs, on how many threads, and the seed of each of its random streams.

Every trainer and evaluator sets these up here, the same way: on CPU the same command then gives the same bits.
That needs a fixed thread count (a reduction split over threads sums in another order), deterministic kernels, and
every random draw taken from a generator seeded for what it is for (`stream_seed`), never from the global RNG,
whose state would depend on everything that ran before (and on where a resumed run started).
"""
from __future__ import annotations

import torch

__all__ = ["resolve_device", "set_threads", "setup_determinism", "stream_seed", "stream_generator"]

# The stride between the streams of two run seeds: a prime, so that seed * STRIDE + k never collides for keys k
# below it (a step, a sample index, an epoch).
STREAM_STRIDE = 1_000_003


def resolve_device(name: str) -> torch.device:
    """The device of config key `device`: auto (the GPU when there is one) | cpu | cuda[:i]."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config key device is {name!r}, but the machine this job runs on has no CUDA device")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """Use `threads` CPU threads (None or 0: leave torch's choice). Bitwise repeatable CPU results need it fixed."""
    if threads:
        torch.set_num_threads(int(threads))


def setup_determinism(*, seed: int, threads: int | None, device: torch.device, deterministic: bool = True) -> None:
    """Fixed threads, deterministic kernels on CPU and the global seed (it decides the weights' initialisation)."""
    set_threads(threads)
    if device.type == "cpu" and deterministic:
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(int(seed))


def stream_seed(seed: int, key: int) -> int:
    """The seed of stream `key` of run seed `seed` (a step, a sample index, an epoch, plus a fixed offset that tells
    apart two streams of the same step): a resumed run redraws exactly what the uninterrupted one drew."""
    return int(seed) * STREAM_STRIDE + int(key)


def stream_generator(seed: int, key: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on `device` seeded with `stream_seed(seed, key)`."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, key))
