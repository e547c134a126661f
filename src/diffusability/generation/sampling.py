"""Samples of a DiT snapshot streamed in batches, for any shard of the sample set (paper Fig. 1, Table 1; issue 17).

Sample i's noise and label are those of one draw of the whole set from a generator seeded by the run's seed
(`torch.randn((num, *shape))`, then `torch.randint(classes, (num,))`), as before sampling was sharded, so the scores of
the unsharded runs did not move. With class-balanced labels (`dit.labels: balanced`, as REPA-E's re-evaluation of the
DiT line: 50 images per class of 50K) the same point of the stream draws `torch.randperm(num)` instead, and sample i
gets class `perm[i] % classes`: every class gets num // classes samples (the first num % classes classes one more),
in an order the seed shuffles, so that any contiguous part of the set (a shard, an Inception-Score split) holds a
near-balanced mix. Either way a label is a pure function of (seed, i, num, classes), whatever the shards, and the
noise does not depend on how labels are drawn.

A shard reaches its samples by walking that stream in fixed pieces (`NormalStream`) in constant memory: the noise of
samples [start, stop) is the same whatever the number of shards, and walking past the other shards' noise costs a
few seconds of the CPU against the GPU-hour of sampling a snapshot.
"""
from __future__ import annotations

import math

import torch

from ..diffusion.flow import sample_flow
from ..models.dit import dit_forward, null_class

__all__ = ["NormalStream", "LABELS", "sample_labels", "sample_inputs", "sample_batches"]

PIECE = 1 << 20  # elements per draw of the noise stream: 4 MB of float32
LABELS = ("uniform", "balanced")  # how sample labels are drawn (config key dit.labels)


class NormalStream:
    """The values of `torch.randn(total, generator=gen)`, served in order in constant memory.

    torch's CPU normal sampler fills a tensor in blocks of 16 from one uniform per element (and redraws the last 16
    when the size is no multiple of 16), so drawing the same stream as pieces whose sizes are multiples of 16, the
    last one at least 16, consumes the generator exactly as the single draw does and yields the same values
    (tests/test_streaming.py checks it against the single draw).
    """

    def __init__(self, gen: torch.Generator, total: int, piece: int = PIECE):
        if piece % 16:
            raise ValueError(f"the noise stream's piece size must be a multiple of 16, got {piece}")
        self.gen, self.left, self.piece = gen, int(total), int(piece)
        self._buf = torch.empty(0)

    def _draw(self) -> torch.Tensor:
        # The last piece takes the tail with it, so no draw is shorter than 16 unless the whole stream is.
        n = self.left if self.left < 2 * self.piece else self.piece
        self.left -= n
        return torch.randn(n, generator=self.gen)

    def _next(self, n: int) -> torch.Tensor:
        """Up to `n` of the next values (at most the rest of the current piece)."""
        if not len(self._buf):
            if not self.left:
                raise ValueError("the noise stream is exhausted")
            self._buf = self._draw()
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def take(self, n: int) -> torch.Tensor:
        """The next `n` values."""
        out, need = [torch.empty(0)], int(n)
        while need:
            out.append(self._next(need))
            need -= len(out[-1])
        return torch.cat(out)

    def skip(self, n: int) -> None:
        """Pass over the next `n` values without keeping them."""
        n = int(n)
        while n:
            n -= len(self._next(n))


def sample_labels(gen: torch.Generator, num: int, num_labels: int, labels: str = "uniform") -> torch.Tensor:
    """The labels (num,) of a whole sample set, drawn from `gen`: `uniform` i.i.d. (DiT's sample_ddp.py), or
    `balanced`, each class num // num_labels or one more times in a seeded order (the module docstring)."""
    if labels == "uniform":
        return torch.randint(num_labels, (num,), generator=gen)
    if labels == "balanced":
        return torch.randperm(num, generator=gen) % num_labels
    raise ValueError(f"config key dit.labels is {labels!r}; use one of {', '.join(LABELS)}")


def sample_inputs(seed: int, num: int, shape: tuple[int, ...], num_labels: int, start: int, stop: int,
                  batch_size: int, labels: str = "uniform"):
    """Noise (B, *shape) and labels (B,) of samples [start, stop) of a set of `num`, in batches of `batch_size`."""
    if not 0 <= start <= stop <= num:
        raise ValueError(f"samples [{start}, {stop}) are not within a set of {num}")
    d = math.prod(shape)
    gen = torch.Generator().manual_seed(seed)
    NormalStream(gen, num * d).skip(num * d)  # the labels come after the whole set's noise in the stream
    y = sample_labels(gen, num, num_labels, labels)[start:stop]
    noise = NormalStream(torch.Generator().manual_seed(seed), num * d)
    noise.skip(start * d)
    for i in range(0, stop - start, batch_size):
        b = min(batch_size, stop - start - i)
        yield noise.take(b * d).view(b, *shape), y[i:i + b]


@torch.no_grad()
def sample_batches(dit, ae, mean, std, *, num: int, start: int, stop: int, num_classes: int, conditional: bool,
                   steps: int, sampler: str, guidance: float, batch_size: int, seed: int, device,
                   shape: tuple[int, ...], labels: str = "uniform"):
    """Decoded samples [start, stop) of a set of `num` (images or clips in [-1, 1], on the CPU), batch by batch;
    noise and labels depend only on `seed` and the sample index (the same for every snapshot and shard count);
    `labels` is uniform | balanced (config key dit.labels)."""
    null = null_class(num_classes if conditional else 1)
    for noise, y in sample_inputs(seed, num, shape, num_classes if conditional else 1, start, stop, batch_size,
                                  labels=labels):
        z = sample_flow(lambda x, t, c: dit_forward(dit, x, t, c).float(), noise.to(device), y.to(device),
                        steps, sampler, guidance, null)
        yield ae.decode(z * std + mean).sample.clamp(-1, 1).float().cpu()
