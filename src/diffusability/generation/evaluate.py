"""Sample a trained DiT at each kept snapshot, decode with its AE and score the samples (paper Fig. 1, Table 1;
for video the same with FVD).

The score is the Fréchet distance to a reference split in the configured feature space: FID with real Inception
weights, else `fd_proxy` with the offline proxy network. The reference statistics are computed once per dataset
and feature space, saved, and reused for every checkpoint and every model (generation/reference.py).

Samples are streamed into running feature sums (issue 17: the paper scores 50K samples per snapshot), and one
snapshot's samples can be split into shards, scored by separate jobs or ranks and merged exactly
(`sample_statistics_shard`, then `score_sample_shards`); the score does not depend on the number of shards beyond
float rounding, because each sample's noise depends on its index alone (generation/sampling.py).

Options of the field's conventions (issue 17, section 3): class-balanced labels (`labels="balanced"`, config key
dit.labels) and the Inception Score and precision/recall as extra columns beside the distance (`extra_metrics`,
config key dit.extra_metrics; metrics/sample_quality.py). Their defaults give the scores of before, bit for bit.
"""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from ..analysis.spectra import load_trained_autoencoder
from ..data.loader import steady_heap
from ..metrics.feature_statistics import FeatureStatistics, merge_statistics
from ..metrics.frechet import FEATURE_BATCH, FeatureSpace, frechet_from_statistics, metric_name, to_uint8
from ..metrics.sample_quality import SampleExtras, check_extra_metrics, isc_logits_layer
from ..provenance import atomic_write
from ..runtime import resolve_device, set_threads
from ..train.dit import build_dit_for_cache, snapshot_path, snapshot_steps
from .latents import load_latents, normalisation
from .reference import ReferenceStatistics, shard_range
from .sampling import sample_batches

__all__ = ["evaluate_dit", "save_samples", "load_sampling_models", "snapshot_statistics", "sample_statistics_shard",
           "score_sample_shards", "extra_scores_of_shards", "export_adm_samples", "feature_space_for", "GRID_SAMPLES"]

GRID_SAMPLES = 64  # samples a snapshot keeps for its figure (an 8x8 grid; 8 clip strips): never the whole set


def _to_uint8_hwc(g: torch.Tensor):
    return to_uint8(g).numpy()


def _tile(x: torch.Tensor, nrow: int) -> torch.Tensor:
    """(N, 3, H, W) -> one (rows*H, nrow*W, 3) grid, padded with black."""
    rows = -(-len(x) // nrow)
    pad = torch.zeros(rows * nrow - len(x), *x.shape[1:])
    g = torch.cat([x, pad]).view(rows, nrow, *x.shape[1:]).permute(0, 3, 1, 4, 2)
    return g.reshape(rows * x.shape[2], nrow * x.shape[3], 3)


def save_samples(samples: torch.Tensor, png_path: str | Path, gif_path: str | Path, nrow: int = 8) -> None:
    """Sample figures, written atomically. Images: a PNG grid of the first nrow^2 (the GIF holds the same grid).
    Clips (N, 3, T, H, W): a PNG strip (one clip per row, its frames left to right) and an animated GIF grid."""
    from PIL import Image
    frames = []
    if samples.ndim == 5:
        clips = samples[:nrow]
        grid = _tile(clips.transpose(1, 2).reshape(-1, *clips.shape[1:2], *clips.shape[3:]), clips.shape[2])
        frames = [Image.fromarray(_to_uint8_hwc(_tile(samples[: nrow * nrow, :, t], nrow)))
                  for t in range(samples.shape[2])]
    else:
        grid = _tile(samples[: nrow * nrow], nrow)
    png = Image.fromarray(_to_uint8_hwc(grid))
    frames = frames or [png]
    atomic_write(png_path, lambda f: png.save(f, format="PNG"), mode="wb")
    atomic_write(gif_path, lambda f: frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:],
                                                    duration=120, loop=0), mode="wb")


def load_sampling_models(dit_dir: str | Path, ae_dir: str | Path, device: str = "auto") -> SimpleNamespace:
    """A DiT (weights loaded per snapshot), its AE and latent normalisation, and the snapshots it keeps."""
    dev = resolve_device(device)
    dit_dir = Path(dit_dir)
    cfg = OmegaConf.load(dit_dir / "config.yaml")
    set_threads(cfg.get("threads"))
    cache, num_classes = load_latents(cfg.latents)
    mean, std = (t.to(dev) for t in normalisation(cache, cfg.latent_norm))
    conditional = bool(cfg.model.conditional)
    dit = build_dit_for_cache(cfg.model, cache, num_classes if conditional else 1).to(dev).eval()
    ae, _ = load_trained_autoencoder(ae_dir, dev)
    steps = snapshot_steps(cfg)
    return SimpleNamespace(dir=dit_dir, cfg=cfg, device=dev, dit=dit, ae=ae, mean=mean, std=std,
                           num_classes=num_classes, conditional=conditional, steps=steps,
                           shape=tuple(cache["latents"].shape[1:]))


