"""From layers to surfaces and products: the whole analysis, stage by stage, written once.

:func:`analyze` takes GeoDataFrames (any CRS, set) and returns an :class:`Analysis`
held in memory; :func:`geo.products.write_analysis` writes its products. Where each
stage runs is the executor's business (:class:`~geo.executors.LocalExecutor`, the
default, or :class:`geo.dask.DaskExecutor`): the stages below call only the
executor's operations, so the two cannot drift apart.

Stages (each timed in ``Analysis.timings`` and reported to ``progress``)::

    grid, reproject  (client)   checks, the grid, every layer to the grid CRS
    events           (client)   events on the grid: the look-back window (weighted), and all history
    friction         kernel     geo.friction.friction                       per block
    travel_time      kernel     reach of every force, nearest base           per block + halo
    air              (client)   geo.air: helicopter reach of air-capable bases merged in (faster of the two)
    coverage         (client)   CoverageModel from the reaches
    threat           kernel     geo.threat.density_of_counts, threat_index   halo 4 sigma + 1
    forecast         (client)   geo.risk.forecast_risk on forecast units, painted onto the cells
    exposure         kernel     geo.exposure.grid_population (one task), proximity (halo r + 1)
    gap              kernel     geo.score.gap_score(risk, exposure, coverage), NaN outside the area
    zones, admin_summary        vacuum zones and per-unit tables
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from .air import air_links_frame, air_stage, plan_air
from .coverage import CoverageModel, base_weight
from .errors import ConfigError, GridError, LayerError, MissingCRSError
from .executors import Executor, LocalExecutor, Travel, ZoneInputs
from .exposure import exposure_of, grid_population, proximity_of_counts
from .grid import Grid, grid_for_area
from .params import Params
from .provenance import Provenance
from .records import AnalysisSummary, ClassTotals, Force, GapStats
from .risk import RiskForecast, forecast_risk
from .score import gap_score
from .summaries import GAP_CLASS_NAMES, admin_cells, admin_summary, class_index
from .threat import density_of_counts, event_cells, gaussian_radius, threat_index
from .types import BBox
from .zones import nearest_with_troops, needs_troop_reach, presence_only, troop_reach, zone_terms

__all__ = ["AnalysisInputs", "Analysis", "Layers", "EventSelection", "analyze", "SURFACES", "Stages", "Reuse", "Forked",
           "prepare_layers", "place_forces", "select_events", "analysis_summary"]

SURFACES = ("gap", "risk", "coverage", "threat", "exposure", "travel_time", "population")
LAYER_NAMES = ("bases", "events", "roads", "sites", "admin", "national", "impassable", "water")


@dataclass
class AnalysisInputs:
    """The layers of one analysis, as loaded by :mod:`geo.layers` (any CRS); built by
    :func:`geo.inputs.build_inputs`."""

    bases: gpd.GeoDataFrame
    events: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    sites: gpd.GeoDataFrame | None = None
    admin: gpd.GeoDataFrame | None = None
    national: gpd.GeoDataFrame | None = None
    impassable: gpd.GeoDataFrame | None = None
    water: gpd.GeoDataFrame | None = None  # rivers (lines) and lakes (polygons): roads cross them
    population_path: Path | None = None
    population_units: Literal["count", "density"] = "count"
    bbox: BBox | None = None
    warnings: list[str] = field(default_factory=list)  # found while building them; end in summary.json
    provenance: Provenance | None = None  # the files read and their versions (geo.provenance); ends in summary.json


@dataclass
class Layers:
    """The layers reprojected to the grid CRS; ``top`` the top-level admin units (or None)."""

    bases: gpd.GeoDataFrame
    events: gpd.GeoDataFrame | None
    roads: gpd.GeoDataFrame | None
    sites: gpd.GeoDataFrame | None
    admin: gpd.GeoDataFrame | None
    national: gpd.GeoDataFrame | None
    impassable: gpd.GeoDataFrame | None
    top: gpd.GeoDataFrame | None
    water: gpd.GeoDataFrame | None = None


@dataclass
class EventSelection:
    """Events on the grid and in the look-back window (grid CRS), each with its cell and
    weight; ``history``: every event on the grid dated on or before the as-of date."""

    events: gpd.GeoDataFrame
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    history: gpd.GeoDataFrame


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
    summary: AnalysisSummary
    timings: dict[str, float] = field(default_factory=dict)
    sites: gpd.GeoDataFrame | None = None
    cost_h: np.ndarray | None = None  # hours to cross each cell (inf: impassable)
    forecast: RiskForecast | None = None
    air: gpd.GeoDataFrame | None = None  # airfields flown from (geo.air.air_links_frame), grid CRS


T = TypeVar("T")


@dataclass
class Reuse:
    """What a series of analyses (:mod:`geo.monitor`) carries from one date to the next:
    the friction and travel results, each under a key of everything it depends on (the
    grid, the parameters, the friction layers; the force table), population and exposure
    (grid, parameters, population raster, sites), the search for the nearest base with
    troops (the travel key and the bases), the admin units' cells (grid and layer), and fitted forecast models
    (:class:`geo.risk.FittedModels`). A key that differs is recomputed and replaces the
    entry; ``hits`` counts what was reused."""

    friction: tuple[str, tuple] | None = None
    travel: tuple[str, Travel] | None = None
    exposure: tuple[str, tuple] | None = None
    troops: tuple[str, Any] | None = None
    admin_cells: tuple[str, Any] | None = None
    forecasts: Any = field(default_factory=lambda: _fitted_models())  # geo.risk.FittedModels
    hits: dict[str, int] = field(default_factory=dict)
    kept: dict = field(default_factory=dict)  # slot -> (the parts, the value made from them)

    def same_as_before(self, slot: str, parts: tuple, compute: Callable[[], T]) -> T:
        """``compute()``, or the value of ``slot`` made at the last date from the same
        ``parts``: frames and arrays the same objects (held here, so an id is never reused;
        the inputs of a monitor are never modified), other parts equal."""
        held = self.kept.get(slot)
        if held is not None and len(held[0]) == len(parts) and all(
                (a is b) if isinstance(b, pd.DataFrame | np.ndarray) else (a == b)
                for a, b in zip(held[0], parts, strict=True)):
            return held[1]
        value = compute()
        self.kept[slot] = (parts, value)
        return value

    def fingerprint(self, slot: str, *parts: object) -> str:
        """:func:`_fingerprint` of ``parts``, hashed again only when they change (:meth:`same_as_before`)."""
        return self.same_as_before(f"key:{slot}", parts, lambda: _fingerprint(*parts))

    def get(self, slot: str, key: str, compute: Callable[[], object]):
        held = getattr(self, slot)
        if held is not None and held[0] == key:
            self.hits[slot] = self.hits.get(slot, 0) + 1
            return held[1]
        value = compute()
        setattr(self, slot, (key, value))
        return value


def _fitted_models():
    from .risk import FittedModels  # scikit-learn is imported only when a forecast is made

    return FittedModels()


def _fingerprint(*parts: object) -> str:
    """A content hash of grids, parameters, frames (geometry and attributes) and arrays."""
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, gpd.GeoDataFrame):
            h.update(pd.util.hash_pandas_object(p.drop(columns=p.geometry.name), index=False).to_numpy().tobytes())
            h.update(b"".join(p.geometry.to_wkb()))
            h.update(str(p.crs).encode())
        elif isinstance(p, np.ndarray):
            h.update(p.tobytes())
        else:
            h.update(repr(p).encode())
        h.update(b"|")
    return h.hexdigest()


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

    def fraction(self, name: str) -> Callable[[int, int], None] | None:
        """``progress(name, i / n)`` as a callback of (i, n), or None."""
        progress = self.progress
        return (lambda i, n: progress(name, i / n)) if progress else None


def analyze(
    inputs: AnalysisInputs,
    params: Params,
    as_of: date,
    *,
    executor: Executor | None = None,
    crs: CRS | None = None,
    progress: Callable[[str, float], None] | None = None,
    n_jobs: int | None = None,
    reuse: Reuse | None = None,
    tables: bool = True,
) -> Analysis:
    """Run the model on one set of layers as of a date.

    ``executor`` chooses where the stages run (default: this process, travel times on
    ``n_jobs`` forked workers); the result does not depend on it. ``reuse`` carries
    friction, travel times and fitted forecasts between the dates of a monitor.
    ``tables=False`` (a monitor writing surfaces only): no admin table (``admin_table`` is
    None) and the zones without the gap's term means and the presence-site columns; the
    surfaces, the zones' other columns and the summary are the same.
    """
    if executor is not None and n_jobs is not None:
        raise ConfigError("give n_jobs to the executor (LocalExecutor(n_jobs=...)), not to analyze")
    ex = executor or LocalExecutor(n_jobs)
    st = Stages(progress)
    t_start = time.perf_counter()
    grid, lay = prepare_layers(inputs, params, st, crs=crs, reuse=reuse)
    ex.begin(grid)
    bases = lay.bases.reset_index(drop=True)
    forces, dropped = place_forces(bases, lay.national, grid, params, inputs.bases)
    sel = st.run("events", select_events, lay.events, grid, params, as_of, inputs.events)

    friction = lambda: ex.persist(*ex.friction(grid, params, lay.top, lay.roads,  # noqa: E731
                                               lay.impassable, lay.water))
    key = reuse.fingerprint("friction", grid.to_dict(), params.as_dict(), lay.top, lay.roads, lay.impassable,
                            lay.water) if reuse else ""
    inside, cost = st.run("friction", reuse.get, "friction", key, friction) if reuse else st.run("friction", friction)
    if reuse is not None and isinstance(ex, LocalExecutor):
        # kept across a monitor's dates, so nobody may write into them; the travel graph of a
        # read-only cost surface is kept too (geo.traveltime.graph_of)
        inside.setflags(write=False)
        cost.setflags(write=False)
    base_cells = np.array([f.cell for f in forces if not f.national], dtype=np.int64)
    travel_fn = lambda: ex.travel(grid, cost, forces, base_cells, params.travel_time_cap_h,  # noqa: E731
                                  st.fraction("travel_time"))
    key = _fingerprint(key, [(f.cell, f.t_max, f.national) for f in forces], base_cells) if reuse else ""
    travel: Travel = st.run("travel_time", reuse.get, "travel", key, travel_fn) if reuse else \
        st.run("travel_time", travel_fn)
    air = plan_air(bases, lay.sites, forces, grid, params)
    travel = st.run("air", air_stage, ex, grid, cost, forces, travel, air, params)
    model = st.run("coverage", CoverageModel, grid.shape,
                   [f.term(r) for f, r in zip(forces, travel.reaches, strict=True)])
    # a zone's nearest base is the nearest with troops: that search needs only the cost surface,
    # so a forked process runs it while the forecast (one thread) takes this one
    held_troops = None
    if tables and reuse is not None and isinstance(ex, LocalExecutor) and needs_troop_reach(bases):
        # a monitor: the same bases and cost surface give the same search, so it is kept across dates
        # it depends on the cost surface (in the travel key), the bases' cells and which hold troops
        tkey = _fingerprint(key, np.asarray(presence_only(bases)), np.array(shapely.get_coordinates(bases.geometry)))
        tr = reuse.get("troops", tkey,
                       lambda: troop_reach(grid, bases, np.asarray(cost), params.travel_time_cap_h))
        held_troops = lambda: tr  # noqa: E731
    troops = None if held_troops is not None or not tables else \
        _troop_search(ex, grid, bases, cost, params.travel_time_cap_h)
    try:
        threat = st.run("threat", threat_stage, ex, grid, params, sel)
        fc, risk = st.run("forecast", forecast_stage, ex, grid, params, as_of, sel, inside, threat,
                          None if reuse is None else reuse.forecasts)
        expo_fn = lambda: exposure_stage(ex, grid, params, inputs, lay.sites)  # noqa: E731
        if reuse is not None:  # population and sites do not change between a monitor's dates
            ekey = _fingerprint(grid.to_dict(), params.as_dict(), str(inputs.population_path),
                                inputs.population_units, lay.sites if lay.sites is not None else "no sites")
            population, expo = st.run("exposure", reuse.get, "exposure", ekey, expo_fn)
        else:
            population, expo = st.run("exposure", expo_fn)
        base_rows = np.array([f.row for f in forces if not f.national], dtype=np.int32)
        arrays = st.run("gap", surface_stage, ex, params, inside, threat, risk, expo, ex.asarray(model.coverage()),
                        population, travel, base_rows, reuse if isinstance(ex, LocalExecutor) else None)
        out = st.run("gather", ex.gather, {**arrays, "inside": inside, "cost": cost})

        zone_in = ZoneInputs(arrays["gap"], arrays["population"], arrays["nearest_base"], travel.nearest_hours)
        zones = st.run("zones", ex.zones, grid, params, zone_in, sel.events, bases)
        if tables:
            zones = zone_terms(zones, grid, out)
            # ... and a presence-only site nearer is named beside it
            zones = st.run("zones_presence", nearest_with_troops, zones, grid, bases, out["nearest_base"],
                           out["cost"], params.travel_time_cap_h,
                           troops=held_troops or (troops.result if troops is not None else None))
    finally:
        if troops is not None:
            troops.close()
    admin_table = None
    if tables and lay.admin is not None:
        if reuse is not None and isinstance(ex, LocalExecutor):
            # a monitor: the units are rasterized once (their cells depend on the grid and the layer only)
            cells = reuse.get("admin_cells", reuse.fingerprint("admin_cells", grid.to_dict(), lay.admin),
                              lambda: admin_cells(lay.admin, grid))
            admin_table = st.run("admin_summary", admin_summary, lay.admin, grid, arrays["gap"],
                                 arrays["population"], breaks=params.class_breaks, cells=cells)
        else:
            admin_table = st.run("admin_summary", ex.admin_summary, grid, params, lay.admin, arrays["gap"],
                                 arrays["population"])
    st.timings["total"] = round(time.perf_counter() - t_start, 3)
    surfaces = {k: out[k] for k in SURFACES}
    summary = analysis_summary(grid=grid, params=params, as_of=as_of, surfaces=surfaces, bases=bases,
                               events=sel.events, zones=zones, dropped=dropped, inputs=inputs, model=model,
                               executor=ex, timings=st.timings, forecast=fc)
    summary["warnings"] += air.notes
    return Analysis(grid=grid, params=params, as_of=as_of, surfaces=surfaces, inside=out["inside"].astype(bool),
                    coverage_model=model, bases=bases, events=sel.events, zones=zones, admin_table=admin_table,
                    admin=lay.admin, nearest_base=out["nearest_base"].astype(np.int32), summary=summary,
                    timings=st.timings, sites=lay.sites, cost_h=out["cost"].astype(np.float32), forecast=fc,
                    air=air_links_frame(air, grid, params) if air.links else None)


# --- stages ------------------------------------------------------------------------

class Forked:
    """``fn(*args)`` in a forked child process (the parent's arrays shared copy-on-write), its
    value sent back through a pipe: :meth:`result` waits for it (and raises what the child
    raised), :meth:`close` ends a child whose value is not wanted."""

    def __init__(self, fn: Callable, *args: object):
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=Forked._run, args=(send, fn, args), daemon=True, name="vacuum-forked")
        self._proc.start()
        send.close()
        self._done = False
        self._value: object = None

    @staticmethod
    def _run(send, fn: Callable, args: tuple) -> None:  # pragma: no cover - runs in the child
        try:
            value = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            value = (False, exc)
        send.send(value)
        send.close()

    def result(self):
        if not self._done:
            try:
                ok, value = self._recv.recv()
            except EOFError:
                self._proc.join()
                raise RuntimeError(f"the forked process ended with exit code {self._proc.exitcode} "
                                   "before sending its result") from None
            finally:
                self._done = True
                self.close()
            if not ok:
                raise value
            self._value = value
        return self._value

    def close(self) -> None:
        """End the child if it is still working (its value not taken), and wait for it."""
        if not self._done:
            self._proc.terminate()
            self._done = True
        self._proc.join()
        self._recv.close()


def _troop_search(ex: Executor, grid: Grid, bases: gpd.GeoDataFrame, cost, cap_h: float) -> Forked | None:
    """:func:`geo.zones.troop_reach` started in a forked process when it may be needed and the
    executor runs here on more than one process (else None: :func:`nearest_with_troops`
    searches itself, in this process, as before)."""
    import multiprocessing as mp

    if not (isinstance(ex, LocalExecutor) and ex.n_jobs != 1 and "fork" in mp.get_all_start_methods()
            and needs_troop_reach(bases)):
        return None
    return Forked(troop_reach, grid, bases, np.asarray(cost), cap_h)


def prepare_layers(
    inputs: AnalysisInputs, params: Params, st: Stages, *, crs: CRS | None = None, keep_crs: Iterable[str] = (),
    reuse: Reuse | None = None,
) -> tuple[Grid, Layers]:
    """Check the inputs, choose the grid, reproject the layers to it (except those named
    in ``keep_crs``; with ``reuse``, a layer that is the same object as at the last date is
    not reprojected again)."""
    if inputs.admin is None and inputs.bbox is None:
        raise GridError("no area of interest: give admin units (--admin) or a bbox (--bbox W,S,E,N)")
    if len(inputs.bases) == 0:
        raise LayerError("the bases layer is empty: nothing protects anything, so there is nothing to score")
    for name in LAYER_NAMES:
        g = getattr(inputs, name)
        if g is not None and g.crs is None:
            raise MissingCRSError(f"{name} layer has no CRS; set it with .set_crs(...) (the loaders in geo.layers "
                                  "and geo.inputs.build_inputs do)")
    area = inputs.admin if inputs.admin is not None else inputs.bbox
    grid = st.run("grid", grid_for_area, area, resolution_m=params.resolution_m,
                  margin_m=params.margin_km * 1000.0, crs=crs)
    keep = set(keep_crs)

    def reproject() -> dict[str, gpd.GeoDataFrame | None]:
        out: dict[str, gpd.GeoDataFrame | None] = {}
        for name in LAYER_NAMES:
            g = getattr(inputs, name)
            if g is None or name in keep:
                out[name] = g
            elif reuse is not None:  # a monitor's static layers: reprojected once
                out[name] = reuse.same_as_before(f"layer:{name}", (g, grid.to_dict()),
                                                 lambda g=g: g.to_crs(grid.crs))
            else:
                out[name] = g.to_crs(grid.crs)
        return out

    got = st.run("reproject", reproject)
    admin = got["admin"]
    top = None
    if admin is not None:
        def top_level() -> gpd.GeoDataFrame:
            return admin if "level" not in admin else admin[admin["level"] == admin["level"].min()]

        top = reuse.same_as_before("top", (admin,), top_level) if reuse is not None else top_level()
    return grid, Layers(top=top, **got)  # type: ignore[arg-type]


def select_events(events: gpd.GeoDataFrame | None, grid: Grid, params: Params, as_of: date,
                  original: gpd.GeoDataFrame | None = None) -> EventSelection:
    """The events that count: on the grid, dated in the look-back window before ``as_of``.

    Raises when events were given but none lies on the grid (with a hint when
    latitude and longitude of ``original`` look swapped).
    """
    if events is None or len(events) == 0:
        empty = gpd.GeoDataFrame({"date": pd.Series(dtype="datetime64[ns]"), "fatalities": pd.Series(dtype=float),
                                  "event_type": pd.Series(dtype=str)}, geometry=gpd.GeoSeries([], crs=grid.crs))
        none = np.zeros(0, dtype=np.int64)
        return EventSelection(empty, none, none, np.zeros(0), empty)
    r, c, w, on_grid = event_cells(events, grid, params, as_of)
    if not on_grid.any():
        raise LayerError(
            f"none of the {len(events)} events lies on the analysis grid"
            f"{swap_hint(original if original is not None else events, grid)}; "
            "check the coordinates, the CRS and the area of interest"
        )
    age = (pd.Timestamp(as_of) - pd.to_datetime(events["date"])).dt.days.to_numpy()
    keep = on_grid & (age >= 0) & (age <= params.lookback_days)
    return EventSelection(events[keep], r[keep], c[keep], w[keep], events[on_grid & (age >= 0)])


def threat_stage(ex: Executor, grid: Grid, params: Params, sel: EventSelection):
    """Threat 0..1: kernel density of the weighted events, halo 4 sigma + 1 cells."""
    sigma = params.bandwidth_km / grid.resolution_km
    counts = ex.points(grid.shape, sel.rows, sel.cols, sel.weights)
    depth = gaussian_radius(sigma) + 1
    dens = ex.map_overlap(density_of_counts, counts, depth=depth, name="threat", dtype=np.float64,
                          bandwidth_cells=sigma, cell_area_km2=grid.cell_area_km2)
    return ex.persist(ex.map_blocks(threat_index, dens, dtype=np.float64, reference=params.threat_reference))[0]


def forecast_stage(ex: Executor, grid: Grid, params: Params, as_of: date, sel: EventSelection, inside, threat,
                   fitted: dict | None = None):
    """The fitted forecast on the client (units are coarse), painted onto the grid's cells;
    ``fitted``: models of earlier dates by training set, reused when it is the same."""
    got = ex.gather({"inside": inside, "threat": threat})
    fc = forecast_risk(sel.history, grid, got["inside"].astype(bool), params, as_of, fallback=got["threat"],
                       fitted=fitted)
    return fc, ex.asarray(fc.on_grid(grid))


def exposure_stage(ex: Executor, grid: Grid, params: Params, inputs: AnalysisInputs,
                   sites: gpd.GeoDataFrame | None):
    """(people per cell, exposure 0..1): population as one task, site proximity with a
    halo of the site radius + 1 cells, then the index cell by cell."""
    towns = None
    if inputs.population_path is None and sites is not None and "population" in sites \
            and sites["population"].notna().any():
        towns = sites[sites["kind"] == "town"]
    pop = ex.whole(grid_population, grid.shape, np.float64, grid, inputs.population_path,
                   inputs.population_units, towns, sites)  # + the people of protected sites the raster misses
    kw = {"cell_area_km2": grid.cell_area_km2, "reference": params.population_reference,
          "floor": params.exposure_floor, "site_exposure": params.critical_site_exposure}
    if sites is None or len(sites) == 0:
        return ex.persist(pop, ex.map_blocks(exposure_of, pop, dtype=np.float64, **kw))
    r, c, ok = grid.rowcol(sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy())
    radius = params.critical_site_radius_km / grid.resolution_km
    counts = ex.points(grid.shape, r[ok], c[ok], np.ones(int(ok.sum())))
    near = ex.map_overlap(proximity_of_counts, counts, depth=int(math.ceil(radius)) + 1, name="sites",
                          dtype=bool, radius_cells=radius)
    return ex.persist(pop, ex.map_blocks(exposure_of, pop, near, dtype=np.float64, **kw))


def surface_stage(ex: Executor, params: Params, inside, threat, risk, expo, coverage, population,
                  travel: Travel, base_rows: np.ndarray, reuse: Reuse | None = None) -> dict:
    """The gap (forecast risk and exposure left uncovered), and every surface as the
    products hold it: float32, NaN outside the area; the nearest base as a row of the
    bases layer (-1: none within the cap). ``reuse`` (a monitor's, local arrays): a surface
    whose inputs are the same objects as at the last date (population, exposure, travel
    kept across dates) is the same array again, read-only (its files are then hard links,
    see geo.monitor)."""
    gap = ex.map_blocks(gap_score, risk, expo, coverage, dtype=np.float64,
                        threat_weight=params.threat_weight, exposure_weight=params.exposure_weight)
    hours = lambda: ex.map_blocks(finite_or_nan, travel.nearest_hours, dtype=np.float64)  # noqa: E731
    raw = {"gap": lambda: gap, "risk": lambda: risk, "coverage": lambda: coverage, "threat": lambda: threat,
           "exposure": lambda: expo, "travel_time": hours, "population": lambda: population}
    made = {"gap": gap, "risk": risk, "coverage": coverage, "threat": threat, "exposure": expo,
            "travel_time": travel.nearest_hours, "population": population}  # what each is made from

    def masked(name: str) -> Any:
        return ex.map_blocks(outside_nan, raw[name](), inside, dtype=np.float32)

    def nearest() -> Any:
        return ex.map_blocks(base_row_of, travel.nearest_which, dtype=np.int32, base_rows=base_rows)

    if reuse is None:
        out = {k: masked(k) for k in raw}
        out["nearest_base"] = nearest()
    else:
        out = {k: reuse.same_as_before(f"surface:{k}", (made[k], inside), lambda k=k: _read_only(masked(k)))
               for k in raw}
        out["nearest_base"] = reuse.same_as_before("surface:nearest_base", (travel.nearest_which,
                                                   tuple(base_rows.tolist())), lambda: _read_only(nearest()))
    keys = list(out)
    return dict(zip(keys, ex.persist(*(out[k] for k in keys)), strict=True))


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a``, marked read-only: shared with the next date of a monitor, nobody writes into it."""
    a.setflags(write=False)
    return a


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def outside_nan(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """NaN outside the area, float32: the last step for every surface."""
    return np.where(~inside, np.nan, values).astype(np.float32)


def base_row_of(which: np.ndarray, base_rows: np.ndarray) -> np.ndarray:
    """Row in the bases layer of each cell's nearest base (``which`` indexes ``base_rows``)."""
    if len(base_rows) == 0:
        return np.full(which.shape, -1, dtype=np.int32)
    return np.where(which >= 0, base_rows[np.clip(which, 0, None)], -1).astype(np.int32)


# --- forces --------------------------------------------------------------------------

def swap_hint(gdf: gpd.GeoDataFrame, grid: Grid) -> str:
    """' (with latitude and longitude swapped, N of them would)' when swapping helps."""
    ll = gdf.to_crs(4326)
    x, y = ll.geometry.y.to_numpy(), ll.geometry.x.to_numpy()
    ok = (np.abs(y) <= 90)
    if not ok.any():
        return ""
    gx, gy = Transformer.from_crs(4326, grid.crs, always_xy=True).transform(x[ok], y[ok])
    _, _, inside = grid.rowcol(np.asarray(gx), np.asarray(gy))
    n = int(inside.sum())
    return f" (with latitude and longitude swapped, {n} of them would: are the columns swapped?)" if n else ""


def place_forces(bases: gpd.GeoDataFrame, national: gpd.GeoDataFrame | None, grid: Grid, params: Params,
                 original_bases: gpd.GeoDataFrame | None = None) -> tuple[list[Force], list[str]]:
    """Each force on the grid with its weight and reach limits; the ids of those outside
    the grid (listed, not used).

    Raises when no base at all lies on the grid (with a hint when latitude and longitude
    of ``original_bases`` look swapped)."""
    forces: list[Force] = []
    dropped: list[str] = []
    groups = [(bases, False)] + ([(national.reset_index(drop=True), True)] if national is not None else [])
    for gdf, is_nat in groups:
        r, c, ok = grid.rowcol(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
        for i in range(len(gdf)):
            row = gdf.iloc[i]
            if not ok[i]:
                dropped.append(str(row["base_id"]))
                continue
            forces.append(_force(row, i, int(r[i] * grid.width + c[i]), is_nat, params))
    if not any(not f.national for f in forces):
        hint = swap_hint(original_bases if original_bases is not None else bases, grid)
        raise LayerError(
            f"none of the {len(bases)} bases lies on the analysis grid (the area of interest plus "
            f"{params.margin_km:g} km){hint}; check the coordinates, the CRS and the area of interest"
        )
    return forces, dropped


def _force(row: pd.Series, i: int, cell: int, is_nat: bool, params: Params) -> Force:
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
    return Force(base_id=("national:" if is_nat else "") + str(row["base_id"]), row=i, cell=cell, weight=w,
                 t_resp=params.response_threshold_h * r_mult, t_max=params.max_reach_h * r_mult, national=is_nat)


# --- summary -------------------------------------------------------------------------

def analysis_summary(
    *, grid: Grid, params: Params, as_of: date, surfaces: dict[str, np.ndarray], bases: gpd.GeoDataFrame,
    events: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, dropped: list[str], inputs: AnalysisInputs,
    model: CoverageModel, executor: Executor, timings: dict[str, float], forecast: RiskForecast | None = None,
) -> AnalysisSummary:
    """``summary.json`` (schema: :class:`geo.records.AnalysisSummary`)."""
    gap, pop = surfaces["gap"], surfaces["population"]
    valid = np.isfinite(gap)
    reached = [len(t.reach.index) for t in model.terms]
    out: AnalysisSummary = {
        "as_of": as_of.isoformat(),
        "executor": executor.name,
        "grid": {"crs": grid.crs.to_wkt(), "resolution_m": grid.resolution,
                 "width": grid.width, "height": grid.height, "cells_in_area": int(valid.sum()),
                 "bounds_lonlat": list(grid.bounds_lonlat())},
        "layers": {"bases": len(bases), "bases_outside_grid": dropped, "events_in_window": len(events),
                   "mean_cells_reached_per_force": round(float(np.mean(reached)), 0) if reached else 0},
        "terms_left_out": _left_out(inputs),
        "gap": _gap_stats(gap, pop, grid, params),
        "population_total": round(float(np.nansum(pop)), 0),
        "coverage_mean": _r(np.nanmean(surfaces["coverage"])),
        "zones": {"count": len(zones), "area_km2": _r(zones["area_km2"].sum()) if len(zones) else 0.0,
                  "population": _r(zones["population"].sum()) if len(zones) else 0.0},
        "params": params.as_dict(),
        "timings_s": timings,
        "warnings": _warnings(inputs, as_of, events, bases, dropped, grid),
    }
    if forecast is not None:
        out["forecast"] = forecast.describe()
        if forecast.note:
            out["warnings"].append(f"forecast: {forecast.note}")
    info = executor.info()
    if info is not None:
        out["dask"] = info
    if inputs.provenance is not None:
        out["provenance"] = inputs.provenance
    return out


def _gap_stats(gap: np.ndarray, pop: np.ndarray, grid: Grid, params: Params) -> GapStats:
    g = np.asarray(gap).ravel()
    valid = np.flatnonzero(~np.isnan(g))
    gv = g[valid]
    k = len(GAP_CLASS_NAMES)
    cls = class_index(gv, params.class_breaks)  # the valid cells only: classes 0..k-1, one bincount each
    pv = np.asarray(pop).ravel()[valid].astype(np.float64)
    n_by = np.bincount(cls, minlength=k)
    p_by = np.bincount(cls, weights=np.where(np.isnan(pv), 0.0, pv), minlength=k)
    by_class: dict[str, ClassTotals] = {}
    for i, name in enumerate(GAP_CLASS_NAMES):
        by_class[name] = {"area_km2": round(float(n_by[i] * grid.cell_area_km2), 1),
                          "population": round(float(p_by[i]), 0)}
    pop_total = np.nansum(pop)
    return {"mean": _r(np.mean(gv)) if gv.size else None,
            "max": _r(np.max(gv)) if gv.size else None,
            "population_weighted_mean": _r(np.nansum(gap * pop) / pop_total) if pop_total > 0 else None,
            "by_class": by_class}


def _left_out(inputs: AnalysisInputs) -> list[str]:
    left_out = []
    if inputs.population_path is None and (inputs.sites is None or "population" not in inputs.sites):
        left_out.append("population (no raster or settlements given: exposure is the floor plus sites)")
    if inputs.events is None:
        left_out.append("threat (no events given: every gap is 0)")
    if inputs.roads is None:
        left_out.append("roads (off-road speed everywhere)")
    return left_out


def _warnings(inputs: AnalysisInputs, as_of: date, events: gpd.GeoDataFrame, bases: gpd.GeoDataFrame,
              dropped: list[str], grid: Grid) -> list[str]:
    """What the inputs let through but the reader must know: the input builder's
    warnings, then events after the as-of date, an empty window, bases left out."""
    out = list(inputs.warnings)
    if inputs.events is not None and len(inputs.events):
        later = int((pd.to_datetime(inputs.events["date"]) > pd.Timestamp(as_of)).sum())
        if later:
            out.append(f"{later} event(s) dated after the as-of date {as_of.isoformat()} were not used")
    if inputs.events is not None and len(events) == 0:
        out.append("no events known in the window: the gap is not a finding of safety")
    if dropped:
        gone = bases[bases["base_id"].astype(str).isin(dropped)]
        hint = swap_hint(gone, grid) if len(gone) else ""
        out.append(f"{len(dropped)} base(s) outside the grid, left out: {', '.join(dropped)}{hint}")
    return out


def _r(v) -> float:
    return round(float(v), 3)
