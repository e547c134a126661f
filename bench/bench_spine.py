"""Benchmarks of the spine (not tests): prints measured ratios side by side.

  (a) block-DCT spectrum of a batch of latents on the CPU: ours (the GEMM path, as it runs beside the encoder) vs
      scipy.fft.dctn vectorised over all blocks vs a plain tensor copy of the same data (the memory-bandwidth
      floor). Targets: ours <= scipy, ours <= 3x copy. On the GPU: bench/gpu_check.py.
  (b) AE training steps/s: our loop (data, logging, EMA, checkpointing) vs a bare diffusers loop on the same
      model and batch size. Target: overhead <= 5%.
  (c) wall time of each stage of a finished run, read from Snakemake's benchmark: files.

    python bench/bench_spine.py [--scale tiny] [--steps 200] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft
import torch


def best_of(fn, repeat: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_dct(shape=(256, 16, 32, 32), block=8) -> None:
    from diffusability.dct import block_dct2, frequency_profile
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    xn = x.numpy()
    n, c, h, w = shape

    def scipy_vectorised():
        tiles = xn.reshape(n, c, h // block, block, w // block, block)
        coeffs = scipy.fft.dctn(tiles, type=2, axes=(3, 5), norm="ortho", workers=torch.get_num_threads())
        np.abs(coeffs).mean(axis=(0, 1, 2, 4))

    fns = {
        "ours (profile)": lambda: frequency_profile(x, block),
        "ours (transform only)": lambda: block_dct2(x, block),
        "scipy dctn (vectorised)": scipy_vectorised,
        "tensor copy": lambda: x.clone(),
    }
    t = {name: best_of(fn) for name, fn in fns.items()}
    mb = x.numel() * 4 / 2**20
    print(f"\n(a) block DCT, latents {tuple(shape)} float32 ({mb:.0f} MiB), block {block}, "
          f"{torch.get_num_threads()} threads, CPU")
    for name, s in t.items():
        print(f"    {name:28s} {s * 1e3:8.2f} ms   {mb / 1024 / s:6.2f} GiB/s")
    ours = t["ours (profile)"]
    print(f"    ours/scipy = {ours / t['scipy dctn (vectorised)']:.2f}  (target <= 1)")
    print(f"    ours/copy  = {ours / t['tensor copy']:.2f}  (target <= 3)")


def bench_training(steps: int, threads: int) -> None:
    from diffusability.data import build_dataset
    from diffusability.models.autoencoders import build_autoencoder
    from diffusability.runconfig import run_config_by_hand
    from diffusability.train.ae import train_autoencoder

    with tempfile.TemporaryDirectory() as tmp:
        cfg = run_config_by_hand("train_ae", [f"out_dir={tmp}", f"optim.steps={steps}", f"threads={threads}",
                                              f"optim.checkpoint_every={max(1, steps // 4)}"])
        # Bare loop: same preset, batch and optimiser, one pre-made real batch, nothing else.
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        ae = build_autoencoder(cfg.model.preset, cfg.model.latent_channels, cfg.model.compression).train()
        opt = torch.optim.AdamW(ae.parameters(), lr=float(cfg.optim.lr))
        ds = build_dataset(cfg.data, "train", 0)
        x = torch.stack([ds[i][0] for i in range(int(cfg.optim.batch_size))])

        def bare(n):
            for _ in range(n):
                post = ae.encode(x).latent_dist
                rec = ae.decode(post.sample()).sample
                loss = (rec - x).abs().mean() + (rec - x).square().mean() + 1e-6 * post.kl().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        bare(5)
        ours_s, bare_s = [], []
        for rep in range(3):  # interleave to share whatever else the machine is doing
            t = time.perf_counter()
            bare(steps)
            bare_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            train_autoencoder(cfg.copy())
            ours_s.append(time.perf_counter() - t)
            for p in Path(tmp).iterdir():
                if p.is_dir():
                    import shutil
                    shutil.rmtree(p)
        b, o = statistics.median(bare_s), statistics.median(ours_s)
    print(f"\n(b) AE training, preset {cfg.model.preset}, batch {cfg.optim.batch_size} at "
          f"{cfg.data.resolution}^2, {steps} steps, {threads} threads (median of 3)")
    print(f"    bare diffusers loop  {steps / b:6.2f} steps/s")
    print(f"    our loop (all-in)    {steps / o:6.2f} steps/s   (includes model build, data, EMA, logging, "
          f"{steps // max(1, steps // 4)} checkpoints, final save)")
    print(f"    overhead = {100 * (o / b - 1):+.1f}%  (target <= 5%)")


def bench_stages(scale: str) -> None:
    rows = []
    for tsv in sorted(Path("benchmarks", scale).rglob("*.tsv")):
        df = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": tsv.parent.name if tsv.parent.name != scale else tsv.stem, "s": float(df["s"].iloc[0])})
    print(f"\n(c) wall time per stage of the `{scale}` run (from benchmarks/{scale}/)")
    if not rows:
        print("    no benchmark files: run `snakemake all` first")
        return
    table = pd.DataFrame(rows).groupby("rule")["s"].agg(["count", "sum", "mean"]).sort_values("sum", ascending=False)
    print(table.round(1).to_string())
    print(f"    total (sum of jobs) {table['sum'].sum():.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="tiny")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bench_dct()
    bench_training(args.steps, args.threads)
    bench_stages(args.scale)


if __name__ == "__main__":
    main()
