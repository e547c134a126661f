"""The workflow's stages as plain functions: each Snakemake script in workflow/scripts calls one of these.

Each stage takes only the settings that determine its output (not the whole config), so that Snakemake's params
trigger reruns exactly where a setting changed. Every job imports this module in a fresh interpreter, so it imports
only what the CSV-only stages need; each stage imports the rest (torch, Hydra, models) itself.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .grid import RUN_KEYS
from .provenance import atomic_write, write_csv, write_json

log = logging.getLogger(__name__)
SPECTRUM_COLUMNS = ["freq_index", "amplitude", "energy", "block", "axis"]


def data_config(data: dict):
    """A dataset's settings (the keys of the workflow's data section it reads) as the data modules take them."""
    from omegaconf import OmegaConf

    from .runconfig import run_data
    return OmegaConf.create(run_data(data))


def dataset_manifest_stage(data: dict, out_json: str) -> None:
    """Check the dataset exists and is split correctly before any training starts; record what it is."""
    from .data import describe_dataset
    write_json(out_json, describe_dataset(data_config(data)))


def import_pretrained_stage(run_config: dict, overrides: list[str]) -> None:
    """Make a pretrained AE (image or video) a run folder like any trained one (ae/ + config.yaml), so every
    analysis applies (`run_config`: runconfig.import_run_config)."""
    from omegaconf import OmegaConf

    from .models.autoencoders import autoencoder_from_config
    from .runconfig import compose_run_config
    from .train.ae import save_final_autoencoder
    cfg = compose_run_config("train_ae", run_config, overrides)
    ae = autoencoder_from_config(cfg.model)
    out = Path(cfg.out_dir)
    save_final_autoencoder(ae, out)
    atomic_write(out / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg, resolve=True)))


def evaluate_stage(*, run_dir: str, meta: dict, spectrum: dict, evaluation: dict, device: str, fd: dict,
                   out_spectrum: str, out_recon: str) -> None:
    """Latent spectrum and reconstruction metrics of one AE (one job: both need the same encoder pass setup)."""
    from .analysis.reconstruction import evaluate_reconstruction
    from .analysis.spectra import latent_spectrum
    meta = {k: meta.get(k) for k in RUN_KEYS}
    df = latent_spectrum(run_dir, spectrum["block"], spectrum["normalization"], spectrum["latent"],
                         spectrum["num_images"], evaluation["batch_size"], device, bool(spectrum.get("time")))
    write_csv(out_spectrum, df.assign(**meta)[RUN_KEYS + SPECTRUM_COLUMNS])
    rec = evaluate_reconstruction(run_dir, evaluation["num_images"], evaluation["batch_size"], device, fd)
    write_csv(out_recon, pd.DataFrame([{**meta, **rec}]))


def proxy_features_stage(data: dict, proxy: dict, seed: int, out_path: str) -> None:
    """Train the offline stand-in feature network on the training split (photo identity or image class)."""
    from .data import build_dataset
    from .metrics.proxy_features import train_proxy_net
    dcfg = data_config(data)
    ds = build_dataset(dcfg, "train", seed)
    num_classes = len(dcfg.train_photos) if dcfg.name == "photos" else len(ds.classes)
    meta = train_proxy_net(ds, num_classes, proxy["steps"], proxy["batch_size"], proxy["lr"], proxy["feature_dim"],
                           seed, out_path)
    log.info("proxy feature net: %s", meta)


def rgb_spectrum_stage(data: dict, compression: int, spectrum: dict, out_rgb: str, out_noise: str) -> None:
    """RGB reference spectrum (model `rgb`) and, for the noise figure, one profile per spectrum.noise_stds entry."""
    from .analysis.spectra import rgb_spectrum
    s, dcfg = spectrum, data_config(data)
    for out, stds in ((out_rgb, [0.0]), (out_noise, s["noise_stds"])):
        frames = [rgb_spectrum(dcfg, compression, s["block"], s["normalization"], s["num_images"], s["rgb_mode"],
                               noise_std=std).assign(noise_std=float(std)) for std in stds]
        df = pd.concat(frames, ignore_index=True).assign(model="rgb", modality="image", preset="rgb", channels=3,
                                                         seed=0, variant="rgb")
        df = df.reindex(columns=RUN_KEYS + (["noise_std"] if out == out_noise else []) + SPECTRUM_COLUMNS)
        write_csv(out, df)


def rgb_video_spectrum_stage(data: dict, models: list[dict], spectrum: dict, out_csv: str) -> None:
    """The RGB reference of each video AE: validation clips at its latent's size (model `rgb@<preset>`)."""
    from .analysis.spectra import rgb_video_spectrum
    from .presets import VIDEO_AE_PRESETS
    dcfg, s = data_config(data), spectrum
    frames = [rgb_video_spectrum(dcfg, int(m["compression"]), VIDEO_AE_PRESETS[m["preset"]].temporal, s["block"],
                                 s["normalization"], s["num_images"], bool(s.get("time")))
              .assign(model=f"rgb@{m['preset']}", modality="video", preset=m["preset"], channels=3, seed=0,
                      variant="rgb") for m in models]
    write_csv(out_csv, pd.concat(frames, ignore_index=True).reindex(columns=RUN_KEYS + SPECTRUM_COLUMNS))


