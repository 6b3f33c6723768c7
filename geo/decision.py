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
           "order_cost", "phase_sizes", "maximal_covering_keep", "base_troops"]


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
        out.append(vacuum_measure(w.gap(), baseline.exposure))
    return out


def greedy_closing_order(baseline: Baseline, to_close: Sequence[str] | None = None, *,
                         troops_to_free: float | None = None) -> list[tuple[str, float]]:
    """Close, one at a time, the base whose closure adds least vacuum given those already closed.

    ``to_close``: the bases to order (default: every base of the mission in the analysis,
    national forces apart). Returns ``[(base_id, vacuum measure after closing it), ...]``;
    each choice is an exact incremental evaluation of every remaining candidate.

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
    v = vacuum_measure(w.gap(), baseline.exposure)
    seq: list[tuple[str, float]] = []
    freed = 0.0
    while remaining and (troops_to_free is None or freed < troops_to_free):
        if troops_to_free is None:
            effects = [(closure_effect(w, b).added_vacuum, k, b) for k, b in enumerate(remaining)]
        else:
            effects = [(closure_effect(w, b).added_vacuum / troops[b], k, b) for k, b in enumerate(remaining)]
        _, _, best = min(effects)
        dv = closure_effect(w, best).added_vacuum
        w.set_weight(best, 0.0)
        v += dv
        freed += troops.get(best, 0.0)
        seq.append((best, v))
        remaining.remove(best)
    return seq


def base_troops(baseline: Baseline) -> dict[str, float]:
    """Troops per base (0 for presence-only sites: HQ, observers, police)."""
    b = baseline.bases
    st = np.nan_to_num(b["strength"].to_numpy(dtype=float), nan=0.0)
    if "strength_source" in b:
        st = np.where(b["strength_source"].astype(str).to_numpy() == "presence_only", 0.0, st)
    return dict(zip(b["base_id"], st, strict=True))


def maximal_covering_keep(baseline: Baseline, keep: int, *, block_km: float = 10.0) -> dict:
    """Which ``keep`` bases cover the most need-weighted exposure (spopt maximal covering).

    Demand: blocks of ``block_km`` weighted by sum(need100/100 * exposure); a base covers
    a block if it reaches some cell of it within its response threshold. Solved with
    spopt's MCLP (CBC through PuLP) on the distinct coverage patterns: blocks no base covers
    are left out and blocks covered by the same bases are one demand point (same optimum).
    """
    import pulp
    from spopt.locate import MCLP

    b = baseline
    h, w_ = b.grid.shape
    f = max(1, int(round(block_km / b.grid.resolution_km)))
    bh, bw = -(-h // f), -(-w_ // f)
    rr, cc = np.divmod(np.arange(h * w_), w_)
    block = (rr // f) * bw + (cc // f)
    demand = np.nan_to_num(b.need100 / 100.0) * b.exposure
    weights = np.bincount(block, weights=demand, minlength=bh * bw)
    live = np.flatnonzero(weights > 0)
    ids = [t.base_id for t in b.model.terms if not t.national]
    big = 1e6
    cost = np.full((len(live), len(ids)), big)
    pos = np.full(bh * bw, -1)
    pos[live] = np.arange(len(live))
    for j, bid in enumerate(ids):
        t = b.model.term(bid)
        inside = t.reach.hours <= t.t_resp
        blk = pos[block[t.reach.index[inside]]]
        blk = blk[blk >= 0]
        cost[np.unique(blk), j] = 0.0
    # only blocks some base covers can be covered, and blocks covered by the same set of bases
    # are one demand point of their summed weight: the same optimum, a much smaller programme
    reach = cost == 0.0
    coverable = reach.any(axis=1)
    patterns, inverse = np.unique(reach[coverable], axis=0, return_inverse=True)
    pattern_weight = np.bincount(inverse.ravel(), weights=weights[live][coverable], minlength=len(patterns))
    with warnings.catch_warnings():
        # spopt 0.7 builds variables with PuLP's deprecated LpVariable(...) constructor; not ours to fix
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(spopt|pulp)(\..*)?")
        warnings.filterwarnings("ignore", message="Constructing LpVariable", category=DeprecationWarning)
        model = MCLP.from_cost_matrix(np.where(patterns, 0.0, big), pattern_weight, service_radius=1.0,
                                      p_facilities=int(keep), name="keep")
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    chosen = [ids[j] for j, fac in enumerate(model.fac2cli) if len(fac) or _selected(model, j)]
    covered = float(weights[live][coverable].sum())
    kept_cov = float(weights[live][reach[:, [ids.index(c) for c in chosen]].any(axis=1)].sum()) if chosen else 0.0
    return {"keep": chosen, "covered_demand": kept_cov, "demand_coverable_by_all": covered,
            "blocks": int(len(live)), "block_km": f * b.grid.resolution_km}


def _selected(model, j: int) -> bool:
    try:
        return bool(model.fac_vars[j].varValue and model.fac_vars[j].varValue > 0.5)
    except (AttributeError, IndexError):
        return False
