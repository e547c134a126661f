"""The workflow's stages as plain functions: each Snakemake script in workflow/scripts calls one of these."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from .analysis.reconstruction import reconstruction_frame
from .analysis.spectra import hf_share_table, latent_spectrum, rgb_spectrum
from .data import describe_dataset
from .grid import RUN_KEYS, ae_grid, run_meta  # noqa: F401  (re-exported for scripts)
from .provenance import write_csv, write_json, write_provenance
from .runconfig import compose_run_config

log = logging.getLogger(__name__)


def _data_settings(config: dict) -> dict:
    """The workflow's data keys that the chosen dataset's Hydra group knows (photo lists mean nothing to a folder)."""
    group = compose_run_config("train_ae", [f"data={config['data']['name']}"]).data
    return {k: v for k, v in config["data"].items() if k in group and k != "name" and v is not None}


def _data_cfg(config: dict) -> dict:
    group = compose_run_config("train_ae", [f"data={config['data']['name']}"]).data
    return OmegaConf.to_container(group) | _data_settings(config)


def _hydra_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_hydra_value(x) for x in v) + "]"
    return "null" if v is None else str(v)


def ae_overrides(config: dict, meta: dict, out_dir: str, threads: int) -> list[str]:
    """The Hydra overrides that turn config/hydra/train_ae.yaml into this grid point's run config."""
    ae = config["ae"]
    ov = [f"out_dir={out_dir}", f"seed={meta['seed']}", f"device={config['device']}", f"threads={threads}",
          f"model={ae['preset']}", f"model.latent_channels={meta['channels']}",
          f"model.compression={ae['compression']}", f"model.pretrained={_hydra_value(ae.get('pretrained'))}",
          f"data={config['data']['name']}",
          f"optim={ae['optim']}", f"optim.steps={ae['steps']}", f"optim.batch_size={ae['batch_size']}",
          f"optim.lr={ae['lr']}", f"loss.kl_weight={meta['kl_weight']}", f"loss.lpips={ae.get('lpips_weight', 0)}"]
    if "checkpoint_every" in ae:
        ov.append(f"optim.checkpoint_every={ae['checkpoint_every']}")
    ov += [f"data.{k}={_hydra_value(v)}" for k, v in _data_settings(config).items()]
    return ov + list(ae.get("overrides", []))


def train_ae_stage(config: dict, name: str, out_dir: str, threads: int) -> None:
    """Compose the run config with Hydra and train (resuming from the newest checkpoint if any)."""
    from .train.ae import train_autoencoder
    cfg = compose_run_config("train_ae", ae_overrides(config, run_meta(config, name), out_dir, threads))
    train_autoencoder(cfg, init_from=cfg.get("init_from"))


def dataset_manifest_stage(config: dict, out_json: str) -> None:
    """Check the dataset exists and is split correctly before any training starts; record what it is."""
    write_json(out_json, describe_dataset(OmegaConf.create(_data_cfg(config))))


def latent_spectrum_stage(config: dict, name: str, run_dir: str, out_csv: str) -> None:
    s = config["spectrum"]
    df = latent_spectrum(run_dir, s["block"], s["normalization"], s["latent"], s["num_images"],
                         config["eval"]["batch_size"], config["device"])
    meta = run_meta(config, name)
    write_csv(out_csv, df.assign(**meta)[RUN_KEYS + ["freq_index", "amplitude", "energy", "block"]])


def rgb_spectrum_stage(config: dict, out_csv: str, noise: bool) -> None:
    """RGB reference spectrum (model `rgb`), or with noise: one profile per spectrum.noise_stds entry."""
    s, data_cfg = config["spectrum"], OmegaConf.create(_data_cfg(config))
    stds = s["noise_stds"] if noise else [0.0]
    frames = [rgb_spectrum(data_cfg, config["ae"]["compression"], s["block"], s["normalization"],
                           s["num_images"], s["rgb_mode"], noise_std=std).assign(noise_std=float(std))
              for std in stds]
    df = pd.concat(frames, ignore_index=True).assign(model="rgb", preset="rgb", channels=3, kl_weight=float("nan"),
                                                     seed=0)
    cols = RUN_KEYS + (["noise_std"] if noise else []) + ["freq_index", "amplitude", "energy", "block"]
    write_csv(out_csv, df[cols])


def reconstruction_stage(config: dict, name: str, run_dir: str, out_csv: str) -> None:
    e = config["eval"]
    write_csv(out_csv, reconstruction_frame(run_dir, run_meta(config, name), e["num_images"], e["batch_size"],
                                            config["device"]))


def collect_stage(config: dict, spectra_csvs: list[str], rgb_csv: str, recon_csvs: list[str],
                  out_spectra: str, out_hf: str, out_recon: str) -> None:
    """Merge per-run CSVs into the tidy tables under results/<scale>/ (with a provenance sidecar each)."""
    spectra = pd.concat([pd.read_csv(f) for f in [rgb_csv, *spectra_csvs]], ignore_index=True)
    write_csv(out_spectra, spectra)
    hf = hf_share_table(spectra, config["spectrum"]["hf_exclude_dc"], RUN_KEYS)
    write_csv(out_hf, hf[RUN_KEYS + ["hf_share"]])
    write_csv(out_recon, pd.concat([pd.read_csv(f) for f in recon_csvs], ignore_index=True))
    for out in (out_spectra, out_hf, out_recon):
        write_provenance(Path(out).with_suffix(".provenance.json"), config)
