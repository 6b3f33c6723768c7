"""The forecast stage: the probability of violence per forecast unit, fitted on history.

:func:`forecast_risk` takes the events known on the as-of date (on the grid, any age),
fits :class:`geo.forecast.model.ForecastModel` on quarterly rolling origins whose label
windows closed by then, and predicts, per unit of ``forecast_block_km``, the probability
of at least one event in the ``forecast_horizon_months`` after the as-of date.

When the history is too short to fit, it says so and falls back to a named baseline,
never silently: ``persistence`` (events in the unit in the last 12 months, calibrated
on the training origins) when the training origins hold at least
:data:`PERSISTENCE_MIN_POSITIVES` positive units, else
``past_events_kernel`` (the threat index of the look-back window, which is *not* a
probability). The method and the reason are in :attr:`RiskForecast.method` and
:attr:`RiskForecast.note`, and from there in ``summary.json`` and the CLI.

The forecast uses event history only (no force posture): missions deploy where violence
is, so a fitted coverage term would be an association, not protection, and a risk
surface built from bases would show viewers where the bases are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .forecast.errors import ForecastError, InsufficientHistoryError
from .forecast.features import feature_matrix, unit_events
from .forecast.model import (
    ForecastModel,
    PersistenceBaseline,
    build_origin_set,
    training_origins,
)
from .forecast.units import UnitGrid, unit_grid, unit_mask
from .grid import Grid
from .params import Params

__all__ = ["RiskForecast", "Fit", "FittedModels", "forecast_risk", "paint_units", "CV_SPLITS", "PERSISTENCE_MIN_POSITIVES"]

PERSISTENCE_MIN_POSITIVES = 5
"""Below this many positive (origin, unit) training rows, not even the persistence baseline's
calibration can be fitted meaningfully (its map from counts to probability goes flat)."""

CV_SPLITS = 3
"""Time-ordered CV folds (the latest training origins, one each) that choose the model and
give the calibration its held-out predictions (the latest two)."""

REFIT_FOLDS = 2
"""A refit in a series that keeps its family fits only the folds its calibrator is fitted on
(``ForecastModel.calibration_origins``, 2): no choice is left to make."""

FIT_THREADS = min(2, os.cpu_count() or 1)
"""Threads for the cross-validation fits (each single-threaded inside): the same model on any number."""


@dataclass(frozen=True)
class Fit:
    """One fitted forecast model of a series and what a later date needs to use it again."""

    model: Any  # ForecastModel | PersistenceBaseline
    positives: int
    method: str
    note: str | None
    as_of: date  # the date whose known history fitted it
    train_origins: list[str]
    scope: str  # horizon, units, candidates and training parameters (:func:`_scope_key`)


@dataclass
class FittedModels:
    """Forecast models fitted at the dates of a series (a monitor), for the later dates:
    by their training set (origins, units, the events up to the last label: the same key,
    the same model), and the latest one (``forecast_refit_months``). ``len()``: the number
    of fits."""

    by_training_set: dict[str, Fit] = field(default_factory=dict)
    latest: Fit | None = None

    def __len__(self) -> int:
        return len(self.by_training_set)


@dataclass
class RiskForecast:
    """Per forecast unit: the probability of at least one event within the horizon
    (NaN for units with no cell in the area), and how it was obtained."""

    probability: np.ndarray  # (unit rows, unit cols)
    units: UnitGrid
    method: str  # "forecast", "persistence" or "past_events_kernel"
    horizon_months: int
    block_km: float
    train_origins: list[str] = field(default_factory=list)
    positives: int = 0  # positive (origin, unit) rows in training
    note: str | None = None  # why a fallback was used
    model: ForecastModel | PersistenceBaseline | None = None
    cells: np.ndarray | None = None  # the past-events kernel fallback keeps its cell values
    fitted_as_of: str | None = None  # the date whose known history fitted the model (None: no model)

    def on_grid(self, grid: Grid) -> np.ndarray:
        """The risk of each grid cell: its unit's probability (0 outside the area's units),
        or the kernel index itself for the ``past_events_kernel`` fallback."""
        if self.cells is not None:
            return self.cells
        return paint_units(np.nan_to_num(self.probability, nan=0.0), grid, self.units)

    @property
    def is_probability(self) -> bool:
        return self.method != "past_events_kernel"

    def describe(self) -> dict[str, Any]:
        """The JSON record of the forecast (``model/forecast.json``, ``summary.json``)."""
        p = self.probability[np.isfinite(self.probability)]
        out: dict[str, Any] = {
            "method": self.method, "is_probability": self.is_probability,
            "horizon_months": self.horizon_months, "block_km": self.block_km,
            "units": int(p.size), "mean": round(float(p.mean()), 4) if p.size else None,
            "max": round(float(p.max()), 4) if p.size else None,
            "train_origins": self.train_origins, "train_positives": self.positives, "note": self.note,
            "fitted_as_of": self.fitted_as_of,
        }
        m = self.model
        if isinstance(m, ForecastModel):
            out["model"] = m.model_name_
            out["cv"] = {k: round(float(v["mean"]), 5) for k, v in m.cv_results_.items()}
            out["features"] = list(m.feature_names_in_)
            out["rows"] = {"train": int(m.n_train_rows_), "fitted": int(m.n_rows_fitted_),
                           "max_negatives": m.max_negatives}
            out.update(_weights(m))
        return out


def _weights(m: ForecastModel) -> dict[str, Any]:
    """Coefficients of the logistic model, or the gradient-boosted model's note."""
    est = m.estimator_
    if m.model_name_ == "logistic":
        coef = est[-1].coef_.ravel()
        return {"coefficients": {n: round(float(c), 5) for n, c in zip(m.feature_names_in_, coef, strict=True)},
                "coefficients_scale": "per standard deviation of sign(x)·log1p(|x|)"}
    return {"importances": "not computed (gradient-boosted trees; see docs/model.md)"}


