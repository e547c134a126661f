"""Bad configs are rejected by Snakemake before any job runs, in one sentence naming the key."""
import pytest
import yaml

from conftest import copy_workflow, snakemake, write_ae_config

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
    "unknown scale": ({"scale": "huge"}, "config key scale is 'huge', but must be one of smoke, tiny, small, rehearsal, paper"),
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
    # 5 channel counts + 4 KL weights sharing one AE; 4 SE weights + 2 factor sets + 2 modes + 2 for SE x KL + the
    # HF-cutoff run; video: the released CogVideoX and LTX AEs imported, each fine-tuned as FT and SE; a DiT on every
    # variant
    assert counts == {"train_ae": "8", "finetune_se": "15",
                      "evaluate_ae": "25", "import_pretrained": "2", "train_dit": "9"}
    assert "runtime=240" in out  # the fine-tunes carry their paper-scale estimate
    # The sharded data path: 32 encode jobs per AE variant with a DiT, 8 sampling jobs per DiT, 16 reference jobs
    # per modality, each followed by one light gather / scoring job; the image DiTs' final samples as ADM batches.
    sharded = ("encode_latent_shard ", "encode_latents ", "sample_dit ", "evaluate_dit ", "reference_shard ",
               "video_reference_shard ", "reference_stats ", "export_adm ")
    counts = dict(line.split()[:2] for line in out.splitlines() if line.startswith(sharded))
    assert counts == {"encode_latent_shard": "288", "encode_latents": "9", "sample_dit": "72", "evaluate_dit": "9",
                      "reference_shard": "16", "video_reference_shard": "16", "reference_stats": "1",
                      "export_adm": "3"}, counts
    assert "results/paper/latents/flux-c16-kl1e-06-s0.shard-00031-of-00032.safetensors" in out
    assert "results/paper/dit/flux-c16-kl1e-06-s0__dit-XL2-s0/samples/sums.shard-00007-of-00008.safetensors" in out


def test_adm_reference_replaces_the_image_reference_jobs(wf, tmp_path):
    (tmp_path / "pt_inception.pth").write_bytes(b"not read in a dry run")
    (tmp_path / "VIRTUAL_imagenet256_labeled.npz").write_bytes(b"not read in a dry run")
    (tmp_path / "adm.yaml").write_text(yaml.safe_dump({
        "metrics": {"inception_weights": str(tmp_path / "pt_inception.pth")},
        "dit": {"adm_reference": str(tmp_path / "VIRTUAL_imagenet256_labeled.npz")}}))
    proc = snakemake(wf, "-n", "all_tables", "--configfile", str(tmp_path / "adm.yaml"), "--config", "scale=paper")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    jobs = dict(line.split()[:2] for line in out.splitlines() if line.startswith(("reference_", "video_reference_")))
    assert jobs == {"video_reference_shard": "16", "video_reference_stats": "1"}, jobs  # video keeps its own
    assert str(tmp_path / "VIRTUAL_imagenet256_labeled.npz") in out  # an input of every image DiT's scoring
    (tmp_path / "adm.yaml").write_text(yaml.safe_dump({"dit": {"adm_reference": str(tmp_path / "x.npz")}}))
    proc = snakemake(wf, "-n", "all_tables", "--configfile", str(tmp_path / "adm.yaml"), "--config", "scale=paper")
    assert proc.returncode != 0 and "config key dit.adm_reference names" in proc.stdout + proc.stderr
    (tmp_path / "adm.yaml").write_text(yaml.safe_dump({
        "dit": {"adm_reference": str(tmp_path / "VIRTUAL_imagenet256_labeled.npz")}}))
    proc = snakemake(wf, "-n", "all_tables", "--configfile", str(tmp_path / "adm.yaml"), "--config", "scale=paper")
    assert proc.returncode != 0
    assert "config key dit.adm_reference holds Inception-v3 statistics" in proc.stdout + proc.stderr


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


def _readme_snakemake_commands() -> list[str]:
    """Every `.venv/bin/snakemake ...` line in the README's bash blocks, except the first command (the default run,
    run in full by hand and timed in the notes) and the Slurm ones (tests/test_slurm.py)."""
    import re
    from conftest import ROOT
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [ln.split("#")[0].strip() for b in blocks[1:] for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith(".venv/bin/snakemake") and "--profile slurm" not in ln]


def _readme_zoo_yaml() -> str:
    """The README's `my_zoo.yaml` (the yaml block with the `zoo:` section)."""
    import re
    from conftest import ROOT
    return next(b for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
                if b.startswith("zoo:"))


