"""Rectified-flow latent diffusion: loss, time sampling and samplers."""
