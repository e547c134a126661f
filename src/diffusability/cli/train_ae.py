"""Train one autoencoder by hand, outside Snakemake: the reference AE of a workflow scale, with Hydra overrides.

    python -m diffusability.cli.train_ae out_dir=runs/ae_c32 model.latent_channels=32 loss.kl_weight=1e-4
    python -m diffusability.cli.train_ae --scale paper out_dir=runs/flux data.root=/data/imagenet
    python -m diffusability.cli.train_ae --finetune out_dir=runs/c16_se init_from=runs/c16/ae se.weight=0.5
"""
from __future__ import annotations

from . import parse


def main(argv: list[str] | None = None) -> None:
    from ..train.ae import train_autoencoder
    print(train_autoencoder(parse("train_ae", argv, __doc__, finetune=True)))


if __name__ == "__main__":
    main()
