"""The sharded data path through the workflow (issue 17): dit.encode_shards, dit.sample_shards and
dit.reference_shards change how many jobs run, never the numbers, and a finished shard is never rerun;
dit.export_adm's sample batch holds the samples scored."""
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from conftest import copy_workflow, snakemake
from test_workflow_smoke import _job_counts

pytestmark = pytest.mark.slow  # one AE, one DiT and its evaluation on the smoke config, then the sharded reruns

AE = "tiny-c4-kl0-s0"
DIT = f"{AE}__dit-tiny-s0"
LATENTS = f"results/smoke/latents/{AE}.safetensors"
GENERATION = f"results/smoke/dit/{DIT}/generation.csv"
REFERENCE = "results/smoke/generation/reference_proxy.safetensors"


def _run(wf, tmp_path, target, settings: str, *extra):
    (tmp_path / "shards.yaml").write_text(f"dit: {{{settings}}}\n")
    proc = snakemake(wf, target, *extra, "--configfile", str(tmp_path / "shards.yaml"), "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return _job_counts(proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory):
    """A DiT evaluated with every stage in one job (the default at this scale), its latents and scores kept."""
    wf = copy_workflow(tmp_path_factory.mktemp("shards"))
    keep = tmp_path_factory.mktemp("unsharded")
    _run(wf, keep, GENERATION, "encode_shards: 1, sample_shards: 1, reference_shards: 1")
    for path in (LATENTS, GENERATION, REFERENCE):
        shutil.copy(wf / path, keep / path.rsplit("/", 1)[1])
    return wf, keep


def test_sampling_in_two_shards_scores_as_one_job(unsharded, tmp_path):
    wf, keep = unsharded
    jobs = _run(wf, tmp_path, GENERATION, "encode_shards: 1, sample_shards: 2, reference_shards: 1")
    # only the sampling reran: two shard jobs, then the scoring job merging their sums
    assert jobs == {"sample_dit": 2, "evaluate_dit": 1}, jobs
    assert len(list((wf / f"results/smoke/dit/{DIT}/samples").glob("sums.shard-*-of-00002.safetensors"))) == 2
    one, two = pd.read_csv(keep / "generation.csv"), pd.read_csv(wf / GENERATION)
    assert list(one.step) == list(two.step) == [2, 4]
    pd.testing.assert_frame_equal(one.drop(columns="value"), two.drop(columns="value"))
    np.testing.assert_allclose(two.value, one.value, rtol=1e-5)
    assert (wf / f"paper_figures/smoke/samples/{DIT}.png").stat().st_size > 1000


def test_adm_export_holds_the_scored_samples(unsharded):
    from diffusability.metrics.frechet import FeatureSpace, frechet_from_statistics
    wf, _ = unsharded
    target = f"results/smoke/dit/{DIT}/samples_adm.npz"
    proc = snakemake(wf, target, "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with np.load(wf / target) as f:
        assert f.files == ["arr_0", "arr_1"]
        images, labels = f["arr_0"], f["arr_1"]
    assert images.dtype == np.uint8 and images.shape == (16, 32, 32, 3) and labels.shape == (16,)
    # ADM's evaluator would see the samples the final snapshot was scored on: their features give its distance
    stream = FeatureSpace("proxy", wf / "results/smoke/features/proxy.safetensors").stream()
    stream.add(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
    ref = load_file(wf / REFERENCE)
    fd = frechet_from_statistics(stream.statistics().mu_sigma(), {k: ref[k].numpy() for k in ("mu", "sigma")})
    final = pd.read_csv(wf / GENERATION).query("step == 4").value.item()
    assert fd == pytest.approx(final, rel=1e-5)


def test_latent_cache_in_three_shards_holds_the_same_latents_and_normalisation(unsharded, tmp_path):
    from diffusability.generation.latents import load_latents
    wf, keep = unsharded
    jobs = _run(wf, tmp_path, LATENTS, "encode_shards: 3")
    assert jobs.get("encode_latent_shard") == 3 and jobs.get("encode_latents") == 1, jobs
    one, _ = load_latents(keep / LATENTS.rsplit("/", 1)[1])
    three, num_classes = load_latents(wf / LATENTS)
    assert len(three["latents"].parts) == 3 and num_classes > 1
    assert torch.equal(three["latents"][torch.arange(len(one["latents"]))], one["latents"])
    for key in ("labels", "mean_position", "std_position", "mean_channel", "std_channel"):
        assert torch.equal(three[key], one[key]), key
    # As after a failed shard job (no gather yet): the next run encodes that shard alone, never its finished siblings.
    (wf / f"results/smoke/latents/{AE}.shard-00001-of-00003.safetensors").unlink()
    (wf / LATENTS).unlink()
    jobs = _run(wf, tmp_path, LATENTS, "encode_shards: 3", "-n")
    assert jobs.get("encode_latent_shard") == 1 and jobs.get("encode_latents") == 1, jobs


def test_reference_statistics_in_two_shards_are_one_pass(unsharded, tmp_path):
    wf, keep = unsharded
    jobs = _run(wf, tmp_path, REFERENCE, "reference_shards: 2")
    assert jobs.get("reference_shard") == 2 and jobs.get("reference_stats") == 1, jobs
    one, two = load_file(keep / "reference_proxy.safetensors"), load_file(wf / REFERENCE)
    assert int(two["count"][0]) == int(one["count"][0]) == 32
    np.testing.assert_allclose(two["mu"].numpy(), one["mu"].numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(two["sigma"].numpy(), one["sigma"].numpy(), rtol=1e-6, atol=1e-9)



def test_a_new_feature_network_reruns_the_sample_shards(unsharded, tmp_path):
    """Each sample shard holds feature sums of the FID network, so a newer network file reruns them (and the scoring),
    never leaving sums of the old network to be scored against the new reference. Last in the module: it touches the
    network file every earlier test reads."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    wf, _ = unsharded
    _run(wf, tmp_path, GENERATION, "sample_shards: 2")
    assert _run(wf, tmp_path, GENERATION, "sample_shards: 2", "-n") == {}
    net = wf / "results/smoke/features/proxy.safetensors"
    with safe_open(net, "pt") as f:  # other weights, same format (Snakemake ignores a touch of a small file)
        meta, weights = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    save_file({k: v * 1.01 if v.is_floating_point() else v for k, v in weights.items()}, net, metadata=meta)
    jobs = _run(wf, tmp_path, GENERATION, "sample_shards: 2", "-n")
    assert jobs.get("sample_dit") == 2 and jobs.get("evaluate_dit") == 1, jobs
