"""Decision support: which bases matter most, and in what order to close.

All of it is exact incremental evaluation on the sparse base terms
(:class:`~geo.scenario.WhatIf`): closing base ``b`` changes the gap only on the
cells ``b`` reaches, by ``need100 * (exp(-(I - w_b p_b)) - exp(-I))``.

The vacuum measure is the **exposure-weighted mean gap** over the area,
``V = sum(gap * exposure) / sum(exposure)`` (gap points, 0..100): a base's
criticality is how much ``V`` rises when it alone closes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import UnknownIdError
from .scenario import Baseline, WhatIf

__all__ = ["vacuum_measure", "closure_effect", "base_criticality", "greedy_closing_order",
           "order_cost", "phase_sizes", "maximal_covering_keep", "mclp_problem", "mclp_keep", "base_troops",
           "added_vacuum"]


def vacuum_measure(gap: np.ndarray, exposure: np.ndarray) -> float:
    """Exposure-weighted mean gap (NaN cells left out)."""
    ok = np.isfinite(gap)
    den = float(exposure[ok].sum())
    return float((gap[ok] * exposure[ok]).sum() / den) if den > 0 else 0.0


@dataclass(frozen=True)
class Effect:
    added_vacuum: float  # rise of the exposure-weighted mean gap, points
    population_losing_cover: float  # people whose cell drops below cover_threshold
    new_high_critical_km2: float  # area rising into high/critical
    people_into_high_critical: float


def closure_effect(w: WhatIf, base_id: str, *, cover_threshold: float = 0.5) -> Effect:
    """What closing ``base_id`` alone would do from the current state (no change made)."""
    b = w.baseline
    t = b.model.term(base_id)
    idx = t.reach.index
    wt = w.weight[base_id]
    if wt == 0:
        return Effect(0.0, 0.0, 0.0, 0.0)
    i_now = np.maximum(w.intensity[idx], 0.0)
    i_new = np.maximum(i_now - wt * b.protection(base_id), 0.0)
    need = b.need100[idx]
    ok = np.isfinite(need)
    gap_now = np.where(ok, need * np.exp(-i_now), 0.0)
    gap_new = np.where(ok, need * np.exp(-i_new), 0.0)
    e = b.exposure[idx]
    den = b.exposure_total
    cov_now, cov_new = -np.expm1(-i_now), -np.expm1(-i_new)
    lost = ok & (cov_now >= cover_threshold) & (cov_new < cover_threshold)
    thr = b.params.zone_threshold
    rise = ok & (gap_now < thr) & (gap_new >= thr)
    return Effect(
        float(((gap_new - gap_now) * e).sum() / den) if den > 0 else 0.0,
        float(b.population[idx][lost].sum()),
        float(rise.sum() * b.grid.cell_area_km2),
        float(b.population[idx][rise].sum()),
    )


def base_criticality(baseline: Baseline, *, cover_threshold: float = 0.5) -> pd.DataFrame:
    """Every base ranked by the vacuum its closure alone opens (from the baseline)."""
    w = WhatIf(baseline)
    rows = []
    bases = baseline.bases.set_index("base_id")
    for bid in w.weight:
        if bid.startswith("national:"):
            continue
        eff = closure_effect(w, bid, cover_threshold=cover_threshold)
        r = bases.loc[bid] if bid in bases.index else None
        rows.append({
            "base_id": bid,
            "name": None if r is None else r.get("name"),
            "strength": None if r is None else float(r.get("strength")),
            "unit_type": None if r is None else r.get("unit_type"),
            "added_vacuum": eff.added_vacuum,
            "population_losing_cover": eff.population_losing_cover,
            "new_high_critical_km2": eff.new_high_critical_km2,
            "people_into_high_critical": eff.people_into_high_critical,
        })
    df = pd.DataFrame(rows).sort_values(["added_vacuum", "population_losing_cover"], ascending=False, kind="stable")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df.reset_index(drop=True)


def phase_sizes(n: int, phases: int) -> list[int]:
    """Split ``n`` closures into ``phases`` as evenly as possible (earlier phases get the extra)."""
    if phases < 1:
        raise ValueError(f"number of phases must be >= 1, got {phases}")
    q, r = divmod(n, phases)
    return [q + (1 if k < r else 0) for k in range(phases)]


def order_cost(baseline: Baseline, groups: Sequence[Sequence[str]]) -> list[float]:
    """Vacuum measure after each group of closures, applied cumulatively."""
    w = WhatIf(baseline)
    out = []
    for g in groups:
        for bid in g:
            w.set_weight(bid, 0.0)
        out.append(baseline.vacuum_of(w.intensity))
    return out


def greedy_closing_order(baseline: Baseline, to_close: Sequence[str] | None = None, *,
                         troops_to_free: float | None = None, count: int | None = None) -> list[tuple[str, float]]:
    """Close, one at a time, the base whose closure adds least vacuum given those already closed.

    ``to_close``: the bases to order (default: every base of the mission in the analysis,
    national forces apart). Returns ``[(base_id, vacuum measure after closing it), ...]``;
    each choice is an exact incremental evaluation of every remaining candidate (a
    candidate's effect is evaluated again only when a closure changed the intensity where it
    reaches: otherwise it is the same number). ``count``: stop after that many closures.

    With ``troops_to_free``, the search is over all of ``to_close`` but stops once the closed
    bases hold that many troops: each step closes the base adding least vacuum **per troop
    freed** (presence-only sites, 0 troops, free none and are never chosen).
    """
    w = WhatIf(baseline)
    if to_close is None:
        to_close = [t.base_id for t in baseline.model.terms if not t.national]
    remaining = list(dict.fromkeys(to_close))
    unknown = [b for b in remaining if b not in w.weight]
    if unknown:
        raise UnknownIdError(f"unknown base id(s) {unknown}; known: {sorted(w.weight)}")
    troops = base_troops(baseline)
    if troops_to_free is not None:
        if not troops_to_free >= 0:
            raise ValueError(f"troops_to_free must be >= 0, got {troops_to_free}")
        remaining = [b for b in remaining if troops.get(b, 0.0) > 0]
    v = baseline.vacuum_open  # = vacuum_of(w.intensity): nothing is closed yet
    seq: list[tuple[str, float]] = []
    freed = 0.0
    added: dict[str, float] = {}  # each candidate's added vacuum in the current state
    stale: set[str] | frozenset[str] = set(remaining)
    while remaining and (troops_to_free is None or freed < troops_to_free) and (count is None or len(seq) < count):
        for b in stale:
            added[b] = added_vacuum(w, b)
        if troops_to_free is None:
            effects = [(added[b], k, b) for k, b in enumerate(remaining)]
        else:
            effects = [(added[b] / troops[b], k, b) for k, b in enumerate(remaining)]
        _, _, best = min(effects)
        dv = added[best]
        w.set_weight(best, 0.0)
        v += dv
        freed += troops.get(best, 0.0)
        seq.append((best, v))
        remaining.remove(best)
        stale = baseline.reach_neighbours[best] & set(remaining)
    return seq


def added_vacuum(w: WhatIf, base_id: str) -> float:
    """``closure_effect(w, base_id).added_vacuum`` alone (the same operations, without the
    other figures): the rise of the vacuum measure if ``base_id`` closed now."""
    b = w.baseline
    wt = w.weight[base_id]
    if wt == 0:
        return 0.0
    need, e = b.reach_need_exposure(base_id)
    i_now = np.maximum(w.intensity[b.model.term(base_id).reach.index], 0.0)
    i_new = np.maximum(i_now - wt * b.protection(base_id), 0.0)
    den = b.exposure_total
    return float(((need * np.exp(-i_new) - need * np.exp(-i_now)) * e).sum() / den) if den > 0 else 0.0


def base_troops(baseline: Baseline) -> dict[str, float]:
    """Troops per base (0 for presence-only sites: HQ, observers, police)."""
    b = baseline.bases
    st = np.nan_to_num(b["strength"].to_numpy(dtype=float), nan=0.0)
    if "strength_source" in b:
        st = np.where(b["strength_source"].astype(str).to_numpy() == "presence_only", 0.0, st)
    return dict(zip(b["base_id"], st, strict=True))


def maximal_covering_keep(baseline: Baseline, keep: int, *, block_km: float = 10.0) -> dict:
    """Which ``keep`` bases cover the most need-weighted exposure (maximal covering, MCLP).

    Demand: blocks of ``block_km`` weighted by sum(need100/100 * exposure); a base covers
    a block if it reaches some cell of it within its response threshold. Solved as the maximal
    covering location problem (:func:`mclp_keep`: CBC through PuLP, the programme spopt's MCLP
    builds) on the distinct coverage patterns: blocks no base covers are left out and blocks
    covered by the same bases are one demand point (same optimum).
    """
    b = baseline
    h, w_ = b.grid.shape
    f = max(1, int(round(block_km / b.grid.resolution_km)))
    bh, bw = -(-h // f), -(-w_ // f)
    block = ((np.arange(h) // f)[:, None] * bw + (np.arange(w_) // f)[None, :]).ravel()
    demand = np.nan_to_num(b.need100 / 100.0) * b.exposure
    weights = np.bincount(block, weights=demand, minlength=bh * bw)
    live = np.flatnonzero(weights > 0)
    ids = [t.base_id for t in b.model.terms if not t.national]
    reach = np.zeros((len(live), len(ids)), dtype=bool)
    pos = np.full(bh * bw, -1)
    pos[live] = np.arange(len(live))
    for j, bid in enumerate(ids):
        t = b.model.term(bid)
        inside = t.reach.hours <= t.t_resp
        blk = pos[block[t.reach.index[inside]]]
        reach[np.unique(blk[blk >= 0]), j] = True
    # only blocks some base covers can be covered, and blocks covered by the same set of bases
    # are one demand point of their summed weight: the same optimum, a much smaller programme
    coverable = reach.any(axis=1)
    patterns, inverse = np.unique(reach[coverable], axis=0, return_inverse=True)
    pattern_weight = np.bincount(inverse.ravel(), weights=weights[live][coverable], minlength=len(patterns))
    chosen = [ids[j] for j in mclp_keep(patterns, pattern_weight, int(keep))]
    covered = float(weights[live][coverable].sum())
    kept_cov = float(weights[live][reach[:, [ids.index(c) for c in chosen]].any(axis=1)].sum()) if chosen else 0.0
    return {"keep": chosen, "covered_demand": kept_cov, "demand_coverable_by_all": covered,
            "blocks": int(len(live)), "block_km": f * b.grid.resolution_km}


def mclp_problem(covers: np.ndarray, weights: np.ndarray, p: int, *, name: str = "keep"):
    """The maximal covering location problem (Church and ReVelle) as a PuLP programme: choose
    ``p`` facilities (columns of the boolean ``covers``, demand x facility) to cover the most
    demand ``weights``:

        maximise sum_i w_i y_i  subject to  y_i <= sum_j a_ij x_j,  sum_j x_j = p,  x, y binary.

    It is the programme spopt's ``MCLP.from_cost_matrix`` builds (variables ``x[j]``, ``y[i]``,
    the same constraints in the same order: tests/test_decision.py compares the two), written
    out here so that the cross-check does not import spopt, and with it matplotlib, libpysal
    and networkx (1.5 s of a scenario's time). Returns ``(problem, x, y)``."""
    import pulp

    a = np.asarray(covers, dtype=bool).astype(np.float64)
    w = np.asarray(weights, dtype=np.float64).ravel()
    n_cli, n_fac = a.shape
    prob = pulp.LpProblem(name, pulp.LpMaximize)
    x = [prob.add_variable(f"x[{j}]", lowBound=0, upBound=1, cat=pulp.LpInteger) for j in range(n_fac)]
    y = [prob.add_variable(f"y[{i}]", lowBound=0, upBound=1, cat=pulp.LpInteger) for i in range(n_cli)]
    prob += pulp.lpSum([w[i] * y[i] for i in range(n_cli)]), "objective function"
    for i in range(n_cli):
        prob += pulp.lpSum([a[i][j] * x[j] for j in range(n_fac)]) >= y[i]
    prob += pulp.lpSum(x) == p
    return prob, x, y


def mclp_keep(covers: np.ndarray, weights: np.ndarray, p: int) -> list[int]:
    """The columns of the ``p`` facilities :func:`mclp_problem` chooses (bundled CBC), in order;
    a facility counts as chosen as spopt's ``fac2cli`` reports it (selected and covering some
    covered demand, or selected)."""
    import pulp

    prob, x, y = mclp_problem(covers, weights, p)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False)
    prob.solve(solver)
    if prob.status != 1:
        raise RuntimeError(f"maximal covering not solved: {pulp.LpStatus[prob.status]}")
    a = np.asarray(covers, dtype=bool)
    yv = np.array([v.value() or 0.0 for v in y], dtype=float)
    out = []
    for j, v in enumerate(x):
        xj = v.value() or 0.0
        if (xj > 0 and bool(np.any((yv > 0) & a[:, j]))) or xj > 0.5:
            out.append(j)
    return out
