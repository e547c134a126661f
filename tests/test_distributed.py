"""Data parallel training with torch.distributed (gloo on CPU): 2 ranks at batch B/2 take the same steps as one
process at batch B, up to float summation order."""
import os
import socket

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from diffusability.runconfig import run_config_by_hand
from diffusability.train.ae import train_autoencoder


def _overrides(out, steps=4):
    return [f"out_dir={out}", "init_from=null", "threads=1", f"optim.steps={steps}", "optim.batch_size=4",
            "optim.checkpoint_every=100", "model.latent_channels=4", "se.weight=0.5", "optim.grad_clip=null", "optim.lr=5e-3"]


def _weights(run):
    return load_file(run / "ae" / "diffusion_pytorch_model.safetensors")


def _rank(rank, world, port, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    train_autoencoder(run_config_by_hand("train_ae", _overrides(out), finetune=True))
    torch.distributed.destroy_process_group()


def test_two_ranks_match_one_process_at_the_same_global_batch(tmp_path):
    # the initial weights
    train_autoencoder(run_config_by_hand("train_ae", _overrides(tmp_path / "init", steps=0), finetune=True))
    train_autoencoder(run_config_by_hand("train_ae", _overrides(tmp_path / "single"), finetune=True))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_rank, args=(2, port, str(tmp_path / "ddp")), nprocs=2, join=True, start_method="spawn")
    init, a, b = (_weights(tmp_path / name) for name in ("init", "single", "ddp"))
    assert a.keys() == b.keys() == init.keys()
    apart = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    moved = torch.cat([(a[k] - init[k]).abs().flatten() for k in a])
    # The ranks agree with one process to float summation order, and that agreement is not that of two runs which
    # both left the weights where they started. Adam divides by the root of the second moment, so the rounding of a
    # near-zero gradient can move a few weights by a visible fraction of a step: bound the typical weight tightly and
    # the worst one loosely, both against how far training moved the weights.
    assert apart.mean() < 1e-3 * moved.mean(), (apart.mean(), moved.mean())
    assert apart.max() < 0.05 * moved.max(), (apart.max(), moved.max())