def feature_space_for(fd: dict, *, cuda: bool, extra_metrics=()) -> FeatureSpace:
    """The feature space of `fd` ({kind, weights}), with the class-logits layer the Inception Score needs when
    `extra_metrics` lists isc (and the space has one)."""
    layer = isc_logits_layer(fd["kind"]) if "isc" in check_extra_metrics(extra_metrics) else None
    return FeatureSpace(fd["kind"], fd["weights"], cuda=cuda, logits_layer=layer)


def snapshot_statistics(models: SimpleNamespace, space: FeatureSpace, *, step: int, num_samples: int,
                        sample_steps: int, sampler: str, guidance: float, batch_size: int, shard_index: int = 0,
                        num_shards: int = 1, keep: int = 0, labels: str = "uniform",
                        extras: SampleExtras | None = None) -> tuple[FeatureStatistics, torch.Tensor]:
    """Running feature sums of shard `shard_index` of `num_shards` of the `num_samples` samples of one snapshot, and
    the shard's first `keep` samples (for a figure). Samples are streamed: memory does not grow with their number.
    The ranks of a torch.distributed job pass (rank, world size) and merge with FeatureStatistics.all_reduce.
    `labels`: uniform | balanced (generation/sampling.py); `extras` (a SampleExtras) is filled with what the extra
    metrics need of this shard."""
    models.dit.load_state_dict(load_file(str(snapshot_path(models.dir, step)), device=str(models.device)))
    part = shard_range(num_samples, shard_index, num_shards, align=math.lcm(batch_size, FEATURE_BATCH))
    steady_heap()
    stream, kept = space.stream(extras=extras, start=part.start), []
    for images in sample_batches(models.dit, models.ae, models.mean, models.std, num=num_samples, start=part.start,
                                 stop=part.stop, num_classes=models.num_classes, conditional=models.conditional,
                                 steps=sample_steps, sampler=sampler, guidance=guidance, batch_size=batch_size,
                                 seed=int(models.cfg.seed), device=models.device, shape=models.shape,
                                 labels=labels):
        stream.add(images)
        if sum(map(len, kept)) < keep:
            kept.append(images[:keep - sum(map(len, kept))].clone())
    return stream.statistics(), (torch.cat(kept) if kept else torch.empty(0))


def evaluate_dit(dit_dir: str | Path, ae_dir: str | Path, reference: ReferenceStatistics, num_samples: int,
                 steps: int, sampler: str, guidance: float, batch_size: int, device: str = "auto",
                 grid_path: str | Path | None = None, gif_path: str | Path | None = None, labels: str = "uniform",
                 extra_metrics=()) -> pd.DataFrame:
    """One row per kept snapshot: step, metric (fid | fd_proxy | fvd | fvd_proxy), value, and one more column per
    extra metric (isc, precision, recall; *_proxy in the proxy spaces). The feature network is built once for all
    snapshots; each snapshot's samples are streamed into running sums (one shard)."""
    extra_metrics = check_extra_metrics(extra_metrics)
    models = load_sampling_models(dit_dir, ae_dir, device)
    space = feature_space_for(reference.fd, cuda=models.device.type == "cuda", extra_metrics=extra_metrics)
    ref = reference.get(space)
    real = reference.features(space, num_samples) if "prc" in extra_metrics else None
    rows = []
    for step in models.steps:
        last = grid_path is not None and step == models.steps[-1]
        extras = (SampleExtras(kind=space.kind, metrics=extra_metrics, num_total=num_samples)
                  if extra_metrics else None)
        stats, kept = snapshot_statistics(models, space, step=step, num_samples=num_samples, sample_steps=steps,
                                          sampler=sampler, guidance=guidance, batch_size=batch_size,
                                          keep=GRID_SAMPLES if last else 0, labels=labels, extras=extras)
        rows.append({"step": step, "metric": metric_name(reference.fd["kind"], "fid"),
                     "value": frechet_from_statistics(stats.mu_sigma(), ref),
                     **(extras.scores(real, device=models.device) if extras else {})})
        if last:
            save_samples(kept, grid_path, gif_path or Path(grid_path).with_suffix(".gif"))
    return pd.DataFrame(rows)


