"""Train one autoencoder by hand, outside Snakemake, with Hydra overrides:

    python -m diffusability.cli.train_ae out_dir=runs/ae_c32 model.latent_channels=32 loss.kl_weight=1e-4
    python -m diffusability.cli.train_ae out_dir=runs/flux model=flux data=imagefolder data.root=/data/imagenet optim=gpu
    python -m diffusability.cli.train_ae out_dir=runs/c16_se init_from=runs/c16/ae se.weight=0.5 optim.steps=150
"""
from __future__ import annotations

import logging
import sys

from ..runconfig import compose_run_config
from ..train.ae import train_autoencoder


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = compose_run_config("train_ae", sys.argv[1:] if argv is None else argv)
    print(train_autoencoder(cfg))


if __name__ == "__main__":
    main()
