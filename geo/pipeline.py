"""From layers to surfaces and products: the whole analysis, stage by stage.

:func:`analyze` takes GeoDataFrames (any CRS, set) and returns an
:class:`Analysis` held in memory; :func:`write_analysis` writes its products.
Each stage is timed (``Analysis.timings``) and reported to ``progress``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from .coverage import BaseTerm, CoverageModel, base_weight
from .errors import CRSMismatchError, GridError, LayerError
from .exposure import exposure_index, population_on_grid, settlement_population, site_proximity
from .friction import area_mask, hours_per_cell, speed_surface
from .grid import Grid, grid_for_area
from .params import Params
from .score import gap_score
from .summaries import GAP_CLASS_NAMES, admin_summary, class_index
from .threat import events_in_window, threat_surface
from .traveltime import build_graph, nearest_source, reach_many
from .types import BBox
from .zones import vacuum_zones

__all__ = ["AnalysisInputs", "Analysis", "analyze", "SURFACES", "Stages", "prepare_layers", "place_forces",
           "analysis_summary"]

SURFACES = ("gap", "coverage", "threat", "exposure", "travel_time", "population")


@dataclass
class AnalysisInputs:
    """The layers of one analysis, as loaded by :mod:`geo.layers` (any CRS)."""

    bases: gpd.GeoDataFrame
    events: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    sites: gpd.GeoDataFrame | None = None
    admin: gpd.GeoDataFrame | None = None
    national: gpd.GeoDataFrame | None = None
    impassable: gpd.GeoDataFrame | None = None
    population_path: Path | None = None
    population_units: Literal["count", "density"] = "count"
    bbox: BBox | None = None


@dataclass
class Analysis:
    grid: Grid
    params: Params
    as_of: date
    surfaces: dict[str, np.ndarray]
    inside: np.ndarray
    coverage_model: CoverageModel
    bases: gpd.GeoDataFrame
    events: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    admin_table: pd.DataFrame | None
    admin: gpd.GeoDataFrame | None
    nearest_base: np.ndarray
    summary: dict
    timings: dict[str, float] = field(default_factory=dict)
    sites: gpd.GeoDataFrame | None = None
    cost_h: np.ndarray | None = None  # hours to cross each cell (inf: impassable)


def prepare_layers(
    inputs: AnalysisInputs, params: Params, st: Stages, *, crs: CRS | None = None, keep_crs: Iterable[str] = ()
) -> tuple[Grid, dict[str, Any], gpd.GeoDataFrame | None]:
    """Check the inputs, choose the grid, reproject the layers to it (except those named in
    ``keep_crs``); returns the grid, the layers and the top-level admin units (or None)."""
    if inputs.admin is None and inputs.bbox is None:
        raise GridError("no area of interest: give admin units (--admin) or a bbox (--bbox W,S,E,N)")
    if len(inputs.bases) == 0:
        raise LayerError("the bases layer is empty: nothing protects anything, so there is nothing to score")
    area = inputs.admin if inputs.admin is not None else inputs.bbox
    grid = st.run("grid", grid_for_area, area, resolution_m=params.resolution_m,
                  margin_m=params.margin_km * 1000.0, crs=crs)

    def reproject():
        out = {}
        for name in ("bases", "events", "roads", "sites", "admin", "national", "impassable"):
            g = getattr(inputs, name)
            if g is not None and g.crs is None:
                raise CRSMismatchError(f"{name} layer has no CRS; set it with .set_crs(...) (the loaders in geo.layers do)")
            out[name] = None if g is None else g if name in keep_crs else g.to_crs(grid.crs)
        return out

    layers = st.run("reproject", reproject)
    top = None
    if layers["admin"] is not None:
        admin = layers["admin"]
        top = admin if "level" not in admin else admin[admin["level"] == admin["level"].min()]
    return grid, layers, top


class Stages:
    """Runs and times the stages of an analysis, reporting them to ``progress``."""

    def __init__(self, progress: Callable[[str, float], None] | None):
        self.progress = progress
        self.timings: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        if self.progress:
            self.progress(name, 0.0)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - t0, 3)
        if self.progress:
            self.progress(name, 1.0)
        return out


def analyze(
    inputs: AnalysisInputs,
    params: Params,
    as_of: date,
    *,
    crs: CRS | None = None,
    progress: Callable[[str, float], None] | None = None,
    n_jobs: int | None = None,
) -> Analysis:
    """Run the model on one set of layers as of a date."""
    st = Stages(progress)
    t_start = time.perf_counter()
    grid, L, top = prepare_layers(inputs, params, st, crs=crs)
    inside = st.run("area_mask", area_mask, grid, top) if top is not None else np.ones(grid.shape, dtype=bool)

    speed = st.run("friction", speed_surface, grid, params, L["roads"], inside, L["impassable"])
    cost = hours_per_cell(speed, grid.resolution_km)
    graph = st.run("graph", build_graph, cost)

    # --- forces: bases and national forces
    bases = L["bases"].reset_index(drop=True)
    forces, dropped = place_forces(bases, L["national"], grid, params, inputs.bases)
    src = [f["cell"] for f in forces]
    limits = [f["t_max"] for f in forces]

    def reaches():
        return reach_many(graph, src, limits, n_jobs=n_jobs,
                          progress=(lambda i, n: progress("travel_time", i / n)) if progress else None)

    rs = st.run("travel_time", reaches)
    terms = [BaseTerm(f["base_id"], f["weight"], f["t_resp"], f["t_max"], r, f["national"])
             for f, r in zip(forces, rs, strict=True)]
    model = st.run("coverage", CoverageModel, grid.shape, terms)
    coverage = model.coverage()

    base_cells = [f["cell"] for f in forces if not f["national"]]
    t_near, which = st.run("nearest_base", nearest_source, graph, base_cells, params.travel_time_cap_h)
    base_rows = np.array([f["row"] for f in forces if not f["national"]], dtype=np.int32)
    nearest_base = np.where(which >= 0, base_rows[np.clip(which, 0, None)] if len(base_rows) else -1, -1)

    # --- threat
    events = L["events"]
    if events is not None:
        r, c, ok = grid.rowcol(events.geometry.x.to_numpy(), events.geometry.y.to_numpy())
        if len(events) and not ok.any():
            raise LayerError(
                f"none of the {len(events)} events lies on the analysis grid{_swap_hint(inputs.events, grid)}; "
                "check the coordinates, the CRS and the area of interest"
            )
        events = events_in_window(events[ok], as_of, params.lookback_days)  # on the grid, in the window
        threat, _ = st.run("threat", threat_surface, events, grid, params, as_of)
    else:
        events = gpd.GeoDataFrame({"date": pd.Series(dtype="datetime64[ns]"), "fatalities": pd.Series(dtype=float)},
                                  geometry=gpd.GeoSeries([], crs=grid.crs))
        threat = np.zeros(grid.shape)

    # --- exposure
    def exposure():
        if inputs.population_path is not None:
            pop = population_on_grid(inputs.population_path, grid, inputs.population_units)
        elif L["sites"] is not None and "population" in L["sites"] and L["sites"]["population"].notna().any():
            pop = settlement_population(L["sites"][L["sites"]["kind"] == "town"], grid)
        else:
            pop = np.zeros(grid.shape)
        near = None
        if L["sites"] is not None and len(L["sites"]):
            s = L["sites"]
            r, c, ok = grid.rowcol(s.geometry.x.to_numpy(), s.geometry.y.to_numpy())
            near = site_proximity(r[ok], c[ok], grid.shape, params.critical_site_radius_km / grid.resolution_km)
        e = exposure_index(pop, grid.cell_area_km2, params.population_reference, params.exposure_floor,
                           near, params.critical_site_exposure)
        return pop, e

    population, expo = st.run("exposure", exposure)

    gap = st.run("gap", gap_score, threat, expo, coverage, params.threat_weight, params.exposure_weight)
    out_mask = ~inside
    surfaces = {
        "gap": gap, "coverage": coverage, "threat": threat, "exposure": expo,
        "travel_time": np.where(np.isfinite(t_near), t_near, np.nan), "population": population,
    }
    surfaces = {k: np.where(out_mask, np.nan, v).astype(np.float32) for k, v in surfaces.items()}

    zones = st.run("zones", vacuum_zones, surfaces["gap"], grid, threshold=params.zone_threshold,
                   min_area_km2=params.zone_min_area_km2, population=surfaces["population"], events=events,
                   bases=bases, nearest_base=nearest_base, nearest_time=t_near, breaks=params.class_breaks)
    admin_table = None
    if L["admin"] is not None:
        admin_table = st.run("admin_summary", admin_summary, L["admin"], grid, surfaces["gap"],
                             surfaces["population"], breaks=params.class_breaks)

    timings = st.timings
    timings["total"] = round(time.perf_counter() - t_start, 3)
    summary = analysis_summary(grid, params, as_of, surfaces, bases, events, zones, admin_table, dropped, inputs, timings)
    summary["layers"]["mean_cells_reached_per_force"] = round(float(np.mean([len(t.reach.index) for t in terms])), 0) if terms else 0
    return Analysis(grid, params, as_of, surfaces, inside, model, bases, events, zones, admin_table,
                    L["admin"], nearest_base.astype(np.int32), summary, timings, sites=L["sites"],
                    cost_h=cost.astype(np.float32))


def _swap_hint(gdf: gpd.GeoDataFrame, grid: Grid) -> str:
    """' (with latitude and longitude swapped, N of them would)' when swapping helps."""
    ll = gdf.to_crs(4326)
    x, y = ll.geometry.y.to_numpy(), ll.geometry.x.to_numpy()
    ok = (np.abs(y) <= 90)
    if not ok.any():
        return ""
    from pyproj import Transformer

    gx, gy = Transformer.from_crs(4326, grid.crs, always_xy=True).transform(x[ok], y[ok])
    _, _, inside = grid.rowcol(np.asarray(gx), np.asarray(gy))
    n = int(inside.sum())
    return f" (with latitude and longitude swapped, {n} of them would: are the columns swapped?)" if n else ""


def place_forces(bases: gpd.GeoDataFrame, national: gpd.GeoDataFrame | None, grid: Grid, params: Params,
                 original_bases: gpd.GeoDataFrame | None = None):
    """Per force: grid cell, weight, reach; forces outside the grid are listed, not used.

    Raises when no base at all lies on the grid (with a hint when latitude and longitude
    of ``original_bases`` look swapped)."""
    forces, dropped = [], []
    groups = [(bases, False)] + ([(national.reset_index(drop=True), True)] if national is not None else [])
    for gdf, is_nat in groups:
        r, c, ok = grid.rowcol(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
        for i in range(len(gdf)):
            row = gdf.iloc[i]
            if not ok[i]:
                dropped.append(str(row["base_id"]))
                continue
            utype = str(row.get("unit_type", "infantry"))
            if utype not in params.unit_types:
                raise LayerError(
                    f"base {row['base_id']!r} has unit_type {utype!r}; known types: {sorted(params.unit_types)} "
                    "(add one under [model.unit_types] in the config)"
                )
            s_mult, r_mult = params.unit_types[utype]
            readiness = 1.0
            if is_nat:
                rd = row.get("readiness", np.nan)
                readiness = params.national_readiness if pd.isna(rd) else float(rd)
            w = base_weight(float(row["strength"]), reference_strength=params.reference_strength,
                            coverage_at_reference=params.coverage_at_reference,
                            presence_strength=params.presence_strength, strength_mult=s_mult, readiness=readiness)
            forces.append({
                "base_id": ("national:" if is_nat else "") + str(row["base_id"]),
                "row": i, "cell": int(r[i] * grid.width + c[i]), "weight": w,
                "t_resp": params.response_threshold_h * r_mult, "t_max": params.max_reach_h * r_mult,
                "national": is_nat,
            })
    if not any(not f["national"] for f in forces):
        hint = _swap_hint(original_bases if original_bases is not None else bases, grid)
        raise LayerError(
            f"none of the {len(bases)} bases lies on the analysis grid (the area of interest plus "
            f"{params.margin_km:g} km){hint}; check the coordinates, the CRS and the area of interest"
        )
    return forces, dropped


def analysis_summary(grid, params, as_of, surfaces, bases, events, zones, admin_table, dropped, inputs, timings) -> dict:
    gap = surfaces["gap"]
    pop = surfaces["population"]
    cls = class_index(gap, params.class_breaks)
    valid = np.isfinite(gap)
    by_class = {}
    for i, name in enumerate(GAP_CLASS_NAMES):
        m = cls == i
        by_class[name] = {"area_km2": round(float(m.sum() * grid.cell_area_km2), 1),
                          "population": round(float(np.nansum(pop[m])), 0)}
    left_out = []
    if inputs.population_path is None and (inputs.sites is None or "population" not in inputs.sites):
        left_out.append("population (no raster or settlements given: exposure is the floor plus sites)")
    if inputs.events is None:
        left_out.append("threat (no events given: every gap is 0)")
    if inputs.roads is None:
        left_out.append("roads (off-road speed everywhere)")
    return {
        "as_of": as_of.isoformat(),
        "grid": {"crs": grid.crs.to_wkt(), "resolution_m": grid.resolution,
                 "width": grid.width, "height": grid.height, "cells_in_area": int(valid.sum()),
                 "bounds_lonlat": list(grid.bounds_lonlat())},
        "layers": {"bases": len(bases), "bases_outside_grid": dropped, "events_in_window": len(events)},
        "terms_left_out": left_out,
        "gap": {"mean": _r(np.nanmean(gap)) if valid.any() else None, "max": _r(np.nanmax(gap)) if valid.any() else None,
                "population_weighted_mean": _r(np.nansum(gap * pop) / np.nansum(pop)) if np.nansum(pop) > 0 else None,
                "by_class": by_class},
        "population_total": round(float(np.nansum(pop)), 0),
        "coverage_mean": _r(np.nanmean(surfaces["coverage"])),
        "zones": {"count": len(zones), "area_km2": _r(zones["area_km2"].sum()) if len(zones) else 0.0,
                  "population": _r(zones["population"].sum()) if len(zones) else 0.0},
        "params": params.as_dict(),
        "timings_s": timings,
    }


def _r(v) -> float:
    return round(float(v), 3)
