"""The model presets as plain data: autoencoders (image and video) and DiTs, by name.

`models.*` build the networks from these; the config checks and the cost model read them without importing torch
or diffusers (a config error must come before the slow imports of a job).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AEPreset:
    widths: tuple[int, ...]           # channels of the base encoder level; one level per 2x downsampling + 1
    layers_per_block: int
    norm_groups: int
    mid_attention: bool
    quant_conv: bool
    scaling_factor: float = 1.0
    shift_factor: float | None = None
    max_levels: int = 6               # widths are extended with their last value for larger compressions


AE_PRESETS: dict[str, AEPreset] = {
    # CPU preset: our choice, sized so the tiny recipe (1200 steps of batch 8 at 32^2) is under a minute on one
    # core. Wider (32-32-64) did worse per second at this budget (bench/bench_ae_recipe.py).
    "tiny": AEPreset(widths=(16, 32, 64, 64), layers_per_block=1, norm_groups=8, mid_attention=False,
                     quant_conv=True),
    "small": AEPreset(widths=(64, 128, 256, 256), layers_per_block=2, norm_groups=32, mid_attention=True,
                      quant_conv=True),
    # FLUX.1 [dev] AE: widths 128-256-512-512, 2 resnets per level, mid attention, no (post-)quant conv.
    "flux": AEPreset(widths=(128, 256, 512, 512), layers_per_block=2, norm_groups=32, mid_attention=True,
                     quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159),
}


def ae_compression(block_out_channels) -> int:
    """Spatial compression of a diffusers AE with these level widths (AutoencoderKL's block_out_channels and its
    relatives): one 2x downsampling between consecutive levels."""
    return 2 ** (len(block_out_channels) - 1)


@dataclass(frozen=True)
class DiTPreset:
    depth: int
    width: int
    heads: int
    patch: int = 2


DIT_PRESETS: dict[str, DiTPreset] = {
    "tiny": DiTPreset(depth=4, width=128, heads=4),   # our CPU preset
    "S/2": DiTPreset(depth=12, width=384, heads=6),
    "B/2": DiTPreset(depth=12, width=768, heads=12),  # paper / authors' code sizes from here down
    "L/2": DiTPreset(depth=24, width=1024, heads=16),
    "XL/2": DiTPreset(depth=28, width=1152, heads=16),
}


@dataclass(frozen=True)
class VideoAEPreset:
    family: str                   # cogvideox | ltx
    spatial: int                  # spatial compression
    temporal: int                 # temporal compression (causal: 1 + k*temporal frames -> 1 + k latent frames)
    kwargs: dict = field(default_factory=dict)


def _ltx_blocks(widths, layers, scaling, patch):
    n = len(widths)
    return dict(block_out_channels=widths, decoder_block_out_channels=widths, down_block_types=("LTXVideoDownBlock3D",) * n,
                layers_per_block=layers, decoder_layers_per_block=layers, spatio_temporal_scaling=scaling,
                decoder_spatio_temporal_scaling=scaling, decoder_inject_noise=(False,) * (n + 1),
                downsample_type=("conv",) * n, upsample_residual=(False,) * n, upsample_factor=(1,) * n,
                patch_size=patch, patch_size_t=1)


VIDEO_AE_PRESETS: dict[str, VideoAEPreset] = {
    # CogVideoX-2b/5b VAE: widths 128-256-256-512, 3 resnets per level, 8x space (3 downsamples), 4x time.
    "cogvideox": VideoAEPreset("cogvideox", 8, 4, dict(block_out_channels=(128, 256, 256, 512), layers_per_block=3,
                                                       norm_num_groups=32, scaling_factor=1.15258426)),
    # Our CPU preset: 2 downsamples (4x space, so 32^2 crops give 8^2 latents as the image presets do), 4x time.
    "cogvideox-tiny": VideoAEPreset("cogvideox", 4, 4, dict(block_out_channels=(8, 16, 32), layers_per_block=1,
                                                            norm_num_groups=4)),
    # LTX-Video 0.9 VAE: patch 4 then three 2x space-time stages: 32x space, 8x time.
    "ltx": VideoAEPreset("ltx", 32, 8, _ltx_blocks((128, 256, 512, 512), (4, 3, 3, 3, 4),
                                                   (True, True, True, False), 4)),
    # Our CPU preset: patch 1 and two space-time stages: 4x space, 4x time.
    "ltx-tiny": VideoAEPreset("ltx", 4, 4, _ltx_blocks((8, 16, 32), (1, 1, 1, 1), (True, True, False), 1)),
}


def latent_frames(frames: int, temporal: int) -> int:
    """Latent frames of a causal video AE for a clip of `frames` frames (1 + k*temporal -> 1 + k)."""
    if (frames - 1) % temporal:
        raise ValueError(f"data.frames={frames} must be 1 + k*{temporal} for a causal AE with {temporal}x time "
                         "compression")
    return 1 + (frames - 1) // temporal


__all__ = ["AEPreset", "AE_PRESETS", "ae_compression", "DiTPreset", "DIT_PRESETS", "VideoAEPreset", "VIDEO_AE_PRESETS", "latent_frames"]
