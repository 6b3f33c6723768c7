"""Write an :class:`~geo.pipeline.Analysis` to a folder, and read back what scenarios need.

Layout of an analysis folder::

    gap.tif coverage.tif threat.tif exposure.tif travel_time.tif population.tif   (COGs)
    gap.qml gap.sld ...                     a QGIS style and an SLD beside each COG (geo.styles)
    zones.geojson admin_summary.geojson bases.geojson events.geojson sites.geojson (RFC 7946)
    zones.parquet admin_summary.parquet bases.parquet events.parquet sites.parquet (GeoParquet 1.0)
    zones.kmz admin_summary.kmz             KML in a zip, for Google Earth and field tablets
    vacuum.gpkg   (GeoPackage 1.2: layers zones, admin_summary, bases, events, sites in EPSG:4326,
                   QGIS styles in layer_styles)
    admin_summary.csv admin_summary.csvt  summary.json
    model/coverage_terms.npz  model/analysis.json   per-base reach and weight, for what-if
    model/friction.npz                              hours to cross each cell (inf: impassable)
    model/params.json                               the model parameters and as-of date
    air.geojson   airfields the air-capable bases fly from (radius, speed, reaction; geo.air)
    public/gap.tif zones.geojson admin_summary.geojson admin_summary.csv public.json
                                                    what viewers get (geo.public)

Two runs on the same inputs write the same bytes in every file but ``summary.json``
(its ``timings_s``): GeoPackage timestamps are the as-of date, zip entries carry a fixed date.
Independent files are written side by side on :data:`WRITE_WORKERS` threads, and hold the same
bytes as when written one by one. ``model/coverage_terms.npz`` is deflated at zlib level 1
(:data:`COVERAGE_TERMS_LEVEL`; level 6 before session 4 of issue 11): other bytes, the same arrays.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np

from .coverage import BaseTerm, CoverageModel
from .export import (
    GpkgLayer,
    as_dates,
    as_multi,
    atomic_path,
    to_wgs84,
    write_csv,
    write_geojson,
    write_geoparquet,
    write_gpkg,
    write_json,
    write_kmz,
    write_npz,
)
from .grid import Grid
from .legend import STYLES, SurfaceStyle
from .pipeline import SURFACES, Analysis
from .rasters import write_cog
from .styles import VECTOR_STYLES, raster_qml, raster_sld, vector_style
from .traveltime import Reach

__all__ = ["write_analysis", "WRITE_WORKERS", "save_coverage_model", "load_coverage_model", "write_raster_styles", "surface_unit",
           "VectorProduct", "vector_products", "class_colors", "gpkg_timestamp", "DATE_COLUMNS", "KMZ_LAYERS"]

_DESCRIPTIONS = {
    "gap": "coverage-gap score 0..100 (forecast risk and exposure left uncovered)",
    "risk": "forecast: probability of at least one event in the unit within the horizon",
    "coverage": "protective coverage 0..1",
    "threat": "threat index 0..1",
    "exposure": "exposure index 0..1",
    "travel_time": "hours to the nearest base (nodata: none within the travel-time cap)",
    "population": "people per cell",
}
_UNITS = {"gap": "score 0..100", "risk": "probability 0..1", "coverage": "0..1", "threat": "0..1",
          "exposure": "0..1", "travel_time": "hours"}
DATE_COLUMNS = ("date", "map_date")
"""Columns written as DATE in the GeoPackage and GeoParquet (ISO strings in GeoJSON)."""
KMZ_LAYERS = {"zones": "zone_id", "admin_summary": "name"}
"""The layers also written as KMZ, and the column that names each placemark."""


@dataclass(frozen=True)
class VectorProduct:
    """One vector layer of the folder: ``frame`` as GeoJSON holds it, its geometry type."""

    name: str
    frame: gpd.GeoDataFrame
    geometry_type: str


def surface_unit(name: str, cell_area_km2: float) -> str:
    """The band unit of a surface's COG (population: people per cell, per km² on 1 km² cells)."""
    if name == "population":
        return "persons per km²" if abs(cell_area_km2 - 1.0) < 1e-9 else f"persons per cell ({cell_area_km2:g} km²)"
    return _UNITS[name]


def gpkg_timestamp(as_of: date) -> str:
    """The ``last_change`` written into GeoPackages: midnight UTC of the as-of date, so two
    runs of one analysis write the same bytes."""
    return f"{as_of.isoformat()}T00:00:00.000Z"


