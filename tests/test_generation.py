"""Latent diffusion: the flow objective and sampler on a known target, Fréchet distances, DiT presets, and the
encode -> train -> sample -> score chain on a real (random-initialised) tiny AE."""
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file

from diffusability.diffusion.flow import flow_loss, sample_flow
from diffusability.generation.evaluate import evaluate_dit
from diffusability.generation.latents import encode_training_latents, load_latents
from diffusability.generation.reference import ReferenceStatistics
from diffusability.metrics.frechet import feature_statistics, frechet_from_statistics
from diffusability.metrics.proxy_features import train_proxy_net
from diffusability.models.dit import build_dit, dit_forward
from diffusability.runconfig import run_config_by_hand
from diffusability.train.dit import train_dit
from conftest import random_tiny_ae_run

MODES = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])


class _VelocityMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2 + 16, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128),
                                       torch.nn.SiLU(), torch.nn.Linear(128, 2))

    def forward(self, x, t, y):
        freqs = torch.arange(8, dtype=torch.float32)
        emb = torch.cat([torch.sin(t[:, None] * 2 ** freqs), torch.cos(t[:, None] * 2 ** freqs)], 1)
        return self.net(torch.cat([x, emb], 1))


def test_flow_loss_and_euler_sampler_transport_a_gaussian_mixture():
    torch.manual_seed(0)
    net = _VelocityMLP()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(1500):
        x = MODES[torch.randint(4, (256,), generator=gen)] + 0.1 * torch.randn(256, 2, generator=gen)
        loss = flow_loss(net, x, torch.zeros(256, dtype=torch.long), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    noise = torch.randn(2000, 2, generator=gen)
    out = sample_flow(net, noise, torch.zeros(2000, dtype=torch.long), steps=50)
    dist = torch.cdist(out, MODES)
    nearest = dist.argmin(1)
    assert (dist.min(1).values < 0.5).float().mean() > 0.9  # samples land on the modes, not between them
    share = torch.bincount(nearest, minlength=4).float() / len(out)
    assert share.min() > 0.15  # and every mode is covered
    # The noise itself is far from the target: the sampler did the work.
    assert (torch.cdist(noise, MODES).min(1).values < 0.5).float().mean() < 0.3


def _proxy(tmp_path):
    data = run_config_by_hand("train_ae", ["out_dir=x"]).data
    from diffusability.data import build_dataset
    path = tmp_path / "proxy.safetensors"
    train_proxy_net(build_dataset(data, "train", 0), len(data.train_photos), steps=20, batch_size=16, lr=2e-3,
                    feature_dim=16, seed=0, out_path=path)
    return path


def _images(n, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 32, 32, generator=g) * 1.2 - 0.6 + shift).clamp(-1, 1)


def test_fid_of_a_set_with_itself_is_zero_and_with_a_shifted_set_positive(tmp_path):
    proxy = _proxy(tmp_path)
    a = feature_statistics(_images(128), "proxy", proxy)
    assert abs(frechet_from_statistics(a, a)) < 1e-6
    assert frechet_from_statistics(a, feature_statistics(_images(128, shift=0.3, seed=1), "proxy", proxy)) > 1e-3


