"""Forecast metrics (scikit-learn), block-bootstrap intervals and reliability tables.

All functions take plain arrays: ``y`` (bool outcome per unit), ``p`` (probability or
ranking score per unit, higher = more expected violence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from .errors import ForecastError

__all__ = [
    "Scores",
    "brier_skill",
    "score_forecast",
    "superblocks",
    "Interval",
    "bootstrap_difference",
    "reliability_table",
    "METRICS",
]


def _y_p(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    yy = np.asarray(y).ravel().astype(bool)
    pp = np.asarray(p, dtype=np.float64).ravel()
    if yy.size != pp.size:
        raise ForecastError(f"outcomes ({yy.size}) and predictions ({pp.size}) differ in length")
    if not np.isfinite(pp).all():
        raise ForecastError(f"predictions hold {int((~np.isfinite(pp)).sum())} non-finite value(s)")
    return yy, pp


def brier_skill(y: Any, p: Any, reference_rate: float | None = None, sample_weight: Any = None) -> float:
    """``1 - Brier(p) / Brier(constant reference)``; the reference defaults to the
    (weighted) base rate of ``y`` itself. 0 = no better than the base rate, 1 = perfect.
    NaN when the reference Brier is 0 (one class only)."""
    yy, pp = _y_p(y, p)
    w = None if sample_weight is None else np.asarray(sample_weight, float)
    r = float(np.average(yy, weights=w)) if reference_rate is None else float(reference_rate)
    ref = float(np.average((yy - r) ** 2, weights=w))
    if ref == 0:
        return float("nan")
    return 1.0 - float(brier_score_loss(yy, pp, sample_weight=w)) / ref


def _tie_groups(y: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight per group of tied scores, groups in ascending score."""
    order = np.argsort(p, kind="mergesort")
    ps, ys = p[order], y[order]
    ws = np.ones(p.size) if w is None else np.asarray(w, dtype=np.float64)[order]
    gid = np.cumsum(np.r_[True, ps[1:] != ps[:-1]]) - 1
    return np.bincount(gid, ws * ys), np.bincount(gid, ws * ~ys)


