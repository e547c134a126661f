"""The shared plumbing: the one atomic writer (files and folders) and the seeds of random streams."""
import os

import pytest
import torch

from diffusability.provenance import atomic_path, atomic_write
from diffusability.runtime import stream_generator, stream_seed


def _half_a_file(f):
    f.write("x,")
    raise RuntimeError("full disk")


def test_a_failed_write_leaves_the_old_output_and_no_temporary(tmp_path):
    out = tmp_path / "model"
    with atomic_path(out, folder=True) as tmp:
        (tmp / "weights.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(out, folder=True) as tmp:
        (tmp / "weights.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert (out / "weights.bin").read_bytes() == b"old"
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.csv", _half_a_file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left beside it


def test_a_folder_replaces_the_old_one_whole_with_the_users_umask(tmp_path):
    out = tmp_path / "ckpt"
    with atomic_path(out, folder=True) as tmp:
        (tmp / "old.bin").write_bytes(b"1")
    old = os.umask(0o027)
    try:
        with atomic_path(out, folder=True) as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "new.bin").write_bytes(b"2")
    finally:
        os.umask(old)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["sub", "sub/new.bin"]
    assert oct(out.stat().st_mode & 0o777) == oct((out / "sub").stat().st_mode & 0o777) == oct(0o750)
    assert oct((out / "sub" / "new.bin").stat().st_mode & 0o777) == oct(0o640)


def test_stream_seeds_keep_the_numbers_every_result_was_drawn_with():
    # Changing these numbers would change every CSV of every scale: the datasets, SE and the trainers draw with them.
    assert stream_seed(3, 17) == 3 * 1_000_003 + 17
    assert torch.equal(torch.randn(4, generator=stream_generator(3, 17)),
                       torch.randn(4, generator=torch.Generator().manual_seed(3_000_026)))
