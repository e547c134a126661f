"""The `imagefolder` dataset: an ImageNet-style tree `<root>/<split>/<class>/*.{jpg,jpeg,png}` (paper scale).

Images get the usual ADM/DiT preprocessing: resize the short side to the resolution (box-filtered repeatedly while
the image is at least twice as large, then bicubic), centre-crop to a square. Training adds a random horizontal
flip drawn from the sample key, so a resumed run sees the same batches.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runtime import stream_generator

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_image_folder(split_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Files and class names of one split folder; raises one sentence naming the folder when it is unusable."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"image folder {split_dir} does not exist (set data.root to an ImageNet-style tree)")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"image folder {split_dir} has no class sub-folders")
    files = [f for c in classes for f in sorted((split_dir / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise FileNotFoundError(f"image folder {split_dir} has class folders but no .jpg/.jpeg/.png files")
    return files, classes


def center_crop_arr(path: Path, size: int) -> np.ndarray:
    """ADM's centre crop: box-downsample by 2 while large, bicubic to the target short side, crop the centre."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise RuntimeError(f"image file {path} could not be read ({err})") from err
    while min(*img.size) >= 2 * size:
        img = img.resize(tuple(x // 2 for x in img.size), resample=Image.BOX)
    scale = size / min(*img.size)
    img = img.resize(tuple(round(x * scale) for x in img.size), resample=Image.BICUBIC)
    arr = np.asarray(img)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    return arr[top:top + size, left:left + size]


class ImageFolder(torch.utils.data.Dataset):
    """Centre-cropped images of one split. Indexed by sample key: key -> epoch permutation -> file."""

    def __init__(self, split_dir: str | Path, resolution: int, seed: int, shuffle: bool, flip: bool):
        self.files, self.classes = list_image_folder(split_dir)
        self.labels = [self.classes.index(f.parent.name) for f in self.files]
        self.resolution, self.seed, self.shuffle, self.flip = resolution, seed, shuffle, flip
        self._perm_epoch, self._perm = -1, None

    def __len__(self) -> int:
        return len(self.files)

    def _index(self, key: int) -> int:
        if not self.shuffle:
            return key % len(self.files)
        epoch, pos = divmod(int(key), len(self.files))
        if epoch != self._perm_epoch:
            gen = stream_generator(self.seed, epoch)
            self._perm, self._perm_epoch = torch.randperm(len(self.files), generator=gen), epoch
        return int(self._perm[pos])

    def __getitem__(self, key: int):
        i = self._index(key)
        img = torch.from_numpy(center_crop_arr(self.files[i], self.resolution).copy())
        img = img.permute(2, 0, 1).float().div(127.5).sub(1.0)
        if self.flip and torch.rand(1, generator=torch.Generator().manual_seed(self.seed + 7919 * int(key))) < 0.5:
            img = img.flip(-1)
        return img, self.labels[i]
