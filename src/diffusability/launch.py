"""Where a training runs: inside the Snakemake job (`local`) or as its own Slurm job through submitit.

With `submitit` the calling rule submits the training with its GPUs, time limit and partition, waits, and fails
with the job's own error. The job is checkpointable: on timeout or preemption submitit requeues it, and the
training resumes from its last checkpoint (every trainer here resumes by itself), so a requeued job ends with the
weights an uninterrupted one would have.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import submitit

log = logging.getLogger(__name__)

__all__ = ["TrainingJob", "run_training", "launcher_settings", "launcher_for", "LAUNCHER_ENV"]

LAUNCHER_ENV = "DIFFUSABILITY_LAUNCHERS"  # JSON {rule: settings}, set by the workflow for its training rules


def launcher_for(rule: str) -> dict:
    """The launcher the workflow published for `rule`; in-process when run outside the workflow."""
    return json.loads(os.environ.get(LAUNCHER_ENV, "{}")).get(rule, {"name": "local"})


class TrainingJob(submitit.helpers.Checkpointable):
    """A picklable training call: the Hydra run config's name and overrides (never a live model)."""

    def __init__(self, config_name: str, overrides: list[str]):
        self.config_name, self.overrides = config_name, list(overrides)

    def __call__(self) -> str:
        from .runconfig import compose_run_config
        cfg = compose_run_config(self.config_name, self.overrides)
        if self.config_name == "train_dit":
            from .train.dit import train_dit
            return str(train_dit(cfg))
        from .train.ae import train_autoencoder
        return str(train_autoencoder(cfg))


def launcher_settings(config: dict, rule_resources: dict, threads: int, cluster: dict) -> dict:
    """The launcher of a training rule: config key `launcher`, the rule's resources and the cluster settings
    (`cluster` holds slurm_partition / slurm_account as resolved by the workflow)."""
    return {"name": config["launcher"], "gpus": int(rule_resources.get("gpu", 0)),
            "timeout_min": int(rule_resources["runtime"]), "mem_gb": max(1, int(rule_resources["mem_mb"]) // 1024),
            "cpus": int(threads), "partition": cluster.get("slurm_partition"), "account": cluster.get("slurm_account"),
            "gpu_model": config["cluster"]["gpu_model"], "submitit_cluster": config["cluster"]["submitit_cluster"]}


def run_training(config_name: str, overrides: list[str], launcher: dict, out_dir: str | Path) -> str:
    """Run one training as `launcher` says; returns the final weights folder. Raises the job's error on failure."""
    job = TrainingJob(config_name, overrides)
    if launcher["name"] == "local":
        return job()
    # One flat folder made before submitting, never a per-job `%j` folder: submitit creates that one only after sbatch
    # returns, and a job that starts at once (an idle cluster) then cannot open its log and fails without a word.
    folder = Path(out_dir) / "submitit"
    folder.mkdir(parents=True, exist_ok=True)
    executor = submitit.AutoExecutor(folder=str(folder), cluster=launcher.get("submitit_cluster"))
    params = {"timeout_min": launcher["timeout_min"], "nodes": 1, "tasks_per_node": 1,
              "cpus_per_task": launcher["cpus"], "mem_gb": launcher["mem_gb"], "name": Path(out_dir).name}
    if launcher["gpus"] > 1:  # one task per GPU: the trainers run data parallel over the job's tasks
        params["tasks_per_node"] = launcher["gpus"]
        params["cpus_per_task"] = max(1, launcher["cpus"] // launcher["gpus"])
    if launcher["gpus"]:
        params["slurm_gres"] = (f"gpu:{launcher['gpu_model']}:{launcher['gpus']}" if launcher.get("gpu_model")
                                else f"gpu:{launcher['gpus']}")
    if launcher.get("partition"):
        params["slurm_partition"] = launcher["partition"]
    if launcher.get("account"):
        params["slurm_account"] = launcher["account"]
    if executor.cluster != "slurm":
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    executor.update_parameters(**params)
    sub = executor.submit(job)
    print(f"submitted {config_name} as {executor.cluster} job {sub.job_id} (logs: {sub.paths.stdout})",
          flush=True)
    try:
        result = sub.result()  # waits; FailedJobError carries the job's traceback, UncompletedJobError a cancel
    except submitit.core.utils.UncompletedJobError as err:
        raise RuntimeError(f"{executor.cluster} job {sub.job_id} of {config_name} ended without finishing "
                           f"(cancelled or killed): {err}") from None
    print(f"{executor.cluster} job {sub.job_id} finished", flush=True)
    return result
