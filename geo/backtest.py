"""Backtest: does the gap score, computed with what was known on a date, rank the places
where violence happened afterwards?

Pure part (arrays and numbers, tested by hand in ``tests/test_backtest.py``):

* :func:`roc_auc` — area under the ROC curve as the Mann–Whitney U statistic with
  average ranks, so tied scores count one half;
* :func:`top_sum`, :func:`top_share` — the weight (later events, fatalities, positive
  cells) that falls in the top ``frac`` of units by score, ties at the cut-off shared
  pro rata (the expected value under random tie-breaking);
* :func:`block_aggregate` — cells to coarser square blocks (mean, sum, max, any) over
  the cells that count;
* :func:`nearest_distance` — straight-line distance from points to the nearest source.

Wrapper: :func:`run_backtest` splits the events at the as-of date, runs the normal
engine (:func:`geo.pipeline.analyze`) on what was known then, turns the events of the
horizon window into labels on the grid, and scores the fitted forecast, the gap and the
baselines (persistence, past events alone, travel time and straight-line distance to the
nearest base) on analysis cells and on blocks (the forecast units) — AUC, average
precision, Brier and Brier skill for the probabilities, top-k shares, a reliability table,
and block-bootstrap intervals on the forecast's lead (:mod:`geo.backtest_forecast`). The
same units are scored against a second label, ``uncovered``: later events in cells no
base reached within ``response_threshold_h``. :func:`run_backtests` runs several origins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal, TypedDict, cast

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from scipy.spatial import cKDTree

from .backtest_forecast import (
    Persistence,
    average_precision,
    block_persistence,
    brier,
    brier_skill_score,
    cell_persistence,
    training_origins,
)
from .backtest_types import (
    BacktestCounts,
    BacktestResult,
    BacktestSeries,
    BacktestWindow,
    DifferenceInterval,
    ForecastInfo,
    LabelResult,
    ReliabilityRow,
    ScaleResult,
    ScoreMetrics,
    TopShares,
)
from .errors import ConfigError, LayerError, VacuumError
from .forecast.evaluate import bootstrap_difference, reliability_table, superblocks
from .forecast.model import ForecastModel
from .forecast.units import unit_grid, unit_mask
from .grid import Grid, check_crs
from .params import Params
from .pipeline import Analysis, AnalysisInputs, analyze
from .risk import RiskForecast
from .score import gap_score
from .threat import threat_surface

__all__ = [
    "BacktestError",
    "SCORES",
    "DEFAULT_FRACS",
    "roc_auc",
    "top_sum",
    "top_share",
    "block_aggregate",
    "nearest_distance",
    "horizon_end",
    "run_backtest",
    "run_backtests",
    "metrics_table",
    "PROBABILISTIC",
    "SUPERBLOCK_KM",
    "uncovered_cells",
    "reliability_rows",
]


class BacktestError(VacuumError, ValueError):
    """A backtest cannot be scored as asked (no later events, data from after the as-of date, ...)."""


SCORES: dict[str, str] = {
    "forecast": "model: the fitted forecast, P(at least one event in the unit within the horizon); "
                "cells carry their unit's probability",
    "persistence": "baseline: events in the unit in the last 12 months (rank); Brier on its Platt-calibrated "
                   "probability fitted on the forecast's training origins",
    "gap": "model: gap score 0..100",
    "travel_time": "baseline: travel time to the nearest base (h; unreachable = travel_time_cap_h)",
    "distance": "baseline: straight-line distance to the nearest base (km)",
    "past_events": "baseline: past events alone (time-decayed kernel density, weighted events / km²)",
    "need": "diagnostic: the model without coverage (100 x need = forecast risk and exposure)",
    "kernel_gap": "baseline: the gap score before the forecast (issue 11's 'current gap'): the same formula "
                  "with the past-events threat index in place of the forecast risk",
}
"""Every score ranks units so that higher means more expected violence."""

PROBABILISTIC: tuple[str, ...] = ("forecast", "persistence")
"""Scores that are probabilities of a later event, so Brier applies (the forecast only when
it is not the past-events-kernel fallback); the others are rank-only (brier null)."""

SUPERBLOCK_KM = 50.0
"""Side of the super-blocks the bootstrap draws whole (a multiple of the block size)."""

DEFAULT_FRACS: tuple[float, ...] = (0.05, 0.10, 0.20)


# ============================================================================ pure


def _vector(a: Any, name: str) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64).ravel()
    if np.isnan(v).any():
        raise BacktestError(f"{name} holds NaN at {int(np.isnan(v).sum())} position(s); drop those units first")
    return v


class _Ranked:
    """Scores sorted once into groups of tied values, for AUC and top-k sums over many weights."""

    def __init__(self, scores: Sequence[float] | np.ndarray):
        s = _vector(scores, "scores")
        uniq, inv = np.unique(s, return_inverse=True)
        self.size = s.size
        self.inv = inv.ravel()
        self.count = np.bincount(self.inv, minlength=uniq.size).astype(np.float64)  # ascending scores

    def auc(self, labels: Sequence[bool] | np.ndarray) -> float:
        y = np.asarray(labels).ravel()
        if y.size != self.size:
            raise BacktestError(f"scores ({self.size}) and labels ({y.size}) differ in length")
        y = y.astype(bool)
        n_pos = int(y.sum())
        n_neg = y.size - n_pos
        if n_pos == 0 or n_neg == 0:
            raise BacktestError(f"ROC AUC needs both classes; got {n_pos} positive and {n_neg} negative unit(s)")
        before = np.cumsum(self.count) - self.count
        mean_rank = before + (self.count + 1.0) / 2.0  # 1-based average rank of each tie group
        r_pos = float(mean_rank[self.inv[y]].sum())
        return (r_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)

    def top_sum(self, weights: Sequence[float] | np.ndarray, k: float) -> float:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != self.size:
            raise BacktestError(f"scores ({self.size}) and weights ({w.size}) differ in length")
        if not 0 <= k <= self.size:
            raise BacktestError(f"k={k} must be between 0 and the number of units ({self.size})")
        if self.size == 0:
            return 0.0
        count = self.count[::-1]  # highest score first
        wsum = np.bincount(self.inv, weights=w, minlength=self.count.size)[::-1]
        before = np.cumsum(count) - count
        take = np.clip((k - before) / count, 0.0, 1.0)
        return float((take * wsum).sum())


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """ROC AUC of ``scores`` for the binary ``labels`` (higher score = more likely positive).

    The probability that a random positive outscores a random negative, ties counting
    one half: ``(R+ - n+ (n+ + 1) / 2) / (n+ n-)`` with ``R+`` the sum of the positives'
    average ranks (Mann–Whitney U). Raises :class:`BacktestError` when the scores hold
    NaN, the lengths differ, or only one class is present (the AUC is undefined).
    """
    return _Ranked(scores).auc(labels)


def top_sum(scores: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray, k: float) -> float:
    """Weight held by the ``k`` highest-scoring units (``k`` may be fractional).

    Units are taken by score, highest first; a group of tied scores that straddles the
    cut-off contributes the share ``(k - units before it) / group size`` of its weight,
    the expected value when ties are broken at random.
    """
    return _Ranked(scores).top_sum(weights, k)


def top_share(
    scores: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray, frac: float
) -> float:
    """Share of the total weight in the top ``frac`` (0..1) of units by score.

    ``k = frac * n`` units, ties and a fractional last unit shared pro rata (see
    :func:`top_sum`). NaN when the total weight is 0 (nothing to find).
    """
    if not 0 < frac <= 1:
        raise BacktestError(f"frac={frac} must be in (0, 1]")
    w = np.asarray(weights, dtype=np.float64).ravel()
    total = float(w.sum())
    if total == 0:
        return math.nan
    return top_sum(scores, w, frac * w.size) / total


def block_aggregate(
    values: np.ndarray,
    factor: int,
    *,
    how: Literal["mean", "sum", "max", "any"] = "mean",
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Aggregate a 2-D array into ``factor x factor`` blocks anchored at the top-left cell.

    Only cells where ``mask`` is True count (all cells if None). Edge blocks are partial.
    ``mean``/``max`` give NaN for blocks with no counted cell, ``sum`` 0, ``any`` False
    (``any`` returns a bool array: some counted cell is non-zero). A NaN in a counted
    cell propagates to its block (``mean``, ``sum``, ``max``).
    """
    v = np.asarray(values)
    if v.ndim != 2:
        raise BacktestError(f"block_aggregate needs a 2-D array, got shape {v.shape}")
    if int(factor) != factor or factor < 1:
        raise BacktestError(f"block factor must be a whole number >= 1, got {factor!r}")
    f = int(factor)
    m = np.ones(v.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != v.shape:
        raise BacktestError(f"mask shape {m.shape} differs from values shape {v.shape}")
    h, w = v.shape
    hb, wb = -(-h // f), -(-w // f)
    pad = ((0, hb * f - h), (0, wb * f - w))
    mp = np.pad(m, pad, constant_values=False)
    n = mp.reshape(hb, f, wb, f).sum(axis=(1, 3))
    if how == "any":
        nz = np.pad(m & (v != 0), pad, constant_values=False)
        return np.asarray(nz.reshape(hb, f, wb, f).any(axis=(1, 3)), dtype=bool)
    x = np.pad(v.astype(np.float64), pad, constant_values=0.0)
    if how == "max":
        x = np.where(mp, x, -np.inf).reshape(hb, f, wb, f)
        out = x.max(axis=(1, 3))
        return np.where(n > 0, out, np.nan)
    s = np.where(mp, x, 0.0).reshape(hb, f, wb, f).sum(axis=(1, 3))
    if how == "sum":
        return s
    if how == "mean":
        return np.divide(s, n, out=np.full(s.shape, np.nan), where=n > 0)
    raise BacktestError(f"how={how!r}; use 'mean', 'sum', 'max' or 'any'")


def nearest_distance(x: np.ndarray, y: np.ndarray, src_x: np.ndarray, src_y: np.ndarray) -> np.ndarray:
    """Euclidean distance (units of the inputs) from each point to the nearest source point."""
    src = np.column_stack([np.asarray(src_x, float).ravel(), np.asarray(src_y, float).ravel()])
    if len(src) == 0:
        raise BacktestError("no sources to measure distance to")
    d, _ = cKDTree(src).query(np.column_stack([np.asarray(x, float).ravel(), np.asarray(y, float).ravel()]))
    return np.asarray(d, dtype=np.float64)


def horizon_end(as_of: date, horizon_months: int) -> date:
    """Last day of the horizon window: ``as_of`` plus whole months (month ends kept:
    2017-06-30 + 12 -> 2018-06-30, 2016-02-29 + 12 -> 2017-02-28, 2020-06-30 + 6 -> 2020-12-31),
    the same window as the forecast's labels (:func:`geo.forecast.features.horizon_end`)."""
    if int(horizon_months) != horizon_months or horizon_months <= 0:
        raise ConfigError(f"horizon_months must be a whole number > 0, got {horizon_months!r}")
    end = pd.Timestamp(as_of) + pd.DateOffset(months=int(horizon_months))
    if pd.Timestamp(as_of).is_month_end:
        end = end + pd.offsets.MonthEnd(0)
    return end.date()


# ============================================================================ wrapper


def _metrics(units: dict[str, np.ndarray], probs: dict[str, np.ndarray], fracs: Sequence[float],
             weights: tuple[str, str] = ("events", "fatalities")) -> dict[str, ScoreMetrics]:
    """Metrics of every score of :data:`SCORES` for the label "any of ``weights[0]``"."""
    ev, fat = weights
    y = units[ev] > 0
    n, n_pos = int(y.size), int(y.sum())
    w = {"events": units[ev], "fatalities": units[fat]}
    totals = {k: float(v.sum()) for k, v in w.items()}
    both = 0 < n_pos < n
    scores: dict[str, ScoreMetrics] = {}
    for name in SCORES:
        ranked = _Ranked(units[name])
        top = {_pct(frac): _top(ranked, w, y, totals, frac * n) for frac in fracs}
        p = probs.get(name)
        scores[name] = ScoreMetrics(
            auc=ranked.auc(y) if both else math.nan,
            ap=average_precision(units[name], y),
            brier=brier(p, y) if p is not None else None,
            brier_skill=brier_skill_score(p, y) if p is not None and both else None,
            top=top,
        )
    return scores


def _evaluate(units: dict[str, np.ndarray], probs: dict[str, np.ndarray], fracs: Sequence[float]) -> _UnitMetrics:
    """Metrics of every score over one set of evaluation units."""
    y = units["events"] > 0
    n, n_pos = int(y.size), int(y.sum())
    scores = _metrics(units, probs, fracs)
    return _UnitMetrics(
        units=n, positives=n_pos, base_rate=n_pos / n if n else math.nan,
        events=float(units["events"].sum()), fatalities=float(units["fatalities"].sum()),
        scores=scores,
    )


def _top(ranked: _Ranked, units: dict[str, np.ndarray], y: np.ndarray, totals: dict[str, float],
         k: float) -> TopShares:
    """Shares of later events and fatalities held by the top ``k`` units, and their precision."""
    def share(w: str) -> float:
        return ranked.top_sum(units[w], k) / totals[w] if totals[w] > 0 else math.nan

    return TopShares(events=share("events"), fatalities=share("fatalities"),
                     precision=ranked.top_sum(y, k) / k if k > 0 else math.nan)


class _UnitMetrics(TypedDict):
    units: int
    positives: int
    base_rate: float
    events: float
    fatalities: float
    scores: dict[str, ScoreMetrics]


def _pct(frac: float) -> str:
    return f"{frac * 100:g}%"


def _check_setup(as_of: date, horizon_months: int, params: Params, block_km: float,
                 fracs: Sequence[float]) -> tuple[date, int]:
    """The last day predicted and the block size in cells, or a ConfigError."""
    end = horizon_end(as_of, horizon_months)
    if not fracs or any(not 0 < f <= 1 for f in fracs):
        raise ConfigError(f"fracs must be fractions in (0, 1], got {list(fracs)!r}")
    factor = block_km * 1000.0 / params.resolution_m
    if block_km <= 0 or abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
        raise ConfigError(
            f"block_km={block_km:g} must be a whole multiple of the resolution ({params.resolution_m:g} m); "
            f"e.g. block_km={max(1, round(factor)) * params.resolution_m / 1000:g}"
        )
    if abs(block_km - params.forecast_block_km) > 1e-9:
        raise ConfigError(
            f"block_km={block_km:g} differs from the forecast units (forecast_block_km="
            f"{params.forecast_block_km:g}): the blocks are scored with the forecast's unit probability, so "
            f"they must be the same; drop --block-km or pass --set forecast_block_km={block_km:g} too"
        )
    if not 1 <= int(horizon_months) <= 36:
        raise ConfigError(f"horizon_months={horizon_months} is outside the forecast's 1..36 months")
    return end, int(round(factor))


def _check_inputs(inp: AnalysisInputs, as_of: date) -> gpd.GeoDataFrame:
    """The events layer; refuse inputs without one or with bases from after ``as_of``."""
    if inp.events is None or len(inp.events) == 0:
        raise BacktestError("a backtest needs an events layer (--events): the later events are what is predicted")
    if inp.events.crs is None:
        raise LayerError("events layer has no CRS; load it with geo.layers.load_events")
    ts = pd.Timestamp(as_of)
    dates = pd.to_datetime(inp.events["date"])
    today = pd.Timestamp(date.today())
    if (dates > today).any():
        raise BacktestError(
            f"{int((dates > today).sum())} event(s) are dated in the future (latest {dates.max().date()}, "
            f"today is {today.date()}): fix their dates in the events file"
        )
    if "map_date" in inp.bases and (pd.to_datetime(inp.bases["map_date"]) > ts).any():
        late = inp.bases.loc[pd.to_datetime(inp.bases["map_date"]) > ts, "base_id"].astype(str).tolist()
        fix = (
            "Geo-PKO v2.3 yearly rows (dated 1 July) summarise all of that year's maps, later ones too: "
            "use the dated Geo-PKO v2.1 maps for a backtest"
            if inp.bases.attrs.get("schema") == "geo_pko_v2.3"
            else f"load the bases with as_of={as_of} so the model sees only what was known"
        )
        raise BacktestError(
            f"{len(late)} base(s) come from a deployment map after the as-of date {as_of} "
            f"(e.g. {', '.join(late[:3])}): {fix}"
        )
    return inp.events


def _split_events(events: gpd.GeoDataFrame, as_of: date, end: date) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Events known on ``as_of`` and those of the horizon window (at least one)."""
    ts = pd.Timestamp(as_of)
    dates = pd.to_datetime(events["date"])
    past = events[(dates <= ts).to_numpy()]
    later = events[((dates > ts) & (dates <= pd.Timestamp(end))).to_numpy()]
    if len(later) == 0:
        first = dates[dates > ts].min()
        hint = f"the first event after it is on {first.date()}" if pd.notna(first) else "the file has no event after it"
        raise BacktestError(
            f"no events between {as_of} (exclusive) and {end}: nothing to predict ({hint}); "
            "choose an earlier --as-of or a longer --horizon-months"
        )
    return past, later


def _score_surfaces(res: Analysis, params: Params, as_of: date) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every score of :data:`SCORES` but persistence on the grid ("higher = more risk", NaN
    outside the area) and the cells inside the area that no base reaches within the cap."""
    grid, inside = res.grid, res.inside
    gap = res.surfaces["gap"].astype(np.float64)
    tt = res.surfaces["travel_time"].astype(np.float64)
    unreachable = inside & ~np.isfinite(tt)
    tt = np.where(unreachable, params.travel_time_cap_h, tt)  # censored: at least the cap
    rows, cols = np.nonzero(inside)
    xc, yc = grid.cell_centres()
    bases = res.bases
    check_crs(bases, grid.crs, "bases layer")
    dist = np.full(grid.shape, np.nan)
    dist[rows, cols] = nearest_distance(xc[cols], yc[rows], bases.geometry.x.to_numpy(),
                                        bases.geometry.y.to_numpy()) / 1000.0
    _, density = threat_surface(res.events, grid, params, as_of)
    need = gap_score(res.surfaces["risk"], res.surfaces["exposure"], np.zeros(grid.shape),
                     params.threat_weight, params.exposure_weight)
    risk = np.where(inside, res.surfaces["risk"].astype(np.float64), np.nan)
    kernel_gap = gap_score(res.surfaces["threat"], res.surfaces["exposure"], res.surfaces["coverage"],
                           params.threat_weight, params.exposure_weight)
    surfaces = {"forecast": risk, "gap": gap, "travel_time": tt, "distance": dist,
                "past_events": np.where(inside, density, np.nan), "need": need,
                "kernel_gap": np.where(inside, kernel_gap, np.nan)}
    for name, s in surfaces.items():
        bad = inside & ~np.isfinite(s)
        if bad.any():
            raise BacktestError(f"score {name!r} is not finite in {int(bad.sum())} cell(s) inside the area")
    return surfaces, unreachable


def _locate(points: gpd.GeoDataFrame, grid: Grid, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat cell index of each point, whether it is on the grid, and whether its cell is inside the area."""
    r, c, in_grid = grid.rowcol(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    in_area = in_grid.copy()
    in_area[in_grid] = inside[r[in_grid], c[in_grid]]
    return r * grid.width + c, in_grid, in_area


def _label_grids(later: gpd.GeoDataFrame, grid: Grid, inside: np.ndarray,
                 as_of: date, end: date) -> _Labels:
    """Later events and their fatalities per cell inside the area."""
    lat = later.to_crs(grid.crs)
    flat_all, in_grid, in_area = _locate(lat, grid, inside)
    fat = np.nan_to_num(lat["fatalities"].to_numpy(dtype=np.float64), nan=0.0)
    flat = flat_all[in_area]
    ev_grid = np.bincount(flat, minlength=grid.size).reshape(grid.shape).astype(np.float64)
    fat_grid = np.bincount(flat, weights=fat[in_area], minlength=grid.size).reshape(grid.shape)
    if not in_area.any():
        raise BacktestError(
            f"none of the {len(later)} events between {as_of} (exclusive) and {end} falls inside the area: "
            "nothing to predict there; check that the events and the area (--admin, --admin-iso3, --bbox) match"
        )
    return _Labels(events=ev_grid, fatalities=fat_grid, in_grid=in_grid, in_area=in_area, event_fatalities=fat)


def uncovered_cells(travel_time_h: np.ndarray, inside: np.ndarray, threshold_h: float) -> np.ndarray:
    """Cells inside the area that no base reaches within ``threshold_h`` (unreachable = inf
    or NaN counts as uncovered): where the gap claims violence goes unanswered."""
    tt = np.asarray(travel_time_h, dtype=np.float64)
    return np.asarray(inside, dtype=bool) & ~(tt <= threshold_h)


@dataclass
class _Labels:
    events: np.ndarray  # later events per cell inside the area (grid-shaped)
    fatalities: np.ndarray  # their fatalities per cell (grid-shaped)
    in_grid: np.ndarray  # per later event: on the grid
    in_area: np.ndarray  # per later event: in a cell inside the area
    event_fatalities: np.ndarray  # per later event (NaN = 0)




@dataclass
class _Units:
    """One evaluation scale: every score, the labels and the probabilities on its units."""

    values: dict[str, np.ndarray]  # scores of SCORES, "events", "fatalities", "events_u", "fatalities_u"
    probs: dict[str, np.ndarray]  # probabilistic scores: the probability scored by Brier
    flat: np.ndarray | None = None  # block scale: flat unit index of each block (for super-blocks)


def _cell_units(surfaces: dict[str, np.ndarray], labels: _Labels, inside: np.ndarray, uncovered: np.ndarray,
                persistence: Persistence, forecast_is_probability: bool) -> _Units:
    values = {name: s[inside] for name, s in surfaces.items()}
    values["persistence"] = persistence.count
    values["events"], values["fatalities"] = labels.events[inside], labels.fatalities[inside]
    values["events_u"] = np.where(uncovered, labels.events, 0.0)[inside]
    values["fatalities_u"] = np.where(uncovered, labels.fatalities, 0.0)[inside]
    probs = {"forecast": values["forecast"]} if forecast_is_probability else {}
    if persistence.probability is not None:
        probs["persistence"] = persistence.probability
    return _Units(values, probs)


def _block_units(surfaces: dict[str, np.ndarray], labels: _Labels, inside: np.ndarray, uncovered: np.ndarray,
                 factor: int, unit_probability: np.ndarray, persistence: Persistence,
                 forecast_is_probability: bool) -> _Units:
    blocks = {name: block_aggregate(s, factor, how="mean", mask=inside) for name, s in surfaces.items()}
    has_cells = block_aggregate(inside, factor, how="any", mask=inside)
    if unit_probability.shape != has_cells.shape:
        raise BacktestError(f"forecast units {unit_probability.shape} differ from the blocks {has_cells.shape}")
    blocks["forecast"] = unit_probability  # the unit probability itself (= the mean of its painted cells)
    blocks["events"] = block_aggregate(labels.events, factor, how="sum", mask=inside)
    blocks["fatalities"] = block_aggregate(labels.fatalities, factor, how="sum", mask=inside)
    blocks["events_u"] = block_aggregate(np.where(uncovered, labels.events, 0.0), factor, how="sum", mask=inside)
    blocks["fatalities_u"] = block_aggregate(np.where(uncovered, labels.fatalities, 0.0), factor, how="sum",
                                             mask=inside)
    values = {k: v[has_cells] for k, v in blocks.items()}
    values["persistence"] = persistence.count
    probs = {"forecast": values["forecast"]} if forecast_is_probability else {}
    if persistence.probability is not None:
        probs["persistence"] = persistence.probability
    return _Units(values, probs, flat=np.flatnonzero(has_cells.ravel()))


RELIABILITY_BINS = 10
RELIABILITY_MIN_UNITS = 10


def reliability_rows(y: np.ndarray, p: np.ndarray, n_bins: int = RELIABILITY_BINS,
                     min_units: int = RELIABILITY_MIN_UNITS) -> list[ReliabilityRow]:
    """Reliability bins. With at most ``2 n_bins`` distinct probabilities (persistence: one
    per count, most units at count 0, which would swallow quantile bins) one bin per value,
    adjacent values merged from the top until each bin holds ``min_units`` units (the
    lowest bin takes what is left); else deciles of ``p`` (ties merge bins)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    yy = np.asarray(y, dtype=bool)
    values, inv = np.unique(q, return_inverse=True)
    if values.size <= 2 * n_bins:
        inv = inv.ravel()
        n = np.bincount(inv, minlength=values.size)
        groups: list[list[int]] = []
        current: list[int] = []
        for i in range(values.size - 1, -1, -1):  # highest first
            current.append(i)
            if n[current].sum() >= min_units:
                groups.append(current)
                current = []
        if current:
            if groups:
                groups[-1].extend(current)
            else:
                groups.append(current)
        rows = []
        for b, g in enumerate(sorted(groups, key=min)):
            m = np.isin(inv, g)
            rows.append(ReliabilityRow(bin=b, low=float(values[min(g)]), high=float(values[max(g)]),
                                       mean_predicted=float(q[m].mean()), observed_rate=float(yy[m].mean()),
                                       count=int(m.sum())))
        return rows
    table = reliability_table(yy, q, n_bins=n_bins, strategy="quantile")
    return [ReliabilityRow(bin=int(r.bin), low=float(r.low), high=float(r.high),
                           mean_predicted=float(r.mean_predicted), observed_rate=float(r.observed_rate),
                           count=int(r.count)) for r in table.itertuples()]


def _reliability(u: _Units) -> dict[str, list[ReliabilityRow]]:
    y = u.values["events"] > 0
    return {name: reliability_rows(y, p) for name, p in u.probs.items()}


def _intervals(u: _Units, shape: tuple[int, int], block_km: float, n_boot: int,
               seed: int) -> dict[str, dict[str, DifferenceInterval]]:
    """Forecast minus each other score (AUC, AP), resampling whole 50 km super-blocks."""
    y = u.values["events"] > 0
    if n_boot <= 0 or not 0 < y.sum() < y.size or u.flat is None:
        return {}
    size = max(1, int(round(SUPERBLOCK_KM / block_km)))
    groups = superblocks(u.flat, shape, size)
    out: dict[str, dict[str, DifferenceInterval]] = {}
    for name in SCORES:
        if name == "forecast":
            continue
        out[name] = {
            key: DifferenceInterval(**bootstrap_difference(  # type: ignore[typeddict-item]
                y, u.values["forecast"], u.values[name], groups, metric=metric, n_boot=n_boot,
                random_state=seed).as_dict())
            for key, metric in (("auc", "auc"), ("ap", "average_precision"))
        }
    return out


def _scale(u: _Units, fracs: Sequence[float]) -> dict[str, Any]:
    y_u = u.values["events_u"] > 0
    n = int(y_u.size)
    uncovered = {"events": u.values["events_u"], "fatalities": u.values["fatalities_u"],
                 **{name: u.values[name] for name in SCORES}}
    label = LabelResult(positives=int(y_u.sum()), base_rate=float(y_u.sum()) / n if n else math.nan,
                        events=float(u.values["events_u"].sum()), fatalities=float(u.values["fatalities_u"].sum()),
                        scores=_metrics(uncovered, {}, fracs))
    return {**_evaluate(u.values, u.probs, fracs), "labels": {"uncovered": label}, "reliability": _reliability(u)}


def _counts(res: Analysis, later: gpd.GeoDataFrame, labels: _Labels, unreachable: np.ndarray,
            uncovered: np.ndarray, scales: dict[str, ScaleResult]) -> BacktestCounts:
    """Bases, past and later events, cells and blocks: what the metrics were computed over."""
    # past events counted the same way (the analysis keeps all events of its look-back window)
    _, _, p_area = _locate(res.events, res.grid, res.inside)
    in_grid, in_area = labels.in_grid, labels.in_area
    return BacktestCounts(
        bases=len(res.bases),
        bases_outside_grid=len(res.summary["layers"]["bases_outside_grid"]),
        past_events_in_lookback=int(len(res.events)),
        past_events_in_area=int(p_area.sum()),
        later_events=int(len(later)),
        later_events_in_area=int(in_area.sum()),
        later_events_in_margin=int((in_grid & ~in_area).sum()),
        later_events_outside_grid=int((~in_grid).sum()),
        later_fatalities_in_area=float(labels.event_fatalities[in_area].sum()),
        cells=int(res.inside.sum()),
        cells_with_later_event=scales["cell"]["positives"],
        cells_unreachable_within_cap=int(unreachable.sum()),
        cells_uncovered=int(uncovered.sum()),
        later_events_uncovered=int(labels.events[uncovered].sum()),
        blocks=scales["block"]["units"],
        blocks_with_later_event=scales["block"]["positives"],
    )


def _forecast_info(res: Analysis) -> tuple[RiskForecast, ForecastInfo]:
    fc = res.forecast
    if fc is None:
        raise BacktestError("the analysis returned no forecast; the backtest scores it")
    return fc, ForecastInfo(method=fc.method, model=fc.model.model_name_ if isinstance(fc.model, ForecastModel) else None,
                        is_probability=fc.is_probability, block_km=fc.block_km, horizon_months=fc.horizon_months,
                        train_origins=len(fc.train_origins), note=fc.note)


def _persistence(res: Analysis, past: gpd.GeoDataFrame, params: Params, as_of: date,
                 horizon_months: int) -> tuple[Persistence, Persistence]:
    """Persistence on blocks (forecast units) and on cells, from every known event on the grid."""
    grid, inside = res.grid, res.inside
    known = past.to_crs(grid.crs)
    flat, in_grid, in_area = _locate(known, grid, inside)
    known, flat, in_area = known[in_grid], flat[in_grid], in_area[in_grid]
    ug = unit_grid(grid, params.forecast_block_km)
    area_units = np.flatnonzero(unit_mask(inside, grid, ug).ravel())
    blocks = block_persistence(known, grid, in_area, ug, area_units, as_of, horizon_months,
                               params.forecast_train_years)
    origins = training_origins(as_of, horizon_months, params.forecast_train_years) if len(known) else []
    day = pd.to_datetime(known["date"]).to_numpy().astype("datetime64[D]")
    cells = cell_persistence(flat, day, in_area, np.flatnonzero(inside.ravel()), grid.size, as_of,
                             horizon_months, origins)
    return blocks, cells


def run_backtest(
    inputs: AnalysisInputs | Callable[[date], AnalysisInputs],
    as_of: date,
    horizon_months: int,
    params: Params,
    *,
    block_km: float | None = None,
    fracs: Sequence[float] = DEFAULT_FRACS,
    n_boot: int = 1000,
    seed: int = 0,
    crs: CRS | None = None,
    n_jobs: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> BacktestResult:
    """Score the grid as of ``as_of`` and measure how it ranks the following events.

    ``inputs`` (or ``inputs(as_of)``) holds the layers as loaded by :mod:`geo.layers`:
    bases as of ``as_of`` (Geo-PKO map on or before it; a base whose ``map_date`` is after
    it is refused) and *all* events of the file. Events dated ``<= as_of`` go to the
    analysis (which keeps its look-back window); events with ``as_of < date <= as_of +
    horizon_months`` are what is predicted. An evaluation unit is an analysis cell inside
    the area, or a ``block_km`` block of them (score = mean over its cells inside the
    area; label = any later event in them). The blocks are the forecast units:
    ``block_km`` defaults to ``params.forecast_block_km`` and must equal it; the forecast
    is fitted for ``horizon_months`` (``params.forecast_horizon_months`` is set to it).

    Returns a JSON-ready :class:`~geo.backtest_types.BacktestResult`: ``as_of``,
    ``window`` (first and last day predicted), ``counts``, ``scales`` (``cell`` and
    ``block``: units, positives, and per score of :data:`SCORES` the ``auc``, ``ap``,
    ``brier`` and ``brier_skill`` (null for rank-only scores) and, per fraction, the share
    of later ``events`` and ``fatalities`` in the top units and the ``precision`` of those
    units; ``labels.uncovered``, the same scores against later events in cells no base
    reached within ``response_threshold_h``; ``reliability`` per probabilistic score;
    ``intervals`` on blocks: forecast minus each other score, AUC and AP, with a 95 %
    bootstrap interval over ``SUPERBLOCK_KM`` super-blocks, ``n_boot`` resamples, ``seed``),
    ``forecast`` (its method), ``bases_map``, ``resolution_m``, ``block_km``, ``timings_s``.
    """
    t0 = time.perf_counter()
    block_km = params.forecast_block_km if block_km is None else float(block_km)
    end, factor = _check_setup(as_of, horizon_months, params, block_km, fracs)
    if params.forecast_horizon_months != int(horizon_months):
        params = replace(params, forecast_horizon_months=int(horizon_months))
    inp = inputs(as_of) if callable(inputs) else inputs
    events = _check_inputs(inp, as_of)
    past, later = _split_events(events, as_of, end)
    res = analyze(replace(inp, events=past), params, as_of, crs=crs, progress=progress, n_jobs=n_jobs)
    t1 = time.perf_counter()
    fc, info = _forecast_info(res)
    surfaces, unreachable = _score_surfaces(res, params, as_of)
    labels = _label_grids(later, res.grid, res.inside, as_of, end)
    uncovered = uncovered_cells(res.surfaces["travel_time"], res.inside, params.response_threshold_h)
    p_block, p_cell = _persistence(res, past, params, as_of, int(horizon_months))
    cu = _cell_units(surfaces, labels, res.inside, uncovered, p_cell, info["is_probability"])
    bu = _block_units(surfaces, labels, res.inside, uncovered, factor, fc.probability, p_block,
                      info["is_probability"])
    cell_scale = cast(ScaleResult, {"size_km": res.grid.resolution_km, **_scale(cu, fracs)})
    block_scale = cast(ScaleResult, {"size_km": block_km, "cells_per_block": factor * factor, **_scale(bu, fracs),
                                     "intervals": _intervals(bu, fc.units.shape, block_km, n_boot, seed)})
    scales = {"cell": cell_scale, "block": block_scale}
    t2 = time.perf_counter()
    return BacktestResult(
        as_of=as_of.isoformat(),
        horizon_months=int(horizon_months),
        window=BacktestWindow(after=as_of.isoformat(), through=end.isoformat()),
        resolution_m=res.grid.resolution,
        block_km=block_km,
        fractions=[float(f) for f in fracs],
        bases_map=inp.bases.attrs.get("maps"),
        events_schema=events.attrs.get("schema"),
        counts=_counts(res, later, labels, unreachable, uncovered, scales),
        scales=scales,
        scores=dict(SCORES),
        probabilistic=[n for n in PROBABILISTIC if n in bu.probs],
        forecast=info,
        params=params.as_dict(),
        timings_s={"analysis": round(t1 - t0, 3), "evaluation": round(t2 - t1, 3), "total": round(t2 - t0, 3)},
    )


def run_backtests(
    inputs: AnalysisInputs | Callable[[date], AnalysisInputs],
    as_ofs: Sequence[date],
    horizon_months: int,
    params: Params,
    **kwargs: Any,
) -> BacktestSeries:
    """:func:`run_backtest` at each of ``as_ofs`` (distinct dates, run in date order); each
    origin's forecast is fitted only on what was known at it. ``kwargs`` go to
    :func:`run_backtest`."""
    if not as_ofs:
        raise ConfigError("give at least one as-of date")
    dup = sorted({d for d in as_ofs if list(as_ofs).count(d) > 1})
    if dup:
        raise ConfigError(f"as-of date(s) given twice: {', '.join(d.isoformat() for d in dup)}")
    order = sorted(as_ofs)
    results = [run_backtest(inputs, d, horizon_months, params, **kwargs) for d in order]
    return BacktestSeries(horizon_months=int(horizon_months), as_of=[d.isoformat() for d in order],
                          origins=results)


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)


def metrics_table(result: BacktestResult | BacktestSeries) -> pd.DataFrame:
    """One row per (origin, scale, score): AUC, AP, Brier, Brier skill, per fraction the
    event and fatality shares and precision; the AUC and AP against the ``uncovered``
    label; on blocks, the forecast's lead in AUC and AP with its bootstrap interval."""
    if "origins" in result:
        return pd.concat([metrics_table(r) for r in cast(BacktestSeries, result)["origins"]], ignore_index=True)
    result = cast(BacktestResult, result)
    rows = []
    for scale, sc in result["scales"].items():
        unc = sc["labels"]["uncovered"]
        for name, m in sc["scores"].items():
            row: dict[str, Any] = {
                "as_of": result["as_of"], "horizon_months": result["horizon_months"], "scale": scale,
                "unit_km": sc["size_km"], "units": sc["units"], "positives": sc["positives"],
                "score": name, "auc": m["auc"], "ap": m["ap"], "brier": _num(m["brier"]),
                "brier_skill": _num(m["brier_skill"]),
            }
            for pct, t in m["top"].items():
                p = pct.rstrip("%")
                row[f"events_top{p}"] = t["events"]
                row[f"fatalities_top{p}"] = t["fatalities"]
                row[f"precision_top{p}"] = t["precision"]
            row["uncovered_positives"] = unc["positives"]
            row["auc_uncovered"] = unc["scores"][name]["auc"]
            row["ap_uncovered"] = unc["scores"][name]["ap"]
            iv = sc.get("intervals", {}).get(name)
            for key in ("auc", "ap"):
                row[f"fc_minus_{key}"] = iv[key]["estimate"] if iv else math.nan
                row[f"fc_minus_{key}_low"] = iv[key]["low"] if iv else math.nan
                row[f"fc_minus_{key}_high"] = iv[key]["high"] if iv else math.nan
            rows.append(row)
    return pd.DataFrame(rows)
