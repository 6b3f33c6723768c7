"""Features per forecast unit at an origin date ``t``, and the labels of the window after it.

Time convention (the backtest's): an event *known at* ``t`` is dated on or before ``t``;
the labels are the events dated in ``(t, t + h]``, ``h`` in calendar months (month ends
stay month ends). Ages for the feature windows are in months of 30.4375 days.

Pure part: :class:`UnitEvents` (unit index, day, fatalities per event) and the functions
on it. Adapter: :func:`unit_events` maps an events GeoDataFrame (the schema of
:func:`geo.layers.load_events`) onto a :class:`~.units.UnitGrid` after checking its CRS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ..grid import check_crs
from .errors import ForecastError
from .units import UnitGrid, distance_to_nearest, point_units, ring_sum, smooth

__all__ = [
    "DAYS_PER_MONTH",
    "WINDOWS",
    "RINGS",
    "UnitEvents",
    "FeatureMatrix",
    "Labels",
    "to_day",
    "horizon_end",
    "unit_events",
    "feature_matrix",
    "labels",
]

DAYS_PER_MONTH = 30.4375
WINDOWS: tuple[tuple[int, int], ...] = ((0, 1), (1, 3), (3, 6), (6, 12), (12, 24), (24, 60))
"""Count windows in months before ``t``: an event of age ``a`` months is in ``[lo, hi)``."""
RINGS: tuple[tuple[str, int, int], ...] = (("unit", 0, 0), ("ring1", 1, 1), ("ring2_3", 2, 3))
"""Where counts are taken: the unit, its 8 neighbours, the 40 units 2-3 steps away."""
WIDE_RING: tuple[str, int, int] = ("ring4_7", 4, 7)
WIDE_WINDOWS: tuple[tuple[int, int], ...] = ((0, 12), (12, 60))
"""Counts 4-7 units away (40-70 km at 10 km units), in two coarse windows."""
DISTANCE_WINDOWS: tuple[tuple[str, float], ...] = (("0_12m", 12.0), ("0_60m", 60.0), ("ever", np.inf))
"""Distance to the nearest unit with an event aged less than this many months."""
DENSITIES: tuple[tuple[str, float, float], ...] = (
    ("0_3m", 3.0, 1.0), ("0_3m", 3.0, 2.0),
    ("0_12m", 12.0, 1.0), ("0_12m", 12.0, 2.0), ("0_12m", 12.0, 4.0),
    ("0_60m", 60.0, 2.0), ("ever", np.inf, 2.0), ("ever", np.inf, 4.0),
)
"""Kernel densities: (window label, events younger than this many months, sigma in units)."""
LAST_EVENT_CAP_MONTHS = 60.0
DISTANCE_CAP_UNITS = 50.0


def to_day(t: Any) -> np.datetime64:
    """A date-like (``date``, ``Timestamp``, ``'2017-06-30'``, datetime64) as datetime64[D]."""
    ts = pd.Timestamp(t)
    if pd.isna(ts):
        raise ForecastError(f"not a date: {t!r}")
    return np.datetime64(ts.date(), "D")


def horizon_end(t: Any, horizon_months: int) -> np.datetime64:
    """Last day of the window ``(t, t + h]``: calendar months, month ends kept
    (2017-06-30 + 12 -> 2018-06-30, 2016-02-29 + 12 -> 2017-02-28)."""
    if int(horizon_months) != horizon_months or horizon_months <= 0:
        raise ForecastError(f"horizon_months must be a whole number > 0, got {horizon_months!r}")
    end = pd.Timestamp(to_day(t)) + pd.DateOffset(months=int(horizon_months))
    if pd.Timestamp(to_day(t)).is_month_end:
        end = end + pd.offsets.MonthEnd(0)
    return np.datetime64(end.date(), "D")


@dataclass(frozen=True)
class UnitEvents:
    """Events reduced to what the forecast uses; one entry per event.

    ``unit``: flat unit index (``-1`` = outside the units, ignored); ``day``:
    datetime64[D]; ``fatalities``: float >= 0 (NaN read as 0); ``shape``: the unit lattice.
    """

    unit: np.ndarray
    day: np.ndarray
    fatalities: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        n = len(self.unit)
        if len(self.day) != n or len(self.fatalities) != n:
            raise ForecastError(
                f"unit ({n}), day ({len(self.day)}) and fatalities ({len(self.fatalities)}) differ in length"
            )
        if n and (int(np.max(self.unit)) >= self.shape[0] * self.shape[1] or int(np.min(self.unit)) < -1):
            raise ForecastError(f"unit indices must be -1 or 0..{self.shape[0] * self.shape[1] - 1}")

    @classmethod
    def from_arrays(cls, unit: Any, day: Any, fatalities: Any, shape: tuple[int, int]) -> UnitEvents:
        return cls(
            unit=np.asarray(unit, dtype=np.int64).ravel(),
            day=np.asarray(day, dtype="datetime64[D]").ravel(),
            fatalities=np.nan_to_num(np.asarray(fatalities, dtype=np.float64).ravel(), nan=0.0),
            shape=(int(shape[0]), int(shape[1])),
        )

    def subset(self, keep: np.ndarray) -> UnitEvents:
        k = np.asarray(keep, dtype=bool)
        return UnitEvents(self.unit[k], self.day[k], self.fatalities[k], self.shape)


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows are ``units`` (flat indices), columns ``names``."""

    names: list[str]
    X: np.ndarray
    units: np.ndarray

    def column(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise ForecastError(f"no feature {name!r}; features: {', '.join(self.names)}")
        return self.X[:, self.names.index(name)]


@dataclass(frozen=True)
class Labels:
    """Per unit of ``units``: ``any`` event in ``(t, end]`` and their ``count``."""

    any: np.ndarray
    count: np.ndarray
    units: np.ndarray
    end: np.datetime64


def unit_events(events: gpd.GeoDataFrame, ug: UnitGrid, crs: CRS) -> UnitEvents:
    """Adapter: events (``date``, ``fatalities``, Point geometry) already in the grid ``crs``."""
    for c in ("date", "fatalities"):
        if c not in events.columns:
            raise ForecastError(f"events need a {c!r} column (load them with geo.layers.load_events)")
    check_crs(events, crs, "events layer")
    unit = point_units(ug, events.geometry.x.to_numpy(), events.geometry.y.to_numpy())
    day = pd.to_datetime(events["date"]).to_numpy().astype("datetime64[D]")
    return UnitEvents.from_arrays(unit, day, events["fatalities"].to_numpy(dtype=np.float64), ug.shape)


def _units(units: Any, shape: tuple[int, int]) -> np.ndarray:
    n = shape[0] * shape[1]
    if units is None:
        return np.arange(n, dtype=np.int64)
    u = np.asarray(units)
    if u.dtype == bool:
        if u.size != n:
            raise ForecastError(f"unit mask has {u.size} entries, the lattice {shape} has {n}")
        return np.flatnonzero(u.ravel())
    u = u.astype(np.int64).ravel()
    if u.size and (u.min() < 0 or u.max() >= n):
        raise ForecastError(f"unit indices must be in 0..{n - 1}")
    return u


def _grid_count(ev: UnitEvents, keep: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    k = keep & (ev.unit >= 0)
    n = ev.shape[0] * ev.shape[1]
    w = None if weights is None else weights[k]
    return np.bincount(ev.unit[k], weights=w, minlength=n).astype(np.float64).reshape(ev.shape)


def feature_matrix(
    ev: UnitEvents,
    t: Any,
    *,
    units: Any = None,
    static: Mapping[str, np.ndarray] | None = None,
) -> FeatureMatrix:
    """Features of ``units`` (flat indices or a bool mask; all by default) at origin ``t``
    from the events dated on or before ``t`` only.

    Columns, in order:

    * ``n_{where}_{lo}_{hi}m``: events aged ``[lo, hi)`` months (:data:`WINDOWS`) in the
      unit, ring 1 and rings 2-3 (:data:`RINGS`);
    * ``n_ring4_7_{lo}_{hi}m``: events 4-7 units away, aged 0-12 and 12-60 months;
    * ``units_to_event_{0_12m, 0_60m, ever}``: distance in unit steps (centre to centre)
      to the nearest unit with an event of that age, 0 in it, capped at 50;
    * ``density_s{sigma}_{window}``: Gaussian kernel density of the events of a window
      (:data:`DENSITIES`: 0-3, 0-12, 0-60 months, ever), ``sigma`` in unit steps;
    * ``log1p_fatalities_unit_0_12m``: ``log1p`` of the fatalities in the unit, 0-12 months;
    * ``months_since_last_unit``: months since the unit's last event, capped at 60
      (60 when none);
    * ``country_trend_6m``: ``log((n_0_6 + 1) / (n_6_12 + 1))`` over all units (the same
      for every unit at ``t``);
    * then each ``static`` array (one value per unit of the lattice, flat or 2-D), by name.
    """
    t_day = to_day(t)
    u = _units(units, ev.shape)
    age = (t_day - ev.day).astype(np.float64) / DAYS_PER_MONTH  # days -> months
    known = age >= 0  # dated on or before t
    names: list[str] = []
    cols: list[np.ndarray] = []
    for lo, hi in WINDOWS:
        g = _grid_count(ev, known & (age >= lo) & (age < hi))
        for where, k0, k1 in RINGS:
            names.append(f"n_{where}_{lo}_{hi}m")
            cols.append((g if k1 == 0 else ring_sum(g, k0, k1)).ravel()[u])
    wide, k0, k1 = WIDE_RING
    for lo, hi in WIDE_WINDOWS:
        names.append(f"n_{wide}_{lo}_{hi}m")
        cols.append(ring_sum(_grid_count(ev, known & (age >= lo) & (age < hi)), k0, k1).ravel()[u])
    for label, max_age in DISTANCE_WINDOWS:
        g = _grid_count(ev, known & (age < max_age)) > 0
        names.append(f"units_to_event_{label}")
        cols.append(distance_to_nearest(g, DISTANCE_CAP_UNITS).ravel()[u])
    for label, max_age, sigma in DENSITIES:
        names.append(f"density_s{sigma:g}_{label}")
        cols.append(smooth(_grid_count(ev, known & (age < max_age)), sigma).ravel()[u])
    fat = _grid_count(ev, known & (age < 12), ev.fatalities)
    names.append("log1p_fatalities_unit_0_12m")
    cols.append(np.log1p(fat).ravel()[u])

    n_cells = ev.shape[0] * ev.shape[1]
    last = np.full(n_cells, np.inf)
    k = known & (ev.unit >= 0)
    np.minimum.at(last, ev.unit[k], age[k])
    names.append("months_since_last_unit")
    cols.append(np.minimum(last, LAST_EVENT_CAP_MONTHS)[u])

    inside = ev.unit >= 0
    recent = int((known & inside & (age < 6)).sum())
    before = int((known & inside & (age >= 6) & (age < 12)).sum())
    names.append("country_trend_6m")
    cols.append(np.full(u.size, np.log((recent + 1.0) / (before + 1.0))))

    for name, arr in (static or {}).items():
        a = np.asarray(arr, dtype=np.float64)
        if a.size != n_cells:
            raise ForecastError(
                f"static column {name!r} has {a.size} values; give one per unit of the lattice "
                f"{ev.shape} ({n_cells}), flat or 2-D"
            )
        if name in names:
            raise ForecastError(f"static column {name!r} clashes with a computed feature")
        names.append(name)
        cols.append(a.ravel()[u])
    X = np.column_stack(cols) if cols else np.empty((u.size, 0))
    return FeatureMatrix(names=names, X=X, units=u)


def labels(ev: UnitEvents, t: Any, horizon_months: int, *, units: Any = None) -> Labels:
    """Per unit: any event dated in ``(t, t + horizon_months]`` and how many."""
    t_day = to_day(t)
    end = horizon_end(t_day, horizon_months)
    u = _units(units, ev.shape)
    count = _grid_count(ev, (ev.day > t_day) & (ev.day <= end)).ravel()[u].astype(np.int64)
    return Labels(any=count > 0, count=count, units=u, end=end)
