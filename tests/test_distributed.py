"""Data parallel training with torch.distributed (gloo on CPU): 2 ranks at batch B/2 take the same steps as one
process at batch B, up to float summation order."""
import os
import socket

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from diffusability.runconfig import run_config_by_hand
from diffusability.train.ae import train_autoencoder


def _overrides(out):
    return [f"out_dir={out}", "init_from=null", "threads=1", "optim.steps=4", "optim.batch_size=4", "optim.checkpoint_every=100",
            "model.latent_channels=4", "se.weight=0.5", "optim.grad_clip=null"]


def _rank(rank, world, port, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    train_autoencoder(run_config_by_hand("train_ae", _overrides(out), finetune=True))
    torch.distributed.destroy_process_group()


def test_two_ranks_match_one_process_at_the_same_global_batch(tmp_path):
    train_autoencoder(run_config_by_hand("train_ae", _overrides(tmp_path / "single"), finetune=True))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_rank, args=(2, port, str(tmp_path / "ddp")), nprocs=2, join=True, start_method="spawn")
    a = load_file(tmp_path / "single" / "ae" / "diffusion_pytorch_model.safetensors")
    b = load_file(tmp_path / "ddp" / "ae" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    moved = max((a[k] - b[k]).abs().max().item() for k in a)
    assert moved < 1e-4, moved
    assert not any(torch.equal(a[k], torch.zeros_like(a[k])) for k in a if k.endswith("conv_out.weight"))
