"""A real Snakemake run of the smoke DAG in a temporary copy: every target, its columns, bitwise reruns."""
import shutil

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import copy_workflow, snakemake

RUN = ["model", "preset", "channels", "kl_weight", "seed", "variant", "se_weight", "se_factors", "se_mode"]
SUMMARY = ["preset", "channels", "kl_weight", "variant", "se_weight", "se_factors", "se_mode", "psnr", "ssim",
           "rfid_proxy", "hf_share", "latent_mean", "latent_std", "seeds"]
COLUMNS = {
    "spectra.csv": RUN + ["freq_index", "amplitude", "energy", "block"],
    "hf_energy.csv": RUN + ["hf_share"],
    "reconstruction.csv": RUN + ["psnr", "ssim", "lpips", "num_images", "latent_mean", "latent_std", "rfid_proxy",
                                 "hf_share"],
    "rgb_noise_spectra.csv": RUN + ["noise_std", "freq_index", "amplitude", "energy", "block"],
    "erasure.csv": ["method", "erase_fraction", "psnr", "ssim", "psnr_vs_clean", "psnr_drop", "base", "seed"],
    "generation.csv": ["ae", "base", "variant", "se_weight", "channels", "kl_weight", "dit", "dit_run", "seed", "step",
                       "metric", "value"],
    "main_image.csv": ["base", "channels", "kl_weight", "dit", "variant", "se_weight", "metric", "value", "value_sd",
                       "seeds", "step", "rel_change_vs_vanilla"],
    **{f"ablation_{k}.csv": SUMMARY for k in ("se_weight", "factors", "mode", "se_kl")},
}
FIGURES = ["fig2_latent_spectra_channels", "fig3_latent_spectra_kl", "fig_rgb_noise", "fig4_se_spectra",
           "fig5_hf_erasure", "fig1_convergence"]
TABLES = ["tab_hf_energy", "tab_reconstruction", "tab_main_image"] + [f"tab_ablation_{k}" for k in ("se_weight", "factors", "mode",
                                                                                 "se_kl")]
