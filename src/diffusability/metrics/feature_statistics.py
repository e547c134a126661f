"""Fréchet statistics as exact running sums, so that no pass over a dataset or a sample set holds its features (issue
17; the distances of paper Fig. 1 and Table 1).

The mean and covariance behind a Fréchet distance are functions of three sums over the feature vectors: the count,
the sum and the sum of outer products. Kept in float64, they fold in batch by batch in constant memory, and the sums
of shards (separate jobs, or the ranks of one job) add up exactly to the sums of one pass, whatever the split, up to
float64 rounding. That is what lets reference statistics and sample statistics be computed in shards and merged.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["FeatureStatistics", "merge_statistics"]


class FeatureStatistics:
    """Count, sum and sum of outer products of D-dimensional features (float64); mergeable and saveable."""

    def __init__(self, dim: int, count: int = 0, total: torch.Tensor | None = None, outer: torch.Tensor | None = None):
        self.dim, self.count = int(dim), int(count)
        self.total = torch.zeros(dim, dtype=torch.float64) if total is None else total.double()
        self.outer = torch.zeros(dim, dim, dtype=torch.float64) if outer is None else outer.double()

    def update(self, features: torch.Tensor) -> FeatureStatistics:
        """Fold in a batch of features (B, D)."""
        x = features.detach().to("cpu", torch.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features of shape {tuple(x.shape)} do not fit statistics of dimension {self.dim}")
        self.count += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x
        return self

    def merge(self, other: FeatureStatistics) -> FeatureStatistics:
        """The statistics of both sets together (a new object): the sums add."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge feature statistics of dimensions {self.dim} and {other.dim}")
        return FeatureStatistics(self.dim, self.count + other.count, self.total + other.total,
                                 self.outer + other.outer)

    def all_reduce(self) -> FeatureStatistics:
        """Sum the statistics of every rank of a torch.distributed job in place (DiT's sample_ddp layout)."""
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            flat = torch.cat([torch.tensor([float(self.count)], dtype=torch.float64), self.total,
                              self.outer.flatten()]).to(device)
            dist.all_reduce(flat)
            flat = flat.cpu()
            self.count = int(round(float(flat[0])))
            self.total, self.outer = flat[1:1 + self.dim].clone(), flat[1 + self.dim:].view(self.dim, self.dim).clone()
        return self

    def mu_sigma(self) -> dict:
        """Mean and unbiased covariance ({"mu", "sigma"}, float64 numpy), as np.mean / np.cov would give them."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors, these statistics hold {self.count}")
        mu = self.total / self.count
        sigma = (self.outer - torch.outer(self.total, mu)) / (self.count - 1)
        sigma = (sigma + sigma.T) / 2  # the two triangles of x.T @ x can round apart; a covariance is symmetric
        return {"mu": mu.numpy(), "sigma": sigma.numpy()}

    def state(self) -> dict[str, torch.Tensor]:
        return {"count": torch.tensor([self.count], dtype=torch.int64), "sum": self.total, "outer": self.outer}

    def save(self, path: str | Path, metadata: dict[str, str] | None = None,
             extra: dict[str, torch.Tensor] | None = None) -> Path:
        """The sums and the mu/sigma they give, in one safetensors file (readable as reference statistics), with
        `extra` tensors beside them (a sample shard's Inception Score sums and features: metrics/sample_quality)."""
        from ..provenance import save_tensors
        tensors = {**(extra or {}), **self.state()}
        if self.count >= 2:
            tensors.update({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.mu_sigma().items()})
        return save_tensors(path, tensors, metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStatistics:
        from safetensors.torch import load_file
        t = load_file(str(path))
        if "outer" not in t:
            raise ValueError(f"{path} holds no running sums (count, sum, outer): it cannot be merged")
        return cls(len(t["sum"]), int(t["count"][0]), t["sum"], t["outer"])


def merge_statistics(paths: list[str | Path]) -> FeatureStatistics:
    """The statistics of all shards' sets together, from their saved sums."""
    if not paths:
        raise ValueError("merge_statistics needs at least one shard file")
    stats = FeatureStatistics.load(paths[0])
    for p in paths[1:]:
        stats = stats.merge(FeatureStatistics.load(p))
    return stats
