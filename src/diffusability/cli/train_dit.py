"""Train one DiT on a latent cache by hand, outside Snakemake: the workflow scale's DiT, with Hydra overrides.

    python -m diffusability.cli.train_dit out_dir=runs/dit latents=results/tiny/latents/<ae>.safetensors
    python -m diffusability.cli.train_dit --scale paper out_dir=runs/xl latents=... optim.steps=1000
"""
from __future__ import annotations

from . import parse


def main(argv: list[str] | None = None) -> None:
    from ..train.dit import train_dit
    print(train_dit(parse("train_dit", argv, __doc__)))


if __name__ == "__main__":
    main()
