"""Reference statistics of a Fréchet distance: the features of the reference images, computed once per dataset and
feature space, saved, and reused by every DiT evaluation (paper Fig. 1, Table 1).

The reference set is streamed through a DataLoader (files decoded in its workers) into running sums, so a pass holds
one batch, never the set (issue 17: the paper's reference set is the ImageNet training split, 1.28M images). It can
be split into shards computed by separate jobs and merged exactly (`reference_statistics_shard`, then
`gather_reference_statistics`). Apart from evaluate.py, so that the job computing them loads no DiT or AE code.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from ..data import build_dataset
from ..data.loader import steady_heap, worker_init
from ..metrics.feature_statistics import FeatureStatistics, merge_statistics
from ..metrics.frechet import FEATURE_BATCH, FeatureSpace, to_uint8

# Images per loader batch. The feature network always sees batches of FEATURE_BATCH (the FeatureStream regroups), so
# this only sets how much is in flight: num_workers x prefetch (2) x LOADER_BATCH decoded images.
LOADER_BATCH = 16

__all__ = ["ReferenceStatistics", "reference_statistics_shard", "gather_reference_statistics", "shard_range"]


def shard_range(num: int, shard_index: int, num_shards: int, align: int = 1) -> range:
    """Items [start, stop) of shard `shard_index` of `num_shards` contiguous, near-equal shards of `num` items.

    Shards start at multiples of `align` (when there are at least as many such blocks as shards): aligned on the
    batches of the feature network (and of the sampler), every batch of a shard is a batch of the one-pass run, so the
    features are the same bit for bit and the merged sums differ from one pass only in float64 rounding.
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1}")
    blocks = -(-num // align)
    if blocks < num_shards:
        align, blocks = 1, num
    return range(min(num, align * (blocks * shard_index // num_shards)),
                 min(num, align * (blocks * (shard_index + 1) // num_shards)))


def _uint8_batch(items) -> torch.Tensor:
    """Collate in the loader worker, straight to uint8 (what the feature network reads): a batch crosses to the main
    process 4x smaller, and the float temporaries of the conversion never reach the main process's heap, where
    glibc's rising mmap threshold left them fragmenting (peak RSS x1.8 from 128 to 1024 images, measured)."""
    return to_uint8(torch.stack([x for x, _ in items]))


class ReferenceStatistics:
    """Feature statistics of the reference images, computed on first use and then read from `path`.

    Photos: crops from their own seed stream of the training photos (what the DiT models); folders: the first images
    of the (shuffled) training split, as FID on ImageNet uses the training set. `num_workers` decode files in
    parallel (default: the data config's `num_workers`, else none); the statistics do not depend on it.
    With `adm_reference` (an ADM reference batch .npz), its mu/sigma are the statistics instead, as the DiT line of
    work reports FID against them (generation/adm.py).
    """

    def __init__(self, path: str | Path, data_cfg, num_images: int, fd: dict, seed: int = 0,
                 num_workers: int | None = None, batch_size: int = LOADER_BATCH,
                 adm_reference: str | Path | None = None):
        self.path, self.data_cfg, self.num_images, self.fd, self.seed = Path(path), data_cfg, num_images, fd, seed
        self.adm_reference = adm_reference
        self.num_workers = int(data_cfg.get("num_workers", 0) or 0) if num_workers is None else int(num_workers)
        self.batch_size = int(batch_size)
        self.computations = 0  # how many times the reference set went through the feature network

    def _dataset(self):
        ds = build_dataset(self.data_cfg, "train", 20_000 + self.seed)
        try:
            n = min(self.num_images, len(ds))
        except TypeError:  # photo crops are indexed by an unbounded key
            n = self.num_images
        return ds, n

    def batches(self, shard_index: int = 0, num_shards: int = 1):
        """The reference images of one shard, in loader batches (B, 3, H, W) of uint8."""
        ds, n = self._dataset()
        part = shard_range(n, shard_index, num_shards, align=FEATURE_BATCH)
        steady_heap()
        yield from torch.utils.data.DataLoader(ds, batch_size=self.batch_size, sampler=part, collate_fn=_uint8_batch,
                                               num_workers=self.num_workers, worker_init_fn=worker_init)

    def shard_statistics(self, space: FeatureSpace, shard_index: int = 0, num_shards: int = 1) -> FeatureStatistics:
        """Running feature sums of one shard of the reference set."""
        stream = space.stream()
        for x in self.batches(shard_index, num_shards):
            stream.add(x)
        self.computations += 1
        return stream.statistics()

    def features(self, space: FeatureSpace, num: int) -> torch.Tensor:
        """Features (n, D) float32 of the first n = min(num, reference set) reference images: the real set of
        precision/recall (metrics/sample_quality), held whole by definition of that metric. Our choice: as many
        as the samples they are compared with (Kynkäänniemi et al. compare sets of equal size; ADM's evaluator
        uses the 10K images of its reference batch against 50K samples). With an ADM reference batch
        (`adm_reference`) they are all the images of its arr_0 instead, as ADM's evaluator compares with."""
        from ..metrics.sample_quality import SampleExtras
        if self.adm_reference is not None:
            from .adm import adm_reference_images, adm_reference_statistics
            adm_reference_statistics(self.adm_reference, space.kind)  # the same checks: an Inception batch
            batches = adm_reference_images(self.adm_reference, self.batch_size)
        else:
            ds, n = self._dataset()
            n = min(n, int(num))
            batches = torch.utils.data.DataLoader(ds, batch_size=self.batch_size, sampler=range(n),
                                                  collate_fn=_uint8_batch, num_workers=self.num_workers,
                                                  worker_init_fn=worker_init)
        extras = SampleExtras(kind=space.kind, metrics=("prc",), num_total=0)  # the count serves IS alone
        stream = space.stream(extras=extras)
        steady_heap()
        for x in batches:
            stream.add(x)
        stream.statistics()
        return extras.state()["prc_features"]

    def get(self, space: FeatureSpace | None = None) -> dict:
        if self.adm_reference is not None:
            from .adm import adm_reference_statistics
            return adm_reference_statistics(self.adm_reference, self.fd["kind"])
        if self.path.exists():
            t = load_file(str(self.path))
            return {"mu": t["mu"].numpy(), "sigma": t["sigma"].numpy()}
        space = space or FeatureSpace(self.fd["kind"], self.fd["weights"], cuda=torch.cuda.is_available())
        stats = self.shard_statistics(space)
        stats.save(self.path)
        return stats.mu_sigma()


def reference_statistics_shard(*, data_cfg, num_images: int, fd: dict, shard_index: int, num_shards: int,
                               out_path: str | Path, seed: int = 0, num_workers: int | None = None,
                               device: str = "auto") -> Path:
    """One job of a sharded reference pass: the running sums of shard `shard_index` of `num_shards`, saved."""
    ref = ReferenceStatistics(out_path, data_cfg, num_images, fd, seed=seed, num_workers=num_workers)
    cuda = torch.cuda.is_available() if device == "auto" else str(device).startswith("cuda")
    space = FeatureSpace(fd["kind"], fd["weights"], cuda=cuda)
    return ref.shard_statistics(space, shard_index, num_shards).save(
        out_path, metadata={"shard_index": str(shard_index), "num_shards": str(num_shards)})


def gather_reference_statistics(*, shard_paths: list[str | Path], out_path: str | Path) -> Path:
    """The reference statistics file (what ReferenceStatistics reads) from the shards' saved sums."""
    return merge_statistics(list(shard_paths)).save(out_path, metadata={"num_shards": str(len(shard_paths))})
