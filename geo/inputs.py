"""The one door to an analysis' inputs: :func:`build_inputs` turns an :class:`InputSpec`
(file paths, or GeoDataFrames a store already validated, and how to read them) into the
:class:`~geo.pipeline.AnalysisInputs` that :func:`geo.pipeline.analyze` takes.

The CLI (``vacuum analyze``, ``vacuum backtest``), the service's worker and the
benchmarks all build their inputs here, so a layer is checked one way and a missing
CRS gets one message wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from . import layers
from .errors import ConfigError, GridError, MissingCRSError
from .pipeline import AnalysisInputs
from .provenance import Provenance, provenance_of
from .readers import read_vector, validate_geometries
from .types import BBox

__all__ = ["LayerSource", "InputSpec", "build_inputs", "analysis_crs", "default_as_of", "SITE_KINDS", "check_as_of",
           "check_future_events", "roads_inside", "combine_water", "events_outside_admin", "SNAP_REPORT_KM"]

LayerSource: TypeAlias = str | Path | gpd.GeoDataFrame
"""A layer file (``FILE`` or ``FILE.gpkg::layer``), or a GeoDataFrame already in a loader's schema."""

SITE_KINDS: dict[str, Literal["town", "airport", "critical"]] = {
    "towns": "town", "airports": "airport", "sites": "critical"}
"""The three site layers and the ``kind`` each gets in the combined sites layer."""


@dataclass
class InputSpec:
    """What to analyse and how to read it. Layer fields take a path or a GeoDataFrame;
    the reading options apply to paths only."""

    bases: LayerSource
    events: LayerSource | None = None
    roads: LayerSource | None = None
    towns: LayerSource | None = None
    airports: LayerSource | None = None
    sites: LayerSource | None = None
    admin: LayerSource | None = None
    national: LayerSource | None = None
    impassable: LayerSource | None = None
    rivers: LayerSource | None = None  # lines or polygons; roads cross them (river_speed_kmh off-road)
    lakes: LayerSource | None = None  # polygons; as rivers
    population: str | Path | None = None
    population_units: Literal["count", "density"] | None = None
    bbox: BBox | None = None
    # how files are read
    as_of: date | None = None  # the Geo-PKO map in force on this date
    mission: str | None = None
    max_map_age_days: float | None = 365.0
    mapping: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # per layer: our field -> column
    year_only: bool = False
    road_class_column: str | None = None
    repair: bool = False
    admin_level: int | None = None
    admin_name_column: str | None = None
    admin_id_column: str | None = None
    layer_crs: CRS | None = None  # for files that declare no CRS, and only those
    allow_future_events: bool = False  # events dated after today / the as-of date: kept (not used) instead of refused
    keep_events_after_as_of: bool = False  # a backtest's outcome: events after as_of (up to today) are wanted
    snap_events_km: float = 0.0  # move events this close outside the admin polygons onto them (0: off)
    max_raster_pixels: int | None = layers.MAX_RASTER_PIXELS  # largest population raster (None: no limit)


