"""Encode a training split (images or clips) once per autoencoder, so DiT training never runs the encoder in its loop.

The cache holds posterior samples (what diffusion models), their labels, and the normalisation statistics of the
authors' code: mean/std per latent position (C, H, W) or (C, T, H, W), estimated from the first `norm_samples`
latents. Per-channel statistics are stored beside them for the `channel` option.

At paper scale the split is 1.28M images (84 GB of latents per AE variant), so encoding streams (issue 17): items are
decoded by DataLoader workers, latents are written to the file as they come, and the split can be scattered over
shard jobs (`encode_shard`, each writing one safetensors file) and gathered (`gather_latents`, which computes the
normalisation from the first `norm_samples` latents and writes an index of the shards). `encode_training_latents`
is the one-shard case, writing one self-contained file as before. The posterior noise of every batch is that of one
unsharded pass (a shard first walks the generator past the batches before it), so on CPU the shards together hold
exactly the latents one pass would. DiT training reads either kind of cache memory-mapped (`load_latents`).
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch
from safetensors import safe_open

from ..analysis.spectra import load_trained_autoencoder
from ..data import build_dataset
from ..data.loader import steady_heap, worker_init
from ..provenance import save_tensors
from ..runtime import resolve_device, set_threads
from ..shards import shard_path  # where shard i of the cache lives (the workflow names them the same way)
from ..tensorfile import mmap_tensor, read_header, write_tensor_file

__all__ = ["encode_training_latents", "encode_shard", "gather_latents", "load_latents", "normalisation",
           "ShardedLatents", "shard_path"]


def _train_items(data_cfg, num: int | None, seed: int):
    """The first `num` training items (random crops for photos, the whole or a prefix of a folder)."""
    ds = build_dataset(data_cfg, "train", seed)
    try:
        total = len(ds)
    except TypeError:  # photo crops are indexed by an unbounded key
        if num is None:
            raise ValueError("dit.num_latents must be set for the photos dataset (it has no fixed size)") from None
        total = num
    n = total if num is None else min(num, total)
    return ds, n


def _shard_batches(n: int, batch_size: int, shard_index: int,
                   num_shards: int) -> tuple[list[range], int, list[range]]:
    """This shard's batches of the unsharded pass, the index of its first, and the batches before it. Shards are
    whole batches, so each batch's encoder input and posterior noise are those of the unsharded pass."""
    batches = [range(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1}")
    if num_shards > len(batches):
        raise ValueError(f"{num_shards} shards of {len(batches)} batches of {batch_size}: some shards would be empty "
                         "(use fewer shards)")
    lo, hi = len(batches) * shard_index // num_shards, len(batches) * (shard_index + 1) // num_shards
    return batches[lo:hi], lo, batches[:lo]


@torch.no_grad()
def _encoded_batches(ae, ds, batches: list[range], before: list[range], seed: int, dev, num_workers: int):
    """(latents, labels) of each batch, encoded in order; the posterior noise continues one generator from the
    batches `before` (drawn and dropped, never encoded)."""
    from diffusers.utils.torch_utils import randn_tensor
    steady_heap()
    gen = torch.Generator(device=dev).manual_seed(seed)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=[list(b) for b in batches], num_workers=num_workers,
                                         worker_init_fn=worker_init)
    for i, (x, y) in enumerate(loader):
        dist = ae.encode(x.to(dev)).latent_dist
        if i == 0:  # the draws of earlier shards, the same calls the unsharded pass makes (diffusers' sample())
            for b in before:
                randn_tensor((len(b), *dist.mean.shape[1:]), generator=gen, device=dist.parameters.device,
                             dtype=dist.parameters.dtype)
        yield dist.sample(generator=gen).float().cpu(), y.to(torch.int64)


def _statistics(ref: torch.Tensor) -> dict[str, torch.Tensor]:
    """Normalisation statistics of the first latents (authors' code: per position), and per channel."""
    per_channel = (0, *range(2, ref.ndim))
    keep = (-1, *[1] * (ref.ndim - 2))
    return {"mean_position": ref.mean(0), "std_position": ref.std(0),
            "mean_channel": ref.mean(per_channel).view(keep).contiguous(),
            "std_channel": ref.std(per_channel).view(keep).contiguous()}


