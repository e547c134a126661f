"""Fréchet distances between image (or clip) sets through torch-fidelity's registry.

Feature spaces:
  - `inception`: torch-fidelity's FID Inception-v3, from a weights file the user provides (never downloaded).
    The file is read without unpickling code (weights.read_weights) and re-saved as a plain state dict before
    torch-fidelity (which unpickles) ever sees it.
  - `proxy`: our ProxyFeatureNet, trained in the DAG (see proxy_features); its distances are labelled *_proxy.
  - `i3d`: Inception-I3D from a user's state dict (FVD; see i3d), read the same way.
  - `i3d_torchscript`: StyleGAN-V's TorchScript I3D (FVD as StyleGAN-V computes it; see i3d).
  - `video_proxy`: the video ProxyFeatureNet trained in the DAG; distances labelled fvd_proxy / rfvd_proxy.

torch-fidelity's extractors compute the features; their mean and covariance come from running float64 sums
(metrics/feature_statistics.py) fed batch by batch through a FeatureStream, so no set's features are ever held whole
and shards of a set merge exactly (issue 17).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from ..weights import read_weights
from .feature_statistics import FeatureStatistics
from .proxy_features import load_proxy_net

PROXY_NAME = "diffusability-proxy"
I3D_NAME = "diffusability-i3d"
I3D_TORCHSCRIPT_NAME = "diffusability-i3d-torchscript"


class _NetFromFile(FeatureExtractorBase):
    """A torch-fidelity extractor around a network read from a local weights file (never downloaded): subclasses
    name the loader, the sentence for a missing file, their layers and a dummy input."""
    MISSING = "this feature extractor needs feature_extractor_weights_path"
    DEFAULT_LAYER = ""
    DUMMY_SHAPE: tuple[int, ...] = ()

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(self.MISSING)
        self.net = self.load(feature_extractor_weights_path)

    @staticmethod
    def load(path):
        raise NotImplementedError

    @classmethod
    def get_default_feature_layer_for_metric(cls, metric):
        return cls.DEFAULT_LAYER

    @staticmethod
    def can_be_compiled():
        return False

    @classmethod
    def get_dummy_input_for_compile(cls):
        return torch.zeros(cls.DUMMY_SHAPE, dtype=torch.uint8)


class ProxyExtractor(_NetFromFile):
    """torch-fidelity wrapper of ProxyFeatureNet: uint8 images in, one feature vector per image out."""
    MISSING = "the proxy feature extractor needs feature_extractor_weights_path"
    DEFAULT_LAYER = "proxy"
    DUMMY_SHAPE = (1, 3, 32, 32)

    @staticmethod
    def load(path):
        return load_proxy_net(path)

    @staticmethod
    def get_provided_features_list():
        return ("proxy", "logits")  # logits: its class head, for the proxy Inception Score (isc_proxy)

    def forward(self, x):
        feats = self.net.features(x.float() / 127.5 - 1.0)
        out = {"proxy": feats}
        if "logits" in self.features_list:
            out["logits"] = self.net.head(F.silu(feats))  # = self.net(x): ProxyFeatureNet.forward
        return tuple(out[name].double() for name in self.features_list)


if PROXY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(PROXY_NAME, ProxyExtractor)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] to uint8 (N, 3, H, W), rounded as an image file would store them."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def safe_inception_weights(path: str | Path, workdir: str | Path) -> Path:
    """Read a user's Inception weights without unpickling code, and write a plain state dict for torch-fidelity."""
    state = read_weights(path, "metrics.inception_weights")
    out = Path(workdir) / "inception_state_dict.pt"
    torch.save({k: v for k, v in state.items() if torch.is_tensor(v)}, out)
    return out


class I3DExtractor(_NetFromFile):
    """torch-fidelity wrapper of Inception-I3D (FVD): uint8 clips (N, 3, T, H, W) in, Kinetics logits out."""
    MISSING = "FVD needs metrics.i3d_weights: a local Inception-I3D state dict"
    DEFAULT_LAYER = "logits"
    DUMMY_SHAPE = (1, 3, 9, 32, 32)

    @staticmethod
    def load(path):
        from .i3d import load_i3d
        return load_i3d(path)

    @staticmethod
    def get_provided_features_list():
        return ("logits", "pool")

    def forward(self, x):
        from .i3d import i3d_features
        x = x.float() / 127.5 - 1.0
        return tuple(i3d_features(self.net, x, layer).double() for layer in self.features_list)


