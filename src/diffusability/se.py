"""Scale-equivariance (SE) regularisation (paper Sec. 3).

During a short fine-tune, the image x and its latent z = E(x) are downsampled the same way by a factor s drawn per
batch, and the decoder is also trained to reconstruct the small image from the small latent:

    L = L_rec(D(z), x) + weight * L_rec(D(down_s(z)), down_s(x))

with the same reconstruction mixture in both terms (the authors' code). Gradients reach the encoder through z
unless the encoder is frozen. This pushes the latent to carry no more high-frequency content than the image, which
is what makes it easier to diffuse.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .dct import block_dct2, block_idct2, lowpass_mask

RESAMPLE_MODES = ("bilinear", "area", "dct_lowpass")


def downsample(x: torch.Tensor, factor: int, mode: str, block: int = 8) -> torch.Tensor:
    """Reduce the resolution (or the bandwidth) of x (N, C, H, W) by `factor`.

    bilinear: bilinear resize, align_corners=True and no antialias (the authors' choice);
    area: average pooling over factor x factor cells;
    dct_lowpass: keep the lowest 1/factor^2 of zigzag DCT coefficients in each `block` x `block` block and transform
    back, at the original size (the band limit of a factor-s downsampling, without changing the shape).
    """
    if factor == 1:
        return x
    if mode == "bilinear":
        size = (x.shape[-2] // factor, x.shape[-1] // factor)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True, antialias=False)
    if mode == "area":
        return F.avg_pool2d(x, factor)
    if mode == "dct_lowpass":
        coeffs = block_dct2(x, block)
        keep = lowpass_mask(block, 1.0 / factor**2, device=x.device).to(coeffs.dtype)
        return block_idct2(coeffs * keep, block)
    raise ValueError(f"unknown se.mode {mode!r}; use one of {', '.join(RESAMPLE_MODES)}")


class ScaleEquivariance:
    """The SE term as a training regulariser: `se(ae=..., x=..., z=..., step=..., recon_loss=...)`.

    weight:       multiplier of the SE reconstruction term (0 gives the FT control: same fine-tune, no SE)
    factors:      downsampling factors; one is drawn per batch from a generator seeded by (seed, step)
    mode:         one of RESAMPLE_MODES
    latent_block: DCT block for the latent in dct_lowpass mode; the image uses latent_block * compression
    use_lpips:    whether LPIPS (when available) enters the SE term as it does the main term
    """

    def __init__(self, weight: float, factors, mode: str = "bilinear", compression: int = 8,
                 latent_block: int = 8, use_lpips: bool = True, seed: int = 0):
        if mode not in RESAMPLE_MODES:
            raise ValueError(f"unknown se.mode {mode!r}; use one of {', '.join(RESAMPLE_MODES)}")
        if not factors or any(int(f) < 2 for f in factors):
            raise ValueError(f"se.factors must be integers >= 2, got {list(factors)}")
        self.weight, self.factors, self.mode = float(weight), [int(f) for f in factors], mode
        self.compression, self.latent_block = int(compression), int(latent_block)
        self.use_lpips, self.seed = bool(use_lpips), int(seed)

    def factor_at(self, step: int) -> int:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(step) + 7)
        return self.factors[int(torch.randint(len(self.factors), (1,), generator=gen))]

    def pair(self, x: torch.Tensor, z: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(down(x), down(z)) resampled the same way."""
        x_small = downsample(x, factor, self.mode, self.latent_block * self.compression)
        z_small = downsample(z, factor, self.mode, self.latent_block)
        return x_small, z_small

    def __call__(self, *, ae, x: torch.Tensor, z: torch.Tensor, step: int, recon_loss):
        if self.weight == 0:
            return x.new_zeros(()), {"se": 0.0}
        x_small, z_small = self.pair(x, z, self.factor_at(step))
        rec = ae.decode(z_small).sample.float()
        if self.use_lpips or recon_loss.lpips_net is None:
            term = recon_loss(rec, x_small)["recon"]
        else:
            diff = rec - x_small
            term = recon_loss.l1 * diff.abs().mean() + recon_loss.l2 * diff.square().mean()
        return self.weight * term, {"se": float(term.detach())}
