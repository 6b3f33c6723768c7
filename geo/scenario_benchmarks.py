"""A scenario's benchmarks and its mission / national coverage, on a :class:`~geo.scenario.Baseline`.

The wrapper around :mod:`geo.benchmarks`: turns each condition's scope (an admin unit, an
analysis zone, the whole area) into a cell mask on the grid, places the national forces,
measures every condition of a phase before and after its steps, and writes
``benchmarks.json`` and ``benchmarks.csv`` (docs/scenarios.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio import features

from .benchmarks import (
    BenchmarkContext,
    BenchmarkResult,
    ConditionSpec,
    evaluate_condition,
    phase_status,
    results_table,
    weighted_readiness,
)
from .export import write_csv, write_json
from .national import NationalForce, forces_frame
from .plan import ResolvedPhase
from .scenario import Baseline, WhatIf

__all__ = ["BenchmarkScopes", "PhaseBenchmarks", "phase_benchmarks", "coverage_split", "write_benchmarks",
           "load_zones"]


def load_zones(b: Baseline) -> gpd.GeoDataFrame | None:
    """The analysis' vacuum zones (``zones.geojson``) in the grid CRS, or None."""
    path = b.folder / "zones.geojson"
    return gpd.read_file(path).to_crs(b.grid.crs) if path.exists() else None


@dataclass
class BenchmarkScopes:
    """Cell masks per scope (cached) and the national forces placed on the grid."""

    b: Baseline
    zones: gpd.GeoDataFrame | None
    forces: list[NationalForce] | None
    _masks: dict[tuple[str, str | None], np.ndarray] = field(default_factory=dict)
    _inside_ctx: tuple[BenchmarkContext, BenchmarkContext, np.ndarray] | None = None

    def inside_context(self, ctx: BenchmarkContext) -> tuple[BenchmarkContext, np.ndarray]:
        """``ctx`` on the area's cells only (:attr:`Baseline.inside`), and a mask of all of them."""
        if self._inside_ctx is None or self._inside_ctx[0] is not ctx:
            ins = self.b.inside
            small = replace(ctx, base_gap=ctx.base_gap[ins], base_cov=ctx.base_cov[ins],
                            risk=None if ctx.risk is None else ctx.risk[ins], population=ctx.population[ins])
            self._inside_ctx = (ctx, small, np.ones(len(ins), dtype=bool))
        return self._inside_ctx[1], self._inside_ctx[2]

    def polygon(self, spec: ConditionSpec):
        if spec.scope_kind == "unit" and self.b.admin is not None:
            return self.b.admin.loc[self.b.admin["admin_id"].astype(str) == spec.scope_id].union_all()
        if spec.scope_kind == "zone" and self.zones is not None:
            return self.zones.loc[self.zones["zone_id"].astype(int) == int(spec.scope_id or -1)].union_all()
        return None

    def whole_area(self, spec: ConditionSpec) -> bool:
        """True when the scope is every cell (:meth:`polygon` None: no unit or zone to cut)."""
        return not ((spec.scope_kind == "unit" and self.b.admin is not None)
                    or (spec.scope_kind == "zone" and self.zones is not None))

    def mask(self, spec: ConditionSpec) -> np.ndarray:
        key = (spec.scope_kind, spec.scope_id)
        if key not in self._masks:
            poly = self.polygon(spec)
            if poly is None:
                m = np.ones(self.b.grid.size, dtype=bool)
            else:
                m = features.rasterize([(poly, 1)], out_shape=self.b.grid.shape, transform=self.b.grid.transform,
                                       fill=0, dtype="uint8").ravel().astype(bool)
            self._masks[key] = m
        return self._masks[key]

    def readiness(self, spec: ConditionSpec) -> float:
        """Strength-weighted readiness of the forces in the scope (all of them for the whole area)."""
        if not self.forces:
            return math.nan
        if spec.scope_kind == "area":
            return weighted_readiness(np.array([f.strength for f in self.forces]),
                                      np.array([f.readiness for f in self.forces]))
        g = forces_frame(self.forces, self.b.grid.crs)
        inside = g[g.within(self.polygon(spec))]
        return weighted_readiness(inside["strength"].to_numpy(), inside["readiness"].to_numpy())