def forecast_risk(history: gpd.GeoDataFrame, grid: Grid, inside: np.ndarray, params: Params, as_of: date,
                  fallback: np.ndarray | None = None, fitted: FittedModels | None = None) -> RiskForecast:
    """The forecast as of ``as_of`` from ``history`` (events in the grid CRS, dated on or
    before ``as_of``; events later than that are refused). ``fallback``: the threat index
    on the grid, used (per unit: the mean over its cells in the area) when not even
    persistence can be fitted. ``fitted``: models fitted at earlier dates of a series
    (:class:`FittedModels`); a model whose training set is the same is reused, not refitted
    (the fit depends on nothing else), and with ``params.forecast_refit_months`` the last
    model serves for that many months after its fit date."""
    h = int(params.forecast_horizon_months)
    block_km, coarse = params.forecast_block_km, None
    if grid.resolution_km > block_km:  # a coarse grid: one cell per unit
        block_km = grid.resolution_km
        coarse = (f"forecast units are the {block_km:g} km cells (forecast_block_km={params.forecast_block_km:g} "
                  f"is finer than the grid)")
    ug = unit_grid(grid, block_km)
    if len(history) and pd.to_datetime(history["date"]).max() > pd.Timestamp(as_of):
        raise ForecastError(f"events after the as-of date {as_of} reached the forecast; it may only see the past")
    area = np.flatnonzero(unit_mask(inside, grid, ug).ravel())
    ev = unit_events(history, ug, grid.crs)
    label_ev = ev.subset(_in_area(history, grid, inside))
    origins = training_origins(as_of, h, params.forecast_train_years) if len(history) else []
    base = RiskForecast(np.full(ug.shape, np.nan), ug, "forecast", h, block_km,
                        train_origins=[str(o) for o in origins], note=coarse)
    X = feature_matrix(ev, as_of, units=area)
    if not origins:
        return _kernel_fallback(base, grid, inside, fallback, area,
                                f"no training origin: a {h}-month window must close by {as_of} within "
                                f"{params.forecast_train_years:g} years of history")
    candidates = ("logistic", "hgb") if params.forecast_model == "auto" else (params.forecast_model,)
    scope = _scope_key(h, area, candidates, block_km, params)
    key = _training_key(history, origins, h, area, candidates, block_km) if fitted is not None else None
    if key is not None and key in fitted.by_training_set:  # type: ignore[union-attr]
        return _use(base, fitted.by_training_set[key], X, area)  # type: ignore[union-attr]
    held = fitted.latest if fitted is not None and params.forecast_refit_months > 0 else None
    if held is not None and held.scope == scope and _months_between(held.as_of, as_of) < params.forecast_refit_months:
        return _use(base, held, X, area, f"model fitted as of {held.as_of} on what was known then, used again "
                                         f"(forecast_refit_months={params.forecast_refit_months})")
    data = build_origin_set(ev, origins, h, units=area, label_events=label_ev)
    base.positives = int(data.y.sum())
    # a refit in a series keeps the family the series' first fit chose by cross-validation:
    # it needs only the folds its calibrator is fitted on (the same calibrator, the same model)
    kept = held.model.model_name_ if held is not None and held.scope == scope \
        and isinstance(held.model, ForecastModel) else None
    try:
        # one thread: on 2 shared cores OpenMP's spinning threads made the fit 2-3 times slower
        # (bench/RESULTS.md); the fitted model is the same
        with threadpool_limits(1):
            model: ForecastModel | PersistenceBaseline = ForecastModel(
                h, candidates=(kept,) if kept else candidates, n_splits=CV_SPLITS,
                cv_folds=REFIT_FOLDS if kept else None, max_negatives=params.forecast_max_negatives,
                n_jobs=FIT_THREADS, random_state=0).fit(data, as_of)
        if kept and len(candidates) > 1:
            base.note = "; ".join(n for n in (base.note, f"refitted as {kept}, the family chosen by cross-validation "
                                                         f"at {held.as_of}") if n)  # type: ignore[union-attr]
    except InsufficientHistoryError as exc:
        if base.positives < PERSISTENCE_MIN_POSITIVES:
            return _kernel_fallback(base, grid, inside, fallback, area, str(exc))
        model = PersistenceBaseline(h)
        model.fit(data, as_of)
        base.method = "persistence"
        base.note = "; ".join(n for n in (base.note, f"{exc}; using the persistence baseline") if n)
    base.model, base.fitted_as_of = model, str(as_of)
    flat = base.probability.ravel()
    flat[area] = model.predict_proba(X)[:, 1]
    if key is not None:
        fit = Fit(model, base.positives, base.method, base.note, as_of, list(base.train_origins), scope)
        fitted.by_training_set[key] = fitted.latest = fit  # type: ignore[union-attr]
    return base


