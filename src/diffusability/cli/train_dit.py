"""Train one DiT on a latent cache by hand, outside Snakemake, with Hydra overrides:

    python -m diffusability.cli.train_dit out_dir=runs/dit latents=results/tiny/latents/<ae>.safetensors
    python -m diffusability.cli.train_dit out_dir=runs/xl latents=... model.preset=XL/2 precision=bf16 compile=true
"""
from __future__ import annotations

import logging
import sys

from ..runconfig import compose_run_config
from ..train.dit import train_dit


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = compose_run_config("train_dit", sys.argv[1:] if argv is None else argv)
    print(train_dit(cfg))


if __name__ == "__main__":
    main()
