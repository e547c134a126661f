"""Benchmark (not a test): peak memory of the stages that walk a dataset, at N and 8N items (issue 17, section 1).

Each stage runs in a fresh interpreter, on a generated ImageNet-style folder of 256^2 JPEGs cut from the offline
photos, where one image (0.75 MB as float32) is visible in a process's memory:
  encode     encode_training_latents: N training images through a tiny AE into the latent cache
  reference  ReferenceStatistics.get: Fréchet statistics of N reference images (proxy feature network)
  evaluate   evaluate_dit: N samples of one DiT snapshot, decoded at 256^2 and scored against the reference
It prints, per stage, the seconds of the stage call, the peak RSS of the process, and the peak PSS of the process
with its loader workers, at N and 8N, and their ratios. Target: RSS ratio <= 1.2 while the time grows about 8x.
With --before REF the same runs on REF's `src` (`git archive`, nothing checked out), for a before/after table.

    python bench/bench_memory.py [--n 128] [--before main] [--stages encode,reference,evaluate]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOLUTION = 256
# Per stage, how much smaller N is than --n: sampling and decoding 256^2 images costs more than reading them.
SCALE = {"encode": 1, "reference": 1, "evaluate": 2}

# The stages through package functions whose signatures are the same before and after issue 17, with the data
# settings written out (the same in both trees), so that `--before` can run an older tree.
# Peak RSS is the process's VmHWM: getrusage's ru_maxrss would carry over the (large) RSS of the process that spawned
# it, since Linux keeps the high-water mark across exec.
RUNNER = r"""
import json, sys, time
stage, a = sys.argv[1], json.loads(sys.argv[2])
from omegaconf import OmegaConf
from diffusability.generation.reference import ReferenceStatistics
data = OmegaConf.create(a["data"])
tic = time.perf_counter()
if stage == "encode":
    from diffusability.generation.latents import encode_training_latents
    encode_training_latents(a["encode_ae_dir"], a["out"] + ".safetensors", a["n"], 64, 8, 0, "cpu", 1)
elif stage == "reference":
    ReferenceStatistics(a["out"] + ".safetensors", data, a["n"], a["fd"]).get()
else:
    from diffusability.generation.evaluate import evaluate_dit
    ref = ReferenceStatistics(a["reference"], data, 32, a["fd"])
    evaluate_dit(a["dit_dir"], a["ae_dir"], ref, a["n"], 2, "euler", 1.0, 32, "cpu", a["out"] + ".png")
