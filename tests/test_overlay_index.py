"""The overlay's warp index (maps.overlay.warp_index): an image drawn through it is the image
GDAL's warp of the surface itself gives, byte for byte.

The expectation is always computed here, the way :func:`maps.overlay.render_surface` drew an
image before the index existed: ``rasterio.warp.reproject`` of the float32 surface (nearest
neighbour, NaN nodata) onto the image's Web Mercator frame, coloured with
:func:`geo.legend.colorize` and encoded with Pillow. The frame (size and bounds) is derived
here too, from the grid's lon/lat footprint."""

import base64
import io
import math
import re
import threading

import numpy as np
import pytest
from affine import Affine
from PIL import Image
from pyogrio.errors import DataSourceError
from pyproj import CRS, Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.warp import Resampling, reproject
from test_monitor_map import DATES, folder  # noqa: F401  (fixture: the hand-made monitor folder)

import maps.overlay as overlay
from geo.errors import GridError
from geo.grid import Grid, equal_area_crs
from geo.legend import colorize, style_for
from geo.public import block_cells, public_gap
from geo.rasters import read_surface
from maps.monitor import MONITOR_MAX_PIXELS, monitor_map
from maps.overlay import clear_warp_cache, render_surface, warp_index

MERC_LAT = 85.0511287798066
TO_MERC = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def gdal_frame(grid: Grid, max_pixels: int):
    """The image frame: the grid's footprint in Mercator, one pixel per cell at the centre
    latitude, scaled down to ``max_pixels``."""
    w, s, e, n = grid.bounds_lonlat()
    s, n = max(s, -MERC_LAT), min(n, MERC_LAT)
    (x0, x1), (y0, y1) = TO_MERC.transform([w, e], [s, n])
    px = grid.resolution / math.cos(math.radians((s + n) / 2))
    width, height = max(1, round((x1 - x0) / px)), max(1, round((y1 - y0) / px))
    if width * height > max_pixels:
        f = math.sqrt(max_pixels / (width * height))
        width, height = max(1, int(width * f)), max(1, int(height * f))
    return width, height, Affine((x1 - x0) / width, 0, x0, 0, -(y1 - y0) / height, y1), (w, s, e, n)


def gdal_warp(values: np.ndarray, grid: Grid, max_pixels: int) -> np.ndarray:
    """The surface warped by GDAL itself, as render_surface did per image."""
    width, height, transform, _ = gdal_frame(grid, max_pixels)
    dst = np.full((height, width), np.nan, dtype=np.float32)
    reproject(np.asarray(values, dtype=np.float32), dst, src_transform=grid.transform,
              src_crs=RioCRS.from_wkt(grid.crs.to_wkt()), src_nodata=np.nan, dst_transform=transform,
              dst_crs=RioCRS.from_wkt(CRS.from_epsg(3857).to_wkt()), dst_nodata=np.nan, resampling=Resampling.nearest)
    return dst


def gdal_png(values: np.ndarray, grid: Grid, style, max_pixels: int, optimize: bool) -> bytes:
    rgba = colorize(gdal_warp(values, grid, max_pixels), style, alpha=200)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", **({"optimize": True} if optimize else {"compress_level": 6}))
    return buf.getvalue()


def assert_same_image(values, grid, style, max_pixels, optimize=False):
    clear_warp_cache()
    expected = gdal_warp(values, grid, max_pixels)
    np.testing.assert_array_equal(warp_index(grid, max_pixels).take(values), expected)  # NaN == NaN here
    img = render_surface(values, grid, style, max_pixels=max_pixels, optimize=optimize)
    width, height, _, bounds = gdal_frame(grid, max_pixels)
    assert (img.width, img.height) == (width, height) == expected.shape[::-1]
    assert np.allclose(img.bounds_lonlat, bounds, rtol=0, atol=1e-12)
    assert img.png == gdal_png(values, grid, style, max_pixels, optimize)


def synthetic(lon0: float, lat0: float, width: int, height: int, res: float, seed: int = 0):
    """A grid centred on (lon0, lat0), gap-like values with NaN edges and scattered NaN holes."""
    grid = Grid(equal_area_crs(lon0, lat0), Affine(res, 0, -width * res / 2, 0, -res, height * res / 2),
                width, height)
    rng = np.random.default_rng(seed)
    values = (rng.random(grid.shape) * 100).astype(np.float32)
    values[rng.random(grid.shape) < 0.15] = np.nan
    values[:3, :] = np.nan  # the grid's edges: no value, as outside a country
    values[:, -2:] = np.nan
    return values, grid


@pytest.mark.parametrize(("lon0", "lat0", "width", "height", "res", "max_pixels"), [
    (20.0, 6.0, 120, 90, 10_000.0, 4_000_000),  # one pixel per cell
    (20.0, 6.0, 120, 90, 10_000.0, 2_000),  # scaled down
    (-3.0, 17.0, 311, 157, 1_000.0, 600_000),
    (15.0, 55.0, 200, 260, 5_000.0, 4_000_000),  # far from the equator: rows stretch
    (140.0, -35.0, 77, 403, 2_500.0, 10_000),
    (0.0, 0.0, 1, 1, 1_000.0, 4_000_000),  # one cell
])
def test_the_index_picks_the_cells_gdal_picks_on_synthetic_grids(lon0, lat0, width, height, res, max_pixels):
    values, grid = synthetic(lon0, lat0, width, height, res)
    assert_same_image(values, grid, style_for("gap"), max_pixels)


