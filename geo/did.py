"""Difference-in-differences arithmetic on stacked rows: pure functions on arrays.

A row is one unit in one episode: its change (post − pre), whether it is treated, and its
episode. :func:`stacked_did` is the episode fixed-effects estimate in closed form,
:func:`did_cluster_ols` the same coefficient from statsmodels OLS with episode-clustered
standard errors (a cross-check and the ``--ci cluster`` interval), :func:`did_interval` a
seeded percentile bootstrap over whole episodes, :func:`match_controls` nearest-neighbour
matching on pre-period features. Used by :mod:`geo.effect`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["stacked_did", "did_interval", "did_cluster_ols", "match_controls"]


def stacked_did(delta: np.ndarray, treated: np.ndarray, episode: np.ndarray) -> float:
    """Pure: the coefficient of ``treated`` in ``delta ~ treated + episode FE``.

    Equal to sum_e w_e (mean delta_T,e − mean delta_C,e) / sum_e w_e with
    w_e = n_T n_C / (n_T + n_C); episodes without treated or without control rows add
    nothing. NaN when no episode has both.
    """
    delta = np.asarray(delta, float)
    treated = np.asarray(treated, bool)
    episode = np.asarray(episode)
    num = den = 0.0
    for e in np.unique(episode):
        m = episode == e
        t, c = delta[m & treated], delta[m & ~treated]
        if len(t) and len(c):
            w = len(t) * len(c) / (len(t) + len(c))
            num += w * (t.mean() - c.mean())
            den += w
    return num / den if den > 0 else math.nan


def did_interval(delta: np.ndarray, treated: np.ndarray, episode: np.ndarray, *, n_boot: int = 999,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Pure: percentile bootstrap interval of :func:`stacked_did`, resampling whole episodes
    with replacement (seeded). NaN with fewer than two usable episodes."""
    delta = np.asarray(delta, float)
    treated = np.asarray(treated, bool)
    episode = np.asarray(episode)
    usable = [e for e in np.unique(episode) if (treated[episode == e]).any() and (~treated[episode == e]).any()]
    if len(usable) < 2:
        return math.nan, math.nan
    rows = {e: np.flatnonzero(episode == e) for e in usable}
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        pick = rng.choice(len(usable), size=len(usable), replace=True)
        idx = np.concatenate([rows[usable[j]] for j in pick])
        ep = np.concatenate([np.full(len(rows[usable[j]]), k) for k, j in enumerate(pick)])
        stats[i] = stacked_did(delta[idx], treated[idx], ep)
    a = (1 - level) / 2
    lo, hi = np.nanquantile(stats, [a, 1 - a])
    return float(lo), float(hi)


def did_cluster_ols(delta: np.ndarray, treated: np.ndarray, episode: np.ndarray,
                    level: float = 0.95) -> tuple[float, float, float, float]:
    """(estimate, se, ci_low, ci_high) from statsmodels OLS ``delta ~ treated + C(episode)``
    with standard errors clustered by episode and a t(G−1) interval. NaN se/interval with
    fewer than two episodes."""
    import statsmodels.api as sm
    from scipy import stats

    delta = np.asarray(delta, float)
    treated = np.asarray(treated, bool)
    codes, uniq = pd.factorize(np.asarray(episode))
    X = np.column_stack([treated.astype(float), *(codes == k for k in range(len(uniq)))]).astype(float)
    fit = sm.OLS(delta, X).fit()
    est = float(fit.params[0])
    if len(uniq) < 2:
        return est, math.nan, math.nan, math.nan
    cl = sm.OLS(delta, X).fit(cov_type="cluster", cov_kwds={"groups": codes})
    se = float(cl.bse[0])
    t = float(stats.t.ppf(1 - (1 - level) / 2, len(uniq) - 1))
    return est, se, est - t * se, est + t * se


def match_controls(treated_feat: np.ndarray, control_feat: np.ndarray, n_matches: int = 1) -> np.ndarray:
    """Pure: for each treated row, the indices of its ``n_matches`` nearest control rows
    (Euclidean on the features, with replacement, ties to the lowest index); shape
    (n_treated, n_matches)."""
    t = np.asarray(treated_feat, float).reshape(len(treated_feat), -1)
    c = np.asarray(control_feat, float).reshape(len(control_feat), -1)
    if len(c) == 0:
        return np.empty((len(t), 0), dtype=np.int64)
    k = min(n_matches, len(c))
    d = ((t[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    return np.argsort(d, axis=1, kind="stable")[:, :k]
