"""The products of a finished job folder, what each role may see of them, and their exports.

A job folder is written by :func:`geo.products.write_analysis` (layout in
:mod:`geo.products`). Viewers get aggregated products only: zones without the nearest
base, admin tables, the summary without base ids; since issue 12 the gap, zones and admin
table they see are the block-aggregated ones of :mod:`geo.public` (``public/`` of the folder),
and the public export offers exactly those. Exports (planner and above): every
vector product as GeoJSON, GeoPackage or CSV, every surface as its stored COG, the whole
``vacuum.gpkg`` and ``summary.json``. Derived files are made once into ``exports/`` of the
folder (atomically) and served from there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.errors import NotFoundError
from api.responses import CSV, GEOJSON, GEOPACKAGE, GEOTIFF
from geo.pipeline import SURFACES
from geo.public import PUBLIC_RASTERS as _PUBLIC_RASTERS
from geo.public import PUBLIC_VECTORS as _PUBLIC_VECTORS

__all__ = [
    "VectorProduct",
    "VECTOR_PRODUCTS",
    "SURFACE_NAMES",
    "BASE_COLUMNS_IN_ZONES",
    "viewer_summary",
    "zones_geojson",
    "export_catalogue",
    "export_file",
    "viewer_folder",
    "write_table_csv",
    "PUBLIC_SURFACES",
    "public_surface_path",
    "viewer_zones",
    "viewer_admin",
    "public_catalogue",
    "public_file",
]

SURFACE_NAMES = tuple(SURFACES)
BASE_COLUMNS_IN_ZONES = ("nearest_base_id", "nearest_base_name", "travel_time_h",
                         "presence_site_id", "presence_site_name", "presence_site_travel_time_h")
"""Zone columns that tell where a base is: left out for viewers."""


@dataclass(frozen=True)
class VectorProduct:
    name: str
    geojson: str
    gpkg_layer: str
    csv: str | None = None  # a table written by the engine (else made from the GeoJSON)
    description: str = ""


VECTOR_PRODUCTS: dict[str, VectorProduct] = {p.name: p for p in (
    VectorProduct("zones", "zones.geojson", "zones", description="vacuum zones: connected high/critical gap areas"),
    VectorProduct("admin_summary", "admin_summary.geojson", "admin_summary", "admin_summary.csv",
                  "per admin unit: mean, max and population-weighted gap, population at high/critical gap"),
    VectorProduct("bases", "bases.geojson", "bases", description="the bases as the model used them (planner)"),
    VectorProduct("events", "events.geojson", "events", description="events in the look-back window"),
    VectorProduct("sites", "sites.geojson", "sites", description="towns, airports and critical sites used"),
)}

MEDIA = {".geojson": GEOJSON, ".gpkg": GEOPACKAGE, ".csv": CSV, ".tif": GEOTIFF, ".json": "application/json"}


PUBLIC_SURFACES = {"gap_public": "public/gap.tif"}
"""Viewer surfaces written by :func:`geo.public.write_public`: surface name -> file in the folder."""


def public_surface_path(folder: Path, surface: str) -> Path:
    from geo.public import ensure_public

    ensure_public(folder)
    return folder / PUBLIC_SURFACES[surface]


def viewer_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without the ids of bases (a viewer learns counts, not which bases) and
    without per-force reach figures; what is left are area-wide totals."""
    from geo.public import public_summary

    return public_summary(summary)


def viewer_zones(folder: Path) -> dict[str, Any]:
    """The viewer's zones: the public blocks a vacuum zone touches (:mod:`geo.public`)."""
    from geo.public import ensure_public

    return json.loads((ensure_public(folder) / "zones.geojson").read_text(encoding="utf-8"))


def viewer_admin(folder: Path, ext: str) -> Path:
    """The viewer's admin table (``.csv`` or ``.geojson``), recomputed from the public gap."""
    from geo.public import ensure_public

    path = ensure_public(folder) / f"admin_summary{ext}"
    if not path.is_file():
        raise NotFoundError(f"{folder.name} has no admin table (it was run without admin units)")
    return path