def test_the_index_picks_the_cells_gdal_picks_on_the_demo_surfaces(demo_analysis):
    for name in ("gap", "risk", "coverage", "travel_time", "population"):
        values, grid = read_surface(demo_analysis / f"{name}.tif")
        assert np.isnan(values).any()  # the country's edges and nodata are part of the check
        for max_pixels in (600_000, 4_000_000, 50_000):
            assert_same_image(values, grid, style_for(name), max_pixels, optimize=max_pixels == 50_000)


@pytest.mark.parametrize("fill", [np.nan, 42.0])
def test_surfaces_without_nan_or_all_nan(fill):
    _, grid = synthetic(25.0, 2.0, 80, 50, 10_000.0, seed=2)
    assert_same_image(np.full(grid.shape, fill, dtype=np.float32), grid, style_for("gap"), 600_000)


def test_float64_cell_numbers_for_grids_beyond_int32(monkeypatch):
    monkeypatch.setattr(overlay, "_INT32_CELLS", 10)  # as if the grid had more than 2**31 cells
    values, grid = synthetic(20.0, 6.0, 150, 100, 5_000.0, seed=3)
    assert_same_image(values, grid, style_for("gap"), 600_000)


def test_integer_and_float64_surfaces_are_drawn_as_their_float32_values():
    values, grid = synthetic(30.0, -2.0, 90, 60, 10_000.0, seed=1)
    ints = np.nan_to_num(values, nan=-1).astype(np.int16)
    assert_same_image(ints, grid, style_for("gap"), 600_000)
    assert_same_image(values.astype(np.float64), grid, style_for("gap"), 600_000)


def test_the_index_is_computed_once_per_grid_and_size(monkeypatch):
    clear_warp_cache()
    calls = []
    real = overlay.build_warp_index
    monkeypatch.setattr(overlay, "build_warp_index", lambda g, mp: calls.append(mp) or real(g, mp))
    _, grid = synthetic(20.0, 6.0, 60, 40, 10_000.0)
    threads = [threading.Thread(target=warp_index, args=(grid, 600_000)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    same = Grid(equal_area_crs(20.0, 6.0), grid.transform, grid.width, grid.height)  # equal, not identical
    assert warp_index(same, 600_000) is warp_index(grid, 600_000)
    assert warp_index(grid, 1_000) is not warp_index(grid, 600_000)
    moved = Grid(grid.crs, grid.transform @ Affine.translation(1, 0), grid.width, grid.height)
    warp_index(moved, 600_000)
    assert calls == [600_000, 1_000, 600_000]
    with pytest.raises(ValueError):  # the kept index is shared: read-only
        warp_index(grid, 600_000).cells[0] = 1


def test_the_kept_indexes_are_bounded(monkeypatch):
    clear_warp_cache()
    _, grid = synthetic(20.0, 6.0, 30, 20, 10_000.0)
    first = warp_index(grid, 100)
    for k in range(overlay.WARP_INDEXES_KEPT):
        warp_index(grid, 200 + k)
    assert len(overlay.WARP_INDEXES) == overlay.WARP_INDEXES_KEPT
    assert warp_index(grid, 100) is not first  # the oldest was dropped, and computed again


def test_a_surface_of_another_shape_is_refused():
    values, grid = synthetic(20.0, 6.0, 30, 20, 10_000.0)
    with pytest.raises(GridError, match="shape"):
        render_surface(values[:, :-1], grid, style_for("gap"))


@pytest.mark.parametrize("public", [False, True])
def test_the_monitor_images_are_the_gdal_images(folder, public):  # noqa: F811
    """End to end on the hand-made monitor folder of test_monitor_map: each embedded PNG is
    the one drawn from the GDAL warp of that date's COG (the viewers': of its block gap)."""
    clear_warp_cache()
    page = monitor_map(folder, public=public).get_root().render()
    urls = re.findall(r"L\.imageOverlay\(\s*\"data:image/png;base64,([^\"]+)\"", page)
    expected = []
    for d in DATES:
        for surface in ("gap", "risk"):
            values, grid = read_surface(folder / "dates" / d / f"{surface}.tif")
            if public and surface == "gap":
                values, surface = public_gap(values, block_cells(grid.resolution)), "gap_public"
            expected.append(gdal_png(values, grid, style_for(surface), MONITOR_MAX_PIXELS, False))
    assert [base64.b64decode(u) for u in urls] == expected


def test_a_broken_zones_file_fails_the_monitor_map(folder):  # noqa: F811
    (folder / "dates" / DATES[0] / "zones.geojson").write_text("{not json")
    with pytest.raises(DataSourceError, match="zones.geojson"):  # the images not yet begun are cancelled
        monitor_map(folder)
