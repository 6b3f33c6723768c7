"""A troop budget: which bases to keep, and with how many troops, within a troop ceiling.

The value protected is the **risk-weighted population reachable in time**::

    F(x) = sum_c v_c * (1 - exp(-I_c(x))),   I_c(x) = I0_c + sum_b w_b(x_b) * p_b(c)
    v_c  = risk_c * people_c                 (forecast risk 0..1 x people, site people included)

the coverage of :mod:`geo.coverage` with each base at a troop level ``x_b`` (closed, or a
fraction of its strength): ``w_b`` is the weight of that many troops and ``p_b(c)`` the
base's protection by travel time, both as the analysis stored them. ``I0`` is the
intensity of what is not chosen: national forces, presence-only sites (HQ, observers,
police: 0 troops, so keeping them costs no troops) and bases left out of the choice.

Two solvers:

* :func:`solve_ilp` -- exact integer programme (PuLP/CBC) on the piecewise-linear chords
  of ``1 - exp(-I)`` (error at most ``chord_error`` per unit of value, so the true optimum
  is at most ``ilp_objective + chord_error * sum(v)`` above the ILP's), over groups of
  cells with the same protections (exactly equal by default; rounded to
  ``p_quantum`` on large grids).
* :func:`solve_greedy` -- marginal gain per troop, then the better of that and the best
  single option (Khuller, Moss & Naor 1999). ``F`` is monotone and submodular on the set
  of (base, level) choices (a concave function of a sum with non-negative terms), so
  with one level per base (full strength only) the result is at least ``(1 - 1/e) / 2``
  of the optimum; with several levels the greedy also reports the instance bound of
  submodularity, ``OPT <= F(S) + max sum of single-option gains from S within the
  ceiling`` (a fractional knapsack), which holds for any number of levels.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .errors import ConfigError, UnknownIdError

__all__ = ["TroopBudgetError", "BudgetProblem", "BudgetChoice", "chord_breakpoints", "protected_value",
           "solve_greedy", "solve_ilp", "check_troops", "DEFAULT_FRACTIONS", "problem_from_baseline",
           "is_presence_only", "mission_troops", "solve", "choice_table", "ILP_MAX_BASES"]

DEFAULT_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
"""Troop levels a base may be kept at, as fractions of its strength (0 = closed is always allowed)."""

GREEDY_BOUND = (1.0 - 1.0 / math.e) / 2.0
"""A priori guarantee of greedy-by-ratio with the best single option, one level per base."""


class TroopBudgetError(ConfigError):
    """A troop ceiling that cannot be used (below zero, above the troops there are)."""


@dataclass
class BudgetProblem:
    """The choice in arrays. ``protection`` is cells x bases (sparse, p_b(c) in 0..1) over the
    cells that carry value; ``levels[b]`` are the (troops, weight) a base may be kept at,
    troops ascending and > 0 (closing costs and gives 0)."""

    base_ids: list[str]
    value: np.ndarray  # v_c >= 0 per cell
    fixed: np.ndarray  # I0_c >= 0 per cell
    protection: sparse.csc_matrix
    levels: list[list[tuple[float, float]]]
    presence_only: list[str] = field(default_factory=list)  # kept at no troop cost, inside `fixed`
    fixed_troops: float = 0.0  # troops of bases left out of the choice (they stay open)

    def __post_init__(self) -> None:
        n, m = self.protection.shape
        if len(self.value) != n or len(self.fixed) != n:
            raise ConfigError(f"value ({len(self.value)}) and fixed ({len(self.fixed)}) must have one entry per "
                              f"cell of protection ({n})")
        if m != len(self.base_ids) or m != len(self.levels):
            raise ConfigError(f"{m} protection columns but {len(self.base_ids)} bases and {len(self.levels)} level lists")
        if np.any(self.value < 0) or np.any(self.fixed < 0):
            raise ConfigError("value and fixed intensity must be >= 0")
        for bid, lv in zip(self.base_ids, self.levels, strict=True):
            t = [a for a, _ in lv]
            if any(a <= 0 for a in t) or t != sorted(t):
                raise ConfigError(f"base {bid}: troop levels must be > 0 and ascending, got {t}")
        self.protection = sparse.csc_matrix(self.protection, dtype=np.float64)

    @property
    def total_value(self) -> float:
        return float(self.value.sum())

    def troops_of(self, level: Sequence[int]) -> float:
        """Troops of a choice (``level[b]`` = index into ``levels[b]``, -1 = closed)."""
        return float(sum(self.levels[b][k][0] for b, k in enumerate(level) if k >= 0))

    def intensity(self, level: Sequence[int]) -> np.ndarray:
        w = np.array([self.levels[b][k][1] if k >= 0 else 0.0 for b, k in enumerate(level)])
        return self.fixed + self.protection @ w


@dataclass
class BudgetChoice:
    """A solution: the level per base, its troops and the value it protects (exact ``F``)."""

    method: str
    base_ids: list[str]
    troops: list[float]  # per base, 0 = closed
    total_troops: float
    protected: float  # F(x), risk-weighted people
    total_value: float  # sum v: everything protected at full coverage
    seconds: float
    bound: dict = field(default_factory=dict)  # what is known about the optimum

    @property
    def kept(self) -> list[str]:
        return [b for b, t in zip(self.base_ids, self.troops, strict=True) if t > 0]


def protected_value(problem: BudgetProblem, level: Sequence[int]) -> float:
    """F(x) exactly: sum_c v_c (1 - exp(-I_c))."""
    return _dot(problem.value, 1.0 - np.exp(-problem.intensity(level)))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum(a * b) without BLAS: a BLAS dot wakes its thread pool on every call, which on a shared
    2-core machine cost 10-40 ms per call against 0.1 ms for the plain sum."""
    return float(np.multiply(a, b).sum())


