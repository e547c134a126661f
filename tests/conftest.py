import os
import shutil
import subprocess
import sys
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


def snakemake(cwd: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([str(BIN / "snakemake"), "--cores", "2", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", help="run every tier: fast, slow and system (replaces -m)")


def pytest_configure(config):
    # pyproject's addopts select the fast tier (-m "not slow and not system"); --all lifts any selection by marker.
    if config.getoption("--all"):
        config.option.markexpr = ""


def pytest_collection_modifyitems(config, items):
    # The Slurm tests install and start a cluster; once Slurm's client is installed, snakemake's slurm plugin asks
    # `scontrol` for the configuration at every start, which waits ~9 s when no controller is up. Run them last.
    items.sort(key=lambda item: item.path.name == "test_slurm.py")
