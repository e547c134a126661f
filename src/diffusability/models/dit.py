"""DiT presets (Peebles & Xie) on diffusers' `DiTTransformer2DModel`, as used for the paper's generation results.

The paper trains DiT-XL/2 on the latents of each autoencoder (Fig. 1, Table 1; Sec. 5 for video); the authors' code
also has B/2 and L/2. All are patch-2, adaLN-Zero, class-conditional transformers. `tiny` is our CPU preset.

This module is the one adapter between diffusers' model and the DiT of the paper; every change we make to the stock
model is here, and nothing else reaches into its internals:
  1. one timestep/label embedder shared by all blocks (`_SharedEmbedding`), as DiT (and the paper's 675M XL/2) has;
     diffusers gives each block its own;
  2. label dropout switched off inside the model (`dropout_prob = 0`): the trainer drops labels itself with the
     step's seeded generator, so that a resumed run sees the same drops;
  3. for the video DiT (models.video_dit), `use_own_patches` removes the 2-D patch embedding and resizes the final
     projection, and `transformer_trunk` runs the blocks and the adaLN-Zero output layer on tokens patchified
     outside.
Owning a DiT instead (as facebookresearch/DiT's models.py) would change every initialisation, hence every result;
this keeps the trained models of earlier runs valid.
"""
from __future__ import annotations

import torch
from diffusers import DiTTransformer2DModel
from torch.nn import functional as F

from ..presets import DIT_PRESETS, DiTPreset

__all__ = ["DiTPreset", "DIT_PRESETS", "build_dit", "null_class", "dit_forward", "use_own_patches",
           "transformer_trunk"]


class _SharedEmbedding(torch.nn.Module):
    """Calls the first block's embedder without registering it again (no duplicate parameters or state)."""

    def __init__(self, owner: torch.nn.Module):
        super().__init__()
        self._owner = [owner]  # a list, so that nn.Module does not register it as a child

    def forward(self, *args, **kwargs):
        return self._owner[0](*args, **kwargs)


def build_dit(preset: str, latent_channels: int, latent_size: int, num_classes: int) -> DiTTransformer2DModel:
    """A class-conditional DiT for (latent_channels, latent_size^2) latents; class `num_classes` is the null class.

    The velocity has the latent's shape, so out_channels = in_channels (no learned variance, unlike DDPM DiT).
    Weights load with `load_state_dict` into a model built here (diffusers' from_pretrained would rebuild the
    per-block embedders this model shares).
    """
    if preset not in DIT_PRESETS:
        raise ValueError(f"unknown DiT preset {preset!r}; known presets: {', '.join(DIT_PRESETS)}")
    p = DIT_PRESETS[preset]
    if latent_size % p.patch:
        raise ValueError(f"latent size {latent_size} is not divisible by DiT {preset}'s patch size {p.patch}")
    model = DiTTransformer2DModel(
        num_attention_heads=p.heads, attention_head_dim=p.width // p.heads, in_channels=latent_channels,
        out_channels=latent_channels, num_layers=p.depth, sample_size=latent_size, patch_size=p.patch,
        num_embeds_ada_norm=max(1, num_classes))
    # Change 1 (see the module docstring).
    shared = model.transformer_blocks[0].norm1.emb
    for block in model.transformer_blocks[1:]:
        block.norm1.emb = _SharedEmbedding(shared)
    # Change 2: keep the extra "null" embedding row that dropout_prob > 0 created, but never drop inside the model.
    for m in model.modules():
        if hasattr(m, "token_drop") and hasattr(m, "dropout_prob"):
            m.dropout_prob = 0.0
    return model


def use_own_patches(model: DiTTransformer2DModel, out_features: int) -> None:
    """Change 3: the caller patchifies and unpatchifies; the final projection gives `out_features` per token."""
    model.pos_embed = None
    model.proj_out_2 = torch.nn.Linear(model.proj_out_2.in_features, out_features)


def transformer_trunk(model: DiTTransformer2DModel, tokens: torch.Tensor, timestep: torch.Tensor,
                      class_labels: torch.Tensor) -> torch.Tensor:
    """Tokens (N, L, width) through the blocks and the adaLN-Zero output layer: (N, L, out_features)."""
    h = tokens
    for block in model.transformer_blocks:
        h = block(h, timestep=timestep, class_labels=class_labels)
    cond = model.transformer_blocks[0].norm1.emb(timestep, class_labels, hidden_dtype=h.dtype)
    shift, scale = model.proj_out_1(F.silu(cond)).chunk(2, dim=1)
    return model.proj_out_2(model.norm_out(h) * (1 + scale[:, None]) + shift[:, None])


def null_class(num_classes: int) -> int:
    """Index of the unconditional (dropped-label) embedding."""
    return max(1, num_classes)


def dit_forward(model: DiTTransformer2DModel, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Velocity prediction at flow time t in [0, 1] (scaled to DiT's 0..1000 timestep embedding range)."""
    out = model(x, timestep=t * 1000.0, class_labels=labels)
    return out if torch.is_tensor(out) else out.sample  # VideoDiT returns the tensor itself
