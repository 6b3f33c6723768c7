"""A monitor: the one engine (:func:`geo.pipeline.analyze`) at a series of as-of dates,
with a time series per admin unit and per vacuum zone, and alerts (:mod:`geo.alerts`).

The folder (``docs/monitoring.md`` describes it for readers and other tools)::

    monitor.json                 dates, status (running/complete/interrupted), finished dates,
                                 parameters, alert rules, the layers (to resume)
    dates/YYYY-MM-DD/            the usual products (geo.products.write_analysis), or the
                                 surfaces only; units.csv (that date's series rows) and
                                 zones.geojson (zones with their track id)
    series/admin.csv admin.geojson zones.csv
    charts/overview.png charts/unit_<id>.png
    alerts.json alerts.csv

Between dates, friction and travel times are reused when the force table is the same (the
same Geo-PKO map), and a fitted forecast when its training set is the same
(:class:`geo.pipeline.Reuse`). A date's folder is written under a temporary name and
renamed when complete, then listed in ``finished``: :func:`run_monitor` with
``resume=True`` continues after the last finished date and recomputes none before it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .alerts import AlertRules, alerts_table, all_alerts
from .errors import ConfigError, CRSMismatchError, EmptyLayerError, LayerError
from .export import write_csv, write_geojson, write_json
from .grid import Grid
from .inputs import InputSpec, build_inputs
from .params import Params, load_params
from .pipeline import SURFACES, Analysis, AnalysisInputs, Reuse, analyze
from .rasters import read_surface, write_cog
from .readers import reading_once
from .summaries import class_index

__all__ = ["pid_alive", "MAX_DATES", "SERIES_COLUMNS", "MonitorError", "MonitorState", "DateDone", "parse_every", "monitor_dates",
           "check_dates", "unit_cells", "unit_stats", "track_zones", "run_monitor", "load_monitor", "spec_to_json",
           "spec_from_json", "check_range"]

MAX_DATES = 240
"""More dates than this need ``max_dates`` (``--max-dates``): 20 years of months."""

SERIES_COLUMNS: tuple[str, ...] = (
    "unit_id", "name", "level", "date", "risk_mean", "risk_max", "gap_mean", "gap_max", "gap_pop_weighted",
    "population", "people_high", "people_critical", "events_in_window", "coverage_mean", "people_uncovered",
    "people_lost_cover", "people_gained_cover", "event_ids")
"""Columns of ``series/admin.csv``: one row per admin unit and date."""


class MonitorError(ConfigError):
    """A monitor cannot run as asked (dates, range, resume)."""


@dataclass
class MonitorState:
    """``monitor.json``."""

    dates: list[str]
    status: str  # running, complete, interrupted
    finished: list[str]
    params: dict[str, Any]
    alert_rules: dict[str, Any]
    spec: dict[str, Any]
    surfaces_only: bool = False
    crs: str | None = None
    grid: dict[str, Any] | None = None
    pid: int | None = None
    host: str | None = None
    started_at: str | None = None
    updated_at: str | None = None
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    reused: dict[str, list[str]] = field(default_factory=dict)  # date -> stages reused
    version: int = 1

    def save(self, out: Path) -> None:
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        write_json(self.__dict__, out / "monitor.json")


@dataclass(frozen=True)
class DateDone:
    """What :func:`run_monitor` reports after each date."""

    index: int
    total: int
    as_of: date
    seconds: float
    reused: tuple[str, ...]
    events_in_window: int


# --- dates ------------------------------------------------------------------------------

def parse_every(text: str, flag: str = "--every") -> int:
    """``1M``, ``3M``, ``6M``, ``1Y`` ... as a number of months."""
    t = text.strip().upper()
    unit, num = t[-1:], t[:-1] or "1"
    if unit not in ("M", "Q", "Y") or not num.isdigit() or int(num) < 1:
        raise MonitorError(f"{flag} {text!r}: give a number of months, quarters or years, e.g. 1M, 3M, 1Q or 1Y")
    return int(num) * {"M": 1, "Q": 3, "Y": 12}[unit]


def monitor_dates(start: date, end: date, every_months: int) -> list[date]:
    """``start``, then every ``every_months`` months up to ``end``; from a month's last day,
    each date is a month's last day (31 Jan, 28/29 Feb, 31 Mar, ...)."""
    if end < start:
        raise MonitorError(f"--to {end} is before --from {start}; give the earlier date as --from")
    month_end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date() == start
    out: list[date] = []
    k = 0
    while True:
        t = pd.Timestamp(start) + pd.DateOffset(months=k * every_months)
        if month_end:
            t = t + pd.offsets.MonthEnd(0)
        if t.date() > end:
            return out
        out.append(t.date())
        k += 1
        if len(out) > 100_000:
            return out


