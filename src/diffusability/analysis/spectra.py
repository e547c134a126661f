"""Frequency profiles of AE latents, of RGB, and of RGB with added noise (paper Figs. 2, 3 and its RGB-noise figure).

Each function returns a tidy frame with one row per zigzag frequency index: `freq_index`, `amplitude` (normalised
as configured), `energy` (mean squared coefficient, unnormalised; the HF share is computed from it) and `block`.
Video latents (N, C, T, H, W) get the same block DCT per frame (`axis` = space) and, optionally, a DCT along time
at every latent position (`axis` = time, one row per temporal frequency).

The RGB-reference jobs use this module without any autoencoder, so the AE code (diffusers) is imported by the
functions that load or run one.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from ..data import build_dataset, validation_batch
from ..dct import frequency_profile
from ..runtime import resolve_device, set_threads


def load_trained_autoencoder(run_dir: str | Path, device: torch.device):
    """A trained run's final (EMA) autoencoder and its resolved run config."""
    from ..models.autoencoders import load_autoencoder_folder
    run_dir = Path(run_dir)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    ae = load_autoencoder_folder(run_dir / "ae").to(device).eval()
    return ae, cfg


def validation_images(data_cfg, num_images: int) -> torch.Tensor:
    """The first `num_images` images of the validation split (fixed crops; independent of training seeds)."""
    return validation_batch(build_dataset(data_cfg, "val", seed=0), limit=num_images)[0]


def _profile_frame(x: torch.Tensor, block: int, normalization: str) -> pd.DataFrame:
    # The profile runs where x is (beside the encoder); only its 2 x B*B values come to the CPU.
    prof = frequency_profile(x, block, normalization)
    return pd.DataFrame({"freq_index": range(block * block), "amplitude": prof["amplitude"].double().cpu().numpy(),
                         "energy": prof["energy"].double().cpu().numpy(), "block": block})


@torch.no_grad()
def encode_batched(ae, x: torch.Tensor, batch_size: int, sample: bool, seed: int = 0) -> torch.Tensor:
    """Latents of x in batches, on the encoder's device; posterior samples are drawn from one generator seeded by
    `seed`."""
    from ..models.autoencoders import encode
    device = next(ae.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    return torch.cat([encode(ae, x[i:i + batch_size].to(device), sample, gen).float()
                      for i in range(0, len(x), batch_size)])


def temporal_profile(x: torch.Tensor, normalization: str = "dc_mean") -> pd.DataFrame:
    """DCT along time of (N, C, T, H, W) at every (n, c, h, w): one row per temporal frequency (`axis` = time)."""
    from ..dct import dct_matrix
    t = x.shape[2]
    d = dct_matrix(t, torch.float64).to(x.device)
    coeffs = torch.einsum("kt,ncthw->knchw", d, x.double()).reshape(t, -1)
    energy, amp = coeffs.square().mean(1), coeffs.abs().mean(1)
    if normalization != "none":  # dc_block's per-sample ratio is as unstable here as in space: use the DC mean
        amp = amp / amp[0].clamp_min(1e-12)
    return pd.DataFrame({"freq_index": range(t), "amplitude": amp.cpu().numpy(), "energy": energy.cpu().numpy(),
                         "block": t, "axis": "time"})


def spectra_of(x: torch.Tensor, block: int, normalization: str, time_axis: bool = False) -> pd.DataFrame:
    """The per-frame (or per-image) zigzag profile, plus the temporal one for video when `time_axis`."""
    frames = [_profile_frame(x, block, normalization).assign(axis="space")]
    if time_axis and x.ndim == 5:
        frames.append(temporal_profile(x, normalization))
    return pd.concat(frames, ignore_index=True)


def latent_spectrum(run_dir: str | Path, block: int, normalization: str, latent: str, num_images: int,
                    batch_size: int = 32, device: str = "auto", time_axis: bool = False) -> pd.DataFrame:
    """Zigzag profile of a trained AE's latents on the validation images (or clips: per frame, and along time),
    computed on the encoder's device."""
    dev = resolve_device(device)
    ae, cfg = load_trained_autoencoder(run_dir, dev)
    set_threads(cfg.get("threads"))
    z = encode_batched(ae, validation_images(cfg.data, num_images), batch_size, sample=latent == "sample")
    return spectra_of(z, block, normalization, time_axis)


def rgb_at_latent_size(x: torch.Tensor, compression: int) -> torch.Tensor:
    """RGB resized (antialiased) to the latent's spatial size, as the paper compares both at 32^2."""
    h, w = x.shape[-2] // compression, x.shape[-1] // compression
    return F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)


def rgb_spectrum(data_cfg, compression: int, block: int, normalization: str, num_images: int,
                 rgb_mode: str = "resize", noise_std: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Zigzag profile of validation RGB images, optionally with Gaussian noise of std `noise_std` added.

    rgb_mode "resize": RGB at the latent's size with the latent's block; "scaled_block": full-resolution RGB with
    blocks `block * compression` wide (same image area per block as a latent block).
    """
    x = validation_images(data_cfg, num_images)
    if rgb_mode == "resize":
        x, b = rgb_at_latent_size(x, compression), block
    elif rgb_mode == "scaled_block":
        b = block * compression
    else:
        raise ValueError(f"spectrum.rgb_mode must be resize or scaled_block, got {rgb_mode!r}")
    if noise_std > 0:
        x = x + noise_std * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return _profile_frame(x, b, normalization).assign(axis="space")


def rgb_video_at_latent_size(x: torch.Tensor, compression: int, temporal: int) -> torch.Tensor:
    """Clips (N, 3, T, H, W) at a causal video latent's size: frames resized, then time pooled as the AE groups it
    (first frame alone, then groups of `temporal`)."""
    from ..se import temporal_downsample
    n, c, t, h, w = x.shape
    frames = rgb_at_latent_size(x.transpose(1, 2).reshape(n * t, c, h, w), compression)
    return temporal_downsample(frames.view(n, t, c, *frames.shape[-2:]).transpose(1, 2), temporal)


def rgb_video_spectrum(data_cfg, compression: int, temporal: int, block: int, normalization: str, num_clips: int,
                       time_axis: bool) -> pd.DataFrame:
    """RGB reference of the video latents: validation clips at the latent's size, per frame and along time."""
    x = rgb_video_at_latent_size(validation_images(data_cfg, num_clips), compression, temporal)
    return spectra_of(x, block, normalization, time_axis)
