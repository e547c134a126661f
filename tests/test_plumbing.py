"""The shared plumbing: the one atomic writer (files and folders), the seeds of random streams, and the gradient mean
across ranks (2 real gloo processes)."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from diffusability.provenance import atomic_path, atomic_write
from diffusability.runtime import stream_generator, stream_seed
from diffusability.train.distributed import average_gradients


def _half_a_file(f):
    f.write("x,")
    raise RuntimeError("full disk")


def _write_folder(out, files: dict[str, bytes]):
    with atomic_path(out, folder=True) as tmp:
        for name, data in files.items():
            (tmp / name).parent.mkdir(exist_ok=True)
            (tmp / name).write_bytes(data)


def test_a_failed_write_leaves_the_old_output_and_no_temporary(tmp_path):
    out = tmp_path / "model"
    _write_folder(out, {"weights.bin": b"old"})
    with pytest.raises(RuntimeError), atomic_path(out, folder=True) as tmp:
        (tmp / "weights.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert (out / "weights.bin").read_bytes() == b"old"
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.csv", _half_a_file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left beside it


def test_a_folder_replaces_the_old_one_whole_with_the_users_umask(tmp_path):
    out = tmp_path / "ckpt"
    _write_folder(out, {"old.bin": b"1"})
    old = os.umask(0o027)
    try:
        _write_folder(out, {"sub/new.bin": b"2"})
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


def _rank(rank, world, port, grads, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo")
    params = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads[rank]]
    for p, g in zip(params, grads[rank]):
        p.grad = g.clone()
    frozen = torch.nn.Parameter(torch.zeros(2))  # no gradient (a frozen encoder): skipped, not reduced
    average_gradients([*params, frozen], world)
    torch.save([p.grad for p in params], f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_gradients_are_averaged_across_ranks_tensor_by_tensor(tmp_path):
    gen = torch.Generator().manual_seed(0)
    grads = [[torch.randn(3, 2, generator=gen), torch.randn(5, generator=gen)] for _ in range(2)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_rank, args=(2, port, grads, str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for k in range(2):
            assert torch.equal(got[k], (grads[0][k] + grads[1][k]) / 2), (rank, k)