def _use(base: RiskForecast, fit: Fit, X: Any, area: np.ndarray, why: str | None = None) -> RiskForecast:
    """``base`` forecast by a model fitted at an earlier date of the series."""
    base.model, base.positives, base.method = fit.model, fit.positives, fit.method
    base.fitted_as_of, base.train_origins = str(fit.as_of), list(fit.train_origins)
    base.note = "; ".join(n for n in (fit.note, why) if n) or None
    base.probability.ravel()[area] = fit.model.predict_proba(X)[:, 1]
    return base


def _months_between(a: date, b: date) -> float:
    """Whole and fractional months from ``a`` to ``b`` (``b`` before ``a``: infinite, never reused)."""
    a, b = pd.Timestamp(a), pd.Timestamp(b)
    if b < a:
        return float("inf")
    return (b.year - a.year) * 12 + (b.month - a.month) + (b.day - a.day) / 31.0


def _scope_key(h: int, area: np.ndarray, candidates: tuple, block_km: float, params: Params) -> str:
    """What a model must share with a later date to be used again there: horizon, units,
    candidates and the training parameters."""
    import hashlib

    hsh = hashlib.sha256(repr((h, candidates, block_km, params.forecast_train_years,
                               params.forecast_max_negatives)).encode())
    hsh.update(area.tobytes())
    return hsh.hexdigest()


def _training_key(history: gpd.GeoDataFrame, origins: list, h: int, area: np.ndarray, candidates: tuple,
                  block_km: float) -> str:
    """Everything a fit depends on: origins, horizon, units, candidates and the events
    dated up to the last origin's label window end (features and labels use no later one)."""
    import hashlib

    from .forecast.features import horizon_end

    last = pd.Timestamp(horizon_end(max(origins), h))
    when = pd.to_datetime(history["date"])
    ev = history[when <= last]
    hsh = hashlib.sha256(repr((sorted(str(o) for o in origins), h, candidates, block_km)).encode())
    hsh.update(area.tobytes())
    hsh.update(pd.to_datetime(ev["date"]).to_numpy().astype("datetime64[D]").tobytes())
    hsh.update(np.ascontiguousarray(ev.geometry.x.to_numpy()).tobytes())
    hsh.update(np.ascontiguousarray(ev.geometry.y.to_numpy()).tobytes())
    for col in ("event_type", "fatalities"):
        if col in ev:
            hsh.update(pd.util.hash_pandas_object(ev[col], index=False).to_numpy().tobytes())
    return hsh.hexdigest()


def _in_area(events: gpd.GeoDataFrame, grid: Grid, inside: np.ndarray) -> np.ndarray:
    r, c, ok = grid.rowcol(events.geometry.x.to_numpy(), events.geometry.y.to_numpy())
    keep = ok.copy()
    keep[ok] = inside[r[ok], c[ok]]
    return keep


def _kernel_fallback(base: RiskForecast, grid: Grid, inside: np.ndarray, fallback: np.ndarray | None,
                     area: np.ndarray, reason: str) -> RiskForecast:
    base.method = "past_events_kernel"
    base.note = "; ".join(n for n in (base.note, f"{reason}; the risk surface is the past-events kernel index, "
                                                 "not a probability") if n)
    if fallback is not None:
        f = int(round(base.units.size / grid.resolution))
        base.probability = _unit_mean(np.where(inside, fallback, np.nan), f, base.units.shape)
        base.cells = np.asarray(fallback, dtype=np.float64)
    else:
        base.probability = np.zeros(base.units.shape)
    return base


def _unit_mean(values: np.ndarray, f: int, shape: tuple[int, int]) -> np.ndarray:
    """Mean of the finite cells of each f x f block (NaN where none)."""
    h, w = values.shape
    pad = np.full((shape[0] * f, shape[1] * f), np.nan)
    pad[:h, :w] = values
    blocks = pad.reshape(shape[0], f, shape[1], f)
    n = np.isfinite(blocks).sum(axis=(1, 3))
    s = np.nansum(blocks, axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / n, np.nan)


def paint_units(values: np.ndarray, grid: Grid, units: UnitGrid) -> np.ndarray:
    """Each grid cell gets the value of the unit it lies in (units are whole blocks of cells)."""
    f = int(round(units.size / grid.resolution))
    # each unit repeated f times along both axes, cut to the grid (faster than a fancy index)
    return np.repeat(np.repeat(values, f, axis=0)[:grid.height], f, axis=1)[:, :grid.width]