seconds = time.perf_counter() - tic
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "rss_mb": hwm / 1024}))
"""


def make_image_folder(root: Path, num: int, seed: int = 0) -> Path:
    """`num` training JPEGs (and a small val split) of RESOLUTION^2 crops of the offline photos, one class per photo."""
    from PIL import Image

    from diffusability.data.photos import PHOTO_NAMES, PhotoCrops
    from diffusability.metrics.frechet import to_uint8
    crops = PhotoCrops(list(PHOTO_NAMES), RESOLUTION, (0.6, 1.0), seed)
    for split, n in (("train", num), ("val", 2 * len(PHOTO_NAMES))):
        for key in range(n):
            img, label = crops[key if split == "train" else 10**6 + key]
            path = root / split / PHOTO_NAMES[label] / f"{key:06d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(to_uint8(img).permute(1, 2, 0).numpy()).save(path, quality=95)
        for name in PHOTO_NAMES:  # every class in both splits, as describe_dataset requires
            (root / split / name).mkdir(parents=True, exist_ok=True)
    return root


def make_models(work: Path, data_root: Path) -> dict:
    """The inputs of the three stages, made once with this tree: a random-initialised tiny AE with 16 channels at 4x
    compression (256 KB of latents per 256^2 image, as FLUX-AE's 16x32x32 are 64 KB) for encoding; one at 16x
    (16^2 latents) for a 1-step DiT to sample; a proxy feature net; and a small reference file."""
    import torch
    from omegaconf import OmegaConf

    from diffusability.generation.latents import encode_training_latents
    from diffusability.generation.reference import ReferenceStatistics
    from diffusability.metrics.proxy_features import ProxyFeatureNet
    from diffusability.models.autoencoders import build_autoencoder
    from diffusability.provenance import atomic_write, save_tensors
    from diffusability.runconfig import run_config_by_hand
    from diffusability.train.ae import save_final_autoencoder
    from diffusability.train.dit import train_dit
    import yaml
    torch.manual_seed(0)
    settings = work / "data.yaml"  # the workflow's data section for the folder (a --configfile of the suite)
    settings.write_text(yaml.safe_dump({"data": data_settings(data_root)}))
    dirs = {}
    for name, channels, compression in (("encode_ae_dir", 16, 4), ("ae_dir", 4, 16)):
        out = dirs[name] = work / name
        cfg = run_config_by_hand("train_ae", [f"out_dir={out}", f"model.latent_channels={channels}",
                                              f"model.compression={compression}"], configfiles=(str(settings),))
        save_final_autoencoder(build_autoencoder("tiny", channels, compression).eval(), out)
        atomic_write(out / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg, resolve=True)))
    net = ProxyFeatureNet(9, 64)
    proxy = work / "proxy.safetensors"
    save_tensors(proxy, net.state_dict(), metadata={"meta": json.dumps({"num_classes": 9, "feature_dim": 64})})
    cache = work / "latents.safetensors"
    encode_training_latents(dirs["ae_dir"], cache, 64, 64, 32, 0, threads=1)
    dit_dir = work / "dit"
    train_dit(run_config_by_hand("train_dit", [f"out_dir={dit_dir}", f"latents={cache}", "optim.steps=1",
                                               "optim.batch_size=4", "snapshots=[]", "threads=1"]))
    fd = {"kind": "proxy", "weights": str(proxy)}
    reference = work / "reference.safetensors"
    reference.unlink(missing_ok=True)
    ReferenceStatistics(reference, cfg.data, 32, fd).get()
    return {**{k: str(v) for k, v in dirs.items()}, "dit_dir": str(dit_dir), "fd": fd, "reference": str(reference)}


def data_settings(root: Path) -> dict:
    """The workflow's `data` section for the generated folder. Loader workers as a user at scale would use them; 2 on
    this 2-core machine."""
    return {"name": "imagefolder", "root": str(root), "train_dir": "train", "val_dir": "val",
            "resolution": RESOLUTION, "hflip": True, "num_workers": 2}


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            return next((int(line.split()[1]) for line in f if line.startswith(key)), 0)
    except OSError:  # a process that just exited
        return 0


def tree_pss_kb(pid: int) -> int:
    """PSS of a process and its descendants (loader workers): pages shared after the fork are split, not doubled."""
    try:
        kids = [int(c) for t in os.listdir(f"/proc/{pid}/task")
                for c in open(f"/proc/{pid}/task/{t}/children").read().split()]
    except OSError:
        kids = []
    return _kb(f"/proc/{pid}/smaps_rollup", "Pss:") + sum(tree_pss_kb(k) for k in kids)


def run_stage(src: Path, tree: str, stage: str, n: int, work: Path, models: dict, data_root: Path) -> dict:
    """One stage in a fresh interpreter; its process tree's PSS is sampled from here every 50 ms (a sampling thread
    inside the measured process would change its allocation pattern)."""
    out = work / "out" / f"{tree}_{stage}_{n}"
    for old in out.parent.glob(f"{out.name}.*"):  # a reference file left by an earlier run would be read, not made
        old.unlink()
    args = {**models, "n": n, "out": str(out), "data": data_settings(data_root)}
    (work / "out").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile("w+") as log, \
            subprocess.Popen([sys.executable, "-c", RUNNER, stage, json.dumps(args)], env=env, stdout=subprocess.PIPE,
                             stderr=log, text=True) as proc:
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_pss_kb(proc.pid))
            time.sleep(0.05)
        if proc.returncode:
            log.seek(0)
            raise RuntimeError(f"{stage} at {n} failed:\n{log.read()[-3000:]}")
        return {**json.loads(proc.stdout.read().strip().splitlines()[-1]), "tree_pss_mb": peak / 1024}


def checkout_src(ref: str, dest: Path) -> Path:
    """`src` and `config` of git ref `ref` under dest (read from git, nothing checked out)."""
    blob = subprocess.run(["git", "archive", ref, "src", "config"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=128, help="N (the stage also runs at 8N); evaluate uses N/2")
    ap.add_argument("--before", help="a git ref whose src to measure beside this tree")
    ap.add_argument("--stages", default="encode,reference,evaluate")
    ap.add_argument("--workdir", help="keep the generated folder and models here (default: a temporary folder)")
    args = ap.parse_args(argv)
    stages = args.stages.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        data_root = work / "images"
        if not (data_root / "train").is_dir():
            make_image_folder(data_root, 8 * args.n)
        models = make_models(work, data_root)
        trees = {"after": ROOT / "src"}
        if args.before:
            trees = {"before": checkout_src(args.before, work / "before"), **trees}
        print(f"{'stage':<10} {'tree':<7} {'N':>6} {'s(N)':>8} {'s(8N)':>8} {'x':>6}   "
              f"{'RSS MB(N)':>10} {'RSS MB(8N)':>10} {'x':>6}   {'PSS MB(N)':>10} {'PSS MB(8N)':>10} {'x':>6}")
        for stage in stages:
            n = args.n // SCALE[stage]
            for tree, src in trees.items():
                a, b = (run_stage(src, tree, stage, k, work, models, data_root) for k in (n, 8 * n))
                print(f"{stage:<10} {tree:<7} {n:>6} {a['seconds']:>8.1f} {b['seconds']:>8.1f} "
                      f"{b['seconds'] / a['seconds']:>6.2f}   {a['rss_mb']:>10.0f} {b['rss_mb']:>10.0f} "
                      f"{b['rss_mb'] / a['rss_mb']:>6.2f}   {a['tree_pss_mb']:>10.0f} {b['tree_pss_mb']:>10.0f} "
                      f"{b['tree_pss_mb'] / a['tree_pss_mb']:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
