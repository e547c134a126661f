"""Encode a training split (images or clips) once per autoencoder, so DiT training never runs the encoder in its loop.

The cache holds posterior samples (what diffusion models), their labels, and the normalisation statistics of the
authors' code: mean/std per latent position (C, H, W) or (C, T, H, W), estimated from the first `norm_samples` latents. Per-channel
statistics are stored beside them for the `channel` option.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..analysis.spectra import load_trained_autoencoder
from ..data import build_dataset
from ..provenance import save_tensors
from ..runtime import resolve_device, set_threads

__all__ = ["encode_training_latents", "load_latents", "normalisation"]


def _train_items(data_cfg, num: int | None, seed: int):
    """The first `num` training items (random crops for photos, the whole or a prefix of a folder)."""
    ds = build_dataset(data_cfg, "train", seed)
    try:
        total = len(ds)
    except TypeError:  # photo crops are indexed by an unbounded key
        if num is None:
            raise ValueError("dit.num_latents must be set for the photos dataset (it has no fixed size)") from None
        total = num
    n = total if num is None else min(num, total)
    return ds, n


@torch.no_grad()
def encode_training_latents(run_dir: str | Path, out_path: str | Path, num_latents: int | None, norm_samples: int,
                            batch_size: int, seed: int, device: str = "auto", threads: int | None = None) -> dict:
    """Write `out_path` (safetensors): latents (N, C, h, w), labels (N,), mean/std per position and per channel."""
    dev = resolve_device(device)
    set_threads(threads)
    ae, cfg = load_trained_autoencoder(run_dir, dev)
    ds, n = _train_items(cfg.data, num_latents, seed)
    gen = torch.Generator(device=dev).manual_seed(seed)
    zs, ys = [], []
    for start in range(0, n, batch_size):
        items = [ds[i] for i in range(start, min(n, start + batch_size))]
        x = torch.stack([a for a, _ in items]).to(dev)
        zs.append(ae.encode(x).latent_dist.sample(generator=gen).float().cpu())
        ys.extend(int(b) for _, b in items)
    z = torch.cat(zs)
    ref = z[:norm_samples]
    per_channel = (0, *range(2, z.ndim))
    keep = (-1, *[1] * (z.ndim - 2))
    tensors = {
        "latents": z.contiguous(), "labels": torch.tensor(ys, dtype=torch.int64),
        "mean_position": ref.mean(0), "std_position": ref.std(0),
        "mean_channel": ref.mean(per_channel).view(keep).contiguous(),
        "std_channel": ref.std(per_channel).view(keep).contiguous(),
    }
    num_classes = len(getattr(ds, "classes", None) or ds.photos)
    save_tensors(out_path, tensors, metadata={"run_dir": str(run_dir), "seed": str(seed),
                                              "num_classes": str(num_classes)})
    return {"num_latents": len(z), "shape": list(z.shape[1:]), "num_classes": num_classes}


def load_latents(path: str | Path) -> tuple[dict[str, torch.Tensor], int]:
    """The cache's tensors and its number of classes."""
    if not Path(path).exists():
        raise FileNotFoundError(f"latent cache {path} does not exist (run the encode_latents rule first)")
    with safe_open(str(path), "pt") as f:
        num_classes = int(f.metadata()["num_classes"])
    return load_file(str(path)), num_classes


def normalisation(cache: dict[str, torch.Tensor], mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) to map latents to roughly unit scale: `position` (authors' code) | `channel` | `global`."""
    if mode == "position":
        return cache["mean_position"], cache["std_position"].clamp_min(1e-6)
    if mode == "channel":
        return cache["mean_channel"], cache["std_channel"].clamp_min(1e-6)
    if mode == "global":
        z = cache["latents"]
        keep = [1] * (z.ndim - 1)
        return z.mean().view(keep), z.std().view(keep)
    raise ValueError(f"unknown dit.latent_norm {mode!r}; use position, channel or global")
