"""FVD through StyleGAN-V's TorchScript I3D (config key video.metrics.i3d_torchscript; issue 17, section 3): a
random-initialised stand-in of the same file format (a TorchScript archive) and call interface (uint8 clips,
rescale / resize / return_features keywords), scored through the workflow's feature space. Its body is a small
3-D CNN, not the full I3D: the call interface and file format are under test here (tests/test_video.py runs the
Inception-I3D architecture), and the full network at 224^2 costs minutes on two CPU cores."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diffusability.checks import check_config_files
from diffusability.metrics.frechet import FeatureSpace, frechet_from_statistics, metric_name, to_uint8
from diffusability.metrics.i3d import InceptionI3d, is_torchscript_archive, load_i3d_torchscript
from diffusability.workflow_config import ConfigError, resolve_config
from test_config_checks import BASE, ROOT, SCHEMA

FRAMES = 9


class StyleGanVI3D(nn.Module):
    """The call interface of StyleGAN-V's i3d_torchscript.pt: uint8 (N, 3, T, H, W) in; rescale to [-1, 1] and
    resize to 224^2 inside; the 400 pre-softmax features with return_features=True, else the class probabilities."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 16, (3, 7, 7), stride=(2, 8, 8))
        self.logits = nn.Linear(16, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        x = x.float()
        if rescale:
            x = x / 127.5 - 1.0
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear", align_corners=False)
        logits = self.logits(F.relu(self.conv(x)).mean((2, 3, 4)))
        return logits if return_features else logits.softmax(1)


@pytest.fixture(scope="module")
def i3d_torchscript(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(StyleGanVI3D().eval()), str(path))
    return path


def _clips(n, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, FRAMES, 32, 32, generator=g) * 1.2 - 0.6 + shift).clamp(-1, 1)


def test_fvd_scores_clips_through_the_torchscript_i3d(i3d_torchscript, tmp_path):
    assert is_torchscript_archive(i3d_torchscript)
    space = FeatureSpace("i3d_torchscript", i3d_torchscript)
    a, b = _clips(6), _clips(6, shift=0.4, seed=1)
    # The workflow's stream gives the network's features on the uint8 clips, called as StyleGAN-V calls it.
    net = torch.jit.load(str(i3d_torchscript))
    with torch.no_grad():
        direct = net(to_uint8(a), rescale=True, resize=True, return_features=True).double()
    torch.testing.assert_close(space.features(to_uint8(a)), direct)
    sa = space.statistics(a)
    assert sa["mu"].shape == (400,)
    torch.testing.assert_close(torch.from_numpy(sa["mu"]), direct.mean(0), rtol=1e-12, atol=1e-12)
    cross = frechet_from_statistics(sa, space.statistics(b))
    assert cross > 0 and abs(frechet_from_statistics(sa, sa)) <= 1e-6 * cross, cross
    assert metric_name("i3d_torchscript", "fid") == "fvd" and metric_name("i3d_torchscript", "rfid") == "rfvd"
    # A state dict is no TorchScript archive: refused in one sentence naming the key.
    state = tmp_path / "rgb_imagenet.pt"
    torch.save({"logits.conv3d.weight": torch.zeros(1)}, state)
    assert not is_torchscript_archive(state)
    with pytest.raises(ValueError, match="config key video.metrics.i3d_torchscript names .*not a TorchScript"):
        load_i3d_torchscript(state)


def _resolve(metrics: dict) -> dict:
    return resolve_config(copy.deepcopy(BASE), ROOT / "config", {"video": {"metrics": metrics}}, SCHEMA)


def test_config_takes_one_i3d_key_and_names_it_when_its_file_is_wrong(i3d_torchscript, tmp_path):
    check_config_files(_resolve({"i3d_torchscript": str(i3d_torchscript)}))
    with pytest.raises(ConfigError, match="config keys video.metrics.i3d_weights and video.metrics.i3d_torchscript "
                                          "are both set"):
        _resolve({"i3d_torchscript": str(i3d_torchscript), "i3d_weights": str(i3d_torchscript)})
    with pytest.raises(ConfigError, match="config key video.metrics.i3d_torchscript names /nope.pt, which is not a "
                                          "file"):
        check_config_files(_resolve({"i3d_torchscript": "/nope.pt"}))
    state = tmp_path / "rgb_imagenet.pt"
    torch.save(InceptionI3d(4).state_dict(), state)
    with pytest.raises(ConfigError, match="config key video.metrics.i3d_torchscript names .*, which is not a "
                                          "TorchScript archive"):
        check_config_files(_resolve({"i3d_torchscript": str(state)}))
