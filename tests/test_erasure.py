"""Fig. 5's erasure study on a real (untrained) tiny AE run: its reference does not depend on the swept fractions or
the batch size, and its example images are stored as a PNG sheet that reads back pixel for pixel."""
import numpy as np
import pytest

from diffusability.analysis.erasure import erasure_study
from diffusability.provenance import provenance
from diffusability.sheets import Sheet, read_sheet, write_sheet
from conftest import random_tiny_ae_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ae")
    random_tiny_ae_run(out, ("threads=1",))
    return str(out)


def _study(run_dir, fractions, batch_size=32, grid_images=1):
    return erasure_study({"vanilla": run_dir}, fractions, latent_block=4, num_images=6, grid_images=grid_images,
                         grid_size=16, device="cpu", batch_size=batch_size)


def test_psnr_vs_clean_needs_no_zero_fraction_nor_a_batch_size(run_dir):
    with_zero, _ = _study(run_dir, [0.0, 0.5])
    without, _ = _study(run_dir, [0.5, 0.9], batch_size=4)  # 6 images: a full and a partial batch
    key = ["method", "erase_fraction"]
    a = with_zero.set_index(key).loc[("vanilla", 0.5)]
    b = without.set_index(key).loc[("vanilla", 0.5)]
    assert np.isfinite(without.psnr_vs_clean).all()
    assert b.psnr_vs_clean == pytest.approx(a.psnr_vs_clean, rel=1e-5)
    assert b.psnr == pytest.approx(a.psnr, rel=1e-5)
    # Erasing more destroys more, for the latent and for RGB.
    curves = without.set_index(key).psnr_vs_clean
    assert curves[("vanilla", 0.9)] < curves[("vanilla", 0.5)] and curves[("rgb", 0.9)] < curves[("rgb", 0.5)]


def test_example_images_round_trip_through_a_png_sheet(run_dir, tmp_path):
    _, sheet = _study(run_dir, [0.9, 0.0], grid_images=2)
    assert sheet.rows == [{"method": m, "image": i} for m in ("rgb", "vanilla") for i in (0, 1)]
    assert sheet.columns == [{"erase_fraction": 0.0}, {"erase_fraction": 0.9}]  # sorted
    assert sheet.tiles.shape == (4, 2, 16, 16, 3) and sheet.tiles.dtype == np.uint8
    assert not np.array_equal(sheet.tiles[0, 0], sheet.tiles[0, 1])  # 90% erased is not the image
    path = tmp_path / "grid.png"
    write_sheet(path, sheet, provenance=provenance({"test": True}, 0))
    first = path.read_bytes()
    back = read_sheet(path)
    assert np.array_equal(back.tiles, sheet.tiles) and back.rows == sheet.rows and back.columns == sheet.columns
    write_sheet(path, sheet, provenance=provenance({"test": True}, 0))
    assert path.read_bytes() == first  # a rerun writes the same bytes
    with pytest.raises(ValueError, match="needs 4 row and 2 column labels"):
        write_sheet(tmp_path / "bad.png", Sheet(sheet.tiles, sheet.rows[:3], sheet.columns), provenance={})
