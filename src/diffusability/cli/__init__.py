"""Command-line entry points (`python -m diffusability.cli.<name> [--scale S] [--configfile F] hydra.overrides ...`):
the run a workflow config's reference AE / DiT would get (runconfig.reference_run_config), with Hydra overrides."""
from __future__ import annotations

import argparse
import logging


def parse(name: str, argv: list[str] | None, doc: str, finetune: bool = False):
    """(the run config composed from the arguments, argparse namespace)."""
    from ..runconfig import run_config_by_hand
    ap = argparse.ArgumentParser(prog=f"python -m diffusability.cli.{name}", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="tiny", help="workflow scale whose settings the run starts from (default tiny)")
    ap.add_argument("--configfile", action="append", default=[], help="workflow config file(s) on top of the scale")
    ap.add_argument("--video", action="store_true", help="start from the first video AE's settings (video.*)")
    if finetune:
        ap.add_argument("--finetune", action="store_true",
                        help="start from the fine-tune settings (se.*); init_from= is then required")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of the run config, e.g. optim.lr=1e-3")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = run_config_by_hand(name, args.overrides, scale=args.scale, configfiles=tuple(args.configfile),
                             modality="video" if args.video else "image", finetune=getattr(args, "finetune", False))
    return cfg