def write_raster_styles(cog: Path, style: SurfaceStyle) -> tuple[Path, Path]:
    """``NAME.qml`` (QGIS loads it with ``NAME.tif``) and ``NAME.sld`` beside a COG."""
    qml, sld = cog.with_suffix(".qml"), cog.with_suffix(".sld")
    for path, text in ((qml, raster_qml(style)), (sld, raster_sld(style, cog.stem))):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return qml, sld


WRITE_WORKERS = 4
"""Threads :func:`write_analysis` writes products on: GDAL (COG, GeoJSON, GeoPackage, KML), Arrow
(GeoParquet) and zlib (``.npz``) release the GIL while they encode, so independent products are
written side by side."""


def write_analysis(analysis: Analysis, out_dir: str | Path, progress=None, *,
                   workers: int = WRITE_WORKERS) -> dict[str, Path]:
    """Write every product of ``analysis`` into ``out_dir`` (layout in the module docstring);
    returns the paths by product.

    Independent products are written at the same time on ``workers`` threads (1: one after
    the other); each file is still written atomically and holds the same bytes either way.
    ``public/`` is made from the gap, population, zones and admin products, so it is written
    once they are in place; ``summary.json`` last. ``progress`` is called from this thread
    only (``write_cogs`` as the COGs are done, then ``write_vectors``); an error in any
    product is raised once the products already under way are finished.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model").mkdir(exist_ok=True)
    write_json({"params": analysis.params.as_dict(), "as_of": analysis.as_of.isoformat()}, out / "model" / "params.json")
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="vacuum-write")
    try:
        cogs = {name: pool.submit(_write_surface, analysis, out, name) for name in SURFACES}
        vectors = _submit_vectors(pool, analysis, out)
        model = [pool.submit(save_coverage_model, analysis.coverage_model, analysis.grid, out / "model")]
        if analysis.cost_h is not None:
            model.append(pool.submit(write_npz, {"cost_h": analysis.cost_h}, out / "model" / "friction.npz"))
        if analysis.forecast is not None:
            model.append(pool.submit(write_json, analysis.forecast.describe(), out / "model" / "forecast.json"))
        air = None
        if analysis.air is not None and len(analysis.air):  # airfields flown from: as sensitive as the bases
            air = pool.submit(write_geojson, analysis.air, out / "air.geojson")
        paths: dict[str, Path] = {}
        for i, (name, fut) in enumerate(cogs.items()):
            if progress:
                progress("write_cogs", i / len(cogs))
            paths[name] = fut.result()
        if progress:
            progress("write_vectors", 0.0)
        paths.update({key: fut.result() for key, fut in vectors.items()})
        # the viewer-safe products (docs/service.md), made from the files above
        from .public import write_public

        public = pool.submit(write_public, out)
        for fut in model:
            fut.result()
        if air is not None:
            paths["air"] = air.result()
        paths["summary"] = write_json(analysis.summary, out / "summary.json")
        paths["public"] = public.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if progress:
        progress("write_vectors", 1.0)
    return paths


def _write_surface(analysis: Analysis, out: Path, name: str) -> Path:
    """One surface as a COG with its ``.qml`` and ``.sld``."""
    path = write_cog(out / f"{name}.tif", analysis.surfaces[name], analysis.grid, description=_DESCRIPTIONS[name],
                     unit=surface_unit(name, analysis.grid.cell_area_km2), tags={"as_of": analysis.as_of.isoformat()})
    write_raster_styles(path, STYLES[name])
    return path


def vector_products(analysis: Analysis) -> list[VectorProduct]:
    """The vector layers of an analysis folder, in the order they are written."""
    out = [VectorProduct("zones", analysis.zones, "MultiPolygon")]
    bases = analysis.bases.copy()
    if "map_date" in bases:
        bases["map_date"] = bases["map_date"].astype(str)
    keep = [c for c in ("base_id", "name", "mission", "strength", "unit_type", "strength_source", "map_date", "hq",
                        "geometry") if c in bases]
    out.append(VectorProduct("bases", bases[keep], "Point"))
    ev = analysis.events
    evk = ev[[c for c in ("event_id", "date", "event_type", "fatalities", "actors", "geometry") if c in ev]].copy()
    if "date" in evk:
        evk["date"] = evk["date"].dt.strftime("%Y-%m-%d")
    out.append(VectorProduct("events", evk, "Point"))
    if analysis.sites is not None:
        sk = analysis.sites[[c for c in ("site_id", "name", "kind", "subtype", "population", "geometry")
                             if c in analysis.sites]]
        out.append(VectorProduct("sites", sk, "Point"))
    if analysis.admin_table is not None and analysis.admin is not None:
        tab = analysis.admin_table
        cols = ["admin_id"] + [c for c in analysis.admin.columns if c not in tab.columns and c != "admin_id"]
        gdf = analysis.admin[cols].merge(tab, on="admin_id", how="right").set_geometry("geometry")
        out.append(VectorProduct("admin_summary", gdf, "MultiPolygon"))
    return out


NO_CLASS_COLOR = "#bdbdbd"
"""The KMZ fill of a feature with no class (no cell inside the area)."""


def class_colors(vp: VectorProduct) -> list[str]:
    """The legend colour of each feature of a styled layer (:data:`geo.styles.VECTOR_STYLES`):
    by class label or by value, as the GeoPackage style colours it."""
    spec = VECTOR_STYLES[vp.name]
    style = STYLES[spec.surface]
    column = vp.frame[spec.column]
    if spec.kind == "categorized":
        lookup = dict(zip(style.labels, style.colors, strict=True))
        return [lookup.get(v, NO_CLASS_COLOR) for v in column]
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    cls = np.searchsorted(np.asarray(style.breaks, dtype="float64"), np.nan_to_num(values), side="right")
    return [style.colors[c] if np.isfinite(v) else NO_CLASS_COLOR for c, v in zip(cls, values, strict=True)]


def _submit_vectors(pool: ThreadPoolExecutor, analysis: Analysis, out: Path) -> dict[str, Future]:
    """GeoJSON (non-empty layers, as before), GeoParquet and a GeoPackage layer of every
    layer (empty ones too), KMZ of zones and admin units, the admin table as CSV: each file a
    task of ``pool``; the futures by product, in the order the paths are listed."""
    futures: dict[str, Future] = {}
    layers: list[GpkgLayer] = []
    for vp in vector_products(analysis):
        lonlat = to_wgs84(vp.frame, vp.name)  # once for every format (each writes lon/lat)
        if len(vp.frame) or vp.name in ("zones", "bases", "admin_summary"):
            futures[vp.name] = pool.submit(write_geojson, lonlat, out / f"{vp.name}.geojson")
        typed = as_dates(as_multi(lonlat) if vp.geometry_type == "MultiPolygon" else lonlat, DATE_COLUMNS)
        futures[f"{vp.name}_parquet"] = pool.submit(write_geoparquet, typed, out / f"{vp.name}.parquet")
        layers.append(GpkgLayer(vp.name, typed, vp.geometry_type))
        if vp.name in KMZ_LAYERS:
            futures[f"{vp.name}_kmz"] = pool.submit(write_kmz, lonlat, out / f"{vp.name}.kmz", layer=vp.name,
                                                    name_field=KMZ_LAYERS[vp.name], colors=class_colors(vp))
    names = {layer.name for layer in layers}
    styles = [vector_style(name) for name in VECTOR_STYLES if name in names]
    futures["gpkg"] = pool.submit(write_gpkg, out / "vacuum.gpkg", layers, styles=styles,
                                  timestamp=gpkg_timestamp(analysis.as_of))
    if analysis.admin_table is not None and analysis.admin is not None:
        futures["admin_csv"] = pool.submit(write_csv, analysis.admin_table, out / "admin_summary.csv", csvt=True)
    return futures


COVERAGE_TERMS_LEVEL = 1
"""zlib level of ``model/coverage_terms.npz``: the sorted cell indices make level 6 spend
0.7 s on the Mali-sized case for 3 % less space than level 1 (0.26 s); the arrays read back
the same at any level."""


def save_coverage_model(model: CoverageModel, grid: Grid, folder: Path) -> Path:
    """Per-base reach arrays and weights, so a scenario need not recompute travel times."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    terms: list[dict] = []
    meta = {"grid": grid.to_dict(), "terms": terms}
    for k, t in enumerate(model.terms):
        arrays[f"i{k}"] = t.reach.index
        arrays[f"h{k}"] = t.reach.hours
        terms.append({"base_id": t.base_id, "weight": t.weight, "t_resp": t.t_resp,
                              "t_max": t.t_max, "national": t.national})
    write_npz(arrays, folder / "coverage_terms.npz", compresslevel=COVERAGE_TERMS_LEVEL)
    write_json(meta, folder / "analysis.json")
    return folder


def load_coverage_model(folder: str | Path) -> tuple[CoverageModel, Grid]:
    folder = Path(folder)
    meta = json.loads((folder / "analysis.json").read_text())
    grid = Grid.from_dict(meta["grid"])
    with np.load(folder / "coverage_terms.npz") as z:
        terms = [
            BaseTerm(m["base_id"], m["weight"], m["t_resp"], m["t_max"], Reach(z[f"i{k}"], z[f"h{k}"]), m["national"])
            for k, m in enumerate(meta["terms"])
        ]
    return CoverageModel(grid.shape, terms), grid
