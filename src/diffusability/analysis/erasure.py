"""Progressive high-frequency erasure (paper Fig. 5).

For each fraction f of the zigzag spectrum removed, erase the top-f DCT coefficients of every block of
(a) the RGB image (blocks B x compression wide, so a block covers the same image area as a latent block; our
choice), and (b) each AE's latent (B x B blocks), decoding it back. Reconstruction PSNR against the original image
shows how much of each signal's information lives in its high frequencies: little for RGB, much for a plain AE's
latent, less after SE.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..dct import erase_high_frequencies
from ..presets import ae_compression
from ..runtime import resolve_device, set_threads
from ..sheets import Sheet
from .perceptual import psnr, ssim
from .spectra import encode_batched, load_trained_autoencoder, validation_images


def _shown(img: torch.Tensor, size: int):
    """An image (3, H, W) in [-1, 1] as uint8 (H, W, 3), downsized to at most `size` pixels for display."""
    if img.shape[-1] > size:
        img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    return ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


@torch.no_grad()
def erasure_study(run_dirs: dict[str, str], fractions: list[float], latent_block: int, num_images: int,
                  grid_images: int, grid_size: int, batch_size: int, device: str = "auto"):
    """PSNR/SSIM vs fraction erased for RGB and for each AE in `run_dirs` (label -> run folder).

    Returns (curves, sheet): curves has one row per (method, erase_fraction); the sheet shows the first
    `grid_images` images of every method (rows) at every fraction (columns) for the figure. `batch_size` images are
    encoded or decoded at once.
    """
    dev = resolve_device(device)
    rows, examples = [], []  # examples: (method, {fraction: its first grid_images images})
    x = None
    for label, run_dir in run_dirs.items():
        ae, cfg = load_trained_autoencoder(run_dir, dev)
        set_threads(cfg.get("threads"))
        if x is None:
            x = validation_images(cfg.data, num_images)
            shown = {}
            for f in fractions:
                xe = erase_high_frequencies(x, latent_block * ae_compression(ae.config.block_out_channels), f)
                xe = xe.clamp(-1, 1)
                rows.append({"method": "rgb", "erase_fraction": f, "psnr": float(psnr(xe, x).mean()),
                             "ssim": float(ssim(xe, x).mean()), "psnr_vs_clean": float(psnr(xe, x).mean())})
                shown[f] = xe[:grid_images]
            examples.append(("rgb", shown))
        z = encode_batched(ae, x, batch_size, sample=False).cpu()  # erased on the CPU, beside the RGB images

        def decode_erased(f: float, z=z, ae=ae) -> torch.Tensor:
            ze = erase_high_frequencies(z, latent_block, f)
            return torch.cat([ae.decode(ze[i:i + batch_size].to(dev)).sample.float().cpu()
                              for i in range(0, len(ze), batch_size)]).clamp(-1, 1)

        # The AE's own reconstruction error is not the erasure's doing: psnr_vs_clean compares with the decode of
        # the un-erased latent, as RGB's compares with the un-erased image (whether or not 0 is a swept fraction).
        clean = decode_erased(0.0)
        shown = {}
        for f in sorted(fractions):
            rec = clean if f == 0 else decode_erased(f)
            rows.append({"method": label, "erase_fraction": f, "psnr": float(psnr(rec, x).mean()),
                         "ssim": float(ssim(rec, x).mean()), "psnr_vs_clean": float(psnr(rec, clean).mean())})
            shown[f] = rec[:grid_images]
        examples.append((label, shown))
    curves = pd.DataFrame(rows)
    base = curves[curves.erase_fraction == min(fractions)].set_index("method")["psnr"]
    curves["psnr_drop"] = curves["method"].map(base) - curves["psnr"]
    columns = sorted(fractions)
    labels, tiles = [], []
    for method, shown in examples:
        for i in range(len(shown[columns[0]])):
            labels.append({"method": method, "image": i})
            tiles.append(np.stack([_shown(shown[f][i], grid_size) for f in columns]))
    return curves, Sheet(np.stack(tiles), labels, [{"erase_fraction": float(f)} for f in columns])
