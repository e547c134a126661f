"""CUDA code paths and GPU throughput, in one short run (not a test: CI has no GPU).

    PYTHONPATH=src python bench/gpu_check.py

Checks: the block-DCT profile on the GPU equals the CPU one and its speed vs a device copy; FluxAE-architecture
training steps (bf16 autocast) with and without the SE term; tiny DiT training with torch.compile; the
DiT-XL/2 step time and model FLOP utilisation in bf16 (our loop vs a bare loop, via bench/bench_dit.py).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch


def timed(fn, repeat=20):
    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def check_dct():
    from diffusability.dct import frequency_profile
    x = torch.randn(1024, 16, 32, 32, generator=torch.Generator().manual_seed(0))
    cpu = frequency_profile(x, 8)
    xg = x.cuda()
    gpu = frequency_profile(xg, 8)
    err = max((cpu[k] - gpu[k].cpu()).abs().max().item() for k in cpu)
    t_prof, t_copy = timed(lambda: frequency_profile(xg, 8)), timed(lambda: xg.clone())
    print(f"[dct] GPU vs CPU profile max |diff| {err:.2e}; 64 MiB batch: profile {t_prof * 1e3:.3f} ms, "
          f"copy {t_copy * 1e3:.3f} ms, ratio {t_prof / t_copy:.1f}")


def check_ae(tmp):
    from diffusability.runconfig import run_config_by_hand
    from diffusability.train.ae import train_autoencoder
    for se in (0.0, 0.5):  # the tiny scale's photos at 256^2 through the FLUX.1 AE, trained from scratch
        cfg = run_config_by_hand("train_ae", [
            f"out_dir={tmp}/ae_se{se}", "init_from=null", "model.preset=flux", "model.compression=8",
            "data.resolution=256", "optim.lr=1e-4", "optim.warmup_steps=500", "optim.steps=30",
            "optim.batch_size=8", "optim.checkpoint_every=20", "device=cuda", "precision=bf16", "threads=8",
            f"se.weight={se}"], finetune=True)
        t = time.perf_counter()
        train_autoencoder(cfg)
        dt = time.perf_counter() - t
        log = (Path(tmp) / f"ae_se{se}" / "train_log.csv").read_text().splitlines()
        print(f"[ae] FluxAE 256^2 batch 8 bf16 SE weight {se}: 30 steps in {dt:.1f} s (incl. build/save); "
              f"last log row {log[-1]}")


def check_dit_compile(tmp):
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_dit import synthetic_cache

    from diffusability.runconfig import run_config_by_hand
    from diffusability.train.dit import train_dit
    cache = Path(tmp) / "cache.safetensors"
    synthetic_cache(cache, (16, 8, 8), classes=7)
    for compile_ in (False, True):
        cfg = run_config_by_hand("train_dit", [f"out_dir={tmp}/dit_c{compile_}", f"latents={cache}",
                                               "optim.steps=200", "optim.batch_size=64", "device=cuda",
                                               "precision=bf16", f"compile={compile_}", "snapshots=[100]"])
        t = time.perf_counter()
        train_dit(cfg)
        print(f"[dit] tiny DiT cuda bf16 compile={compile_}: 200 steps in {time.perf_counter() - t:.1f} s")


def main():
    print(torch.__version__, torch.cuda.get_device_name(0), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for check in (check_dct, lambda: check_ae(tmp), lambda: check_dit_compile(tmp)):
            try:
                check()
            except Exception:
                traceback.print_exc()
            sys.stdout.flush()
    for args in (["--preset", "XL/2", "--latent-shape", "16", "32", "32", "--batch", "32", "--steps", "40",
                  "--reps", "1", "--checkpoints", "0"],
                 ["--preset", "B/2", "--latent-shape", "16", "32", "32", "--batch", "256", "--steps", "40",
                  "--reps", "2", "--checkpoints", "1"]):
        subprocess.run([sys.executable, str(Path(__file__).parent / "bench_dit.py"), "--device", "cuda",
                        "--precision", "bf16", "--threads", "8", *args])


if __name__ == "__main__":
    main()
