"""A real Snakemake run of the smoke DAG in a temporary copy (images and video): every target, its columns,
selective and bitwise reruns."""
import shutil

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import copy_workflow, snakemake

pytestmark = pytest.mark.slow  # one real Snakemake run of the smoke DAG (about 6 minutes on 2 cores), then reruns

RUN = ["model", "modality", "preset", "channels", "kl_weight", "seed", "variant", "se_weight", "se_factors",
       "se_mode"]
SPECTRUM = ["freq_index", "amplitude", "energy", "block", "axis"]
SUMMARY = ["modality", "preset", "channels", "kl_weight", "variant", "se_weight", "se_factors", "se_mode", "psnr", "ssim",
           "rfid_proxy", "hf_share", "latent_mean", "latent_std", "seeds"]
MAIN = ["base", "ae", "channels", "kl_weight", "dit", "variant", "se_weight", "metric", "value", "value_sd", "seeds",
        "step", "rel_change_vs_ft", "rel_change_vs_vanilla"]
COLUMNS = {
    "spectra.csv": RUN + SPECTRUM,
    "video_spectra.csv": RUN + SPECTRUM,
    "hf_energy.csv": RUN + ["hf_share"],
    "reconstruction.csv": RUN + ["psnr", "ssim", "lpips", "num_images", "latent_mean", "latent_std", "rfid_proxy",
                                 "rfvd_proxy", "hf_share"],
    "rgb_noise_spectra.csv": RUN + ["noise_std"] + SPECTRUM,
    "erasure.csv": ["method", "erase_fraction", "psnr", "ssim", "psnr_vs_clean", "psnr_drop", "base", "seed"],
    "generation.csv": ["ae", "modality", "base", "variant", "se_weight", "channels", "kl_weight", "dit", "dit_run",
                       "seed", "step", "metric", "value"],
    "main_image.csv": MAIN,
    "main_video.csv": MAIN + ["psnr", "ssim", "rfvd_proxy", "hf_share"],
    **{f"ablation_{k}.csv": SUMMARY for k in ("se_weight", "factors", "mode", "se_kl")},
}
FIGURES = ["fig2_latent_spectra_channels", "fig3_latent_spectra_kl", "fig_rgb_noise", "fig4_se_spectra",
           "fig5_hf_erasure", "fig1_convergence", "fig_video_spectra"]
TABLES = ["tab_hf_energy", "tab_reconstruction", "tab_main_image", "tab_main_video"] + [
    f"tab_ablation_{k}" for k in ("se_weight", "factors", "mode", "se_kl")]
BASE = "tiny-c4-kl0-s0"
VBASE = "cogvideox-tiny-c4-kl1e-06-s0"


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
    image, video = hf[hf.modality == "image"], hf[hf.modality == "video"]
    assert set(image[image.variant == "vanilla"]["model"]) == vanilla and (image.model == "rgb").sum() == 1
    assert set(image.variant) == set(video.variant) == {"rgb", "vanilla", "ft", "se"}
    assert set(video.model) == {"rgb@cogvideox-tiny", VBASE, f"{VBASE}__se0-f2-bilinear", f"{VBASE}__se1-f2-bilinear"}
    assert hf["hf_share"].between(0, 1).all()
    assert (smoke / "results" / "smoke" / "spectra.provenance.json").exists()
    for table in TABLES:
        for ext in ("md", "tex"):
            assert (smoke / "paper_figures" / "smoke" / f"{table}.{ext}").stat().st_size > 100, table
    erasure = pd.read_csv(smoke / "results" / "smoke" / "erasure.csv")
    assert set(erasure.method) == {"rgb", "vanilla", "ft", "se", "random_cut"}
    assert set(erasure.erase_fraction) == {0.0, 0.5, 0.9}
    from diffusability.sheets import read_sheet
    sheet = read_sheet(smoke / "results" / "smoke" / "erasure" / f"{BASE}_grid.png")
    assert {r["method"] for r in sheet.rows} == {"rgb", "vanilla", "ft", "se", "random_cut"}
    assert [c["erase_fraction"] for c in sheet.columns] == [0.0, 0.5, 0.9]
    gen = pd.read_csv(smoke / "results" / "smoke" / "generation.csv")
    image, video = gen[gen.modality == "image"], gen[gen.modality == "video"]
    assert set(image.variant) == set(video.variant) == {"vanilla", "ft", "se"}
    assert set(image.step) == {2, 4} and set(video.step) == {1, 2}
    assert set(image.metric) == {"fd_proxy"} and set(video.metric) == {"fvd_proxy"}  # offline: never FID / FVD
    assert (gen.value > 0).all()
    for name in ("main_image.csv", "main_video.csv"):
        main = pd.read_csv(smoke / "results" / "smoke" / name)
        assert (main[main.variant == "vanilla"].rel_change_vs_vanilla == 0).all() and len(main) == 3
        assert (main[main.variant == "ft"].rel_change_vs_ft == 0).all()
    spectra = pd.read_csv(smoke / "results" / "smoke" / "video_spectra.csv")
    time = spectra[spectra.axis == "time"]
    assert set(time.model) == set(video.ae) | {"rgb@cogvideox-tiny"} and set(time.freq_index) == {0, 1, 2}
    claims = pd.read_csv(smoke / "results" / "smoke" / "claims.csv")
    # One seed: every claim that ran is inconclusive, with no interval.
    assert len(claims) == 15 and set(claims.verdict) <= {"inconclusive", "not run"}
    ran = claims[claims.verdict != "not run"]
    assert (ran.seeds == 1).all() and ran.ci_low.isna().all() and ran.our_value.notna().all()
    assert (claims.set_index("claim_id").loc[["se_lowers_fid", "se_lowers_fvd", "cut_reduces_erasure_damage"],
                                            "verdict"] != "not run").all()
    recon = pd.read_csv(smoke / "results" / "smoke" / "reconstruction.csv")
    assert recon[recon.modality == "video"].rfvd_proxy.notna().all()
    assert recon[recon.modality == "image"].rfid_proxy.notna().all()


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
    samples = smoke / "paper_figures" / "smoke" / "samples"
    assert len(list(samples.glob("*.png"))) == len(list(samples.glob("*.gif"))) == 6
    from PIL import Image
    with Image.open(samples / f"{VBASE}__dit-tiny-s0.gif") as gif:
        assert gif.n_frames == 9  # one GIF frame per video frame


