"""Datasets by name (images: `photos`, `imagefolder`; videos: `clips`, `videofolder`) and the step-indexed sampler that makes training resumable."""
from __future__ import annotations

from pathlib import Path

import torch

from .imagefolder import ImageFolder, list_image_folder
from .photos import PHOTO_NAMES, PhotoCrops
from .video import CLIP_NAMES, VideoFolder, build_clips, clip_segments, list_video_folder

__all__ = ["build_dataset", "StepBatchSampler", "validation_batch", "describe_dataset", "PHOTO_NAMES"]


def build_dataset(cfg, split: str, seed: int) -> torch.utils.data.Dataset:
    """The `split` ("train" or "val") of the dataset named by cfg.name. Val sets have a fixed length."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if cfg.name == "photos":
        photos = list(cfg.train_photos if split == "train" else cfg.val_photos)
        length = None if split == "train" else len(photos) * int(cfg.val_crops_per_photo)
        # Validation crops use their own seed stream so that they never depend on the training seed.
        crop_seed = seed if split == "train" else 10_000 + int(cfg.val_seed)
        return PhotoCrops(photos, int(cfg.resolution), tuple(cfg.crop_scale), crop_seed, length)
    if cfg.name == "imagefolder":
        sub = cfg.train_dir if split == "train" else cfg.val_dir
        return ImageFolder(Path(cfg.root) / sub, int(cfg.resolution), seed, shuffle=split == "train",
                           flip=split == "train" and bool(cfg.hflip))
    if cfg.name == "clips":
        return build_clips(cfg, split, seed)
    if cfg.name == "videofolder":
        sub = cfg.train_dir if split == "train" else cfg.val_dir
        return VideoFolder(cfg, Path(cfg.root) / sub, seed, train=split == "train")
    raise ValueError(f"unknown dataset data.name={cfg.name!r}; use photos, imagefolder, clips or videofolder")


def describe_dataset(cfg) -> dict:
    """What a dataset consists of, checked up front (missing folders fail here, naming the path)."""
    if cfg.name == "photos":
        overlap = sorted(set(cfg.train_photos) & set(cfg.val_photos))
        if overlap:
            raise ValueError(f"data.train_photos and data.val_photos share {overlap}: the split must be by photo")
        for name in list(cfg.train_photos) + list(cfg.val_photos):
            if name not in PHOTO_NAMES:
                raise ValueError(f"data photo {name!r} is unknown; known photos: {', '.join(PHOTO_NAMES)}")
        return {"name": "photos", "train": list(cfg.train_photos), "val": list(cfg.val_photos),
                "val_size": len(cfg.val_photos) * int(cfg.val_crops_per_photo)}
    if cfg.name in ("imagefolder", "videofolder"):
        lister = list_image_folder if cfg.name == "imagefolder" else list_video_folder
        out, names = {"name": cfg.name, "root": str(cfg.root)}, {}
        for split, sub in (("train", cfg.train_dir), ("val", cfg.val_dir)):
            files, names[split] = lister(Path(cfg.root) / sub)
            out[split] = {"files": len(files), "classes": len(names[split])}
        if names["train"] != names["val"]:  # labels are class indices: both splits must number classes alike
            odd = sorted(set(names["train"]) ^ set(names["val"]))
            raise ValueError(f"data.root {cfg.root}: the {cfg.train_dir}/ and {cfg.val_dir}/ folders hold different "
                             f"classes ({', '.join(odd[:5])} in only one), so class labels would not agree")
        return out
    if cfg.name == "clips":
        unknown = sorted(set(cfg.clips) - set(CLIP_NAMES))
        if unknown:
            raise ValueError(f"data.clips names unknown clips {unknown}; known clips: {', '.join(CLIP_NAMES)}")
        out = {"name": "clips", "clips": list(cfg.clips)}
        for split in ("train", "val"):
            segs, _ = clip_segments(list(cfg.clips), split, float(cfg.train_fraction), float(cfg.cut_threshold))
            out[split] = [{"file": Path(s.path).name, "frames": [s.begin, s.end]} for s in segs]
        build_clips(cfg, "val", 0)  # fails here, naming the setting, when no shot is long enough
        return out
    raise ValueError(f"unknown dataset data.name={cfg.name!r}; use photos, imagefolder, clips or videofolder")


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields the sample keys of batches start_step .. total_steps-1; batch t is keys [t*B, (t+1)*B).

    Because a batch is a function of its step alone, a run resumed at step t reads exactly the batches the
    uninterrupted run would have, with any number of loader workers.
    """

    def __init__(self, batch_size: int, start_step: int, total_steps: int, rank: int = 0, world_size: int = 1):
        self.batch_size, self.start_step, self.total_steps = batch_size, start_step, total_steps
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def __iter__(self):
        for step in range(self.start_step, self.total_steps):
            base = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(base, base + self.batch_size))


def validation_batch(dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole (or first `limit`) validation set as one tensor; small by construction at CPU scales."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    items = [dataset[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])