def _stream_to_file(out_path, batches_iter, n: int, metadata: dict, norm_samples: int | None) -> tuple[tuple, int]:
    """Write latents and labels as they come (and, with norm_samples, the normalisation tensors); returns the
    latent shape and the number written."""
    first_z, first_y = next(batches_iter)
    shape = tuple(first_z.shape[1:])
    layout = {"latents": (torch.float32, (n, *shape)), "labels": (torch.int64, (n,))}
    if norm_samples:
        stat_shapes = {k: v.shape for k, v in _statistics(first_z[:2]).items()}
        layout.update({k: (torch.float32, tuple(s)) for k, s in stat_shapes.items()})

    def fill(w):
        ref, row = [], 0
        for z, y in itertools.chain([(first_z, first_y)], batches_iter):  # one batch at a time
            w.write("latents", z, row)
            w.write("labels", y, row)
            if norm_samples and row < norm_samples:
                ref.append(z[:norm_samples - row])
            row += len(z)
        if norm_samples:
            for k, v in _statistics(torch.cat(ref)).items():
                w.write(k, v)

    write_tensor_file(out_path, layout, fill, metadata)
    return shape, n


def _prepare(run_dir, num_latents, batch_size, seed, device, threads, shard_index, num_shards, num_workers):
    dev = resolve_device(device)
    set_threads(threads)
    ae, cfg = load_trained_autoencoder(run_dir, dev)
    ds, n = _train_items(cfg.data, num_latents, seed)
    mine, _, before = _shard_batches(n, batch_size, shard_index, num_shards)
    num_classes = len(getattr(ds, "classes", None) or ds.photos)
    # Loader workers decode files; the default is the data config's own setting (the AE's training used it too).
    workers = int(cfg.data.get("num_workers", 0) or 0) if num_workers is None else int(num_workers)
    return dev, ae, ds, n, mine, before, num_classes, workers


def encode_training_latents(run_dir: str | Path, out_path: str | Path, num_latents: int | None, norm_samples: int,
                            batch_size: int, seed: int, device: str = "auto", threads: int | None = None,
                            num_workers: int | None = None) -> dict:
    """Write `out_path` (safetensors): latents (N, C, h, w), labels (N,), mean/std per position and per channel.
    The one-shard cache: one self-contained file, written as the latents come."""
    dev, ae, ds, n, mine, before, num_classes, workers = _prepare(run_dir, num_latents, batch_size, seed, device,
                                                                  threads, 0, 1, num_workers)
    meta = {"run_dir": str(run_dir), "seed": str(seed), "num_classes": str(num_classes)}
    shape, n = _stream_to_file(out_path, _encoded_batches(ae, ds, mine, before, seed, dev, workers), n, meta,
                               norm_samples)
    return {"num_latents": n, "shape": list(shape), "num_classes": num_classes}


def encode_shard(*, run_dir: str | Path, out_path: str | Path, shard_index: int, num_shards: int,
                 num_latents: int | None, batch_size: int, seed: int, device: str = "auto",
                 threads: int | None = None, num_workers: int | None = None) -> Path:
    """One job of a sharded encode: the latents and labels of shard `shard_index` of `num_shards` (contiguous runs of
    whole batches of the training split), written to shard_path(out_path, ...). Gather with gather_latents."""
    dev, ae, ds, n, mine, before, num_classes, workers = _prepare(run_dir, num_latents, batch_size, seed, device,
                                                                  threads, shard_index, num_shards, num_workers)
    path = shard_path(out_path, shard_index, num_shards)
    start, stop = mine[0].start, mine[-1].stop
    meta = {"run_dir": str(run_dir), "seed": str(seed), "num_classes": str(num_classes), "start": str(start),
            "stop": str(stop), "num_latents": str(n), "shard_index": str(shard_index), "num_shards": str(num_shards)}
    _stream_to_file(path, _encoded_batches(ae, ds, mine, before, seed, dev, workers), stop - start, meta, None)
    return path