def check_dates(dates: Sequence[date], max_dates: int = MAX_DATES) -> None:
    """Dates strictly increasing, at least one, at most ``max_dates``."""
    if not dates:
        raise MonitorError("no dates: give --from and --to (with --every), or --dates YYYY-MM-DD,...")
    for a, b in zip(dates, dates[1:], strict=False):
        if b <= a:
            raise MonitorError(f"dates out of order: {b} comes after {a}; list the dates in increasing order, "
                               "each once")
    if len(dates) > max_dates:
        raise MonitorError(f"{len(dates)} dates ({dates[0]} to {dates[-1]}) is over the limit of {max_dates}; "
                           "use a longer --every or a shorter range, or raise the limit with --max-dates N")


def check_range(dates: Sequence[date], inputs: AnalysisInputs, params: Params) -> None:
    """Events must exist between the first date's look-back start and the last date."""
    ev = inputs.events
    if ev is None:
        return
    when = pd.to_datetime(ev["date"])
    lo = pd.Timestamp(dates[0]) - pd.Timedelta(days=params.lookback_days)
    if len(ev) == 0 or not ((when >= lo) & (when <= pd.Timestamp(dates[-1]))).any():
        held = f"the events file holds {when.min().date()} to {when.max().date()}" if len(ev) else "the events file is empty"
        raise MonitorError(f"no event between {lo.date()} (the look-back before {dates[0]}) and {dates[-1]}: "
                           f"{held}; choose dates inside it")


def _map_span(path: Any, mission: str | None = None) -> str:
    """'the bases file holds maps (of MISSION) from YYYY-MM to YYYY-MM' for a Geo-PKO CSV, else ''."""
    if not isinstance(path, (str, Path)) or not str(path).lower().endswith(".csv"):
        return ""
    try:
        head = pd.read_csv(path, usecols=lambda c: c.lower() in ("year", "month", "mission"), dtype=str)
    except (ValueError, OSError):
        return ""
    cols = {c.lower(): c for c in head.columns}
    if "year" not in cols or "month" not in cols:
        return ""
    if mission and "mission" in cols:
        head = head[head[cols["mission"]].str.upper() == mission.upper()]
    ym = pd.to_numeric(head[cols["year"]], errors="coerce") * 100 + pd.to_numeric(head[cols["month"]], errors="coerce")
    ym = ym.dropna().astype(int)
    if ym.empty:
        return ""
    of = f" of {mission}" if mission else ""
    return f"; the bases file holds maps{of} from {ym.min() // 100}-{ym.min() % 100:02d} to {ym.max() // 100}-{ym.max() % 100:02d}"


# --- the series -------------------------------------------------------------------------

def unit_cells(admin: gpd.GeoDataFrame, grid: Grid) -> list[np.ndarray]:
    """Flat indices of the grid cells whose centre lies in each admin unit (admin in the grid CRS)."""
    from rasterio.features import rasterize

    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(admin)
    levels = admin["level"].to_numpy() if "level" in admin else np.zeros(len(admin))
    for lev in np.unique(levels):
        rows = np.flatnonzero(levels == lev)
        shapes = [(g, int(k) + 1) for k, g in zip(rows, admin.geometry.iloc[rows], strict=True) if g is not None]
        lab = rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32").ravel()
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(len(admin) + 2))
        for k in rows:
            out[k] = order[bounds[k + 1]:bounds[k + 2]]
    return out


