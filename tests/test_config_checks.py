"""The config as an adversarial user writes it: typed --config values, duplicates, and the files it names, each
bad one refused in one sentence naming the workflow's key (fast: no Snakemake run; tests/test_config.py runs the
same checks through Snakemake)."""
import copy
import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from diffusability.checks import (check_adm_file, check_adm_reference, check_config_files, check_inputs_exist,
                                  check_overrides)
from diffusability.models.autoencoders import build_autoencoder
from diffusability.provenance import atomic_write, write_csv
from diffusability.workflow_config import ConfigError, load_schema, resolve_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def resolve(overrides: dict) -> dict:
    return resolve_config(copy.deepcopy(BASE), ROOT / "config", overrides, SCHEMA)


def test_command_line_values_are_read_as_the_schema_types_them():
    # What Snakemake's --config hands over for 'seeds=[0, 1]' 'ae={kl_weights: [0, 1.0e-5, 1e-3], steps: 8}'
    cfg = resolve({"seeds": ["0", "1"], "ae": {"kl_weights": ["0", "1.0e-5", "1e-3"], "steps": "8"},
                   "spectrum": {"latent": "mean", "hf_exclude_dc": "false"}, "dit": {"num_latents": "null"},
                   "data": {"name": "imagefolder", "root": "123"}, "video": {"dit": {"steps": "7"}}})
    assert cfg["seeds"] == [0, 1] and cfg["ae"]["kl_weights"] == [0, 1e-5, 1e-3] and cfg["ae"]["steps"] == 8
    assert cfg["spectrum"]["hf_exclude_dc"] is False and cfg["dit"]["num_latents"] is None
    assert cfg["data"]["root"] == "123"  # text where the schema takes text stays text
    assert cfg["video"]["dit"]["steps"] == 7


@pytest.mark.parametrize("overrides, message", [
    ({"dit": {"seeds": [0, 0]}}, "config key dit.seeds is [0, 0], but must list each entry once"),
    ({"seeds": ["1", "1"]}, "config key seeds is [1, 1], but must list each entry once"),
    ({"ae": {"channels": [8, 8]}}, "config key ae.channels is [8, 8], but must list each entry once"),
    ({"erasure": {"fractions": [0.5, 0.9]}}, "config key erasure.fractions is [0.5, 0.9], but must contain 0"),
    ({"ae": {"steps": "many"}}, "config key ae.steps: 'many' is not of type 'integer'"),
    ({"video": {"dit": {"stepz": 3}}}, "config key video.dit.stepz is not a known setting"),
])
def test_bad_values_are_one_sentence_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        resolve(overrides)
    assert str(err.value) == message or str(err.value).startswith(message), str(err.value)


def test_a_typo_in_an_override_list_names_the_workflow_key():
    with pytest.raises(ConfigError, match=r"config key ae.overrides has 'optim.betaz=\[0.5,0.9\]', which the "
                                          r"train_ae run config does not accept"):
        check_overrides(resolve({"ae": {"overrides": ["optim.betaz=[0.5,0.9]"]}}))
    check_overrides(resolve({"ae": {"overrides": ["optim.betas=[0.5,0.9]"]}, "dit": {"overrides": ["flow.t_std=2"]}}))


def _flux_folder(tmp_path: Path, channels: int) -> Path:
    folder = tmp_path / f"FLUX-c{channels}"
    build_autoencoder("tiny", channels, 8).save_pretrained(folder / "vae")
    return folder


def test_pretrained_folder_must_exist_and_match(tmp_path):
    cfg = {"ae": {"preset": "flux", "compression": 8, "channels_reference": 16}, "data": {"resolution": 128},
           "se": {"base": "pretrained"}}
    with pytest.raises(ConfigError, match="config key ae.pretrained is '/nope/FLUX': neither an existing folder"):
        check_config_files(resolve({**cfg, "ae": {**cfg["ae"], "pretrained": "/nope/FLUX"}}))
    with pytest.raises(ConfigError, match=r"config key ae.pretrained has 4 latent channels and 8x compression, but "
                                          r"ae.channels_reference and ae.compression ask for 16 and 8x"):
        check_config_files(resolve({**cfg, "ae": {**cfg["ae"], "pretrained": str(_flux_folder(tmp_path, 4))}}))
    check_config_files(resolve({**cfg, "ae": {**cfg["ae"], "pretrained": str(_flux_folder(tmp_path, 16))}}))


def test_weights_files_are_state_dicts_with_the_expected_keys(tmp_path):
    garbage = tmp_path / "inception.pth"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ConfigError, match="config key metrics.inception_weights names .*, which is not a state dict"):
        check_config_files(resolve({"metrics": {"inception_weights": str(garbage)}}))
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(2)}, other)
    with pytest.raises(ConfigError, match="not a torch-fidelity Inception-v3 state dict"):
        check_config_files(resolve({"metrics": {"inception_weights": str(other)}}))
    with pytest.raises(ConfigError, match="config key video.metrics.i3d_weights names /nope.pt, which is not a file"):
        check_config_files(resolve({"video": {"metrics": {"i3d_weights": "/nope.pt"}}}))


