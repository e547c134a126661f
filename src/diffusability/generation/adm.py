"""The file formats of ADM's evaluation suite (guided-diffusion's evaluator), which DiT, fast-DiT, REPA-E, EQ-VAE and
RAE report their FID with (issue 17, section 3), so that our DiTs can be compared with the published numbers.

- A reference batch (`VIRTUAL_imagenet256_labeled.npz`) holds `mu`/`sigma`: the Inception-v3 pool statistics of
  the whole ImageNet training set. `adm_reference_statistics` reads them as our reference statistics.
- Its `arr_0` (10K uint8 images) is what ADM's evaluator computes precision/recall against:
  `adm_reference_images` streams them (the real set of dit.extra_metrics' prc when dit.adm_reference is set).
- A sample batch is an `.npz` whose `arr_0` is uint8 N x H x W x 3 (and `arr_1` the class labels). `AdmSampleWriter`
  writes it batch by batch straight into the archive's `arr_0.npy` member (npy header first, rows after), so an
  export of 50K samples holds one batch in memory, and the finished file appears at once (written beside it, then
  renamed). A bare `.npy` (numpy.lib.format.open_memmap) would have to be copied into the archive afterwards: ADM's
  evaluator opens `arr_0` inside an `.npz`.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..metrics.frechet import to_uint8
from ..provenance import atomic_path

__all__ = ["adm_reference_statistics", "adm_reference_images", "AdmSampleWriter"]


def adm_reference_statistics(path: str | Path, kind: str) -> dict:
    """{"mu", "sigma"} (float64) of an ADM reference batch; only meaningful in the Inception feature space."""
    if kind != "inception":
        raise ValueError(f"an ADM reference batch holds Inception-v3 statistics, so it needs the inception feature "
                         f"space (set metrics.inception_weights), not {kind!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ADM reference batch {path} does not exist (download VIRTUAL_imagenet256_labeled.npz "
                                "from the guided-diffusion evaluations page and point the config at it)")
    with np.load(path) as f:
        missing = sorted({"mu", "sigma"} - set(f.files))
        if missing:
            raise ValueError(f"{path} is not an ADM reference batch: it has no {' or '.join(missing)}")
        mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not a mean and its covariance")
    return {"mu": mu, "sigma": sigma}


def adm_reference_images(path: str | Path, batch_size: int):
    """The images of an ADM batch's `arr_0` (uint8 N x H x W x 3) as uint8 (B, 3, H, W) batches, read from the
    archive member piece by piece (the 10K reference images at 256^2 are 2 GB: never loaded whole)."""
    with zipfile.ZipFile(path) as zf:
        if "arr_0.npy" not in zf.namelist():
            raise ValueError(f"{path} holds no arr_0 images, which precision/recall against an ADM reference batch "
                             "need (dit.extra_metrics: prc)")
        with zf.open("arr_0.npy") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            if dtype != np.uint8 or fortran or len(shape) != 4 or shape[3] != 3:
                raise ValueError(f"{path}: arr_0 is {dtype} {shape}, not uint8 N x H x W x 3 images")
            row = int(np.prod(shape[1:]))
            for start in range(0, shape[0], batch_size):
                n = min(batch_size, shape[0] - start)
                x = np.frombuffer(f.read(n * row), dtype=np.uint8).reshape(n, *shape[1:])
                yield torch.from_numpy(x.copy()).permute(0, 3, 1, 2).contiguous()


class AdmSampleWriter:
    """An ADM sample batch `.npz` (`arr_0`: uint8 N x H x W x 3; with `labels`, `arr_1`: int64 N class labels, as
    guided-diffusion's class-conditional samples) filled in order from images in [-1, 1].

    Rows go straight into the archive's `arr_0.npy` member (stored, not compressed: ADM's evaluator reads arr_0 in
    slices), npy header first: one batch in memory and each byte written once, no spooled copy of the array. The
    archive is written beside `path` and renamed when complete (provenance.atomic_path).
    """

    def __init__(self, path: str | Path, num: int, height: int, width: int, labels: bool = False):
        self.path, self.shape, self.rows = Path(path), (int(num), int(height), int(width), 3), 0
        self.labels = np.zeros(self.shape[0], np.int64) if labels else None
        self._atomic = atomic_path(self.path)
        self._zip = zipfile.ZipFile(self._atomic.__enter__(), "w", zipfile.ZIP_STORED, allowZip64=True)
        self._member = self._zip.open("arr_0.npy", "w", force_zip64=True)
        np.lib.format.write_array_header_1_0(self._member, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                                            "fortran_order": False, "shape": self.shape})

    def write(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """Append a batch of images (B, 3, H, W) in [-1, 1] (and their class labels, when the batch keeps them)."""
        if images.ndim != 4 or tuple(images.shape[2:]) != self.shape[1:3]:
            raise ValueError(f"ADM sample batches hold {self.shape[1]}x{self.shape[2]} images, "
                             f"got {tuple(images.shape)}")
        if self.rows + len(images) > self.shape[0]:
            raise ValueError(f"more than the {self.shape[0]} samples announced for {self.path}")
        if (labels is None) != (self.labels is None):
            raise ValueError(f"{self.path}: pass labels with every batch exactly when the writer keeps them "
                             f"(labels={self.labels is not None})")
        self._member.write(to_uint8(images).permute(0, 2, 3, 1).contiguous().numpy().tobytes())
        if labels is not None:
            self.labels[self.rows:self.rows + len(images)] = labels.to(torch.int64).numpy()
        self.rows += len(images)

    def close(self) -> Path:
        if self.rows != self.shape[0]:
            err = ValueError(f"{self.path}: {self.rows} samples written, {self.shape[0]} announced")
            self.abort(err)
            raise err
        self._member.close()
        if self.labels is not None:
            buf = io.BytesIO()
            np.save(buf, self.labels)
            self._zip.writestr("arr_1.npy", buf.getvalue())
        self._zip.close()
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self, err: BaseException) -> None:
        """Leave nothing behind (the partial archive is removed)."""
        self._member.close()
        self._zip.close()
        self._atomic.__exit__(type(err), err, err.__traceback__)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort(exc)