def check_troops(ceiling: float, total: float, fixed: float = 0.0) -> float:
    """The ceiling, or a :class:`TroopBudgetError` naming it and the range it must lie in."""
    if not (isinstance(ceiling, (int, float)) and math.isfinite(ceiling)):
        raise TroopBudgetError(f"--troops {ceiling!r}: give a number of troops, e.g. --troops 5000")
    if ceiling < 0:
        raise TroopBudgetError(f"--troops {ceiling:g}: a troop ceiling cannot be below zero; give 0..{total:g}")
    if ceiling > total:
        raise TroopBudgetError(f"--troops {ceiling:g} is above the mission's total of {total:g} troops "
                               f"(every base at full strength); give 0..{total:g}")
    if ceiling < fixed:
        raise TroopBudgetError(f"--troops {ceiling:g} is below the {fixed:g} troops of the bases left out of the "
                               f"choice (they stay open); add them to --bases or raise --troops to at least {fixed:g}")
    return float(ceiling)


def _choice(problem: BudgetProblem, level: Sequence[int], method: str, t0: float, bound: dict) -> BudgetChoice:
    troops = [problem.levels[b][k][0] if k >= 0 else 0.0 for b, k in enumerate(level)]
    return BudgetChoice(method, list(problem.base_ids), troops, float(sum(troops)), protected_value(problem, level),
                        problem.total_value, round(time.perf_counter() - t0, 4), bound)


# ------------------------------------------------------------------ greedy

def _gain(problem: BudgetProblem, inten: np.ndarray, b: int, dw: float) -> float:
    """F rise when base ``b``'s weight rises by ``dw`` from intensity ``inten`` (its cells only)."""
    col = problem.protection
    rows = col.indices[col.indptr[b]:col.indptr[b + 1]]
    p = col.data[col.indptr[b]:col.indptr[b + 1]]
    i = inten[rows]
    return _dot(problem.value[rows], np.exp(-i) * (1.0 - np.exp(-dw * p)))


def _base_gains(problem: BudgetProblem, inten: np.ndarray, b: int, cur: int) -> list[tuple[float, int, float]]:
    """(gain per added troop, level, added troops) of every higher level of base ``b`` at level ``cur``."""
    col = problem.protection
    rows = col.indices[col.indptr[b]:col.indptr[b + 1]]
    p = col.data[col.indptr[b]:col.indptr[b + 1]]
    e = problem.value[rows] * np.exp(-inten[rows])  # once per base, for all its levels
    cur_t, cur_w = problem.levels[b][cur] if cur >= 0 else (0.0, 0.0)
    out = []
    for k in range(cur + 1, len(problem.levels[b])):
        t, w = problem.levels[b][k]
        dt = t - cur_t
        # 1 - exp(-x), not -expm1(-x): numpy's exp is vectorised, expm1 is not (10x slower here);
        # the difference is a relative 1e-13 at x = 1e-3
        out.append((_dot(e, 1.0 - np.exp(-(w - cur_w) * p)) / dt, k, dt))
    return out


