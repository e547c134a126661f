"""A DiT over spatio-temporal patches of video latents (the paper trains DiT-XL/2 on CogVideoX-AE latents, Sec. 5).

diffusers has no class-conditional 3-D DiT, so this is our image DiT (models.dit: the same presets, adaLN-Zero
blocks, shared timestep/label embedder and output head, through that module's adapter functions) with a temporal
patchify in front: a (patch_t, p, p) Conv3d patch embedding and a fixed 3-D sin-cos position embedding (time,
height, width), and the inverse unpatchify behind. Attention is full over all frames' tokens, as in the paper's
video DiT.
"""
from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .dit import DIT_PRESETS, build_dit, transformer_trunk, use_own_patches

__all__ = ["VideoDiT", "sincos_3d"]


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    freqs = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    angles = positions.double()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_3d(width: int, t: int, h: int, w: int) -> torch.Tensor:
    """(t*h*w, width) fixed embedding: a quarter of the width (even) encodes time, the rest height and width."""
    dt = 2 * (width // 8)
    ds = (width - dt) // 2
    if ds % 2 or dt + 2 * ds != width:
        raise ValueError(f"DiT width {width} cannot be split into even time/height/width parts")
    gt, gh, gw = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    emb = torch.cat([_sincos_1d(dt, gt.flatten()), _sincos_1d(ds, gh.flatten()), _sincos_1d(ds, gw.flatten())], 1)
    return emb.float()


class VideoDiT(ModelMixin, ConfigMixin):
    """Velocity model on latents (N, C, T, H, W); `num_classes` is also the null (dropped-label) class index."""

    @register_to_config
    def __init__(self, preset: str, latent_channels: int, latent_frames: int, latent_size: int, num_classes: int,
                 patch_t: int = 1):
        super().__init__()
        p = DIT_PRESETS[preset]
        if latent_frames % patch_t:
            raise ValueError(f"latent frames {latent_frames} are not divisible by dit.patch_t={patch_t}")
        self.core = build_dit(preset, latent_channels, latent_size, num_classes)
        self.patch = nn.Conv3d(latent_channels, p.width, (patch_t, p.patch, p.patch), stride=(patch_t, p.patch, p.patch))
        # After the Conv3d: the layers draw their initial weights from the global RNG in this order.
        use_own_patches(self.core, out_features=patch_t * p.patch * p.patch * latent_channels)
        grid = (latent_frames // patch_t, latent_size // p.patch, latent_size // p.patch)
        self.register_buffer("pos", sincos_3d(p.width, *grid)[None], persistent=False)
        self.grid, self.kernel = grid, (patch_t, p.patch, p.patch)

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, class_labels: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos.to(x.dtype)
        h = transformer_trunk(self.core, tokens, timestep=timestep, class_labels=class_labels)
        (t, gh, gw), (pt, ph, pw), c = self.grid, self.kernel, x.shape[1]
        h = h.view(-1, t, gh, gw, pt, ph, pw, c).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return h.reshape(-1, c, t * pt, gh * ph, gw * pw)