def sample_statistics_shard(*, dit_dir: str | Path, ae_dir: str | Path, fd: dict, step: int, num_samples: int,
                            shard_index: int, num_shards: int, sample_steps: int, sampler: str, guidance: float,
                            batch_size: int, out_path: str | Path, device: str = "auto",
                            grid_path: str | Path | None = None, gif_path: str | Path | None = None,
                            labels: str = "uniform", extra_metrics=()) -> Path:
    """One job of a sharded evaluation: the running feature sums of one shard of one snapshot's samples, saved
    (merge with score_sample_shards). Shard 0 can write the snapshot's sample figure. With `extra_metrics` the
    file also holds the shard's Inception Score sums and/or its features (merge with extra_scores_of_shards)."""
    extra_metrics = check_extra_metrics(extra_metrics)
    models = load_sampling_models(dit_dir, ae_dir, device)
    space = feature_space_for(fd, cuda=models.device.type == "cuda", extra_metrics=extra_metrics)
    keep = GRID_SAMPLES if grid_path is not None else 0
    extras = SampleExtras(kind=space.kind, metrics=extra_metrics, num_total=num_samples) if extra_metrics else None
    stats, kept = snapshot_statistics(models, space, step=step, num_samples=num_samples, sample_steps=sample_steps,
                                      sampler=sampler, guidance=guidance, batch_size=batch_size,
                                      shard_index=shard_index, num_shards=num_shards, keep=keep, labels=labels,
                                      extras=extras)
    if keep:
        save_samples(kept, grid_path, gif_path or Path(grid_path).with_suffix(".gif"))
    return stats.save(out_path, metadata={"step": str(step), "shard_index": str(shard_index),
                                          "num_shards": str(num_shards), "num_samples": str(num_samples)},
                      extra=extras.state() if extras else None)


def score_sample_shards(*, shard_paths: list[str | Path], reference: ReferenceStatistics, space: FeatureSpace | None
                        = None) -> float:
    """The Fréchet distance of one snapshot from the saved sums of all its sample shards (exactly as one pass)."""
    return frechet_from_statistics(merge_statistics(list(shard_paths)).mu_sigma(), reference.get(space))


def extra_scores_of_shards(*, shard_paths: list[str | Path], reference: ReferenceStatistics, space: FeatureSpace,
                           extra_metrics, num_samples: int, device: str | torch.device = "cpu") -> dict[str, float]:
    """The extra columns (isc, precision, recall; metrics/sample_quality) of one snapshot from all its sample shards
    (written by sample_statistics_shard with the same `extra_metrics`); precision/recall read the features of the
    first `num_samples` reference images through `space` (the same as the unsharded evaluate_dit)."""
    extra_metrics = check_extra_metrics(extra_metrics)
    extras = SampleExtras.merge_states([load_file(str(p)) for p in shard_paths], kind=space.kind,
                                       metrics=extra_metrics, num_total=num_samples)
    real = reference.features(space, num_samples) if "prc" in extra_metrics else None
    return extras.scores(real, device=device)


def export_adm_samples(*, dit_dir: str | Path, ae_dir: str | Path, num_samples: int, sample_steps: int, sampler: str,
                       guidance: float, batch_size: int, out_path: str | Path, step: int | None = None,
                       device: str = "auto", labels: str = "uniform") -> Path:
    """One snapshot's samples (the final one by default) as an ADM sample batch `.npz` (`arr_0`: uint8 N x H x W x 3;
    `arr_1`: the class labels of a class-conditional DiT), streamed, for ADM's evaluation suite; the same samples the
    snapshot's score uses (with the same `labels`: uniform | balanced)."""
    from .adm import AdmSampleWriter
    from .sampling import sample_inputs
    models = load_sampling_models(dit_dir, ae_dir, device)
    step = models.steps[-1] if step is None else int(step)
    models.dit.load_state_dict(load_file(str(snapshot_path(models.dir, step)), device=str(models.device)))
    seed, writer = int(models.cfg.seed), None
    batches = sample_batches(models.dit, models.ae, models.mean, models.std, num=num_samples, start=0,
                             stop=num_samples, num_classes=models.num_classes, conditional=models.conditional,
                             steps=sample_steps, sampler=sampler, guidance=guidance, batch_size=batch_size,
                             seed=seed, device=models.device, shape=models.shape, labels=labels)
    # the labels of the same batches (sample_inputs is what sample_batches draws them from)
    inputs = sample_inputs(seed, num_samples, models.shape, models.num_classes if models.conditional else 1, 0,
                           num_samples, batch_size, labels=labels)
    try:
        for images, (_, y) in zip(batches, inputs):
            if images.ndim != 4:
                raise ValueError("ADM sample batches hold images: a video DiT's clips cannot be exported")
            writer = writer or AdmSampleWriter(out_path, num_samples, images.shape[2], images.shape[3],
                                               labels=models.conditional)
            writer.write(images, y if models.conditional else None)
    except BaseException as err:
        if writer is not None:
            writer.abort(err)
        raise
    return writer.close()
