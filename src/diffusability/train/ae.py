"""Autoencoder training: from scratch (Figs. 2-3 sweeps) or from pretrained weights, resumable bit for bit.

One entry point, `train_autoencoder(cfg)`, takes a composed run config (see `runconfig.py`) and
writes into `cfg.out_dir`:
  ae/                     the final weights (EMA) as a diffusers folder (config.json + safetensors)
  config.yaml             the resolved run config
  train_log.csv           step, loss terms, learning rate, seconds per step
  checkpoints/step_*/     rolling checkpoints; a rerun resumes from the newest one
  provenance.json         git commit, package versions, seed

Every random draw of step t (its batch, the posterior sample) is seeded by (seed, t), so a run resumed at step t
continues exactly as the uninterrupted run would have.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from ..data import StepBatchSampler, build_dataset
from ..models.autoencoders import autoencoder_from_config
from ..runtime import stream_generator
from ..se import ScaleEquivariance
from .checkpoint import EMA, resume_latest, save_checkpoint
from .distributed import global_noise, is_main, optimizer_step
from .guard import FiniteGuard
from .losses import ReconstructionLoss, kl_per_pixel
from .run import TrainLog, config_fingerprint, finish_run, save_final, start_run

log = logging.getLogger(__name__)

# A regulariser adds a loss term: f(ae, x, z, step, recon_loss) -> (loss, metrics dict). SE plugs in here.
Regulariser = Callable[..., tuple[torch.Tensor, dict[str, float]]]
LOG_FIELDS = ("step", "loss", "recon", "l1", "l2", "lpips", "kl", "se", "lr", "sec_per_step")


def _lr_at(step: int, cfg) -> float:
    warm = int(cfg.get("warmup_steps", 0))
    return float(cfg.lr) * (min(1.0, (step + 1) / warm) if warm > 0 else 1.0)


def save_final_autoencoder(ae, out_dir: Path) -> Path:
    return save_final(ae, out_dir, "ae")


def load_init_autoencoder(init_from: str | Path, model_cfg):
    """The AE a fine-tune starts from (a diffusers folder), checked against the run's model settings."""
    from ..models.autoencoders import load_autoencoder_folder
    ae = load_autoencoder_folder(init_from)
    if ae.config.latent_channels != int(model_cfg.latent_channels):
        raise ValueError(f"init_from {init_from} has {ae.config.latent_channels} latent channels, but "
                         f"model.latent_channels is {model_cfg.latent_channels}")
    return ae


def train_autoencoder(cfg: DictConfig, regularisers: list[Regulariser] | None = None) -> Path:
    """Train (or fine-tune from the diffusers folder cfg.init_from) an autoencoder as `cfg` says; returns ae/ path.

    With cfg.se.weight > 0 the scale-equivariance term is added to the loss (SE fine-tuning).
    """
    init_from = cfg.get("init_from")
    out, device, rank, world = start_run(cfg)
    main = is_main(rank)

    ae = autoencoder_from_config(cfg.model) if init_from is None else load_init_autoencoder(init_from, cfg.model)
    ae.to(device).train()
    se_cfg = cfg.get("se")
    if se_cfg is not None and se_cfg.get("freeze_encoder"):
        for module in (ae.encoder, ae.quant_conv):
            for p in module.parameters() if module is not None else ():
                p.requires_grad_(False)
    if se_cfg is not None and float(se_cfg.weight) > 0:
        regularisers = [*(regularisers or ()), ScaleEquivariance(
            weight=float(se_cfg.weight), factors=list(se_cfg.factors), mode=se_cfg.mode,
            compression=int(cfg.model.compression), latent_block=int(se_cfg.latent_block),
            use_lpips=bool(se_cfg.lpips), seed=int(cfg.seed),
            temporal_factors=list(se_cfg.get("temporal_factors") or []),
            keep_first_frame=bool(se_cfg.get("keep_first_frame", True)),
            cut_max_ratio=float(se_cfg.get("cut_max_ratio", 0.0)))]
    oc = cfg.optim
    opt = torch.optim.AdamW([p for p in ae.parameters() if p.requires_grad], lr=float(oc.lr),
                            betas=tuple(oc.betas), weight_decay=float(oc.weight_decay))
    ema = EMA(ae, float(oc.ema_decay))
    fingerprint = config_fingerprint(cfg)
    start = resume_latest(out / "checkpoints", fingerprint, ae, ema, opt)
    total = int(oc.steps)
    if int(oc.batch_size) % world:
        raise ValueError(f"optim.batch_size={oc.batch_size} is not divisible by the {world} ranks of this job")
    local_batch = int(oc.batch_size) // world

    dataset = build_dataset(cfg.data, "train", int(cfg.seed))
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=StepBatchSampler(local_batch, start, total, rank, world),
        num_workers=int(cfg.data.get("num_workers", 0)), pin_memory=device.type == "cuda",
        persistent_workers=False)
    lc = cfg.loss
    recon_loss = ReconstructionLoss(float(lc.l1), float(lc.l2), float(lc.lpips))
    kl_weight = float(lc.kl_weight)
    sample_latent = lc.latent == "sample"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.get("precision") == "bf16")
    logw = TrainLog(out / "train_log.csv" if main else Path(os.devnull), start_step=start, fields=LOG_FIELDS)
    bar = tqdm(total=total, initial=start, desc=f"train {out.name}", mininterval=2.0, dynamic_ncols=True,
               disable=not main)
    guard = FiniteGuard(cfg.get("settings_key", "optim"), world)
    tic = time.perf_counter()
    try:
        for step, (x, _) in zip(range(start, total), loader):
            x = x.to(device, non_blocking=True)
            lr = _lr_at(step, oc)
            for group in opt.param_groups:
                group["lr"] = lr
            with autocast:
                post = ae.encode(x).latent_dist
                if sample_latent:  # this rank's slice of the step's noise: N ranks draw what one process would
                    gen = stream_generator(cfg.seed, step + 1, device=device)
                    z = post.mean + post.std * global_noise(tuple(post.mean.shape), gen, rank, world)
                else:
                    z = post.mode()
                terms = recon_loss(ae.decode(z).sample.float(), x)
                kl = kl_per_pixel(post, x[0].numel())
                loss = terms["recon"] + kl_weight * kl
                metrics = {}
                for reg in regularisers or ():
                    reg_loss, reg_metrics = reg(ae=ae, x=x, z=z, step=step, recon_loss=recon_loss)
                    loss = loss + reg_loss
                    metrics.update(reg_metrics)
            guard.observe(step, {"loss": loss, **terms, "kl": kl})
            optimizer_step(loss, list(ae.parameters()), opt, ema, step, world, oc.get("grad_clip"))
            done = step + 1
            if done % int(oc.log_every) == 0 or done == total:
                guard.check()
                now = time.perf_counter()
                row = {"step": done, "loss": loss.item(), "kl": kl.item(), "lr": lr,
                       "sec_per_step": (now - tic) / max(1, done - bar.n), **{k: v.item() for k, v in terms.items()},
                       **metrics}
                logw.write(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", kl=f"{row['kl']:.3g}", refresh=False)
                bar.update(done - bar.n)
                tic = now
            if done % int(oc.checkpoint_every) == 0 and done < total:
                guard.check()
            if done % int(oc.checkpoint_every) == 0 and done < total and main:
                save_checkpoint(out / "checkpoints", done, ae, ema, opt, keep=int(oc.keep_checkpoints),
                                extra={"config_fingerprint": fingerprint})
    finally:
        bar.close()
        logw.close()
    guard.check()
    return finish_run(model=ae, ema=ema, out=out, name="ae", main=main, world=world)
