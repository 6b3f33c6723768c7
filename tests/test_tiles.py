"""XYZ PNG tiles (geo.tiles, api.tiles): pixels, colours, errors, caching, and the HTTP routes.

Cross-checks: the tile's pixels against classes worked out by hand for a raster of
known blocks (tile math by the Web Mercator formulas, the equal-area projection by
PROJ) and against rio-tiler's own ``Reader.tile``; its colours against
``geo.legend.colorize`` of the same array; the PNG against Pillow's decoder.
"""

from __future__ import annotations

import io
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from affine import Affine
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from pyproj import Transformer
from rasterio.warp import transform_bounds
from rio_tiler.io import Reader

from api.tiles import (
    CACHE_CONTROL,
    TileCoordinateError,
    TileOutsideBoundsError,
    TileRenderer,
    UnknownSurfaceError,
    add_tile_error_handlers,
    tiles_router,
)
from api.tiles.cache import SizedLRU
from cli.main import main as cli_main
from geo.errors import VacuumError
from geo.grid import Grid, equal_area_crs
from geo.legend import STYLES, colorize, style_for
from geo.rasters import write_cog
from geo.tiles import PNG_SIGNATURE, HandlePool, class_index, encode_palette_png, render_tile

TMS = morecantile.tms.get("WebMercatorQuad")

# rio-tiler 9.4's Reader (the reference in the cross-checks) multiplies Affines with `*`
# inside rasterio, which affine 3 flags as pending deprecation. Only the tests that call
# rio-tiler themselves let that through; the renderer raises no warning of its own.
RIO_TILER_REFERENCE = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning"
)


