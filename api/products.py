"""The products of a finished job folder, what each role may see of them, and their exports.

A job folder is written by :func:`geo.products.write_analysis` (layout in
:mod:`geo.products`). Viewers get aggregated products only: zones without the nearest
base, admin tables, the summary without base ids. Exports (planner and above): every
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
]

SURFACE_NAMES = tuple(SURFACES)
BASE_COLUMNS_IN_ZONES = ("nearest_base_id", "nearest_base_name", "travel_time_h")
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


def viewer_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without the ids of bases (a viewer learns counts, not which bases)."""
    out = json.loads(json.dumps(summary))
    layers = out.get("layers", {})
    if "bases_outside_grid" in layers:
        layers["bases_outside_grid"] = len(layers["bases_outside_grid"] or [])
    return out


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

    Links to every product except the bases and the surfaces that pinpoint them; the
    bases layer is an empty FeatureCollection and the zones lose their nearest-base
    columns. Made once per analysis under ``cache_root``.
    """
    import os
    import shutil
    import uuid

    from api.auth import SENSITIVE_SURFACES

    target = cache_root / f"{folder.name}-viewer"
    if target.is_dir():
        return target
    tmp = cache_root / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    hidden = {"bases.geojson", "vacuum.gpkg", "zones.geojson", "model", "exports"} | {f"{s}.tif" for s in SENSITIVE_SURFACES}
    for p in folder.iterdir():
        if p.name not in hidden:
            os.symlink(p, tmp / p.name)
    (tmp / "zones.geojson").write_text(json.dumps(zones_geojson(folder, with_bases=False)), encoding="utf-8")
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