def _auc(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted ROC AUC, ties one half: equal to ``sklearn.metrics.roc_auc_score`` (the
    trapezoid over tie groups) in one sort, which the bootstrap calls thousands of times."""
    y = np.asarray(y, dtype=bool)
    pos, neg = _tie_groups(y, np.asarray(p, dtype=np.float64), w)
    if pos.sum() == 0 or neg.sum() == 0:
        return float(roc_auc_score(y, p, sample_weight=w))  # sklearn's error or warning
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def _ap(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted average precision, equal to ``sklearn.metrics.average_precision_score``:
    ``sum_k (R_k - R_{k-1}) P_k`` over thresholds at each distinct score, highest first."""
    y = np.asarray(y, dtype=bool)
    pos, neg = _tie_groups(y, np.asarray(p, dtype=np.float64), w)
    if pos.sum() == 0:
        return float(average_precision_score(y, p, sample_weight=w))
    tps, fps = np.cumsum(pos[::-1]), np.cumsum(neg[::-1])
    keep = (tps + fps) > 0
    tps, fps = tps[keep], fps[keep]
    recall = tps / tps[-1]
    return float((np.diff(np.r_[0.0, recall]) * (tps / (tps + fps))).sum())


def _brier(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    return float(brier_score_loss(y, p, sample_weight=w))


def _bss(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    return brier_skill(y, p, sample_weight=w)


METRICS: dict[str, Callable[..., float]] = {
    "auc": _auc, "average_precision": _ap, "brier": _brier, "brier_skill": _bss,
}
"""Metric functions ``f(y, p, sample_weight)``; Brier is lower-is-better, the others higher."""


@dataclass(frozen=True)
class Scores:
    n: int
    positives: int
    base_rate: float
    auc: float
    average_precision: float
    brier: float
    brier_reference: float
    brier_skill: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_forecast(y: Any, p: Any, *, reference_rate: float | None = None) -> Scores:
    """AUC, average precision, Brier score and Brier skill against a constant rate
    (the base rate of ``y`` unless ``reference_rate`` is given). AUC and AP are NaN with
    one class only. ``p`` must be a probability for the Brier figures to mean anything."""
    yy, pp = _y_p(y, p)
    n, pos = int(yy.size), int(yy.sum())
    if n == 0:
        raise ForecastError("no units to score")
    both = 0 < pos < n
    r = pos / n if reference_rate is None else float(reference_rate)
    return Scores(
        n=n, positives=pos, base_rate=pos / n,
        auc=_auc(yy, pp) if both else float("nan"),
        average_precision=_ap(yy, pp) if both else float("nan"),
        brier=_brier(yy, pp),
        brier_reference=float(np.mean((yy - r) ** 2)),
        brier_skill=brier_skill(yy, pp, reference_rate=r),
    )


def superblocks(units: Any, shape: tuple[int, int], size: int = 5) -> np.ndarray:
    """Super-block id of each flat unit index: ``size x size`` units (5 x 5 10 km units =
    50 km), numbered row-major over the lattice, anchored at its north-west corner."""
    if int(size) != size or size < 1:
        raise ForecastError(f"super-block size must be a whole number >= 1, got {size!r}")
    u = np.asarray(units, dtype=np.int64).ravel()
    r, c = u // shape[1], u % shape[1]
    n_sc = -(-shape[1] // int(size))
    return (r // int(size)) * n_sc + c // int(size)


@dataclass(frozen=True)
class Interval:
    """``estimate`` = metric(a) - metric(b) on all units; ``low``/``high`` the percentile
    interval over ``n_boot`` block resamples (``n_failed`` resamples had one class only)."""

    metric: str
    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    n_failed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_difference(
    y: Any,
    score_a: Any,
    score_b: Any,
    groups: Any,
    *,
    metric: str = "auc",
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | None = 0,
) -> Interval:
    """Block bootstrap of ``metric(score_a) - metric(score_b)`` on the same units.

    Whole ``groups`` (e.g. :func:`superblocks`) are drawn with replacement, as many as
    there are groups; a unit's weight is how often its group was drawn (the same
    resample for both scores, so their correlation is kept).
    """
    if metric not in METRICS:
        raise ForecastError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if not 0 < level < 1:
        raise ForecastError(f"level must be in (0, 1), got {level}")
    yy, a = _y_p(y, score_a)
    _, b = _y_p(y, score_b)
    if a.size != b.size:
        raise ForecastError(f"score_a ({a.size}) and score_b ({b.size}) differ in length")
    g = np.asarray(groups).ravel()
    if g.size != yy.size:
        raise ForecastError(f"groups ({g.size}) and outcomes ({yy.size}) differ in length")
    f = METRICS[metric]
    if not 0 < yy.sum() < yy.size:
        raise ForecastError(f"{metric} needs both classes; got {int(yy.sum())} positive of {yy.size}")
    est = f(yy, a) - f(yy, b)
    _, gi = np.unique(g, return_inverse=True)
    n_g = int(gi.max()) + 1
    rng = np.random.default_rng(random_state)
    diffs = []
    failed = 0
    for _ in range(int(n_boot)):
        draws = np.bincount(rng.integers(0, n_g, size=n_g), minlength=n_g)
        w = draws[gi].astype(np.float64)
        keep = w > 0
        yk = yy[keep]
        if yk.all() or not yk.any():
            failed += 1
            continue
        diffs.append(f(yk, a[keep], w[keep]) - f(yk, b[keep], w[keep]))
    if not diffs:
        raise ForecastError(f"all {n_boot} resamples held one class only; use larger groups or more units")
    q = (1 - level) / 2
    lo, hi = np.quantile(np.asarray(diffs), [q, 1 - q])
    return Interval(metric=metric, estimate=float(est), low=float(lo), high=float(hi), level=level,
                    n_boot=int(n_boot), n_failed=failed)


def reliability_table(
    y: Any, p: Any, *, n_bins: int = 10, strategy: Literal["uniform", "quantile"] = "uniform"
) -> pd.DataFrame:
    """Calibration by bins of predicted probability: ``bin``, ``low``, ``high``,
    ``mean_predicted``, ``observed_rate``, ``count`` (empty bins dropped).

    ``uniform``: bins of equal width on [0, 1], each closed on the left, the last also on
    the right; ``quantile``: edges at quantiles of ``p`` (ties merge bins)."""
    yy, pp = _y_p(y, p)
    if (pp < 0).any() or (pp > 1).any():
        raise ForecastError("reliability needs probabilities in [0, 1]")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ForecastError(f"n_bins must be a whole number >= 1, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(pp, np.linspace(0, 1, int(n_bins) + 1)))
        if edges.size < 2:
            edges = np.array([pp.min(), pp.max()])
    else:
        raise ForecastError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    idx = np.clip(np.searchsorted(edges, pp, side="right") - 1, 0, edges.size - 2)
    rows = []
    for b in range(edges.size - 1):
        m = idx == b
        if m.any():
            rows.append({"bin": b, "low": float(edges[b]), "high": float(edges[b + 1]),
                         "mean_predicted": float(pp[m].mean()), "observed_rate": float(yy[m].mean()),
                         "count": int(m.sum())})
    return pd.DataFrame(rows, columns=["bin", "low", "high", "mean_predicted", "observed_rate", "count"])
