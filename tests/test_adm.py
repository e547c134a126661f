"""ADM's evaluation formats (issue 17, section 3) with small hand-made files: a reference batch's mu/sigma as the
reference statistics, and the streamed sample batch export."""
from unittest import mock

import numpy as np
import pytest
import torch

from diffusability.generation.adm import AdmSampleWriter, adm_reference_statistics
from diffusability.generation.reference import ReferenceStatistics
from diffusability.metrics.frechet import FeatureSpace, frechet_from_statistics, to_uint8
from diffusability.runconfig import run_config_by_hand


def _images(n, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 32, 32, generator=g) * 1.2 - 0.6 + shift).clamp(-1, 1)


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    """torch-fidelity's own Inception architecture and file format with random weights (none ship offline)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    tmp = tmp_path_factory.mktemp("inception")
    torch.save({}, tmp / "empty.pt")
    torch.manual_seed(0)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                          feature_extractor_weights_path=str(tmp / "empty.pt"))
    torch.save(net.state_dict(), tmp / "pt_inception-2015-12-05.pth")
    return {"kind": "inception", "weights": str(tmp / "pt_inception-2015-12-05.pth")}


def test_adm_reference_batch_gives_the_distance_of_its_images(inception, tmp_path):
    space = FeatureSpace(inception["kind"], inception["weights"])
    real, fake = space.statistics(_images(12)), space.statistics(_images(12, shift=0.4, seed=1))
    # ADM's layout: the images, then pool (mu, sigma) and spatial (mu_s, sigma_s) statistics.
    npz = tmp_path / "VIRTUAL_tiny_labeled.npz"
    np.savez(npz, arr_0=np.zeros((12, 32, 32, 3), np.uint8), mu=real["mu"], sigma=real["sigma"], mu_s=np.zeros(3),
             sigma_s=np.eye(3))
    data = run_config_by_hand("train_ae", ["out_dir=x"]).data
    ref = ReferenceStatistics(tmp_path / "unused.safetensors", data, 12, inception, adm_reference=npz).get(space)
    direct = frechet_from_statistics(fake, real)
    assert direct > 0 and frechet_from_statistics(fake, ref) == direct
    assert not (tmp_path / "unused.safetensors").exists()  # nothing computed from the data
    with pytest.raises(ValueError, match="inception feature space"):
        adm_reference_statistics(npz, "proxy")
    np.savez(tmp_path / "bad.npz", arr_0=np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="no mu or sigma"):
        adm_reference_statistics(tmp_path / "bad.npz", "inception")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        adm_reference_statistics(tmp_path / "missing.npz", "inception")


def test_adm_sample_batch_round_trips_and_is_written_whole_or_not_at_all(tmp_path):
    images = _images(10)
    path = tmp_path / "samples.npz"
    with AdmSampleWriter(path, 10, 32, 32) as w:
        for a, b in ((0, 4), (4, 9), (9, 10)):
            w.write(images[a:b])
    with np.load(path) as f:
        assert f.files == ["arr_0"]
        arr = f["arr_0"]
    assert arr.dtype == np.uint8 and arr.shape == (10, 32, 32, 3)
    assert np.array_equal(arr, to_uint8(images).permute(0, 2, 3, 1).numpy())
    labels = torch.arange(10) % 3
    with AdmSampleWriter(tmp_path / "labelled.npz", 10, 32, 32, labels=True) as w:
        for a, b in ((0, 6), (6, 10)):
            w.write(images[a:b], labels[a:b])
    with np.load(tmp_path / "labelled.npz") as f:
        assert f.files == ["arr_0", "arr_1"] and np.array_equal(f["arr_1"], labels.numpy())
        assert np.array_equal(f["arr_0"], arr)
    (tmp_path / "labelled.npz").unlink()
    with pytest.raises(ValueError, match="3 samples written, 5 announced"):
        with AdmSampleWriter(tmp_path / "short.npz", 5, 32, 32) as w:
            w.write(images[:3])
    assert not (tmp_path / "short.npz").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["samples.npz"]
