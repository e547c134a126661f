"""The README's recovery path, for real: Snakemake killed with SIGKILL mid-training, the rerun refused for its lock,
`--unlock`, the same command again, and the training resumed from its checkpoint."""
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import BIN, copy_workflow, local_env, snakemake

pytestmark = pytest.mark.slow

RUN = "tiny-c4-kl0-s0"
TARGET = f"results/smoke/ae/{RUN}/ae/diffusion_pytorch_model.safetensors"
CONFIG = ["--config", "scale=smoke", "ae={steps: 60, checkpoint_every: 10}"]


def test_a_killed_run_is_unlocked_and_resumes(tmp_path):
    wf = copy_workflow(tmp_path)
    proc = subprocess.Popen([str(BIN / "snakemake"), "--cores", "2", TARGET, *CONFIG], cwd=wf, env=local_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = wf / "results" / "smoke" / "ae" / RUN / "checkpoints" / "step_00000020"
    deadline = time.time() + 300
    while not ckpt.exists():
        assert proc.poll() is None and time.time() < deadline, "the training ended before its 2nd checkpoint"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its job, as a lost login session or an OOM kill would
    proc.wait()
    assert not (wf / TARGET).exists()

    locked = snakemake(wf, TARGET, *CONFIG)
    assert locked.returncode != 0 and "LockException" in locked.stdout + locked.stderr
    assert snakemake(wf, "--unlock", *CONFIG).returncode == 0
    rerun = snakemake(wf, TARGET, *CONFIG)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (wf / "logs" / "smoke" / "train_ae" / f"{RUN}.log").read_text()
    assert "resumed from step" in log
    steps = list(pd.read_csv(wf / "results" / "smoke" / "ae" / RUN / "train_log.csv")["step"])
    assert steps == list(range(10, 61, 10))  # the rows before the kill kept, none twice
