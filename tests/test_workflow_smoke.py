"""A real Snakemake run of the smoke DAG in a temporary copy: every target, its columns, bitwise reruns."""
import shutil

import pandas as pd
import pytest

from conftest import copy_workflow, snakemake

COLUMNS = {
    "spectra.csv": ["model", "preset", "channels", "kl_weight", "seed", "freq_index", "amplitude", "energy", "block"],
    "hf_energy.csv": ["model", "preset", "channels", "kl_weight", "seed", "hf_share"],
    "reconstruction.csv": ["model", "preset", "channels", "kl_weight", "seed", "psnr", "ssim", "lpips",
                           "num_images", "latent_mean", "latent_std"],
    "rgb_noise_spectra.csv": ["model", "preset", "channels", "kl_weight", "seed", "noise_std", "freq_index",
                              "amplitude", "energy", "block"],
}
FIGURES = ["fig2_latent_spectra_channels", "fig3_latent_spectra_kl", "fig_rgb_noise"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("smoke"))
    proc = snakemake(wf, "all_tables", "all_figures", "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return wf


def test_every_table_exists_with_its_columns(smoke):
    runs = {"tiny-c4-kl0-s0", "tiny-c8-kl0-s0", "tiny-c4-kl0.01-s0"}
    for name, cols in COLUMNS.items():
        df = pd.read_csv(smoke / "results" / "smoke" / name)
        assert list(df.columns) == cols, name
        assert len(df) > 0
    hf = pd.read_csv(smoke / "results" / "smoke" / "hf_energy.csv")
    assert set(hf["model"]) == runs | {"rgb"}
    assert hf["hf_share"].between(0, 1).all()
    assert (smoke / "results" / "smoke" / "spectra.provenance.json").exists()
    for ext in ("md", "tex"):
        assert (smoke / "paper_figures" / "smoke" / f"tab_hf_energy.{ext}").stat().st_size > 100


def test_every_figure_exists(smoke):
    for fig in FIGURES:
        for ext in ("pdf", "png"):
            assert (smoke / "paper_figures" / "smoke" / f"{fig}.{ext}").stat().st_size > 5000, fig


def test_every_job_left_a_log_and_heavy_jobs_a_benchmark(smoke):
    assert len(list((smoke / "logs" / "smoke" / "train_ae").glob("*.log"))) == 3
    assert len(list((smoke / "benchmarks" / "smoke" / "train_ae").glob("*.tsv"))) == 3
    assert "resum" not in (smoke / "logs" / "smoke" / "train_ae" / "tiny-c4-kl0-s0.log").read_text()


def test_one_figure_by_file_name_and_nothing_else_reruns(smoke):
    target = "paper_figures/smoke/fig3_latent_spectra_kl.png"
    (smoke / target).unlink()
    proc = snakemake(smoke, target, "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stderr
    assert "fig3_latent_spectra_kl" in proc.stdout + proc.stderr
    assert "train_ae" not in proc.stdout + proc.stderr


def test_rerun_from_scratch_is_bit_identical(smoke, tmp_path):
    first = {n: (smoke / "results" / "smoke" / n).read_bytes() for n in COLUMNS}
    shutil.rmtree(smoke / "results")
    proc = snakemake(smoke, "all_tables", "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for n, data in first.items():
        assert (smoke / "results" / "smoke" / n).read_bytes() == data, n
