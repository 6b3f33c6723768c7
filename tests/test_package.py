"""The offline field package: PMTiles of the one renderer, a folder or zip, viewer-safe by default.

Fast tests use a hand-made analysis folder (a 400 x 300 km gap COG); the slow ones package
the demo and play a viewer: grep the package for the bases of the bases file, and
open it in Chromium from file:// with every non-file request aborted.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from conftest import DEMO, ROOT, skip_or_fail
from PIL import Image

from geo.errors import ConfigError, LayerError
from geo.grid import Grid, equal_area_crs
from geo.pmtiles import package_zooms, read_pmtiles, write_pmtiles
from geo.pyramid import MBTilesReader, render_pyramid
from geo.rasters import write_cog
from maps.package import MANIFEST_KIND, build_package

STRIPES = (5.0, 15.0, 27.5, 42.5, 75.0)  # one value inside each gap class
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """An analysis folder by hand: gap and coverage COGs, summary.json, one base."""
    d = tmp_path_factory.mktemp("analysis")
    grid = Grid(equal_area_crs(20.0, 6.0), Affine(1000.0, 0, -200_000.0, 0, -1000.0, 150_000.0), 400, 300)
    gap = np.repeat(np.array(STRIPES), 80)[None, :].repeat(300, axis=0)
    gap[:60] = np.nan
    write_cog(d / "gap.tif", gap, grid)
    write_cog(d / "coverage.tif", np.clip(1 - gap / 100, 0, 1), grid)
    (d / "summary.json").write_text(json.dumps({"as_of": "2020-10-31"}))
    (d / "bases.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"base_id": "X:secret", "name": "Secretville"},
         "geometry": {"type": "Point", "coordinates": [20.12345, 6.54321]}}]}))
    return d


# ----------------------------------------------------------------------------- zooms, PMTiles


def test_package_zooms_by_hand():
    # at the equator a zoom-8 pixel is 40075016.686 / 256 / 256 = 611.5 m
    assert package_zooms((0.0, -1.0, 14.0, 1.0), 612.0) == (4, 8)  # 360 / 14 = 25.7 -> 2**4 <= 25.7 < 2**5
    assert package_zooms((0.0, -1.0, 14.0, 1.0), 611.0) == (4, 9)
    assert package_zooms((0.0, -1.0, 22.5, 1.0), 5000.0) == (4, 5)  # 360 / 22.5 = 16 exactly; 611.5 * 8 = 4892 m at z5
    assert package_zooms((0.0, -1.0, 23.0, 1.0), 5000.0) == (3, 5)
    # at 60 degrees the pixel is half as long: 1 km cells need one zoom less than at the equator
    assert package_zooms((0.0, 59.0, 1.0, 61.0), 1000.0)[1] == 7  # 611.5 * 2 * 0.5 = 611.5 m at z7 (<= 1000), z6 1223
    assert package_zooms((0.0, 0.0, 1.0, 1.0), 0.5) == (8, 14)  # capped at 14
    with pytest.raises(ConfigError, match="empty"):
        package_zooms((10.0, 0.0, 10.0, 1.0), 1000.0)
    with pytest.raises(ConfigError, match="resolution"):
        package_zooms((0.0, 0.0, 1.0, 1.0), 0.0)


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    lr = math.radians(lat)
    return int((lon + 180.0) / 360.0 * n), int((1.0 - math.log(math.tan(lr) + 1.0 / math.cos(lr)) / math.pi) / 2.0 * n)


def test_pmtiles_are_the_pyramid_tiles(folder, tmp_path):
    info = write_pmtiles(folder / "gap.tif", tmp_path / "gap.pmtiles", surface="gap", minzoom=3, maxzoom=7)
    header, meta, tiles = read_pmtiles(info.path)  # the pmtiles package's own reader
    assert (header["min_zoom"], header["max_zoom"]) == (3, 7)
    assert header["tile_type"].name == "PNG" and header["clustered"]
    assert meta["surface"] == "gap" and info.tiles == len(tiles)
    # every tile is the MBTiles pyramid's tile, byte for byte, and no other
    mb = render_pyramid(folder / "gap.tif", tmp_path / "gap.mbtiles", surface="gap", minzoom=3, maxzoom=7)
    with MBTilesReader(mb) as r:
        assert r.count() == len(tiles)
        for (z, x, y), data in tiles.items():
            assert r.get(z, x, y) == data
    # the tiles cover the COG's lon/lat box, worked out with the Web Mercator formulas
    w, s, e, n = info.bounds
    for z in range(3, 8):
        x0, y0 = _tile_xy(w, n, z)
        x1, y1 = _tile_xy(e, s, z)
        assert {(x, y) for (zz, x, y) in tiles if zz == z} <= {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
        assert (z, (x0 + x1) // 2, (y0 + y1) // 2) in tiles
    assert oct(info.path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_pmtiles_errors(folder, tmp_path):
    with pytest.raises(LayerError, match="does not exist"):
        write_pmtiles(tmp_path / "none.tif", tmp_path / "x.pmtiles", surface="gap", minzoom=0, maxzoom=2)
    (tmp_path / "bad.pmtiles").write_bytes(b"not a tile archive at all" * 10)
    with pytest.raises(LayerError, match="not a PMTiles"):
        read_pmtiles(tmp_path / "bad.pmtiles")


# ----------------------------------------------------------------------------- the package


def test_viewer_package_holds_public_products_only(folder, tmp_path):
    pkg = build_package(folder, tmp_path / "field")
    files = set(pkg.files)
    assert {"index.html", "data/package.js", "manifest.json", "lib/pmtiles/pmtiles.js", "lib/pmtiles/LICENSE",
            "lib/leaflet/leaflet.js", "lib/leaflet/LICENSE"} <= files
    # gap_public only: the folder has no risk/threat/exposure/population, and gap/coverage are planner-only
    assert [t.surface for t in pkg.tiles] == ["gap_public"]
    assert {f for f in files if f.startswith("tiles/")} == {"tiles/gap_public.pmtiles"}
    text = "".join((tmp_path / "field" / f).read_text(encoding="utf-8", errors="replace") for f in files)
    assert "Secretville" not in text and "20.12345" not in text and "X:secret" not in text
    manifest = json.loads((tmp_path / "field" / "manifest.json").read_text())
    assert manifest["kind"] == MANIFEST_KIND and manifest["full"] is False and manifest["as_of"] == "2020-10-31"
    # the data file carries the archive itself
    js = (tmp_path / "field" / "data" / "tiles_gap_public.js").read_text()
    b64 = re.search(r'= "([A-Za-z0-9+/=]+)";', js).group(1)
    assert base64.b64decode(b64) == (tmp_path / "field" / "tiles" / "gap_public.pmtiles").read_bytes()


def test_full_package_adds_planner_surfaces_and_bases(folder, tmp_path):
    pkg = build_package(folder, tmp_path / "full", full=True)
    assert {t.surface for t in pkg.tiles} == {"gap", "coverage", "gap_public"}
    assert "Secretville" in (tmp_path / "full" / "data" / "package.js").read_text()
    assert "planner package" in (tmp_path / "full" / "index.html").read_text()


def test_zip_and_replacing(folder, tmp_path):
    pkg = build_package(folder, tmp_path / "field", as_zip=True)
    assert pkg.path == tmp_path / "field.zip"
    with zipfile.ZipFile(pkg.path) as z:
        names = set(z.namelist())
        assert "field/index.html" in names and "field/tiles/gap_public.pmtiles" in names
        assert json.loads(z.read("field/manifest.json"))["kind"] == MANIFEST_KIND
    build_package(folder, tmp_path / "field.zip", as_zip=True)  # an earlier package is replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "mine.txt").write_text("do not lose me")
    with pytest.raises(ConfigError, match="not a field package"):
        build_package(folder, keep)
    assert (keep / "mine.txt").read_text() == "do not lose me"
    with pytest.raises(LayerError, match="analysis folder"):
        build_package(tmp_path / "notes", tmp_path / "p2")


def test_cli_package(folder, tmp_path, capsys):
    from cli.main import main

    assert main(["package", str(folder), "--out", str(tmp_path / "pk"), "--zip", "--quiet"]) == 0
    assert "viewer-safe package as of 2020-10-31" in capsys.readouterr().out
    assert (tmp_path / "pk.zip").is_file()
    assert main(["package", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "is not a folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the demo, as a viewer


def _bases_from_file() -> list[dict]:
    with (DEMO / "bases_geopko_v2.1.csv").open(encoding="utf-8") as f:
        return [{"name": r["location"], "lat": r["latitude"], "lon": r["longitude"]} for r in csv.DictReader(f)]


def _leaks(pkg_dir: Path) -> list[str]:
    """Base names (other than admin unit names) and coordinates of the bases file found in the package."""
    admin = {f["properties"]["name"].lower() for f in
             json.loads((DEMO / "admin1_naturalearth.geojson").read_text())["features"]}
    texts = []
    for p in pkg_dir.rglob("*"):
        if p.is_relative_to(pkg_dir / "lib"):  # the page's code: the vendored files, unchanged
            continue
        if p.suffix in (".html", ".js", ".json", ".csv"):
            texts.append(p.read_text(encoding="utf-8"))
        elif p.suffix == ".pmtiles":
            texts.append(json.dumps(read_pmtiles(p)[1]))
    blob = "\n".join(texts)
    low = blob.lower()
    out = [b["name"] for b in _bases_from_file()
           if b["name"].lower() not in admin and re.search(rf"\b{re.escape(b['name'].lower())}\b", low)]
    for b in _bases_from_file():
        for v in (b["lat"], b["lon"]):
            if re.search(rf"(?<![\d.]){re.escape(v)}(?!\d)", blob):
                out.append(v)
    out += [w for w in ("nearest_base", "base_id", "travel_time_h", "mean_coverage", '"Point"') if w in blob]
    return out


@pytest.mark.slow
def test_default_package_reveals_no_base(demo_analysis, tmp_path):
    view = build_package(demo_analysis, tmp_path / "viewer").path
    assert _leaks(view) == []
    for f in (view / "lib").rglob("*.js"):  # the code beside the data is the static files, byte for byte
        src = {"viewer.js": "package/viewer.js"}.get(f.name, str(f.relative_to(view / "lib")))
        assert f.read_bytes() == (ROOT / "maps" / "static" / src).read_bytes()
    assert not {p.name for p in (view / "tiles").iterdir()} & {"gap.pmtiles", "coverage.pmtiles", "travel_time.pmtiles"}
    full = build_package(demo_analysis, tmp_path / "full", full=True).path
    leaks = _leaks(full)  # the same search finds the bases in the planner's package
    assert "Bambari" in leaks and "nearest_base" in leaks


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        skip_or_fail("chromium is not installed (scripts/ensure_chromium.sh installs it)")
    return path


@pytest.mark.slow
def test_package_works_offline_in_chromium(demo_analysis, tmp_path):
    from playwright.sync_api import sync_playwright

    pkg = build_package(demo_analysis, tmp_path / "field").path
    as_of = json.loads((demo_analysis / "summary.json").read_text())["as_of"]
    n_zones = len(json.loads((demo_analysis / "public" / "zones.geojson").read_text())["features"])
    with (demo_analysis / "public" / "admin_summary.csv").open(encoding="utf-8") as f:
        n_admin = sum(1 for _ in csv.DictReader(f))
    requests, aborted, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: requests.append(r.url))

            def route(r):
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    aborted.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto((pkg / "index.html").as_uri())
            page.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 0", timeout=20000)
            page.wait_for_timeout(500)
            state = page.evaluate("""() => {
                const imgs = [...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile-loaded')];
                let painted = 0;
                for (const im of imgs) {
                    const c = document.createElement('canvas'); c.width = 256; c.height = 256;
                    const g = c.getContext('2d'); g.drawImage(im, 0, 0);
                    const d = g.getImageData(0, 0, 256, 256).data;
                    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
                }
                return {tiles: imgs.length, painted,
                        zones: document.querySelectorAll('path.vacuum-zone').length,
                        admin_paths: document.querySelectorAll('path.admin-unit').length,
                        rows: document.querySelectorAll('#admin-table tbody tr').length,
                        as_of: document.getElementById('as-of').textContent,
                        legend: [...document.querySelectorAll('.legend')].filter(l => l.style.display !== 'none')
                                   .map(l => l.innerText)};
            }""")
            page.screenshot(path=str(tmp_path / "field_package.png"))
            if os.environ.get("VACUUM_WRITE_SCREENSHOTS"):
                shutil.copyfile(tmp_path / "field_package.png", ROOT / "docs" / "img" / "field_package.png")
        finally:
            browser.close()
    assert errors == []
    assert aborted == [] and all(u.startswith(("file://", "blob:", "data:")) for u in requests)
    assert state["tiles"] > 0 and state["painted"] > 1000
    assert state["zones"] == n_zones > 0
    assert state["rows"] == n_admin == state["admin_paths"]
    assert state["as_of"] == as_of
    assert len(state["legend"]) == 1 and all(w in state["legend"][0] for w in ("low", "moderate", "critical"))
    with Image.open(tmp_path / "field_package.png") as im:
        assert im.size == (1400, 900)
        map_px = np.asarray(im.convert("RGB"))[100:800:7, 50:900:7].reshape(-1, 3)
        assert len(np.unique(map_px, axis=0)) > 5  # tiles, outlines and background, not a blank page