def test_every_job_left_a_log_and_heavy_jobs_a_benchmark(smoke):
    # image runs + the video AE's vanilla / FT / SE runs through the same rules
    assert len(list((smoke / "logs" / "smoke" / "train_ae").glob("*.log"))) == 3 + 1
    assert len(list((smoke / "benchmarks" / "smoke" / "train_ae").glob("*.tsv"))) == 3 + 1
    assert len(list((smoke / "benchmarks" / "smoke" / "finetune_se").glob("*.tsv"))) == 7 + 2  # 7: + random_cut
    assert len(list((smoke / "benchmarks" / "smoke" / "evaluate_ae").glob("*.tsv"))) == 10 + 3
    for rule in ("encode_latents", "train_dit", "evaluate_dit"):
        assert len(list((smoke / "benchmarks" / "smoke" / rule).glob("*.tsv"))) == 3 + 3, rule
        assert len(list((smoke / "logs" / "smoke" / rule).glob("*.log"))) == 3 + 3, rule
    for rule in ("rgb_spectrum", "rgb_video_spectrum", "video_proxy_features", "video_reference_stats"):
        assert (smoke / "benchmarks" / "smoke" / f"{rule}.tsv").exists(), rule
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
    for untouched in ("train_ae", "erasure", "rgb_spectrum", "dataset_manifest", "proxy_features", "train_dit"):
        assert untouched not in jobs, jobs
    # only tables that read the merged CSVs follow
    assert set(jobs) <= {"finetune_se", "evaluate_ae", "collect_spectra", "tab_hf_energy", "tab_reconstruction",
                         "ablation_table", "tab_main_video", "claims", "all_tables"}, jobs


# A changed setting reruns exactly the stage it belongs to and what reads that stage's outputs (smoke grid: 3 image
# AEs, 7 image fine-tunes (one is the random_cut one), 3 image DiTs; 1 video AE, 2 video fine-tunes, 3 video DiTs).
TRAININGS = {"train_ae", "finetune_se", "encode_latents", "train_dit"}
RERUNS = {
    "ae": ("ae: {lr: 1.0e-3}", {"train_ae": 3, "finetune_se": 7, "encode_latents": 3, "train_dit": 3}),
    "fine-tune": ("se: {lr: 1.0e-3}", {"finetune_se": 7, "encode_latents": 2, "train_dit": 2}),
    "cutoff": ("se: {cut_max_ratio: 0.5}", {"finetune_se": 1}),
    "latent cache": ("dit: {norm_samples: 16}", {"encode_latents": 3, "train_dit": 3}),
    "dit": ("dit: {lr: 2.0e-4}", {"train_dit": 6}),
    "dit evaluation": ("dit: {sample_steps: 3}", {"evaluate_dit": 3}),
    "ae evaluation": ("eval: {num_images: 4}", {"evaluate_ae": 10}),
    "video": ("video: {se: {lr: 1.0e-3}}", {"finetune_se": 2, "encode_latents": 2, "train_dit": 2}),
}


