"""One DiT's evaluation as the workflow runs it (paper Fig. 1, Table 1): `dit.sample_shards` sampling jobs, then one
scoring job (issue 17).

Each sampling job loads the DiT and its AE once and, for every kept snapshot, samples its slice of the snapshot's
`num_samples` (the noise and label of a sample depend on its index alone: generation/sampling.py) into running
feature sums (FeatureStatistics), saved together in one safetensors file per shard. The scoring job adds the sums of
all shards per snapshot, which is one pass over all samples up to float64 rounding, scores them against the reference
statistics and draws the sample figure of the final snapshot from the first GRID_SAMPLES samples (kept by the shards
that hold them, as uint8). A finished shard is a file of its own, so a failed shard never reruns the others.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import torch
from safetensors import safe_open

from ..metrics.feature_statistics import FeatureStatistics
from ..metrics.frechet import FEATURE_BATCH, FeatureSpace, frechet_from_statistics, metric_name, to_uint8
from ..provenance import save_tensors
from .evaluate import GRID_SAMPLES, load_sampling_models, save_samples, snapshot_statistics
from .reference import ReferenceStatistics, shard_range

__all__ = ["sample_dit_shard", "score_dit_shards"]


def sample_dit_shard(*, dit_dir: str | Path, ae_dir: str | Path, fd: dict, num_samples: int, shard_index: int,
                     num_shards: int, sample_steps: int, sampler: str, guidance: float, batch_size: int,
                     out_path: str | Path, device: str = "auto") -> Path:
    """Shard `shard_index` of `num_shards` of every kept snapshot's samples: the running feature sums per snapshot
    (tensors `step_<n>.count|sum|outer`) and, where the shard holds some of the first GRID_SAMPLES samples of the
    final snapshot, those (tensor `grid`, uint8), in one file."""
    models = load_sampling_models(dit_dir, ae_dir, device)
    space = FeatureSpace(fd["kind"], fd["weights"], cuda=models.device.type == "cuda")
    part = shard_range(num_samples, shard_index, num_shards, align=math.lcm(batch_size, FEATURE_BATCH))
    tensors = {}
    for step in models.steps:
        keep = max(0, GRID_SAMPLES - part.start) if step == models.steps[-1] else 0
        stats, kept = snapshot_statistics(models, space, step=step, num_samples=num_samples,
                                          sample_steps=sample_steps, sampler=sampler, guidance=guidance,
                                          batch_size=batch_size, shard_index=shard_index, num_shards=num_shards,
                                          keep=keep)
        tensors.update({f"step_{step}.{k}": v for k, v in stats.state().items()})
        if len(kept):
            tensors["grid"] = to_uint8(kept)
    meta = {"steps": json.dumps(models.steps), "shard_index": str(shard_index), "num_shards": str(num_shards),
            "num_samples": str(num_samples), "start": str(part.start), "stop": str(part.stop),
            "dit_dir": str(dit_dir), "ae_dir": str(ae_dir), "feature_space": fd["kind"]}
    return save_tensors(out_path, tensors, metadata=meta)


def _shard_sums(path: Path) -> tuple[dict, dict[int, FeatureStatistics], torch.Tensor | None]:
    with safe_open(str(path), "pt") as f:
        meta, keys = f.metadata(), set(f.keys())
        steps = json.loads(meta["steps"])
        sums = {s: FeatureStatistics(len(f.get_tensor(f"step_{s}.sum")), int(f.get_tensor(f"step_{s}.count")[0]),
                                     f.get_tensor(f"step_{s}.sum"), f.get_tensor(f"step_{s}.outer")) for s in steps}
        grid = f.get_tensor("grid") if "grid" in keys else None
    return meta, sums, grid


def score_dit_shards(*, shard_paths: list[str | Path], reference: ReferenceStatistics, grid_path: str | Path,
                     gif_path: str | Path) -> pd.DataFrame:
    """One row per kept snapshot (step, metric, value) from the sums of all sample shards, merged in shard order;
    the sample figure of the final snapshot. The shards must be those of one sampling (same steps and count)."""
    merged, grid, first = None, [], None
    for i, path in enumerate(map(Path, shard_paths)):
        meta, sums, kept = _shard_sums(path)
        first = first or meta
        if (meta["steps"], meta["num_samples"], meta["num_shards"]) != (first["steps"], first["num_samples"],
                                                                        first["num_shards"]) \
                or int(meta["shard_index"]) != i or int(meta["num_shards"]) != len(shard_paths):
            raise ValueError(f"sample shard {path} is shard {meta['shard_index']} of {meta['num_shards']} "
                             f"({meta['num_samples']} samples), not shard {i} of {len(shard_paths)} of one sampling")
        merged = sums if merged is None else {s: merged[s].merge(sums[s]) for s in merged}
        if kept is not None:
            grid.append(kept)
    counts = {s.count for s in merged.values()}
    if counts != {int(first["num_samples"])}:
        raise ValueError(f"the sample shards hold {sorted(counts)} samples per snapshot, not {first['num_samples']}")
    ref = reference.get()
    name = metric_name(reference.fd["kind"], "fid")
    rows = [{"step": s, "metric": name, "value": frechet_from_statistics(stats.mu_sigma(), ref)}
            for s, stats in sorted(merged.items())]
    samples = torch.cat(grid)[:GRID_SAMPLES].float() / 127.5 - 1  # uint8 back to [-1, 1]: to_uint8 gives it again
    save_samples(samples, grid_path, gif_path)
    return pd.DataFrame(rows)
