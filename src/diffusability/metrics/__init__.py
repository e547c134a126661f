"""Distribution metrics: Fréchet distances through torch-fidelity (real Inception FID or an offline proxy)."""
