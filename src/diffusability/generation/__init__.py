"""Latent diffusion on top of trained autoencoders: latent caches, DiT training and sample evaluation (Fig. 1)."""
