"""DiT training on cached AE latents with rectified flow (the paper's generation experiments, Fig. 1, Table 1).

Every step's batch, label drops, times and noise come from a generator seeded by (seed, step), so a run resumed
from its last checkpoint continues bit for bit as the uninterrupted run would (on CPU).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from ..diffusion.flow import flow_loss
from ..generation.latents import load_latents, normalisation
from ..models.dit import build_dit, dit_forward, null_class
from ..provenance import save_tensors
from ..runtime import stream_generator
from .checkpoint import EMA, resume_latest, save_checkpoint
from .distributed import is_main, optimizer_step
from .guard import FiniteGuard
from .run import TrainLog, config_fingerprint, finish_run, start_run

log = logging.getLogger(__name__)

__all__ = ["train_dit", "build_dit_for_cache", "snapshot_path", "snapshot_steps"]


def snapshot_steps(cfg: DictConfig) -> list[int]:
    """The steps whose EMA weights a run keeps for evaluation (Fig. 1's curve): the configured ones it reaches,
    and always its last."""
    steps = int(cfg.optim.steps)
    return sorted({int(s) for s in cfg.snapshots if int(s) <= steps} | {steps})


def snapshot_path(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / "snapshots" / f"step_{step:08d}.safetensors"


def build_dit_for_cache(model_cfg, cache: dict[str, torch.Tensor], num_classes: int):
    """An image DiT for (C, H, W) latents, or a video DiT (temporal patchify) for (C, T, H, W) latents."""
    shape = cache["latents"].shape[1:]
    if shape[-1] != shape[-2]:
        raise ValueError(f"DiT needs square latents, the cache has {shape[-2]}x{shape[-1]}")
    classes = num_classes if model_cfg.conditional else 1
    if len(shape) == 4:
        from ..models.video_dit import VideoDiT
        return VideoDiT(model_cfg.preset, int(shape[0]), int(shape[1]), int(shape[2]), classes,
                        int(model_cfg.get("patch_t", 1)))
    return build_dit(model_cfg.preset, int(shape[0]), int(shape[1]), classes)


def train_dit(cfg: DictConfig) -> Path:
    """Train one DiT as `cfg` says (resuming from the newest checkpoint); returns the final EMA model folder."""
    out, device, rank, world = start_run(cfg)
    main = is_main(rank)

    cache, num_classes = load_latents(cfg.latents)
    mean, std = (t.to(device) for t in normalisation(cache, cfg.latent_norm))
    latents, labels = cache["latents"], cache["labels"]
    if not cfg.model.conditional:
        labels = torch.zeros_like(labels)
        num_classes = 1
    model = build_dit_for_cache(cfg.model, cache, num_classes).to(device).train()
    null = null_class(num_classes)
    oc = cfg.optim
    opt = torch.optim.Adam(model.parameters(), lr=float(oc.lr), betas=tuple(oc.betas),
                           weight_decay=float(oc.weight_decay))
    ema = EMA(model, float(oc.ema_decay))
    fingerprint = config_fingerprint(cfg)
    start = resume_latest(out / "checkpoints", fingerprint, model, ema, opt)
    net = torch.compile(model) if cfg.get("compile") else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.get("precision") == "bf16")
    total, snapshots = int(oc.steps), set(snapshot_steps(cfg))
    fc = cfg.flow
    if int(oc.batch_size) % world:
        raise ValueError(f"optim.batch_size={oc.batch_size} is not divisible by the {world} ranks of this job")
    mine = slice(rank * int(oc.batch_size) // world, (rank + 1) * int(oc.batch_size) // world)

    def velocity(x, t, y):
        return dit_forward(net, x, t, y).float()

    logw = TrainLog(out / "train_log.csv" if main else Path(os.devnull), start_step=start,
                    fields=("step", "loss", "lr", "sec_per_step"))
    bar = tqdm(total=total, initial=start, desc=f"dit {out.name}", mininterval=2.0, dynamic_ncols=True,
               disable=not main)
    guard = FiniteGuard(cfg.get("settings_key", "optim"), world)
    tic = time.perf_counter()
    try:
        for step in range(start, total):
            gen = stream_generator(cfg.seed, step + 1)
            # The global batch is drawn the same on every rank; each rank trains on its slice.
            idx = torch.randint(len(latents), (int(oc.batch_size),), generator=gen)
            y = labels[idx].clone()
            y[torch.rand(len(y), generator=gen) < float(fc.label_dropout)] = null
            idx, y = idx[mine], y[mine]
            x = ((latents[idx].to(device) - mean) / std)
            with autocast:
                loss = flow_loss(velocity, x, y.to(device), gen, float(fc.t_mean), float(fc.t_std), rank, world)
            guard.observe(step, {"loss": loss})
            optimizer_step(loss, list(model.parameters()), opt, ema, step, world, oc.get("grad_clip"))
            done = step + 1
            if done % int(oc.log_every) == 0 or done == total or done in snapshots \
                    or done % int(oc.checkpoint_every) == 0:
                guard.check()  # before any snapshot, checkpoint or log row of a diverged run
            if done % int(oc.log_every) == 0 or done == total:
                now = time.perf_counter()
                logw.write({"step": done, "loss": loss.item(), "lr": float(oc.lr),
                            "sec_per_step": (now - tic) / max(1, done - bar.n)})
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
                bar.update(done - bar.n)
                tic = now
            if done in snapshots and main:
                save_tensors(snapshot_path(out, done), ema.shadow)
            if done % int(oc.checkpoint_every) == 0 and done < total and main:
                save_checkpoint(out / "checkpoints", done, model, ema, opt, keep=int(oc.keep_checkpoints),
                                extra={"config_fingerprint": fingerprint})
    finally:
        bar.close()
        logw.close()
    guard.check()
    return finish_run(model=model, ema=ema, out=out, name="dit", main=main, world=world)
