"""Where a training runs: inside the Snakemake job (`local`) or as its own Slurm job through submitit.

With `submitit` the calling rule submits the training with its GPUs, time limit and partition, waits, and fails
with the job's own error. The job is checkpointable: on timeout or preemption submitit requeues it, and the
training resumes from its last checkpoint (every trainer here resumes by itself), so a requeued job ends with the
weights an uninterrupted one would have.
"""
from __future__ import annotations

import logging
from pathlib import Path

import submitit

log = logging.getLogger(__name__)

__all__ = ["TrainingJob", "run_training", "launcher_settings", "submitit_parameters"]


class TrainingJob(submitit.helpers.Checkpointable):
    """A picklable training call: the run config (runconfig.py) and its Hydra override strings, never a live
    model. Hydra composes them where the training runs; the trainer saves the result beside its outputs."""

    def __init__(self, name: str, run_config: dict, overrides: list[str] = ()):
        self.name, self.run_config, self.overrides = name, dict(run_config), list(overrides)

    def __call__(self) -> str:
        from .runconfig import compose_run_config
        cfg = compose_run_config(self.name, self.run_config, self.overrides)
        if self.name == "train_dit":
            from .train.dit import train_dit
            return str(train_dit(cfg))
        from .train.ae import train_autoencoder
        return str(train_autoencoder(cfg))


def launcher_settings(resources, threads: int) -> dict:
    """How a training rule's job trains, from its Snakemake resources (which, unlike params, never trigger a
    rerun: switching to the cluster must not retrain finished models): `launcher`, the rule's GPUs, runtime and
    memory, and the Slurm partition / account / GPU type / submitit cluster where the workflow sets them."""
    get = resources.get  # the Slurm keys are resources only where the workflow config names them
    return {"name": resources.launcher, "gpus": int(resources.gpu), "nodes": int(resources.nodes),
            "timeout_min": int(resources.runtime),
            "mem_gb": max(1, int(resources.mem_mb) // 1024), "cpus": int(threads),
            "partition": get("slurm_partition"), "account": get("slurm_account"), "gpu_model": get("gpu_model"),
            "submitit_cluster": get("submitit_cluster")}


def submitit_parameters(launcher: dict, *, name: str, cluster: str = "slurm") -> dict:
    """The AutoExecutor parameters of a training: `nodes` nodes of `gpus` GPUs each (resources.<rule>.nodes and
    .gpu), one task per GPU, so the job has nodes x gpus data-parallel ranks; torch.distributed then initialises
    across the nodes from Slurm's task layout (train/distributed.py). Memory, CPUs and GPUs are per node."""
    tasks = max(1, launcher["gpus"])  # one task per GPU: the trainers run data parallel over the job's tasks
    params = {"timeout_min": launcher["timeout_min"], "nodes": launcher["nodes"], "tasks_per_node": tasks,
              "cpus_per_task": max(1, launcher["cpus"] // tasks), "mem_gb": launcher["mem_gb"], "name": name}
    if launcher["gpus"]:
        params["slurm_gres"] = (f"gpu:{launcher['gpu_model']}:{launcher['gpus']}" if launcher.get("gpu_model")
                                else f"gpu:{launcher['gpus']}")
    if launcher.get("partition"):
        params["slurm_partition"] = launcher["partition"]
    if launcher.get("account"):
        params["slurm_account"] = launcher["account"]
    if cluster != "slurm":
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    return params


def run_training(name: str, *, run_config: dict, overrides: list[str], launcher: dict) -> str:
    """Run one training (`name`: train_ae | train_dit) as `launcher` says; returns the final weights folder. Raises
    the job's error on failure."""
    job = TrainingJob(name, run_config, overrides)
    if launcher["name"] == "local":
        if launcher["nodes"] > 1:
            raise ValueError(f"this {name} job asks for {launcher['nodes']} nodes (config key resources.<rule>.nodes), "
                             "but a training spans nodes only with launcher: submitit (the slurm profile's "
                             "config/cluster.yaml sets it)")
        return job()
    out_dir = run_config["out_dir"]
    # One flat folder made before submitting, never a per-job `%j` folder: submitit creates that one only after sbatch
    # returns, and a job that starts at once (an idle cluster) then cannot open its log and fails without a word.
    folder = Path(out_dir) / "submitit"
    folder.mkdir(parents=True, exist_ok=True)
    executor = submitit.AutoExecutor(folder=str(folder), cluster=launcher.get("submitit_cluster"))
    executor.update_parameters(**submitit_parameters(launcher, name=Path(out_dir).name, cluster=executor.cluster))
    sub = executor.submit(job)
    print(f"submitted {name} as {executor.cluster} job {sub.job_id} (logs: {sub.paths.stdout})",
          flush=True)
    try:
        # waits; FailedJobError carries the job's traceback, UncompletedJobError a cancel. results(), not result():
        # a job of several ranks (tasks) has one result per task, and result() refuses it; rank 0's is the one.
        result = sub.results()[0]
    except submitit.core.utils.FailedJobError as err:  # a subclass of UncompletedJobError: the training raised
        raise RuntimeError(f"{executor.cluster} job {sub.job_id} of {name} failed: {err}") from None
    except submitit.core.utils.UncompletedJobError as err:
        raise RuntimeError(f"{executor.cluster} job {sub.job_id} of {name} ended without finishing "
                           f"(cancelled or killed): {err}") from None
    print(f"{executor.cluster} job {sub.job_id} finished", flush=True)
    return result