def _ratio_greedy(problem: BudgetProblem, budget: float) -> list[int]:
    """Raise, one step at a time, the base level with the most gain per added troop that fits.

    Lazy (CELF, Leskovec et al. 2007): a ratio computed earlier is an upper bound of today's
    (F is submodular across bases), so only the top of the queue is re-evaluated; a base's own
    options are recomputed whenever its level changes."""
    import heapq

    m = len(problem.base_ids)
    level = [-1] * m
    inten = problem.intensity(level)
    spent, step = 0.0, 0
    heap: list[tuple[float, int, int, int, float]] = []  # (-ratio, base, level, computed at step, added troops)
    for b in range(m):
        for r, k, dt in _base_gains(problem, inten, b, -1):
            heapq.heappush(heap, (-r, b, k, step, dt))
    stamp = [0] * m  # step at which base b's level last changed
    while heap:
        neg, b, k, at, dt = heapq.heappop(heap)
        if k <= level[b] or at < stamp[b]:
            continue  # superseded by a change of b's own level (its options were pushed again)
        if spent + dt > budget + 1e-9 or -neg <= 1e-15:
            continue
        if at < step:  # stale: re-evaluate this one option and put it back
            for r, kk, dtt in _base_gains(problem, inten, b, level[b]):
                if kk == k:
                    heapq.heappush(heap, (-r, b, k, step, dtt))
            continue
        cur_w = problem.levels[b][level[b]][1] if level[b] >= 0 else 0.0
        col = problem.protection
        rows = col.indices[col.indptr[b]:col.indptr[b + 1]]
        inten[rows] += (problem.levels[b][k][1] - cur_w) * col.data[col.indptr[b]:col.indptr[b + 1]]
        spent += dt
        level[b] = k
        step += 1
        stamp[b] = step
        for r, kk, dtt in _base_gains(problem, inten, b, k):
            heapq.heappush(heap, (-r, b, kk, step, dtt))
    return level


def _online_bound(problem: BudgetProblem, level: list[int], budget: float, f_s: float) -> float:
    """OPT <= F(S) + the best fractional knapsack of single-option gains from S (submodularity)."""
    inten = problem.intensity(level)
    items = []
    for b in range(len(problem.base_ids)):
        cur_w = problem.levels[b][level[b]][1] if level[b] >= 0 else 0.0
        for t, w in problem.levels[b]:
            if w > cur_w:
                g = _gain(problem, inten, b, w - cur_w)
                if g > 0:
                    items.append((g / t, g, t))
    room, extra = budget, 0.0
    for _, g, t in sorted(items, reverse=True):
        take = min(1.0, room / t) if t > 0 else 1.0
        extra += take * g
        room -= take * t
        if room <= 0:
            break
    return f_s + extra


def solve_greedy(problem: BudgetProblem, budget: float) -> BudgetChoice:
    """Ratio greedy, then the better of it and the best single option that fits; with its bounds."""
    t0 = time.perf_counter()
    level = _ratio_greedy(problem, budget)
    f_g = protected_value(problem, level)
    # the best single option: F(empty) + its gain from empty (every base closed)
    none = [-1] * len(problem.base_ids)
    inten0 = problem.intensity(none)
    f0 = protected_value(problem, none)
    for b in range(len(problem.base_ids)):
        for r, k, dt in _base_gains(problem, inten0, b, -1):
            if dt <= budget + 1e-9 and f0 + r * dt > f_g + 1e-9 * max(1.0, f_g):
                single = list(none)
                single[b] = k
                level, f_g = single, protected_value(problem, single)
    one_level = all(len(lv) <= 1 for lv in problem.levels)
    ub = _online_bound(problem, level, budget, f_g)
    bound = {"upper_bound_on_optimum": ub, "share_of_bound": (f_g / ub) if ub > 0 else 1.0,
             "bound": "OPT <= F(S) + fractional knapsack of single-option gains from S (submodularity)"}
    if one_level:
        bound["a_priori"] = f"F(S) >= (1 - 1/e)/2 = {GREEDY_BOUND:.3f} of the optimum (one level per base)"
    return _choice(problem, level, "greedy", t0, bound)


