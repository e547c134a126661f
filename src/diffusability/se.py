"""Scale-equivariance (SE) regularisation (paper Sec. 3).

During a short fine-tune, the image x and its latent z = E(x) are downsampled the same way by a factor s drawn per
batch, and the decoder is also trained to reconstruct the small image from the small latent:

    L = L_rec(D(z), x) + weight * L_rec(D(down_s(z)), down_s(x))

with the same reconstruction mixture in both terms (the authors' code). The `random_cut` mode is the authors' other
regulariser of the same term, the high-frequency cutoff of the paper's Fig. 5 (third row): per batch a ratio r is
drawn uniformly in [0, cut_max_ratio], the top r share of zigzag DCT coefficients is zeroed in every block of the
latent (B x B) and of the image (B*compression square: the same image area), and the decoder learns to reconstruct
the cut image from the cut latent, which makes it rely on the latent's low frequencies. Gradients reach the encoder
through z unless the encoder is frozen. Video (N, C, T, H, W) is downsampled per frame in space; optionally also in time
(`temporal_factors`), by averaging frames in groups and keeping the first frame on its own, as a causal video AE
encodes it alone (paper Sec. 5: SE for CogVideoX-AE). This pushes the latent to carry no more high-frequency content than the image, which
is what makes it easier to diffuse.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .dct import block_dct2, block_idct2, erase_high_frequencies, lowpass_mask
from .runtime import stream_generator

RESAMPLE_MODES = ("bilinear", "area", "dct_lowpass", "random_cut")
CUT_STREAM = 13  # stream-key offset of the per-step cut ratio (factor draws use 7, time factors 11)


def cut_pair(x: torch.Tensor, z: torch.Tensor, ratio: float, latent_block: int,
             compression: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, z) with the top `ratio` share of zigzag DCT coefficients zeroed in every block: latent blocks of
    `latent_block`, image blocks of latent_block * compression (each covers the image area of one latent block).
    Video is cut per frame (the block DCT runs over the last two axes)."""
    return (erase_high_frequencies(x, latent_block * compression, ratio),
            erase_high_frequencies(z, latent_block, ratio))


def downsample(x: torch.Tensor, factor: int, mode: str, block: int = 8) -> torch.Tensor:
    """Reduce the resolution (or the bandwidth) of x (N, C, H, W), or of every frame of (N, C, T, H, W), by `factor`.

    bilinear: bilinear resize, align_corners=True and no antialias (the authors' choice);
    area: average pooling over factor x factor cells;
    dct_lowpass: keep the lowest 1/factor^2 of zigzag DCT coefficients in each `block` x `block` block and transform
    back, at the original size (the band limit of a factor-s downsampling, without changing the shape).
    (random_cut has no factor: see `cut_pair`.)
    """
    if factor == 1:
        return x
    if x.ndim == 5:
        n, c, t, h, w = x.shape
        y = downsample(x.transpose(1, 2).reshape(n * t, c, h, w), factor, mode, block)
        return y.view(n, t, c, *y.shape[-2:]).transpose(1, 2)
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