def _readme_paper_yaml(root) -> str:
    """The README's `my_paper.yaml`, its paths moved under `root`, where stand-in files and folders are made."""
    import re
    from conftest import ROOT
    text = next(b for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
                if b.startswith("# my_paper.yaml"))
    text = re.sub(r"(?<=: )/", f"{root}/", text)
    for path in re.findall(rf"{re.escape(str(root))}/[^ ,}}\n]+", text):
        if path.endswith((".pth", ".pt", ".npz")):
            (root / path[len(str(root)) + 1:]).parent.mkdir(parents=True, exist_ok=True)
            (root / path[len(str(root)) + 1:]).write_bytes(b"a stand-in: a dry run reads no file")
        else:
            (root / path[len(str(root)) + 1:]).mkdir(parents=True, exist_ok=True)
    return text


@pytest.mark.parametrize("command", _readme_snakemake_commands())
def test_every_readme_snakemake_command_parses_and_plans(wf, command):
    import shlex
    (wf / "my_ablation.yaml").write_text("se:\n  weights: [0.0, 0.5]\n")
    (wf / "my_zoo.yaml").write_text(_readme_zoo_yaml())  # the README's own, its AE folder a config.json only
    (wf / "my_paper.yaml").write_text(_readme_paper_yaml(wf))  # the README's own, its files stand-ins
    write_ae_config(wf / "path" / "to" / "vae")
    args = shlex.split(command)[1:]
    proc = snakemake(wf, *args, *([] if "--unlock" in args else ["-n"]))  # planned, not run (the smoke DAG runs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    if "seeds=[0, 1]" in command:
        assert "tiny-c16-kl1e-05-s1" in proc.stdout + proc.stderr
    if "my_paper.yaml" in command:  # the ADM batch replaces the image reference jobs; the plan the README quotes
        out = proc.stdout + proc.stderr
        assert f"{wf}/weights/VIRTUAL_imagenet256_labeled.npz" in out and "\nreference_shard " not in out
        assert "results/paper/latents/flux-c16-kl1e-06-s0.shard-00031-of-00032.safetensors" in out


def test_dotted_config_keys_are_refused_in_one_sentence(wf):
    proc = snakemake(wf, "-n", "all_tables", "--config", "ae.lr=1e-3")
    assert proc.returncode != 0 and "Config entry must start with a valid identifier" in proc.stdout + proc.stderr


@pytest.mark.parametrize("bad, message", [
    ({"dit": {"seeds": [0, 0]}}, "config key dit.seeds is [0, 0], but must list each entry once"),
    ({"ae": {"overrides": ["optim.betaz=[0.5,0.9]"]}}, "config key ae.overrides has 'optim.betaz=[0.5,0.9]'"),
    ({"metrics": {"inception_weights": "/nope/pt_inception.pth"}},
     "config key metrics.inception_weights names /nope/pt_inception.pth, which is not a file"),
])
def test_bad_settings_and_files_stop_the_run_before_any_job(wf, tmp_path, bad, message):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = snakemake(wf, "all_tables", "--configfile", str(tmp_path / "bad.yaml"), "--config", "scale=smoke")
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, proc.stderr[-2000:]
    assert not (wf / "results").exists() and not (wf / "logs").exists()


def test_a_file_that_is_not_weights_stops_the_run_before_any_job(wf, tmp_path):
    # Checked in the workflow's onstart handler (after the plan, before the first job; dry runs skip it).
    (tmp_path / "inception.pth").write_bytes(b"not a state dict" * 100)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"metrics": {"inception_weights": str(tmp_path / "inception.pth")}}))
    args = ["all_tables", "--configfile", str(tmp_path / "bad.yaml"), "--config", "scale=smoke"]
    assert snakemake(wf, "-n", *args).returncode == 0
    proc = snakemake(wf, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "config key metrics.inception_weights names" in out and "not a state dict" in out
    assert "weights_only=False" not in out
    assert not (wf / "results").exists() and not (wf / "logs").exists()


def test_paper_scale_image_folder_root_from_a_configfile_reaches_the_manifest(tmp_path):
    """Issue 17: `data: {root: ...}` in a --configfile with `--config scale=paper` used to stop dataset_manifest
    with "Missing mandatory value: data.root"."""
    import json

    from PIL import Image
    root = tmp_path / "imagenet"
    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            (root / split / cls).mkdir(parents=True)
            Image.new("RGB", (300, 260), (40, 80, 120)).save(root / split / cls / "a.JPEG")
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"data": {"root": str(root)}, "video": {"enabled": False}}))
    (tmp_path / "wf").mkdir()
    wf = copy_workflow(tmp_path / "wf")
    proc = snakemake(wf, "results/paper/data/manifest.json", "--configfile", str(tmp_path / "mine.yaml"),
                     "--config", "scale=paper")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    manifest = json.loads((wf / "results" / "paper" / "data" / "manifest.json").read_text())
    assert manifest["name"] == "imagefolder" and manifest["root"] == str(root)
    assert manifest["train"] == manifest["val"] == {"files": 2, "classes": 2}
