"""Analyses of trained autoencoders: reconstruction metrics and latent spectra."""
