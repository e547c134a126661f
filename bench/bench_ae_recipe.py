"""The tiny AE recipe's PSNR against its cost (issue 18, section 1): not a test, prints measured numbers side by side.

Each recipe is a list of Hydra overrides of the `tiny` scale's reference AE run (runconfig.run_config_by_hand, the
run the workflow's train_ae would get); every row trains one AE through the package's trainer, one at a time, then
scores it as the workflow's evaluate_ae does (validation PSNR: decode(posterior mean), the fixed coffee /
grace_hopper crops). Printed per row: steps, validation PSNR, CPU seconds of the training (process time: what the
job costs on a core of its own; wall time is also printed, inflated when other work shares the machine) and CPU
milliseconds per step.

    python bench/bench_ae_recipe.py --channels 16        # the current defaults vs the previous recipe
    python bench/bench_ae_recipe.py --recipes noema --channels 16 --set optim.steps=3201 \
        --curve 400,800,1200,1500,2000,2400,3200          # PSNR vs steps and CPU seconds in one run
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

# Recipes as overrides of today's defaults. `old` is the tiny recipe before issue 18 (7 photos, batch 16, constant
# lr 5e-4, 300 steps, EMA 0.999); `photos7` is today's optimiser on the old data (what the six video stills buy);
# `noema` has no EMA, so that --curve (one run scored at several steps) gives exactly the shorter runs' weights.
OLD_DATA = "data.train_photos=[astronaut,chelsea,rocket,motorcycle_left,motorcycle_right,china,flower]"
RECIPES: dict[str, list[str]] = {
    "default": [],
    "old": [OLD_DATA, "optim.steps=300", "optim.lr=5e-4", "optim.ema_decay=0.999", "optim.warmup_steps=20",
            "optim.batch_size=16", "model.preset=tiny"],
    "photos7": [OLD_DATA],
    "noema": ["optim.ema_decay=0"],
}


class PsnrProbe:
    """A zero regulariser that scores the weights being trained on the validation crops at the given steps, so one
    run gives the PSNR-vs-steps curve. With a constant lr after warm-up and no EMA (ema_decay 0) the weights after
    k steps are exactly those of a k-step run, whatever the total. Its own seconds are kept apart."""

    def __init__(self, data_cfg, steps: list[int]):
        import torch

        from diffusability.analysis.spectra import validation_images
        self.x = validation_images(data_cfg, 64)
        self.steps, self.rows, self.own, self.t0 = set(steps), [], 0.0, time.process_time()
        self.zero = torch.zeros(())

    def __call__(self, *, ae, step, **_):
        import torch

        from diffusability.analysis.perceptual import psnr
        if step in self.steps:
            cpu = time.process_time()
            with torch.no_grad():
                rec = ae.decode(ae.encode(self.x).latent_dist.mean).sample.clamp(-1, 1)
            self.rows.append((step, float(psnr(rec, self.x).mean()), cpu - self.t0 - self.own))
            print(f"(curve) step {step}: PSNR {self.rows[-1][1]:.2f} dB after {self.rows[-1][2]:.1f} CPU s",
                  flush=True)
            self.own += time.process_time() - cpu
        return self.zero, {}


def run_one(overrides: list[str], channels: int, kl: float | None, work: Path, curve: list[int] = ()) -> dict:
    from diffusability.analysis.reconstruction import evaluate_reconstruction
    from diffusability.runconfig import run_config_by_hand
    from diffusability.train.ae import train_autoencoder
    extra = [f"out_dir={work}", f"model.latent_channels={channels}"] + ([f"loss.kl_weight={kl}"] if kl is not None
                                                                         else [])
    cfg = run_config_by_hand("train_ae", list(overrides) + extra)
    probe = PsnrProbe(cfg.data, list(curve)) if curve else None
    wall, cpu = time.perf_counter(), time.process_time()
    if probe:
        probe.t0 = cpu
    train_autoencoder(cfg, regularisers=[probe] if probe else None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu - (probe.own if probe else 0.0)
    scores = evaluate_reconstruction(work, num_images=64, batch_size=32, device="cpu")
    steps = int(cfg.optim.steps)
    return {"channels": channels, "kl": float(cfg.loss.kl_weight), "steps": steps, "batch": int(cfg.optim.batch_size),
            "psnr": round(scores["psnr"], 2), "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
            "cpu_ms_per_step": round(1e3 * cpu / steps, 1),
            "curve": [(k, round(p, 2), round(c, 1)) for k, p, c in (probe.rows if probe else [])]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default="old,default", help="comma-separated names of RECIPES")
    ap.add_argument("--channels", default="4,8,16,32,64")
    ap.add_argument("--kl", default=None, help="comma-separated KL weights (default: the run's, ae.kl_reference)")
    ap.add_argument("--set", action="append", default=[], help="an extra Hydra override of every run")
    ap.add_argument("--curve", default="", help="also score the weights at these steps (constant lr, ema_decay=0)")
    ap.add_argument("--csv", default=None, help="append the rows to this CSV as well")
    args = ap.parse_args(argv)
    kls = [float(k) for k in args.kl.split(",")] if args.kl else [None]
    header = f"{'recipe':10s} {'ch':>3s} {'kl':>8s} {'steps':>5s} {'batch':>5s} {'PSNR dB':>8s} {'cpu s':>7s} " \
             f"{'wall s':>7s} {'ms/step':>8s}"
    print(header, flush=True)
    for name in args.recipes.split(","):
        for c in (int(c) for c in args.channels.split(",")):
            for kl in kls:
                with tempfile.TemporaryDirectory() as tmp:
                    row = {"recipe": name, **run_one(RECIPES[name] + args.set, c, kl, Path(tmp),
                                                     [int(k) for k in args.curve.split(",") if k])}
                for k, p, cpu in row["curve"]:
                    print(f"{name:10s} {c:3d} {row['kl']:8.0e} {k:5d} {row['batch']:5d} {p:8.2f} {cpu:7.1f} "
                          f"{'':>7s} {'(curve)':>8s}", flush=True)
                print(f"{name:10s} {c:3d} {row['kl']:8.0e} {row['steps']:5d} {row['batch']:5d} {row['psnr']:8.2f} "
                      f"{row['cpu_s']:7.1f} {row['wall_s']:7.1f} {row['cpu_ms_per_step']:8.1f}", flush=True)
                if args.csv:
                    new = not Path(args.csv).exists()
                    with open(args.csv, "a", newline="") as f:
                        w = csv.DictWriter(f, fieldnames=list(row) + ["set"])
                        if new:
                            w.writeheader()
                        w.writerow({**row, "set": " ".join(args.set)})


if __name__ == "__main__":
    main()