def temporal_downsample(x: torch.Tensor, factor: int, keep_first: bool = True) -> torch.Tensor:
    """Average frames of x (N, C, T, H, W) in groups of `factor`; with keep_first the first frame stays on its own
    (a causal AE maps 1 + k*t frames to 1 + k latents, so the pooled clip and pooled latent still correspond)."""
    if factor == 1:
        return x
    head, rest = (x[:, :, :1], x[:, :, 1:]) if keep_first else (x[:, :, :0], x)
    if rest.shape[2] % factor:
        raise ValueError(f"se.temporal_factors: {rest.shape[2]} frames{' after the first' if keep_first else ''} "
                         f"cannot be pooled in groups of {factor}")
    n, c, t, h, w = rest.shape
    return torch.cat([head, rest.view(n, c, t // factor, factor, h, w).mean(3)], dim=2)


class ScaleEquivariance:
    """The SE term as a training regulariser: `se(ae=..., x=..., z=..., step=..., recon_loss=...)`.

    weight:       multiplier of the SE reconstruction term (0 gives the FT control: same fine-tune, no SE)
    factors:      downsampling factors; one is drawn per batch from a generator seeded by (seed, step)
    mode:         one of RESAMPLE_MODES (random_cut: the high-frequency cutoff; `factors` then unused)
    latent_block: DCT block for the latent in dct_lowpass / random_cut mode; the image uses latent_block * compression
    cut_max_ratio: random_cut only: the cut ratio is drawn uniformly in [0, cut_max_ratio] per batch
    use_lpips:    whether LPIPS (when available) enters the SE term as it does the main term
    temporal_factors: video only: time factors, one drawn per batch (1 = this batch keeps all frames); [] = none
    keep_first_frame: video only: the first frame is not pooled with others (causal AEs)
    """

    def __init__(self, weight: float, factors, mode: str = "bilinear", compression: int = 8,
                 latent_block: int = 8, use_lpips: bool = True, seed: int = 0, temporal_factors=(),
                 keep_first_frame: bool = True, cut_max_ratio: float = 0.0):
        if mode not in RESAMPLE_MODES:
            raise ValueError(f"unknown se.mode {mode!r}; use one of {', '.join(RESAMPLE_MODES)}")
        if mode == "random_cut":
            if not 0.0 < float(cut_max_ratio) < 1.0:
                raise ValueError(f"se.cut_max_ratio must be in (0, 1) for se.mode random_cut, got {cut_max_ratio}")
        elif not factors or any(int(f) < 2 for f in factors):
            raise ValueError(f"se.factors must be integers >= 2, got {list(factors)}")
        self.cut_max_ratio = float(cut_max_ratio)
        self.weight, self.factors, self.mode = float(weight), [int(f) for f in factors], mode
        self.compression, self.latent_block = int(compression), int(latent_block)
        self.use_lpips, self.seed = bool(use_lpips), int(seed)
        if any(int(f) < 1 for f in temporal_factors):
            raise ValueError(f"se.temporal_factors must be integers >= 1, got {list(temporal_factors)}")
        self.temporal_factors, self.keep_first = [int(f) for f in temporal_factors], bool(keep_first_frame)

    def factor_at(self, step: int) -> int:
        gen = stream_generator(self.seed, int(step) + 7)
        return self.factors[int(torch.randint(len(self.factors), (1,), generator=gen))]

    def cut_ratio_at(self, step: int) -> float:
        """random_cut: the share of zigzag coefficients cut at `step`, uniform in [0, cut_max_ratio], drawn from the
        run's stream for that step (a resumed run redraws it; CPU runs stay bitwise repeatable)."""
        gen = stream_generator(self.seed, int(step) + CUT_STREAM)
        return self.cut_max_ratio * float(torch.rand((), generator=gen, dtype=torch.float64))

    def temporal_factor_at(self, step: int) -> int:
        if not self.temporal_factors:
            return 1
        gen = stream_generator(self.seed, int(step) + 11)
        return self.temporal_factors[int(torch.randint(len(self.temporal_factors), (1,), generator=gen))]

    def pair(self, x: torch.Tensor, z: torch.Tensor, factor: int,
             time_factor: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(down(x), down(z)) resampled the same way (video: also pooled in time by `time_factor`)."""
        x_small = downsample(x, factor, self.mode, self.latent_block * self.compression)
        z_small = downsample(z, factor, self.mode, self.latent_block)
        return self._pool_time(x_small, z_small, time_factor)

    def _pool_time(self, x: torch.Tensor, z: torch.Tensor, time_factor: int) -> tuple[torch.Tensor, torch.Tensor]:
        if time_factor == 1:
            return x, z
        return (temporal_downsample(x, time_factor, self.keep_first),
                temporal_downsample(z, time_factor, self.keep_first))

    def __call__(self, *, ae, x: torch.Tensor, z: torch.Tensor, step: int, recon_loss):
        if self.weight == 0:
            return x.new_zeros(()), {"se": 0.0}
        time_factor = self.temporal_factor_at(step) if x.ndim == 5 else 1
        if self.mode == "random_cut":
            x_small, z_small = self._pool_time(*cut_pair(x, z, self.cut_ratio_at(step), latent_block=self.latent_block,
                                                         compression=self.compression), time_factor)
        else:
            x_small, z_small = self.pair(x, z, self.factor_at(step), time_factor)
        rec = ae.decode(z_small).sample.float()
        if rec.shape != x_small.shape:
            raise ValueError(f"se.temporal_factors: the pooled latent decodes to {rec.shape[2]} frames, not the "
                             f"{x_small.shape[2]} of the pooled clip; use data.frames = 1 + k*t with the pooled "
                             "latent length odd (CogVideoX: e.g. 17 frames with factor 2)")
        if self.use_lpips or recon_loss.lpips_net is None:
            term = recon_loss(rec, x_small)["recon"]
        else:
            diff = rec - x_small
            term = recon_loss.l1 * diff.abs().mean() + recon_loss.l2 * diff.square().mean()
        return self.weight * term, {"se": float(term.detach())}
