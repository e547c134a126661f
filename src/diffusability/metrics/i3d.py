"""Inception-I3D (Carreira & Zisserman), the feature network of FVD, in the layout of the widely used PyTorch port
(`Conv3d_1a_7x7.conv3d.weight`, `Mixed_3b.b1b.bn.running_mean`, ..., `logits.conv3d.bias`), so that its Kinetics
`rgb_imagenet.pt`-style state dicts load as they are. Weights are read without unpickling code (weights.read_weights)
from a path the user configures (video.metrics.i3d_weights); nothing is downloaded.

StyleGAN-V's FVD (the most used FVD; Skorokhodov et al. 2022, `src/metrics/frechet_video_distance.py`) runs instead
a TorchScript export of the TF-hub I3D (`i3d_torchscript.pt`), called on uint8 clips (N, 3, T, H, W) with
`rescale=True, resize=True, return_features=True`: it scales to [-1, 1] and resizes to 224^2 itself, and returns the
400 pre-softmax features. `load_i3d_torchscript` / `i3d_torchscript_features` do exactly that
(video.metrics.i3d_torchscript). torch.jit.load reads the archive with TorchScript's own unpickler, which rebuilds
TorchScript types and tensors only, never an arbitrary Python callable (as torch.load without weights_only would);
what runs is the TorchScript graph the user's file holds, as with any network a user points us at.

FVD features are the 400 Kinetics logits of clips resized to 224^2 (the usual FVD choice); `pool` gives the
1024-d pooled features instead. The final average pool is taken over the whole remaining (T, H, W) extent, so
short clips (9 frames) work; with 16+ frames at 224^2 it equals the original fixed [2, 7, 7] pool then time mean.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import read_weights

__all__ = ["InceptionI3d", "load_i3d", "i3d_features", "load_i3d_torchscript", "i3d_torchscript_features",
           "is_torchscript_archive", "STYLEGAN_V_CALL"]

# How StyleGAN-V's FVD calls its TorchScript I3D (src/metrics/frechet_video_distance.py, detector_kwargs).
STYLEGAN_V_CALL = {"rescale": True, "resize": True, "return_features": True}
TORCHSCRIPT_KEY = "video.metrics.i3d_torchscript"


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel, stride, value: float = 0.0) -> torch.Tensor:
    pads = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
        pads += _same_pad(size, k, s)
    return F.pad(x, pads, value=value)


def _triple(v) -> tuple[int, int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


class Unit3D(nn.Module):
    """Conv3d with TensorFlow 'SAME' padding, BatchNorm (eps 1e-3) and ReLU."""

    def __init__(self, cin: int, cout: int, kernel=1, stride=1, bn: bool = True, relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.relu = _triple(kernel), _triple(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=not bn)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None

    def forward(self, x):
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        x = self.bn(x) if self.bn is not None else x
        return F.relu(x) if self.relu else x


class MaxPoolSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = _triple(kernel), _triple(stride)

    def forward(self, x):
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, value=float("-inf")), self.kernel, self.stride)


class Mixed(nn.Module):
    """Inception block: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | max-pool -> 1x1, concatenated."""

    def __init__(self, cin: int, c: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], 3)
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], 3)
        self.b3a, self.b3b = MaxPoolSame(3, 1), Unit3D(cin, c[5])

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


_MIXED = {  # name: (in channels, branch widths)
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)), "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)), "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)), "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)), "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3d(nn.Module):
    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3)
        self.MaxPool3d_3a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b, self.Mixed_3c = Mixed(*_MIXED["Mixed_3b"]), Mixed(*_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPoolSame(3, 2)
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, Mixed(*_MIXED[name]))
        self.MaxPool3d_5a_2x2 = MaxPoolSame(2, 2)
        self.Mixed_5b, self.Mixed_5c = Mixed(*_MIXED["Mixed_5b"]), Mixed(*_MIXED["Mixed_5c"])
        self.logits = Unit3D(1024, num_classes, bn=False, relu=False)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 3, T, 224, 224) in [-1, 1] -> (N, 1024)."""
        for name, _ in self.named_children():
            if name == "logits":
                break
            x = getattr(self, name)(x)
        return x.mean((2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Kinetics logits (N, num_classes)."""
        return self.logits(self.pooled(x)[:, :, None, None, None]).flatten(1)


def load_i3d(path: str | Path) -> InceptionI3d:
    """An I3D from a state-dict file, read without unpickling code (weights.read_weights)."""
    state = read_weights(path, "video.metrics.i3d_weights")
    net = InceptionI3d(int(state["logits.conv3d.weight"].shape[0]))
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def i3d_features(net: InceptionI3d, clips: torch.Tensor, layer: str = "logits") -> torch.Tensor:
    """Features of clips (N, 3, T, H, W) in [-1, 1], each frame resized to 224^2 first."""
    n, c, t, h, w = clips.shape
    frames = clips.transpose(1, 2).reshape(n * t, c, h, w)
    frames = F.interpolate(frames, size=(224, 224), mode="bilinear", align_corners=False, antialias=h > 224)
    x = frames.view(n, t, c, 224, 224).transpose(1, 2)
    return net(x) if layer == "logits" else net.pooled(x)


def is_torchscript_archive(path: str | Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip holding the module's code/ folder), read from the zip's
    directory alone: a state dict saved with torch.save has no code."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.startswith("code/") or "/code/" in n for n in names)


def load_i3d_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    """StyleGAN-V's TorchScript I3D from the file config key video.metrics.i3d_torchscript names (torch.jit.load)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"config key {TORCHSCRIPT_KEY} names {path}, which is not a file")
    if not is_torchscript_archive(path):
        raise ValueError(f"config key {TORCHSCRIPT_KEY} names {path}, which is not a TorchScript archive "
                         "(StyleGAN-V's i3d_torchscript.pt; a state dict goes to video.metrics.i3d_weights)")
    import warnings
    with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; this file format is StyleGAN-V's choice
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


def i3d_torchscript_features(net, clips: torch.Tensor) -> torch.Tensor:
    """Features of uint8 clips (N, 3, T, H, W) as StyleGAN-V computes them (STYLEGAN_V_CALL). Our clips reach it
    through the suite's one to_uint8 (rounded, as an image file stores them), where StyleGAN-V's generator loop
    truncates x * 127.5 + 128: at most one level apart (our choice: the same uint8 as every other metric here)."""
    if clips.dtype != torch.uint8:
        raise ValueError(f"StyleGAN-V's I3D reads uint8 clips, got {clips.dtype}")
    return net(clips, **STYLEGAN_V_CALL)
