"""The offline field package: one folder (or zip) a field office opens from a USB stick.

    build_package("out/demo", "field", full=False)        # folder field/
    build_package("out/demo", "field.zip", as_zip=True)   # one zip holding field/

What is in it::

    index.html             the viewer: open it in a browser, no network needed
    lib/                   Leaflet, the PMTiles reader (vendored, licences beside them), viewer.js/.css
    data/package.js        as-of date, bounds, zones, admin units (GeoJSON), bases (full package only)
    data/tiles_<s>.js      each surface's PMTiles archive as base64 (read from file:// by a <script>)
    tiles/<s>.pmtiles      the same archives as files (QGIS, pmtiles.io, ...)
    admin_summary.csv      the admin table
    manifest.json          what the package holds

Browsers refuse ``fetch()`` of ``file://`` URLs, so the page loads its data with
``<script>`` tags and gives the PMTiles reader an in-memory Source (``viewer.js``). The
tiles are those of :class:`geo.tiles.CogTiler` (the live tiles, byte for byte), zooms
from :func:`geo.pmtiles.package_zooms`.

**Viewer-safe by default** (``docs/service.md``, "What a viewer sees"): the surfaces of
:data:`geo.public.PUBLIC_RASTERS` (the 150 km block gap, risk, threat, exposure,
population), the public zones (the blocks a zone touches) and the admin table from the
block gap; no base, no full-resolution gap, coverage or travel time. ``full=True`` (a
planner's package) adds those and the full zones and admin table.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from geo import __version__
from geo.errors import ConfigError, LayerError
from geo.legend import STYLES
from geo.pmtiles import PMTilesInfo, package_zooms, write_pmtiles
from geo.public import PUBLIC_RASTERS, ensure_public

__all__ = ["FieldPackage", "PackageContents", "PackageData", "PackageLayer", "package_contents", "build_package", "render_index",
           "FULL_SURFACES", "MANIFEST_KIND", "ADMIN_COLUMNS"]

STATIC = Path(__file__).resolve().parent / "static"
MANIFEST_KIND = "vacuum-field-package"
FULL_SURFACES = {"gap": "gap.tif", "coverage": "coverage.tif", "travel_time": "travel_time.tif"}
"""Planner-only surfaces (``api.auth.SENSITIVE_SURFACES``): in the full package only."""
ADMIN_COLUMNS = (("name", "Admin unit"), ("area_km2", "Area (km²)"), ("mean_gap", "Mean gap"),
                 ("max_gap", "Max gap"), ("pop_weighted_gap", "Pop.-weighted gap"), ("population", "Population"),
                 ("pop_high_or_critical", "People at high/critical gap"))
"""Columns of the admin table shown in the viewer: (CSV column, heading)."""
_ZONE_COLUMNS = {False: ["block_gap", "gap_class", "zone_area_km2", "zone_population"],
                 True: ["zone_id", "gap_class", "mean_gap", "area_km2", "population", "recent_events",
                        "nearest_base_name", "travel_time_h"]}
_LIB = (("leaflet/leaflet.js", "leaflet/leaflet.js"), ("leaflet/leaflet.css", "leaflet/leaflet.css"),
        ("leaflet/LICENSE", "leaflet/LICENSE"), ("pmtiles/pmtiles.js", "pmtiles/pmtiles.js"),
        ("pmtiles/LICENSE", "pmtiles/LICENSE"), ("package/viewer.js", "viewer.js"),
        ("package/viewer.css", "viewer.css"))


class PackageLayer(TypedDict):
    """One surface of ``data/package.js``: its PMTiles archive is ``VACUUM_PMTILES[name]``."""

    name: str
    title: str
    minzoom: int
    maxzoom: int
    bounds: list[float]  # lon/lat W, S, E, N


class PackageData(TypedDict, total=False):
    """``window.VACUUM_PACKAGE`` in ``data/package.js``: what the viewer page draws."""

    as_of: str
    full: bool
    bounds: list[float]
    maxzoom: int
    attribution: str
    layers: list[PackageLayer]
    zones: dict[str, Any]  # GeoJSON FeatureCollections
    admin: dict[str, Any]
    zone_columns: list[str]  # properties shown in a zone's popup
    bases: dict[str, Any]  # full package only


@dataclass(frozen=True)
class PackageContents:
    """What goes into a package of an analysis folder: files by role (public or full)."""

    full: bool
    as_of: str
    surfaces: dict[str, Path]  # surface name -> COG, in display order
    zones: Path
    admin: Path
    admin_csv: Path
    bases: Path | None


@dataclass(frozen=True)
class FieldPackage:
    """A written package."""

    path: Path  # the folder, or the zip
    full: bool
    as_of: str
    tiles: list[PMTilesInfo] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # relative paths inside the package
    size_bytes: int = 0
    seconds: float = 0.0


def package_contents(folder: str | os.PathLike[str], *, full: bool = False) -> PackageContents:
    """The files of an analysis folder a package takes; ``public/`` is written first if missing."""
    folder = Path(folder)
    for need in ("gap.tif", "summary.json"):
        if not (folder / need).is_file():
            raise LayerError(f"{folder}/{need} does not exist; is {folder} an analysis folder "
                             "(written by `vacuum analyze` or `vacuum demo`)?")
    as_of = str(json.loads((folder / "summary.json").read_text(encoding="utf-8"))["as_of"])
    pub = ensure_public(folder)
    names = {**FULL_SURFACES, **PUBLIC_RASTERS} if full else dict(PUBLIC_RASTERS)
    surfaces = {s: folder / f for s, f in names.items() if (folder / f).is_file()}
    src = folder if full else pub
    bases = folder / "bases.geojson" if full and (folder / "bases.geojson").is_file() else None
    return PackageContents(full, as_of, surfaces, src / "zones.geojson", src / "admin_summary.geojson",
                           src / "admin_summary.csv", bases)


def build_package(folder: str | os.PathLike[str], out: str | os.PathLike[str], *, full: bool = False,
                  as_zip: bool = False, progress: Callable[[str], None] | None = None) -> FieldPackage:
    """Write the field package of the analysis ``folder`` to ``out`` (a folder, or a zip with ``as_zip``).

    Written under a temporary name beside ``out`` and moved into place; an existing
    ``out`` is replaced only if it is an earlier package (else :class:`ConfigError`).
    """
    t0 = time.perf_counter()
    out = Path(out)
    if as_zip and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    _check_replaceable(out)
    contents = package_contents(folder, full=full)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.stem}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        tiles = _write_tiles(contents, tmp, progress)
        _write_data(contents, tiles, tmp)
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        manifest = {"kind": MANIFEST_KIND, "format": 1, "full": full, "as_of": contents.as_of,
                    "vacuum_version": __version__, "surfaces": [t.surface for t in tiles], "files": files}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        files.append("manifest.json")
        size = _move_into_place(tmp, out, as_zip)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FieldPackage(out, full, contents.as_of, tiles, sorted(files), size, round(time.perf_counter() - t0, 3))


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    try:
        if out.is_dir():
            if not any(out.iterdir()):
                return
            kind = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("kind")
        else:
            with zipfile.ZipFile(out) as z:
                name = next(n for n in z.namelist() if n.endswith("/manifest.json") or n == "manifest.json")
                kind = json.loads(z.read(name)).get("kind")
    except (OSError, ValueError, StopIteration, zipfile.BadZipFile):
        kind = None
    if kind != MANIFEST_KIND:
        raise ConfigError(f"{out} exists and is not a field package; choose another --out (nothing was written)")


def _move_into_place(tmp: Path, out: Path, as_zip: bool) -> int:
    """Move the finished temporary folder to ``out`` (or zip it there); returns the bytes written."""
    if as_zip:
        ztmp = out.with_name(f".{out.name}-{uuid.uuid4().hex[:8]}")
        try:
            with zipfile.ZipFile(ztmp, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted(tmp.rglob("*")):
                    if p.is_file():
                        z.write(p, f"{out.stem}/{p.relative_to(tmp)}")
            os.replace(ztmp, out)
        finally:
            ztmp.unlink(missing_ok=True)
        return out.stat().st_size
    size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    if out.exists():
        aside = out.with_name(f".{out.name}-old-{uuid.uuid4().hex[:8]}")
        os.replace(out, aside)
        os.replace(tmp, out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return size


def _write_tiles(c: PackageContents, tmp: Path, progress: Callable[[str], None] | None) -> list[PMTilesInfo]:
    """Each surface as ``tiles/<s>.pmtiles`` and ``data/tiles_<s>.js`` (base64), two at a time."""
    import rasterio

    from geo.tiles import CogInfo

    with rasterio.open(next(iter(c.surfaces.values()))) as ds:
        resolution = abs(ds.res[0])
    minzoom, maxzoom = package_zooms(CogInfo(str(next(iter(c.surfaces.values())))).lonlat_bounds, resolution)
    (tmp / "tiles").mkdir()
    (tmp / "data").mkdir()

    def one(item: tuple[str, Path]) -> PMTilesInfo:
        s, cog = item
        info = write_pmtiles(cog, tmp / "tiles" / f"{s}.pmtiles", surface=s, minzoom=minzoom, maxzoom=maxzoom,
                             name=STYLES[s].title)
        b64 = base64.b64encode(info.path.read_bytes()).decode("ascii")
        (tmp / "data" / f"tiles_{s}.js").write_text(
            f"(window.VACUUM_PMTILES = window.VACUUM_PMTILES || {{}})[{json.dumps(s)}] = \"{b64}\";\n",
            encoding="ascii")
        if progress:
            progress(f"{s}: {info.tiles} tiles, zoom {minzoom}..{maxzoom}")
        return info

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, c.surfaces.items()))


def _read_geojson(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {"type": "FeatureCollection", "features": []}
    return json.loads(path.read_text(encoding="utf-8"))


def _admin_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return sorted(rows, key=_mean_gap, reverse=True)


def _mean_gap(row: dict[str, str]) -> float:
    try:
        return float(row.get("mean_gap", ""))
    except ValueError:
        return float("-inf")


def _write_data(c: PackageContents, tiles: list[PMTilesInfo], tmp: Path) -> None:
    """``data/package.js``, ``index.html``, ``lib/`` and the admin CSV."""
    w = min(t.bounds[0] for t in tiles)
    s = min(t.bounds[1] for t in tiles)
    e = max(t.bounds[2] for t in tiles)
    n = max(t.bounds[3] for t in tiles)
    zones = _read_geojson(c.zones)
    data: PackageData = {
        "as_of": c.as_of, "full": c.full, "bounds": [w, s, e, n], "maxzoom": max(t.maxzoom for t in tiles),
        "attribution": f"Vacuum {__version__}, analysis as of {c.as_of}",
        "layers": [{"name": t.surface, "title": STYLES[t.surface].title, "minzoom": t.minzoom,
                    "maxzoom": t.maxzoom, "bounds": list(t.bounds)} for t in tiles],
        "zones": zones, "admin": _read_geojson(c.admin), "zone_columns": _ZONE_COLUMNS[c.full],
    }
    if c.full:
        data["bases"] = _read_geojson(c.bases)
    (tmp / "data" / "package.js").write_text(f"window.VACUUM_PACKAGE = {json.dumps(data)};\n", encoding="utf-8")
    lib = tmp / "lib"
    for src, dst in _LIB:
        (lib / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC / src, lib / dst)
    shutil.copytree(STATIC / "leaflet" / "images", lib / "leaflet" / "images")
    if c.admin_csv.is_file():
        shutil.copyfile(c.admin_csv, tmp / "admin_summary.csv")
    rows = _admin_rows(c.admin_csv)
    (tmp / "index.html").write_text(render_index(c.as_of, c.full, [t.surface for t in tiles], rows,
                                                 n_zones=len(zones["features"])), encoding="utf-8")


def _legend_html(surface: str) -> str:
    st = STYLES[surface]
    items = "".join(f'<li><span class="swatch" style="background:{html.escape(col)}"></span>{html.escape(lab)}</li>'
                    for col, lab in zip(st.colors, st.labels, strict=True))
    return (f'<div class="legend" data-surface="{html.escape(surface)}"><h3>{html.escape(st.title)}</h3>'
            f'<p class="unit">{html.escape(st.unit)}</p><ul>{items}</ul></div>')


def _cell(row: dict[str, str], col: str) -> str:
    v = row.get(col, "")
    try:
        x = float(v)
    except ValueError:
        return html.escape(v)
    return f"{x:,.0f}" if col in ("area_km2", "population", "pop_high_or_critical") else f"{x:.2f}"


def render_index(as_of: str, full: bool, surfaces: list[str], admin_rows: list[dict[str, str]], *,
                 n_zones: int) -> str:
    """The package's ``index.html``: header with the as-of date, map, legends, admin table."""
    who = ("planner package: full-resolution gap, coverage, travel time and base positions — do not share"
           if full else "viewer package: gap averaged over 150 km blocks; no base positions")
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in ADMIN_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r, c)}</td>" for c, _ in ADMIN_COLUMNS) + "</tr>" for r in admin_rows)
    scripts = "".join(f'<script src="data/tiles_{html.escape(s)}.js"></script>\n' for s in surfaces)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vacuum field package, as of {html.escape(as_of)}</title>
<link rel="stylesheet" href="lib/leaflet/leaflet.css">
<link rel="stylesheet" href="lib/viewer.css">
</head>
<body>
<header><h1>Coverage gap, as of <time id="as-of" datetime="{html.escape(as_of)}">{html.escape(as_of)}</time></h1>
<p class="role">{html.escape(who)}</p></header>
<main>
<div id="map"></div>
<aside>
<section id="legends">{"".join(_legend_html(s) for s in surfaces)}</section>
<section><h2>Vacuum zones</h2><p id="zone-count">{n_zones} zone{"s" if n_zones != 1 else ""}{" (as the 150 km blocks they touch)" if not full else ""}</p></section>
<section id="admin"><h2>Admin units</h2>
<table id="admin-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>
</aside>
</main>
<script src="lib/leaflet/leaflet.js"></script>
<script src="lib/pmtiles/pmtiles.js"></script>
<script src="data/package.js"></script>
{scripts}<script src="lib/viewer.js"></script>
</body>
</html>
"""
