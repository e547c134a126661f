"""Reconstruction quality of a trained autoencoder on the validation split: PSNR, SSIM, LPIPS (when present).
Clips are scored per frame (the means run over every frame of every clip)."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..metrics.frechet import frechet_distance, metric_name, to_uint8
from ..runtime import resolve_device, set_threads
from .perceptual import load_lpips, psnr, ssim
from .spectra import encode_batched, load_trained_autoencoder, validation_images


@torch.no_grad()
def evaluate_reconstruction(run_dir: str | Path, num_images: int, batch_size: int, device: str = "auto",
                            fd: dict | None = None) -> dict[str, float]:
    """Mean PSNR/SSIM/LPIPS of decode(posterior mean) vs the image, plus the latent mean/std (for diffusion).

    With `fd` = {"kind": ..., "weights": path}, also the reconstruction Fréchet distance between reconstructions and
    originals, named by metrics.frechet.metric_name: rfid | rfid_proxy (images), rfvd | rfvd_proxy (clips).
    """
    dev = resolve_device(device)
    ae, cfg = load_trained_autoencoder(run_dir, dev)
    set_threads(cfg.get("threads"))
    x = validation_images(cfg.data, num_images)
    z = encode_batched(ae, x, batch_size, sample=False).cpu()  # the latent statistics below are taken on the CPU
    lp = load_lpips()
    scores = {"psnr": [], "ssim": [], "lpips": []}
    recons = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev)
        rec = ae.decode(z[i:i + batch_size].to(dev)).sample.clamp(-1, 1)
        recons.append(to_uint8(rec).cpu())
        if rec.ndim == 5:  # clips: every frame is an image
            rec, xb = (v.transpose(1, 2).flatten(0, 1) for v in (rec, xb))
        scores["psnr"].append(psnr(rec, xb).cpu())
        scores["ssim"].append(ssim(rec, xb).cpu())
        if lp is not None:
            scores["lpips"].append(lp.to(dev)(rec, xb).flatten().cpu())
    out = {k: float(torch.cat(v).mean()) if v else math.nan for k, v in scores.items()}
    out.update(num_images=len(x), latent_mean=float(z.mean()), latent_std=float(z.std()))
    if fd is not None:
        rec_all = torch.cat(recons).float() / 127.5 - 1.0
        out[metric_name(fd["kind"], "rfid")] = frechet_distance(rec_all, x, fd["kind"], fd["weights"],
                                                                cuda=dev.type == "cuda")
    return out


