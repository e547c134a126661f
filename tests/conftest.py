import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Nothing in the suite may reach a hub: make any attempt fail loudly instead of hanging.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def copy_workflow(dest: Path) -> Path:
    """A copy of the repository's workflow (Snakefile, rules, scripts, config, profiles) to run in isolation."""
    for name in ("Snakefile", "workflow", "config", "profiles", "slurm"):
        src = ROOT / name
        if src.is_symlink():
            (dest / name).symlink_to(os.readlink(src))
        else:
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


# snakemake-executor-plugin-slurm runs `scontrol show config` whenever Snakemake starts, with any executor. Where
# Slurm is installed but its controller is down (as the system tier leaves this machine), that waits ~9 s for the
# controller at every start. Runs on the local executor point scontrol at an empty config, which fails at once.
_NO_SLURM_CONF = Path(tempfile.mkdtemp(prefix="diffusability-no-slurm-")) / "slurm.conf"
_NO_SLURM_CONF.touch()


def local_env() -> dict:
    """Environment of a Snakemake run on the local executor."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "SLURM_CONF": str(_NO_SLURM_CONF)}


def snakemake(cwd: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = local_env()
    return subprocess.run([str(BIN / "snakemake"), "--cores", "2", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def random_tiny_ae_run(out: Path, overrides: tuple[str, ...] = ()):
    """A real tiny AE run folder (4 latent channels, 4x) with random-initialised weights and the config a training
    would save: where the chain, not the quality, is under test. Returns the run config."""
    import torch
    from omegaconf import OmegaConf

    from diffusability.models.autoencoders import build_autoencoder
    from diffusability.provenance import atomic_write
    from diffusability.runconfig import run_config_by_hand
    from diffusability.train.ae import save_final_autoencoder
    torch.manual_seed(0)
    cfg = run_config_by_hand("train_ae", [f"out_dir={out}", "model.latent_channels=4", *overrides])
    save_final_autoencoder(build_autoencoder("tiny", 4, 4).eval(), out)
    atomic_write(out / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg, resolve=True)))
    return cfg


def write_video(path: Path, frames) -> None:
    """An MPEG-4 file of `frames` (T, H, W, 3) uint8, through PyAV."""
    import av
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", help="run every tier: fast, slow and system (replaces -m)")


def pytest_configure(config):
    # pyproject's addopts select the fast tier (-m "not slow and not system"); --all lifts any selection by marker
    # but the paper-scale rehearsal's (hours on 2 cores, beyond CI's 90 minutes): that one runs with -m rehearsal.
    if config.getoption("--all"):
        config.option.markexpr = "not rehearsal"


def pytest_collection_modifyitems(config, items):
    # The Slurm tests install and start a cluster; once Slurm's client is installed, snakemake's slurm plugin asks
    # `scontrol` for the configuration at every start, which waits ~9 s when no controller is up. Run them last.
    items.sort(key=lambda item: item.path.name == "test_slurm.py")


def write_ae_config(folder: Path) -> Path:
    """A folder holding only the config.json of a small AutoencoderKL: enough for the workflow's parse-time check
    (models.zoo.read_spec reads no weights), so a dry run can plan the AE-zoo jobs without torch or diffusers."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"_class_name": "AutoencoderKL", "block_out_channels": [8, 16, 16], '
                                        '"latent_channels": 4}')
    return folder
