"""Rolling-origin training sets, the forecast estimator and its baselines.

* :func:`quarterly_origins`, :func:`build_origin_set`: one row per (origin, unit), the
  features at the origin and the label of its window ``(t, t + h]``;
* :func:`check_no_overlap`: every training window must close on or before the as-of
  date, else :class:`TrainTestOverlapError` naming the dates;
* :func:`origin_splits`: time-ordered CV over origins; a fold trains only on origins
  whose label window closed on or before its test origin (no random split across time);
* :class:`ForecastModel`: scikit-learn shaped (parameters in ``__init__``, fitted state in
  trailing-underscore attributes, ``random_state``). Candidates: L2 logistic regression on
  standardised ``sign(x) log1p(|x|)`` features (clipped to their training range), and ``HistGradientBoostingClassifier``;
  the one with the best mean CV score wins; a calibrator (Platt or isotonic) is fitted on
  the out-of-fold predictions of the winner on the later origins, then the winner is
  refitted on all training origins;
* :class:`PersistenceBaseline`, :class:`HistoryBaseline`: events in the unit in the last
  12 / 60 months, mapped to a probability by a Platt fit on the training origins — the
  named fallbacks when :class:`InsufficientHistoryError` is raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from .errors import ForecastError, InsufficientHistoryError, TrainTestOverlapError
from .features import (
    WINDOWS,
    FeatureMatrix,
    UnitEvents,
    feature_matrix,
    horizon_end,
    labels,
    to_day,
)

__all__ = [
    "OriginSet",
    "quarterly_origins",
    "closed_origins",
    "training_origins",
    "build_origin_set",
    "check_no_overlap",
    "origin_splits",
    "ForecastModel",
    "PersistenceBaseline",
    "HistoryBaseline",
    "CANDIDATES",
    "negative_sample",
]

CANDIDATES = ("logistic", "hgb")
Calibration = Literal["platt", "shift", "isotonic", "none"]
_EPS = 1e-6


@dataclass(frozen=True)
class OriginSet:
    """Stacked training rows: one per (origin, unit)."""

    names: list[str]
    X: np.ndarray
    y: np.ndarray
    count: np.ndarray
    origin: np.ndarray
    units: np.ndarray
    horizon_months: int

    @property
    def origins(self) -> np.ndarray:
        return np.unique(self.origin)

    def window_end(self) -> np.ndarray:
        """Last day of each origin's label window, per unique origin (same order as ``origins``)."""
        return np.array([horizon_end(o, self.horizon_months) for o in self.origins], dtype="datetime64[D]")

    def take(self, rows: np.ndarray) -> OriginSet:
        return OriginSet(self.names, self.X[rows], self.y[rows], self.count[rows], self.origin[rows],
                         self.units[rows], self.horizon_months)


def quarterly_origins(start: Any, end: Any) -> list[np.datetime64]:
    """Quarter ends (31 Mar, 30 Jun, 30 Sep, 31 Dec) from ``start`` to ``end``, both included."""
    s, e = pd.Timestamp(to_day(start)), pd.Timestamp(to_day(end))
    if e < s:
        raise ForecastError(f"origins: end {e.date()} is before start {s.date()}")
    return [np.datetime64(d.date(), "D") for d in pd.date_range(s, e, freq="QE-DEC")]


def training_origins(as_of: Any, horizon_months: int, train_years: float) -> list[np.datetime64]:
    """The forecast's training origins: quarter ends from the last one on or before
    ``as_of - train_years`` up to ``as_of``, kept when their label window closed by ``as_of``.

    The start is anchored to a quarter end, so every as-of date between two quarter ends
    trains on the same origins (a month-end series refits once a quarter, not monthly)."""
    start = pd.Timestamp(to_day(as_of)) - pd.DateOffset(months=int(round(train_years * 12)))
    start = pd.offsets.QuarterEnd(startingMonth=12).rollback(start)
    return closed_origins(quarterly_origins(start, as_of), as_of, horizon_months)


def closed_origins(origins: Sequence[Any], as_of: Any, horizon_months: int) -> list[np.datetime64]:
    """The origins whose label window ``(t, t + h]`` closed on or before ``as_of``."""
    a = to_day(as_of)
    return [to_day(o) for o in origins if horizon_end(o, horizon_months) <= a]