# ------------------------------------------------------------------ integer programme

def chord_breakpoints(top: float, eps: float) -> np.ndarray:
    """Points 0 = a_0 < ... covering [0, top] whose chords of 1 - exp(-I) are within ``eps``
    of it (chord error on [a, a+h] <= exp(-a) h^2 / 8)."""
    if not eps > 0:
        raise ConfigError(f"chord error must be > 0, got {eps}")
    pts = [0.0]
    while pts[-1] < top:
        a = pts[-1]
        pts.append(a + math.sqrt(8.0 * eps * math.exp(a)))
    return np.array(pts)


def _groups(problem: BudgetProblem, p_quantum: float | None):
    """Cells with the same protections and fixed intensity, summed: (value, fixed, P dense)."""
    p = problem.protection.tocsr()
    dense = p.toarray()
    key = np.column_stack([dense, problem.fixed])
    if p_quantum:
        key = np.round(key / p_quantum)
    live = problem.value > 0
    _, inv = np.unique(key[live], axis=0, return_inverse=True)
    inv = inv.ravel()
    g = int(inv.max()) + 1 if len(inv) else 0
    v = np.bincount(inv, weights=problem.value[live], minlength=g)
    wsum = np.maximum(v, 1e-300)
    fixed = np.bincount(inv, weights=problem.value[live] * problem.fixed[live], minlength=g) / wsum
    pm = np.zeros((g, dense.shape[1]))
    for j in range(dense.shape[1]):
        pm[:, j] = np.bincount(inv, weights=problem.value[live] * dense[live, j], minlength=g) / wsum
    return v, fixed, pm


def _var(prob, pulp, name: str, **kw):
    """A PuLP variable attached to ``prob`` (``add_variable`` where PuLP has it: LpVariable() is deprecated)."""
    if hasattr(prob, "add_variable"):
        return prob.add_variable(name, **kw)
    return pulp.LpVariable(name, **kw)


def _cbc(pulp, time_limit_s: float, gap_rel: float, warm: bool):
    """CBC: the system's (COIN_CMD) if installed, else the one bundled with PuLP, whose
    PULP_CBC_CMD wrapper PuLP 3.3 marks deprecated for 4.0 (not ours to fix: silenced here only)."""
    kw = {"msg": False, "timeLimit": time_limit_s, "gapRel": gap_rel, "warmStart": warm}
    coin = pulp.COIN_CMD(**kw)
    if coin.available():
        return coin
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning)
        return pulp.PULP_CBC_CMD(**kw)


