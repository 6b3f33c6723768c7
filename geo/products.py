"""Write an :class:`~geo.pipeline.Analysis` to a folder, and read back what scenarios need.

Layout of an analysis folder::

    gap.tif coverage.tif threat.tif exposure.tif travel_time.tif population.tif   (COGs)
    zones.geojson admin_summary.geojson bases.geojson events.geojson sites.geojson (RFC 7946)
    vacuum.gpkg   (layers zones, admin_summary, bases, events, sites; EPSG:4326)
    admin_summary.csv  summary.json
    model/coverage_terms.npz  model/analysis.json   per-base reach and weight, for what-if
    model/friction.npz                              hours to cross each cell (inf: impassable)
    model/params.json                               the model parameters and as-of date
    air.geojson   airfields the air-capable bases fly from (radius, speed, reaction; geo.air)
    public/gap.tif zones.geojson admin_summary.geojson admin_summary.csv public.json
                                                    what viewers get (geo.public)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .coverage import BaseTerm, CoverageModel
from .export import write_csv, write_geojson, write_gpkg_layer, write_json
from .grid import Grid
from .pipeline import SURFACES, Analysis
from .rasters import write_cog
from .traveltime import Reach

__all__ = ["write_analysis", "save_coverage_model", "load_coverage_model"]

_DESCRIPTIONS = {
    "gap": "coverage-gap score 0..100 (forecast risk and exposure left uncovered)",
    "risk": "forecast: probability of at least one event in the unit within the horizon",
    "coverage": "protective coverage 0..1",
    "threat": "threat index 0..1",
    "exposure": "exposure index 0..1",
    "travel_time": "hours to the nearest base",
    "population": "people per cell",
}


def write_analysis(analysis: Analysis, out_dir: str | Path, progress=None) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for i, name in enumerate(SURFACES):
        if progress:
            progress("write_cogs", i / len(SURFACES))
        paths[name] = write_cog(out / f"{name}.tif", analysis.surfaces[name], analysis.grid,
                                description=_DESCRIPTIONS[name], tags={"as_of": analysis.as_of.isoformat()})
    if progress:
        progress("write_vectors", 0.0)
    gpkg = out / "vacuum.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    zones = analysis.zones
    paths["zones"] = write_geojson(zones, out / "zones.geojson")
    write_gpkg_layer(zones, gpkg, "zones")
    bases = analysis.bases.copy()
    bases["map_date"] = bases["map_date"].astype(str) if "map_date" in bases else None
    keep = [c for c in ("base_id", "name", "mission", "strength", "unit_type", "strength_source", "map_date", "hq", "geometry") if c in bases]
    paths["bases"] = write_geojson(bases[keep], out / "bases.geojson")
    write_gpkg_layer(bases[keep], gpkg, "bases")
    ev = analysis.events
    if len(ev):
        evk = ev[[c for c in ("event_id", "date", "event_type", "fatalities", "actors", "geometry") if c in ev]].copy()
        evk["date"] = evk["date"].dt.strftime("%Y-%m-%d")
        paths["events"] = write_geojson(evk, out / "events.geojson")
        write_gpkg_layer(evk, gpkg, "events")
    if analysis.sites is not None and len(analysis.sites):
        sk = analysis.sites[[c for c in ("site_id", "name", "kind", "subtype", "population", "geometry")
                             if c in analysis.sites]]
        paths["sites"] = write_geojson(sk, out / "sites.geojson")
        write_gpkg_layer(sk, gpkg, "sites")
    if analysis.admin_table is not None and analysis.admin is not None:
        tab = analysis.admin_table
        cols = ["admin_id"] + [c for c in analysis.admin.columns if c not in tab.columns and c != "admin_id"]
        gdf = analysis.admin[cols].merge(tab, on="admin_id", how="right")
        gdf = gdf.set_geometry("geometry")
        paths["admin_summary"] = write_geojson(gdf, out / "admin_summary.geojson")
        write_gpkg_layer(gdf, gpkg, "admin_summary")
        paths["admin_csv"] = write_csv(tab, out / "admin_summary.csv")
    paths["gpkg"] = gpkg
    save_coverage_model(analysis.coverage_model, analysis.grid, out / "model")
    if analysis.cost_h is not None:
        fd, tmp = tempfile.mkstemp(dir=out / "model", suffix=".npz")
        os.close(fd)
        np.savez_compressed(tmp, cost_h=analysis.cost_h)
        os.replace(tmp, out / "model" / "friction.npz")
    write_json({"params": analysis.params.as_dict(), "as_of": analysis.as_of.isoformat()}, out / "model" / "params.json")
    if analysis.forecast is not None:
        write_json(analysis.forecast.describe(), out / "model" / "forecast.json")
    if analysis.air is not None and len(analysis.air):  # airfields flown from: as sensitive as the bases
        paths["air"] = write_geojson(analysis.air, out / "air.geojson")
    paths["summary"] = write_json(analysis.summary, out / "summary.json")
    from .public import write_public  # the viewer-safe products (docs/service.md)

    paths["public"] = write_public(out)
    if progress:
        progress("write_vectors", 1.0)
    return paths


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
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, allow_pickle=False, **arrays)
    os.replace(tmp, folder / "coverage_terms.npz")
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
