"""Read what a briefing shows from an analysis folder (and a scenario folder).

Layouts: :mod:`geo.products` (analysis) and :mod:`geo.scenario_products` (scenario), read
through :mod:`maps.folder` and :mod:`maps.scenario_folder`. The public variant reads only
what a viewer may see (:mod:`geo.public`): ``public/gap.tif``, the public zones (the
150 km blocks a zone touches) and admin table, the forecast risk and the viewer summary;
it never opens ``bases.geojson``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.grid import Grid
from geo.public import ensure_public, public_summary
from geo.rasters import read_surface
from geo.summaries import admin_summary

from ..errors import MapError, MissingProductError
from ..folder import AnalysisFolder, open_analysis, read_layer
from ..scenario_folder import Scenario, ScenarioPhase, read_scenario

__all__ = ["BriefSources", "PhaseView", "load_sources", "phase_views", "admin_gap_table", "read_json"]


@dataclass(frozen=True)
class PhaseView:
    """One map of the briefing: the baseline or the state after a phase (cumulative)."""

    label: str
    short: str  # "Now", "Phase 2": chart legends and table columns
    gap_path: Path
    zones: gpd.GeoDataFrame | None  # the analysis' zones (grid CRS)
    new_zones: gpd.GeoDataFrame | None  # zones the phase opens (grid CRS)
    open_ids: tuple[str, ...]
    closed_ids: tuple[str, ...]
    handed_ids: tuple[str, ...]


@dataclass(frozen=True)
class BriefSources:
    folder: AnalysisFolder
    summary: dict[str, Any]  # the viewer summary when public
    grid: Grid
    public: bool
    scenario: Scenario | None
    bases: gpd.GeoDataFrame | None  # grid CRS; None when public
    admin: gpd.GeoDataFrame | None  # grid CRS: admin_id, name, level, geometry

    @property
    def base_names(self) -> dict[str, str]:
        if self.bases is None:
            return {}
        return {str(b): str(n) for b, n in zip(self.bases["base_id"], self.bases["name"].fillna(self.bases["base_id"]),
                                                strict=True)}


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MapError(f"{path}: not valid JSON ({exc})") from None


def _to_grid(gdf: gpd.GeoDataFrame | None, grid: Grid) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    return gdf.to_crs(grid.crs)


def load_sources(analysis_dir: str | os.PathLike[str], scenario_dir: str | os.PathLike[str] | None = None,
                 *, public: bool = False) -> BriefSources:
    """The folders read once; a public briefing of a scenario is refused (a plan names bases)."""
    if public and scenario_dir is not None:
        raise MapError("a public briefing cannot show a scenario: a withdrawal plan names the bases it closes; "
                       "drop --scenario for the viewers' briefing, or --public for the planners' one")
    folder = open_analysis(analysis_dir)
    summary = folder.summary
    if public:
        pub = ensure_public(folder.path)
        _, grid = read_surface(pub / "gap.tif")
        admin_file = pub / "admin_summary.geojson"
        summary = public_summary(summary)
        bases = None
    else:
        _, grid = read_surface(folder.surface("gap"))
        admin_file = folder.path / "admin_summary.geojson"
        bases = _to_grid(folder.require("bases"), grid)
    admin = _to_grid(read_layer(admin_file), grid) if admin_file.is_file() else None
    scenario = read_scenario(scenario_dir) if scenario_dir is not None else None
    if scenario is not None and bases is not None:
        unknown = sorted({b for ph in scenario.phases for b in ph.gone} - set(bases["base_id"].astype(str)))
        if unknown:
            raise MapError(f"scenario {scenario.folder} acts on base(s) {', '.join(unknown[:5])} that the analysis "
                           f"{folder.path} does not have; give the analysis the scenario was run on")
    return BriefSources(folder, summary, grid, public, scenario, bases, admin)


def _zones(src: BriefSources) -> gpd.GeoDataFrame | None:
    p = (src.folder.path / "public" / "zones.geojson") if src.public else (src.folder.path / "zones.geojson")
    return _to_grid(read_layer(p), src.grid) if p.is_file() else None


def phase_views(src: BriefSources) -> list[PhaseView]:
    """The baseline, then one view per phase of the scenario (bases gone so far greyed)."""
    gap = (src.folder.path / "public" / "gap.tif") if src.public else src.folder.surface("gap")
    zones = _zones(src)
    all_ids = tuple(src.bases["base_id"].astype(str)) if src.bases is not None else ()
    views = [PhaseView(f"Now ({src.folder.as_of})", "Now", gap, zones, None, all_ids, (), ())]
    if src.scenario is None:
        return views
    closed: list[str] = []
    handed: list[str] = []
    for ph in src.scenario.phases:
        closed += [b for b in ph.closed if b not in closed]
        handed += [b for b in ph.handed_over if b not in handed]
        nz = ph.path("new_zones.geojson")
        views.append(PhaseView(ph.label, f"Phase {ph.index}", ph.require("gap.tif"), zones,
                               _to_grid(read_layer(nz), src.grid) if nz is not None else None,
                               tuple(b for b in all_ids if b not in closed and b not in handed),
                               tuple(closed), tuple(handed)))
    return views


def _admin_csv(src: BriefSources) -> pd.DataFrame | None:
    p = src.folder.path / ("public/admin_summary.csv" if src.public else "admin_summary.csv")
    return pd.read_csv(p, dtype={"admin_id": str}) if p.is_file() else None


def _phase_admin(ph: ScenarioPhase) -> pd.Series | None:
    p = ph.path("admin_change.csv")
    if p is None:
        return None
    tab = pd.read_csv(p, dtype={"admin_id": str})
    if "pop_weighted_gap_after" not in tab.columns:
        raise MissingProductError(f"{p} has no pop_weighted_gap_after column; rerun `vacuum scenario`")
    return tab.set_index("admin_id")["pop_weighted_gap_after"]


def _admin_risk(src: BriefSources) -> pd.Series | None:
    """Mean forecast risk per admin unit, from ``risk.tif`` over the admin polygons."""
    p = src.folder.path / "risk.tif"
    if src.admin is None or not p.is_file() or not {"admin_id", "name", "level"} <= set(src.admin.columns):
        return None
    risk, grid = read_surface(p)
    if grid.shape != src.grid.shape:
        return None
    tab = admin_summary(src.admin[["admin_id", "name", "level", "geometry"]], src.grid, risk.astype(np.float64))
    return tab.set_index("admin_id")["mean_gap"]  # the mean of the surface given: here, the risk


def admin_gap_table(src: BriefSources, views: list[PhaseView]) -> pd.DataFrame | None:
    """admin_id, name, the population-weighted gap now and after each phase (columns named by
    the views' ``short`` labels), mean risk."""
    base = _admin_csv(src)
    if base is None or "pop_weighted_gap" not in base.columns:
        return None
    out = base[["admin_id", "name", "pop_weighted_gap"]].rename(columns={"pop_weighted_gap": views[0].short})
    if src.scenario is not None:
        for ph, view in zip(src.scenario.phases, views[1:], strict=True):
            after = _phase_admin(ph)
            if after is not None:
                out[view.short] = out["admin_id"].map(after)
    risk = _admin_risk(src)
    out["risk"] = out["admin_id"].map(risk) if risk is not None else np.nan
    return out.reset_index(drop=True)
