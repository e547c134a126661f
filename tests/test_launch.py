"""How a training rule's job trains: the launcher read from the job's Snakemake resources, and a local training of
a run config with its override list, as workflow/scripts/train_ae.py runs it."""
import pytest
import yaml
from snakemake.iocontainers import Namedlist

from diffusability.launch import launcher_settings, run_training, submitit_parameters
from diffusability.runconfig import reference_run_config, workflow_config


def test_launcher_comes_from_the_jobs_resources():
    res = Namedlist(fromdict={"runtime": 240, "mem_mb": 64000, "gpu": 2, "nodes": 1, "launcher": "submitit",
                              "slurm_partition": "gpu", "gpu_model": "h100", "submitit_cluster": "local"})
    got = launcher_settings(res, threads=8)
    assert got == {"name": "submitit", "gpus": 2, "nodes": 1, "timeout_min": 240, "mem_gb": 62, "cpus": 8,
                   "partition": "gpu", "account": None, "gpu_model": "h100", "submitit_cluster": "local"}
    plain = launcher_settings(Namedlist(fromdict={"runtime": 5, "mem_mb": 512, "gpu": 0, "nodes": 1,
                                                  "launcher": "local"}), 1)
    assert plain["name"] == "local" and plain["mem_gb"] == 1 and plain["partition"] is None


def test_a_local_training_composes_the_run_config_with_its_overrides(tmp_path):
    run = {**reference_run_config("train_ae", workflow_config("smoke")), "out_dir": str(tmp_path / "ae")}
    local = launcher_settings(Namedlist(fromdict={"runtime": 5, "mem_mb": 2000, "gpu": 0, "nodes": 1,
                                                  "launcher": "local"}), 1)
    out = run_training("train_ae", run_config=run, overrides=["optim.steps=2", "optim.lr=1e-3"], launcher=local)
    assert (tmp_path / "ae" / "ae" / "diffusion_pytorch_model.safetensors").exists() and out.endswith("ae")
    saved = yaml.safe_load((tmp_path / "ae" / "config.yaml").read_text())
    assert saved["optim"]["steps"] == 2 and saved["optim"]["lr"] == 1e-3
    assert saved["data"] == run["data"] and saved["model"]["latent_channels"] == run["model"]["latent_channels"]


def test_a_training_past_one_node_asks_slurm_for_nodes_times_gpus_ranks(tmp_path):
    import submitit
    res = Namedlist(fromdict={"runtime": 720, "mem_mb": 256000, "gpu": 8, "nodes": 2, "launcher": "submitit",
                              "gpu_model": "h100", "slurm_account": "lab"})
    launcher = launcher_settings(res, threads=64)
    params = submitit_parameters(launcher, name="flux-c16__dit-XL2-s0")
    # 2 nodes x 8 tasks (one per GPU) = 16 data-parallel ranks; GPUs, CPUs and memory per node
    assert params == {"timeout_min": 720, "nodes": 2, "tasks_per_node": 8, "cpus_per_task": 8, "mem_gb": 250,
                      "name": "flux-c16__dit-XL2-s0", "slurm_gres": "gpu:h100:8", "slurm_account": "lab"}
    submitit.AutoExecutor(folder=str(tmp_path), cluster="slurm").update_parameters(**params)  # names it accepts
    one = submitit_parameters(launcher_settings(Namedlist(fromdict={**dict(res.items()), "gpu": 0, "nodes": 1}), 2),
                              name="x", cluster="local")
    assert one["nodes"] == 1 and one["tasks_per_node"] == 1 and not any(k.startswith("slurm_") for k in one)


def test_a_local_training_refuses_more_than_one_node(tmp_path):
    run = {**reference_run_config("train_ae", workflow_config("smoke")), "out_dir": str(tmp_path / "ae")}
    local = launcher_settings(Namedlist(fromdict={"runtime": 5, "mem_mb": 2000, "gpu": 0, "nodes": 2,
                                                  "launcher": "local"}), 1)
    with pytest.raises(ValueError, match=r"asks for 2 nodes \(config key resources.<rule>.nodes\), but a training "
                                         r"spans nodes only with launcher: submitit"):
        run_training("train_ae", run_config=run, overrides=[], launcher=local)
    assert not (tmp_path / "ae").exists()