def unit_stats(cells: np.ndarray, surfaces: dict[str, np.ndarray], prev_coverage: np.ndarray | None,
               gap_breaks: Sequence[float], cover_threshold: float) -> dict[str, float]:
    """Statistics of one unit's cells (flat indices) over the surfaces ``gap``, ``risk``,
    ``coverage``, ``population`` (NaN outside the area); people losing / gaining cover
    against ``prev_coverage`` (NaN without one)."""
    def take(name: str) -> np.ndarray:  # the unit's cells first, then float64 (not the whole grid)
        return np.asarray(surfaces[name]).ravel()[cells].astype(np.float64)

    gap, risk, cov = take("gap"), take("risk"), take("coverage")
    pop = np.nan_to_num(take("population"), nan=0.0)
    ok = np.isfinite(gap)
    cls = class_index(np.where(ok, gap, 0.0), gap_breaks)
    nan = float("nan")
    out = {"risk_mean": float(np.nanmean(risk)) if np.isfinite(risk).any() else nan,
           "risk_max": float(np.nanmax(risk)) if np.isfinite(risk).any() else nan,
           "gap_mean": float(gap[ok].mean()) if ok.any() else nan, "gap_max": float(gap[ok].max()) if ok.any() else nan,
           "gap_pop_weighted": float((gap[ok] * pop[ok]).sum() / pop[ok].sum()) if pop[ok].sum() > 0 else nan,
           "population": float(pop.sum()), "people_high": float(pop[ok & (cls == 3)].sum()),
           "people_critical": float(pop[ok & (cls == 4)].sum()),
           "coverage_mean": float(np.nanmean(cov)) if np.isfinite(cov).any() else nan}
    low = np.isfinite(cov) & (cov < cover_threshold)
    out["people_uncovered"] = float(pop[low].sum())
    if prev_coverage is None:
        out["people_lost_cover"] = out["people_gained_cover"] = nan
    else:
        before = np.asarray(prev_coverage).ravel()[cells].astype(np.float64)
        was_low = np.isfinite(before) & (before < cover_threshold)
        out["people_lost_cover"] = float(pop[low & ~was_low & np.isfinite(before)].sum())
        out["people_gained_cover"] = float(pop[was_low & ~low & np.isfinite(cov)].sum())
    return out


def _unit_events(events: gpd.GeoDataFrame, admin: gpd.GeoDataFrame) -> list[list[str]]:
    """The ids of the events (grid CRS, in the window) in each admin unit."""
    out: list[list[str]] = [[] for _ in range(len(admin))]
    if len(events) == 0:
        return out
    ids = events["event_id"].astype(str).to_numpy() if "event_id" in events else events.index.astype(str).to_numpy()
    a = admin.reset_index(drop=True)
    ev_i, un_i = a.sindex.query(events.geometry, predicate="within")
    for e, u in zip(ev_i, un_i, strict=True):
        out[u].append(ids[e])
    return out


def date_series(res: Analysis, cells: list[np.ndarray], prev_coverage: np.ndarray | None,
                rules: AlertRules) -> pd.DataFrame:
    """The series rows (:data:`SERIES_COLUMNS`) of one analysis."""
    admin = res.admin.reset_index(drop=True)  # type: ignore[union-attr]
    evs = _unit_events(res.events, admin)
    rows = []
    for k in range(len(admin)):
        st = unit_stats(cells[k], res.surfaces, prev_coverage, res.params.class_breaks, rules.cover_threshold)
        rows.append({"unit_id": str(admin["admin_id"].iloc[k]), "name": str(admin["name"].iloc[k]),
                     "level": int(admin["level"].iloc[k]) if "level" in admin else 0, "date": res.as_of.isoformat(),
                     **st, "events_in_window": len(evs[k]), "event_ids": ";".join(evs[k])})
    return pd.DataFrame(rows, columns=list(SERIES_COLUMNS))


