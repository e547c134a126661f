"""One home for every setting: each leaf of a training's run config comes from the workflow config (or is a value
of the run itself), so editing config/config.yaml or an overlay changes the run, and nothing else holds defaults."""
import copy
import json
import subprocess
import sys

import pytest
import yaml

from diffusability import grid
from diffusability.runconfig import (AE_SETTINGS, DATASET_KEYS, DIT_SETTINGS, FINETUNE_SETTINGS, VIDEO_DIT_SETTINGS,
                                     ae_run_config, compose_run_config, dit_run_config, finetune_run_config,
                                     run_config_by_hand, run_data, workflow_config)

from conftest import ROOT

# The leaves that are the run's own (its folders, seed, name-given settings), not settings of the workflow config.
PER_RUN = {"out_dir", "seed", "settings_key", "init_from", "latents", "model.latent_channels", "model.pretrained",
           "model.preset", "loss.kl_weight", "se.weight", "se.factors", "se.mode", "se.temporal_factors"}


def _leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _set(config: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        config = config[p]
    config[leaf] = value


def _runs_of_view(view: dict) -> dict:
    """One run config of each kind (AE, fine-tune, DiT) of a config view, with the table it is built from."""
    vanilla = next(r for r in grid.all_runs(view) if r["variant"] == "vanilla")
    se = next(r for r in grid.se_grid(view) if r["variant"] == "se")
    video = view.get("modality") == "video"
    return {"ae": (ae_run_config(view, vanilla, out_dir="o"), AE_SETTINGS),
            "finetune": (finetune_run_config(view, se, out_dir="o", init_from="b"), FINETUNE_SETTINGS),
            "dit": (dit_run_config(view, grid.dit_grid(view)[0], out_dir="o", latents="l"),
                    VIDEO_DIT_SETTINGS if video else DIT_SETTINGS)}


def _runs(config: dict) -> dict:
    """Every kind of run of `config`, image and video."""
    out = {}
    for view in [config, *grid.video_views(config)]:
        out.update({f"{view.get('modality', 'image')} {k}": v for k, v in _runs_of_view(view).items()})
    return out


@pytest.mark.parametrize("scale", ["tiny", "paper"])
def test_every_leaf_of_every_run_config_is_a_workflow_setting_or_the_runs_own(scale):
    config = workflow_config(scale)
    for kind, (run, table) in _runs(config).items():
        leaves = set(_leaves(run))
        data = {f"data.{k}" for k in DATASET_KEYS.get(run.get("data", {}).get("name"), ())}
        unexplained = leaves - set(table) - PER_RUN - data - {"se.keep_first_frame"}
        assert not unexplained, (kind, unexplained)
        assert set(table) <= leaves, (kind, set(table) - leaves)


def test_editing_a_workflow_setting_changes_the_run_that_reads_it():
    """The old trap: a default edited in a second file (config/hydra/optim/cpu.yaml) that the workflow ignored.
    Every workflow key a run config reads is set to a sentinel in turn, and the run must carry it."""
    config = workflow_config("tiny")
    for view in [config, grid.video_views(config)[0]]:  # a video run reads its view (grid.video_view)
        for kind, (run, table) in _runs_of_view(view).items():
            for leaf, key in table.items():
                changed = copy.deepcopy(view)
                _set(changed, key, "SENTINEL")
                assert _leaves(_runs_of_view(changed)[kind][0])[leaf] == "SENTINEL", (kind, leaf, key)
            for key in DATASET_KEYS[view["data"]["name"]][1:] if "data" in run else ():
                changed = copy.deepcopy(view)
                changed["data"][key] = "SENTINEL"
                assert _runs_of_view(changed)[kind][0]["data"][key] == "SENTINEL", (kind, key)
    # the tiny AE's learning rate: one key in config/config.yaml; the video AEs' is video.lr
    edited = copy.deepcopy(config)
    edited["ae"]["lr"], edited["video"]["lr"] = 1.234e-3, 4.321e-3
    runs = _runs(edited)
    assert runs["image ae"][0]["optim"]["lr"] == 1.234e-3 and runs["video ae"][0]["optim"]["lr"] == 4.321e-3


def test_no_second_set_of_defaults_exists():
    assert not (ROOT / "config" / "hydra").exists()
    assert not list(ROOT.rglob("config/**/optim/*.yaml"))
    src = (ROOT / "src" / "diffusability" / "runconfig.py").read_text()
    assert "5.0e-4" not in src and "0.999" not in src  # no optimiser value is written into the builder


def test_a_runs_data_settings_are_its_datasets_keys():
    for name, keys in DATASET_KEYS.items():
        assert keys[0] == "name"
    cfg = workflow_config("tiny")
    assert set(run_data(cfg["data"])) == set(DATASET_KEYS["photos"])
    assert set(run_data(cfg["video"]["data"])) == set(DATASET_KEYS["clips"])


def test_data_root_of_an_image_folder_reaches_the_dataset(tmp_path):
    """Issue 17: with `data: {root: ...}` in a --configfile at the paper scale, the dataset's settings hold the root
    (Hydra's group held `root: ???`, and the workflow merged only keys the group already had a value for)."""
    from omegaconf import OmegaConf

    from diffusability.data import describe_dataset
    from diffusability.stages import data_config
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "imgs" / split / cls).mkdir(parents=True)
            from PIL import Image
            Image.new("RGB", (40, 30), (10, 20, 30)).save(tmp_path / "imgs" / split / cls / "x.png")
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({"data": {"root": str(tmp_path / "imgs")}}))
    config = workflow_config("paper", (str(user),))
    dcfg = data_config(config["data"])
    assert dcfg.root == str(tmp_path / "imgs") and not OmegaConf.is_missing(dcfg, "root")
    assert describe_dataset(dcfg)["name"] == "imagefolder"
    run = ae_run_config(config, grid.ae_grid(config)[0], out_dir="o")
    assert run["data"]["root"] == str(tmp_path / "imgs") and run["data"]["num_workers"] == 8


