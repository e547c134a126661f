"""safetensors files written row by row and read memory-mapped, so no tensor of a dataset's size is ever held whole
(issue 17: the paper's latent cache is 1.28M x 16x32x32 float32, 84 GB per AE variant).

The format is safetensors' own (an 8-byte header length, a JSON header naming each tensor's dtype, shape and byte
range, then the bytes), so `safetensors.torch.load_file` and `safe_open` read these files as any other. Because the
header only needs shapes, it is written first and the rows of a tensor follow as they are computed.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import torch

from .provenance import atomic_write

__all__ = ["TensorFileWriter", "write_tensor_file", "mmap_tensor"]

DTYPES = {torch.float32: ("F32", np.float32), torch.float64: ("F64", np.float64), torch.int64: ("I64", np.int64),
          torch.int32: ("I32", np.int32), torch.float16: ("F16", np.float16), torch.uint8: ("U8", np.uint8)}
NUMPY = {code: np_type for code, np_type in DTYPES.values()}


class TensorFileWriter:
    """Writes the header of a safetensors file for the given layout {name: (dtype, shape)}, then tensors or row
    ranges of them at their place in any order (the file object must be seekable)."""

    def __init__(self, f, layout: dict[str, tuple[torch.dtype, tuple[int, ...]]], metadata: dict[str, str] | None):
        self.f, self.layout, header, offset = f, {}, {}, 0
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        for name in sorted(layout):
            dtype, shape = layout[name]
            if dtype not in DTYPES:
                raise ValueError(f"tensor {name}: dtype {dtype} is not supported by the streaming writer")
            nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
            header[name] = {"dtype": DTYPES[dtype][0], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            self.layout[name] = (dtype, tuple(shape), offset)
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # safetensors pads its header to 8 bytes, so every tensor stays aligned
        f.write(struct.pack("<Q", len(raw)) + raw)
        self.data_start = 8 + len(raw)
        f.truncate(self.data_start + offset)  # the whole file exists from the start: no region is ever missing
        self.rows_written = {name: 0 for name in self.layout}

    def write(self, name: str, tensor: torch.Tensor, row: int = 0) -> None:
        """Write `tensor` as rows row .. row + len(tensor) of tensor `name` (the whole tensor when row is 0 and the
        shapes agree)."""
        dtype, shape, offset = self.layout[name]
        t = tensor.detach().to("cpu", dtype).contiguous()
        if tuple(t.shape[1:]) != shape[1:] or row + len(t) > (shape[0] if shape else 1):
            raise ValueError(f"rows {row}..{row + len(t)} of shape {tuple(t.shape)} do not fit tensor {name} {shape}")
        row_bytes = math.prod(shape[1:]) * t.element_size()
        self.f.seek(self.data_start + offset + row * row_bytes)
        self.f.write(t.numpy().reshape(-1).view(np.uint8))  # from the tensor's memory: no copy of the rows
        self.rows_written[name] += len(t) if t.ndim else 1


def write_tensor_file(path: str | Path, layout: dict, fill, metadata: dict[str, str] | None = None) -> Path:
    """Write a safetensors file atomically with the user's umask: `fill(writer)` writes every tensor of `layout`."""
    def write(f):
        writer = TensorFileWriter(f, layout, metadata)
        fill(writer)
        short = {n: w for n, w in writer.rows_written.items() if w < (layout[n][1][0] if layout[n][1] else 1)}
        if short:
            raise RuntimeError(f"{path}: tensors {sorted(short)} were not written in full")
    return atomic_write(path, write, mode="wb")


def read_header(path: str | Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the byte offset of its data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def mmap_tensor(path: str | Path, name: str) -> torch.Tensor:
    """Tensor `name` of a safetensors file, memory-mapped (copy-on-write, never written back): the processes reading
    one file share its pages through the page cache instead of each holding a copy."""
    header, start = read_header(path)
    if name not in header:
        raise KeyError(f"{path} holds no tensor {name!r}")
    info = header[name]
    shape, (begin, end) = tuple(info["shape"]), info["data_offsets"]
    if begin == end:
        return torch.from_numpy(np.empty(shape, dtype=NUMPY[info["dtype"]]))
    arr = np.memmap(path, dtype=NUMPY[info["dtype"]], mode="c", offset=start + begin, shape=shape)
    return torch.from_numpy(arr)