def public_catalogue(folder: Path) -> list[dict[str, str]]:
    """The public export: viewer-safe products only (GeoJSON, GeoPackage, COG, the viewer summary)."""
    from geo.public import ensure_public

    pub = ensure_public(folder)
    out = []
    for name, f in _PUBLIC_VECTORS.items():
        if (pub / f).is_file():
            for ext, fmt in ((".geojson", "GeoJSON"), (".gpkg", "GeoPackage")):
                out.append({"product": name, "format": fmt, "file": name + ext, "media_type": MEDIA[ext]})
    if (pub / "admin_summary.csv").is_file():
        out.append({"product": "admin_summary", "format": "CSV", "file": "admin_summary.csv", "media_type": CSV})
    for name, f in _PUBLIC_RASTERS.items():
        if (folder / f).is_file():
            out.append({"product": name, "format": "COG", "file": f"{name}.tif", "media_type": GEOTIFF})
    out.append({"product": "summary", "format": "JSON", "file": "summary.json", "media_type": "application/json"})
    return out


def public_file(folder: Path, filename: str) -> tuple[Path, str]:
    """The file of public export ``filename`` (derived on first request into ``public/exports``)."""
    offered = {e["file"] for e in public_catalogue(folder)}
    m = _FILE.match(filename)
    if m is None or filename not in offered:
        raise NotFoundError(f"no public export {filename!r} of {folder.name}; offered: {', '.join(sorted(offered))}")
    product, ext = m.group(1), "." + m.group(2)
    pub = folder / "public"
    if ext == ".tif":
        return folder / _PUBLIC_RASTERS[product], GEOTIFF
    if ext == ".csv":
        return pub / "admin_summary.csv", CSV
    if ext == ".geojson":
        return pub / _PUBLIC_VECTORS[product], GEOJSON
    target = pub / "exports" / filename
    if not target.is_file():
        target.parent.mkdir(exist_ok=True)
        if ext == ".json":
            from geo.export import write_json

            write_json(viewer_summary(json.loads((folder / "summary.json").read_text(encoding="utf-8"))), target)
        else:
            import geopandas as gpd

            from geo.export import write_gpkg_layer

            gdf = gpd.read_file(pub / _PUBLIC_VECTORS[product])
            write_gpkg_layer(gdf if gdf.crs is not None else gdf.set_crs(4326), target, product)
    return target, MEDIA[ext]


def zones_geojson(folder: Path, *, with_bases: bool) -> dict[str, Any]:
    path = folder / "zones.geojson"
    if not path.is_file():
        raise NotFoundError(f"{folder.name} has no zones product")
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not with_bases:
        for f in doc.get("features", []):
            props = f.get("properties") or {}
            for c in BASE_COLUMNS_IN_ZONES:
                props.pop(c, None)
    return doc


def export_catalogue(folder: Path) -> list[dict[str, str]]:
    """Every export a finished folder offers: product, format, file name, media type."""
    out = []
    for p in VECTOR_PRODUCTS.values():
        if (folder / p.geojson).is_file():
            for ext, fmt in ((".geojson", "GeoJSON"), (".gpkg", "GeoPackage"), (".csv", "CSV")):
                out.append({"product": p.name, "format": fmt, "file": p.name + ext, "media_type": MEDIA[ext],
                            "description": p.description})
    for s in SURFACE_NAMES:
        if (folder / f"{s}.tif").is_file():
            out.append({"product": s, "format": "COG", "file": f"{s}.tif", "media_type": GEOTIFF,
                        "description": f"{s} surface, Cloud-Optimized GeoTIFF on the analysis grid"})
    if (folder / "vacuum.gpkg").is_file():
        out.append({"product": "vacuum", "format": "GeoPackage", "file": "vacuum.gpkg", "media_type": GEOPACKAGE,
                    "description": "every vector product in one GeoPackage (EPSG:4326)"})
    if (folder / "summary.json").is_file():
        out.append({"product": "summary", "format": "JSON", "file": "summary.json", "media_type": "application/json",
                    "description": "as-of date, grid, gap by class, parameters, timings"})
    return out


_FILE = re.compile(r"^([a-z_]+)\.(geojson|gpkg|csv|tif|json)$")