# ----------------------------------------------------------------------------- helpers
def rgba(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGBA"))


def as_nan(values: np.ma.MaskedArray) -> np.ndarray:
    """(1, h, w) masked -> (h, w) float with NaN where masked, as colorize takes it."""
    v = np.ma.getdata(values)[0].astype(np.float64)
    v[np.ma.getmaskarray(values)[0]] = np.nan
    return v


def legend_colours(surface: str) -> set[tuple[int, ...]]:
    return {tuple(int(c) for c in row) for row in style_for(surface).rgba_table()}


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    t = TMS.tile(lon, lat, z)
    return z, t.x, t.y


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def demo_gap(tmp_path_factory) -> Path:
    """gap.tif of the real MINUSCA demo analysis (CAR, 1547 x 1068 cells at 1 km)."""
    out = tmp_path_factory.mktemp("demo")
    assert cli_main(["demo", "--out", str(out), "--quiet", "--jobs", "2"]) == 0
    return out / "gap.tif"


DEMO_CENTRE = (20.9, 6.6)  # lon, lat near the middle of the demo grid

SMALL_CENTRE = (20.0, 6.0)


def small_surface(path: Path, *, seed: int = 0, shift: float = 0.0) -> Path:
    """A 300 x 200 km gap-like surface on an equal-area grid: a ramp 0..100 west to east,
    a block of no data, written as our products are."""
    grid = Grid(equal_area_crs(*SMALL_CENTRE), Affine(1000.0, 0, -150_000, 0, -1000.0, 100_000), 300, 200)
    rng = np.random.default_rng(seed)
    a = np.tile(np.linspace(0, 100, 300, dtype=np.float32), (200, 1)) + rng.normal(0, 1, (200, 300)).astype(np.float32)
    a = np.clip(a + shift, 0, 100)
    a[50:80, 100:140] = np.nan
    return write_cog(path, a, grid, description="gap")


@pytest.fixture
def small_cog(tmp_path) -> Path:
    return small_surface(tmp_path / "gap.tif")


# A surface of known values at known places: 1024 x 768 cells of 1 km on an equal-area
# grid centred on SMALL_CENTRE (so the centre is a corner of four blocks), in blocks of
# 64 x 64 cells; block (i, j) holds CLASS_MIDS[k] with k = (i + 2 j) % 5, a value well inside
# gap class k (breaks 10, 20, 35, 50); block NAN_BLOCK holds no data. write_cog adds a x2 overview (averaged: blocks
# are aligned to it, so it holds the same block values).
BLOCK = 64
CLASS_MIDS = np.array([5.0, 15.0, 27.5, 42.5, 75.0], dtype=np.float32)
BLOCKS_GRID = Grid(equal_area_crs(*SMALL_CENTRE), Affine(1000.0, 0, -512_000.0, 0, -1000.0, 384_000.0), 1024, 768)
NAN_BLOCK = (2, 5)
EARTH_R = 6378137.0  # the sphere of Web Mercator


def blocks_surface(path: Path) -> Path:
    rows, cols = np.mgrid[0:768, 0:1024]
    assert tuple(style_for("gap").breaks) == (10, 20, 35, 50)  # what CLASS_MIDS sit between
    a = CLASS_MIDS[(rows // BLOCK + 2 * (cols // BLOCK)) % 5]
    a[(rows // BLOCK == NAN_BLOCK[0]) & (cols // BLOCK == NAN_BLOCK[1])] = np.nan
    return write_cog(path, a, BLOCKS_GRID, description="gap")


@pytest.fixture(scope="module")
def blocks_cog(tmp_path_factory) -> Path:
    return blocks_surface(tmp_path_factory.mktemp("blocks") / "gap.tif")


def expected_blocks_tile(z: int, x: int, y: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """RGBA of tile z/x/y of blocks_surface worked out by hand, and the pixels to compare.

    Each pixel centre goes from tile to Web Mercator metres to lon/lat by the spherical
    Mercator formulas, then to the grid by PROJ, and takes the colour of its block's
    class (transparent off the grid or in NAN_BLOCK). Compared: pixels whose centre is
    more than one cell (1 km) from a block edge. Nearer to an edge, GDAL's approximate
    transformer (0.01 tile pixel) and a resampled overview may rightly pick the cell on
    the other side; farther away every cell in reach has the block's value.
    """
    half = math.pi * EARTH_R
    step = 2 * half / (1 << z) / size
    centres = np.arange(size) + 0.5
    mx, my = np.meshgrid(-half + (x * size + centres) * step, half - (y * size + centres) * step)
    lon = np.degrees(mx / EARTH_R)
    lat = np.degrees(np.arctan(np.sinh(my / EARTH_R)))
    ex, ny = Transformer.from_crs("EPSG:4326", BLOCKS_GRID.crs, always_xy=True).transform(lon, lat)
    col, row = (ex + 512_000.0) / 1000.0, (384_000.0 - ny) / 1000.0
    bi, bj = np.floor(row / BLOCK).astype(int), np.floor(col / BLOCK).astype(int)
    data = (col >= 0) & (col < 1024) & (row >= 0) & (row < 768) & ~((bi == NAN_BLOCK[0]) & (bj == NAN_BLOCK[1]))
    want = np.zeros((size, size, 4), dtype=np.uint8)
    want[data] = style_for("gap").rgba_table()[((bi + 2 * bj) % 5)[data]]
    to_edge = np.minimum(np.abs(col - BLOCK * np.round(col / BLOCK)), np.abs(row - BLOCK * np.round(row / BLOCK)))
    return want, to_edge > 1.0


# ----------------------------------------------------------------------------- the demo COG
@pytest.mark.slow
def test_demo_tile_is_a_256_png_in_legend_colours(demo_gap):
    png, etag = TileRenderer().render(demo_gap, "gap", *tile_at(*DEMO_CENTRE, 6))
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (256, 256)
    px = rgba(png)
    opaque = px[px[..., 3] > 0]
    assert len(opaque) > 1000
    assert {tuple(int(c) for c in p) for p in np.unique(opaque, axis=0)} <= legend_colours("gap")
    assert (px[px[..., 3] == 0] == 0).all()  # no data: fully transparent
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 16


@pytest.mark.slow
@pytest.mark.parametrize("z", [3, 5, 7, 9])
@RIO_TILER_REFERENCE
def test_colours_are_colorize_of_the_array_rio_tiler_reads(demo_gap, z):
    z, x, y = tile_at(*DEMO_CENTRE, z)
    renderer = TileRenderer(cache_tiles=0)
    with Reader(str(demo_gap), tms=TMS) as src:
        ref = src.tile(x, y, z, tilesize=256).array
    want = colorize(as_nan(ref), style_for("gap"))
    np.testing.assert_array_equal(rgba(renderer.encode("gap", ref)), want)
    # and the renderer's own read: its PNG is exactly colorize of what it read
    mine = renderer.read(renderer.tile_key(demo_gap, "gap", z, x, y))
    np.testing.assert_array_equal(rgba(renderer.render(demo_gap, "gap", z, x, y)[0]),
                                  colorize(as_nan(mine), style_for("gap")))


@pytest.mark.parametrize("z", [4, 5, 6, 8, 11])
def test_tile_pixels_are_the_classes_worked_out_by_hand(blocks_cog, z):
    z, x, y = tile_at(*SMALL_CENTRE, z)
    px = rgba(render_tile(blocks_cog, "gap", z, x, y))
    want, compared = expected_blocks_tile(z, x, y)
    assert compared.mean() > 0.75  # most of the tile is compared
    assert len(np.unique(want[compared], axis=0)) >= 3  # and it shows several classes
    np.testing.assert_array_equal(px[compared], want[compared])


@pytest.mark.parametrize("z", [4, 5, 6, 8, 11])
@RIO_TILER_REFERENCE
def test_tile_classes_agree_with_rio_tiler_away_from_block_edges(blocks_cog, z):
    # rio-tiler warps each tile with GDAL's default approximation (0.125 tile pixel, at
    # most ~1.2 km at zoom 4), so it agrees with us exactly only away from class edges:
    # the pixels expected_blocks_tile compares, which are over 1 km from one
    z, x, y = tile_at(*SMALL_CENTRE, z)
    mine = TileRenderer(cache_tiles=0).render(blocks_cog, "gap", z, x, y)[0]
    with Reader(str(blocks_cog), tms=TMS) as src:
        ref = colorize(as_nan(src.tile(x, y, z, tilesize=256).array), style_for("gap"))
    _, compared = expected_blocks_tile(z, x, y)
    np.testing.assert_array_equal(rgba(mine)[compared], ref[compared])


@pytest.mark.slow
def test_threads_render_what_one_thread_renders(demo_gap):
    tiles = [tile_at(*DEMO_CENTRE, z) for z in (5, 6, 7, 8)]
    tiles += [(z, x + 1, y) for z, x, y in tiles]
    one = [TileRenderer(cache_tiles=0).render(demo_gap, "gap", *t)[0] for t in tiles]
    shared = TileRenderer(cache_tiles=0, max_open=4)
    with ThreadPoolExecutor(8) as ex:
        many = list(ex.map(lambda t: shared.render(demo_gap, "gap", *t)[0], tiles * 4))
    assert many == one * 4


# ----------------------------------------------------------------------------- renderer
def test_tile_outside_the_surface_raises(small_cog):
    with pytest.raises(TileOutsideBoundsError, match=r"tile 6/0/0 is outside the gap surface.*lon"):
        TileRenderer().render(small_cog, "gap", 6, 0, 0)
    assert issubclass(TileOutsideBoundsError, LookupError) and issubclass(TileOutsideBoundsError, VacuumError)


@pytest.mark.parametrize(("z", "x", "y", "match"), [
    (-1, 0, 0, r"zoom z=-1 is outside 0\.\.24"),
    (25, 0, 0, r"zoom z=25 is outside 0\.\.24"),
    (3, 8, 0, r"x=8, y=0 is outside 0\.\.7 at zoom 3"),
    (3, 0, -1, r"x=0, y=-1 is outside 0\.\.7"),
    (0, 1, 0, r"outside 0\.\.0"),
    (10**6, 0, 0, r"zoom z=1000000 is outside 0\.\.24"),
    (24, 2**24, 0, r"tile x=16777216, y=0 is outside 0\.\.16777215 at zoom 24"),
    (2, 0, -(2**70), r"tile x=0, y=-1180591620717411303424 is outside 0\.\.3 at zoom 2"),
    (True, 0, 0, r"z=True is not an integer"),
    (3, 1.5, 0, r"x=1\.5 is not an integer"),
])
def test_bad_coordinates_raise(small_cog, z, x, y, match):
    with pytest.raises(TileCoordinateError, match=match):
        TileRenderer().render(small_cog, "gap", z, x, y)
    assert issubclass(TileCoordinateError, ValueError)


def test_unknown_surface_names_the_known_ones(small_cog):
    with pytest.raises(UnknownSurfaceError, match=r"'gapp'; known surfaces: gap, risk, coverage, threat") as e:
        TileRenderer().render(small_cog, "gapp", 6, 35, 31)
    assert isinstance(e.value, LookupError) and isinstance(e.value, VacuumError)
    assert str(e.value).startswith("no tiles")  # not quoted like a bare KeyError


def test_a_cache_hit_returns_the_same_bytes_and_etag(small_cog):
    r = TileRenderer()
    t = tile_at(*SMALL_CENTRE, 8)
    png1, etag1 = r.render(small_cog, "gap", *t)
    png2, etag2 = r.render(small_cog, "gap", *t)
    assert png2 is png1 and etag2 == etag1
    assert r.stats()["hits"] >= 1 and r.stats()["tiles_cached"] == 1 and r.stats()["renders"] == 1
    # uncached, the same pixels and the same ETag
    assert TileRenderer(cache_tiles=0).render(small_cog, "gap", *t) == (png1, etag1)
    # another surface style over the same file: another ETag
    assert r.render(small_cog, "coverage", *t)[1] != etag1


def test_a_rewritten_file_gets_new_tiles_and_a_new_etag(tmp_path):
    path = small_surface(tmp_path / "gap.tif")
    r = TileRenderer()
    t = tile_at(*SMALL_CENTRE, 8)
    png1, etag1 = r.render(path, "gap", *t)
    opened = r.stats()["handles_opened"]
    small_surface(path, shift=30.0)  # atomic rewrite: new inode and mtime
    png2, etag2 = r.render(path, "gap", *t)
    assert etag2 != etag1 and png2 != png1
    # the old version's handles were closed (they would pin the deleted file)
    assert r.stats()["handles_idle"] == 1 and r.stats()["handles_opened"] == opened + 1
    assert r.stats()["files"] == 1


def test_tile_outside_data_but_inside_the_grid_is_transparent(small_cog):
    # the block of no data (NaN) in the middle is transparent; the rest is legend colours
    px = rgba(TileRenderer().render(small_cog, "gap", *tile_at(*SMALL_CENTRE, 7))[0])
    assert (px[..., 3] == 0).any() and (px[..., 3] == 200).any()
    assert set(np.unique(px[..., 3])) == {0, 200}


def test_bilinear_and_tile_size_options(small_cog):
    z, x, y = tile_at(*SMALL_CENTRE, 10)
    png, _ = TileRenderer(tile_size=512, resampling="bilinear").render(small_cog, "gap", z, x, y)
    px = rgba(png)
    assert px.shape == (512, 512, 4)
    assert {tuple(int(c) for c in p) for p in np.unique(px[px[..., 3] > 0], axis=0)} <= legend_colours("gap")
    with pytest.raises(ValueError, match="resampling must be"):
        TileRenderer(resampling="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tile_size must be"):
        TileRenderer(tile_size=10)


@RIO_TILER_REFERENCE
def test_tilejson_bounds_and_zooms_come_from_the_cog(small_cog):
    tj = TileRenderer().tilejson(small_cog, "gap", "https://h/t/{z}/{x}/{y}.png")
    with rasterio.open(small_cog) as ds, Reader(str(small_cog), tms=TMS) as src:
        want = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
        assert (tj["minzoom"], tj["maxzoom"]) == (src.minzoom, src.maxzoom)
    np.testing.assert_allclose(tj["bounds"], want, rtol=0, atol=1e-9)
    assert tj["tilejson"] == "3.0.0" and tj["tiles"] == ["https://h/t/{z}/{x}/{y}.png"]
    w, s, e, n = tj["bounds"]
    assert w < tj["center"][0] < e and s < tj["center"][1] < n and tj["center"][2] == tj["minzoom"]


def test_legend_is_geo_legend():
    for name, style in STYLES.items():
        leg = TileRenderer().legend(name)
        assert [c["label"] for c in leg["classes"]] == list(style.labels)
        assert [c["color"] for c in leg["classes"]] == list(style.colors)
        assert [c["min"] for c in leg["classes"]][1:] == list(style.breaks)
        assert [c["max"] for c in leg["classes"]][:-1] == list(style.breaks)
        assert leg["title"] == style.title and leg["unit"] == style.unit
    with pytest.raises(UnknownSurfaceError):
        TileRenderer().legend("nope")


def test_a_deleted_file_is_not_found(small_cog):
    r = TileRenderer()
    t = tile_at(*SMALL_CENTRE, 8)
    r.render(small_cog, "gap", *t)
    os.remove(small_cog)
    with pytest.raises(LookupError, match="has no raster file"):
        r.render(small_cog, "gap", *t)


# ----------------------------------------------------------------------------- pieces
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=50), st.sampled_from(sorted(STYLES)))
@example([0.2, np.nextafter(np.float32(0.2), np.float32(0)), 20.0, 19.999998, np.inf, -np.inf], "coverage")
@example([1.0, 0.99999994, 12.0, 11.999999], "travel_time")
def test_class_index_is_colorize_s_classes(values, surface):
    style = STYLES[surface]
    v = np.asarray(values, dtype=np.float32)
    want = np.searchsorted(np.asarray(style.breaks, dtype=np.float64), v.astype(np.float64), side="right")
    np.testing.assert_array_equal(class_index(v, np.asarray(style.breaks, dtype=np.float64)), want)
    np.testing.assert_array_equal(class_index(v.astype(np.float64), np.asarray(style.breaks, dtype=np.float64)), want)


def test_palette_png_decodes_to_the_palette():
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    png = encode_palette_png(index, bytes([255, 0, 0, 0, 255, 0, 0, 0, 0]), bytes([200, 255, 0]))
    px = rgba(png)
    np.testing.assert_array_equal(px[0, 0], [255, 0, 0, 200])
    np.testing.assert_array_equal(px[0, 1], [0, 255, 0, 255])
    np.testing.assert_array_equal(px[0, 2], [0, 0, 0, 0])
    np.testing.assert_array_equal(px[1], px[0, ::-1])
    with pytest.raises(ValueError, match="2-D uint8"):
        encode_palette_png(index.astype(np.int32), b"\x00" * 9, b"")


def test_tile_cache_is_bounded_by_count_and_bytes():
    c: SizedLRU[bytes] = SizedLRU(max_items=3, max_bytes=10)
    for i in range(5):
        c.put(i, b"ab", 2)
    assert len(c) == 3 and c.get(0) is None and c.get(4) == b"ab"
    c.put("big", b"x" * 9, 9)  # evicts until it fits in 10 bytes
    assert c.nbytes <= 10 and c.get("big") == b"x" * 9
    c.put("huge", b"x" * 11, 11)  # larger than the cache: not kept
    assert c.get("huge") is None
    off: SizedLRU[bytes] = SizedLRU(0, 100)
    off.put(1, b"a", 1)
    assert off.get(1) is None


class _Fake:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_handle_pool_reuses_and_bounds_idle_handles():
    pool: HandlePool[_Fake] = HandlePool(max_idle=2)
    with pool.lend("a", _Fake) as h1:
        pass
    with pool.lend("a", _Fake) as h2:
        assert h2 is h1  # reused
    held = []
    barrier = threading.Barrier(3)

    def use() -> None:
        with pool.lend("b", _Fake) as h:
            held.append(h)
            barrier.wait(timeout=5)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len({id(h) for h in held}) == 3  # one handle per concurrent user
    assert len(pool) == 2 and sum(h.closed for h in [h1, *held]) == 2  # two idle kept, LRU closed
    with pytest.raises(RuntimeError), pool.lend("c", _Fake) as bad:
        raise RuntimeError("read failed")
    assert bad.closed  # a handle that failed is not given back
    pool.close()
    assert len(pool) == 0


# ----------------------------------------------------------------------------- routes
class Store:
    """A fake of the service's resolver: ids to stored COGs, LookupError otherwise."""

    def __init__(self, cog: Path) -> None:
        self.cog = cog
        self.calls: list[tuple] = []

    def __call__(self, owner_kind: str, owner_id: str, phase: int | None, surface: str) -> Path:
        self.calls.append((owner_kind, owner_id, phase, surface))
        if (owner_kind, owner_id, phase) in {("analysis", "a1", None), ("scenario", "s1", 2)}:
            return self.cog
        raise LookupError(f"no {owner_kind} {owner_id!r}")


def make_client(cog: Path, *, in_threadpool: bool = True, dependencies=(),
                renderer: TileRenderer | None = None) -> tuple[TestClient, Store]:
    store = Store(cog)
    app = FastAPI()
    app.include_router(tiles_router(store, renderer=renderer or TileRenderer(), dependencies=dependencies,
                                    resolve_in_threadpool=in_threadpool))
    add_tile_error_handlers(app, extra={LookupError: 404})
    return TestClient(app), store


@pytest.mark.parametrize("in_threadpool", [True, False])
def test_tile_route_serves_png_with_etag_and_cache_headers(blocks_cog, in_threadpool):
    client, store = make_client(blocks_cog, in_threadpool=in_threadpool)
    z, x, y = tile_at(*SMALL_CENTRE, 8)
    r = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == CACHE_CONTROL == "public, max-age=3600"
    etag = r.headers["etag"]
    assert r.content.startswith(PNG_SIGNATURE) and rgba(r.content).shape == (256, 256, 4)
    want, compared = expected_blocks_tile(z, x, y)
    np.testing.assert_array_equal(rgba(r.content)[compared], want[compared])
    assert store.calls == [("analysis", "a1", None, "gap")]

    for inm in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r304 = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png", headers={"If-None-Match": inm})
        assert r304.status_code == 304 and r304.content == b"" and r304.headers["etag"] == etag
    assert client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png",
                      headers={"If-None-Match": '"stale"'}).status_code == 200


def test_a_revalidation_renders_nothing(small_cog):
    renderer = TileRenderer(cache_tiles=0)
    client, _ = make_client(small_cog, renderer=renderer)
    z, x, y = tile_at(*SMALL_CENTRE, 8)
    etag = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png").headers["etag"]
    assert renderer.stats()["renders"] == 1
    r = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png", headers={"If-None-Match": etag})
    assert r.status_code == 304 and renderer.stats()["renders"] == 1


def test_scenario_phase_tiles_and_tilejson(small_cog):
    client, store = make_client(small_cog)
    z, x, y = tile_at(*SMALL_CENTRE, 8)
    r = client.get(f"/scenarios/s1/phases/2/tiles/gap_delta/{z}/{x}/{y}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert store.calls[-1] == ("scenario", "s1", 2, "gap_delta")
    tj = client.get("/scenarios/s1/phases/2/tilejson/gap_delta.json").json()
    assert tj["tiles"] == ["http://testserver/scenarios/s1/phases/2/tiles/gap_delta/{z}/{x}/{y}.png"]
    assert client.get(f"/scenarios/s1/phases/3/tiles/gap/{z}/{x}/{y}.png").status_code == 404


def test_route_errors(small_cog):
    client, store = make_client(small_cog)
    r = client.get("/analyses/a1/tiles/gap/6/0/0.png")
    assert r.status_code == 404
    assert r.json()["detail"].startswith("tile 6/0/0 is outside the gap surface, which covers lon ")
    for path, detail in (
        ("25/0/0", "zoom z=25 is outside 0..24"),
        ("-1/0/0", "zoom z=-1 is outside 0..24"),
        ("99999999999999999999/0/0", "zoom z=99999999999999999999 is outside 0..24"),
        ("3/8/0", "tile x=8, y=0 is outside 0..7 at zoom 3"),
        ("3/0/8", "tile x=0, y=8 is outside 0..7 at zoom 3"),
        ("3/-1/0", "tile x=-1, y=0 is outside 0..7 at zoom 3"),
        ("24/0/16777216", "tile x=0, y=16777216 is outside 0..16777215 at zoom 24"),
    ):
        r = client.get(f"/analyses/a1/tiles/gap/{path}.png")
        assert (r.status_code, r.json()["detail"]) == (422, detail), path
    r = client.get("/analyses/a1/tiles/gap/3/x/0.png")  # not an integer: FastAPI names the field
    assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["path", "x"]]
    n_calls = len(store.calls)
    r = client.get("/analyses/nope/tiles/gap/8/141/123.png")
    assert r.status_code == 404 and r.json()["detail"] == "no analysis 'nope'"
    r = client.get("/analyses/a1/tiles/gapp/8/141/123.png")
    assert r.status_code == 404 and "known surfaces: gap" in r.json()["detail"]
    # bad coordinates and unknown surfaces are refused before the resolver is asked
    assert len(store.calls) == n_calls + 1


def test_tilejson_route(small_cog):
    client, _ = make_client(small_cog)
    tj = client.get("/analyses/a1/tilejson/gap.json").json()
    with rasterio.open(small_cog) as ds:
        want = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    np.testing.assert_allclose(tj["bounds"], want, rtol=0, atol=1e-9)
    assert tj["tiles"] == ["http://testserver/analyses/a1/tiles/gap/{z}/{x}/{y}.png"]
    assert client.get("/analyses/nope/tilejson/gap.json").status_code == 404
    assert client.get("/analyses/a1/tilejson/nope.json").status_code == 404


def test_legend_route():
    client, _ = make_client(Path("unused.tif"))
    leg = client.get("/legend/gap").json()
    assert [c["color"] for c in leg["classes"]] == list(style_for("gap").colors)
    assert client.get("/legend/nope").status_code == 404


def test_routes_take_ids_never_paths_or_urls(small_cog, tmp_path):
    client, store = make_client(small_cog)
    other = small_surface(tmp_path / "elsewhere.tif", shift=40.0)
    for route in client.app.routes:
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            assert not dependant.query_params and not dependant.body_params, route.path
    z, x, y = tile_at(*SMALL_CENTRE, 8)
    plain = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png")
    sneaky = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png",
                        params={"url": str(other), "path": str(other), "cog": str(other)})
    assert sneaky.status_code == 200 and sneaky.content == plain.content
    assert client.get(f"/analyses/{other}/tiles/gap/{z}/{x}/{y}.png").status_code == 404
    assert client.get(f"/analyses/..%2F..%2Fetc/tiles/gap/{z}/{x}/{y}.png").status_code == 404
    # the resolver saw ids only; nothing from the query string reached it
    assert all(str(other) not in call for call in store.calls)
    assert {call[1] for call in store.calls} <= {"a1", "../../etc"}


def test_router_dependencies_guard_every_route(small_cog):
    def require_key(x_api_key: str | None = Header(default=None)) -> None:
        if x_api_key != "k":
            raise HTTPException(status_code=401, detail="no key")

    client, store = make_client(small_cog, dependencies=[Depends(require_key)])
    z, x, y = tile_at(*SMALL_CENTRE, 8)
    for path in (f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png", "/analyses/a1/tilejson/gap.json", "/legend/gap"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"X-API-Key": "k"}).status_code == 200, path