def build_inputs(spec: InputSpec) -> AnalysisInputs:
    """Load (or take) every layer of ``spec``, check each has a CRS, combine the site layers."""
    if spec.population is not None and spec.population_units is None:
        raise ConfigError("population_units is required with a population raster: 'count' (people per cell) "
                          "or 'density' (people per km²)")
    if spec.snap_events_km is None or not spec.snap_events_km >= 0:
        raise ConfigError(f"snap_events_km={spec.snap_events_km!r}: give a distance in km >= 0 (0: no snapping)")
    if spec.as_of is not None:
        check_as_of(spec.as_of, allow_future=spec.allow_future_events)
    warned: list[str] = []
    if spec.population is not None:
        warned += layers.check_population_raster(spec.population, units=spec.population_units,
                                                 max_pixels=spec.max_raster_pixels)
    if spec.bbox is not None and len(spec.bbox) != 4:
        raise GridError(f"bbox {tuple(spec.bbox)}: need 4 numbers W,S,E,N")
    read = _Reader(spec)
    sites = [read(name, layers.load_sites, kind=kind, mapping=spec.mapping.get(name))
             for name, kind in SITE_KINDS.items()]
    inputs = AnalysisInputs(
        bases=read("bases", layers.load_bases, as_of=spec.as_of, mission=spec.mission,
                   mapping=spec.mapping.get("bases"), max_map_age_days=spec.max_map_age_days),
        events=read("events", layers.load_events, mapping=spec.mapping.get("events"), year_only=spec.year_only),
        roads=read("roads", layers.load_roads, class_column=spec.road_class_column, repair=spec.repair),
        sites=combine_sites([s for s in sites if s is not None]),
        admin=read("admin", layers.load_admin, repair=spec.repair, level=spec.admin_level,
                   name_column=spec.admin_name_column, id_column=spec.admin_id_column),
        national=read("national", layers.load_bases, mapping=spec.mapping.get("national")),
        impassable=read("impassable", _load_impassable, repair=spec.repair),
        water=combine_water([w for w in (read("rivers", layers.load_water, kind="river", repair=spec.repair),
                                         read("lakes", layers.load_water, kind="lake", repair=spec.repair))
                             if w is not None]),
        population_path=Path(spec.population) if spec.population is not None else None,
        population_units=spec.population_units or "count",
        bbox=BBox(*(float(v) for v in spec.bbox)) if spec.bbox is not None else None,
    )
    if inputs.bases is None:
        raise ConfigError("bases is required (peacekeeper positions: Geo-PKO CSV or any point layer)")
    warned += list(inputs.bases.attrs.get("notes", []))
    if inputs.events is not None:
        check_future_events(inputs.events, None if spec.keep_events_after_as_of else spec.as_of,
                            allow=spec.allow_future_events)
    area = _area(inputs)
    if area is not None and inputs.roads is not None:
        warned += roads_inside(inputs.roads, area)
    if inputs.admin is not None and inputs.events is not None:
        inputs.events, notes = events_outside_admin(inputs.events, inputs.admin, spec.snap_events_km)
        warned += notes
    inputs.warnings = warned
    inputs.provenance = _provenance(spec, inputs)
    return inputs


def _provenance(spec: InputSpec, inputs: AnalysisInputs) -> Provenance:
    from . import __version__

    names = ("bases", "events", "roads", "towns", "airports", "sites", "admin", "national", "impassable",
             "population")
    return provenance_of({k: getattr(spec, k) for k in names},
                         {"bases": inputs.bases, "events": inputs.events}, __version__)


SNAP_REPORT_KM = 25.0
"""Events outside the admin polygons but within this distance of them are counted in a
warning (farther ones are other places, not a coarse boundary's victims)."""


def check_as_of(as_of: date, *, allow_future: bool = False) -> None:
    """Refuse an as-of date after today (unless ``allow_future``) or past pandas' calendar."""
    if as_of > date.today() and not allow_future:
        raise ConfigError(f"as-of date {as_of.isoformat()} is after today ({date.today().isoformat()}): "
                          "nothing is known of it yet; give a date up to today (--as-of YYYY-MM-DD), "
                          "or allow_future_events=True (--allow-future-events) for a planning date")
    if as_of > date(2262, 4, 10):
        raise ConfigError(f"as-of date {as_of.isoformat()} is after 2262-04-10, the last date the engine "
                          "can hold; give a real analysis date (--as-of YYYY-MM-DD)")