def test_every_shard_gets_work():
    from diffusability.checks import check_shards
    check_shards(resolve({"dit": {"encode_shards": 96, "sample_shards": 256}}))  # video: 768 clips / 8, 256 samples
    with pytest.raises(ConfigError, match=r"^config key dit.encode_shards is 129, but dit.num_latents=4096 makes only "
                                          r"128 batches of eval.batch_size=32: some shards would be empty"):
        check_shards(resolve({"dit": {"encode_shards": 129}, "video": {"dit": {"encode_shards": 1}}}))
    # the video DiTs inherit dit's shard counts
    with pytest.raises(ConfigError, match=r"^config key dit.encode_shards is 128, but video.dit.num_latents=768"):
        check_shards(resolve({"dit": {"encode_shards": 128}}))
    with pytest.raises(ConfigError, match=r"^config key video.dit.sample_shards is 300, more than the 256 samples"):
        check_shards(resolve({"video": {"dit": {"sample_shards": 300}}}))


def test_a_training_spans_nodes_only_through_submitit():
    from diffusability.checks import check_training_nodes
    two = {"resources": {"train_dit": {"runtime": 60, "mem_mb": 8000, "gpu": 4, "nodes": 2}}}
    with pytest.raises(ConfigError, match=r"^config key resources.train_dit.nodes is 2, but a training spans nodes "
                                          r"only with launcher: submitit"):
        check_training_nodes(resolve(two))
    check_training_nodes(resolve({**two, "launcher": "submitit"}))
    assert resolve({})["resources"]["train_dit"]["nodes"] == 1


def test_adm_reference_needs_inception_features_and_a_reference_batch(tmp_path):
    import numpy as np
    batch = tmp_path / "VIRTUAL_imagenet256_labeled.npz"
    np.savez(batch, mu=np.zeros(4), sigma=np.eye(4))
    with pytest.raises(ConfigError, match=r"^config key dit.adm_reference holds Inception-v3 statistics, so the "
                                          r"samples must be scored with Inception too: set metrics.inception_weights"):
        check_adm_reference(resolve({"dit": {"adm_reference": str(batch)}}))
    with_inception = {"metrics": {"inception_weights": str(tmp_path / "pt_inception.pth")}}
    check_adm_reference(resolve({**with_inception, "dit": {"adm_reference": str(batch)}}))
    check_adm_file(resolve({**with_inception, "dit": {"adm_reference": str(batch)}}))
    with pytest.raises(ConfigError, match="config key dit.adm_reference names /nope.npz, which is not a file"):
        check_inputs_exist(resolve({"dit": {"adm_reference": "/nope.npz"}}))
    np.savez(tmp_path / "samples.npz", arr_0=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="config key dit.adm_reference: .*samples.npz is not an ADM reference batch"):
        check_adm_file(resolve({**with_inception, "dit": {"adm_reference": str(tmp_path / "samples.npz")}}))
    (tmp_path / "broken.npz").write_bytes(os.urandom(100))
    with pytest.raises(ConfigError, match="config key dit.adm_reference: "):
        check_adm_file(resolve({**with_inception, "dit": {"adm_reference": str(tmp_path / "broken.npz")}}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_machine_without_one_is_refused_only_for_local_jobs():
    cfg = resolve({"device": "cuda"})
    with pytest.raises(ConfigError, match="config key device is 'cuda', but the jobs run on this machine"):
        check_config_files(cfg, local_exec=True)
    check_config_files(cfg, local_exec=False)  # a cluster's login node has no GPU; its jobs do


def test_files_are_written_with_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_csv(tmp_path / "a.csv", __import__("pandas").DataFrame({"x": [1]}))
        atomic_write(tmp_path / "b.json", lambda f: json.dump({}, f))
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {oct(0o640)}


def test_figures_and_tables_refuse_empty_measurements(tmp_path):
    import pandas as pd

    from diffusability.plots.spectra import fig_rgb_noise
    from diffusability.tables import reconstruction_table
    recon = tmp_path / "reconstruction.csv"
    pd.DataFrame({"model": ["a", "b"], "variant": ["vanilla"] * 2, "psnr": [20.0, None], "ssim": [0.5, None]}) \
        .to_csv(recon, index=False)
    with pytest.raises(ValueError, match=r"reconstruction.csv has 1 empty 'psnr' cells \(models b\)"):
        reconstruction_table(str(recon), str(tmp_path / "t.md"), str(tmp_path / "t.tex"))
    noise = tmp_path / "noise.csv"
    pd.DataFrame(columns=["model", "noise_std", "freq_index", "amplitude"]).to_csv(noise, index=False)
    with pytest.raises(ValueError, match="noise.csv has no rows"):
        fig_rgb_noise(str(noise), [str(tmp_path / "f.png")])
    assert not list(tmp_path.glob("t.*")) and not (tmp_path / "f.png").exists()
