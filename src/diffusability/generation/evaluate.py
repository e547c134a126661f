"""Sample a trained DiT at each kept snapshot, decode with its AE and score the samples (paper Fig. 1, Table 1;
for video the same with FVD).

The score is the Fréchet distance to a reference split in the configured feature space: FID with real Inception
weights, else `fd_proxy` with the offline proxy network. The reference statistics are computed once per dataset
and feature space, saved, and reused for every checkpoint and every model (generation/reference.py).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from ..analysis.spectra import load_trained_autoencoder
from ..diffusion.flow import sample_flow
from ..metrics.frechet import FeatureSpace, frechet_from_statistics, metric_name, to_uint8
from ..models.dit import dit_forward, null_class
from ..provenance import atomic_write
from ..runtime import resolve_device, set_threads
from ..train.dit import build_dit_for_cache, snapshot_path, snapshot_steps
from .latents import load_latents, normalisation
from .reference import ReferenceStatistics

__all__ = ["evaluate_dit", "generate_images", "save_samples"]


@torch.no_grad()
def generate_images(dit, ae, mean, std, *, num: int, num_classes: int, conditional: bool, steps: int, sampler: str,
                    guidance: float, batch_size: int, seed: int, device, shape: tuple[int, ...]) -> torch.Tensor:
    """`num` decoded samples (images or clips) in [-1, 1] from latents of `shape`; noise and labels depend only on
    `seed` (the same for every snapshot)."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((num, *shape), generator=gen)
    labels = torch.randint(num_classes if conditional else 1, (num,), generator=gen)
    null = null_class(num_classes if conditional else 1)
    out = []
    for i in range(0, num, batch_size):
        z = sample_flow(lambda x, t, y: dit_forward(dit, x, t, y).float(), noise[i:i + batch_size].to(device),
                        labels[i:i + batch_size].to(device), steps, sampler, guidance, null)
        out.append(ae.decode(z * std + mean).sample.clamp(-1, 1).float().cpu())
    return torch.cat(out)


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


def evaluate_dit(dit_dir: str | Path, ae_dir: str | Path, reference: ReferenceStatistics, num_samples: int,
                 steps: int, sampler: str, guidance: float, batch_size: int, device: str = "auto",
                 grid_path: str | Path | None = None, gif_path: str | Path | None = None) -> pd.DataFrame:
    """One row per kept snapshot: step, metric (fid | fd_proxy | fvd | fvd_proxy), value. The feature network is
    built once for all snapshots."""
    dev = resolve_device(device)
    dit_dir = Path(dit_dir)
    cfg = OmegaConf.load(dit_dir / "config.yaml")
    set_threads(cfg.get("threads"))
    cache, num_classes = load_latents(cfg.latents)
    mean, std = (t.to(dev) for t in normalisation(cache, cfg.latent_norm))
    conditional = bool(cfg.model.conditional)
    dit = build_dit_for_cache(cfg.model, cache, num_classes if conditional else 1).to(dev).eval()
    ae, _ = load_trained_autoencoder(ae_dir, dev)
    space = FeatureSpace(reference.fd["kind"], reference.fd["weights"], cuda=dev.type == "cuda")
    ref = reference.get(space)
    steps_kept = snapshot_steps(cfg)
    rows = []
    for step in steps_kept:
        dit.load_state_dict(load_file(str(snapshot_path(dit_dir, step)), device=str(dev)))
        images = generate_images(dit, ae, mean, std, num=num_samples, num_classes=num_classes,
                                 conditional=conditional, steps=steps, sampler=sampler, guidance=guidance,
                                 batch_size=batch_size, seed=int(cfg.seed), device=dev,
                                 shape=tuple(cache["latents"].shape[1:]))
        rows.append({"step": step, "metric": metric_name(reference.fd["kind"], "fid"),
                     "value": frechet_from_statistics(space.statistics(images), ref)})
        if grid_path is not None and step == steps_kept[-1]:
            save_samples(images, grid_path, gif_path or Path(grid_path).with_suffix(".gif"))
    return pd.DataFrame(rows)
