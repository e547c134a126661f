"""Fréchet distances between image sets through torch-fidelity's registry.

Two feature spaces:
  - `inception`: torch-fidelity's FID Inception-v3, from a weights file the user provides (never downloaded).
    The file is read with `torch.load(weights_only=True)` and re-saved as a plain state dict before torch-fidelity
    (which unpickles) ever sees it, so a user's file is never unpickled.
  - `proxy`: our ProxyFeatureNet, trained in the DAG (see proxy_features); its distances are labelled *_proxy.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from .proxy_features import load_proxy_net

PROXY_NAME = "diffusability-proxy"


class ProxyExtractor(FeatureExtractorBase):
    """torch-fidelity wrapper of ProxyFeatureNet: uint8 images in, one feature vector per image out."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError("the proxy feature extractor needs feature_extractor_weights_path")
        self.net = load_proxy_net(feature_extractor_weights_path)

    @staticmethod
    def get_provided_features_list():
        return ("proxy",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "proxy"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)

    def forward(self, x):
        return (self.net.features(x.float() / 127.5 - 1.0).double(),)


if PROXY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(PROXY_NAME, ProxyExtractor)


class _UInt8Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] to uint8 (N, 3, H, W), rounded as an image file would store them."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def safe_inception_weights(path: str | Path, workdir: str | Path) -> Path:
    """Read a user's Inception weights without unpickling code, and write a plain state dict for torch-fidelity."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ValueError(f"metrics.inception_weights {path} is not a torch-fidelity Inception-v3 state dict")
    out = Path(workdir) / "inception_state_dict.pt"
    torch.save({k: v for k, v in state.items() if torch.is_tensor(v)}, out)
    return out


def frechet_distance(images1: torch.Tensor, images2: torch.Tensor, kind: str, weights: str | Path,
                     cuda: bool = False) -> float:
    """Fréchet distance between two sets of images in [-1, 1] in the chosen feature space."""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "inception":
            extractor, layer, weights = "inception-v3-compat", "2048", safe_inception_weights(weights, tmp)
        elif kind == "proxy":
            extractor, layer = PROXY_NAME, "proxy"
        else:
            raise ValueError(f"unknown feature space {kind!r}; use inception or proxy")
        out = torch_fidelity.calculate_metrics(
            input1=_UInt8Images(to_uint8(images1)), input2=_UInt8Images(to_uint8(images2)), fid=True,
            feature_extractor=extractor, feature_layer_fid=layer, feature_extractor_weights_path=str(weights),
            cuda=cuda, cache=False, verbose=False, batch_size=64, save_cpu_ram=True)
    return float(out["frechet_inception_distance"])


def metric_name(kind: str, base: str) -> str:
    """`fid`/`rfid` with real Inception features; `fd_proxy`/`rfid_proxy` with the offline proxy."""
    return base if kind == "inception" else ("fd_proxy" if base == "fid" else f"{base}_proxy")


def _extractor_spec(kind: str, weights: str | Path, workdir: str | Path) -> tuple[str, str, Path]:
    if kind == "inception":
        return "inception-v3-compat", "2048", safe_inception_weights(weights, workdir)
    if kind == "proxy":
        return PROXY_NAME, "proxy", Path(weights)
    raise ValueError(f"unknown feature space {kind!r}; use inception or proxy")


def feature_statistics(images: torch.Tensor, kind: str, weights: str | Path, cuda: bool = False) -> dict:
    """Mean and covariance of the features of images in [-1, 1], through torch-fidelity's extractor registry."""
    from torch_fidelity.metric_fid import fid_features_to_statistics
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset
    with tempfile.TemporaryDirectory() as tmp:
        name, layer, path = _extractor_spec(kind, weights, tmp)
        extractor = create_feature_extractor(name, [layer], cuda=cuda, feature_extractor_weights_path=str(path),
                                             verbose=False)
        feats = get_featuresdict_from_dataset(_UInt8Images(to_uint8(images)), extractor, batch_size=64, cuda=cuda,
                                              save_cpu_ram=True, verbose=False)
    return fid_features_to_statistics(feats[layer])


def frechet_from_statistics(stats1: dict, stats2: dict) -> float:
    """Fréchet distance between two {mu, sigma} statistics (torch-fidelity's formula)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric
    return float(fid_statistics_to_metric(stats1, stats2, verbose=False)[KEY_METRIC_FID])
