"""Processes whose memory does not creep with the number of items they walk through (issue 17).

glibc serves an allocation above its mmap threshold with its own mapping, returned on free, but raises the threshold
to the size of every such block freed; after the first image, a worker's image-sized buffers (0.75 MB at 256^2, 12 MB
per batch) come from the heap instead, where they fragment: measured on 256^2 JPEGs, the loader workers' memory grew
by ~0.5 MB per image decoded (process-tree PSS x1.6 from 128 to 1024 images). A fixed threshold keeps every buffer of
a megabyte or more in its own mapping. The same holds in the main process when it decodes itself (num_workers=0: x1.24
at 32 -> 256 photos of 256^2 without it), so the data-walking stages set it there too: they run as jobs of their own,
and the setting changes where large buffers live, not any result.
"""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["steady_heap", "worker_init"]

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
THRESHOLD_BYTES = 1 << 20


def steady_heap() -> None:
    """A fixed mmap threshold for this process (glibc only; elsewhere nothing)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)


def worker_init(worker_id: int) -> None:
    """`worker_init_fn` of the data-walking loaders."""
    steady_heap()
