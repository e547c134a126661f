"""DiT presets (Peebles & Xie) on diffusers' `DiTTransformer2DModel`, as used for the paper's generation results.

The paper trains DiT-XL/2 on the latents of each autoencoder (Fig. 1, Table 1); the authors' code also has B/2 and
L/2. All are patch-2, adaLN-Zero, class-conditional transformers. `tiny` is our CPU preset.
"""
from __future__ import annotations

import torch
from diffusers import DiTTransformer2DModel

from ..presets import DIT_PRESETS, DiTPreset

__all__ = ["DiTPreset", "DIT_PRESETS", "build_dit", "null_class", "dit_forward"]


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
    # diffusers gives every block its own timestep/label embedder; DiT (and the paper's 675M XL/2) has one, shared.
    shared = model.transformer_blocks[0].norm1.emb
    for block in model.transformer_blocks[1:]:
        block.norm1.emb = _SharedEmbedding(shared)
    # diffusers drops labels inside the model with the global RNG; we drop them ourselves with the step's generator
    # (so a resumed run sees the same drops), keeping the extra "null" embedding row that dropout_prob > 0 created.
    for m in model.modules():
        if hasattr(m, "token_drop") and hasattr(m, "dropout_prob"):
            m.dropout_prob = 0.0
    return model


def null_class(num_classes: int) -> int:
    """Index of the unconditional (dropped-label) embedding."""
    return max(1, num_classes)


def dit_forward(model: DiTTransformer2DModel, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Velocity prediction at flow time t in [0, 1] (scaled to DiT's 0..1000 timestep embedding range)."""
    out = model(x, timestep=t * 1000.0, class_labels=labels)
    return out if torch.is_tensor(out) else out.sample  # VideoDiT returns the tensor itself