def track_zones(prev: Sequence[tuple[str, Any]], new: Sequence[Any], next_number: int) -> tuple[list[str], int]:
    """A track id for each of ``new`` (shapely geometries): the track of the previous date's
    zone it overlaps most (by area), else a new id ``Z0001``... from ``next_number``.
    ``prev``: (track id, geometry). Returns (ids, the next unused number)."""
    ids = []
    for g in new:
        best, area = None, 0.0
        for tid, pg in prev:
            a = g.intersection(pg).area if g.intersects(pg) else 0.0
            if a > area:
                best, area = tid, a
        if best is None:
            best = f"Z{next_number:04d}"
            next_number += 1
        ids.append(best)
    return ids, next_number


def _zone_rows(zones: gpd.GeoDataFrame, tracks: list[str], admin: gpd.GeoDataFrame, as_of: date,
               events: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Zones with their track, date, the admin unit holding a point of each and the ids of
    the window's events inside it."""
    z = zones.copy()
    z["event_ids"] = [";".join(e) for e in _unit_events(events, z)] if len(z) else []
    z["track"] = tracks
    z["date"] = as_of.isoformat()
    a = admin.reset_index(drop=True)
    uid, uname = [""] * len(z), [""] * len(z)
    if len(z):
        zi, ui = a.sindex.query(z.geometry.representative_point(), predicate="within")
        for i, u in zip(zi, ui, strict=True):
            uid[i], uname[i] = str(a["admin_id"].iloc[u]), str(a["name"].iloc[u])
    z["unit_id"], z["unit_name"] = uid, uname
    keep = ["date", "track", "zone_id", "area_km2", "population", "mean_gap", "max_gap", "recent_events",
            "unit_id", "unit_name", "event_ids", "geometry"]
    return z[[c for c in keep if c in z]]


# --- the layers, kept in monitor.json ---------------------------------------------------

_SPEC_PATHS = ("bases", "events", "roads", "towns", "airports", "sites", "admin", "national", "impassable",
               "population")


def spec_to_json(spec: InputSpec) -> dict[str, Any]:
    """An :class:`InputSpec` of files as JSON (to resume); frames cannot be stored."""
    out: dict[str, Any] = {}
    for k, v in spec.__dict__.items():
        if isinstance(v, gpd.GeoDataFrame):
            raise MonitorError(f"layer {k} is a GeoDataFrame: a resumable monitor needs layer files")
        if k in _SPEC_PATHS:
            v = None if v is None else str(Path(str(v).split("::")[0]).resolve()) + (
                "::" + str(v).split("::", 1)[1] if "::" in str(v) else "")
        elif k == "layer_crs":
            v = None if v is None else v.to_wkt()
        elif k == "as_of":
            v = None
        elif k == "bbox":
            v = None if v is None else list(v)
        elif k == "mapping":
            v = {a: dict(b) for a, b in v.items()}
        out[k] = v
    return out


def spec_from_json(doc: dict[str, Any]) -> InputSpec:
    from pyproj import CRS

    from .types import BBox

    d = dict(doc)
    d["layer_crs"] = CRS.from_wkt(d["layer_crs"]) if d.get("layer_crs") else None
    d["bbox"] = BBox(*d["bbox"]) if d.get("bbox") else None
    return InputSpec(**d)


# --- running ----------------------------------------------------------------------------

@dataclass
class _Run:
    """What a monitor holds in memory between dates."""

    out: Path
    state: MonitorState
    spec: InputSpec
    params: Params
    rules: AlertRules
    static: AnalysisInputs
    crs: Any
    n_jobs: int | None
    reuse: Reuse = field(default_factory=Reuse)
    cells: list[np.ndarray] | None = None
    prev_coverage: np.ndarray | None = None
    prev_zones: list[tuple[str, Any]] = field(default_factory=list)
    next_zone: int = 1
    prev_surfaces: dict[str, tuple[np.ndarray, Path]] = field(default_factory=dict)  # name -> (array, its file)
    writer: Any = None  # the thread writing a date's files while the next date is analysed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_monitor(spec: InputSpec, params: Params, dates: Sequence[date], out: str | Path, *,
                rules: AlertRules | None = None, surfaces_only: bool = False, crs: Any = None,
                n_jobs: int | None = None, max_dates: int = MAX_DATES, resume: bool = False,
                on_date: Callable[[DateDone], None] | None = None, charts: bool = True) -> MonitorState:
    """Analyse ``spec`` at each of ``dates`` into the monitoring folder ``out``.

    With ``resume``, ``out`` must hold a monitor whose finished dates begin ``dates``; the
    layers, parameters and rules stored there are used and the finished dates are not
    recomputed. Killed or interrupted (any exception), the folder says ``interrupted``."""
    out = Path(out)
    dates = list(dates)
    check_dates(dates, max_dates)
    rules = rules or AlertRules()
    run = _open(out, spec, params, dates, rules, surfaces_only, crs, n_jobs, resume)
    try:
        todo = [d for d in dates if d.isoformat() not in run.state.finished]
        with reading_once():  # the bases file is read at each date: parse it once
            _each_date(run, todo, dates, out, on_date)
        assemble(out, run.rules, run.params, charts=charts)
        run.state.status, run.state.error = "complete", None
        run.state.save(out)
    except BaseException as exc:
        run.state.status = "interrupted"
        run.state.error = f"{type(exc).__name__}: {exc}"[:500]
        run.state.save(out)
        if run.state.finished:
            assemble(out, run.rules, run.params, charts=False)
        raise
    return run.state


