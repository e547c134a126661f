"""Progressive high-frequency erasure (paper Fig. 5).

For each fraction f of the zigzag spectrum removed, erase the top-f DCT coefficients of every block of
(a) the RGB image (blocks B x compression wide, so a block covers the same image area as a latent block; our
choice), and (b) each AE's latent (B x B blocks), decoding it back. Reconstruction PSNR against the original image
shows how much of each signal's information lives in its high frequencies: little for RGB, much for a plain AE's
latent, less after SE.
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from ..dct import erase_high_frequencies
from ..runtime import resolve_device, set_threads
from .perceptual import psnr, ssim
from .spectra import encode_batched, load_trained_autoencoder, validation_images


def _to_uint8_rows(img: torch.Tensor, size: int, **keys) -> pd.DataFrame:
    """An image (3, H, W) in [-1, 1] as tidy pixel rows (y, x, r, g, b), resized to at most `size` for display."""
    if img.shape[-1] > size:
        img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    arr = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    h, w = arr.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return pd.DataFrame({**keys, "y": yy.flatten().numpy(), "x": xx.flatten().numpy(),
                         "r": arr[0].flatten().numpy(), "g": arr[1].flatten().numpy(),
                         "b": arr[2].flatten().numpy()})


@torch.no_grad()
def erasure_study(run_dirs: dict[str, str], fractions: list[float], latent_block: int, num_images: int,
                  grid_images: int, grid_size: int, device: str = "auto"):
    """PSNR/SSIM vs fraction erased for RGB and for each AE in `run_dirs` (label -> run folder).

    Returns (curves, grid): curves has one row per (method, erase_fraction); grid holds the first `grid_images`
    images of every (method, fraction) as pixel rows for the figure.
    """
    dev = resolve_device(device)
    rows, grid = [], []
    x = None
    for label, run_dir in run_dirs.items():
        ae, cfg = load_trained_autoencoder(run_dir, dev)
        set_threads(cfg.get("threads"))
        if x is None:
            x = validation_images(cfg.data, num_images)
            compression = 2 ** (len(ae.config.block_out_channels) - 1)
            for f in fractions:
                xe = erase_high_frequencies(x, latent_block * compression, f).clamp(-1, 1)
                rows.append({"method": "rgb", "erase_fraction": f, "psnr": float(psnr(xe, x).mean()),
                             "ssim": float(ssim(xe, x).mean()), "psnr_vs_clean": float(psnr(xe, x).mean())})
                grid += [_to_uint8_rows(xe[i], grid_size, method="rgb", erase_fraction=f, image=i)
                         for i in range(min(grid_images, len(x)))]
        z = encode_batched(ae, x, 32, sample=False).cpu()  # erased on the CPU, beside the RGB images
        clean = None
        for f in sorted(fractions):
            ze = erase_high_frequencies(z, latent_block, f)
            rec = torch.cat([ae.decode(ze[i:i + 32].to(dev)).sample.float().cpu() for i in range(0, len(ze), 32)])
            rec = rec.clamp(-1, 1)
            # The AE's own reconstruction error is not the erasure's doing: psnr_vs_clean compares with the decode
            # of the untouched latent, as RGB's compares with the untouched image.
            clean = rec if f == 0 else clean
            rows.append({"method": label, "erase_fraction": f, "psnr": float(psnr(rec, x).mean()),
                         "ssim": float(ssim(rec, x).mean()),
                         "psnr_vs_clean": float(psnr(rec, clean).mean()) if clean is not None else float("nan")})
            grid += [_to_uint8_rows(rec[i], grid_size, method=label, erase_fraction=f, image=i)
                     for i in range(min(grid_images, len(x)))]
    curves = pd.DataFrame(rows)
    base = curves[curves.erase_fraction == min(fractions)].set_index("method")["psnr"]
    curves["psnr_drop"] = curves["method"].map(base) - curves["psnr"]
    originals = [_to_uint8_rows(x[i], grid_size, method="original", erase_fraction=0.0, image=i)
                 for i in range(min(grid_images, len(x)))]
    return curves, pd.concat(originals + grid, ignore_index=True)
