"""Benchmarks (exit conditions) of a withdrawal plan's phases, evaluated on arrays.

A phase may carry conditions (docs/scenarios.md)::

    conditions:
      - {condition: gap_mean, unit: Vakaga, op: "<", threshold: 30}
      - {condition: people_losing_cover, op: "<=", threshold: 5000}

Each condition is measured on the cells of its scope (an admin unit, an analysis zone or
the whole area) twice: before the phase's steps (the state the previous phases left) and
after them. ``at`` (default ``after``) says which of the two decides pass or fail. The
values, by hand:

======================  ===============================================================
``gap_mean``            mean protection gap (0..100) over the scope's cells
``risk``                mean forecast risk (0..1) over the scope's cells (the plan does
                        not change it: before = after)
``people_high_or_critical``  people in cells at high or critical gap (>= class_breaks[2])
``people_losing_cover`` people in cells covered in the baseline (coverage >= the cover
                        threshold) and no longer covered
``new_zone_area_km2``   km² that rose into high/critical against the baseline
``national_readiness``  strength-weighted mean readiness (0..1) of the national forces
                        placed in the scope (the plan's ``national_forces``)
======================  ===============================================================

``margin`` is signed so that a positive margin passes: ``threshold - value`` for ``<``/``<=``,
``value - threshold`` for ``>``/``>=``. A value that cannot be measured (no cells, no
force in the scope) fails, and the reason says why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

__all__ = ["METRICS", "OPERATORS", "ConditionSpec", "BenchmarkContext", "BenchmarkResult", "compare",
           "metric_value", "weighted_readiness", "evaluate_condition", "phase_status", "results_table"]

METRICS: dict[str, str] = {
    "gap_mean": "mean protection gap 0..100",
    "risk": "mean forecast risk 0..1",
    "people_high_or_critical": "people at high or critical gap",
    "people_losing_cover": "people covered in the baseline, no longer covered",
    "national_readiness": "strength-weighted readiness 0..1 of national forces in the scope",
    "new_zone_area_km2": "km² newly at high or critical gap",
}
OPERATORS = ("<", "<=", ">", ">=")
Op = Literal["<", "<=", ">", ">="]


@dataclass(frozen=True)
class ConditionSpec:
    """One resolved condition of a phase (scope resolved against the analysis)."""

    metric: str
    op: Op
    threshold: float
    scope: str = "whole area"  # "whole area", the admin unit's name or "zone <id>"
    scope_kind: Literal["area", "unit", "zone"] = "area"
    scope_id: str | None = None  # admin_id or zone_id
    at: Literal["before", "after"] = "after"
    line: int | None = None  # line in the plan file, when known


@dataclass(frozen=True)
class BenchmarkContext:
    """What every metric is measured against: the baseline, on flat arrays of one grid."""

    base_gap: np.ndarray
    base_cov: np.ndarray
    risk: np.ndarray | None
    population: np.ndarray
    cell_area_km2: float
    high_break: float  # gap at which "high" starts (class_breaks[2])
    zone_threshold: float
    cover_threshold: float


@dataclass(frozen=True)
class BenchmarkResult:
    """A condition measured before and after one phase, judged on ``at``."""

    phase: int
    phase_name: str
    condition: str
    unit: str
    op: str
    threshold: float
    at: str
    value_before: float
    value_after: float
    value: float
    passed: bool
    margin: float
    reason: str

    def as_dict(self) -> dict:
        """The JSON/table row: ``passed`` is written ``pass``; NaN as None."""
        d = {("pass" if k == "passed" else k): (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in asdict(self).items()}
        return d


def compare(op: str, value: float, threshold: float) -> tuple[bool, float]:
    """(passed, margin); margin > 0 passes by that much. NaN fails with a NaN margin."""
    if not math.isfinite(value):
        return False, math.nan
    margin = threshold - value if op in ("<", "<=") else value - threshold
    passed = {"<": value < threshold, "<=": value <= threshold, ">": value > threshold, ">=": value >= threshold}[op]
    return bool(passed), float(margin)


def weighted_readiness(strength: np.ndarray, readiness: np.ndarray) -> float:
    """Strength-weighted mean readiness; NaN with no troops."""
    s = np.asarray(strength, dtype=np.float64)
    total = s.sum()
    return float((s * np.asarray(readiness, dtype=np.float64)).sum() / total) if total > 0 else math.nan


def metric_value(metric: str, gap: np.ndarray, coverage: np.ndarray, mask: np.ndarray, ctx: BenchmarkContext,
                 readiness: float = math.nan) -> float:
    """One metric on the cells of ``mask`` (flat bool) for one state (flat ``gap``, ``coverage``)."""
    cells = mask & np.isfinite(gap)
    if metric == "national_readiness":
        return readiness
    if metric == "gap_mean":
        return float(gap[cells].mean()) if cells.any() else math.nan
    if metric == "risk":
        if ctx.risk is None or not cells.any():
            return math.nan
        return float(np.nanmean(ctx.risk[cells]))
    if metric == "people_high_or_critical":
        return float(ctx.population[cells & (gap >= ctx.high_break)].sum())
    if metric == "people_losing_cover":
        lost = cells & (ctx.base_cov >= ctx.cover_threshold) & (coverage < ctx.cover_threshold)
        return float(ctx.population[lost].sum())
    if metric == "new_zone_area_km2":
        new = cells & (gap >= ctx.zone_threshold) & ~(ctx.base_gap >= ctx.zone_threshold)
        return float(new.sum() * ctx.cell_area_km2)
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def evaluate_condition(spec: ConditionSpec, phase: int, phase_name: str, before: tuple[np.ndarray, np.ndarray],
                       after: tuple[np.ndarray, np.ndarray], mask: np.ndarray, ctx: BenchmarkContext,
                       readiness: float = math.nan) -> BenchmarkResult:
    """Measure ``spec`` on the (gap, coverage) states before and after the phase and judge it."""
    vb = metric_value(spec.metric, *before, mask, ctx, readiness)
    va = metric_value(spec.metric, *after, mask, ctx, readiness)
    value = va if spec.at == "after" else vb
    passed, margin = compare(spec.op, value, spec.threshold)
    if not math.isfinite(value):
        why = ("no national force placed in the scope" if spec.metric == "national_readiness"
               else "no risk surface in the analysis" if spec.metric == "risk" and ctx.risk is None
               else "no cell of the scope in the area")
        reason = f"{spec.metric} in {spec.scope}: cannot be measured ({why})"
    elif passed:
        reason = ""
    else:
        reason = f"{spec.metric} in {spec.scope} {spec.at} the phase is {value:.4g}, needs {spec.op} {spec.threshold:g}"
    return BenchmarkResult(phase, phase_name, spec.metric, spec.scope, spec.op, float(spec.threshold), spec.at,
                           vb, va, value, passed, margin, reason)


def phase_status(results: list[BenchmarkResult]) -> tuple[str, list[str]]:
    """``("go", [])`` when every condition passes, else ``("hold", reasons)``."""
    reasons = [r.reason for r in results if not r.passed]
    return ("hold" if reasons else "go"), reasons


def results_table(results: list[BenchmarkResult]) -> list[dict]:
    """Rows for ``benchmarks.csv`` and the summary: phase, condition, unit, value, threshold, pass, margin, reason."""
    return [r.as_dict() for r in results]
