"""How diffusable is a given autoencoder? Its latent spectrum beside RGB, HF share, HF-erasure curve and
reconstruction quality, for any AE `models.zoo` loads (issue 19; paper Sec. 2-3, Figs. 2, 3 and 5).

Every measurement reuses the suite's own: `spectra.spectra_of` (block DCT per image or frame, and along time for
video), `spectra.rgb_at_latent_size` / `rgb_video_at_latent_size` (RGB at the latent's size, as the paper compares
both at 32^2), `hf_share.hf_share_table`, `dct.erase_high_frequencies` (Fig. 5), `perceptual.psnr/ssim` and
`metrics.frechet` (rFID or its proxy, in the feature space of the main reconstruction table). The
latents are the ones the AE's diffusion pipeline trains on (`ZooAutoencoder.normalise`). Every row carries the AE's
name, class, kind and compression (`ZooSpec.columns`), so several AEs' frames concatenate into one tidy CSV.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from ..dct import erase_high_frequencies
from ..models.zoo import NotAnAutoencoderError, ZooAutoencoder
from .hf_share import hf_share_table
from .perceptual import psnr, ssim
from .spectra import rgb_at_latent_size, rgb_video_at_latent_size, spectra_of

__all__ = ["zoo_inputs", "default_frames", "analyse_autoencoder", "analyse_source", "zoo_summary", "FD_COLUMNS"]
# The reconstruction Fréchet distances a zoo row may carry (metrics.frechet.metric_name of each feature space).
FD_COLUMNS = ("rfid", "rfid_proxy", "rfvd", "rfvd_proxy")


def default_frames(temporal: int) -> int:
    """Frames per clip for a causal AE compressing time `temporal`x: 1 + 2t, i.e. three latent frames (our choice:
    the fewest that give a temporal spectrum beyond DC and one frequency; the paper uses 17 frames)."""
    return 1 + 2 * int(temporal)


def zoo_inputs(*, data: str, kind: str, num: int, resolution: int, frames: int) -> torch.Tensor:
    """The analysis batch: `photos` (the suite's validation crops), `clips` (its validation clips), or a folder of
    the user's images or videos; images (N, 3, R, R) for an image AE, clips (N, 3, T, R, R) for a video AE."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from ..data import build_dataset, validation_batch
    from ..data.loose import folder_clips, folder_images, folder_kind
    from ..runconfig import run_data, workflow_config
    if data in ("photos", "clips"):
        want = "image" if data == "photos" else "video"
        if want != kind:
            raise ValueError(f"--data {data} holds {want}s, but the autoencoder is a {kind} autoencoder "
                             f"(use {'photos' if kind == 'image' else 'clips'} or a folder of {kind}s)")
        # The suite's own photos/clips with the workflow's settings (config/config.yaml, the one source of them).
        settings = workflow_config()
        cfg = OmegaConf.create(run_data(settings["data"] if data == "photos" else settings["video"]["data"]))
        cfg.resolution = int(resolution)
        if data == "photos":
            cfg.val_crops_per_photo = max(int(cfg.val_crops_per_photo), math.ceil(num / len(cfg.val_photos)))
        else:
            cfg.frames, cfg.val_clips = int(frames), int(num)
        return validation_batch(build_dataset(cfg, "val", seed=0), limit=num)[0]
    folder = Path(data).expanduser()
    got = folder_kind(folder)
    if got != kind:
        raise ValueError(f"data folder {folder} holds {got}s, but the autoencoder is a {kind} autoencoder")
    if kind == "image":
        return folder_images(folder, num=num, resolution=resolution)
    return folder_clips(folder, num=num, resolution=resolution, frames=frames)


def _frames_as_images(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N*T, C, H, W): every frame scored as an image (as reconstruction.py does)."""
    return x.transpose(1, 2).flatten(0, 1) if x.ndim == 5 else x


def _check_shape(zae: ZooAutoencoder, x: torch.Tensor, z: torch.Tensor) -> None:
    """The latent has the shape the config promised: the compression read from config.json is the real one."""
    s = zae.spec
    want = [len(x), s.latent_channels]
    if s.kind == "video":
        want.append(1 + (x.shape[2] - 1) // s.temporal)
    want += [x.shape[-2] // s.spatial, x.shape[-1] // s.spatial]
    if list(z.shape) != want:
        raise NotAnAutoencoderError(f"folder {s.name}: its {s.class_name} encoded {tuple(x.shape)} to "
                                    f"{tuple(z.shape)}, not the {tuple(want)} its config.json implies")


@torch.no_grad()
def analyse_autoencoder(zae: ZooAutoencoder, x: torch.Tensor, *, block: int, normalization: str = "dc_mean",
                        latent: str = "sample", fractions=(0.0, 0.25, 0.5, 0.75, 0.9), batch_size: int = 8,
                        hf_exclude_dc: bool = True, seed: int = 0, fd: dict | None = None) -> dict[str, pd.DataFrame]:
    """Spectra, HF shares, erasure curve and reconstruction of one AE on images or clips `x` in [-1, 1].

    Returns tidy frames, each row led by the AE's columns (ae, ae_class, kind, spatial/temporal_compression,
    latent_channels):
      spectrum:       source (latent | rgb), axis (space | time), freq_index, amplitude, energy, block
      hf:             source, hf_share (AC energy in the upper half of the zigzag spectrum, per image / frame)
      erasure:        method (latent | rgb), erase_fraction, psnr, ssim (vs the input), psnr_vs_clean (vs the
                      decode of the untouched latent; for RGB vs the image), psnr_drop
      reconstruction: psnr, ssim (decode of the posterior mode vs the input, per frame), num_images, latent_mean,
                      latent_std (of the normalised latent); with `fd` ({"kind", "weights"}, as the main
                      reconstruction table's: metrics.frechet) also the reconstruction Fréchet distance between the
                      decodes and the inputs, named by metrics.frechet.metric_name (rfid | rfid_proxy for images,
                      rfvd | rfvd_proxy for clips), over `num_images` images or clips

    latent: "sample" (what diffusion trains on; the suite's default) or "mean" (the posterior mode) for the spectrum;
    reconstruction and erasure always decode the mode. The latent size must be a multiple of `block`.
    """
    if latent not in ("sample", "mean"):
        raise ValueError(f"latent must be sample or mean, got {latent!r}")
    s, ids = zae.spec, zae.spec.columns()
    gen = torch.Generator(device=zae.device).manual_seed(seed)
    modes, samples = [], []
    for i in range(0, len(x), batch_size):
        dist = zae.posterior(x[i:i + batch_size])
        mode = dist.mode()
        modes.append(zae.normalise(mode.float()))
        if latent == "sample":
            samples.append(zae.normalise(dist.sample(generator=gen).float()))
    z_mode = torch.cat(modes)
    z = torch.cat(samples) if latent == "sample" else z_mode
    _check_shape(zae, x, z_mode)
    if z.shape[-1] % block or z.shape[-2] % block:
        raise ValueError(f"the latent is {z.shape[-2]}x{z.shape[-1]}, not a multiple of the DCT block {block} "
                         f"(raise the resolution to a multiple of {block * s.spatial} or lower the block)")
    video = s.kind == "video"
    rgb = rgb_video_at_latent_size(x, s.spatial, s.temporal) if video else rgb_at_latent_size(x, s.spatial)
    spectrum = pd.concat([spectra_of(z, block, normalization, time_axis=video).assign(source="latent"),
                          spectra_of(rgb.to(z.device), block, normalization, time_axis=video).assign(source="rgb")],
                         ignore_index=True)
    hf = hf_share_table(spectrum, hf_exclude_dc, ["source"])

    # Reconstruction and Fig. 5's erasure curve: decode the (erased) mode latent, score every frame as an image.
    x_img = _frames_as_images(x).float()
    decode = lambda lat: torch.cat([zae.decode(zae.denormalise(lat[i:i + batch_size]))  # noqa: E731
                                    for i in range(0, len(lat), batch_size)]).clamp(-1, 1).cpu()
    clean = decode(z_mode)
    clean_img = _frames_as_images(clean)
    recon = {"psnr": float(psnr(clean_img, x_img).mean()), "ssim": float(ssim(clean_img, x_img).mean()),
             "num_images": len(x), "latent_mean": float(z_mode.mean()), "latent_std": float(z_mode.std())}
    if fd is not None:  # the suite's feature space (evaluate_reconstruction's): one distance, whole clips for video
        from ..metrics.frechet import frechet_distance, metric_name  # torch-fidelity: only when asked
        recon[metric_name(fd["kind"], "rfid")] = frechet_distance(clean, x.float().cpu(), fd["kind"], fd["weights"],
                                                                  cuda=zae.device.type == "cuda")
    rows = []
    for f in sorted(fractions):
        rec = _frames_as_images(clean if f == 0 else decode(erase_high_frequencies(z_mode, block, f)))
        rows.append({"method": "latent", "erase_fraction": f, "psnr": float(psnr(rec, x_img).mean()),
                     "ssim": float(ssim(rec, x_img).mean()), "psnr_vs_clean": float(psnr(rec, clean_img).mean())})
        # RGB with blocks covering the same image area as a latent block (erasure.py's choice)
        xe = erase_high_frequencies(x_img, block * s.spatial, f).clamp(-1, 1)
        rows.append({"method": "rgb", "erase_fraction": f, "psnr": float(psnr(xe, x_img).mean()),
                     "ssim": float(ssim(xe, x_img).mean()), "psnr_vs_clean": float(psnr(xe, x_img).mean())})
    erasure = pd.DataFrame(rows)
    base = erasure[erasure.erase_fraction == min(fractions)].set_index("method")["psnr"]
    erasure["psnr_drop"] = erasure["method"].map(base) - erasure["psnr"]
    lead = lambda df: pd.concat([pd.DataFrame([ids] * len(df)), df.reset_index(drop=True)], axis=1)  # noqa: E731
    return {"spectrum": lead(spectrum), "hf": lead(hf), "erasure": lead(erasure),
            "reconstruction": lead(pd.DataFrame([recon]))}


def analyse_source(source, *, data="auto", num: int, resolution: int, frames: int | None = None, block: int,
                   normalization: str = "dc_mean", latent: str = "sample", fractions=(0.0, 0.25, 0.5, 0.75, 0.9),
                   batch_size: int = 8, hf_exclude_dc: bool = True, device: str = "auto", seed: int = 0,
                   label: str | None = None, fd: dict | None = None):
    """Load the AE at `source` (folder or cached hub id) and analyse it. Returns (spec, inputs, frames of
    analyse_autoencoder).

    data: photos | clips | a folder, or a mapping {"image": ..., "video": ...} picked by the AE's kind (a workflow
    configures both before it knows each AE's kind); "auto": photos for an image AE, clips for a video AE.
    label: the `ae` column (default: `source` as given). The config is read before anything heavy, so a bad folder
    fails at once; clips get `frames` frames (default_frames of the AE's temporal compression when None).
    fd: the feature space of the reconstruction Fréchet distance (see analyse_autoencoder); None: none computed."""
    from dataclasses import replace

    from ..models.zoo import load_zoo_autoencoder, read_spec
    from ..runtime import resolve_device
    spec = read_spec(source)
    data = data.get(spec.kind) if isinstance(data, dict) else data
    data = data if data not in (None, "auto") else ("photos" if spec.kind == "image" else "clips")
    x = zoo_inputs(data=str(data), kind=spec.kind, num=num, resolution=resolution,
                   frames=frames or default_frames(spec.temporal))
    zae = load_zoo_autoencoder(source, device=resolve_device(device))
    if label is not None:
        zae.spec = spec = replace(spec, name=str(label))
    return spec, x, analyse_autoencoder(zae, x, block=block, normalization=normalization, latent=latent,
                                        fractions=fractions, batch_size=batch_size, hf_exclude_dc=hf_exclude_dc,
                                        seed=seed, fd=fd)


def zoo_summary(hf: pd.DataFrame, reconstruction: pd.DataFrame, erasure: pd.DataFrame,
                erase_fraction: float = 0.5) -> pd.DataFrame:
    """One row per AE (the AE-zoo table): geometry, latent and RGB HF share and their ratio, reconstruction
    PSNR/SSIM (and rFID or its proxy where measured, with the number of images it is over), and the PSNR left after
    erasing `erase_fraction` of the latent's (and RGB's) zigzag spectrum. Rows with `base`/`variant` columns (a zoo
    AE and its FT / SE fine-tunes) come side by side: AE, +FT, +SE."""
    id_cols = ["ae", "ae_class", "kind", "spatial_compression", "temporal_compression", "latent_channels"]
    id_cols += [c for c in ("base", "variant") if c in hf]
    share = hf.pivot_table(index=id_cols, columns="source", values="hf_share").reset_index()
    share = share.rename(columns={"latent": "hf_share_latent", "rgb": "hf_share_rgb"})
    share["hf_ratio"] = share["hf_share_latent"] / share["hf_share_rgb"]
    at = erasure[(erasure.erase_fraction - erase_fraction).abs() < 1e-9]
    tag = f"{erase_fraction:g}".replace(".", "")
    lat = at[at.method == "latent"][id_cols + ["psnr_vs_clean"]].rename(
        columns={"psnr_vs_clean": f"erase{tag}_psnr_latent"})
    rgb = at[at.method == "rgb"][id_cols + ["psnr"]].rename(columns={"psnr": f"erase{tag}_psnr_rgb"})
    fd_cols = [c for c in FD_COLUMNS if c in reconstruction and reconstruction[c].notna().any()]
    rec = reconstruction[id_cols + ["psnr", "ssim", *fd_cols] + (["num_images"] if fd_cols else [])]
    out = share.merge(rec, on=id_cols, how="left").merge(lat, on=id_cols, how="left")
    out = out.merge(rgb, on=id_cols, how="left")
    if "variant" in out:  # each zoo AE in the order listed, then its FT control and SE fine-tune
        order = {"vanilla": 0, "ft": 1, "se": 2}
        bases = list(dict.fromkeys(hf["base"]))
        out = out.sort_values(["base", "variant"], key=lambda s: s.map(bases.index) if s.name == "base"
                              else s.map(order), kind="stable").reset_index(drop=True)
    return out
