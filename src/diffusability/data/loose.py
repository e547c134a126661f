"""Images or clips from a plain folder of the user's own files, in any layout (issue 19: analysing one's own AE).

The training datasets (`imagefolder`, `videofolder`) want an ImageNet/Kinetics tree with splits and classes; a
one-off analysis should take whatever folder the user has. Files are found recursively and taken in sorted order,
so the same folder always gives the same batch. Images get the ADM centre crop of `imagefolder`; a clip is the first
cut-free stretch of `frames` frames of a video, centre-cropped, as `videofolder`'s validation clips are.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .imagefolder import IMAGE_SUFFIXES, center_crop_arr
from .video import VIDEO_SUFFIXES, crop_clip, load_video_at, segments, video_cuts

__all__ = ["folder_kind", "folder_images", "folder_clips"]


def _files(folder: Path, suffixes) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)


def folder_kind(folder: str | Path) -> str:
    """"image" or "video": what the folder holds (images win when it holds both); one sentence when neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} does not exist")
    if _files(folder, IMAGE_SUFFIXES):
        return "image"
    if _files(folder, VIDEO_SUFFIXES):
        return "video"
    raise FileNotFoundError(f"data folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images and no "
                            f"{'/'.join(VIDEO_SUFFIXES)} videos")


def folder_images(folder: str | Path, *, num: int, resolution: int) -> torch.Tensor:
    """The first `num` images under `folder` (sorted paths), centre-cropped to `resolution`, (N, 3, R, R) in [-1, 1]."""
    files = _files(Path(folder), IMAGE_SUFFIXES)[:num]
    if not files:
        raise FileNotFoundError(f"data folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images")
    arrs = [torch.from_numpy(center_crop_arr(f, resolution).copy()) for f in files]
    return torch.stack(arrs).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def folder_clips(folder: str | Path, *, num: int, resolution: int, frames: int,
                 cut_threshold: float = 8.0) -> torch.Tensor:
    """One clip of `frames` frames from each of the first `num` videos under `folder` that has a long enough shot,
    (N, 3, T, R, R) in [-1, 1]."""
    clips = []
    for f in _files(Path(folder), VIDEO_SUFFIXES):
        n, cuts = video_cuts(str(f), cut_threshold)
        seg = next(((a, b) for a, b in segments(n, cuts) if b - a >= frames), None)
        if seg is None:
            continue  # too short: the next video may do
        clips.append(crop_clip(load_video_at(str(f), resolution), seg[0], frames, 1, resolution, (1.0, 1.0), None))
        if len(clips) == num:
            break
    if not clips:
        raise FileNotFoundError(f"data folder {folder} holds no video with a cut-free stretch of {frames} frames")
    return torch.stack(clips)
