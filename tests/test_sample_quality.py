"""The field's evaluation options (issue 17, section 3): class-balanced sample labels, and the Inception Score and
precision/recall as extra columns, streamed and sharded like the Fréchet sums; each checked against an independent
computation (torch-fidelity's IS formula, a direct numpy formula, brute-force numpy k-NN)."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diffusability.data import build_dataset
from diffusability.generation.evaluate import (evaluate_dit, export_adm_samples, extra_scores_of_shards,
                                               sample_statistics_shard, score_sample_shards)
from diffusability.generation.latents import encode_training_latents
from diffusability.generation.reference import ReferenceStatistics
from diffusability.generation.sampling import sample_inputs
from diffusability.metrics.frechet import FeatureSpace
from diffusability.metrics.proxy_features import load_proxy_net, train_proxy_net
from diffusability.metrics.sample_quality import (InceptionScoreSums, SampleExtras, extra_metric_names, knn_radii,
                                                  precision_recall)
from diffusability.runconfig import run_config_by_hand
from diffusability.train.dit import train_dit
from conftest import random_tiny_ae_run

DATA = run_config_by_hand("train_ae", ["out_dir=x"]).data


def _labels(labels, num, classes, shards, seed=3):
    parts = [y for k in range(shards) for _, y in sample_inputs(seed, num, (2, 3), classes, num * k // shards,
                                                                 num * (k + 1) // shards, batch_size=4,
                                                                 labels=labels)]
    return torch.cat(parts)


def test_balanced_labels_are_exactly_balanced_and_do_not_depend_on_the_shards():
    num, classes = 53, 7  # 53 = 7 x 7 + 4: the first four classes get one more
    y = _labels("balanced", num, classes, 1)
    assert torch.bincount(y, minlength=classes).tolist() == [8, 8, 8, 8, 7, 7, 7]
    for shards in (2, 3, 5):
        assert torch.equal(_labels("balanced", num, classes, shards), y)
    assert not torch.equal(y, torch.arange(num) % classes)  # a seeded order: shards and IS splits see all classes
    assert not torch.equal(_labels("balanced", num, classes, 1, seed=4), y)
    # The noise of a sample does not depend on how its label is drawn.
    noise = {lab: torch.cat([x for x, _ in sample_inputs(3, num, (2, 3), classes, 0, num, 8, labels=lab)])
             for lab in ("uniform", "balanced")}
    assert torch.equal(noise["uniform"], noise["balanced"])


def test_uniform_labels_are_the_draw_of_before():
    num, shape, classes = 37, (2, 3), 5
    gen = torch.Generator().manual_seed(3)
    torch.randn((num, *shape), generator=gen)
    expect = torch.randint(classes, (num,), generator=gen)
    assert torch.equal(_labels("uniform", num, classes, 3), expect)
    default = torch.cat([y for _, y in sample_inputs(3, num, shape, classes, 0, num, 4)])
    assert torch.equal(default, expect)
    with pytest.raises(ValueError, match="dit.labels"):
        next(sample_inputs(3, num, shape, classes, 0, num, 4, labels="stratified"))


def _isc_direct(logits: np.ndarray, splits: int) -> float:
    """exp(E_x KL(p(y|x) || p(y))) per contiguous split, averaged (ADM's evaluator), straight from the definition."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n, scores = len(p), []
    for s in range(splits):
        part = p[s * n // splits:(s + 1) * n // splits]
        q = part.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(q)), 1))))
    return float(np.mean(scores))