def _each_date(run: _Run, todo: list[date], dates: list[date], out: Path,
               on_date: Callable[[DateDone], None] | None) -> None:
    """Analyse and record each of ``todo`` in turn (``monitor.json`` after each). A date's
    files are written on a writer thread while the next date is analysed; a date counts as
    finished (its folder renamed into place, ``monitor.json`` saved) once they are written."""
    def record(d: date, secs: float, res: Analysis, reused: tuple[str, ...], finish: Callable[[], float]) -> None:
        secs = round(secs + finish(), 3)
        run.state.finished.append(d.isoformat())
        run.state.seconds[d.isoformat()] = secs
        run.state.reused[d.isoformat()] = list(reused)
        run.state.save(out)
        if on_date:
            on_date(DateDone(dates.index(d) + 1, len(dates), d, secs, reused, len(res.events)))

    pending: tuple | None = None
    # one writer thread: a forked writer made this process 2x slower (copy-on-write faults on
    # every page it wrote after each fork), and two writers gained nothing on 2 cores
    run.writer = ThreadPoolExecutor(1, thread_name_prefix="vacuum-monitor-writer")
    try:
        for d in todo:
            t0 = time.perf_counter()
            res, reused = _analyse(run, d)
            t1 = time.perf_counter()
            if pending is not None:  # the previous date's files are whole before this one links to them
                record(*pending)
                pending = None
            t2 = time.perf_counter()
            finish = _write_date(run, d, res)
            pending = (d, (t1 - t0) + (time.perf_counter() - t2), res, reused, finish)
        if pending is not None:
            record(*pending)
            pending = None
    finally:
        if pending is not None:  # an error or an interrupt: the writer of an unrecorded date is ended
            pending[4](abandon=True)
        run.writer.shutdown(wait=True)
        run.writer = None


