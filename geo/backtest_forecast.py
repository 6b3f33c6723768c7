"""The backtest's probabilistic part: persistence as a score, AP and Brier, intervals, reliability.

Pure part (arrays, tested by hand in ``tests/test_backtest.py``):

* :func:`average_precision`, :func:`brier`, :func:`brier_skill_score` — AP of a ranking,
  the Brier score of a probability and its skill against the base rate of the scored
  units (``1 - Brier / (r (1 - r))``);
* :func:`recent_counts` — events per unit aged ``[0, 12)`` months at an origin (the
  persistence count of :class:`geo.forecast.model.PersistenceBaseline`);
* :class:`CountPlatt` — the same Platt map ``log1p(count) -> probability``, fitted on
  (count, label) pairs grouped by value, so that it can be fitted on every cell of many
  origins at once.

Adapters: :func:`block_persistence` (the baseline on the forecast units, fitted with
:func:`geo.forecast.model.build_origin_set` on the training origins of the forecast) and
:func:`cell_persistence` (the same count on analysis cells, calibrated on the same origins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from .forecast.evaluate import brier_skill
from .forecast.features import DAYS_PER_MONTH, feature_matrix, horizon_end, to_day, unit_events
from .forecast.model import PersistenceBaseline, build_origin_set, training_origins
from .forecast.units import UnitGrid
from .grid import Grid

__all__ = [
    "PERSISTENCE_MONTHS",
    "average_precision",
    "brier",
    "brier_skill_score",
    "recent_counts",
    "CountPlatt",
    "Persistence",
    "training_origins",
    "block_persistence",
    "cell_persistence",
]

PERSISTENCE_MONTHS = 12.0
"""Persistence counts the events of the unit aged ``[0, 12)`` months (30.4375-day months)."""


def average_precision(scores: Any, labels: Any) -> float:
    """Average precision of ``scores`` for ``labels`` (sklearn: sum over thresholds of
    precision x recall step); NaN when the units hold no positive or only positives."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not 0 < y.sum() < y.size:
        return float("nan")
    return float(average_precision_score(y, s))


def brier(p: Any, labels: Any) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    y = np.asarray(labels).ravel().astype(np.float64)
    q = np.asarray(p, dtype=np.float64).ravel()
    return float(np.mean((q - y) ** 2))


def brier_skill_score(p: Any, labels: Any) -> float:
    """``1 - Brier(p) / Brier(base rate)``, the base rate of these units; NaN with one class."""
    return float(brier_skill(labels, p))


def recent_counts(unit: np.ndarray, day: np.ndarray, n_units: int, t: Any,
                  months: float = PERSISTENCE_MONTHS) -> np.ndarray:
    """Events per unit (flat index, ``-1`` ignored) dated on or before ``t`` and aged less
    than ``months`` (ages in 30.4375-day months, as in :mod:`geo.forecast.features`)."""
    age = (to_day(t) - np.asarray(day, dtype="datetime64[D]")).astype(np.float64) / DAYS_PER_MONTH
    keep = (age >= 0) & (age < months) & (np.asarray(unit) >= 0)
    return np.bincount(np.asarray(unit)[keep], minlength=n_units).astype(np.float64)


def window_counts(unit: np.ndarray, day: np.ndarray, n_units: int, t: Any, horizon_months: int) -> np.ndarray:
    """Events per unit dated in ``(t, t + horizon_months]``."""
    d = np.asarray(day, dtype="datetime64[D]")
    keep = (d > to_day(t)) & (d <= horizon_end(t, horizon_months)) & (np.asarray(unit) >= 0)
    return np.bincount(np.asarray(unit)[keep], minlength=n_units).astype(np.float64)


