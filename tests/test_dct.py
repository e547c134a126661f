"""The block DCT against scipy, Parseval, a pure cosine landing in its bin, zigzag order, erasure."""
import math

import numpy as np
import pytest
import scipy.fft
import torch

from diffusability.analysis.hf_share import hf_energy_share
from diffusability.dct import block_dct2, block_idct2, erase_high_frequencies, frequency_profile, zigzag_order


def scipy_block_dct_zigzag(x: np.ndarray, b: int) -> np.ndarray:
    *lead, h, w = x.shape
    tiles = x.reshape(*lead, h // b, b, w // b, b)
    coeffs = scipy.fft.dctn(tiles, type=2, axes=(-3, -1), norm="ortho")
    return np.stack([coeffs[..., r, :, c] for r, c in zigzag_order(b)], axis=-1)


@pytest.mark.parametrize("block", [2, 4, 8])
def test_matches_scipy_float32(block):
    x = torch.randn(3, 4, 16, 24, generator=torch.Generator().manual_seed(0))
    ours = block_dct2(x, block).numpy()
    ref = scipy_block_dct_zigzag(x.double().numpy(), block)
    assert ours.shape == (3, 4, 16 // block, 24 // block, block * block)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_parseval_and_inverse():
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    c = block_dct2(x, 8)
    assert torch.allclose(c.square().sum(), x.square().sum(), rtol=1e-12)
    assert torch.allclose(block_idct2(c, 8), x, atol=1e-12)


@pytest.mark.parametrize("u,v", [(0, 1), (3, 2), (7, 7), (1, 5)])
def test_pure_cosine_lands_in_its_bin(u, v):
    b = 8
    n = torch.arange(b, dtype=torch.float64)
    row = torch.cos(math.pi * (2 * n + 1) * u / (2 * b))
    col = torch.cos(math.pi * (2 * n + 1) * v / (2 * b))
    block = row[:, None] * col[None, :]
    x = block.repeat(3, 5)  # a 24 x 40 image of identical blocks
    c = block_dct2(x, b).reshape(-1, b * b)
    k = zigzag_order(b).index((u, v))
    energy = c.square().sum(0)
    assert energy[k] / energy.sum() > 1 - 1e-12


def test_zigzag_is_jpeg_order():
    assert zigzag_order(8)[:10] == ((0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0))
    assert sorted(zigzag_order(8)) == [(r, c) for r in range(8) for c in range(8)]
    assert zigzag_order(8)[-1] == (7, 7)


def test_profile_normalisation_and_hf_share():
    smooth = torch.linspace(0, 1, 32)[None, None, :, None].expand(4, 3, 32, 32).contiguous()
    noise = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    p = frequency_profile(noise, 8)
    assert p["amplitude"][0] == pytest.approx(1.0)
    # White noise spreads energy evenly: half of the AC indices are in the upper half.
    assert hf_energy_share(p["energy"], exclude_dc=True) == pytest.approx(32 / 63, abs=0.05)
    assert hf_energy_share(frequency_profile(smooth, 8)["energy"], exclude_dc=True) < 1e-3


def test_erasure_keeps_lowpass_content():
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    assert torch.allclose(erase_high_frequencies(x, 8, 0.0), x, atol=1e-12)
    y = erase_high_frequencies(x, 8, 0.75)
    c = block_dct2(y, 8)
    assert c[..., 16:].abs().max() < 1e-10 and torch.allclose(c[..., :16], block_dct2(x, 8)[..., :16])


def scipy_profile(x: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean |c|, mean c^2 and mean |c| / |c_0| per zigzag index, in float64."""
    c = scipy_block_dct_zigzag(x.astype(np.float64), b).reshape(-1, b * b)
    return np.abs(c).mean(0), np.square(c).mean(0), (np.abs(c) / np.maximum(np.abs(c[:, :1]), 1e-6)).mean(0)


@pytest.mark.parametrize("shape", [(5, 4, 16, 24), (2, 3, 3, 8, 64), (1, 1, 8, 8)])
def test_profile_matches_scipy(shape):
    # Images, video latents (N, C, T, H, W) and a single block, with a DC offset like real latents.
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2)) + 0.5
    amp, energy, per_block = scipy_profile(x.numpy(), 8)
    expected = {"none": amp, "dc_mean": amp / amp[0], "dc_block": per_block}
    for norm, amplitude in expected.items():
        p = frequency_profile(x, 8, norm)
        # float32 rounding, relative to the profile's scale (a single block has near-empty bins)
        np.testing.assert_allclose(p["amplitude"].numpy(), amplitude, rtol=1e-5, atol=1e-6 * amplitude.max(),
                                   err_msg=norm)
        np.testing.assert_allclose(p["energy"].numpy(), energy, rtol=1e-5, atol=1e-6 * energy.max(), err_msg=norm)