def build_origin_set(
    ev: UnitEvents,
    origins: Sequence[Any],
    horizon_months: int,
    *,
    units: Any = None,
    static: Mapping[str, np.ndarray] | None = None,
    label_events: UnitEvents | None = None,
) -> OriginSet:
    """Features at each origin (events on or before it) and labels of ``(t, t + h]``.

    ``label_events`` (default ``ev``) are the events that count as outcomes, e.g. only
    those inside the area while ``ev`` also holds the margin's.
    """
    if not len(origins):
        raise ForecastError("no origins given")
    lab_ev = ev if label_events is None else label_events
    if lab_ev.shape != ev.shape:
        raise ForecastError(f"label events lattice {lab_ev.shape} differs from the events lattice {ev.shape}")
    parts: list[tuple[FeatureMatrix, np.ndarray, np.ndarray, np.datetime64]] = []
    for o in origins:
        fm = feature_matrix(ev, o, units=units, static=static)
        lab = labels(lab_ev, o, horizon_months, units=fm.units)
        parts.append((fm, lab.any, lab.count, to_day(o)))
    names = parts[0][0].names
    return OriginSet(
        names=list(names),
        X=np.vstack([p[0].X for p in parts]),
        y=np.concatenate([p[1] for p in parts]),
        count=np.concatenate([p[2] for p in parts]),
        origin=np.concatenate([np.full(p[0].units.size, p[3], dtype="datetime64[D]") for p in parts]),
        units=np.concatenate([p[0].units for p in parts]),
        horizon_months=int(horizon_months),
    )


def check_no_overlap(origins: Sequence[Any] | np.ndarray, horizon_months: int, as_of: Any) -> None:
    """Raise :class:`TrainTestOverlapError` if a window ``(t, t + h]`` ends after ``as_of``."""
    a = to_day(as_of)
    bad = [(to_day(o), horizon_end(o, horizon_months)) for o in origins if horizon_end(o, horizon_months) > a]
    if bad:
        shown = ", ".join(f"{o} (labels to {e})" for o, e in bad[:4]) + (" ..." if len(bad) > 4 else "")
        last_ok = pd.Timestamp(a) - pd.DateOffset(months=int(horizon_months))
        raise TrainTestOverlapError(
            f"{len(bad)} training origin(s) have label windows that end after the as-of date {a}: {shown}; "
            f"their labels hold events the forecast is judged on. Train on origins on or before "
            f"{last_ok.date()} (geo.forecast.model.closed_origins)"
        )


def origin_splits(
    origins: Sequence[Any] | np.ndarray, horizon_months: int, *, n_splits: int = 6, min_train_origins: int = 2
) -> list[tuple[list[np.datetime64], np.datetime64]]:
    """Time-ordered CV folds over origins: ``(train origins, test origin)``.

    The test origins are the last ``n_splits`` origins; each trains on the origins whose
    label window closed on or before the test origin (a gap of ``h`` months, so no label
    window of the fold's training set overlaps its test window). Folds with fewer than
    ``min_train_origins`` training origins are dropped.
    """
    uniq = sorted({to_day(o) for o in origins})
    folds = []
    for test in uniq[-n_splits:]:
        train = [o for o in uniq if horizon_end(o, horizon_months) <= test]
        if len(train) >= min_train_origins:
            folds.append((train, test))
    return folds


