"""Video autoencoder presets on diffusers' `AutoencoderKLCogVideoX` and `AutoencoderKLLTXVideo` (paper Sec. 5).

The paper fine-tunes CogVideoX-AE (4x time, 8x space, 16 channels) with SE and reports FVD on Kinetics-700; it
also studies LTX-AE (8x time, 32x space, 128 channels). Both are causal in time: a clip of 1 + k*t frames maps to
1 + k latent frames, the first frame encoded on its own. `cogvideox` and `ltx` are the published architectures
(load their weights with model.pretrained); `*-tiny` are the same designs shrunk for CPU runs (our choice).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from diffusers import AutoencoderKLCogVideoX, AutoencoderKLLTXVideo


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
VIDEO_AE_CLASSES = {"cogvideox": AutoencoderKLCogVideoX, "ltx": AutoencoderKLLTXVideo}


def is_video_preset(preset: str) -> bool:
    return preset in VIDEO_AE_PRESETS


def build_video_autoencoder(preset: str, latent_channels: int, compression: int):
    """A randomly initialised video AE of the named preset; `compression` (spatial) must match the preset's."""
    if preset not in VIDEO_AE_PRESETS:
        raise ValueError(f"unknown video model.preset {preset!r}; known: {', '.join(VIDEO_AE_PRESETS)}")
    p = VIDEO_AE_PRESETS[preset]
    if int(compression) != p.spatial:
        raise ValueError(f"model.compression={compression}, but video preset {preset!r} compresses space "
                         f"{p.spatial}x")
    if p.family == "cogvideox":
        n = len(p.kwargs["block_out_channels"])
        return AutoencoderKLCogVideoX(
            latent_channels=int(latent_channels), down_block_types=("CogVideoXDownBlock3D",) * n,
            up_block_types=("CogVideoXUpBlock3D",) * n, temporal_compression_ratio=p.temporal, **p.kwargs)
    return AutoencoderKLLTXVideo(latent_channels=int(latent_channels), **p.kwargs)


def latent_frames(frames: int, temporal: int) -> int:
    """Latent frames of a causal video AE for a clip of `frames` frames (1 + k*temporal -> 1 + k)."""
    if (frames - 1) % temporal:
        raise ValueError(f"data.frames={frames} must be 1 + k*{temporal} for a causal AE with {temporal}x time "
                         "compression")
    return 1 + (frames - 1) // temporal


def preset_of(ae) -> tuple[str, int, int]:
    """(family, spatial, temporal) compression of a loaded video AE, read from its config."""
    c = ae.config
    if isinstance(ae, AutoencoderKLCogVideoX):
        return "cogvideox", 2 ** (len(c.block_out_channels) - 1), int(c.temporal_compression_ratio)
    stages = sum(bool(s) for s in c.spatio_temporal_scaling)
    return "ltx", int(c.patch_size) * 2 ** stages, int(c.patch_size_t) * 2 ** stages


def video_compression_ok(ae, latent_channels: int, compression: int) -> None:
    _, spatial, _ = preset_of(ae)
    if (ae.config.latent_channels, spatial) != (int(latent_channels), int(compression)):
        raise ValueError(f"the video AE has {ae.config.latent_channels} latent channels and {spatial}x compression, "
                         f"but the config asks for {latent_channels} and {compression}x")


__all__ = ["VIDEO_AE_PRESETS", "VIDEO_AE_CLASSES", "build_video_autoencoder", "is_video_preset", "latent_frames",
           "preset_of", "video_compression_ok"]