def solve_ilp(problem: BudgetProblem, budget: float, *, chord_error: float = 0.002,
              p_quantum: float | None = None, time_limit_s: float = 120.0, gap_rel: float = 1e-6,
              start: Sequence[int] | None = None) -> BudgetChoice:
    """The exact optimum of the piecewise-linear model (CBC), evaluated with the exact F."""
    import pulp

    t0 = time.perf_counter()
    v, fixed, pm = _groups(problem, p_quantum)
    m = len(problem.base_ids)
    prob = pulp.LpProblem("troop_budget", pulp.LpMaximize)
    y = {(b, k): _var(prob, pulp, f"y_{b}_{k}", cat="Binary")
         for b in range(m) for k in range(len(problem.levels[b]))}
    for b in range(m):
        if problem.levels[b]:
            prob += pulp.lpSum(y[b, k] for k in range(len(problem.levels[b]))) <= 1
    prob += pulp.lpSum(problem.levels[b][k][0] * var for (b, k), var in y.items()) <= budget
    wmax = np.array([lv[-1][1] if lv else 0.0 for lv in problem.levels])
    z = []
    for gi in range(len(v)):
        top = fixed[gi] + float(pm[gi] @ wmax)
        pts = chord_breakpoints(top, chord_error)
        zi = _var(prob, pulp, f"z_{gi}", lowBound=0)
        ii = _var(prob, pulp, f"i_{gi}", lowBound=0)  # the group's intensity, one equality
        prob += ii == fixed[gi] + pulp.lpSum(problem.levels[b][k][1] * pm[gi, b] * var
                                             for (b, k), var in y.items() if pm[gi, b] > 0)
        for a0, a1 in zip(pts[:-1], pts[1:], strict=True):
            f0, f1 = -math.expm1(-a0), -math.expm1(-a1)
            s = (f1 - f0) / (a1 - a0)
            prob += zi <= f0 + s * (ii - a0)
        prob += zi <= -math.expm1(-pts[-1])
        z.append(zi)
    prob += pulp.lpSum(float(v[gi]) * z[gi] for gi in range(len(v)))
    if start is not None:  # a feasible start (e.g. the greedy's) lets CBC prune from the first node
        for (b, k), var in y.items():
            var.setInitialValue(1 if start[b] == k else 0)
    status = prob.solve(_cbc(pulp, time_limit_s, gap_rel, start is not None))
    level = [-1] * m
    for (b, k), var in y.items():
        if var.varValue is not None and var.varValue > 0.5:
            level[b] = k
    obj = float(pulp.value(prob.objective) or 0.0)
    online = _online_bound(problem, level, budget, protected_value(problem, level))
    optimal = pulp.LpStatus[status] == "Optimal" and gap_rel <= 1e-6
    certified = obj + chord_error * problem.total_value if (p_quantum is None and optimal) else math.inf
    bound = {"status": pulp.LpStatus[status], "ilp_objective": obj, "groups": int(len(v)),
             "chord_error": chord_error, "p_quantum": p_quantum, "upper_bound_on_optimum": min(certified, online),
             "bound": ("OPT <= min(ILP objective + chord_error * sum(v), F(S) + knapsack of single-option gains)"
                       if math.isfinite(certified) else
                       "protections rounded to p_quantum (optimal for the rounded model); "
                       "OPT <= F(S) + knapsack of single-option gains from S (submodularity)")}
    return _choice(problem, level, "ilp", t0, bound)



# ------------------------------------------------------------------ from a stored analysis

def is_presence_only(bases) -> np.ndarray:
    """Rows of a bases table that hold no troops (:func:`geo.zones.presence_only`)."""
    from .zones import presence_only

    return presence_only(bases)


def mission_troops(baseline) -> dict[str, float]:
    """Troops of every base with troops that is in the coverage model (not national, not presence-only)."""
    bases = baseline.bases
    pres = dict(zip(bases["base_id"], is_presence_only(bases), strict=True))
    st = dict(zip(bases["base_id"], bases["strength"].astype(float), strict=True))
    return {t.base_id: float(st[t.base_id]) for t in baseline.model.terms
            if not t.national and t.base_id in st and not pres[t.base_id]}