@pytest.mark.parametrize("stage", list(RERUNS))
def test_a_changed_setting_reruns_exactly_its_stage(smoke, tmp_path, stage):
    text, expected = RERUNS[stage]
    (tmp_path / "change.yaml").write_text(text + "\n")
    proc = snakemake(smoke, "-n", "all_tables", "--configfile", str(tmp_path / "change.yaml"), "--config",
                     "scale=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _job_counts(proc.stdout + proc.stderr)
    for rule, n in expected.items():
        assert jobs.get(rule) == n, (rule, jobs)
    assert not (TRAININGS - set(expected)) & set(jobs), jobs  # no training upstream of the change reruns
    assert "dataset_manifest" not in jobs and "proxy_features" not in jobs, jobs


def test_every_csv_has_a_provenance_sidecar_and_files_follow_the_umask(smoke):
    import json
    import os
    # A training's train_log.csv lives in its run folder, described by the run's provenance.json and config.yaml.
    csvs = sorted(c for c in (smoke / "results" / "smoke").rglob("*.csv") if c.name != "train_log.csv")
    assert len(csvs) > 40
    assert all((c.parent / "provenance.json").exists() for c in (smoke / "results").rglob("train_log.csv"))
    assert [c for c in csvs if not c.with_suffix(".provenance.json").exists()] == []
    rec = json.loads((smoke / "results" / "smoke" / "generation.provenance.json").read_text())
    assert rec["rule"] == "collect_generation" and rec["config"]["scale"] == "smoke" and rec["git_commit"]
    umask = os.umask(0o022)
    os.umask(umask)
    files = [p for d in ("results", "paper_figures") for p in (smoke / d).rglob("*") if p.is_file()]
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o666 & ~umask)}


# One chain per trainer (image AE, image DiT, video AE, video DiT) and the scores behind every table: rebuilt from
# nothing, they must come out bit for bit the same (the rest of the DAG adds no randomness of its own).
RERUN = [f"eval/{BASE}/reconstruction.csv", f"eval/{BASE}/spectrum.csv", f"dit/{BASE}__dit-tiny-s0/generation.csv",
         f"eval/{VBASE}/reconstruction.csv", f"eval/{VBASE}/spectrum.csv", f"dit/{VBASE}__dit-tiny-s0/generation.csv"]


