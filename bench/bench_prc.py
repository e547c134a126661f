"""Benchmark (not a test): what precision/recall (dit.extra_metrics: prc; metrics/sample_quality.py) costs, at N and
2N feature vectors per set (Inception's 2048 dimensions), each size in a fresh interpreter.

Precision/recall hold both sets' features by definition (N x D float32 each); the k-NN distances are computed in
row blocks, so the memory beyond the features grows with N (one block of rows against a whole set), never with N^2
(the full N x N matrix: 8 N^2 bytes, 800 MB at N = 10K and 20 GB at the paper's 50K). It prints seconds, peak RSS
above the interpreter's baseline, and what the full matrix would take.

    python bench/bench_prc.py [--n 4000] [--dim 2048] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, time, torch
from diffusability.metrics.sample_quality import precision_recall
n, dim, threads = map(int, sys.argv[1:4])
torch.set_num_threads(threads)
def hwm():
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))) * 1024
base = hwm()
g = torch.Generator().manual_seed(0)
real, fake = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g) * 0.9 + 0.1
t = time.perf_counter()
p, r = precision_recall(real, fake)
print(json.dumps({"seconds": time.perf_counter() - t, "extra_rss": hwm() - base, "precision": p, "recall": r}))
"""


def run(n: int, dim: int, threads: int) -> dict:
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(n), str(dim), str(threads)], check=True,
                         capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = {n: run(n, args.dim, args.threads) for n in (args.n, 2 * args.n)}
    feats = {n: 2 * n * args.dim * 4 for n in rows}
    print(f"{'N':>7} {'seconds':>8} {'peak RSS above base (MB)':>25} {'both sets features (MB)':>24} "
          f"{'full N x N float64 (MB)':>24}")
    for n, r in rows.items():
        print(f"{n:>7} {r['seconds']:>8.1f} {r['extra_rss'] / 2**20:>25.0f} {feats[n] / 2**20:>24.0f} "
              f"{8 * n * n / 2**20:>24.0f}")
    a, b = rows[args.n], rows[2 * args.n]
    print(f"ratios 2N/N: time {b['seconds'] / a['seconds']:.2f} (k-NN: ~4), peak RSS {b['extra_rss'] / a['extra_rss']:.2f}"
          f" (features and row blocks: ~2; a full matrix: ~4)")


if __name__ == "__main__":
    main()