if I3D_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(I3D_NAME, I3DExtractor)


class I3DTorchScriptExtractor(_NetFromFile):
    """torch-fidelity wrapper of StyleGAN-V's TorchScript I3D: uint8 clips (N, 3, T, H, W) in, its 400 features out
    (called as StyleGAN-V calls it: rescaled and resized to 224^2 inside the network)."""
    MISSING = "this FVD needs video.metrics.i3d_torchscript: StyleGAN-V's TorchScript I3D file"
    DEFAULT_LAYER = "features"
    DUMMY_SHAPE = (1, 3, 9, 32, 32)

    @staticmethod
    def load(path):
        from .i3d import load_i3d_torchscript
        return load_i3d_torchscript(path)

    @staticmethod
    def get_provided_features_list():
        return ("features",)

    def forward(self, x):
        from .i3d import i3d_torchscript_features
        return (i3d_torchscript_features(self.net, x).double(),)


if I3D_TORCHSCRIPT_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(I3D_TORCHSCRIPT_NAME, I3DTorchScriptExtractor)

# kind -> (torch-fidelity extractor, feature layer, metric names for generation / reconstruction)
FEATURE_SPACES = {
    "inception": ("inception-v3-compat", "2048", "fid", "rfid"),
    "proxy": (PROXY_NAME, "proxy", "fd_proxy", "rfid_proxy"),
    "i3d": (I3D_NAME, "logits", "fvd", "rfvd"),
    "i3d_torchscript": (I3D_TORCHSCRIPT_NAME, "features", "fvd", "rfvd"),
    "video_proxy": (PROXY_NAME, "proxy", "fvd_proxy", "rfvd_proxy"),
}


def metric_name(kind: str, base: str) -> str:
    """The name a distance is reported under: `fid`/`rfid` (Inception), `fvd`/`rfvd` (I3D), and the offline
    proxies `fd_proxy`/`rfid_proxy` (images) and `fvd_proxy`/`rfvd_proxy` (video); base is `fid` or `rfid`."""
    if kind not in FEATURE_SPACES:
        raise ValueError(f"unknown feature space {kind!r}; use one of {', '.join(FEATURE_SPACES)}")
    return FEATURE_SPACES[kind][2 if base == "fid" else 3]


FEATURE_BATCH = 64  # images per pass of the feature network (torch-fidelity's batch before the streaming path)


class FeatureSpace:
    """One feature extractor, built once (per evaluation job) and used for every set of images or clips."""

    def __init__(self, kind: str, weights: str | Path, cuda: bool = False, logits_layer: str | None = None):
        """`logits_layer`: a second layer of the same forward pass, the class logits of an Inception Score
        (metrics/sample_quality.isc_logits_layer); the features of `self.layer` do not change with it."""
        from torch_fidelity.utils import create_feature_extractor
        if kind not in FEATURE_SPACES:
            raise ValueError(f"unknown feature space {kind!r}; use one of {', '.join(FEATURE_SPACES)}")
        self.kind, self.cuda, self.logits_layer = kind, cuda, logits_layer
        name, self.layer = FEATURE_SPACES[kind][:2]
        layers = [self.layer] + ([logits_layer] if logits_layer else [])
        with tempfile.TemporaryDirectory() as tmp:
            path = safe_inception_weights(weights, tmp) if kind == "inception" else Path(weights)
            self.extractor = create_feature_extractor(name, layers, cuda=cuda,
                                                      feature_extractor_weights_path=str(path), verbose=False)

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features (B, D) of one batch of uint8 images (or clips), and their class logits (B, C) when the space
        was built with a logits layer (else None), on the CPU."""
        if self.cuda:
            images = images.cuda(non_blocking=True)
        feats = self.extractor.convert_features_tuple_to_dict(self.extractor(images))
        return feats[self.layer].cpu(), (feats[self.logits_layer].cpu() if self.logits_layer else None)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of one batch of uint8 images (or clips), on the CPU."""
        return self.features_and_logits(images)[0]

    def stream(self, batch_size: int = FEATURE_BATCH, *, extras=None, start: int = 0) -> FeatureStream:
        return FeatureStream(self, batch_size, extras=extras, start=start)

    def statistics(self, images: torch.Tensor) -> dict:
        """Mean and covariance of the features of images (or clips) in [-1, 1]."""
        stream = self.stream()
        for i in range(0, len(images), FEATURE_BATCH):
            stream.add(images[i:i + FEATURE_BATCH])
        return stream.statistics().mu_sigma()

    def distance(self, images1: torch.Tensor, images2: torch.Tensor) -> float:
        return frechet_from_statistics(self.statistics(images1), self.statistics(images2))