def problem_from_baseline(baseline, *, people: np.ndarray | None = None, candidates: Sequence[str] | None = None,
                          fractions: Sequence[float] = DEFAULT_FRACTIONS) -> BudgetProblem:
    """The troop-budget choice on a stored analysis (:class:`geo.scenario.Baseline`).

    ``people`` per cell (flat; default the analysis population); the value is the analysis's
    forecast ``risk`` times people, inside the area. ``candidates``: the bases to choose
    among (default every base with troops); the others stay open at their strength.
    """
    from .rasters import read_surface

    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ConfigError(f"troop fractions must lie in (0, 1], got {list(fractions)}; e.g. 0.5,1")
    troops = mission_troops(baseline)
    if candidates is None:
        cand = list(troops)
    else:
        cand = list(dict.fromkeys(candidates))
        bad = [c for c in cand if c not in troops]
        if bad:
            pres_ids = set(baseline.bases["base_id"][is_presence_only(baseline.bases)])
            why = [f"{c} (presence only, 0 troops)" if c in pres_ids else c for c in bad]
            raise UnknownIdError(f"--bases: {', '.join(why)} not a base with troops in the analysis; "
                                 f"choose among {', '.join(sorted(troops))}")
    risk, _ = read_surface(baseline.folder / "risk.tif")
    ppl = baseline.population if people is None else np.asarray(people, dtype=np.float64).ravel()
    inside = np.isfinite(baseline.need100)
    v_all = np.where(inside, np.nan_to_num(risk.astype(np.float64).ravel()) * ppl, 0.0)
    terms = [baseline.model.term(b) for b in cand]
    cells = np.unique(np.concatenate([t.reach.index for t in terms])) if terms else np.array([], dtype=np.int64)
    cells = cells[v_all[cells] > 0]
    pos = np.full(baseline.grid.size, -1, dtype=np.int64)
    pos[cells] = np.arange(len(cells))
    fixed = baseline.model.intensity.ravel().astype(np.float64)[cells].copy()
    rows, cols, vals, levels = [], [], [], []
    for j, t in enumerate(terms):
        p = baseline.protection(t.base_id)
        r = pos[t.reach.index]
        ok = (r >= 0) & (p > 0)
        rows.append(r[ok])
        cols.append(np.full(int(ok.sum()), j))
        vals.append(p[ok])
        fixed[r[ok]] -= t.weight * p[ok]
        s = troops[t.base_id]
        full = baseline.weight_for(t.base_id, s)
        lv = sorted({int(round(f * s)) for f in fractions if round(f * s) > 0})
        levels.append([(float(n), t.weight * baseline.weight_for(t.base_id, n) / full) for n in lv])
    prot = sparse.csc_matrix((np.concatenate(vals) if vals else [], (np.concatenate(rows) if rows else [],
                              np.concatenate(cols) if cols else [])), shape=(len(cells), len(terms)))
    pres = [b for b in baseline.bases["base_id"][is_presence_only(baseline.bases)] if b in baseline.model.ids]
    fixed_troops = float(sum(v for k, v in troops.items() if k not in set(cand)))
    return BudgetProblem(cand, v_all[cells], np.maximum(fixed, 0.0), prot, levels, pres, fixed_troops)


ILP_MAX_BASES = 30
"""``solve(method="auto")`` runs the integer programme up to this many bases to choose among, the
greedy beyond (CBC's branch and bound grows fast with the bases; the greedy stays linear)."""


def solve(problem: BudgetProblem, budget: float, method: str = "auto", *, p_quantum: float | None = 0.1,
          time_limit_s: float = 120.0) -> BudgetChoice:
    """``ilp``, ``greedy`` or ``auto`` (the ILP, started from the greedy, up to :data:`ILP_MAX_BASES`)."""
    if method not in ("auto", "ilp", "greedy"):
        raise ConfigError(f"method {method!r}: use auto, ilp or greedy")
    g = solve_greedy(problem, budget)
    if method == "greedy" or (method == "auto" and len(problem.base_ids) > ILP_MAX_BASES):
        return g
    start = [-1 if t == 0 else [a for a, _ in problem.levels[b]].index(t) for b, t in enumerate(g.troops)]
    c = solve_ilp(problem, budget, p_quantum=p_quantum, time_limit_s=time_limit_s, start=start)
    return c if c.protected >= g.protected else g  # a rounded model could, in principle, lose to the greedy


def choice_table(choice: BudgetChoice, bases, problem: BudgetProblem):
    """One row per base of the mission: strength, troops kept and what happens to it.

    ``status``: ``kept``, ``reduced``, ``closed``, ``not in the choice`` (stays open) or
    ``presence only, 0 troops`` (HQ, observers, police: kept at no troop cost)."""
    import pandas as pd

    kept = dict(zip(choice.base_ids, choice.troops, strict=True))
    pres = set(problem.presence_only)
    rows = []
    for r in bases.itertuples(index=False):
        bid, s = r.base_id, float(r.strength)
        if bid in pres:
            t, status = 0.0, "presence only, 0 troops"
        elif bid in kept:
            t = kept[bid]
            status = "closed" if t == 0 else ("kept" if t >= s else "reduced")
        else:
            t, status = s, "not in the choice"
        rows.append({"base_id": bid, "name": r.name, "strength": s, "troops_kept": t, "status": status,
                     "presence_only": bid in pres})
    order = {"kept": 0, "reduced": 1, "not in the choice": 2, "presence only, 0 troops": 3, "closed": 4}
    df = pd.DataFrame(rows)
    return df.sort_values(["status", "troops_kept"], key=lambda c: c.map(order) if c.name == "status" else -c,
                          kind="stable").reset_index(drop=True)