def export_file(folder: Path, filename: str) -> tuple[Path, str]:
    """The file serving export ``filename`` (made on first request) and its media type."""
    m = _FILE.match(filename)
    offered = {e["file"] for e in export_catalogue(folder)}
    if m is None or filename not in offered:
        raise NotFoundError(f"no export {filename!r} of {folder.name}; offered: {', '.join(sorted(offered))}")
    product, ext = m.group(1), "." + m.group(2)
    if product in SURFACE_NAMES or filename in ("vacuum.gpkg", "summary.json"):
        return folder / filename, MEDIA[ext]
    spec = VECTOR_PRODUCTS[product]
    if ext == ".geojson":
        return folder / spec.geojson, MEDIA[ext]
    if ext == ".csv" and spec.csv and (folder / spec.csv).is_file():
        return folder / spec.csv, MEDIA[ext]
    target = folder / "exports" / filename
    if not target.is_file():
        target.parent.mkdir(exist_ok=True)
        _derive(folder, spec, ext, target)
    return target, MEDIA[ext]


def _derive(folder: Path, spec: VectorProduct, ext: str, target: Path) -> None:
    import geopandas as gpd

    from geo.export import write_gpkg_layer

    gdf = gpd.read_file(folder / spec.geojson)
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    if ext == ".gpkg":
        write_gpkg_layer(gdf, target, spec.gpkg_layer)
        return
    write_table_csv(gdf, target)


def viewer_folder(folder: Path, cache_root: Path) -> Path:
    """A copy-free view of an analysis folder for pages rendered for viewers.

    Links to every product except the bases and the surfaces that pinpoint them (in any
    format: GeoJSON, GeoParquet, KMZ, GeoPackage, COG and its styles); the
    bases layer is an empty FeatureCollection; the gap, zones and admin table are the
    public ones (:mod:`geo.public`). Made once per analysis under ``cache_root``.
    """
    import os
    import shutil
    import uuid

    from api.auth import SENSITIVE_SURFACES
    from geo.public import ensure_public

    target = cache_root / f"{folder.name}-viewer-public"
    if target.is_dir():
        return target
    pub = ensure_public(folder)
    tmp = cache_root / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    hidden = {"bases.geojson", "air.geojson", "vacuum.gpkg", "zones.geojson", "admin_summary.geojson", "admin_summary.csv", "model",
              "exports", "public"} | {f"{s}.tif" for s in SENSITIVE_SURFACES}
    # every format of the full bases, zones, admin table, GeoPackage and sensitive surfaces
    # (.parquet, .kmz, .csvt, .qml, .sld, ...), not only the names listed
    hidden_stems = {"bases", "zones", "admin_summary", "vacuum"} | set(SENSITIVE_SURFACES)
    for p in folder.iterdir():
        if p.name not in hidden and p.name.split(".")[0] not in hidden_stems:
            os.symlink(p, tmp / p.name)
    for name in ("zones.geojson", "admin_summary.geojson", "admin_summary.csv"):
        if (pub / name).is_file():
            os.symlink(pub / name, tmp / name)
    os.symlink(pub / "gap.tif", tmp / "gap.tif")  # the block gap stands in for the gap
    (tmp / "bases.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    summary = folder / "summary.json"
    if summary.is_file():
        (tmp / "summary.json").unlink(missing_ok=True)
        (tmp / "summary.json").write_text(json.dumps(viewer_summary(json.loads(summary.read_text()))), encoding="utf-8")
    try:
        os.replace(tmp, target)
    except OSError:  # made meanwhile by another request
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_table_csv(gdf, target: Path) -> None:
    """A vector product as a table: points as longitude/latitude, other shapes as WKT (atomic)."""
    from geo.export import write_csv

    table = gdf.drop(columns=gdf.geometry.name)
    geoms = gdf.geometry
    if len(gdf) and (geoms.geom_type == "Point").all():
        table["longitude"] = geoms.x.round(6)
        table["latitude"] = geoms.y.round(6)
    else:
        table["wkt"] = geoms.to_wkt(rounding_precision=6)
    write_csv(table, target)
