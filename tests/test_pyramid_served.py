"""Pre-rendered pyramids are the live tiles: same renderer, same bytes, same footprint,
and the tile routes answer from them."""

import os
import shutil
from pathlib import Path

import morecantile
import numpy as np
import pytest
from affine import Affine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyproj import Transformer

from api.tiles import TileRenderer, add_tile_error_handlers, tiles_router
from cli.main import main
from geo.grid import Grid, equal_area_crs
from geo.pyramid import MBTilesReader, pyramid_tiles, render_pyramid
from geo.rasters import write_cog

MAXZOOM = 9
GRID_CRS = equal_area_crs(20.0, 60.0)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    out = tmp_path_factory.mktemp("a")
    assert main(["demo", "--out", str(out), "--quiet", "--resolution", "5000"]) == 0
    assert main(["pyramid", str(out), "--maxzoom", "5"]) == 0
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    """A 500 x 400 km gap surface (seeded noise over a ramp, a no-data hole, x2 overview)
    and its pyramid, zoom 0..MAXZOOM, rendered into another folder (so that nothing
    serves it until a test puts it beside the COG). The grid lies 2,000 km east of its
    projection's centre at 60N, so in lon/lat it is turned: many tiles of its lon/lat
    box miss it."""
    root = tmp_path_factory.mktemp("small")
    grid = Grid(GRID_CRS, Affine(500.0, 0, 2_000_000.0, 0, -500.0, 200_000.0), 1000, 800)
    rng = np.random.default_rng(3)
    gap = np.linspace(0, 100, 1000, dtype=np.float32)[None, :] + rng.normal(0, 8, (800, 1000)).astype(np.float32)
    gap[300:420, 200:380] = np.nan
    (root / "live").mkdir()
    cog = write_cog(root / "live" / "gap.tif", np.clip(gap, 0, 100), grid, description="gap")
    mb = render_pyramid(cog, root / "pre" / "gap.mbtiles", surface="gap", maxzoom=MAXZOOM, batch_span=2)
    return cog, mb


def client_for(cog: Path, renderer: TileRenderer) -> TestClient:
    def resolve(kind: str, owner_id: str, phase: int | None, surface: str) -> Path:
        if (kind, owner_id) == ("analysis", "a1"):
            return cog.with_name(f"{surface}.tif")
        raise LookupError(f"no {kind} {owner_id!r}")

    app = FastAPI()
    app.include_router(tiles_router(resolve, renderer=renderer))
    add_tile_error_handlers(app, extra={LookupError: 404})
    return TestClient(app)


def test_every_pyramid_tile_is_the_live_route_s_tile_byte_for_byte(small):
    cog, mb_path = small
    live = client_for(cog, TileRenderer(cache_tiles=0))
    with MBTilesReader(mb_path) as mb:
        # every tile of the pyramid's lon/lat box, zoom by zoom: the route serves exactly
        # the tiles the file holds, with its bytes, and 404s the others
        box = pyramid_tiles(mb.bounds, 0, MAXZOOM)
        stored = 0
        for z, x, y in box:
            r = live.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png")
            pre = mb.get(z, x, y)
            if pre is None:
                assert r.status_code == 404, (z, x, y)
                assert r.json()["detail"].startswith(f"tile {z}/{x}/{y} is outside the gap surface")
            else:
                assert r.status_code == 200, (z, x, y)
                assert r.content == pre, (z, x, y)
                stored += 1
        assert stored == mb.count() > 150 and len(box) - stored > 50  # both kinds, many of each