def erasure_stage(*, run_dirs: dict[str, str], meta: dict, erasure: dict, latent_block: int, device: str,
                  out_csv: str, out_grid: str) -> None:
    """Fig. 5's curves (a tidy CSV) and example images (a PNG sheet, its provenance inside)."""
    from .analysis.erasure import erasure_study
    from .provenance import provenance
    from .sheets import write_sheet
    curves, sheet = erasure_study(run_dirs, fractions=erasure["fractions"], latent_block=latent_block,
                                  num_images=erasure["num_images"], grid_images=erasure["grid_images"],
                                  grid_size=erasure["grid_size"], batch_size=erasure["batch_size"],
                                  device=device)
    write_csv(out_csv, curves.assign(base=meta["model"], seed=meta["seed"]))
    settings = {"run_dirs": run_dirs, "erasure": erasure, "latent_block": latent_block, "base": meta["model"]}
    write_sheet(out_grid, sheet, provenance=provenance(settings, meta["seed"]))


def collect_stage(*, spectra_csvs: list[str], rgb_csv: str, recon_csvs: list[str], hf_exclude_dc: bool,
                  out_spectra: str, out_hf: str, out_recon: str,
                  video_spectra_csvs: list[str] = (), video_rgb_csv: str | None = None,
                  out_video_spectra: str | None = None) -> None:
    """Merge per-run CSVs into the tidy tables under results/<scale>/.

    spectra.csv holds the image spectra, video_spectra.csv the video ones (per frame and along time); hf_energy.csv
    and reconstruction.csv hold both modalities (column `modality`). reconstruction.csv also carries each AE's
    latent HF share, so that one table holds everything per variant.
    """
    from .analysis.hf_share import hf_share_table
    spectra = pd.concat([pd.read_csv(f) for f in [rgb_csv, *spectra_csvs]], ignore_index=True)
    write_csv(out_spectra, spectra)
    if out_video_spectra is not None:
        video = pd.concat([pd.read_csv(f) for f in [video_rgb_csv, *video_spectra_csvs]], ignore_index=True)
        write_csv(out_video_spectra, video)
        spectra = pd.concat([spectra, video], ignore_index=True)
    hf = hf_share_table(spectra, hf_exclude_dc, RUN_KEYS)[RUN_KEYS + ["hf_share"]]
    write_csv(out_hf, hf)
    recon = pd.concat([pd.read_csv(f) for f in recon_csvs], ignore_index=True)
    recon = recon.merge(hf[["model", "hf_share"]], on="model", how="left")
    write_csv(out_recon, recon)


def merge_csvs_stage(inputs: list[str], out_csv: str) -> None:
    write_csv(out_csv, pd.concat([pd.read_csv(f) for f in inputs], ignore_index=True))


def analyse_zoo_stage(*, source: str, name: str, settings: dict, fd: dict | None, columns: dict, threads: int,
                      outputs: dict[str, str]) -> None:
    """One AE of zoo.models or one of its fine-tunes (issue 19): analysis.zoo.analyse_source with the workflow's
    settings and Fréchet feature space `fd`, its frames written to `outputs` (keys spectrum, hf, erasure,
    reconstruction), every row labelled `name` and carrying `columns` (base, variant)."""
    import torch

    from .analysis.zoo import analyse_source
    torch.set_num_threads(threads)
    spec, x, frames = analyse_source(source, label=name, fd=fd, **settings)
    log.info("%s: %s, %s, inputs %s", name, spec.class_name, spec.kind, tuple(x.shape))
    for key, path in outputs.items():
        write_csv(path, frames[key].assign(**columns))


# --- Latent diffusion (Fig. 1, Table 1) ----------------------------------------------------------------------------

def encode_latents_stage(*, run_dir: str, dit: dict, seed: int, batch_size: int, device: str, threads: int,
                         num_shards: int, out_path: str) -> None:
    """One AE's training-split latent cache for its DiTs: with one shard, the whole cache (latents and normalisation
    statistics) in one file; with more, the gather of the shard jobs' files (normalisation from the first
    dit.norm_samples latents, an index of the shards)."""
    from .generation.latents import encode_training_latents, gather_latents
    if num_shards == 1:
        info = encode_training_latents(run_dir, out_path, dit["num_latents"], dit["norm_samples"], batch_size, seed,
                                       device, threads)
    else:
        info = gather_latents(out_path=out_path, num_shards=num_shards, norm_samples=dit["norm_samples"])
    log.info("latent cache: %s", info)


