"""Provenance and atomic writes: every output says what made it (config, seed, commit, versions)."""
from __future__ import annotations

import json
import os
import platform
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


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write_fn, mode: str = "w") -> Path:
    """Write via `write_fn(fileobj)` to a temporary file beside `path`, then rename: readers never see half a file.

    The file gets the permissions any new file of the user gets (0666 less the umask): mkstemp's private 0600
    would hide results from lab-mates on a shared cluster filesystem.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            write_fn(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def share(path: str | Path) -> Path:
    """Give a file written by a library that creates files private (safetensors: 0600), or every file of a folder,
    the permissions of the user's umask."""
    path = Path(path)
    mode = 0o666 & ~_umask()
    for f in ([path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]):
        os.chmod(f, mode)
    return path


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """A safetensors file written atomically (temporary name, then rename) with the user's umask."""
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(share(tmp), path)
    return path


def write_json(path: str | Path, obj) -> Path:
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=str))


def write_csv(path: str | Path, df) -> Path:
    """A tidy CSV, written atomically with a float format that round-trips (bit-identical reruns stay identical)."""
    return atomic_write(path, lambda f: df.to_csv(f, index=False, float_format="%.9g", lineterminator="\n"))


def write_provenance(path: str | Path, config: dict | None = None, seed: int | None = None) -> Path:
    return write_json(path, provenance(config, seed))