def test_the_route_answers_from_a_pyramid_beside_the_cog(small, tmp_path):
    cog, mb_path = small
    beside = tmp_path / "gap.tif"
    shutil.copy(cog, beside)
    shutil.copy(mb_path, tmp_path / "gap.mbtiles")
    renderer = TileRenderer(cache_tiles=0)
    client = client_for(beside, renderer)
    with MBTilesReader(mb_path) as mb:
        tiles = [t for t in pyramid_tiles(mb.bounds, MAXZOOM - 1, MAXZOOM) if mb.get(*t) is not None]
        for z, x, y in tiles:
            r = client.get(f"/analyses/a1/tiles/gap/{z}/{x}/{y}.png")
            assert r.status_code == 200 and r.content == mb.get(z, x, y)
    assert renderer.stats()["renders"] == 0 and renderer.stats()["pyramid_tiles"] == len(tiles)  # all from the file
    # zoom MAXZOOM + 1 is not in the pyramid: the tile over the grid's centre is rendered
    lon, lat = Transformer.from_crs(GRID_CRS, "EPSG:4326", always_xy=True).transform(2_250_000.0, 0.0)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, MAXZOOM + 1)
    r = client.get(f"/analyses/a1/tiles/gap/{t.z}/{t.x}/{t.y}.png")
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG") and renderer.stats()["renders"] == 1


def test_a_pyramid_of_another_renderer_is_not_served(small, tmp_path):
    cog, mb_path = small
    shutil.copy(cog, tmp_path / "gap.tif")
    shutil.copy(mb_path, tmp_path / "gap.mbtiles")
    with MBTilesReader(mb_path) as mb:
        z, x, y = next(t for t in pyramid_tiles(mb.bounds, MAXZOOM, MAXZOOM) if mb.get(*t) is not None)
        pre = mb.get(z, x, y)
    big = TileRenderer(cache_tiles=0, tile_size=512)  # the pyramid holds 256-pixel tiles
    png, _ = big.render(tmp_path / "gap.tif", "gap", z, x, y)
    assert png != pre and big.stats()["renders"] == 1 and big.stats()["pyramid_tiles"] == 0


def test_a_pyramid_older_than_its_cog_is_not_served(small, tmp_path):
    cog, mb_path = small
    shutil.copy(cog, tmp_path / "gap.tif")
    shutil.copy(mb_path, tmp_path / "gap.mbtiles")
    cog_mtime = (tmp_path / "gap.tif").stat().st_mtime_ns
    os.utime(tmp_path / "gap.mbtiles", ns=(cog_mtime - 10**9, cog_mtime - 10**9))  # the COG was rewritten since
    with MBTilesReader(mb_path) as mb:
        z, x, y = next(t for t in pyramid_tiles(mb.bounds, MAXZOOM, MAXZOOM) if mb.get(*t) is not None)
    r = TileRenderer(cache_tiles=0)
    r.render(tmp_path / "gap.tif", "gap", z, x, y)
    assert (r.stats()["renders"], r.stats()["pyramid_tiles"]) == (1, 0)


def test_renderer_serves_pyramid_tiles_and_renders_the_rest(analysis):
    r = TileRenderer()
    with MBTilesReader(analysis / "gap.mbtiles") as mb:
        assert mb.minzoom == 0 and mb.maxzoom == 5 and mb.count() > 0
        # a zoom-5 tile over the CAR comes from the pyramid, byte for byte
        png, etag = r.render(analysis / "gap.tif", "gap", 5, 17, 15)
        assert png == mb.get(5, 17, 15)
        assert etag.startswith('"')
        assert r.stats()["renders"] == 0 and r.stats()["pyramid_tiles"] == 1
    # zoom 7 is not in the pyramid: rendered from the COG
    png7, _ = r.render(analysis / "gap.tif", "gap", 7, 70, 61)
    assert png7.startswith(b"\x89PNG") and r.stats()["renders"] == 1


def test_pyramid_cli_errors(analysis, capsys):
    assert main(["pyramid", str(analysis), "--minzoom", "6", "--maxzoom", "3"]) == 2
    assert capsys.readouterr().err == (
        "vacuum: error: zoom range 6..3: need 0 <= minzoom <= maxzoom <= 14\n"
    )
    nope = analysis / "nope"
    assert main(["pyramid", str(nope)]) == 2
    assert capsys.readouterr().err == (
        f"vacuum: error: {nope}/gap.tif does not exist; is {nope} an analysis folder?\n"
    )
