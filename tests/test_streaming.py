"""The streaming, sharded data path (issue 17): running Fréchet sums that merge exactly, the seeded noise stream,
sharded encoding that holds exactly the unsharded latents, sharded reference and sample statistics, and peak memory
that does not grow with the number of items."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from diffusability.data import build_dataset
from diffusability.generation.evaluate import (evaluate_dit, export_adm_samples, sample_statistics_shard,
                                               score_sample_shards)
from diffusability.generation.latents import (encode_shard, encode_training_latents, gather_latents, load_latents,
                                              shard_path)
from diffusability.generation.reference import ReferenceStatistics, gather_reference_statistics, \
    reference_statistics_shard
from diffusability.generation.sampling import NormalStream, sample_inputs
from diffusability.metrics.feature_statistics import FeatureStatistics, merge_statistics
from diffusability.metrics.frechet import FeatureSpace, frechet_from_statistics
from diffusability.metrics.proxy_features import train_proxy_net
from diffusability.runconfig import run_config_by_hand
from diffusability.train.dit import train_dit
from conftest import random_tiny_ae_run

DATA = run_config_by_hand("train_ae", ["out_dir=x"]).data


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """The proxy feature network, briefly trained on the photos (a real feature space, not random weights)."""
    path = tmp_path_factory.mktemp("proxy") / "proxy.safetensors"
    train_proxy_net(build_dataset(DATA, "train", 0), len(DATA.train_photos), steps=20, batch_size=16, lr=2e-3,
                    feature_dim=16, seed=0, out_path=path)
    return {"kind": "proxy", "weights": str(path)}


def _photos(n, seed=0):
    ds = build_dataset(DATA, "train", seed)
    return torch.stack([ds[i][0] for i in range(n)])


def test_running_sums_of_shards_merge_to_one_pass_and_to_numpys_estimator(proxy):
    space = FeatureSpace(proxy["kind"], proxy["weights"])
    feats = space.features((((_photos(150) + 1) * 127.5).round().to(torch.uint8)))
    whole = FeatureStatistics(feats.shape[1]).update(feats)
    shards = [FeatureStatistics(feats.shape[1]).update(feats[a:b]) for a, b in ((0, 7), (7, 100), (100, 150))]
    merged = shards[0].merge(shards[1]).merge(shards[2])
    assert merged.count == 150
    a, b = whole.mu_sigma(), merged.mu_sigma()
    np.testing.assert_allclose(b["mu"], a["mu"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b["sigma"], a["sigma"], rtol=1e-10, atol=1e-13)
    # The estimator torch-fidelity used on the whole feature matrix: the same numbers up to float64 rounding.
    x = feats.double().numpy()
    np.testing.assert_allclose(a["mu"], x.mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a["sigma"], np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)


def test_saved_shard_sums_merge_and_a_stream_fed_in_odd_pieces_gives_one_pass(proxy, tmp_path):
    space = FeatureSpace(proxy["kind"], proxy["weights"])
    images = _photos(100)
    one = space.stream()
    for i in range(0, 100, 64):
        one.add(images[i:i + 64])
    odd = space.stream()
    for a, b in ((0, 3), (3, 70), (70, 71), (71, 100)):
        odd.add(images[a:b])
    s1, s2 = one.statistics(), odd.statistics()
    # The network sees the same batches of 64 whatever the pieces: the sums are equal bit for bit.
    assert torch.equal(s1.total, s2.total) and torch.equal(s1.outer, s2.outer)
    FeatureStatistics(s1.dim).update(space.features(((images[:40] + 1) * 127.5).round().to(torch.uint8))).save(
        tmp_path / "a.safetensors")
    FeatureStatistics(s1.dim).update(space.features(((images[40:] + 1) * 127.5).round().to(torch.uint8))).save(
        tmp_path / "b.safetensors")
    merged = merge_statistics([tmp_path / "a.safetensors", tmp_path / "b.safetensors"])
    assert merged.count == 100 and abs(frechet_from_statistics(merged.mu_sigma(), s1.mu_sigma())) < 1e-9


@pytest.mark.parametrize("total,piece", [(16 * 40, 16), (1000, 48), (16 * 5 + 9, 16), (20, 32), (7, 16)])
def test_noise_stream_in_pieces_is_the_single_draw(total, piece):
    gen = torch.Generator().manual_seed(3)
    whole, after = torch.randn(total, generator=gen), torch.randint(100, (8,), generator=gen)
    gen = torch.Generator().manual_seed(3)
    stream = NormalStream(gen, total, piece)
    got = [stream.take(5 if total > 5 else total)]
    stream.skip(min(11, total - len(got[0])))
    rest = total - len(got[0]) - min(11, total - len(got[0]))
    got.append(stream.take(rest))
    assert torch.equal(got[0], whole[:len(got[0])]) and torch.equal(got[1], whole[total - rest:])
    assert torch.equal(torch.randint(100, (8,), generator=gen), after)  # the generator ends where the draw did


def test_sample_noise_and_labels_do_not_depend_on_the_number_of_shards():
    num, shape = 50, (4, 3, 3)
    gen = torch.Generator().manual_seed(7)
    noise, labels = torch.randn((num, *shape), generator=gen), torch.randint(5, (num,), generator=gen)
    for shards in (1, 3, 7):
        parts = [p for k in range(shards) for p in
                 sample_inputs(7, num, shape, 5, num * k // shards, num * (k + 1) // shards, batch_size=4)]
        assert torch.equal(torch.cat([n for n, _ in parts]), noise)
        assert torch.equal(torch.cat([y for _, y in parts]), labels)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ae")
    cfg = random_tiny_ae_run(out)
    return out, cfg


def _in_memory_encode(ae_dir, cfg, n, batch_size, seed):
    """The encode loop before streaming (a list of latents, concatenated): what the cache must keep holding."""
    from diffusability.analysis.spectra import load_trained_autoencoder
    ae, _ = load_trained_autoencoder(ae_dir, torch.device("cpu"))
    ds, gen, zs = build_dataset(cfg.data, "train", seed), torch.Generator().manual_seed(seed), []
    with torch.no_grad():
        for s in range(0, n, batch_size):
            x = torch.stack([ds[i][0] for i in range(s, min(n, s + batch_size))])
            zs.append(ae.encode(x).latent_dist.sample(generator=gen).float())
    return torch.cat(zs)


def test_sharded_encode_holds_exactly_the_unsharded_latents(ae_run, tmp_path):
    ae_dir, cfg = ae_run
    kw = dict(num_latents=90, batch_size=16, seed=0, threads=1)
    one = tmp_path / "one.safetensors"
    encode_training_latents(ae_dir, one, norm_samples=40, **kw)
    sharded = tmp_path / "sharded.safetensors"
    for k in (2, 0, 1):  # in any order, as separate jobs would finish
        encode_shard(run_dir=ae_dir, out_path=sharded, shard_index=k, num_shards=3, num_workers=2 if k == 1 else 0,
                     **kw)
    info = gather_latents(out_path=sharded, num_shards=3, norm_samples=40)
    classes = len(cfg.data.train_photos)  # a class per training photo
    assert info == {"num_latents": 90, "shape": [4, 8, 8], "num_classes": classes}
    a, ca = load_latents(one)
    b, cb = load_latents(sharded)
    assert ca == cb == classes and b["latents"].shape == a["latents"].shape == (90, 4, 8, 8)
    assert torch.equal(a["latents"][:], _in_memory_encode(ae_dir, cfg, 90, 16, 0))
    assert torch.equal(b["latents"][torch.arange(90)], a["latents"][:]) and torch.equal(a["labels"], b["labels"])
    for key in ("mean_position", "std_position", "mean_channel", "std_channel"):
        assert torch.equal(a[key], b[key]), key
    idx = torch.randint(90, (33,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(b["latents"][idx], a["latents"][idx])  # DiT training draws the same batches from either
    assert len(list(tmp_path.glob("sharded.shard-*"))) == 3 and shard_path(sharded, 0, 3).exists()
    # A DiT trained on the memory-mapped shards is the DiT trained on the one-file cache, bit for bit.
    from safetensors.torch import load_file
    weights = []
    for cache in (one, sharded):
        out = tmp_path / f"dit_{cache.stem}"
        train_dit(run_config_by_hand("train_dit", [f"out_dir={out}", f"latents={cache}", "optim.steps=3",
                                                   "optim.batch_size=8", "snapshots=[]", "threads=1"]))
        weights.append(load_file(out / "dit" / "diffusion_pytorch_model.safetensors"))
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_reference_statistics_in_shards_and_with_loader_workers(proxy, tmp_path):
    one = ReferenceStatistics(tmp_path / "one.safetensors", DATA, 200, proxy)
    mu_sigma = one.get()
    paths = [reference_statistics_shard(data_cfg=DATA, num_images=200, fd=proxy, shard_index=k, num_shards=3,
                                        out_path=tmp_path / f"ref{k}.safetensors", num_workers=2 if k else 0,
                                        device="cpu") for k in range(3)]
    gather_reference_statistics(shard_paths=paths, out_path=tmp_path / "merged.safetensors")
    # Shards start on the feature network's batches (64), so their features are the one pass's, bit for bit.
    whole, merged = FeatureStatistics.load(one.path), FeatureStatistics.load(tmp_path / "merged.safetensors")
    assert merged.count == whole.count == 200
    torch.testing.assert_close(merged.total, whole.total, rtol=1e-14, atol=1e-13)
    torch.testing.assert_close(merged.outer, whole.outer, rtol=1e-14, atol=1e-13)
    again = ReferenceStatistics(tmp_path / "merged.safetensors", DATA, 200, proxy).get()
    np.testing.assert_allclose(again["sigma"], mu_sigma["sigma"], rtol=1e-10, atol=1e-14)
    assert abs(frechet_from_statistics(again, mu_sigma)) < 1e-10


def test_sampling_statistics_one_shard_and_three_shards_give_the_same_score(ae_run, proxy, tmp_path):
    ae_dir, _ = ae_run
    cache = tmp_path / "latents.safetensors"
    encode_training_latents(ae_dir, cache, num_latents=64, norm_samples=64, batch_size=32, seed=0, threads=1)
    dit_dir = tmp_path / "dit"
    train_dit(run_config_by_hand("train_dit", [f"out_dir={dit_dir}", f"latents={cache}", "optim.steps=2",
                                               "optim.batch_size=8", "snapshots=[]", "threads=1"]))
    ref = ReferenceStatistics(tmp_path / "ref.safetensors", DATA, 32, proxy)
    # 130 samples in batches of 8: shards start at multiples of 64 (the feature batch), as one pass's batches do.
    kw = dict(dit_dir=dit_dir, ae_dir=ae_dir, fd=proxy, step=2, num_samples=130, sample_steps=2, sampler="euler",
              guidance=1.0, batch_size=8, device="cpu")
    one = sample_statistics_shard(shard_index=0, num_shards=1, out_path=tmp_path / "s1.safetensors",
                                  grid_path=tmp_path / "grid.png", **kw)
    three = [sample_statistics_shard(shard_index=k, num_shards=3, out_path=tmp_path / f"s3_{k}.safetensors", **kw)
             for k in range(3)]
    fd1 = score_sample_shards(shard_paths=[one], reference=ref)
    fd3 = score_sample_shards(shard_paths=three, reference=ref)
    assert fd1 > 0 and abs(fd3 - fd1) <= 1e-9 * fd1, (fd1, fd3)
    # The workflow's unsharded evaluation scores the same samples through the same sums.
    df = evaluate_dit(dit_dir, ae_dir, ref, num_samples=130, steps=2, sampler="euler", guidance=1.0, batch_size=8,
                      device="cpu")
    assert df.value.tolist() == [fd1]
    assert (tmp_path / "grid.png").stat().st_size > 0
    # The ADM export holds exactly the samples scored: its uint8 images give the same sums.
    npz = export_adm_samples(**{k: v for k, v in kw.items() if k not in ("fd", "step")}, out_path=tmp_path / "s.npz")
    with np.load(npz) as f:
        assert f.files == ["arr_0", "arr_1"]
        arr, labels = f["arr_0"], f["arr_1"]
    assert arr.dtype == np.uint8 and arr.shape == (130, 32, 32, 3)
    # arr_1: the class labels the samples were drawn with (guided-diffusion's layout of conditional samples)
    from omegaconf import OmegaConf
    cached, num_classes = load_latents(cache)
    drawn = [y for _, y in sample_inputs(int(OmegaConf.load(dit_dir / "config.yaml").seed), 130,
                                         tuple(cached["latents"].shape[1:]), num_classes, 0, 130, 8)]
    assert labels.dtype == np.int64 and np.array_equal(labels, torch.cat(drawn).numpy()) and len(set(labels)) > 1
    stream = FeatureSpace(proxy["kind"], proxy["weights"]).stream()
    for i in range(0, 130, 8):
        stream.add(torch.from_numpy(arr[i:i + 8]).permute(0, 3, 1, 2).contiguous())
    assert frechet_from_statistics(stream.statistics().mu_sigma(), ref.get()) == fd1


MEMORY_PROBE = textwrap.dedent("""
    import json, sys
    from diffusability.generation.reference import ReferenceStatistics
    from diffusability.runconfig import run_config_by_hand
    num, fd, out = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    data = run_config_by_hand("train_ae", ["out_dir=x", "data.resolution=256"]).data
    ReferenceStatistics(out, data, num, fd, num_workers=0).get()
    # VmHWM, not getrusage: Linux carries ru_maxrss over from the (large) pytest process that spawned this one.
    print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
""")


@pytest.mark.slow  # two fresh interpreters through 256^2 images (about 30 s)
def test_reference_statistics_peak_memory_does_not_grow_with_the_number_of_images(proxy, tmp_path):
    """Peak RSS of a fresh process at 64 and 512 reference images of 256^2 (0.75 MB each as float32): holding the set
    would add about 400 MB at the larger size (the code before issue 17 grew x1.48 from 32 to 256 images), streaming
    adds only time. Both sizes fill at least one batch of the feature network, whose activations are the same then."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rss = {}
    for n in (64, 512):
        res = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(n), json.dumps(proxy),
                              str(tmp_path / f"ref{n}.safetensors")], env=env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        rss[n] = int(res.stdout.split()[-1]) / 1024
    assert rss[512] / rss[64] <= 1.2, rss