def _open(out: Path, spec: InputSpec, params: Params, dates: list[date], rules: AlertRules, surfaces_only: bool,
          crs: Any, n_jobs: int | None, resume: bool) -> _Run:
    """Check the request, load the layers that do not change with the date, write monitor.json."""
    if resume:
        state = load_monitor(out)
        if state.status == "running":
            raise MonitorError(f"{out}: the monitor is still running (pid {state.pid} on {state.host}); wait for it, "
                               "or stop it first")
        missing = [d for d in state.finished if d not in {x.isoformat() for x in dates}]
        if missing:
            raise MonitorError(f"--resume {out}: finished date(s) {', '.join(missing[:3])} are not among the dates "
                               "asked; give a range that starts with them (or none, to finish the stored dates)")
        spec, params = spec_from_json(state.spec), load_params(None, **state.params)
        rules, surfaces_only = AlertRules(**state.alert_rules), state.surfaces_only
        from pyproj import CRS

        crs = CRS.from_wkt(state.crs) if state.crs else None
        state.dates = [d.isoformat() for d in dates]
    else:
        if (out / "monitor.json").exists():
            raise MonitorError(f"{out} already holds a monitor; continue it with --resume {out}, or choose "
                               "another --out")
        state = MonitorState(dates=[d.isoformat() for d in dates], status="running", finished=[],
                             params=params.as_dict(), alert_rules=rules.as_dict(), spec=_spec_json_or_none(spec),
                             surfaces_only=surfaces_only, crs=crs.to_wkt() if crs is not None else None,
                             started_at=_now())
    static = _static_inputs(spec, dates, params)
    state.status, state.pid, state.host, state.error = "running", os.getpid(), socket.gethostname(), None
    out.mkdir(parents=True, exist_ok=True)
    (out / "dates").mkdir(exist_ok=True)
    state.save(out)
    run = _Run(out, state, spec, params, rules, static, crs, n_jobs)
    if state.finished:
        _restore(run)
    return run


def _spec_json_or_none(spec: InputSpec) -> dict[str, Any]:
    try:
        return spec_to_json(spec)
    except MonitorError:
        return {}  # frames from a store (the service): the job reruns from its request, not from here


def _static_inputs(spec: InputSpec, dates: list[date], params: Params) -> AnalysisInputs:
    """Every layer but the bases, once, through :func:`geo.inputs.build_inputs`."""
    try:
        static = build_inputs(replace(spec, as_of=dates[-1], keep_events_after_as_of=True))
    except EmptyLayerError as exc:
        raise MonitorError(f"{exc}{_map_span(spec.bases, spec.mission)}; choose dates inside it") from None
    check_range(dates, static, params)
    return static


def _inputs_at(run: _Run, d: date) -> AnalysisInputs:
    """The static layers with the bases of the Geo-PKO map in force on ``d``."""
    s = run.spec
    try:
        b = build_inputs(InputSpec(bases=s.bases, as_of=d, mission=s.mission, max_map_age_days=s.max_map_age_days,
                                   mapping={"bases": s.mapping["bases"]} if "bases" in s.mapping else {},
                                   layer_crs=s.layer_crs, allow_future_events=s.allow_future_events))
    except EmptyLayerError as exc:
        raise MonitorError(f"{d}: {exc}{_map_span(s.bases, s.mission)}; start the dates on or after the first map") from None
    first = run.static.bases.crs
    if b.bases.crs != first:
        raise CRSMismatchError(f"{d}: the bases layer is in {b.bases.crs.name}, at {run.state.dates[0]} in "
                               f"{first.name}; give one bases file in one CRS (reproject it with to_crs / ogr2ogr)")
    return replace(run.static, bases=b.bases, warnings=[*run.static.warnings, *b.warnings])


def _analyse(run: _Run, d: date) -> tuple[Analysis, tuple[str, ...]]:
    """Analyse one date; what was reused from the dates before."""
    before, fitted = dict(run.reuse.hits), len(run.reuse.forecasts)
    res = analyze(_inputs_at(run, d), run.params, d, crs=run.crs, n_jobs=run.n_jobs, reuse=run.reuse,
                  tables=not run.state.surfaces_only)  # surfaces only: no admin table or zone details to write
    reused = tuple(k for k, v in run.reuse.hits.items() if v > before.get(k, 0))
    if fitted and len(run.reuse.forecasts) == fitted and res.forecast is not None and res.forecast.model is not None:
        reused += ("forecast",)
    grid = res.grid.to_dict()
    if run.state.grid is None:
        run.state.grid = grid
    elif _grid_key(run.state.grid) != _grid_key(grid):
        raise CRSMismatchError(f"{d}: the analysis grid ({res.grid.crs.name}, {res.grid.shape}) differs from the "
                               f"monitor's first date; the layers changed CRS or extent: keep one set of layers "
                               "(or start a new monitor with --out)")
    if res.admin is None:
        raise LayerError("a monitor needs admin units (--admin): its series are per admin unit")
    return res, reused