def encode_latent_shard_stage(*, run_dir: str, num_latents: int | None, seed: int, batch_size: int, device: str,
                              threads: int, shard_index: int, num_shards: int, cache_path: str,
                              out_path: str) -> None:
    """Shard `shard_index` of `num_shards` of an AE's latent cache `cache_path` (contiguous whole batches)."""
    from .generation.latents import encode_shard
    path = encode_shard(run_dir=run_dir, out_path=cache_path, shard_index=shard_index, num_shards=num_shards,
                        num_latents=num_latents, batch_size=batch_size, seed=seed, device=device, threads=threads)
    if Path(path) != Path(out_path):
        raise ValueError(f"latent shard written to {path}, the workflow expects {out_path}")


def reference_stats_stage(*, data: dict, fd: dict, num_images: int, shard_paths: list[str], out_path: str) -> None:
    """Feature statistics of the reference images, shared by every DiT evaluation: computed here (no shards) or
    gathered from the saved sums of the reference_shard jobs."""
    from .generation.reference import ReferenceStatistics, gather_reference_statistics
    if shard_paths:
        gather_reference_statistics(shard_paths=shard_paths, out_path=out_path)
    else:
        ReferenceStatistics(out_path, data_config(data), num_images, fd).get()


def reference_shard_stage(*, data: dict, fd: dict, num_images: int, shard_index: int, num_shards: int, device: str,
                          out_path: str) -> None:
    """Running feature sums of one shard of the reference images."""
    from .generation.reference import reference_statistics_shard
    reference_statistics_shard(data_cfg=data_config(data), num_images=num_images, fd=fd, shard_index=shard_index,
                               num_shards=num_shards, out_path=out_path, device=device)


def sample_dit_stage(*, dit_dir: str, ae_dir: str, dit: dict, fd: dict, shard_index: int, num_shards: int,
                     device: str, out_path: str) -> None:
    """One sampling shard of one DiT: its slice of every kept snapshot's samples, as running feature sums."""
    from .generation.sharded_eval import sample_dit_shard
    sample_dit_shard(dit_dir=dit_dir, ae_dir=ae_dir, fd=fd, num_samples=dit["num_samples"], shard_index=shard_index,
                     num_shards=num_shards, sample_steps=dit["sample_steps"], sampler=dit["sampler"],
                     guidance=dit["guidance"], batch_size=dit["batch_size_eval"], out_path=out_path, device=device,
                     labels=dit["labels"], extra_metrics=dit["extra_metrics"])


def evaluate_dit_stage(*, dit_dir: str, ae_dir: str, meta: dict, dit: dict, data: dict, fd: dict, reference: str,
                       adm_reference: str | None, shard_paths: list[str], device: str, out_csv: str, out_grid: str,
                       out_gif: str) -> None:
    """Score every kept snapshot of one DiT (generation.csv rows) against the reference statistics (the dataset's,
    or an ADM reference batch's) and draw the final snapshot's sample grid: from the sums of the sample_dit jobs
    (`shard_paths`), or, with none, from one shard sampled here (the same code as a sample_dit job)."""
    import tempfile

    from .generation.reference import ReferenceStatistics
    from .generation.sharded_eval import score_dit_shards
    ref = ReferenceStatistics(reference, data_config(data), dit["reference_images"], fd, adm_reference=adm_reference)
    with tempfile.TemporaryDirectory(dir=Path(out_csv).parent) as tmp:
        if not shard_paths:
            shard_paths = [f"{tmp}/sums.safetensors"]
            sample_dit_stage(dit_dir=dit_dir, ae_dir=ae_dir, dit=dit, fd=fd, shard_index=0, num_shards=1,
                             device=device, out_path=shard_paths[0])
        df = score_dit_shards(shard_paths=shard_paths, reference=ref, grid_path=out_grid, gif_path=out_gif,
                              device=device)
    keys = ["ae", "modality", "base", "variant", "se_weight", "channels", "kl_weight", "dit", "dit_run", "seed"]
    extra = [c for c in df.columns if c not in ("step", "metric", "value")]  # dit.extra_metrics' columns
    write_csv(out_csv, df.assign(**{k: meta[k] for k in keys})[keys + ["step", "metric", "value"] + extra])


def export_adm_stage(*, dit_dir: str, ae_dir: str, dit: dict, device: str, out_path: str) -> None:
    """The final snapshot's samples of one image DiT as an ADM sample batch .npz (dit.export_adm)."""
    from .generation.evaluate import export_adm_samples
    export_adm_samples(dit_dir=dit_dir, ae_dir=ae_dir, num_samples=dit["num_samples"],
                       sample_steps=dit["sample_steps"], sampler=dit["sampler"], guidance=dit["guidance"],
                       batch_size=dit["batch_size_eval"], out_path=out_path, device=device, labels=dit["labels"])