@dataclass
class PhaseBenchmarks:
    phase: int
    name: str
    status: str  # "go" or "hold"
    reasons: list[str]
    results: list[BenchmarkResult]

    def as_dict(self) -> dict:
        return {"phase": self.phase, "name": self.name, "status": self.status, "reasons": self.reasons,
                "results": results_table(self.results)}


def phase_benchmarks(k: int, ph: ResolvedPhase, scopes: BenchmarkScopes, ctx: BenchmarkContext,
                     before: tuple[np.ndarray, np.ndarray], after: tuple[np.ndarray, np.ndarray], *,
                     before_inside: tuple[np.ndarray, np.ndarray] | None = None,
                     after_inside: tuple[np.ndarray, np.ndarray] | None = None) -> PhaseBenchmarks:
    """Every condition of phase ``k`` measured on the (gap, coverage) before and after its steps.
    ``before_inside``, ``after_inside``: the same states on the area's cells (:attr:`Baseline.inside`),
    if known: a condition over the whole area is measured on them (cells outside the area have
    no gap, so these are the cells it counts, in the same order: the same values)."""
    res = []
    for c in ph.conditions:
        readiness = scopes.readiness(c) if c.metric == "national_readiness" else math.nan
        if before_inside is not None and after_inside is not None and scopes.whole_area(c):
            small, everywhere = scopes.inside_context(ctx)
            res.append(evaluate_condition(c, k, ph.name, before_inside, after_inside, everywhere, small, readiness))
        else:
            res.append(evaluate_condition(c, k, ph.name, before, after, scopes.mask(c), ctx, readiness))
    status, reasons = phase_status(res)
    return PhaseBenchmarks(k, ph.name, status, reasons, res)


def coverage_split(w: WhatIf, cover_threshold: float, coverage_inside: np.ndarray | None = None) -> dict[str, float]:
    """Mean coverage over the area and people covered (>= ``cover_threshold``), by the mission and by
    national forces separately (each from its own intensity, as :meth:`WhatIf.split_coverage`
    gives them), computed on the cells of the area only. ``coverage_inside``: the coverage of
    ``w``'s current state on those cells (:attr:`PhaseState.coverage_inside`), if known: with no
    national force it is the mission's."""
    b = w.baseline
    ins = b.inside
    nat = np.zeros(len(ins))
    if not w.national and coverage_inside is not None:
        mission = coverage_inside
    elif w.national:
        pos = np.full(b.grid.size, -1, dtype=np.int64)
        pos[ins] = np.arange(len(ins))
        for bid in w.national:
            t = b.model.term(bid)
            at = pos[t.reach.index]
            keep = at >= 0
            nat[at[keep]] += (w.weight[bid] * b.protection(bid))[keep]
        mission = -np.expm1(-np.maximum(w.intensity[ins] - nat, 0.0))
    else:
        mission = -np.expm1(-np.maximum(w.intensity[ins], 0.0))  # minus no national intensity
    national = -np.expm1(-np.maximum(nat, 0.0))
    pop = b.population_inside
    return {"mission_coverage_mean": float(mission.mean()) if len(ins) else math.nan,
            "national_coverage_mean": float(national.mean()) if len(ins) else math.nan,
            "population_covered_mission": float(pop[mission >= cover_threshold].sum()),
            "population_covered_national": float(pop[national >= cover_threshold].sum())}


def write_benchmarks(out: Path, phases: list[PhaseBenchmarks], enforced: dict | None) -> None:
    """``benchmarks.json`` (per phase: status, reasons, results; the enforcement) and ``benchmarks.csv``."""
    write_json({"phases": [p.as_dict() for p in phases], "enforced": enforced}, out / "benchmarks.json")
    rows = [row for p in phases for row in results_table(p.results)]
    cols = ["phase", "phase_name", "condition", "unit", "at", "value_before", "value_after", "value", "op",
            "threshold", "pass", "margin", "reason"]
    write_csv(pd.DataFrame(rows, columns=cols), out / "benchmarks.csv")