def _write_date(run: _Run, d: date, res: Analysis) -> Callable[..., float]:
    """Write the date's folder under a temporary name, on ``run.writer`` (a thread: GDAL
    compresses without the GIL while the next date is analysed here); the returned call
    waits for it (raising what it raised), renames the folder into place and gives the
    seconds it waited (``abandon=True``: cancels or waits out the writer and removes the
    partial folder)."""
    import shutil

    if run.cells is None:
        run.cells = unit_cells(res.admin.reset_index(drop=True), res.grid)  # type: ignore[union-attr]
        units = res.admin[[c for c in ("admin_id", "name", "level", "geometry") if c in res.admin]]  # type: ignore[index]
        write_geojson(units.rename(columns={"admin_id": "unit_id"}), run.out / "units.geojson")
    final = run.out / "dates" / d.isoformat()
    tmp = run.out / "dates" / f".{d.isoformat()}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    todo = link_unchanged(run, res, d, tmp, final) if run.state.surfaces_only else []
    tracks, run.next_zone = track_zones(run.prev_zones, list(res.zones.geometry), run.next_zone)
    job = (res, d, tmp, todo, tracks, run.cells, run.prev_coverage, run.rules, run.state.surfaces_only)
    writer = run.writer.submit(_write_files, *job)
    run.prev_coverage = res.surfaces["coverage"]
    run.prev_zones = list(zip(tracks, res.zones.geometry, strict=True))

    def finish(abandon: bool = False) -> float:
        t0 = time.perf_counter()
        if abandon:
            if not writer.cancel():
                wait([writer])  # already writing: let it end before its folder goes
            shutil.rmtree(tmp, ignore_errors=True)
            return 0.0
        writer.result()  # a failed write raises here: the date is not finished
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return time.perf_counter() - t0

    return finish


def _write_files(res: Analysis, d: date, tmp: Path, todo: list[str], tracks: list[str], cells: list[np.ndarray],
                 prev_coverage: np.ndarray | None, rules: AlertRules, surfaces_only: bool) -> None:
    """A date's files in ``tmp``: the surfaces ``todo`` as COGs (surfaces only) or every
    product, the series rows (``units.csv``) and the tracked zones (``zones.geojson``)."""
    if surfaces_only:
        for name in todo:
            # GDAL compresses on every core: with one thread the writer fell behind the dates
            # (3.4 s of waiting over the CAR benchmark's 24 dates, 1.2 s with two)
            write_cog(tmp / f"{name}.tif", res.surfaces[name], res.grid, tags={"as_of": d.isoformat()})
        write_json(res.summary, tmp / "summary.json")
    else:
        from .products import write_analysis

        write_analysis(res, tmp)
    write_csv(date_series(res, cells, prev_coverage, rules), tmp / "units.csv")
    write_geojson(_zone_rows(res.zones, tracks, res.admin, d, res.events), tmp / "zones.geojson")


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal(a, b, equal_nan=True)``, a strided sample compared first: the
    surfaces that change (gap, risk, threat) differ almost everywhere."""
    step = max(1, a.size // 4096)
    if not np.array_equal(a.ravel()[::step], b.ravel()[::step], equal_nan=True):
        return False
    return bool(np.array_equal(a, b, equal_nan=True))


def link_unchanged(run: _Run, res: Analysis, d: date, tmp: Path, final: Path) -> list[str]:
    """Surfaces equal to the previous date's (coverage and travel time while the bases stand
    still, population, exposure) become hard links in ``tmp`` to that date's files, not
    second copies (their ``as_of`` tag is the date each was first computed); the names of
    the others, to be written, are returned. ``run.prev_surfaces`` is updated for the next date."""
    todo, kept = [], {}
    for name in SURFACES:
        arr = res.surfaces[name]
        held = run.prev_surfaces.get(name)
        if held is not None and held[1].exists() and held[0].shape == arr.shape \
                and (held[0] is arr or _same_values(held[0], arr)):
            try:
                os.link(held[1], tmp / f"{name}.tif")
                kept[name] = held
                continue
            except OSError:  # a file system without hard links: write it again
                pass
        todo.append(name)
    run.prev_surfaces = {**kept, **{n: (res.surfaces[n], final / f"{n}.tif") for n in todo}}
    return todo


def _grid_key(g: dict[str, Any]) -> tuple:
    return tuple(sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in g.items()))


def _restore(run: _Run) -> None:
    """After a restart: the last finished date's coverage and zone tracks, the next track number."""
    last = run.out / "dates" / run.state.finished[-1]
    grid = Grid.from_dict(run.state.grid) if run.state.grid else None
    cov, _ = read_surface(last / "coverage.tif")
    run.prev_coverage = cov
    z = _read_zones(last / "zones.geojson")
    if grid is not None and len(z):
        z = z.to_crs(grid.crs)
    run.prev_zones = list(zip(z["track"].astype(str), z.geometry, strict=True)) if len(z) else []
    numbers = [int(t[1:]) for d in run.state.finished
               for t in gpd.read_file(run.out / "dates" / d / "zones.geojson").get("track", pd.Series([], dtype=str))
               if str(t).startswith("Z") and str(t)[1:].isdigit()]
    run.next_zone = max(numbers, default=0) + 1


