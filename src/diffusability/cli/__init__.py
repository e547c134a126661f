"""Command-line entry points (`python -m diffusability.cli.<name> hydra.overrides ...`)."""
