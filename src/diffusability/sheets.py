"""Image sheets: equal tiles in a grid, stored as one PNG whose text chunks say what each row and column shows and what
made it (the example images of Fig. 5).

Example images are results like the CSVs, but a CSV of pixels is neither tidy nor viewable (and has millions of
rows at paper scale); a sheet is an image a person can open and data a figure can slice. PNG is lossless and
written byte for byte the same on a rerun.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .provenance import atomic_write

__all__ = ["Sheet", "write_sheet", "read_sheet"]


class Sheet(NamedTuple):
    tiles: np.ndarray      # (rows, columns, H, W, 3) uint8
    rows: list[dict]       # what each row shows, e.g. {"method": "rgb", "image": 0}
    columns: list[dict]    # what each column shows, e.g. {"erase_fraction": 0.5}


def write_sheet(path: str | Path, sheet: Sheet, provenance: dict) -> Path:
    """One PNG of rows x columns tiles, its layout and `provenance` in text chunks; written atomically."""
    from PIL import Image, PngImagePlugin
    r, c, h, w, _ = sheet.tiles.shape
    if (r, c) != (len(sheet.rows), len(sheet.columns)):
        raise ValueError(f"a sheet of {r}x{c} tiles needs {r} row and {c} column labels, got "
                         f"{len(sheet.rows)} and {len(sheet.columns)}")
    image = Image.fromarray(np.ascontiguousarray(sheet.tiles.transpose(0, 2, 1, 3, 4).reshape(r * h, c * w, 3)))
    info = PngImagePlugin.PngInfo()
    info.add_text("layout", json.dumps({"rows": sheet.rows, "columns": sheet.columns, "tile": [h, w]}))
    info.add_text("provenance", json.dumps(provenance, sort_keys=True, default=str))
    return atomic_write(path, lambda f: image.save(f, format="PNG", pnginfo=info), mode="wb")


def read_sheet(path: str | Path) -> Sheet:
    from PIL import Image
    with Image.open(path) as image:
        layout = json.loads(image.text["layout"])
        pixels = np.asarray(image.convert("RGB"))
    (h, w), r, c = layout["tile"], len(layout["rows"]), len(layout["columns"])
    return Sheet(pixels.reshape(r, h, c, w, 3).transpose(0, 2, 1, 3, 4), layout["rows"], layout["columns"])
