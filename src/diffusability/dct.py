"""Block-wise 2-D DCT, zigzag ordering and frequency profiles (paper Sec. 2, Figs. 2-5).

The paper measures how much high-frequency content an autoencoder latent carries by taking an orthonormal
DCT-II of non-overlapping B x B blocks of every channel (and frame), reading the coefficients in JPEG zigzag
order and averaging their amplitudes over blocks, channels and images.

Implementation note: a 2-D DCT of a B x B block is a linear map on its B*B pixels with matrix kron(D, D), where D
is the 1-D orthonormal DCT-II matrix. We permute that matrix's rows into zigzag order once, so that the whole
transform of a tensor is one block-layout copy plus one GEMM, and its output is already in zigzag order. That is
what lets it run next to the encoder, on the device the latents are on (a GPU at paper scale).
"""
from __future__ import annotations

import functools
import math

import torch

__all__ = [
    "dct_matrix", "zigzag_order", "block_dct2", "block_idct2", "frequency_profile", "lowpass_mask",
    "erase_high_frequencies",
]


def dct_matrix(n: int, dtype=torch.float64) -> torch.Tensor:
    """The n x n orthonormal DCT-II matrix D (row k is frequency k), so that X = D x D^T for a block x."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.to(dtype)


@functools.lru_cache(maxsize=None)
def zigzag_order(n: int) -> tuple[tuple[int, int], ...]:
    """JPEG zigzag order of an n x n block as (row, col) pairs: (0,0), (0,1), (1,0), (2,0), (1,1), (0,2), ...

    Anti-diagonal s = row + col is walked with row increasing when s is odd and decreasing when s is even.
    """
    order = []
    for s in range(2 * n - 1):
        rows = range(max(0, s - n + 1), min(s, n - 1) + 1)
        rows = rows if s % 2 == 1 else reversed(rows)
        order.extend((r, s - r) for r in rows)
    return tuple(order)


@functools.lru_cache(maxsize=32)
def _zigzag_kron(n: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    d = dct_matrix(n)
    perm = [r * n + c for r, c in zigzag_order(n)]
    return torch.kron(d, d)[perm].to(dtype=dtype, device=device).contiguous()


def _check_blocks(x: torch.Tensor, block: int) -> None:
    if x.ndim < 2:
        raise ValueError(f"block DCT needs at least 2 dims (..., H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if block < 1 or h % block or w % block:
        raise ValueError(f"spatial size {h}x{w} is not divisible by the DCT block size {block}")


def block_dct2(x: torch.Tensor, block: int) -> torch.Tensor:
    """Orthonormal 2-D DCT-II of non-overlapping block x block tiles over the last two axes.

    Returns shape (..., H/B, W/B, B*B): one zigzag-ordered coefficient vector per block. Every leading axis
    (batch, channel, frame) is transformed on its own.
    """
    _check_blocks(x, block)
    *lead, h, w = x.shape
    # The permute materialises the block layout; it is the one copy this transform makes.
    tiles = x.reshape(*lead, h // block, block, w // block, block).transpose(-3, -2)
    tiles = tiles.reshape(*lead, h // block, w // block, block * block)
    return tiles @ _zigzag_kron(block, x.dtype, str(x.device)).T


def block_idct2(coeffs: torch.Tensor, block: int) -> torch.Tensor:
    """Inverse of `block_dct2`: zigzag coefficients (..., H/B, W/B, B*B) back to pixels (..., H, W)."""
    *lead, nh, nw, bb = coeffs.shape
    if bb != block * block:
        raise ValueError(f"last axis has {bb} coefficients, expected {block * block} for block size {block}")
    tiles = coeffs @ _zigzag_kron(block, coeffs.dtype, str(coeffs.device))
    tiles = tiles.reshape(*lead, nh, nw, block, block).transpose(-3, -2)
    return tiles.reshape(*lead, nh * block, nw * block)


def frequency_profile(x: torch.Tensor, block: int, normalization: str = "dc_mean") -> dict[str, torch.Tensor]:
    """Zigzag frequency profile of a batch (N, C, H, W) (or (N, C, T, H, W)), averaged over everything else.

    Returns `amplitude` (mean |coefficient| per zigzag index, normalised as asked) and `energy` (mean squared
    coefficient per zigzag index, unnormalised; used for the HF share).

    normalization:
      - "dc_mean": divide the mean amplitude by the mean DC amplitude (curve starts at 1). Our default: dividing
        every block by its own DC (the literal per-block ratio) explodes wherever a zero-centred latent channel has
        a block mean near zero, which is common, and then a handful of blocks dominate the average.
      - "dc_block": the literal per-block ratio |c_k| / |c_0|, averaged (eps-guarded).
      - "none": raw mean amplitudes.

    Runs on x's device; the result (2 x B*B values) stays there.
    """
    if normalization not in ("dc_mean", "dc_block", "none"):
        raise ValueError(f"unknown spectrum normalization {normalization!r}; use dc_mean, dc_block or none")
    x = x.to(torch.float32)
    _check_blocks(x, block)
    h, w = x.shape[-2:]
    tiles = x.reshape(-1, h // block, block, w // block, block).transpose(-3, -2).reshape(-1, block * block)
    # Frequency-major output (B*B, blocks): the per-frequency reductions then run over contiguous memory, and the
    # GEMM reads the block layout through a transpose flag instead of a second copy.
    coeffs = _zigzag_kron(block, x.dtype, str(x.device)) @ tiles.T
    n = coeffs.shape[1]
    energy = torch.linalg.vector_norm(coeffs, 2, dim=1).square_() / n
    amp = coeffs.abs_()  # in place: the coefficients are not needed after this
    if normalization == "dc_mean":
        mean_amp = amp.sum(1) / n
        amplitude = mean_amp / mean_amp[0].clamp_min(torch.finfo(mean_amp.dtype).tiny)
    elif normalization == "dc_block":
        amplitude = (amp / amp[:1].clamp_min(1e-6)).mean(1)
    else:
        amplitude = amp.sum(1) / n
    return {"amplitude": amplitude, "energy": energy}


def lowpass_mask(block: int, keep_fraction: float, device=None) -> torch.Tensor:
    """Boolean mask over the B*B zigzag indices that keeps the lowest `keep_fraction` of them (DC always kept)."""
    keep = max(1, min(block * block, round(keep_fraction * block * block)))
    mask = torch.zeros(block * block, dtype=torch.bool, device=device)
    mask[:keep] = True
    return mask


def erase_high_frequencies(x: torch.Tensor, block: int, erase_fraction: float) -> torch.Tensor:
    """Zero the top `erase_fraction` of zigzag DCT coefficients in every block and transform back (Fig. 5)."""
    if not 0.0 <= erase_fraction < 1.0:
        raise ValueError(f"erase_fraction must be in [0, 1), got {erase_fraction}")
    coeffs = block_dct2(x, block)
    coeffs = coeffs * lowpass_mask(block, 1.0 - erase_fraction, device=x.device).to(coeffs.dtype)
    return block_idct2(coeffs, block)