def test_inception_score_sums_of_shards_match_torch_fidelity_and_the_definition():
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, isc_features_to_metric
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(53, 6, generator=g, dtype=torch.float64) * 3
    merged = None
    for start, stop in ((0, 17), (17, 40), (40, 53)):  # shard bounds that cut through splits
        part = InceptionScoreSums(53, 6)
        for i in range(start, stop, 5):  # fed in batches
            part.update(logits[i:min(i + 5, stop)], start=i)
        merged = part if merged is None else merged.merge(part)
    expect = isc_features_to_metric(logits, splits=10, shuffle=False)[KEY_METRIC_ISC_MEAN]
    assert merged.score() == pytest.approx(expect, rel=1e-12)
    assert merged.score() == pytest.approx(_isc_direct(logits.numpy(), 10), rel=1e-12)
    assert 1.0 < merged.score() < 6.0
    one = InceptionScoreSums(53, 6)
    one.update(logits[:40], start=0)
    with pytest.raises(ValueError, match="40 of the 53"):
        one.score()


def _brute_force_prc(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al.'s definition with explicit pairwise differences, no blocking."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    r_real = np.sort(dist(real, real), 1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(dist(fake, fake), 1)[:, k]
    precision = np.mean((dist(fake, real) <= r_real[None, :]).any(1))
    recall = np.mean((dist(real, fake) <= r_fake[None, :]).any(1))
    return float(precision), float(recall)


def test_precision_recall_in_blocks_is_the_brute_force_knn():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(61, 5, generator=g)
    fake = torch.randn(47, 5, generator=g) * 0.6 + 0.8  # a narrower, shifted set: precision and recall differ
    expect = _brute_force_prc(real.double().numpy(), fake.double().numpy(), 3)
    assert 0 < expect[0] < 1 and 0 < expect[1] < 1 and expect[0] != expect[1]
    for block in (7, 64, 1024):
        assert precision_recall(real, fake, k=3, block=block) == expect
    r = real.double().numpy()
    radii = np.sort(((r[:, None] - r[None]) ** 2).sum(-1), 1)[:, 3]
    np.testing.assert_allclose(knn_radii(real, 3, block=10).numpy(), radii, rtol=1e-9)
    assert precision_recall(real, real) == (1.0, 1.0)


def test_extra_metric_names_say_proxy_and_video_has_no_inception_score():
    assert extra_metric_names("inception", ["isc", "prc"]) == ["isc", "precision", "recall"]
    assert extra_metric_names("proxy", ["isc"]) == ["isc_proxy"]
    assert extra_metric_names("i3d", ["isc", "prc"]) == ["precision", "recall"]
    assert extra_metric_names("video_proxy", ["prc"]) == ["precision_proxy", "recall_proxy"]
    with pytest.raises(ValueError, match="dit.extra_metrics"):
        extra_metric_names("inception", ["kid"])


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    path = tmp_path_factory.mktemp("proxy") / "proxy.safetensors"
    train_proxy_net(build_dataset(DATA, "train", 0), len(DATA.train_photos), steps=20, batch_size=16, lr=2e-3,
                    feature_dim=16, seed=0, out_path=path)
    return {"kind": "proxy", "weights": str(path)}


def test_proxy_space_streams_is_and_features_without_moving_the_frechet_sums(proxy):
    ds = build_dataset(DATA, "train", 0)
    x = torch.stack([ds[i][0] for i in range(45)])
    plain = FeatureSpace(proxy["kind"], proxy["weights"])
    space = FeatureSpace(proxy["kind"], proxy["weights"], logits_layer="logits")
    u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(space.features(u8), plain.features(u8))  # the logits layer leaves the features as they were
    extras = [SampleExtras(kind="proxy", metrics=("isc", "prc"), num_total=45) for _ in range(2)]
    sums = []
    for e, (a, b) in zip(extras, ((0, 20), (20, 45))):  # two shards, fed in odd pieces
        stream = space.stream(batch_size=8, extras=e, start=a)
        for i in range(a, b, 7):
            stream.add(x[i:min(i + 7, b)])
        sums.append(stream.statistics())
    assert sums[0].count + sums[1].count == 45
    merged = SampleExtras.merge_states([e.state() for e in extras], kind="proxy", metrics=("isc", "prc"),
                                       num_total=45)
    net = load_proxy_net(proxy["weights"])
    with torch.no_grad():
        feats = net.features(u8.float() / 127.5 - 1)
        logits = net(u8.float() / 127.5 - 1).double()
    # float32 network in batches of 8 here and of 45 there: agreement to float32 rounding
    assert _isc_direct(logits.numpy(), 10) == pytest.approx(merged.isc.score(), rel=1e-6)
    torch.testing.assert_close(torch.cat(merged.features), feats.float(), rtol=1e-5, atol=1e-6)
    scores = merged.scores(torch.cat(merged.features)[:30])
    assert set(scores) == {"isc_proxy", "precision_proxy", "recall_proxy"} and scores["recall_proxy"] == 1.0


@pytest.fixture(scope="module")
def dit_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dit")
    ae_dir = tmp / "ae"
    random_tiny_ae_run(ae_dir)
    cache = tmp / "latents.safetensors"
    encode_training_latents(ae_dir, cache, num_latents=64, norm_samples=64, batch_size=32, seed=0, threads=1)
    dit_dir = tmp / "dit"
    train_dit(run_config_by_hand("train_dit", [f"out_dir={dit_dir}", f"latents={cache}", "optim.steps=2",
                                               "optim.batch_size=8", "snapshots=[]", "threads=1"]))
    return dit_dir, ae_dir


def test_sharded_extra_metrics_with_balanced_labels_equal_one_pass(dit_run, proxy, tmp_path):
    dit_dir, ae_dir = dit_run
    ref = ReferenceStatistics(tmp_path / "ref.safetensors", DATA, 48, proxy)
    extra = ("isc", "prc")
    # 130 samples in batches of 8: shards start at multiples of 64 (the feature batch), as one pass's batches do.
    kw = dict(dit_dir=dit_dir, ae_dir=ae_dir, fd=proxy, step=2, num_samples=130, sample_steps=2, sampler="euler",
              guidance=1.0, batch_size=8, device="cpu", labels="balanced", extra_metrics=extra)
    one = [sample_statistics_shard(shard_index=0, num_shards=1, out_path=tmp_path / "s1.safetensors", **kw)]
    three = [sample_statistics_shard(shard_index=k, num_shards=3, out_path=tmp_path / f"s3_{k}.safetensors", **kw)
             for k in range(3)]
    space = FeatureSpace(proxy["kind"], proxy["weights"], logits_layer="logits")
    s1, s3 = (extra_scores_of_shards(shard_paths=p, reference=ref, space=space, extra_metrics=extra, num_samples=130)
              for p in (one, three))
    assert set(s1) == {"isc_proxy", "precision_proxy", "recall_proxy"}
    assert s1["isc_proxy"] == pytest.approx(s3["isc_proxy"], rel=1e-12) and s1["isc_proxy"] > 1.0
    assert (s1["precision_proxy"], s1["recall_proxy"]) == (s3["precision_proxy"], s3["recall_proxy"])
    # The workflow's unsharded evaluation gives the same row: the distance, and the extra columns.
    df = evaluate_dit(dit_dir, ae_dir, ref, num_samples=130, steps=2, sampler="euler", guidance=1.0, batch_size=8,
                      device="cpu", labels="balanced", extra_metrics=extra)
    row = df.iloc[0]
    assert row["value"] == score_sample_shards(shard_paths=one, reference=ref)
    assert row["isc_proxy"] == pytest.approx(s1["isc_proxy"], rel=1e-12)
    assert (row["precision_proxy"], row["recall_proxy"]) == (s1["precision_proxy"], s1["recall_proxy"])
    # Balanced labels change the samples (and their score) against uniform ones; without extras no extra column.
    plain = evaluate_dit(dit_dir, ae_dir, ref, num_samples=130, steps=2, sampler="euler", guidance=1.0,
                         batch_size=8, device="cpu")
    assert list(plain.columns) == ["step", "metric", "value"] and plain.value[0] != row["value"]
    assert "prc_features" in load_file(str(one[0])) and load_file(str(one[0]))["prc_features"].shape == (130, 16)
    # The ADM export with the same labels holds exactly the samples scored.
    npz = export_adm_samples(**{k: v for k, v in kw.items() if k not in ("fd", "step", "extra_metrics")},
                             out_path=tmp_path / "s.npz")
    with np.load(npz) as f:
        arr = torch.from_numpy(f["arr_0"]).permute(0, 3, 1, 2).contiguous()
    torch.testing.assert_close(torch.cat(SampleExtras.merge_states([load_file(str(one[0]))], kind="proxy",
                                                                   metrics=("prc",), num_total=130).features),
                               space.features(arr).float(), rtol=1e-5, atol=1e-6)


def test_workflow_sample_shards_carry_labels_and_extra_metrics(dit_run, proxy, tmp_path):
    """The workflow's sampling jobs (sample_dit_shard) and scoring job (score_dit_shards) give the row of one pass
    (evaluate_dit) with balanced labels and both extra metrics, with 1 or 2 shards."""
    from diffusability.generation.sharded_eval import sample_dit_shard, score_dit_shards
    dit_dir, ae_dir = dit_run
    ref = ReferenceStatistics(tmp_path / "ref.safetensors", DATA, 48, proxy)
    extra = ("isc", "prc")
    kw = dict(dit_dir=dit_dir, ae_dir=ae_dir, fd=proxy, num_samples=130, sample_steps=2, sampler="euler",
              guidance=1.0, batch_size=8, device="cpu", labels="balanced", extra_metrics=extra)
    rows = []
    for n in (1, 2):
        paths = [sample_dit_shard(shard_index=k, num_shards=n, out_path=tmp_path / f"w{n}_{k}.safetensors", **kw)
                 for k in range(n)]
        rows.append(score_dit_shards(shard_paths=paths, reference=ref, grid_path=tmp_path / f"g{n}.png",
                                     gif_path=tmp_path / f"g{n}.gif", device="cpu").iloc[0])
    one = evaluate_dit(dit_dir, ae_dir, ref, num_samples=130, steps=2, sampler="euler", guidance=1.0, batch_size=8,
                       device="cpu", labels="balanced", extra_metrics=extra).iloc[0]
    for row in rows:
        assert row["value"] == pytest.approx(one["value"], rel=1e-9)
        assert row["isc_proxy"] == pytest.approx(one["isc_proxy"], rel=1e-12)
        assert (row["precision_proxy"], row["recall_proxy"]) == (one["precision_proxy"], one["recall_proxy"])
    # shards of different label settings are refused rather than merged
    other = sample_dit_shard(shard_index=1, num_shards=2, out_path=tmp_path / "u.safetensors",
                             **{**kw, "labels": "uniform"})
    with pytest.raises(ValueError, match="not shard 1 of 2 of one sampling"):
        score_dit_shards(shard_paths=[tmp_path / "w2_0.safetensors", other], reference=ref,
                         grid_path=tmp_path / "x.png", gif_path=tmp_path / "x.gif")


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """torch-fidelity's Inception in a random-initialised file of its own format."""
    from unittest import mock

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    tmp = tmp_path_factory.mktemp("inception")
    empty = tmp / "empty.pt"
    torch.save({}, empty)
    torch.manual_seed(0)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    weights = tmp / "pt_inception-2015-12-05.pth"
    torch.save(net.state_dict(), weights)
    return weights


@pytest.mark.slow  # two Inception-v3 builds and passes at 299^2 on the CPU (about 35 s on two shared cores)
def test_inception_space_gives_is_logits_without_moving_the_pool_features(inception_weights):
    """The 1008 unbiased logits of the same forward pass feed the Inception Score, and the 2048-d pool features are
    the same bit for bit."""
    weights = inception_weights
    x = (torch.rand(10, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    plain = FeatureSpace("inception", weights)
    space = FeatureSpace("inception", weights, logits_layer="logits_unbiased")
    feats, logits = space.features_and_logits(x)
    assert torch.equal(feats, plain.features(x)) and feats.shape == (10, 2048) and logits.shape == (10, 1008)
    extras = SampleExtras(kind="inception", metrics=("isc",), num_total=10)
    stream = space.stream(extras=extras)
    stream.add(x)
    stream.statistics()
    assert extras.scores() == {"isc": pytest.approx(_isc_direct(logits.double().numpy(), 10), rel=1e-12)}


def test_table_one_carries_the_extra_columns_averaged_over_seeds(tmp_path):
    import pandas as pd

    from diffusability.tables import main_table
    rows = [dict(ae=f"ae-{v}", modality="image", base="b", variant=v, se_weight=0.0, channels=4, kl_weight=0.0,
                 dit="tiny", dit_run=f"{v}-{seed}", seed=seed, step=step, metric="fd_proxy", value=10.0 + seed,
                 isc_proxy=2.0 + seed, precision_proxy=0.5, recall_proxy=0.25 * (step // 100))
            for v in ("vanilla", "se") for seed in (0, 1) for step in (100, 200)]
    pd.DataFrame(rows).to_csv(tmp_path / "generation.csv", index=False)
    main_table(str(tmp_path / "generation.csv"), "image", str(tmp_path / "t.csv"), str(tmp_path / "t.md"),
               str(tmp_path / "t.tex"))
    table = pd.read_csv(tmp_path / "t.csv")
    assert table.isc_proxy.tolist() == [2.5, 2.5] and table.recall_proxy.tolist() == [0.5, 0.5]
    assert "isc_proxy, precision_proxy, recall_proxy: higher is better" in (tmp_path / "t.md").read_text()


@pytest.mark.slow  # Inception-v3 at 299^2 on the CPU
def test_precision_recall_against_an_adm_reference_batch_read_its_images(inception_weights, tmp_path):
    """With dit.adm_reference, the real set of precision/recall is the batch's arr_0 (as ADM's evaluator), streamed
    from the archive: the same features as those images passed whole."""
    images = np.random.default_rng(0).integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    npz = tmp_path / "VIRTUAL_ref.npz"
    np.savez(npz, arr_0=images, mu=np.zeros(2048), sigma=np.eye(2048))
    space = FeatureSpace("inception", inception_weights)
    ref = ReferenceStatistics(tmp_path / "unused.safetensors", DATA, 64, {"kind": "inception",
                                                                         "weights": str(inception_weights)},
                              batch_size=4, adm_reference=npz)
    feats = ref.features(space, num=1000)
    direct = space.features(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
    assert feats.shape == (11, 2048)
    torch.testing.assert_close(feats, direct.float(), rtol=1e-5, atol=1e-7)
    np.savez(tmp_path / "stats_only.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    ref.adm_reference = tmp_path / "stats_only.npz"
    with pytest.raises(ValueError, match="holds no arr_0 images"):
        ref.features(space, num=1000)


def test_config_refuses_extra_metrics_without_enough_samples_in_one_sentence():
    import copy

    from diffusability.workflow_config import ConfigError, resolve_config
    from test_config_checks import BASE, ROOT, SCHEMA

    def resolve(dit, video_dit=None):
        over = {"dit": dit, **({"video": {"dit": video_dit}} if video_dit else {})}
        return resolve_config(copy.deepcopy(BASE), ROOT / "config", over, SCHEMA)
    resolve({"extra_metrics": ["isc", "prc"], "labels": "balanced"})
    with pytest.raises(ConfigError, match=r"config key dit.extra_metrics asks for isc, but dit.num_samples=5 is fewer "
                                          r"than its 10 splits"):
        resolve({"extra_metrics": ["isc"], "num_samples": 5})
    with pytest.raises(ConfigError, match="video.dit.num_samples and video.dit.reference_images must both exceed"):
        resolve({"extra_metrics": ["prc"]}, {"num_samples": 3})
    with pytest.raises(ConfigError, match="config key dit.labels is 'stratified'"):
        resolve({"labels": "stratified"})
