"""The paper-scale rehearsal (issue 17, Sec. 4): `python -m diffusability.rehearsal`, then
`snakemake --profile slurm all_tables --config scale=rehearsal` on the local Slurm (tests/slurm/slurm_local.sh),
to the end: FLUX.1 AEs, DiT-XL/2, CogVideoX and LTX-Video AEs loaded as pretrained, imagefolder/videofolder data,
Inception FID and I3D FVD, submitit trainings. Then every table and figure must be there and hold numbers.
"""
import json
import math
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import BIN, ROOT, copy_workflow, local_env
from test_slurm import FAST_POLL, _env, _sacct, slurm  # noqa: F401 - the module's Slurm fixture, reused


def test_image_folder_is_deterministic_split_by_photo_and_loads(tmp_path):
    from diffusability.data.imagefolder import ImageFolder
    from diffusability.rehearsal import IMAGE_CLASSES, write_image_folder
    a = write_image_folder(tmp_path / "a", crops_per_photo=2, short_side=40)
    b = write_image_folder(tmp_path / "b", crops_per_photo=2, short_side=40)
    files = sorted(p.relative_to(a) for p in a.rglob("*.JPEG"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.JPEG"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    train = {p for c in IMAGE_CLASSES.values() for p in c["train"]}
    assert not train & {p for c in IMAGE_CLASSES.values() for p in c["val"]}
    ds = ImageFolder(a / "val", 32, seed=0, shuffle=False, flip=False)
    x, y = ds[0]
    assert len(ds) == 2 * len(IMAGE_CLASSES) and x.shape == (3, 32, 32) and y == 0


def test_weight_files_load_through_the_paper_paths(tmp_path):
    """The generated Inception and I3D files go through the same readers as real ones (weights.read_weights, then
    torch-fidelity / our I3D), and the ADM reference holds the DAG's own statistics of its images."""
    from diffusability.metrics.frechet import FeatureSpace
    from diffusability.metrics.i3d import load_i3d
    from diffusability.rehearsal import write_adm_reference, write_i3d_weights, write_image_folder, \
        write_inception_weights
    torch.set_num_threads(1)
    inception = write_inception_weights(tmp_path / "pt_inception.pth")
    assert load_i3d(write_i3d_weights(tmp_path / "i3d.pt")).logits.conv3d.weight.shape[0] == 400
    write_image_folder(tmp_path / "imagenet", crops_per_photo=1, short_side=40)
    data = {"name": "imagefolder", "root": str(tmp_path / "imagenet"), "resolution": 32, "train_dir": "train",
            "val_dir": "val", "hflip": True, "num_workers": 0}
    npz = write_adm_reference(tmp_path / "ref.npz", data_cfg=data, num_images=4, inception_weights=inception)
    with np.load(npz) as f:
        images, mu = f["arr_0"], f["mu"]
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8 and mu.shape == (2048,)
    space = FeatureSpace("inception", str(inception))
    direct = space.statistics(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1)
    np.testing.assert_allclose(direct["mu"], mu, rtol=1e-4, atol=1e-5)
    # the random networks keep a real one's activation scale: features spread across images (not ~1e-8)
    assert np.trace(direct["sigma"]) > 1e-3, np.trace(direct["sigma"])
    clips = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    from diffusability.metrics.i3d import i3d_features
    assert i3d_features(load_i3d(tmp_path / "i3d.pt"), clips, "logits").std(0).mean() > 1e-3


def test_config_rehearsal_differs_from_paper_only_in_sizes():
    """The overlay sets only size keys over the paper overlay: never a preset, data kind, metric kind or mode
    (the one architecture cut, video DiT presets, is named here on purpose)."""
    over = yaml.safe_load((ROOT / "config" / "scales" / "rehearsal.yaml").read_text())

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v
    keys = dict(leaves(over))
    for key in keys:
        last = key.rsplit(".", 1)[-1]
        assert last not in ("preset", "name", "precision", "compile", "mode", "modes", "base", "launcher",
                            "sampler", "variants", "latent_norm", "conditional"), key
    assert keys["video.dit.presets"] == ["S/2"]
    # the architectures the paper names stay: video models keep preset/channels/compression of paper.yaml
    paper = yaml.safe_load((ROOT / "config" / "scales" / "paper.yaml").read_text())
    assert [(m["preset"], m["channels"], m["compression"]) for m in over["video"]["models"]] == \
        [(m["preset"], m["channels"], m["compression"]) for m in paper["video"]["models"]]


@pytest.fixture(scope="module")
def rehearsal(slurm, tmp_path_factory):
    """The README's command: the inputs, then all_tables through the local Slurm; then all_figures (plots of the
    CSVs, local rules) and the report of each rule's memory."""
    wf = copy_workflow(tmp_path_factory.mktemp("rehearsal"))
    tic = time.perf_counter()
    inputs = subprocess.run([str(BIN / "python"), "-m", "diffusability.rehearsal"], cwd=wf, env=local_env(),
                            capture_output=True, text=True, timeout=1200)
    assert inputs.returncode == 0, inputs.stderr[-3000:]
    before = {j["id"] for j in _sacct()}
    proc = subprocess.run([str(BIN / "snakemake"), "--profile", "slurm", *FAST_POLL, "all_tables",
                           "--config", "scale=rehearsal"], cwd=wf, env=_env(wf), capture_output=True, text=True,
                          timeout=4 * 3600)  # 2 shared CPU cores: hours (see the report)
    wall = time.perf_counter() - tic
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    figs = subprocess.run([str(BIN / "snakemake"), "--cores", "2", "all_figures", "--config", "scale=rehearsal"],
                          cwd=wf, env=local_env(), capture_output=True, text=True, timeout=900)
    assert figs.returncode == 0, figs.stderr[-4000:]
    report = subprocess.run([str(BIN / "python"), str(ROOT / "bench" / "rehearsal_report.py")], cwd=wf,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "train_dit" in report.stdout, report.stderr[-2000:]
    print(f"rehearsal: inputs + all_tables in {wall / 60:.1f} min\n{report.stdout}")
    return wf, [j for j in _sacct() if j["id"] not in before]


@pytest.mark.rehearsal
@pytest.mark.system
@pytest.mark.slow
def test_rehearsal_builds_every_table_and_figure_with_numbers(rehearsal):
    wf, jobs = rehearsal
    figs, res = wf / "paper_figures" / "rehearsal", wf / "results" / "rehearsal"
    tables = sorted(figs.glob("tab_*.md"))
    assert len(tables) >= 8, tables
    for t in tables:
        body = [line for line in t.read_text().splitlines() if line.startswith("|")]
        assert len(body) >= 3, t  # header, rule, at least one row
    for pdf in figs.glob("*.pdf"):
        assert pdf.stat().st_size > 5000, pdf
    assert len(list(figs.glob("*.pdf"))) >= 5
    samples = sorted((figs / "samples").glob("*.png"))
    assert len(samples) == 9 and all(p.stat().st_size > 1000 for p in samples)
    gen = pd.read_csv(res / "generation.csv")
    # the real feature networks' paths: FID (Inception) for images, FVD (I3D) for video; never the proxies
    assert set(gen.metric) == {"fid", "fvd"}, set(gen.metric)
    assert set(gen[gen.metric == "fid"].modality) == {"image"} and set(gen[gen.metric == "fvd"].modality) == {"video"}
    assert all(math.isfinite(v) and v >= 0 for v in gen.value) and gen.dit_run.nunique() == 9
    # features of a real network's magnitude (rehearsal._unit_scale_convs): default-initialised weights gave ~1e-12
    assert (gen.value > 1e-6).all(), gen[["dit_run", "metric", "value"]]
    recon = pd.read_csv(res / "reconstruction.csv")
    # 3 FLUX.1 AEs + 8 fine-tunes (FT and SE of both bases, the factor and mode ablations, the HF-cutoff one),
    # and CogVideoX / LTX-Video each as vanilla, FT and SE
    assert recon["psnr"].notna().all() and len(recon) == 3 + 8 + 2 * 3, recon.model.tolist()


@pytest.mark.rehearsal
@pytest.mark.system
@pytest.mark.slow
def test_rehearsal_runs_the_paper_architectures_through_slurm(rehearsal):
    wf, jobs = rehearsal
    res = wf / "results" / "rehearsal"
    dit = yaml.safe_load((res / "dit" / "flux-c16-kl1e-06-s0__dit-XL2-s0" / "config.yaml").read_text())
    assert dit["model"]["preset"] == "XL/2" and dit["precision"] == "bf16"
    flux = json.loads((res / "ae" / "flux-c16-kl1e-06-s0" / "ae" / "config.json").read_text())
    assert flux["block_out_channels"] == [128, 256, 512, 512] and flux["latent_channels"] == 16
    for run, cls in (("cogvideox-pretrained", "AutoencoderKLCogVideoX"), ("ltx-pretrained", "AutoencoderKLLTXVideo")):
        assert json.loads((res / "ae" / run / "ae" / "config.json").read_text())["_class_name"] == cls
    names = {j["name"] for j in jobs}
    assert "flux-c16-kl1e-06-s0" in names and "flux-c16-kl1e-06-s0__dit-XL2-s0" in names, names  # submitit
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs


@pytest.mark.rehearsal
@pytest.mark.system
@pytest.mark.slow
def test_rehearsal_jobs_stay_within_their_memory_requests(rehearsal):
    """Each job's peak RSS is below the mem_mb Slurm scheduled it with (so mem_mb is what keeps two DiT-XL/2
    trainings apart on this machine): Snakemake's benchmark max_rss for cluster rules, Slurm's MaxRSS for the
    submitit trainings (their benchmark file measures the local rule that waits)."""
    import importlib.util
    wf, jobs = rehearsal
    spec = importlib.util.spec_from_file_location("rehearsal_report", ROOT / "bench" / "rehearsal_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    from diffusability.workflow_config import load_schema, resolve_config
    config = resolve_config(yaml.safe_load((wf / "config" / "config.yaml").read_text()), wf / "config",
                            {"scale": "rehearsal"}, load_schema(wf / "workflow" / "schemas" / "config.schema.yaml"))
    mem = {k: v["mem_mb"] for k, v in config["resources"].items()}
    rows = report.benchmark_rows(wf, "rehearsal")
    slurm = report.slurm_max_rss(None)
    trainings = {"train_ae", "finetune_se", "train_dit"}
    checked = 0
    for r in rows.itertuples():
        video = "pretrained" in r.job
        key = {"video_reference_stats": "reference_stats"}.get(r.rule, r.rule)
        if key in trainings:
            key = ("train_video_dit" if key == "train_dit" else "train_video_ae") if video else key
            rss = slurm.get(r.job)
            assert rss, (r.job, "no Slurm MaxRSS")
        else:
            rss = r.max_rss_mb
        if key in mem:
            assert rss < mem[key], (r.rule, r.job, rss, mem[key])
            checked += 1
    assert checked >= 60 and slurm.get("flux-c16-kl1e-06-s0__dit-XL2-s0", 0) > 5000  # XL/2 + Adam + EMA