def _read_zones(path: Path) -> gpd.GeoDataFrame:
    """A date's zones.geojson, its date as the ISO string it was written as."""
    z = gpd.read_file(path)
    if len(z):
        z["date"] = pd.to_datetime(z["date"]).dt.strftime("%Y-%m-%d")
        z["track"] = z["track"].astype(str)
    return z


def load_monitor(out: str | Path) -> MonitorState:
    """``monitor.json`` of ``out``; a ``running`` monitor whose process is gone on this host is
    reported ``interrupted`` (it was killed)."""
    path = Path(out) / "monitor.json"
    if not path.is_file():
        raise MonitorError(f"{out}: no monitor.json; is it a monitoring folder (vacuum monitor --out DIR)?")
    doc = json.loads(path.read_text(encoding="utf-8"))
    state = MonitorState(**doc)
    if state.status == "running" and state.host == socket.gethostname() and state.pid and not pid_alive(state.pid):
        state.status = "interrupted"
        state.error = state.error or f"process {state.pid} stopped before the monitor finished"
    return state


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the folder's tables and charts -----------------------------------------------------

def assemble(out: Path, rules: AlertRules, params: Params, *, charts: bool = True) -> None:
    """series/, alerts.json/csv (and charts/) from the finished dates' folders."""
    state = load_monitor(out)
    folders = [out / "dates" / d for d in state.finished]
    series = pd.concat([pd.read_csv(f / "units.csv", dtype={"unit_id": str, "event_ids": str}) for f in folders],
                       ignore_index=True)
    series["event_ids"] = series["event_ids"].fillna("")
    zones = [_read_zones(f / "zones.geojson") for f in folders]
    zones = [z for z in zones if len(z)]
    ztab = pd.concat(zones, ignore_index=True) if zones else pd.DataFrame(
        columns=["date", "track", "population", "area_km2", "unit_id", "unit_name", "event_ids"])
    if "event_ids" in ztab:
        ztab["event_ids"] = ztab["event_ids"].fillna("")
    (out / "series").mkdir(exist_ok=True)
    write_csv(series, out / "series" / "admin.csv")
    write_csv(ztab.drop(columns="geometry", errors="ignore"), out / "series" / "zones.csv")
    units = gpd.read_file(out / "units.geojson")[["unit_id", "geometry"]].astype({"unit_id": str})
    geo = units.merge(series, on="unit_id")
    write_geojson(gpd.GeoDataFrame(geo, geometry="geometry", crs=units.crs), out / "series" / "admin.geojson")
    alerts = all_alerts(series, ztab, rules, params.class_breaks)
    write_json({"rules": rules.as_dict(), "dates": state.finished, "alerts": [a.as_dict() for a in alerts]},
               out / "alerts.json")
    write_csv(alerts_table(alerts), out / "alerts.csv")
    if charts:
        from .monitor_charts import write_charts

        write_charts(series, alerts, out / "charts")

