"""How diffusable is my autoencoder? A one-off answer for any diffusers AE, without the workflow (issue 19):

    python -m diffusability.cli.diffusability path/to/vae --data photos
    python -m diffusability.cli.diffusability black-forest-labs/FLUX.1-dev --data ~/my_images --num-images 64
    python -m diffusability.cli.diffusability path/to/wan_vae --data clips --device cuda --out results/wan
    python -m diffusability.cli.diffusability path/to/vae --inception path/to/weights-inception-2015-12-05-6726825d.pth

`path/to/vae` is a diffusers folder (or a pipeline folder with a `vae/` sub-folder), or a hub id already in the
local Hugging Face cache (nothing is downloaded). It prints the HF share of the AE's latents beside RGB at the
latent's size (paper Sec. 2), its reconstruction PSNR/SSIM and its HF-erasure curve (Fig. 5), and writes
spectrum.csv, hf_share.csv, erasure.csv, reconstruction.csv, spectrum.{pdf,png} (Fig. 2 style) and provenance.json
into --out. Heavy imports (torch, diffusers, matplotlib) wait until the arguments are read.

The reconstruction Fréchet distance needs a feature network, and nothing is downloaded: with --inception (the FID
Inception-v3 weights torch-fidelity uses) it is rFID, with --i3d (an Inception-I3D state dict) for a video AE rFVD,
with --proxy the offline proxy network a workflow run trained (results/<scale>/features/proxy.safetensors, or
video_proxy.safetensors for a video AE) rfid_proxy / rfvd_proxy, the names the workflow's tables use. With none of
them the column is left out and one printed line says so: a number in an untrained feature space would mean nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m diffusability.cli.diffusability",
                                description="Latent spectrum, HF share, HF erasure and reconstruction of an AE.")
    p.add_argument("source", help="diffusers AE folder (or pipeline folder with vae/), or a cached hub id")
    p.add_argument("--data", default="auto", help="photos | clips | a folder of images or videos "
                   "(default: photos for an image AE, clips for a video AE)")
    p.add_argument("--num-images", type=int, default=16, help="images (or clips) analysed (default 16)")
    p.add_argument("--resolution", type=int, default=256, help="square crop side in pixels (default 256, the "
                   "paper's; must be a multiple of block x compression)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip for a video AE (default 1 + 2 x its "
                   "temporal compression)")
    p.add_argument("--block", type=int, default=8, help="DCT block side on the latent (paper: 8)")
    p.add_argument("--latent", choices=("sample", "mean"), default="sample",
                   help="spectrum of posterior samples (what diffusion sees) or of the posterior mode")
    p.add_argument("--normalization", choices=("dc_mean", "dc_block", "none"), default="dc_mean")
    p.add_argument("--fractions", default="0,0.25,0.5,0.75,0.9", help="comma-separated HF erasure fractions")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--out", default=None, help="output folder (default: diffusability_<AE folder name>)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior samples")
    p.add_argument("--inception", default=None, help="FID Inception-v3 weights file (torch-fidelity's): rFID of an "
                   "image AE's reconstructions")
    p.add_argument("--i3d", default=None, help="Inception-I3D state dict: rFVD of a video AE's reconstructions")
    p.add_argument("--proxy", default=None, help="the workflow's proxy feature net (results/<scale>/features/"
                   "proxy.safetensors, or video_proxy.safetensors for a video AE): rfid_proxy / rfvd_proxy")
    return p.parse_args(argv)


FD_WORDS = {"inception": "FID's Inception-v3", "proxy": "the workflow's proxy net",
            "i3d": "Inception-I3D", "video_proxy": "the workflow's video proxy net"}


def feature_space(args: argparse.Namespace, kind: str) -> dict | None:
    """The {kind, weights} of the reconstruction Fréchet distance the options ask for (None: none given); a file
    that is missing, or meant for the other kind of AE, is one sentence naming the option."""
    image, video = args.inception, args.i3d
    if kind == "image" and video or kind == "video" and image:
        wrong, right = ("--i3d", "--inception") if kind == "image" else ("--inception", "--i3d")
        raise ValueError(f"{wrong} is for {'video' if kind == 'image' else 'image'} autoencoders; this is an {kind} "
                         f"autoencoder (use {right} or --proxy)")
    given = [(k, v) for k, v in (("inception", image), ("i3d", video), ("proxy", args.proxy)) if v]
    if len(given) > 1:
        raise ValueError(f"give one of --inception, --i3d and --proxy, not {' and '.join('--' + k for k, _ in given)}")
    if not given:
        return None
    name, path = given[0]
    if not Path(path).expanduser().is_file():
        raise FileNotFoundError(f"--{name} {path} is not a file")
    if name != "proxy":
        return {"kind": name, "weights": str(Path(path).expanduser())}
    import json

    from safetensors import safe_open
    try:
        with safe_open(str(Path(path).expanduser()), "pt") as f:
            video_net = bool(json.loads(f.metadata()["meta"]).get("video"))
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"--proxy {path} is not a proxy feature net the workflow trained ({err})") from err
    if video_net != (kind == "video"):
        raise ValueError(f"--proxy {path} is the {'video' if video_net else 'image'} proxy net, but this is an {kind} "
                         f"autoencoder (use results/<scale>/features/{'video_' if kind == 'video' else ''}"
                         "proxy.safetensors)")
    return {"kind": "video_proxy" if video_net else "proxy", "weights": str(Path(path).expanduser())}


def _fd_line(spec, rec, fd: dict | None) -> str:
    if fd is None:
        opts = "--inception (FID's Inception-v3 weights)" if spec.kind == "image" else "--i3d (an I3D state dict)"
        return (f"  rFID: not computed: no feature network given; pass {opts} or --proxy (the proxy net of a "
                "workflow run, results/<scale>/features/) for a reconstruction Fréchet distance "
                "(nothing is downloaded)")
    from ..metrics.frechet import metric_name
    col = metric_name(fd["kind"], "rfid")
    what = "clips" if spec.kind == "video" else "images"
    return (f"  {col}: {rec[col]:.3f} ({FD_WORDS[fd['kind']]}, over {int(rec.num_images)} {what}: few for a "
            "Fréchet distance, so biased upward; compare AEs only at the same number)")


def _report(spec, data: str, x, frames: dict, fd: dict | None = None) -> str:
    hf = frames["hf"].set_index("source")["hf_share"]
    rec = frames["reconstruction"].iloc[0]
    geo = f"{spec.temporal}x time, {spec.spatial}x space" if spec.kind == "video" else f"{spec.spatial}x"
    er = frames["erasure"]
    curve = ", ".join(f"{r.erase_fraction:g}: {r.psnr_vs_clean:.1f}" for r in er[er.method == "latent"].itertuples()
                      if r.erase_fraction > 0)
    rgb_curve = ", ".join(f"{r.erase_fraction:g}: {r.psnr:.1f}" for r in er[er.method == "rgb"].itertuples()
                          if r.erase_fraction > 0)
    ratio = hf["latent"] / hf["rgb"] if hf["rgb"] > 0 else float("inf")
    return "\n".join([
        f"{spec.name}: {spec.class_name} ({spec.kind}, {geo}, {spec.latent_channels} latent channels)",
        f"  data: {data}, {len(x)} {'clips' if spec.kind == 'video' else 'images'} of shape {tuple(x.shape[1:])}",
        f"  HF share (AC energy in the top half of the zigzag spectrum): latent {hf['latent']:.4f}, "
        f"RGB at the latent's size {hf['rgb']:.4f} ({ratio:.2f}x)",
        f"  reconstruction: PSNR {rec.psnr:.2f} dB, SSIM {rec.ssim:.4f}",
        _fd_line(spec, rec, fd),
        f"  HF erasure, PSNR (dB) vs the clean decode by fraction erased: latent {curve}; RGB {rgb_curve}",
    ])


def run(args: argparse.Namespace) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: this command never downloads
    t0 = time.perf_counter()
    from ..models.zoo import read_spec
    fd = feature_space(args, read_spec(args.source).kind)  # a bad folder or file fails here, before torch's imports
    fractions = [float(f) for f in args.fractions.split(",") if f.strip()]

    from ..analysis.zoo import analyse_source
    from ..plots.zoo import fig_ae_zoo
    from ..provenance import write_csv, write_provenance
    spec, x, out = analyse_source(args.source, data=args.data, num=args.num_images, resolution=args.resolution,
                                  frames=args.frames, block=args.block, normalization=args.normalization,
                                  latent=args.latent, fractions=fractions, batch_size=args.batch_size,
                                  device=args.device, seed=args.seed, fd=fd)
    data = args.data if args.data != "auto" else ("photos" if spec.kind == "image" else "clips")
    dest = Path(args.out or f"diffusability_{Path(str(args.source)).name}")
    for name, df in (("spectrum", out["spectrum"]), ("hf_share", out["hf"]), ("erasure", out["erasure"]),
                     ("reconstruction", out["reconstruction"])):
        write_csv(dest / f"{name}.csv", df)
    fig_ae_zoo(out["spectrum"], [dest / "spectrum.pdf", dest / "spectrum.png"], hf=out["hf"])
    frames = x.shape[2] if x.ndim == 5 else None
    write_provenance(dest / "provenance.json", {**vars(args), "data": data, "frames": frames,
                                                "spec": spec.columns()}, seed=args.seed)
    print(_report(spec, data, x, out, fd))
    print(f"  wrote {dest}/ (spectrum, hf_share, erasure, reconstruction CSVs; spectrum.pdf/png) "
          f"in {time.perf_counter() - t0:.1f} s")
    return dest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ..models.zoo import NotAnAutoencoderError
    try:
        run(args)
    except (NotAnAutoencoderError, FileNotFoundError, ValueError) as err:
        # Bad input (folder, config, data, sizes) is one sentence, not a traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