def check_future_events(events: gpd.GeoDataFrame, as_of: date | None, *, allow: bool) -> None:
    """Events dated after today, or after the as-of date given, are an error unless ``allow``:
    one event dated 2099 would otherwise become the default as-of date."""
    if allow or len(events) == 0:
        return
    limit = as_of if as_of is not None else date.today()
    dates = pd.to_datetime(events["date"])
    late = dates > pd.Timestamp(limit)
    if late.any():
        which = f"the as-of date {limit.isoformat()}" if as_of is not None else f"today ({limit.isoformat()})"
        ids = events["event_id"].astype(str)[late].tolist() if "event_id" in events else []
        shown = f" (event_id {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})" if ids else ""
        raise ConfigError(
            f"{int(late.sum())} event(s) dated after {which}{shown}, the latest {dates[late].max().date()}: "
            "a typo in the date? Fix or remove them, or pass allow_future_events=True "
            "(--allow-future-events) to keep them out of the analysis")


def _area(inputs: AnalysisInputs) -> gpd.GeoSeries | None:
    """The area of interest as one geometry (admin units, else the bbox in lon/lat)."""
    if inputs.admin is not None:
        return gpd.GeoSeries([inputs.admin.geometry.union_all()], crs=inputs.admin.crs)
    if inputs.bbox is not None:
        from shapely.geometry import box

        return gpd.GeoSeries([box(*inputs.bbox)], crs=4326)
    return None


def roads_inside(roads: gpd.GeoDataFrame, area: gpd.GeoSeries) -> list[str]:
    """A warning when no road of ``roads`` touches ``area``: travel would be off-road everywhere."""
    if len(roads) == 0:
        return []
    geom = area.to_crs(roads.crs).iloc[0]
    if len(roads.sindex.query(geom, predicate="intersects")):
        return []
    w, s, e, n = roads.to_crs(4326).total_bounds
    return [f"no road of the road layer lies inside the area (roads span lon {w:.2f}..{e:.2f}, lat {s:.2f}..{n:.2f}): "
            "all travel is off-road; check the road file, its CRS and the area"]


