"""Provenance and atomic writes: every output says what made it (config, seed, commit, versions), and every
output is written whole or not at all, with the user's umask (`atomic_path`, the one writer all others use)."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchvision", "diffusers", "numpy", "scipy", "pandas", "snakemake", "torch-fidelity",
            "hydra-core", "submitit", "safetensors")


def git_commit(root: str | Path | None = None) -> str:
    """The commit of the project checkout (with '+dirty' when it has local changes), or 'unknown'."""
    root = Path(root) if root else Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(config: dict | None = None, seed: int | None = None) -> dict:
    return {"git_commit": git_commit(), "seed": seed, "versions": package_versions(), "config": config}


def _shared_mode(folder: bool = False) -> int:
    """The permissions any new file (or folder) of the user gets: 0666 (0777) less the umask."""
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask


def share(path: str | Path) -> Path:
    """Give a file written by a library that creates files private (safetensors: 0600), or a folder and everything
    in it, the permissions of the user's umask."""
    path = Path(path)
    file_mode, folder_mode = _shared_mode(), _shared_mode(folder=True)
    for p in [path, *(path.rglob("*") if path.is_dir() else ())]:
        os.chmod(p, folder_mode if p.is_dir() else file_mode)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, folder: bool = False):
    """Yield a temporary path beside `path` to write a file (or, with `folder`, a folder) at; when the block ends
    without an error it is given the user's umask and renamed to `path`, replacing what was there; on an error it
    is removed. Readers never see half an output, and a job killed mid-write leaves only a hidden `.<name>.*.tmp`.

    The user's umask rather than mkstemp's private 0600: results on a shared cluster filesystem must stay readable
    for lab-mates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        share(tmp)
        if folder:
            shutil.rmtree(path, ignore_errors=True)  # a folder cannot be renamed over a non-empty one
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, write_fn, mode: str = "w") -> Path:
    """Write `path` via `write_fn(fileobj)`, atomically and with the user's umask (see atomic_path)."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        write_fn(f)
    return Path(path)


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """A safetensors file, written atomically with the user's umask."""
    from safetensors.torch import save_file
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    return Path(path)


def write_json(path: str | Path, obj) -> Path:
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=str))


def write_csv(path: str | Path, df) -> Path:
    """A tidy CSV, written atomically with a float format that round-trips (bit-identical reruns stay identical)."""
    return atomic_write(path, lambda f: df.to_csv(f, index=False, float_format="%.9g", lineterminator="\n"))


def write_provenance(path: str | Path, config: dict | None = None, seed: int | None = None) -> Path:
    return write_json(path, provenance(config, seed))
