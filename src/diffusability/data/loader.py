"""DataLoader workers whose memory does not creep with the number of items they decode (issue 17).

glibc serves an allocation above its mmap threshold with its own mapping, returned on free, but raises the threshold
to the size of every such block freed; after the first image, a worker's image-sized buffers (0.75 MB at 256^2, 12 MB
per batch) come from the heap instead, where they fragment: measured on 256^2 JPEGs, the loader workers' memory grew
by ~0.5 MB per image decoded (process-tree PSS x1.6 from 128 to 1024 images). A fixed threshold keeps every buffer of
a megabyte or more in its own mapping; the workers are processes of ours, so the setting stays inside them.
"""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["worker_init"]

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
THRESHOLD_BYTES = 1 << 20


def worker_init(worker_id: int) -> None:
    """`worker_init_fn` of the data-walking loaders: a fixed mmap threshold (glibc only; elsewhere nothing)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)
