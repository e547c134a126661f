"""Bad configs are rejected by Snakemake before any job runs, in one sentence naming the key."""
import pytest
import yaml

from conftest import copy_workflow, snakemake

pytestmark = pytest.mark.slow  # every case starts Snakemake on the workflow (about 10 s each)

# Each bad config as a user would write it in an ablation file (--configfile), and the sentence it must produce.
BAD = {
    "unknown preset": ({"ae": {"preset": "vqgan"}}, "config key ae.preset is 'vqgan', but must be one of"),
    "negative KL weight": ({"ae": {"kl_weights": [0, -1.0e-4]}},
                           "config key ae.kl_weights[1]: -0.0001 is less than the minimum of 0"),
    "channels not a positive integer": ({"ae": {"channels": [4, 0]}}, "config key ae.channels[1]: 0 is less than"),
    "fractional channels": ({"ae": {"channels": [4, 2.5]}},
                            "config key ae.channels[1]: 2.5 is not of type 'integer'"),
    "resolution not divisible": ({"data": {"resolution": 30}},
                                 "config key data.resolution is 30, which is not divisible by ae.compression=4"),
    "unknown scale": ({"scale": "huge"}, "config key scale is 'huge', but must be one of smoke, tiny, small, paper"),
    "misspelt key": ({"ae": {"chanels": [4]}}, "config key ae.chanels is not a known setting"),
}


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("wf"))


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_is_rejected_before_any_job(wf, case, tmp_path):
    bad, message = BAD[case]
    (tmp_path / "ablation.yaml").write_text(yaml.safe_dump(bad))
    proc = snakemake(wf, "all_tables", "--configfile", str(tmp_path / "ablation.yaml"))
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert not (wf / "results").exists() and not (wf / "logs").exists()


def test_bad_scale_on_the_command_line(wf):
    proc = snakemake(wf, "all_tables", "--config", "scale=huge")
    assert proc.returncode != 0 and BAD["unknown scale"][1] in proc.stderr


def test_paper_scale_dag_dry_run(wf):
    proc = snakemake(wf, "-n", "all_tables", "--config", "scale=paper")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "results/paper/ae/flux-c64-kl1e-06-s0/ae/diffusion_pytorch_model.safetensors" in out
    assert "runtime=1080" in out and "gpu=1" in out
    jobs = ("train_ae ", "finetune_se ", "evaluate_ae ", "import_pretrained ", "train_dit ")
    counts = dict(line.split()[:2] for line in out.splitlines() if line.startswith(jobs))
    # 5 channel counts + 4 KL weights sharing one AE; 4 SE weights + 2 factor sets + 2 modes + 2 for SE x KL;
    # video: the released CogVideoX and LTX AEs imported, each fine-tuned as FT and SE; a DiT on every variant
    assert counts == {"train_ae": "8", "finetune_se": "14",
                      "evaluate_ae": "24", "import_pretrained": "2", "train_dit": "9"}
    assert "runtime=240" in out  # the fine-tunes carry their paper-scale estimate


def test_spectral_figures_wait_for_the_vanilla_grid_only(wf):
    # Figs. 2, 3 and RGB noise come first in the default run: their DAG is the vanilla image grid and RGB, no
    # fine-tune, no video AE, no merged table.
    figs = [f"paper_figures/tiny/{f}.png" for f in ("fig2_latent_spectra_channels", "fig3_latent_spectra_kl",
                                                    "fig_rgb_noise")]
    proc = snakemake(wf, "-n", *figs)
    assert proc.returncode == 0, proc.stderr
    stats = (proc.stdout + proc.stderr).split("Job stats:", 1)[1].split("total", 1)[0]
    counts = {r[0]: int(r[1]) for r in map(str.split, stats.splitlines()) if len(r) == 2 and r[1].isdigit()}
    assert counts.pop("train_ae") == counts.pop("evaluate_ae") == 8  # 5 channel counts + 3 more KL weights
    assert counts == {"dataset_manifest": 1, "proxy_features": 1, "rgb_spectrum": 1,
                      "fig2_latent_spectra_channels": 1, "fig3_latent_spectra_kl": 1, "fig_rgb_noise": 1}