def events_outside_admin(
    events: gpd.GeoDataFrame, admin: gpd.GeoDataFrame, snap_km: float = 0.0
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Count the events just outside the admin polygons (within :data:`SNAP_REPORT_KM`, or
    ``snap_km`` if larger) and, with ``snap_km > 0``, move those within ``snap_km`` onto the
    nearest unit, 10 m inside its edge. Returns (events, warnings); ``events`` is a copy
    when anything moved."""
    from shapely import shortest_line
    from shapely.geometry import Point

    from .grid import equal_area_crs

    if len(events) == 0 or len(admin) == 0:
        return events, []
    lon, lat = gpd.GeoSeries([admin.geometry.union_all()], crs=admin.crs).to_crs(4326).iloc[0].centroid.coords[0]
    metric = equal_area_crs(lon, lat)
    union = admin.to_crs(metric).geometry.union_all()
    pts = events.to_crs(metric).geometry
    # an event inside the area is 0 km from it: only the others are measured (a prepared
    # point-in-polygon test is ~100 times cheaper than a distance to the whole boundary)
    shapely.prepare(union)
    geoms = pts.to_numpy()
    dist_km = np.zeros(len(geoms))
    out_of = ~shapely.contains(union, geoms)
    dist_km[out_of] = shapely.distance(geoms[out_of], union) / 1000.0
    near = (dist_km > 0) & (dist_km <= max(SNAP_REPORT_KM, snap_km))
    if not near.any():
        return events, []
    snap = (dist_km > 0) & (dist_km <= snap_km)
    notes = []
    unsnapped = int((near & ~snap).sum())
    if unsnapped:
        ids = events["event_id"].astype(str).to_numpy()[near & ~snap][:5] if "event_id" in events else []
        notes.append(
            f"{unsnapped} event(s) lie outside the admin polygons but within "
            f"{max(SNAP_REPORT_KM, snap_km):g} km of them (nearest {dist_km[near & ~snap].min():.1f} km; "
            f"event_id {', '.join(ids)}): they are not scored; a coarse boundary? pass snap_events_km=KM "
            "(CLI: --snap-events-km KM) to move those within KM km onto the nearest unit")
    if not snap.any():
        return events, notes
    moved = pts.copy()
    for i in np.flatnonzero(snap):
        (x0, y0), (x1, y1) = shortest_line(pts.iloc[i], union).coords  # event -> nearest point of the area
        d = float(np.hypot(x1 - x0, y1 - y0))
        moved.iloc[i] = Point(x1 + (x1 - x0) / d * 10.0, y1 + (y1 - y0) / d * 10.0)  # 10 m past the edge
    geoms = events.geometry.copy()
    geoms[snap] = moved[snap].to_crs(events.crs)  # only the moved ones: no reprojection round trip for the rest
    out = events.set_geometry(geoms)
    out.attrs = dict(events.attrs)
    notes.append(f"moved {int(snap.sum())} event(s) lying outside the admin polygons within {snap_km:g} km of "
                 "them onto the nearest unit (snap_events_km)")
    return out, notes


class _Reader:
    """Reads one layer of a spec: a path through its loader (``layer_crs`` applied to
    files that declare no CRS), a GeoDataFrame as it is; either must end with a CRS."""

    def __init__(self, spec: InputSpec):
        self.spec = spec

    def __call__(self, name: str, loader: Callable[..., gpd.GeoDataFrame], **kwargs: Any) -> gpd.GeoDataFrame | None:
        src = getattr(self.spec, name)
        if src is None:
            return None
        if isinstance(src, gpd.GeoDataFrame):
            gdf = src
        else:
            try:
                gdf = loader(src, **kwargs)
            except MissingCRSError:
                if self.spec.layer_crs is None:
                    raise
                gdf = loader(src, crs=self.spec.layer_crs, **kwargs)
        if gdf.crs is None:
            raise MissingCRSError(f"{name} layer has no CRS; set it with .set_crs(...) or give layer_crs "
                                  "(--layer-crs) for files that declare none")
        return gdf


def _load_impassable(path: str | Path, *, crs: Any = None, repair: bool = False) -> gpd.GeoDataFrame:
    gdf = read_vector(path, crs=crs)
    return validate_geometries(gdf, what="impassable layer", id_column=None, allowed={"Polygon", "MultiPolygon"},
                               repair=repair)


def combine_water(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    """Rivers and lakes as one water layer, in the first one's CRS."""
    if not frames:
        return None
    crs0 = frames[0].crs
    return gpd.GeoDataFrame(pd.concat([f.to_crs(crs0) for f in frames], ignore_index=True), crs=crs0)


def combine_sites(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    """Towns, airports and critical sites as one layer, in the first one's CRS."""
    if not frames:
        return None
    crs0 = frames[0].crs
    return gpd.GeoDataFrame(pd.concat([f.to_crs(crs0) for f in frames], ignore_index=True), crs=crs0)


def analysis_crs(value: str | CRS | None) -> CRS | None:
    """The analysis CRS a user asked for (None: an equal-area CRS centred on the area).

    Raises :class:`GridError` for a value that is not a CRS, or a geographic one."""
    if value is None:
        return None
    try:
        crs = CRS.from_user_input(value)
    except CRSError as exc:
        raise GridError(f"crs {value!r}: bad CRS ({exc}); use e.g. EPSG:32634") from None
    if not crs.is_projected:
        raise GridError(f"crs {crs.name} is geographic: the analysis CRS must be projected (metres), e.g. "
                        "EPSG:32634, or left out for an equal-area CRS centred on the area")
    return crs


def default_as_of(inputs: AnalysisInputs) -> tuple[date, str]:
    """The as-of date when none is given, and the sentence that says which it is."""
    if inputs.events is not None and len(inputs.events):
        dates = pd.to_datetime(inputs.events["date"])
        dates = dates[dates <= pd.Timestamp(date.today())]  # future events (allowed) do not move it
        if len(dates):
            d = dates.max().date()
            return d, f"as-of date not given: using {d} (latest event)"
    d = date.today()
    return d, f"as-of date not given: using today, {d}"
