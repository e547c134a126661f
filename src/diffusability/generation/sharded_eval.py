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
from ..metrics.frechet import FEATURE_BATCH, frechet_from_statistics, metric_name, to_uint8
from ..metrics.sample_quality import SampleExtras, check_extra_metrics
from ..provenance import save_tensors
from ..runtime import resolve_device
from .evaluate import GRID_SAMPLES, feature_space_for, load_sampling_models, save_samples, snapshot_statistics
from .reference import ReferenceStatistics, shard_range

__all__ = ["sample_dit_shard", "score_dit_shards"]


def sample_dit_shard(*, dit_dir: str | Path, ae_dir: str | Path, fd: dict, num_samples: int, shard_index: int,
                     num_shards: int, sample_steps: int, sampler: str, guidance: float, batch_size: int,
                     out_path: str | Path, device: str = "auto", labels: str = "uniform",
                     extra_metrics=()) -> Path:
    """Shard `shard_index` of `num_shards` of every kept snapshot's samples: the running feature sums per snapshot
    (tensors `step_<n>.count|sum|outer`), what the extra metrics need of the shard (`step_<n>.extra.*`: Inception
    Score sums, precision/recall features; dit.extra_metrics) and, where the shard holds some of the first
    GRID_SAMPLES samples of the final snapshot, those (tensor `grid`, uint8), in one file. `labels`: uniform |
    balanced (dit.labels)."""
    extra_metrics = check_extra_metrics(extra_metrics)
    models = load_sampling_models(dit_dir, ae_dir, device)
    space = feature_space_for(fd, cuda=models.device.type == "cuda", extra_metrics=extra_metrics)
    part = shard_range(num_samples, shard_index, num_shards, align=math.lcm(batch_size, FEATURE_BATCH))
    tensors = {}
    for step in models.steps:
        keep = max(0, GRID_SAMPLES - part.start) if step == models.steps[-1] else 0
        extras = (SampleExtras(kind=space.kind, metrics=extra_metrics, num_total=num_samples)
                  if extra_metrics else None)
        stats, kept = snapshot_statistics(models, space, step=step, num_samples=num_samples,
                                          sample_steps=sample_steps, sampler=sampler, guidance=guidance,
                                          batch_size=batch_size, shard_index=shard_index, num_shards=num_shards,
                                          keep=keep, labels=labels, extras=extras)
        tensors.update({f"step_{step}.{k}": v for k, v in stats.state().items()})
        if extras is not None:
            tensors.update({f"step_{step}.extra.{k}": v for k, v in extras.state().items()})
        if len(kept):
            tensors["grid"] = to_uint8(kept)
    meta = {"steps": json.dumps(models.steps), "shard_index": str(shard_index), "num_shards": str(num_shards),
            "num_samples": str(num_samples), "start": str(part.start), "stop": str(part.stop),
            "dit_dir": str(dit_dir), "ae_dir": str(ae_dir), "feature_space": fd["kind"], "labels": labels,
            "extra_metrics": json.dumps(list(extra_metrics))}
    return save_tensors(out_path, tensors, metadata=meta)


def _shard_sums(path: Path) -> tuple[dict, dict[int, FeatureStatistics], dict[int, dict], torch.Tensor | None]:
    with safe_open(str(path), "pt") as f:
        meta, keys = f.metadata(), set(f.keys())
        steps = json.loads(meta["steps"])
        sums = {s: FeatureStatistics(len(f.get_tensor(f"step_{s}.sum")), int(f.get_tensor(f"step_{s}.count")[0]),
                                     f.get_tensor(f"step_{s}.sum"), f.get_tensor(f"step_{s}.outer")) for s in steps}
        extras = {s: {k[len(f"step_{s}.extra."):]: f.get_tensor(k) for k in keys
                      if k.startswith(f"step_{s}.extra.")} for s in steps}
        grid = f.get_tensor("grid") if "grid" in keys else None
    return meta, sums, extras, grid


def score_dit_shards(*, shard_paths: list[str | Path], reference: ReferenceStatistics, grid_path: str | Path,
                     gif_path: str | Path, device: str = "auto") -> pd.DataFrame:
    """One row per kept snapshot (step, metric, value, and a column per extra metric) from the sums of all sample
    shards, merged in shard order; the sample figure of the final snapshot. The shards must be those of one sampling
    (same steps, count, labels and extra metrics)."""
    merged, grid, first, extra_states = None, [], None, []
    same = ("steps", "num_samples", "num_shards", "labels", "extra_metrics")
    for i, path in enumerate(map(Path, shard_paths)):
        meta, sums, extras, kept = _shard_sums(path)
        first = first or meta
        extra_states.append(extras)
        if tuple(meta.get(k) for k in same) != tuple(first.get(k) for k in same) \
                or int(meta["shard_index"]) != i or int(meta["num_shards"]) != len(shard_paths):
            raise ValueError(f"sample shard {path} is shard {meta['shard_index']} of {meta['num_shards']} "
                             f"({meta['num_samples']} samples), not shard {i} of {len(shard_paths)} of one sampling")
        merged = sums if merged is None else {s: merged[s].merge(sums[s]) for s in merged}
        if kept is not None:
            grid.append(kept)
    counts = {s.count for s in merged.values()}
    if counts != {int(first["num_samples"])}:
        raise ValueError(f"the sample shards hold {sorted(counts)} samples per snapshot, not {first['num_samples']}")
    extra_metrics = tuple(json.loads(first.get("extra_metrics", "[]")))
    num_samples = int(first["num_samples"])
    space, real, dev = None, None, resolve_device(device)
    if extra_metrics:  # precision/recall need the reference set's features, in the samples' feature space
        space = feature_space_for(reference.fd, cuda=dev.type == "cuda", extra_metrics=extra_metrics)
        real = reference.features(space, num_samples) if "prc" in extra_metrics else None
    ref = reference.get(space)
    name = metric_name(reference.fd["kind"], "fid")
    rows = []
    for s, stats in sorted(merged.items()):
        row = {"step": s, "metric": name, "value": frechet_from_statistics(stats.mu_sigma(), ref)}
        if extra_metrics:
            extras = SampleExtras.merge_states([e[s] for e in extra_states], kind=space.kind, metrics=extra_metrics,
                                               num_total=num_samples)
            row.update(extras.scores(real, device=dev))
        rows.append(row)
    samples = torch.cat(grid)[:GRID_SAMPLES].float() / 127.5 - 1  # uint8 back to [-1, 1]: to_uint8 gives it again
    save_samples(samples, grid_path, gif_path)
    return pd.DataFrame(rows)