def test_hydra_composes_overrides_and_refuses_unknown_keys():
    run = ae_run_config(workflow_config("tiny"), grid.ae_grid(workflow_config("tiny"))[0], out_dir="o")
    cfg = compose_run_config("train_ae", run, ["optim.lr=1e-3", "optim.betas=[0.5,0.9]"])
    assert cfg.optim.lr == 1e-3 and list(cfg.optim.betas) == [0.5, 0.9] and cfg.out_dir == "o"
    with pytest.raises(Exception, match="betaz"):
        compose_run_config("train_ae", run, ["optim.betaz=1"])


def test_by_hand_starts_from_the_scale_and_requires_the_run_folders():
    from omegaconf import OmegaConf
    tiny = run_config_by_hand("train_ae", ["out_dir=x"])
    assert tiny.optim.lr == workflow_config("tiny")["ae"]["lr"] and tiny.model.preset == "tiny"
    paper = run_config_by_hand("train_ae", ["out_dir=x"], scale="paper")
    assert paper.model.preset == "flux" and paper.data.name == "imagefolder" and paper.optim.warmup_steps == 500
    ft = run_config_by_hand("train_ae", ["out_dir=x"], finetune=True)
    assert OmegaConf.is_missing(ft, "init_from") and ft.optim.lr == workflow_config("tiny")["se"]["lr"]
    dit = run_config_by_hand("train_dit", ["out_dir=x"])
    assert OmegaConf.is_missing(dit, "latents") and list(dit.snapshots) == workflow_config("tiny")["dit"]["eval_steps"]


def test_the_cli_reads_a_workflow_config_file(tmp_path):
    """`python -m diffusability.cli.train_ae --configfile F`: the file's settings reach the run (0 steps: no
    training, the resolved config is saved)."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"ae": {"lr": 7.0e-4, "steps": 1, "batch_size": 2},
                                    "data": {"val_crops_per_photo": 1}}))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "diffusability.cli.train_ae", "--configfile", str(mine),
                           f"out_dir={out}", "model.latent_channels=4"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 7.0e-4 and saved["optim"]["steps"] == 1 and saved["model"]["latent_channels"] == 4
    assert json.loads((out / "provenance.json").read_text())
