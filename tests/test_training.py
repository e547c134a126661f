"""Real training steps: the loss goes down; a killed run resumes to the same bits as an uninterrupted one."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from diffusability.runconfig import run_config_by_hand
from diffusability.train.ae import train_autoencoder

FAST = ["model.latent_channels=8", "optim.batch_size=8", "optim.log_every=1", "optim.warmup_steps=0",
        "data.val_crops_per_photo=2"]


def test_a_few_real_steps_lower_the_loss(tmp_path):
    cfg = run_config_by_hand("train_ae", [f"out_dir={tmp_path}", "optim.steps=60", "optim.lr=2e-3", *FAST])
    train_autoencoder(cfg)
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert list(log["step"]) == list(range(1, 61))
    assert log["recon"].iloc[-5:].mean() < 0.7 * log["recon"].iloc[:5].mean()
    assert (tmp_path / "ae" / "diffusion_pytorch_model.safetensors").exists()
    saved = run_config_by_hand("train_ae", [f"out_dir={tmp_path}"])
    assert Path(tmp_path / "config.yaml").read_text().count("steps: 60") == 1 and saved.optim.steps != 60


def _cli(out: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "diffusability.cli.train_ae", f"out_dir={out}", f"optim.steps={steps}",
            "optim.checkpoint_every=3", *FAST]


@pytest.mark.slow  # three trainings in fresh interpreters, one killed mid-run
def test_killed_training_resumes_bitwise(tmp_path):
    steps = 12
    subprocess.run(_cli(tmp_path / "straight", steps), check=True, capture_output=True, timeout=300)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out, steps), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 240
    while not (out / "checkpoints" / "step_00000006").exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before its 2nd checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "ae").exists(), "the run was meant to die before finishing"
    logged = list(pd.read_csv(out / "train_log.csv")["step"])  # every row logged before the kill is on disk
    assert logged == list(range(1, len(logged) + 1)) and len(logged) >= 6, logged

    rerun = subprocess.run(_cli(out, steps), check=True, capture_output=True, text=True, timeout=300)
    assert "resumed from step" in rerun.stdout
    assert list(pd.read_csv(out / "train_log.csv")["step"]) == list(range(1, steps + 1))
    a = load_file(tmp_path / "straight" / "ae" / "diffusion_pytorch_model.safetensors")
    b = load_file(out / "ae" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _crash_at(step_to_crash):
    def reg(*, step, x, **_):
        if step == step_to_crash:
            raise RuntimeError("simulated crash")
        return x.new_zeros(()), {}
    return reg


def test_checkpoints_of_another_config_are_not_resumed(tmp_path):
    args = [f"out_dir={tmp_path}", "optim.steps=4", "optim.checkpoint_every=2", *FAST]
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_autoencoder(run_config_by_hand("train_ae", args), regularisers=[_crash_at(3)])
    assert (tmp_path / "checkpoints" / "step_00000002").exists()
    train_autoencoder(run_config_by_hand("train_ae", [*args, "optim.lr=1e-3"]))
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert list(log["step"]) == [1, 2, 3, 4]  # trained from scratch: the other config's checkpoint was discarded
    assert not (tmp_path / "checkpoints").exists()  # removed once the final weights are written


def test_a_crashed_run_resumes_from_its_checkpoint(tmp_path, capsys):
    args = [f"out_dir={tmp_path}", "optim.steps=4", "optim.checkpoint_every=2", *FAST]
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_autoencoder(run_config_by_hand("train_ae", args), regularisers=[_crash_at(3)])
    train_autoencoder(run_config_by_hand("train_ae", args))
    assert "resumed from step 2" in capsys.readouterr().out
    assert list(pd.read_csv(tmp_path / "train_log.csv")["step"]) == [1, 2, 3, 4]


@pytest.mark.parametrize("damaged", ["model.safetensors", "optim.pt"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys, damaged):
    args = [f"out_dir={tmp_path}", "optim.steps=5", "optim.checkpoint_every=2", "optim.keep_checkpoints=2", *FAST]
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_autoencoder(run_config_by_hand("train_ae", args), regularisers=[_crash_at(4)])
    newest = tmp_path / "checkpoints" / "step_00000004"
    with open(newest / damaged, "r+b") as f:  # a write cut short: the file ends halfway
        f.truncate(f.seek(0, 2) // 2)
    train_autoencoder(run_config_by_hand("train_ae", args))
    out = capsys.readouterr().out
    assert "cannot be read" in out and "resumed from step 2" in out
    assert list(pd.read_csv(tmp_path / "train_log.csv")["step"]) == [1, 2, 3, 4, 5]


def test_a_diverged_training_stops_before_writing_weights(tmp_path):
    from diffusability.train.guard import DivergenceError
    args = [f"out_dir={tmp_path}", "optim.steps=6", "optim.checkpoint_every=2", "optim.lr=1e6",
            "settings_key=ae", *FAST]
    with pytest.raises(DivergenceError, match=r"not finite at step \d+ \(loss=.*ae\.lr"):
        train_autoencoder(run_config_by_hand("train_ae", args))
    assert not (tmp_path / "ae").exists()
    for ckpt in (tmp_path / "checkpoints").glob("step_*"):  # any checkpoint written holds finite weights only
        assert all(torch.isfinite(t).all() for t in load_file(ckpt / "model.safetensors").values()), ckpt