BASE = "tiny-c4-kl0-s0"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("smoke"))
    proc = snakemake(wf, "all_tables", "all_figures", "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return wf


def test_every_table_exists_with_its_columns(smoke):
    vanilla = {"tiny-c4-kl0-s0", "tiny-c8-kl0-s0", "tiny-c4-kl0.01-s0"}
    for name, cols in COLUMNS.items():
        df = pd.read_csv(smoke / "results" / "smoke" / name)
        assert list(df.columns) == cols, name
        assert len(df) > 0
    hf = pd.read_csv(smoke / "results" / "smoke" / "hf_energy.csv")
    assert set(hf[hf.variant == "vanilla"]["model"]) == vanilla and (hf.model == "rgb").sum() == 1
    assert set(hf.variant) == {"rgb", "vanilla", "ft", "se"}
    assert hf["hf_share"].between(0, 1).all()
    assert (smoke / "results" / "smoke" / "spectra.provenance.json").exists()
    for table in TABLES:
        for ext in ("md", "tex"):
            assert (smoke / "paper_figures" / "smoke" / f"{table}.{ext}").stat().st_size > 100, table
    erasure = pd.read_csv(smoke / "results" / "smoke" / "erasure.csv")
    assert set(erasure.method) == {"rgb", "vanilla", "ft", "se"}
    assert set(erasure.erase_fraction) == {0.0, 0.5, 0.9}
    gen = pd.read_csv(smoke / "results" / "smoke" / "generation.csv")
    assert set(gen.variant) == {"vanilla", "ft", "se"} and set(gen.step) == {2, 4}
    assert set(gen.metric) == {"fd_proxy"} and (gen.value > 0).all()  # offline: never called FID
    main = pd.read_csv(smoke / "results" / "smoke" / "main_image.csv")
    assert (main[main.variant == "vanilla"].rel_change_vs_vanilla == 0).all() and len(main) == 3


def test_ft_control_differs_from_se_only_in_the_se_weight(smoke):
    ae = smoke / "results" / "smoke" / "ae"
    ft = OmegaConf.load(ae / f"{BASE}__se0-f2x4-bilinear" / "config.yaml")
    se = OmegaConf.load(ae / f"{BASE}__se1-f2x4-bilinear" / "config.yaml")
    assert ft.se.weight == 0 and se.se.weight == 1
    ft.se.weight = se.se.weight
    ft.out_dir = se.out_dir
    assert ft == se
    assert se.init_from.endswith(f"ae/{BASE}/ae")


def test_every_figure_exists(smoke):
    for fig in FIGURES:
        for ext in ("pdf", "png"):
            assert (smoke / "paper_figures" / "smoke" / f"{fig}.{ext}").stat().st_size > 5000, fig
    assert len(list((smoke / "paper_figures" / "smoke" / "samples").glob("*.png"))) == 3


def test_every_job_left_a_log_and_heavy_jobs_a_benchmark(smoke):
    assert len(list((smoke / "logs" / "smoke" / "train_ae").glob("*.log"))) == 3
    assert len(list((smoke / "benchmarks" / "smoke" / "train_ae").glob("*.tsv"))) == 3
    assert len(list((smoke / "benchmarks" / "smoke" / "finetune_se").glob("*.tsv"))) == 7
    assert len(list((smoke / "benchmarks" / "smoke" / "evaluate_ae").glob("*.tsv"))) == 10
    for rule in ("encode_latents", "train_dit", "evaluate_dit"):
        assert len(list((smoke / "benchmarks" / "smoke" / rule).glob("*.tsv"))) == 3, rule
        assert len(list((smoke / "logs" / "smoke" / rule).glob("*.log"))) == 3, rule
    assert "resum" not in (smoke / "logs" / "smoke" / "train_ae" / "tiny-c4-kl0-s0.log").read_text()


def test_one_figure_by_file_name_and_nothing_else_reruns(smoke):
    target = "paper_figures/smoke/fig3_latent_spectra_kl.png"
    (smoke / target).unlink()
    proc = snakemake(smoke, target, "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stderr
    assert "fig3_latent_spectra_kl" in proc.stdout + proc.stderr
    assert "train_ae" not in proc.stdout + proc.stderr


def _job_counts(out: str) -> dict[str, int]:
    counts, in_stats = {}, False
    for line in out.splitlines():
        if line.startswith("job ") and "count" in line:
            in_stats = True
        elif in_stats and line.strip() and not line.startswith("---"):
            name, *rest = line.split()
            if name == "total":
                break
            counts[name] = int(rest[0])
    return counts


def test_changing_one_se_weight_reruns_only_that_variant(smoke, tmp_path):
    (tmp_path / "ablation.yaml").write_text("se:\n  weights: [0.0, 0.5]\n")
    proc = snakemake(smoke, "-n", "all_tables", "--configfile", str(tmp_path / "ablation.yaml"), "--config",
                     "scale=smoke")
    assert proc.returncode == 0, proc.stderr
    jobs = _job_counts(proc.stdout + proc.stderr)
    assert jobs["finetune_se"] == 1 and jobs["evaluate_ae"] == 1, jobs
    assert f"{BASE}__se0.5-f2x4-bilinear" in proc.stdout + proc.stderr
    for untouched in ("train_ae", "erasure", "rgb_spectrum", "dataset_manifest", "proxy_features"):
        assert untouched not in jobs, jobs
    # only tables that read the merged CSVs follow
    assert set(jobs) <= {"finetune_se", "evaluate_ae", "collect_spectra", "tab_hf_energy", "tab_reconstruction",
                         "ablation_table", "all_tables"}, jobs


def test_rerun_from_scratch_is_bit_identical(smoke, tmp_path):
    first = {n: (smoke / "results" / "smoke" / n).read_bytes() for n in COLUMNS}
    shutil.rmtree(smoke / "results")
    proc = snakemake(smoke, "all_tables", "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for n, data in first.items():
        assert (smoke / "results" / "smoke" / n).read_bytes() == data, n
