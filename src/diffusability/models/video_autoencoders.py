"""Video autoencoder presets on diffusers' `AutoencoderKLCogVideoX` and `AutoencoderKLLTXVideo` (paper Sec. 5).

The paper fine-tunes CogVideoX-AE (4x time, 8x space, 16 channels) with SE and reports FVD on Kinetics-700; it
also studies LTX-AE (8x time, 32x space, 128 channels). Both are causal in time: a clip of 1 + k*t frames maps to
1 + k latent frames, the first frame encoded on its own. `cogvideox` and `ltx` are the published architectures
(load their weights with model.pretrained); `*-tiny` are the same designs shrunk for CPU runs (our choice).
"""
from __future__ import annotations

from diffusers import AutoencoderKLCogVideoX, AutoencoderKLLTXVideo

from ..presets import VIDEO_AE_PRESETS, ae_compression, latent_frames


VIDEO_AE_CLASSES = {"cogvideox": AutoencoderKLCogVideoX, "ltx": AutoencoderKLLTXVideo}


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


def preset_of(ae) -> tuple[str, int, int]:
    """(family, spatial, temporal) compression of a loaded video AE, read from its config."""
    c = ae.config
    if isinstance(ae, AutoencoderKLCogVideoX):
        return "cogvideox", ae_compression(c.block_out_channels), int(c.temporal_compression_ratio)
    stages = sum(bool(s) for s in c.spatio_temporal_scaling)
    return "ltx", int(c.patch_size) * 2 ** stages, int(c.patch_size_t) * 2 ** stages


def video_compression_ok(ae, latent_channels: int, compression: int) -> None:
    _, spatial, _ = preset_of(ae)
    if (ae.config.latent_channels, spatial) != (int(latent_channels), int(compression)):
        raise ValueError(f"the video AE has {ae.config.latent_channels} latent channels and {spatial}x compression, "
                         f"but the config asks for {latent_channels} and {compression}x")


__all__ = ["VIDEO_AE_PRESETS", "VIDEO_AE_CLASSES", "build_video_autoencoder", "latent_frames",
           "preset_of", "video_compression_ok"]