def gather_latents(*, out_path: str | Path, num_shards: int, norm_samples: int) -> dict:
    """The cache index `out_path` over the shards of a sharded encode: the normalisation statistics (from the first
    `norm_samples` latents, as the one-shard cache) and the shard file names. The latents stay in the shards."""
    paths = [shard_path(out_path, i, num_shards) for i in range(num_shards)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"latent shards missing (run their encode jobs first): {', '.join(missing)}")
    metas = [read_header(p)[0]["__metadata__"] for p in paths]
    for i, m in enumerate(metas):
        expected = int(metas[i - 1]["stop"]) if i else 0
        if int(m["start"]) != expected or int(m["num_shards"]) != num_shards:
            raise ValueError(f"latent shard {paths[i]} starts at {m['start']}, not {expected} (shards of another "
                             "encode?)")
    n = int(metas[-1]["stop"])
    ref, row = [], 0
    for p in paths:
        if row >= norm_samples:
            break
        z = mmap_tensor(p, "latents")
        ref.append(z[:norm_samples - row].clone())
        row += len(ref[-1])
    stats = _statistics(torch.cat(ref))
    meta = {"run_dir": metas[0]["run_dir"], "seed": metas[0]["seed"], "num_classes": metas[0]["num_classes"],
            "num_latents": str(n), "shards": json.dumps([p.name for p in paths])}
    save_tensors(out_path, stats, metadata=meta)
    return {"num_latents": n, "shape": list(ref[0].shape[1:]), "num_classes": int(metas[0]["num_classes"])}


class ShardedLatents:
    """The latents of a sharded cache, memory-mapped shard by shard, indexed like one (N, ...) tensor by a batch of
    indices (what DiT training draws), so a run sees the same batches as on the one-file cache."""

    def __init__(self, parts: list[torch.Tensor]):
        self.parts = parts
        self.starts = torch.tensor([0] + [len(p) for p in parts]).cumsum(0)
        self.shape = torch.Size((int(self.starts[-1]), *parts[0].shape[1:]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, slice):
            idx = torch.arange(len(self))[idx]
        idx = torch.as_tensor(idx, dtype=torch.int64)
        out = torch.empty((len(idx), *self.shape[1:]), dtype=self.parts[0].dtype)
        shard = torch.searchsorted(self.starts, idx, right=True) - 1
        for s in shard.unique().tolist():
            sel = shard == s
            out[sel] = self.parts[s][idx[sel] - self.starts[s]]
        return out

    def global_moments(self, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of every value (float64 sums, chunk by chunk)."""
        n, s, ss = 0, torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        for p in self.parts:
            for i in range(0, len(p), chunk):
                x = p[i:i + chunk].double()
                n, s, ss = n + x.numel(), s + x.sum(), ss + (x * x).sum()
        mean = s / n
        return mean.float(), ((ss - n * mean * mean) / (n - 1)).sqrt().float()


def load_latents(path: str | Path) -> tuple[dict[str, torch.Tensor], int]:
    """The cache's tensors and its number of classes; the latents memory-mapped (a tensor for a one-file cache,
    ShardedLatents for a sharded one), so the ranks of a node share one copy through the page cache."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"latent cache {path} does not exist (run the encode_latents rule first)")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        cache = {k: f.get_tensor(k) for k in f.keys() if k != "latents"}
    if "shards" in meta:
        shards = [path.parent / name for name in json.loads(meta["shards"])]
        cache["latents"] = ShardedLatents([mmap_tensor(p, "latents") for p in shards])
        cache["labels"] = torch.cat([mmap_tensor(p, "labels").clone() for p in shards])
    else:
        cache["latents"] = mmap_tensor(path, "latents")
    return cache, int(meta["num_classes"])


def normalisation(cache: dict[str, torch.Tensor], mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) to map latents to roughly unit scale: `position` (authors' code) | `channel` | `global`."""
    if mode == "position":
        return cache["mean_position"], cache["std_position"].clamp_min(1e-6)
    if mode == "channel":
        return cache["mean_channel"], cache["std_channel"].clamp_min(1e-6)
    if mode == "global":
        z = cache["latents"]
        keep = [1] * (z.ndim - 1) if isinstance(z, torch.Tensor) else [1] * (len(z.shape) - 1)
        mean, std = (z.mean(), z.std()) if isinstance(z, torch.Tensor) else z.global_moments()
        return mean.view(keep), std.view(keep)
    raise ValueError(f"unknown dit.latent_norm {mode!r}; use position, channel or global")