class CountPlatt:
    """``P(event) = 1 / (1 + exp(-(a + b log1p(count))))`` fitted on (count, label) pairs.

    Pairs are grouped by (count, label) and fitted with their multiplicity as weights,
    which gives the same fit as one row per pair (the likelihood is a sum over rows).
    With one class only the probability is the constant ``(positives + 0.5) / (n + 1)``.
    """

    def __init__(self, random_state: int | None = 0):
        self.random_state = random_state

    def fit(self, counts: np.ndarray, labels: np.ndarray) -> CountPlatt:
        c = np.asarray(counts, dtype=np.float64).ravel()
        y = np.asarray(labels).ravel().astype(bool)
        self.n_, self.positives_ = int(y.size), int(y.sum())
        if y.all() or not y.any():
            self.const_: float | None = (y.sum() + 0.5) / (y.size + 1.0)
            self.lr_: LogisticRegression | None = None
            return self
        self.const_ = None
        vals, code = np.unique(c, return_inverse=True)
        keys, w = np.unique(code.ravel() * 2 + y, return_counts=True)  # one row per (count, label)
        self.lr_ = LogisticRegression(C=1e4, max_iter=1000, random_state=self.random_state)
        self.lr_.fit(np.log1p(vals[keys // 2]).reshape(-1, 1), (keys % 2).astype(bool),
                     sample_weight=w.astype(np.float64))
        return self

    def predict(self, counts: np.ndarray) -> np.ndarray:
        c = np.asarray(counts, dtype=np.float64).reshape(-1, 1)
        if self.lr_ is None:
            return np.full(c.shape[0], float(self.const_ or 0.0))
        return self.lr_.predict_proba(np.log1p(c))[:, 1]


@dataclass
class Persistence:
    """Persistence on one set of evaluation units: the count (the ranking score) and its
    calibrated probability (for Brier); ``probability`` is None when no training origin
    closed before the as-of date (then persistence ranks but is not scored by Brier)."""

    count: np.ndarray
    probability: np.ndarray | None
    origins: list[str]


def block_persistence(history: gpd.GeoDataFrame, grid: Grid, in_area: np.ndarray, ug: UnitGrid,
                      area_units: np.ndarray, as_of: date, horizon_months: int,
                      train_years: float) -> Persistence:
    """:class:`~geo.forecast.model.PersistenceBaseline` on the forecast units ``area_units``:
    trained on the forecast's origins (labels: events inside the area), scored at ``as_of``.
    ``history``: events on the grid dated on or before ``as_of`` (grid CRS); ``in_area``:
    per event, whether its cell is inside the area."""
    ev = unit_events(history, ug, grid.crs)
    X = feature_matrix(ev, as_of, units=area_units)
    base = PersistenceBaseline(horizon_months)
    count = base.score(X)
    origins = training_origins(as_of, horizon_months, train_years) if len(history) else []
    if not origins:
        return Persistence(count, None, [])
    data = build_origin_set(ev, origins, horizon_months, units=area_units, label_events=ev.subset(in_area))
    base.fit(data, as_of)
    return Persistence(count, base.predict_proba(X)[:, 1], [str(o) for o in origins])


def cell_persistence(flat: np.ndarray, day: np.ndarray, in_area: np.ndarray, cells: np.ndarray, n_cells: int,
                     as_of: date, horizon_months: int, origins: Sequence[Any]) -> Persistence:
    """Persistence on analysis cells: events of the cell aged ``[0, 12)`` months at
    ``as_of``; the probability from a :class:`CountPlatt` fitted on every cell in
    ``cells`` at each training origin (labels: events inside the area in the origin's
    window). ``flat``: flat cell index per known event (``-1`` off the grid)."""
    count = recent_counts(flat, day, n_cells, as_of)[cells]
    if not len(origins):
        return Persistence(count, None, [])
    lab_flat = np.where(in_area, flat, -1)
    xs = [recent_counts(flat, day, n_cells, o)[cells] for o in origins]
    ys = [window_counts(lab_flat, day, n_cells, o, horizon_months)[cells] > 0 for o in origins]
    cal = CountPlatt().fit(np.concatenate(xs), np.concatenate(ys))
    return Persistence(count, cal.predict(count), [str(o) for o in origins])