def test_rerun_from_scratch_is_bit_identical(smoke, tmp_path):
    first = {n: (smoke / "results" / "smoke" / n).read_bytes() for n in RERUN}
    shutil.rmtree(smoke / "results")
    proc = snakemake(smoke, *[f"results/smoke/{n}" for n in RERUN], "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for n, data in first.items():
        assert (smoke / "results" / "smoke" / n).read_bytes() == data, n


# Each image result the report holds is shown through the report's own view (its global `app`), then measured.
SHOW_EVERY_IMAGE = """(async () => {
  const out = {}, categoryOf = {};
  for (const [cat, subs] of Object.entries(categories))
    for (const paths of Object.values(subs)) for (const p of paths) categoryOf[p] = cat;
  for (const [path, entry] of Object.entries(results)) {
    if (!entry.data_uri.startsWith("data:image")) continue;
    app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
    let img = null;
    for (let i = 0; i < 100 && !(img && img.complete); i++) {
      await new Promise(r => setTimeout(r, 50));
      img = [...document.querySelectorAll("#app img")].find(el => el.getAttribute("src") === entry.data_uri);
    }
    const box = img ? img.getBoundingClientRect() : {width: 0, height: 0};
    out[path] = {natural: img ? img.naturalWidth * img.naturalHeight : 0, shown: box.width * box.height,
                 category: categoryOf[path], caption: entry.caption};
  }
  return out;
})()"""


@pytest.mark.system  # opens the report in Debian's chromium
def test_report_renders_every_figure_in_a_real_browser(smoke, tmp_path):
    import os

    from browser import Chromium, chromium_path
    from diffusability.paper_map import items_of, load_paper_map
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the report test (the README's test command installs it)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    report = tmp_path / "report.html"
    proc = snakemake(smoke, "--report", str(report), "--config", "scale=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(report.as_uri(), "typeof results !== 'undefined' && typeof app !== 'undefined' && app "
                                      "&& typeof app.setView === 'function'")
        shown = browser.eval(SHOW_EVERY_IMAGE)
    finally:
        browser.close()
    # the figures the smoke config builds: the video track is on, no AE is in zoo.models
    figures = [it for it in items_of(load_paper_map(smoke / "config" / "paper_map.yaml"), "figure", video=True)
               if it.target != "evaluate_dit"]
    assert {p.rsplit("/", 1)[-1] for p in shown} == {f"{rules}.png" for rules in (
        "fig1_convergence", "fig2_latent_spectra_channels", "fig3_latent_spectra_kl", "fig_rgb_noise",
        "fig4_se_spectra", "fig5_hf_erasure", "fig_video_spectra")}
    for path, view in shown.items():
        assert view["natural"] > 0 and view["shown"] > 0, f"{path} did not render"
    # grouped by the paper's figure, captioned from the paper map
    by_category = {v["category"]: v["caption"] for v in shown.values()}
    for item in figures:
        assert item.paper in by_category and item.caption[:40] in by_category[item.paper], item.id


# Last in this module: it adds a second seed to the smoke run's results, which the tests above compare against.
TWO_SEEDS = ("seeds=[0, 1]",)  # the README's three-seed command, with two seeds
AGGREGATES = {"collect_spectra", "collect_erasure", "collect_generation", "tab_hf_energy", "tab_reconstruction",
              "ablation_table", "tab_main_image", "tab_main_video", "claims", "fig1_convergence",
              "fig2_latent_spectra_channels", "fig3_latent_spectra_kl", "fig4_se_spectra", "fig5_hf_erasure",
              "fig_video_spectra", "all_tables", "all_figures"}


def test_a_second_seed_adds_its_runs_beside_the_first_and_gives_every_claim_an_interval(smoke):
    """The README's multi-seed command at smoke scale with two seeds, on top of the one-seed run: seed 0's runs are
    reused (only seed 1's AEs, fine-tunes and DiTs run), every claim that ran gets a 95% interval over two seeds; back
    to one seed, only the merged CSVs, tables and figures rerun."""
    # the one-seed run whole again, whatever earlier tests removed (the bitwise rerun deletes results/)
    one = snakemake(smoke, "all_tables", "all_figures", "--config", "scale=smoke", timeout=1800)
    assert one.returncode == 0, one.stderr[-3000:]
    plan = snakemake(smoke, "-n", "all_tables", "all_figures", "--config", "scale=smoke", *TWO_SEEDS)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = _job_counts(plan.stdout + plan.stderr)
    # seed 1: its 3 image AEs + the video AE, its 7 + 2 fine-tunes, one DiT on each of its 3 + 3 variants
    assert jobs["train_ae"] == 3 + 1 and jobs["finetune_se"] == 7 + 2 and jobs["train_dit"] == 3 + 3, jobs
    assert jobs["erasure"] == 1 and "dataset_manifest" not in jobs and "rgb_spectrum" not in jobs, jobs
    # nothing of seed 0 is retrained
    assert f"output: results/smoke/ae/{BASE}" not in plan.stdout + plan.stderr
    proc = snakemake(smoke, "all_tables", "all_figures", "--config", "scale=smoke", *TWO_SEEDS, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    claims = pd.read_csv(smoke / "results" / "smoke" / "claims.csv").set_index("claim_id")
    ran = claims[claims.verdict != "not run"]
    assert {"se_lowers_fid", "se_lowers_fvd", "se_keeps_reconstruction", "cut_reduces_erasure_damage",
            "se_reduces_erasure_damage_vs_vanilla"} <= set(ran.index)
    assert (ran.seeds == 2).all() and ran.ci_low.notna().all() and ran.ci_high.notna().all()
    assert (ran.ci_low <= ran.our_value).all() and (ran.our_value <= ran.ci_high).all()
    assert set(claims.verdict) <= {"reproduced", "not reproduced", "inconclusive", "not run"}
    assert "per AE seed (DiT seeds averaged)" in claims.loc["se_lowers_fid", "metric"]
    assert set(pd.read_csv(smoke / "results" / "smoke" / "erasure.csv").seed) == {0, 1}
    main = pd.read_csv(smoke / "results" / "smoke" / "main_image.csv")
    assert len(main) == 2 * 3 and (main.seeds == 1).all()  # per base (AE seed) x variant, one DiT each
    back = snakemake(smoke, "-n", "all_tables", "all_figures", "--config", "scale=smoke")
    assert back.returncode == 0, back.stderr[-3000:]
    assert set(_job_counts(back.stdout + back.stderr)) <= AGGREGATES
