"""Reference statistics of a Fréchet distance: the features of the reference images, computed once per dataset and
feature space, saved, and reused by every DiT evaluation (paper Fig. 1, Table 1).

Apart from evaluate.py, so that the job computing them loads no DiT or autoencoder code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ..data import build_dataset
from ..metrics.frechet import FeatureSpace
from ..provenance import save_tensors

__all__ = ["ReferenceStatistics"]


class ReferenceStatistics:
    """Feature statistics of the reference images, computed on first use and then read from `path`."""

    def __init__(self, path: str | Path, data_cfg, num_images: int, fd: dict, seed: int = 0):
        self.path, self.data_cfg, self.num_images, self.fd, self.seed = Path(path), data_cfg, num_images, fd, seed
        self.computations = 0  # how many times the reference set went through the feature network

    def reference_images(self) -> torch.Tensor:
        # Photos: crops from their own seed stream of the training photos (what the DiT models); folders: the
        # first images of the (shuffled) training split, as FID on ImageNet uses the training set.
        ds = build_dataset(self.data_cfg, "train", 20_000 + self.seed)
        try:
            n = min(self.num_images, len(ds))
        except TypeError:
            n = self.num_images
        return torch.stack([ds[i][0] for i in range(n)])

    def get(self, space: FeatureSpace | None = None) -> dict:
        if self.path.exists():
            t = load_file(str(self.path))
            return {"mu": t["mu"].numpy(), "sigma": t["sigma"].numpy()}
        space = space or FeatureSpace(self.fd["kind"], self.fd["weights"], cuda=torch.cuda.is_available())
        stats = space.statistics(self.reference_images())
        self.computations += 1
        save_tensors(self.path, {"mu": torch.from_numpy(np.ascontiguousarray(stats["mu"])),
                                 "sigma": torch.from_numpy(np.ascontiguousarray(stats["sigma"]))})
        return stats