def test_real_inception_path_with_a_random_initialised_weights_file(tmp_path):
    """A stand-in file of torch-fidelity's own Inception format: same architecture, random weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    empty = tmp_path / "empty.pt"
    torch.save({}, empty)
    torch.manual_seed(0)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    weights = tmp_path / "pt_inception-2015-12-05.pth"
    torch.save(net.state_dict(), weights)
    a = feature_statistics(_images(24), "inception", weights)
    b = feature_statistics(_images(24, shift=0.5, seed=1), "inception", weights)
    assert a["mu"].shape == (2048,)
    # Random weights give tiny features, so compare the two distances with each other, not with a constant.
    cross = frechet_from_statistics(a, b)
    assert cross > 0 and abs(frechet_from_statistics(a, a)) <= 1e-6 * cross


@pytest.mark.parametrize("preset,params_m", [("B/2", 130), ("L/2", 458), ("XL/2", 675)])
def test_paper_dit_presets_build_and_run_on_cpu(preset, params_m):
    model = build_dit(preset, latent_channels=4, latent_size=4, num_classes=1000)
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(n - params_m) / params_m < 0.01, f"{preset}: {n:.1f}M parameters"
    with torch.no_grad():
        v = dit_forward(model, torch.randn(2, 4, 4, 4), torch.tensor([0.3, 0.9]), torch.tensor([1, 1000]))
    assert v.shape == (2, 4, 4, 4) and torch.isfinite(v).all()


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    """A real tiny AE run folder (random init: the chain, not the quality, is under test)."""
    out = tmp_path_factory.mktemp("ae")
    random_tiny_ae_run(out)
    cache = out / "latents.safetensors"
    info = encode_training_latents(out, cache, num_latents=96, norm_samples=64, batch_size=32, seed=0, threads=1)
    return out, cache, info


def test_latent_cache_holds_latents_labels_and_normalisation(ae_run):
    from diffusability.runconfig import workflow_config
    photos = len(workflow_config("tiny")["data"]["train_photos"])  # a class per training photo
    _, cache, info = ae_run
    t, num_classes = load_latents(cache)
    assert t["latents"].shape == (96, 4, 8, 8) and info["num_classes"] == num_classes == photos
    assert t["labels"].max() < photos and t["mean_position"].shape == (4, 8, 8) and t["std_channel"].shape == (4, 1, 1)
    z = (t["latents"][:64] - t["mean_position"]) / t["std_position"]
    assert torch.allclose(z.mean(0), torch.zeros(4, 8, 8), atol=1e-5)


def _dit_cfg(out, cache, steps=4, extra=()):
    return run_config_by_hand("train_dit", [f"out_dir={out}", f"latents={cache}", f"optim.steps={steps}",
                                            "optim.batch_size=8", "optim.checkpoint_every=2", "snapshots=[2]",
                                            "optim.log_every=1", *extra])


def test_dit_trains_and_reference_statistics_are_computed_once(ae_run, tmp_path):
    ae_dir, cache, _ = ae_run
    dit_dir = tmp_path / "dit"
    train_dit(_dit_cfg(dit_dir, cache))
    assert (dit_dir / "snapshots" / "step_00000002.safetensors").exists() and (dit_dir / "dit").is_dir()
    fd = {"kind": "proxy", "weights": str(_proxy(tmp_path))}
    data = run_config_by_hand("train_ae", ["out_dir=x"]).data
    ref = ReferenceStatistics(tmp_path / "ref.safetensors", data, 32, fd)
    df = evaluate_dit(dit_dir, ae_dir, ref, num_samples=16, steps=2, sampler="heun", guidance=1.5, batch_size=8,
                      grid_path=tmp_path / "grid.png")
    assert list(df.step) == [2, 4] and set(df.metric) == {"fd_proxy"} and (df.value > 0).all()
    assert ref.computations == 1  # two checkpoints, one pass of the reference set
    again = ReferenceStatistics(tmp_path / "ref.safetensors", data, 32, fd)
    evaluate_dit(dit_dir, ae_dir, again, num_samples=16, steps=2, sampler="euler", guidance=1.0, batch_size=8)
    assert again.computations == 0  # a later model reuses the saved statistics
    assert (tmp_path / "grid.png").stat().st_size > 0


@pytest.mark.slow  # DiT trainings in fresh interpreters, one killed mid-run (about 40 s)
def test_killed_dit_training_resumes_bitwise(ae_run, tmp_path):
    _, cache, _ = ae_run
    steps = 300

    def cli(out):
        return [sys.executable, "-m", "diffusability.cli.train_dit", f"out_dir={out}", f"latents={cache}",
                f"optim.steps={steps}", "optim.batch_size=8", "optim.checkpoint_every=100", "snapshots=[]",
                "threads=1"]

    subprocess.run(cli(tmp_path / "straight"), check=True, capture_output=True, timeout=300)
    out = tmp_path / "killed"
    proc = subprocess.Popen(cli(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 240
    while not (out / "checkpoints" / "step_00000100").exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before its first checkpoint"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "dit").exists(), "the run was meant to die before finishing"
    rerun = subprocess.run(cli(out), check=True, capture_output=True, text=True, timeout=300)
    assert "resumed from step" in rerun.stdout
    a = load_file(tmp_path / "straight" / "dit" / "diffusion_pytorch_model.safetensors")
    b = load_file(out / "dit" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
