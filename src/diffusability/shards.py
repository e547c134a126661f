"""Where the files of a sharded job live (issue 17): shard i of n of `path` is `<stem>.shard-<i>-of-<n><suffix>`
beside it, numbered from 0 with five digits. The one naming rule for the package (generation/latents.py reads the
shards of a latent cache by it) and the workflow (whose shard wildcards match it); no torch import, so the Snakefile
can use it while planning."""
from __future__ import annotations

from pathlib import Path

__all__ = ["shard_path", "shard_paths", "SHARD_WILDCARDS"]

SHARD_WILDCARDS = ".shard-{shard}-of-{nshards}"  # the workflow's pattern of the infix; {shard}, {nshards}: 5 digits


def shard_path(path: str | Path, shard_index: int, num_shards: int) -> Path:
    """Shard `shard_index` of `num_shards` of the file `path`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shard-{shard_index:05d}-of-{num_shards:05d}{path.suffix}")


def shard_paths(path: str | Path, num_shards: int) -> list[str]:
    """Every shard of `path` in order; [] for one shard (the file itself is then the whole result)."""
    return [] if num_shards == 1 else [str(shard_path(path, i, num_shards)) for i in range(num_shards)]