def negative_sample(y: np.ndarray, max_negatives: int | None,
                    random_state: int | None = 0) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Rows and weights of a case-control sample: every positive (weight 1) and a seeded
    uniform sample of ``max_negatives`` negatives, each weighted ``n_negatives / max_negatives``.

    ``(None, None)`` when no sampling is needed (``max_negatives`` is ``None`` or not below
    the number of negatives). The rows are in their original order.
    """
    y = np.asarray(y, dtype=bool)
    neg = np.flatnonzero(~y)
    if max_negatives is None or neg.size <= max_negatives:
        return None, None
    if max_negatives < 1:
        raise ForecastError(f"max_negatives must be at least 1, got {max_negatives}")
    keep = np.random.default_rng(random_state).choice(neg, size=int(max_negatives), replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(y), keep]))
    weight = np.where(y[rows], 1.0, neg.size / float(max_negatives))
    return rows, weight


def _signed_log1p(X: np.ndarray) -> np.ndarray:
    return np.sign(X) * np.log1p(np.abs(X))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def _features(X: Any, names: list[str] | None) -> np.ndarray:
    if isinstance(X, FeatureMatrix):
        if names is not None and X.names != names:
            i = next((k for k, (a, b) in enumerate(zip(X.names, names, strict=False)) if a != b),
                     min(len(X.names), len(names)))
            got = X.names[i] if i < len(X.names) else "(none)"
            want = names[i] if i < len(names) else "(none)"
            raise ForecastError(
                f"feature {i} is {got!r}, the model was fitted with {want!r} ({len(X.names)} vs "
                f"{len(names)} columns): build X with the same static columns as the training set"
            )
        return X.X
    return np.asarray(X, dtype=np.float64)


def _proba2(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return np.column_stack([1 - p, p])


class _Platt:
    """Logistic map of one score to a probability (a 2-parameter fit; one class -> constant)."""

    def __init__(self, random_state: int | None = 0):
        self.random_state = random_state

    def fit(self, s: np.ndarray, y: np.ndarray) -> _Platt:
        y = np.asarray(y, dtype=bool)
        if y.all() or not y.any():
            self.const_ = (y.sum() + 0.5) / (y.size + 1.0)
            self.lr_ = None
        else:
            self.const_ = None
            self.lr_ = LogisticRegression(C=1e4, max_iter=1000, random_state=self.random_state)
            self.lr_.fit(np.asarray(s, float).reshape(-1, 1), y)
        return self

    def predict(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, float).reshape(-1, 1)
        if self.lr_ is None:
            return np.full(s.shape[0], self.const_)
        return self.lr_.predict_proba(s)[:, 1]


class _ClipToTraining(TransformerMixin, BaseEstimator):
    """Clip each column to the range it had in training: a linear model does not extrapolate
    its log-odds beyond the history it was fitted on (a surge of counts never seen before
    gets the risk of the largest counts seen, not more)."""

    def fit(self, X: np.ndarray, y: Any = None) -> _ClipToTraining:
        self.low_, self.high_ = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.clip(X, self.low_, self.high_)


class _Shift:
    """Intercept-only recalibration: ``logit p' = logit p + b`` with ``b`` chosen so that the
    mean forecast equals the observed rate (the maximum-likelihood shift)."""

    def fit(self, s: np.ndarray, y: np.ndarray) -> _Shift:
        s, target = np.asarray(s, float), float(np.sum(y))

        def gap(b: float) -> float:
            return float(np.sum(1.0 / (1.0 + np.exp(-(s + b))))) - target

        self.shift_ = float(brentq(gap, -30.0, 30.0)) if 0 < target < s.size else 0.0
        return self

    def predict(self, s: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(np.asarray(s, float) + self.shift_)))


class ForecastModel:
    """Probability of at least one event in a unit within ``horizon_months`` after an origin.

    Parameters
    ----------
    horizon_months: window length the training labels were built with (checked).
    candidates: model families to choose from, ``"logistic"`` and/or ``"hgb"``.
    C: inverse L2 strength of the logistic regression (standardised features).
    hgb_params: overrides for ``HistGradientBoostingClassifier``.
    calibration: ``"platt"`` (2 parameters, keeps the ranking), ``"shift"`` (intercept
        only), ``"isotonic"`` or ``"none"``; fitted on the out-of-fold predictions of the
        chosen candidate at the latest ``calibration_origins`` CV test origins.
    n_splits, min_train_origins: time-ordered CV (:func:`origin_splits`).
    cv_folds: fit only the latest this many CV folds (``None``: all). A refit that keeps a
        family chosen earlier needs no choice, only the folds the calibrator is fitted on
        (``calibration_origins``): the result is the same as with every fold, minus the
        scores of the earlier folds in ``cv_results_``.
    scoring: CV criterion, ``"log_loss"`` (lower wins), ``"average_precision"`` or ``"roc_auc"``.
    min_positives, min_origins: below these, :class:`InsufficientHistoryError`.
    max_negatives: when a fit has more negative rows than this, a seeded uniform sample
        of this many negatives is fitted, each weighted by the inverse of its sampling
        rate, with every positive (case-control sampling; the weighted likelihood keeps
        the probability scale). ``None``: every row.
    clip: the logistic model clips each (transformed) feature to its training range, so
        that counts beyond any seen in training do not extrapolate the log-odds (Mali
        2018-12-31: block Brier skill -0.43 unclipped, +0.04 clipped; docs/validation.md).
    n_jobs: the cross-validation fits (fold x candidate) run on this many threads, the
        largest first (the estimators release the GIL), with the final fit too when there is
        one candidate; the result does not depend on it.
    random_state: seeds every fitted part.

    Fitted attributes: ``model_name_``, ``estimator_``, ``calibrator_``, ``cv_results_``
    (per candidate: per-fold scores and mean), ``feature_names_in_``, ``n_origins_``,
    ``n_positives_``, ``n_train_rows_``, ``n_rows_fitted_`` (after negative sampling), ``train_origins_``, ``as_of_``.
    """

    def __init__(
        self,
        horizon_months: int = 12,
        *,
        candidates: Sequence[str] = CANDIDATES,
        C: float = 0.01,
        hgb_params: Mapping[str, Any] | None = None,
        calibration: Calibration = "platt",
        n_splits: int = 6,
        cv_folds: int | None = None,
        calibration_origins: int = 2,
        min_train_origins: int = 2,
        scoring: Literal["log_loss", "average_precision", "roc_auc"] = "log_loss",
        min_positives: int = 20,
        min_origins: int = 3,
        max_negatives: int | None = None,
        n_jobs: int = 1,
        clip: bool = True,
        random_state: int | None = 0,
    ):
        self.horizon_months = horizon_months
        self.candidates = candidates
        self.C = C
        self.hgb_params = hgb_params
        self.calibration = calibration
        self.n_splits = n_splits
        self.cv_folds = cv_folds
        self.calibration_origins = calibration_origins
        self.min_train_origins = min_train_origins
        self.scoring = scoring
        self.min_positives = min_positives
        self.min_origins = min_origins
        self.max_negatives = max_negatives
        self.n_jobs = n_jobs
        self.clip = clip
        self.random_state = random_state

    # ------------------------------------------------------------------ parts
    def _make(self, name: str) -> Any:
        if name == "logistic":
            return make_pipeline(
                FunctionTransformer(_signed_log1p),
                *((_ClipToTraining(),) if self.clip else ()),
                StandardScaler(),
                LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state),
            )
        if name == "hgb":
            params: dict[str, Any] = {
                "max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 8, "min_samples_leaf": 50,
                "l2_regularization": 1.0, "early_stopping": False, "random_state": self.random_state,
            }
            params.update(self.hgb_params or {})
            return HistGradientBoostingClassifier(**params)
        raise ForecastError(f"unknown candidate {name!r}; use one of {', '.join(CANDIDATES)}")

    def _fit_one(self, name: str, X: np.ndarray, y: np.ndarray) -> Any:
        """Candidate ``name`` fitted on ``X, y``, negatives sampled down to ``max_negatives``."""
        rows, weight = negative_sample(y, self.max_negatives, self.random_state)
        est = self._make(name)
        # a constant feature's variance can come out a hair below 0 in float sums: its sqrt is NaN,
        # which StandardScaler then replaces by a scale of 1 (constant_mask); numpy's warning is noise
        with np.errstate(invalid="ignore"):
            if rows is None:
                return est.fit(X, y)
            key = "logisticregression__sample_weight" if name == "logistic" else "sample_weight"
            return est.fit(X[rows], y[rows], **{key: weight})

    def _score(self, y: np.ndarray, p: np.ndarray) -> float:
        """Higher is better."""
        if self.scoring == "log_loss":
            return -log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[False, True])
        if self.scoring == "average_precision":
            return float(average_precision_score(y, p))
        if self.scoring == "roc_auc":
            return float(roc_auc_score(y, p))
        raise ForecastError(f"unknown scoring {self.scoring!r}; use log_loss, average_precision or roc_auc")

    # ------------------------------------------------------------------ fit
    def fit(self, data: OriginSet, as_of: Any) -> ForecastModel:
        """Fit on the origins of ``data``, all of whose windows must close by ``as_of``."""
        if data.horizon_months != self.horizon_months:
            raise ForecastError(
                f"training labels use a {data.horizon_months}-month horizon, the model {self.horizon_months}"
            )
        if not self.candidates:
            raise ForecastError("candidates is empty; give 'logistic' and/or 'hgb'")
        for c in self.candidates:
            if c not in CANDIDATES:
                raise ForecastError(f"unknown candidate {c!r}; use one of {', '.join(CANDIDATES)}")
        if self.calibration not in ("platt", "shift", "isotonic", "none"):
            raise ForecastError(f"unknown calibration {self.calibration!r}; use platt, shift, isotonic or none")
        if self.scoring not in ("log_loss", "average_precision", "roc_auc"):
            raise ForecastError(f"unknown scoring {self.scoring!r}; use log_loss, average_precision or roc_auc")
        origins = data.origins
        check_no_overlap(origins, self.horizon_months, as_of)
        n_pos, n_orig = int(data.y.sum()), int(origins.size)
        if n_pos < self.min_positives or n_orig < self.min_origins:
            raise InsufficientHistoryError(
                f"{n_pos} positive unit-origin(s) over {n_orig} origin(s) with closed {self.horizon_months}-month "
                f"windows before {to_day(as_of)}; fitting needs >= {self.min_positives} positives and "
                f">= {self.min_origins} origins. Fall back to PersistenceBaseline (events in the unit in the "
                "last 12 months) or HistoryBaseline (last 60 months), or start the origins earlier"
            )
        folds = origin_splits(origins, self.horizon_months, n_splits=self.n_splits,
                              min_train_origins=self.min_train_origins)
        oof: dict[str, list[np.ndarray]] = {c: [] for c in self.candidates}
        cv: dict[str, dict[str, Any]] = {c: {"folds": []} for c in self.candidates}
        fold_rows: list[np.ndarray] = []
        used: list[tuple[list, Any, np.ndarray, np.ndarray]] = []
        for train_o, test_o in folds:
            tr = np.isin(data.origin, np.array(train_o, dtype="datetime64[D]"))
            te = data.origin == test_o
            if data.y[tr].all() or not data.y[tr].any():
                continue
            fold_rows.append(np.flatnonzero(te))
            used.append((train_o, test_o, tr, te))

        if self.cv_folds is not None:
            if self.cv_folds < 1:
                raise ForecastError(f"cv_folds must be at least 1 (or None: every fold), got {self.cv_folds}")
            fold_rows, used = fold_rows[-self.cv_folds:], used[-self.cv_folds:]

        def run(task: tuple[int, str]) -> Any:
            """Fold ``task[0]``'s held-out predictions of candidate ``task[1]``; fold -1: its final fit."""
            i, c = task
            if i < 0:
                return self._fit_one(c, data.X, data.y)
            _, _, tr, te = used[i]
            return self._fit_one(c, data.X[tr], data.y[tr]).predict_proba(data.X[te])[:, 1]

        def run_1(task: tuple[int, str]) -> Any:
            # OpenMP's thread count is per thread: a pool thread would start at every core
            with threadpool_limits(1, user_api="openmp"):
                return run(task)

        tasks = [(i, c) for i in range(len(used)) for c in self.candidates]
        pooled = self.n_jobs > 1 and len(tasks) > 1
        # one candidate: its final fit joins the pool (nothing is chosen, nothing wasted); with
        # two, the final waits for the choice: a speculative final of the loser cost more than it
        # saved (Mali-sized: 11.3 s against 4.8 s when the trees' final was thrown away)
        finals = [(-1, self.candidates[0])] if pooled and len(self.candidates) == 1 else []
        done: dict[tuple[int, str], Any] = {}
        if pooled:  # each fit is seeded and independent: same result; largest first packs the threads
            rows_of = {i: int(u[2].sum()) for i, u in enumerate(used)} | {-1: int(data.y.size)}
            order = sorted(tasks + finals, key=lambda t: -rows_of[t[0]] * (1.0 if t[1] == "hgb" else 0.3))
            with ThreadPoolExecutor(min(int(self.n_jobs), len(order))) as pool:
                done = dict(zip(order, pool.map(run_1, order), strict=True))
        preds = [done[t] if t in done else run(t) for t in tasks]
        for (i, c), p in zip(tasks, preds, strict=True):
            train_o, test_o, _, te = used[i]
            oof[c].append(p)
            both = 0 < data.y[te].sum() < te.sum()
            s = self._score(data.y[te], p) if (both or self.scoring == "log_loss") else np.nan
            cv[c]["folds"].append({"test_origin": str(test_o), "train_origins": len(train_o),
                                   "positives": int(data.y[te].sum()), "score": s})
        for c in self.candidates:
            scores = [f["score"] for f in cv[c]["folds"] if np.isfinite(f["score"])]
            cv[c]["mean"] = float(np.mean(scores)) if scores else np.nan
        ranked = [c for c in self.candidates if np.isfinite(cv[c]["mean"])]
        self.model_name_ = max(ranked, key=lambda c: cv[c]["mean"]) if ranked else self.candidates[0]
        self.cv_results_ = cv

        self.calibrator_: Any = None
        self.calibration_rows_ = 0
        if self.calibration != "none" and fold_rows:
            k = max(1, int(self.calibration_origins))  # the latest held-out origins
            rows = np.concatenate(fold_rows[-k:])
            p_oof, y_oof = np.concatenate(oof[self.model_name_][-k:]), data.y[rows]
            if 0 < y_oof.sum() < y_oof.size:
                if self.calibration == "platt":
                    self.calibrator_ = _Platt(self.random_state).fit(_logit(p_oof), y_oof)
                elif self.calibration == "shift":
                    self.calibrator_ = _Shift().fit(_logit(p_oof), y_oof)
                elif self.calibration == "isotonic":
                    self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_oof, y_oof)
                else:
                    raise ForecastError(f"unknown calibration {self.calibration!r}; use platt, shift, isotonic or none")
            self.calibration_rows_ = int(rows.size)
        final = (-1, self.model_name_)
        self.estimator_ = done[final] if final in done else self._fit_one(self.model_name_, data.X, data.y)
        sampled, _ = negative_sample(data.y, self.max_negatives, self.random_state)
        self.n_rows_fitted_ = int(data.y.size if sampled is None else sampled.size)
        self.feature_names_in_ = list(data.names)
        self.n_origins_, self.n_positives_ = n_orig, n_pos
        self.n_train_rows_ = int(data.y.size)
        self.train_origins_ = [str(o) for o in origins]
        self.as_of_ = str(to_day(as_of))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise ForecastError("this ForecastModel is not fitted yet; call fit(data, as_of) first")

    def predict_raw(self, X: Any) -> np.ndarray:
        """Uncalibrated probability of the chosen estimator."""
        self._check_fitted()
        A = _features(X, self.feature_names_in_)
        if A.ndim != 2 or A.shape[1] != len(self.feature_names_in_):
            raise ForecastError(
                f"X has shape {A.shape}; the model was fitted on {len(self.feature_names_in_)} features"
            )
        # one OpenMP thread: the trees' prediction for a few thousand units took 0.22 s with
        # threads woken on 2 shared cores, 8 ms without (scikit-learn 1.9, 60 trees, 6,000 rows)
        with threadpool_limits(1, user_api="openmp"):
            return self.estimator_.predict_proba(A)[:, 1]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)``: P(no event), P(at least one event) in the horizon, calibrated."""
        p = self.predict_raw(X)
        if self.calibrator_ is None:
            return _proba2(p)
        if isinstance(self.calibrator_, _Platt | _Shift):
            return _proba2(self.calibrator_.predict(_logit(p)))
        return _proba2(self.calibrator_.predict(p))


class _CountBaseline:
    """Events in the unit over the last ``window_months`` (a sum of whole feature windows),
    mapped to a probability by a Platt fit of the label on ``log1p(count)``."""

    window_months = 12

    def __init__(self, horizon_months: int = 12, *, random_state: int | None = 0):
        self.horizon_months = horizon_months
        self.random_state = random_state

    def _columns(self, names: list[str]) -> list[int]:
        if self.window_months not in [hi for _, hi in WINDOWS]:
            raise ForecastError(
                f"window_months={self.window_months} is not the end of a feature window {list(WINDOWS)}"
            )
        want = [f"n_unit_{lo}_{hi}m" for lo, hi in WINDOWS if hi <= self.window_months]
        missing = [w for w in want if w not in names]
        if missing:
            raise ForecastError(f"features lack {', '.join(missing)} (build them with geo.forecast.features)")
        return [names.index(w) for w in want]

    def score(self, X: FeatureMatrix | OriginSet) -> np.ndarray:
        """The raw count: a ranking score (higher = more expected violence)."""
        return X.X[:, self._columns(X.names)].sum(axis=1)

    def fit(self, data: OriginSet, as_of: Any) -> _CountBaseline:
        check_no_overlap(data.origins, self.horizon_months, as_of)
        if data.horizon_months != self.horizon_months:
            raise ForecastError(f"training labels use {data.horizon_months} months, the baseline {self.horizon_months}")
        self.calibrator_ = _Platt(self.random_state).fit(np.log1p(self.score(data)), data.y)
        self.feature_names_in_ = list(data.names)
        self.n_positives_ = int(data.y.sum())
        return self

    def predict_proba(self, X: FeatureMatrix) -> np.ndarray:
        if not hasattr(self, "calibrator_"):
            raise ForecastError(f"this {type(self).__name__} is not fitted yet; call fit(data, as_of) first")
        return _proba2(self.calibrator_.predict(np.log1p(self.score(X))))


class PersistenceBaseline(_CountBaseline):
    """Events in the unit in the last 12 months, as a calibrated probability."""

    window_months = 12


class HistoryBaseline(_CountBaseline):
    """Events in the unit in the last 60 months (the long record), as a calibrated probability."""

    window_months = 60
