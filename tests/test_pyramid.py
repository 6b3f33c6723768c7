"""Tile pyramids: a small COG -> MBTiles, checked against tile math done by hand and the legend."""

from __future__ import annotations

import io
import math
import sqlite3

import numpy as np
import pytest
from affine import Affine
from PIL import Image

from geo.errors import ConfigError, LayerError
from geo.grid import Grid, equal_area_crs
from geo.legend import style_for
from geo.pyramid import MBTilesReader, pyramid_tiles, render_pyramid
from geo.rasters import write_cog
from geo.tiles import UnknownSurfaceError

CRS = equal_area_crs(20.0, 6.0)
# 300 x 400 cells of 1 km around (20E, 6N); gap stripes of 80 columns, one per class; top 60 rows no data
STRIPES = (5.0, 15.0, 27.5, 42.5, 75.0)  # one value inside each gap class (breaks 10, 20, 35, 50)


@pytest.fixture(scope="module")
def cog(tmp_path_factory):
    grid = Grid(CRS, Affine(1000.0, 0, -200_000.0, 0, -1000.0, 150_000.0), 400, 300)
    gap = np.repeat(np.array(STRIPES), 80)[None, :].repeat(300, axis=0)
    gap[:60] = np.nan
    path = tmp_path_factory.mktemp("cog") / "gap.tif"
    write_cog(path, gap, grid)
    return path, grid


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """Tile and pixel (x, y, px, py) of a point, by the Web Mercator formulas."""
    n = 2**z
    fx = (lon + 180.0) / 360.0 * n
    lr = math.radians(lat)
    fy = (1.0 - math.log(math.tan(lr) + 1.0 / math.cos(lr)) / math.pi) / 2.0 * n
    return int(fx), int(fy), int((fx - int(fx)) * 256), int((fy - int(fy)) * 256)


def _expected_count(bounds, minzoom, maxzoom) -> int:
    w, s, e, n = bounds
    total = 0
    for z in range(minzoom, maxzoom + 1):
        x0, y0, _, _ = _tile_of(w, n, z)
        x1, y1, _, _ = _tile_of(e, s, z)
        total += (x1 - x0 + 1) * (y1 - y0 + 1)
    return total


def _rgba(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (256, 256)
        return np.asarray(im.convert("RGBA"))


@pytest.fixture(scope="module")
def client():
    from geo.dask import connect

    with connect("local:2") as c:
        yield c


@pytest.mark.slow
def test_a_pyramid_rendered_on_a_cluster_opens_with_metadata_and_legend_colours(cog, tmp_path, client):
    path, grid = cog
    out = render_pyramid(path, tmp_path / "gap.mbtiles", surface="gap", minzoom=0, maxzoom=7,
                         client=client, batch_span=4)
    with MBTilesReader(out) as r:
        md = r.metadata
        assert md["format"] == "png" and md["minzoom"] == "0" and md["maxzoom"] == "7"
        assert (md["tile_size"], md["resampling"], md["render_version"]) == ("256", "nearest", "1")
        w, s, e, n = r.bounds
        gw, gs, ge, gn = grid.bounds_lonlat()
        assert (w, s, e, n) == pytest.approx((gw, gs, ge, gn), abs=0.01)
        assert r.count() == _expected_count(r.bounds, 0, 7) == len(pyramid_tiles(r.bounds, 0, 7))
        assert r.get(0, 0, 0) is not None
        assert r.get(7, 0, 0) is None  # far outside: not in the file
        assert r.get(-1, 0, 0) is None and r.get(2, 4, 0) is None
        # a point in the middle of each stripe has its class colour; the no-data band is transparent
        table = style_for("gap").rgba_table()
        xs, ys = grid.cell_centres()
        from pyproj import Transformer

        to_ll = Transformer.from_crs(grid.crs, 4326, always_xy=True)
        for k in range(len(STRIPES)):
            lon, lat = to_ll.transform(xs[k * 80 + 40], ys[200])
            x, y, px, py = _tile_of(lon, lat, 7)
            rgba = _rgba(r.get(7, x, y))
            assert rgba[py, px].tolist() == table[k].tolist(), f"stripe {k}"
        lon, lat = to_ll.transform(xs[200], ys[20])
        x, y, px, py = _tile_of(lon, lat, 7)
        assert _rgba(r.get(7, x, y))[py, px, 3] == 0


def test_the_same_pyramid_renders_without_a_cluster(cog, tmp_path):
    path, _ = cog
    out = render_pyramid(path, tmp_path / "p.mbtiles", surface="gap", minzoom=2, maxzoom=4)
    with sqlite3.connect(out) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names == {"metadata", "tiles"}
        rows = db.execute("SELECT tile_row FROM tiles WHERE zoom_level = 2").fetchall()
    with MBTilesReader(out) as r:
        assert r.count() == _expected_count(r.bounds, 2, 4)
        # rows are stored TMS (flipped); the reader takes XYZ
        x, y, _, _ = _tile_of(20.0, 6.0, 2)
        assert (2**2 - 1 - y,) in rows and r.get(2, x, y) is not None
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_requests_are_named(cog, tmp_path):
    path, _ = cog
    with pytest.raises(UnknownSurfaceError, match=r"^no tiles for surface 'nope'; known surfaces: gap, risk, coverage, "):
        render_pyramid(path, tmp_path / "x.mbtiles", surface="nope")
    with pytest.raises(ConfigError, match="minzoom"):
        render_pyramid(path, tmp_path / "x.mbtiles", surface="gap", minzoom=5, maxzoom=2)
    with pytest.raises(LayerError, match="does not exist"):
        render_pyramid(tmp_path / "missing.tif", tmp_path / "x.mbtiles", surface="gap")
    with pytest.raises(LayerError, match="does not exist"):
        MBTilesReader(tmp_path / "missing.mbtiles")
    (tmp_path / "junk.mbtiles").write_bytes(b"not sqlite at all" * 10)
    with pytest.raises(LayerError, match="not an MBTiles"):
        MBTilesReader(tmp_path / "junk.mbtiles")
