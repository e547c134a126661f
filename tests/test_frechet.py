"""Fréchet distances through torch-fidelity: the proxy path (trained on real photos) and the Inception path."""
import torch

from diffusability.data import build_dataset, validation_batch
from diffusability.metrics.frechet import frechet_distance, metric_name
from diffusability.metrics.proxy_features import load_proxy_net, train_proxy_net
from diffusability.runconfig import run_config_by_hand


def test_proxy_net_learns_photos_and_separates_distributions(tmp_path):
    data = run_config_by_hand("train_ae", ["out_dir=x"]).data
    meta = train_proxy_net(build_dataset(data, "train", 0), len(data.train_photos), steps=150, batch_size=32,
                           lr=2e-3, feature_dim=16, seed=0, out_path=tmp_path / "proxy.safetensors")
    assert meta["train_accuracy_last50"] > 1.5 / len(data.train_photos)  # well above chance
    assert load_proxy_net(tmp_path / "proxy.safetensors").embed.out_features == 16
    x, _ = validation_batch(build_dataset(data, "val", 0))
    same = frechet_distance(x, x, "proxy", tmp_path / "proxy.safetensors")
    blurred = torch.nn.functional.avg_pool2d(x, 4)
    blurred = torch.nn.functional.interpolate(blurred, scale_factor=4, mode="nearest")
    shifted = frechet_distance(x, blurred, "proxy", tmp_path / "proxy.safetensors")
    assert abs(same) < 1e-6 and shifted > 100 * max(abs(same), 1e-9)


def test_metric_names_never_call_a_proxy_fid():
    assert metric_name("proxy", "rfid") == "rfid_proxy" and metric_name("proxy", "fid") == "fd_proxy"
    assert metric_name("inception", "rfid") == "rfid"
