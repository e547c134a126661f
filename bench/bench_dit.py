"""Benchmark (not a test): DiT training steps/s of our loop vs a bare diffusers loop on the same preset and batch.

Our loop includes latent batches drawn from the cache, label drops, logging, EMA, checkpoints and snapshots.

    python bench/bench_dit.py --latents results/tiny/latents/<ae>.safetensors [--preset tiny] [--steps 300]
    python bench/bench_dit.py --preset XL/2 --device cuda --precision bf16 --latent-shape 16 32 32 --batch 32
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file

from diffusability.models.dit import DIT_PRESETS, build_dit, dit_forward
from diffusability.runconfig import run_config_by_hand
from diffusability.train.dit import train_dit


def synthetic_cache(path: Path, shape: tuple[int, int, int], n: int = 512, classes: int = 1000) -> None:
    z = torch.randn(n, *shape)
    save_file({"latents": z, "labels": torch.randint(classes, (n,)), "mean_position": z.mean(0),
               "std_position": z.std(0), "mean_channel": z.mean((0, 2, 3)).view(-1, 1, 1).contiguous(),
               "std_channel": z.std((0, 2, 3)).view(-1, 1, 1).contiguous()}, str(path),
              metadata={"num_classes": str(classes)})


def dit_flops_per_step(model, tokens: int, batch: int) -> float:
    """~6 x (token-wise parameters) x tokens x batch, plus attention (12 x layers x width x tokens^2 x batch)."""
    per_token = sum(p.numel() for n, p in model.named_parameters() if ".attn1." in n or ".ff." in n)
    cfg = model.config
    attn = 12 * cfg.num_layers * cfg.num_attention_heads * cfg.attention_head_dim * tokens ** 2 * batch
    return 6.0 * per_token * tokens * batch + attn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latents", default=None, help="a latent cache; default: a synthetic one of --latent-shape")
    ap.add_argument("--latent-shape", type=int, nargs=3, default=[16, 8, 8])
    ap.add_argument("--preset", default="tiny", choices=list(DIT_PRESETS))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--checkpoints", type=int, default=3, help="checkpoints written during our loop's run")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="for MFU: dense bf16 peak (H100 SXM: 989)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.latents or str(Path(tmp) / "cache.safetensors")
        if args.latents is None:
            synthetic_cache(Path(cache), tuple(args.latent_shape))
        from diffusability.generation.latents import load_latents
        t, num_classes = load_latents(cache)
        c, h, _ = t["latents"].shape[1:]
        model = build_dit(args.preset, c, h, num_classes).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
        x = t["latents"][: args.batch].to(dev)
        y = t["labels"][: args.batch].to(dev)
        amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

        def bare(n):
            for _ in range(n):
                tt = torch.rand(len(x), device=dev)
                eps = torch.randn_like(x)
                xt = (1 - tt.view(-1, 1, 1, 1)) * x + tt.view(-1, 1, 1, 1) * eps
                with amp:
                    loss = (dit_forward(model, xt, tt, y).float() - (eps - x)).square().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        bare(5)
        bare_s, ours_s, steady = [], [], []
        for rep in range(args.reps):
            s = time.perf_counter()
            bare(args.steps)
            bare_s.append(time.perf_counter() - s)
            out = Path(tmp) / f"run{rep}"
            cfg = run_config_by_hand("train_dit", [
                f"out_dir={out}", f"latents={cache}", f"model.preset={args.preset}", f"optim.steps={args.steps}",
                f"optim.batch_size={args.batch}",
                f"optim.checkpoint_every={max(1, args.steps // (args.checkpoints + 1))}",
                f"snapshots=[{args.steps // 2}]", f"threads={args.threads}", f"device={args.device}",
                f"precision={args.precision}", f"optim.log_every={max(1, args.steps // 20)}"])
            s = time.perf_counter()
            train_dit(cfg)
            ours_s.append(time.perf_counter() - s)
            log = pd.read_csv(out / "train_log.csv")
            steady.append(1.0 / log.sec_per_step.iloc[1:].median())
        b, o = statistics.median(bare_s), statistics.median(ours_s)
    print(f"DiT-{args.preset}, latents {c}x{h}x{h}, batch {args.batch}, {args.steps} steps, {args.device}, "
          f"{args.precision}, {args.threads} threads (median of {args.reps})")
    print(f"    bare diffusers loop  {args.steps / b:7.2f} steps/s")
    print(f"    our loop (all-in)    {args.steps / o:7.2f} steps/s   (model build, batches from the cache, EMA, "
          f"logging, {args.checkpoints} checkpoints, 2 snapshots, final save)")
    print(f"    overhead = {100 * (o / b - 1):+.1f}%")
    st = statistics.median(steady)
    print(f"    our loop in steady state (train_log sec_per_step, build and saves excluded) {st:7.2f} steps/s: "
          f"overhead {100 * (args.steps / b / st - 1):+.1f}%")
    tokens = (h // DIT_PRESETS[args.preset].patch) ** 2
    flops = dit_flops_per_step(model, tokens, args.batch)
    print(f"    model FLOPs/step ~ {flops / 1e12:.3f} TFLOP; bare loop {flops * args.steps / b / 1e12:.2f} TFLOP/s"
          + (f", MFU {100 * flops * args.steps / b / 1e12 / args.peak_tflops:.1f}% of {args.peak_tflops:g}"
             if dev.type == "cuda" else ""))


if __name__ == "__main__":
    main()
