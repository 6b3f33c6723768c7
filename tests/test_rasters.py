from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

import geo.rasters as rasters
from geo.errors import ConfigError, GridError, MissingCRSError
from geo.grid import Grid, equal_area_crs
from geo.rasters import BackgroundWriter, read_surface, write_cog


def make_grid(height: int, width: int, res: float = 1000.0) -> Grid:
    return Grid(equal_area_crs(20, 6), Affine(res, 0, -50_000, 0, -res, 40_000), width, height)


def surface(grid: Grid, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = (rng.random(grid.shape) * 100).astype("float32")
    a[0, :3] = np.nan
    a[-1, -1] = np.nan
    return a


def test_round_trip_keeps_values_nan_and_grid(tmp_path):
    grid = make_grid(37, 53)
    a = surface(grid)
    before = a.copy()
    out = write_cog(tmp_path / "gap.tif", a, grid, description="gap score", tags={"run": "r1", "n": 3})
    assert out == tmp_path / "gap.tif"
    np.testing.assert_array_equal(a, before)  # input untouched

    back, g2 = read_surface(out)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, a)  # NaN positions equal too
    assert g2.shape == grid.shape
    assert g2.transform.almost_equals(grid.transform)
    assert g2.crs.equals(grid.crs)
    with rasterio.open(out) as ds:
        assert ds.nodata == -9999.0
        assert ds.descriptions == ("gap score",)
        assert ds.tags()["run"] == "r1"
        assert ds.tags()["n"] == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gap.tif"]  # no temp or .aux.xml left


def test_file_is_a_tiled_cog_with_overviews(tmp_path):
    grid = make_grid(1100, 1300)
    path = write_cog(tmp_path / "big.tif", surface(grid, seed=1), grid)
    with rasterio.open(path) as ds:
        prof = ds.profile
        assert prof["driver"] == "GTiff"
        assert prof["tiled"] is True
        assert (prof["blockxsize"], prof["blockysize"]) == (512, 512)
        assert prof["compress"] == "deflate"
        assert ds.overviews(1) == [2, 4]  # halved until the smaller side fits one block
        structure = ds.tags(ns="IMAGE_STRUCTURE")
        assert structure["LAYOUT"] == "COG"
        assert structure["PREDICTOR"] == "2"  # horizontal differencing, floats too (geo.rasters.COG_OPTIONS)
        # overviews are averages: a 2x2 block of level 2 averages 4 full-resolution cells
        full = ds.read(1, masked=True)
        ov = ds.read(1, out_shape=(550, 650), masked=True)
        assert ov[300, 300] == pytest.approx(full[600:602, 600:602].mean(), rel=1e-5)


def test_integer_dtype_uses_nodata_for_nan(tmp_path):
    grid = make_grid(4, 5)
    a = np.arange(20, dtype="float64").reshape(4, 5)
    a[2, 3] = np.nan
    path = write_cog(tmp_path / "cls.tif", a, grid, dtype="int16", nodata=-1)
    with rasterio.open(path) as ds:
        assert ds.dtypes[0] == "int16"
        assert ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
        assert ds.read(1)[2, 3] == -1
    back, _ = read_surface(path)
    np.testing.assert_array_equal(back, a.astype("float32"))


def test_shape_mismatch_names_both_shapes(tmp_path):
    grid = make_grid(4, 5)
    with pytest.raises(GridError, match=r"\(5, 4\).*\(4, 5\)"):
        write_cog(tmp_path / "x.tif", np.zeros((5, 4)), grid)
    assert list(tmp_path.iterdir()) == []


def test_nodata_outside_dtype_is_refused(tmp_path):
    grid = make_grid(4, 5)
    with pytest.raises(ConfigError, match="uint8"):
        write_cog(tmp_path / "x.tif", np.zeros((4, 5)), grid, dtype="uint8", nodata=-9999.0)


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    grid = make_grid(4, 5)
    path = write_cog(tmp_path / "gap.tif", np.ones((4, 5)), grid)
    old = path.read_bytes()

    def broken_copy(src, dst, **kwargs):
        with open(dst, "wb") as f:
            f.write(b"half a tiff")
        raise RuntimeError("disk full")

    monkeypatch.setattr(rasters, "rio_copy", broken_copy)
    with pytest.raises(RuntimeError, match="disk full"):
        write_cog(path, np.zeros((4, 5)), grid)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["gap.tif"]


def test_read_surface_without_crs_raises(tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=3, height=2, count=1, dtype="float32",
        transform=Affine(1, 0, 0, 0, -1, 2),
    ) as ds:
        ds.write(np.zeros((2, 3), dtype="float32"), 1)
    with pytest.raises(MissingCRSError, match="no CRS"):
        read_surface(path)


def test_background_writer_waits_for_every_write(tmp_path):
    grid = make_grid(600, 700)  # more than one block: overviews too
    arrays = [surface(grid, seed=s) for s in range(4)]
    with BackgroundWriter(workers=2) as bw:
        for k, a in enumerate(arrays):
            bw.submit(write_cog, tmp_path / f"s{k}.tif", a, grid)
    for k, a in enumerate(arrays):  # all written once the block is left, each as written alone
        back, _ = read_surface(tmp_path / f"s{k}.tif")
        np.testing.assert_array_equal(back, a)
    assert bw.waited_s >= 0


def test_background_writer_raises_a_failed_write_after_the_others(tmp_path):
    grid = make_grid(4, 5)
    with pytest.raises(GridError, match="does not match grid shape"):
        with BackgroundWriter(workers=2) as bw:
            bw.submit(write_cog, tmp_path / "bad.tif", np.zeros((3, 3)), grid)
            bw.submit(write_cog, tmp_path / "good.tif", surface(grid), grid)
    assert (tmp_path / "good.tif").exists() and not (tmp_path / "bad.tif").exists()
    with pytest.raises(RuntimeError, match="outside its with block"):
        BackgroundWriter().submit(print)