class FeatureStream:
    """Images (or clips) in [-1, 1] in, running feature statistics out, in constant memory (issue 17).

    Whatever pieces a stream is fed in (a sampler's batches, a loader's), the feature network sees batches of
    `batch_size` in order, so a stream gives the features one pass over the whole set would: a change of the
    sampling or loading batch never moves the statistics.

    `extras` (a metrics.sample_quality.SampleExtras) also gets each batch's features and class logits, with the
    index in the whole set of the batch's first image (`start`: the stream's first image, a shard's start).
    """

    def __init__(self, space: FeatureSpace, batch_size: int = FEATURE_BATCH, *, extras=None, start: int = 0):
        self.space, self.batch_size, self.extras, self.index = space, int(batch_size), extras, int(start)
        if extras is not None and extras.isc_layer is not None and space.logits_layer != extras.isc_layer:
            raise ValueError(f"the Inception Score needs the feature space built with logits_layer="
                             f"{extras.isc_layer!r}")
        self.stats: FeatureStatistics | None = None
        self._pending: list[torch.Tensor] = []
        self._num_pending = 0

    def add(self, images: torch.Tensor) -> None:
        """Fold in a batch of images in [-1, 1] (or uint8)."""
        self._pending.append(images if images.dtype == torch.uint8 else to_uint8(images))
        self._num_pending += len(images)
        while self._num_pending >= self.batch_size:
            self._flush(self.batch_size)

    def _flush(self, n: int) -> None:
        pending = torch.cat(self._pending) if len(self._pending) > 1 else self._pending[0]
        batch, rest = pending[:n], pending[n:]
        self._pending, self._num_pending = ([rest] if len(rest) else []), len(rest)
        feats, logits = self.space.features_and_logits(batch)
        if self.extras is not None:
            self.extras.update(feats, logits, self.index)
        self.index += len(batch)
        if self.stats is None:
            self.stats = FeatureStatistics(feats.shape[1])
        self.stats.update(feats)

    def statistics(self) -> FeatureStatistics:
        """The running sums of every image added so far (the last partial batch goes through the network here)."""
        if self._num_pending:
            self._flush(self._num_pending)
        if self.stats is None:
            raise ValueError("no images were added to this feature stream")
        return self.stats


def feature_statistics(images: torch.Tensor, kind: str, weights: str | Path, cuda: bool = False) -> dict:
    """Mean and covariance of the features of images in [-1, 1] (builds the extractor: use FeatureSpace to reuse)."""
    return FeatureSpace(kind, weights, cuda).statistics(images)


def frechet_distance(images1: torch.Tensor, images2: torch.Tensor, kind: str, weights: str | Path,
                     cuda: bool = False) -> float:
    """Fréchet distance between two sets of images (or clips) in [-1, 1] in the chosen feature space."""
    return FeatureSpace(kind, weights, cuda).distance(images1, images2)


def frechet_from_statistics(stats1: dict, stats2: dict) -> float:
    """Fréchet distance between two {mu, sigma} statistics (torch-fidelity's formula)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric
    # float64 on both sides: a reference file written before the running sums may hold a float32 mean.
    stats1, stats2 = ({k: np.asarray(s[k], dtype=np.float64) for k in ("mu", "sigma")} for s in (stats1, stats2))
    return float(fid_statistics_to_metric(stats1, stats2, verbose=False)[KEY_METRIC_FID])
