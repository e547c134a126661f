"""Autoencoder presets on diffusers' `AutoencoderKL` (paper Sec. 2: FluxAE and its bottleneck/KL variants).

A preset maps (latent channels, spatial compression) to an architecture. `flux` is the FLUX.1 autoencoder
(8x compression, 16 channels when pretrained; the paper also trains it from scratch with other bottleneck sizes
for Fig. 2). `tiny` and `small` are the same design shrunk so that CPU runs take minutes.
Pretrained weights are loaded only from a local directory, or from a hub id already in the local cache: this code
never downloads unless `allow_download` is set.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from ..presets import AE_PRESETS, ae_compression


def ae_levels(compression: int) -> int:
    if compression < 1 or compression & (compression - 1):
        raise ValueError(f"model.compression must be a power of two, got {compression}")
    return int(math.log2(compression)) + 1


def build_autoencoder(preset: str, latent_channels: int, compression: int) -> AutoencoderKL:
    """A randomly initialised AutoencoderKL of the named preset."""
    if preset not in AE_PRESETS:
        raise ValueError(f"unknown model.preset {preset!r}; known presets: {', '.join(AE_PRESETS)}")
    p = AE_PRESETS[preset]
    levels = ae_levels(compression)
    if levels > p.max_levels:
        raise ValueError(f"model.compression {compression} is too large for preset {preset!r}")
    widths = tuple(p.widths[i] if i < len(p.widths) else p.widths[-1] for i in range(levels))
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=int(latent_channels),
        down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=widths, layers_per_block=p.layers_per_block, norm_num_groups=p.norm_groups,
        mid_block_add_attention=p.mid_attention, use_quant_conv=p.quant_conv, use_post_quant_conv=p.quant_conv,
        scaling_factor=p.scaling_factor, shift_factor=p.shift_factor,
    )


AE_CLASSES = {"AutoencoderKL": AutoencoderKL}  # the video classes are added from video_autoencoders


def autoencoder_class(folder: str | Path):
    """The diffusers class a saved AE folder holds (AutoencoderKL, AutoencoderKLCogVideoX, AutoencoderKLLTXVideo)."""
    from .video_autoencoders import VIDEO_AE_CLASSES
    classes = {**AE_CLASSES, **{c.__name__: c for c in VIDEO_AE_CLASSES.values()}}
    cfg_file = Path(folder) / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{folder} is not a diffusers autoencoder folder (no config.json)")
    name = json.loads(cfg_file.read_text()).get("_class_name", "AutoencoderKL")
    if name not in classes:
        raise ValueError(f"{cfg_file} holds a {name}; supported autoencoders: {', '.join(classes)}")
    return classes[name]


def load_autoencoder_folder(folder: str | Path):
    """A saved AE (any supported class) from a local diffusers folder; safetensors only."""
    return autoencoder_class(folder).from_pretrained(str(folder), use_safetensors=True)


def load_pretrained_autoencoder(source: str, subfolder: str | None = None,
                                allow_download: bool = False, cls=AutoencoderKL):
    """Load an autoencoder of class `cls` from a local diffusers folder or a hub id (cache only unless
    allow_download).

    A FLUX.1 checkpoint keeps its AE in the `vae` sub-folder; when `subfolder` is None we look for one.
    """
    path = Path(source).expanduser()
    if path.exists():
        if subfolder is None and (path / "vae" / "config.json").exists():
            subfolder = "vae"
        cfg_file = path / (subfolder or "") / "config.json"
        if not cfg_file.exists():
            raise FileNotFoundError(f"model.pretrained {source}: no diffusers config.json at {cfg_file}")
    elif "/" not in source or source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model.pretrained {source} is neither an existing folder nor a hub id")
    try:
        return cls.from_pretrained(str(path) if path.exists() else source, subfolder=subfolder,
                                   local_files_only=not allow_download, use_safetensors=True)
    except OSError as err:
        raise FileNotFoundError(f"model.pretrained {source} could not be loaded ({err}); without "
                                "model.allow_download the hub id must already be in the local cache") from err


def autoencoder_from_config(mcfg):
    """The autoencoder a run's `model` config describes: pretrained when `pretrained` is set, else fresh.
    Video presets (video_autoencoders) give CogVideoX / LTX video AEs."""
    from .video_autoencoders import (VIDEO_AE_CLASSES, VIDEO_AE_PRESETS, build_video_autoencoder,
                                     video_compression_ok)
    if mcfg.preset in VIDEO_AE_PRESETS:
        if not mcfg.get("pretrained"):
            return build_video_autoencoder(mcfg.preset, int(mcfg.latent_channels), int(mcfg.compression))
        cls = VIDEO_AE_CLASSES[VIDEO_AE_PRESETS[mcfg.preset].family]
        ae = load_pretrained_autoencoder(mcfg.pretrained, mcfg.get("subfolder"), bool(mcfg.get("allow_download")),
                                         cls)
        video_compression_ok(ae, int(mcfg.latent_channels), int(mcfg.compression))
        return ae
    if mcfg.get("pretrained"):
        ae = load_pretrained_autoencoder(mcfg.pretrained, mcfg.get("subfolder"), bool(mcfg.get("allow_download")))
        got = (ae.config.latent_channels, ae_compression(ae.config.block_out_channels))
        if got != (int(mcfg.latent_channels), int(mcfg.compression)):
            raise ValueError(f"model.pretrained {mcfg.pretrained} has {got[0]} latent channels and {got[1]}x "
                             f"compression, but the config asks for {mcfg.latent_channels} and {mcfg.compression}x")
        return ae
    return build_autoencoder(mcfg.preset, int(mcfg.latent_channels), int(mcfg.compression))


def encode(ae: AutoencoderKL, x: torch.Tensor, sample: bool, generator: torch.Generator | None = None):
    """Latent of x: the posterior mean, or a sample drawn with `generator` (diffusion trains on samples)."""
    post = ae.encode(x).latent_dist
    return post.sample(generator=generator) if sample else post.mean
