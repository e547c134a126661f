"""The cluster path on a real one-node Slurm (tests/slurm/slurm_local.sh: munge, MariaDB, slurmdbd, slurmctld,
slurmd on localhost). Runs as root on Debian; elsewhere it skips with the reason, except under CI, where it fails.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import BIN, ROOT, copy_workflow

SCRIPT = ROOT / "tests" / "slurm" / "slurm_local.sh"
# Installs and starts a one-node Slurm (munge, MariaDB, slurmdbd) as root, then runs the smoke DAG through it.
pytestmark = [pytest.mark.system, pytest.mark.slow]


def _cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "the local Slurm needs root"
    if not Path("/etc/debian_version").exists():
        return "the local Slurm is installed with Debian's packages"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = _cannot_run()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the Slurm tests must run, but {why}")
        pytest.skip(why)
    # The daemons run as users munge and mysql: their state must not sit under pytest's root-only tmp dirs.
    state = Path(tempfile.mkdtemp(prefix="diffusability-slurm-", dir="/tmp"))
    state.chmod(0o755)
    up = subprocess.run(["bash", str(SCRIPT), "up", str(state)], capture_output=True, text=True, timeout=900)
    if up.returncode:
        msg = f"could not bring up Slurm: {up.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    yield state
    subprocess.run(["bash", str(SCRIPT), "down", str(state)], timeout=120)
    shutil.rmtree(state, ignore_errors=True)


def _env(wf: Path) -> dict:
    # The jobs rerun this Python on the node; its bin/ must be on PATH as it is for the user who installed it.
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}


# Poll the local Slurm often: the profile's cluster-friendly waits (20 s before the first check) would dominate here.
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "3"]


def _sacct() -> list[dict]:
    out = subprocess.run(["sacct", "-a", "-n", "-X", "-P", "-o", "JobID,JobName,Comment,State"], capture_output=True,
                         text=True, check=True).stdout
    return [dict(zip(("id", "name", "comment", "state"), line.split("|"))) for line in out.splitlines() if line]


ONE_OF_EACH = """\
ae: {channels: [4], kl_weights: [0.0]}
se: {ablation: {factor_sets: [[2]], modes: [area], kl_weights: []}}
video: {models: []}
"""


@pytest.fixture(scope="module")
def cluster_run(slurm, tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("cluster"))
    before = {j["id"] for j in _sacct()}
    # The user's command at the smoke scale, on a grid cut to one AE of each kind (36 jobs instead of 63): every rule
    # of all_tables still runs through the cluster path once; the full grid runs locally in test_workflow_smoke.py.
    (wf / "one_of_each.yaml").write_text(ONE_OF_EACH)
    proc = subprocess.run([str(BIN / "snakemake"), "--profile", "slurm", *FAST_POLL, "all_tables", "--configfile",
                           "config/cluster.yaml", "one_of_each.yaml", "--config", "scale=smoke"],
                          cwd=wf, env=_env(wf), capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return wf, [j for j in _sacct() if j["id"] not in before], proc.stdout + proc.stderr


def test_smoke_all_tables_runs_through_slurm(cluster_run):
    wf, jobs, _ = cluster_run
    assert (wf / "results" / "smoke" / "generation.csv").exists()
    assert (wf / "paper_figures" / "smoke" / "tab_reconstruction.md").exists()
    text = " ".join(j["name"] + " " + j["comment"] for j in jobs)
    # Heavy rules went through the executor plugin (the rule is named in the job's comment) ...
    for rule in ("evaluate_ae", "rgb_spectrum", "proxy_features", "erasure", "encode_latents", "evaluate_dit"):
        assert f"rule_{rule}" in text, (rule, jobs)
    # ... trainings through submitit (the job is named after its run folder) ...
    assert any(j["name"] == "tiny-c4-kl0-s0" for j in jobs), jobs
    assert any(j["name"].endswith("__dit-tiny-s0") for j in jobs), jobs
    assert len(list((wf / "results" / "smoke" / "ae" / "tiny-c4-kl0-s0" / "submitit").glob("*_log.out"))) >= 1
    # ... and light rules stayed local.
    for rule in ("collect_spectra", "tab_reconstruction", "ablation_table", "dataset_manifest", "collect_generation"):
        assert f"rule_{rule}" not in text, rule
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs


def _job(out: Path, steps: int):
    from diffusability.launch import TrainingJob
    from diffusability.runconfig import reference_run_config, workflow_config
    overrides = [f"out_dir={out}", "threads=1", f"optim.steps={steps}", "optim.batch_size=4",
                 "optim.checkpoint_every=5", "model.latent_channels=4", "optim.log_every=1"]
    return TrainingJob("train_ae", reference_run_config("train_ae", workflow_config()), overrides)


def test_requeued_submitit_training_resumes_to_the_same_weights(slurm, tmp_path):
    import submitit

    steps = 400  # long enough that the requeued step is killed before it could finish (KillWait is 2 s)
    _job(tmp_path / "straight", steps)()
    out = tmp_path / "requeued"
    (tmp_path / "submitit").mkdir()  # flat, made before submitting (see launch.run_training)
    executor = submitit.AutoExecutor(folder=str(tmp_path / "submitit"), cluster="slurm")
    executor.update_parameters(timeout_min=20, cpus_per_task=1, mem_gb=2, name="requeue-test")
    job = executor.submit(_job(out, steps))
    deadline = time.time() + 300
    while not (out / "checkpoints" / "step_00000010").exists():
        assert time.time() < deadline and job.state not in ("FAILED", "COMPLETED"), job.state
        time.sleep(0.05)
    subprocess.run(["scontrol", "requeue", job.job_id], check=True)
    # A requeued job waits ~2 minutes before it may start again; a test need not. Ask Slurm (not submitit's
    # cached state) until the job is pending again, then move its start to now.
    deadline = time.time() + 120
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job.job_id, "-o", "%T"], capture_output=True,
                               text=True).stdout.strip()
        if state == "PENDING" and subprocess.run(["scontrol", "update", f"JobId={job.job_id}", "StartTime=now"],
                                                 capture_output=True).returncode == 0:
            break
        time.sleep(0.5)
    job.result()  # waits for the requeued run to finish
    log = Path(job.paths.stdout).read_text() + Path(job.paths.stderr).read_text()
    assert "resumed from step" in log, log[-3000:]
    a = load_file(tmp_path / "straight" / "ae" / "diffusion_pytorch_model.safetensors")
    b = load_file(out / "ae" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_training_on_two_gpus_runs_two_ranks_through_slurm_and_matches_one_process(slurm, tmp_path):
    """resources.<rule>.gpu: 2 becomes one Slurm job of two tasks (launch.submitit_parameters), whose ranks find each
    other from the Slurm task layout (train/distributed.py) and average gradients: the weights equal one process's at
    the same global batch, to float summation order. The node's two GPUs are fake (tests/slurm/slurm_local.sh), so
    the ranks run on CPU with gloo: the scheduling, rank discovery and collectives are the ones a GPU job uses."""
    from diffusability.launch import TrainingJob, run_training
    from diffusability.runconfig import reference_run_config, workflow_config

    def job(out, steps=4):
        overrides = [f"out_dir={out}", "init_from=null", "threads=1", f"optim.steps={steps}", "optim.batch_size=4",
                     "optim.checkpoint_every=100", "model.latent_channels=4", "se.weight=0.5", "optim.grad_clip=null",
                     "optim.lr=5e-3"]
        run = {**reference_run_config("train_ae", workflow_config(), finetune=True), "out_dir": str(out)}
        return TrainingJob("train_ae", run, overrides)

    job(tmp_path / "init", steps=0)()  # the initial weights, to see how far training moved them
    job(tmp_path / "single")()
    launcher = {"name": "submitit", "gpus": 2, "nodes": 1, "timeout_min": 20, "mem_gb": 4, "cpus": 2,
                "partition": None, "account": None, "gpu_model": None, "submitit_cluster": "slurm"}
    ddp = tmp_path / "ddp"
    run_training("train_ae", run_config=job(ddp).run_config, overrides=job(ddp).overrides, launcher=launcher)
    log = "".join(p.read_text() for p in (ddp / "submitit").glob("*_log.out"))
    assert "rank 0 of 2 data-parallel ranks" in log and "rank 1 of 2 data-parallel ranks" in log, log[-3000:]
    init, a, b = (load_file(tmp_path / n / "ae" / "diffusion_pytorch_model.safetensors")
                  for n in ("init", "single", "ddp"))
    apart = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    moved = torch.cat([(a[k] - init[k]).abs().flatten() for k in a])
    assert apart.mean() < 1e-3 * moved.mean(), (apart.mean(), moved.mean())  # bounds as tests/test_distributed.py
    assert apart.max() < 0.05 * moved.max(), (apart.max(), moved.max())


def _bad_config(wf: Path, body: str) -> list[str]:
    (wf / "extra.yaml").write_text(body)
    return ["--configfile", "config/cluster.yaml", "extra.yaml", "--config", "scale=smoke"]


def test_a_training_that_raises_in_its_job_fails_the_rule_with_that_error(cluster_run):
    wf, _, _ = cluster_run
    run = "tiny-c12-kl0-s0"
    target = f"results/smoke/ae/{run}/ae/diffusion_pytorch_model.safetensors"
    args = _bad_config(wf, "ae:\n  channels: [4, 8, 12]\n  overrides: ['optim.lr=-1.0']\n")
    proc = subprocess.run([str(BIN / "snakemake"), "--profile", "slurm", *FAST_POLL, target, *args], cwd=wf,
                          env=_env(wf), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    log = (wf / "logs" / "smoke" / "train_ae" / f"{run}.log").read_text()
    assert "Invalid learning rate" in log and "failed:" in log and "cancelled or killed" not in log, log[-3000:]
    assert not (wf / target).exists()


def test_a_cancelled_job_fails_the_rule_within_a_minute(cluster_run):
    wf, _, _ = cluster_run
    run = "tiny-c16-kl0-s0"
    target = f"results/smoke/ae/{run}/ae/diffusion_pytorch_model.safetensors"
    args = _bad_config(wf, "ae:\n  channels: [4, 8, 16]\n  steps: 100000\n")
    proc = subprocess.Popen([str(BIN / "snakemake"), "--profile", "slurm", *FAST_POLL, target, *args], cwd=wf,
                            env=_env(wf), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 300
        job_id = None
        while job_id is None:
            assert time.time() < deadline and proc.poll() is None, "the training was never submitted"
            out = subprocess.run(["squeue", "-h", "-n", run, "-o", "%i %T"], capture_output=True, text=True).stdout
            job_id = next((line.split()[0] for line in out.splitlines() if "RUNNING" in line), None)
            time.sleep(0.5)
        cancelled = time.time()
        subprocess.run(["scancel", job_id], check=True)
        proc.wait(timeout=120)
        assert time.time() - cancelled < 60
        assert proc.returncode != 0
        assert "cancelled" in (wf / "logs" / "smoke" / "train_ae" / f"{run}.log").read_text()
        assert not (wf / target).exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)


def test_paper_plan_asks_for_gpus_and_paper_runtimes(tmp_path):
    wf = copy_workflow(tmp_path)
    proc = subprocess.run([str(BIN / "snakemake"), "--profile", "slurm", "-n", "all_tables", "--config", "scale=paper"],
                          cwd=wf, env=_env(wf), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    blocks, video = {}, {}
    for block in proc.stdout.split("\n\n"):
        for line in block.splitlines():
            if line.strip().startswith(("rule ", "localrule ")):
                # video runs go through the same rules with the train_video_* resources
                into = video if "cogvideox" in block or "ltx" in block else blocks
                into.setdefault(line.split()[1].rstrip(":"), block)
    for rule, runtime in (("train_ae", 1080), ("finetune_se", 240), ("sample_dit", 240), ("encode_latent_shard", 180),
                          ("reference_shard", 180)):
        assert f"runtime={runtime}" in blocks[rule] and "gpu=1" in blocks[rule], (rule, blocks.get(rule))
    # a DiT trains on 2 nodes x 8 GPUs; its sharded evaluation only merges sums (no GPU)
    assert "runtime=720" in blocks["train_dit"] and "gpu=8" in blocks["train_dit"] and "nodes=2" in blocks["train_dit"]
    assert "runtime=30" in blocks["evaluate_dit"] and "gpu=0" in blocks["evaluate_dit"], blocks["evaluate_dit"]
    assert "runtime=480" in video["finetune_se"] and "gpu=1" in video["finetune_se"], video.get("finetune_se")
    assert "gpu=" not in blocks["tab_reconstruction"]
