"""What-if: apply a withdrawal plan to a stored analysis, phase by phase.

Coverage is ``1 - exp(-I)`` with ``I = sum_b w_b p_b(t_b)`` and each base's term
stored sparsely (:mod:`geo.coverage`), so the gap is

    gap = need100 * exp(-I),   need100 = gap with no coverage at all

and a step changes ``I`` only on the cells its base reaches: closing subtracts
``w_b p_b``, a reduction or a handover to national forces swaps ``w_b`` for the
new weight. Nothing is recomputed for the other bases (:class:`WhatIf`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .coverage import BaseTerm, CoverageModel, base_weight, decay
from .errors import LayerError, VacuumError
from .grid import Grid
from .params import Params
from .plan import ResolvedPhase, Step
from .products import load_coverage_model
from .rasters import read_surface
from .score import gap_score
from .summaries import AdminCells, admin_cells
from .traveltime import CellGraph, NearestSources, build_graph, nearest_sources
from .zones import vacuum_zones

__all__ = ["Baseline", "WhatIf", "PhaseState", "load_baseline", "AnalysisFolderError"]


class AnalysisFolderError(VacuumError, LookupError):
    """An analysis folder that lacks what a scenario needs."""


@dataclass
class Baseline:
    """Everything a scenario needs from one stored analysis, on its grid."""

    folder: Path
    grid: Grid
    params: Params
    as_of: date
    model: CoverageModel
    need100: np.ndarray  # gap with zero coverage (NaN outside the area), flat float64
    exposure: np.ndarray  # flat float64
    population: np.ndarray  # flat float64 (0 outside)
    bases: gpd.GeoDataFrame  # grid CRS, with base_id, name, strength, unit_type
    admin: gpd.GeoDataFrame | None
    events: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame | None
    cost_h: np.ndarray | None
    risk: np.ndarray | None = None  # flat float64 forecast risk (NaN outside)
    _p: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _reach_inputs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def protection(self, base_id: str) -> np.ndarray:
        """p_b(t) on the base's reached cells (cached, float64)."""
        p = self._p.get(base_id)
        if p is None:
            t = self.model.term(base_id)
            p = decay(t.reach.hours, t.t_resp, t.t_max)
            self._p[base_id] = p
        return p

    def reach_need_exposure(self, base_id: str) -> tuple[np.ndarray, np.ndarray]:
        """need100 (0 outside the area) and exposure on the base's reached cells (cached)."""
        hit = self._reach_inputs.get(base_id)
        if hit is None:
            idx = self.model.term(base_id).reach.index
            need = self.need100[idx]
            hit = self._reach_inputs[base_id] = (np.where(np.isfinite(need), need, 0.0), self.exposure[idx])
        return hit

    def weight_for(self, base_id: str, strength: float, readiness: float = 1.0, unit_type: str | None = None) -> float:
        """The weight of ``strength`` troops at the base (of the base's unit type, or ``unit_type``)."""
        row = self.bases.loc[self.bases["base_id"] == base_id]
        utype = unit_type or (str(row["unit_type"].iloc[0]) if len(row) else "infantry")
        s_mult = self.params.unit_types.get(utype, (1.0, 1.0))[0]
        p = self.params
        return base_weight(strength, reference_strength=p.reference_strength,
                           coverage_at_reference=p.coverage_at_reference,
                           presence_strength=p.presence_strength, strength_mult=s_mult, readiness=readiness)

    @cached_property
    def inside(self) -> np.ndarray:
        """Flat indices (ascending) of the cells in the area: those with a need (finite ``need100``)."""
        return np.flatnonzero(np.isfinite(self.need100))

    @cached_property
    def exposure_total(self) -> float:
        """Sum of exposure over the cells in the area: the denominator of the vacuum measure."""
        return float(self.exposure[self.inside].sum())

    def vacuum_of(self, intensity: np.ndarray) -> float:
        """The vacuum measure of a coverage intensity (flat): ``vacuum_measure(need100 *
        exp(-max(I, 0)), exposure)``, computed on the cells of the area only (the same sums in
        the same order, so the same value)."""
        g = self._need_inside * np.exp(-np.maximum(intensity[self.inside], 0.0))
        e = self._exposure_inside
        num = float((g * e).sum())
        if not np.isfinite(num):  # a non-finite gap somewhere: vacuum_measure leaves such cells out
            fin = np.isfinite(g)
            g, e = g[fin], e[fin]
            num = float((g * e).sum())
            den = float(e.sum())
        else:  # every gap finite: the denominator is the whole area's exposure
            den = self.exposure_total
        return num / den if den > 0 else 0.0

    @cached_property
    def population_inside(self) -> np.ndarray:
        """Population on the cells of the area (:attr:`inside`)."""
        return self.population[self.inside]

    @cached_property
    def _need_inside(self) -> np.ndarray:
        return self.need100[self.inside]

    @cached_property
    def _exposure_inside(self) -> np.ndarray:
        return self.exposure[self.inside]

    def baseline_gap(self) -> np.ndarray:
        return self.need100 * np.exp(-self.model.intensity.ravel())

    @cached_property
    def intensity_flat(self) -> np.ndarray:
        """The analysis' coverage intensity, flat float64 (do not change it in place)."""
        return np.array(self.model.intensity.ravel(), dtype=np.float64)

    @cached_property
    def baseline_gap_flat(self) -> np.ndarray:
        """:meth:`baseline_gap`, computed once (do not change it in place)."""
        return self.need100 * np.exp(-np.maximum(self.intensity_flat, 0.0))

    @cached_property
    def baseline_coverage_flat(self) -> np.ndarray:
        return -np.expm1(-np.maximum(self.intensity_flat, 0.0))

    @cached_property
    def vacuum_open(self) -> float:
        """The vacuum measure with every base as in the analysis (:meth:`vacuum_of` its intensity)."""
        return self.vacuum_of(self.intensity_flat)

    @cached_property
    def graph(self) -> CellGraph | None:
        """The travel graph of the analysis' friction (None without one), built on first use and kept."""
        return build_graph(self.cost_h) if self.cost_h is not None else None

    @cached_property
    def base_cells(self) -> dict[str, tuple[int, int]]:
        """Per base on the grid: its row in ``bases`` (index reset) and its flat cell (bases
        off the grid are left out)."""
        rows = self.bases.reset_index(drop=True)
        pos = {bid: i for i, bid in enumerate(rows["base_id"])}
        out = {}
        for bid, i in pos.items():
            geom = rows.geometry.iloc[i]
            r, c, ok = self.grid.rowcol(np.array([geom.x]), np.array([geom.y]))
            if ok[0]:
                out[bid] = (i, int(r[0] * self.grid.width + c[0]))
        return out

    @cached_property
    def nearest_open(self) -> tuple[list[str], NearestSources] | None:
        """The nearest of the mission's bases open in the analysis (national forces apart) for
        every node of the travel graph, within ``travel_time_cap_h``: the bases in source order
        and the search, which a plan's closures update (:meth:`NearestSources.without`). None
        without a travel graph."""
        if self.graph is None:
            return None
        ids = [t.base_id for t in self.model.terms if not t.national and t.weight > 0 and t.base_id in self.base_cells]
        return ids, nearest_sources(self.graph, [self.base_cells[b][1] for b in ids], self.params.travel_time_cap_h)

    @cached_property
    def empty_zones(self) -> gpd.GeoDataFrame:
        """:func:`geo.zones.vacuum_zones`' table without a zone (its columns, the grid's CRS),
        asked once of a one-cell grid of the same CRS (copy it before changing it)."""
        p = self.params
        one = Grid(self.grid.crs, self.grid.transform, 1, 1)
        return vacuum_zones(np.full((1, 1), np.nan, dtype=np.float32), one, threshold=p.zone_threshold,
                            min_area_km2=p.zone_min_area_km2, breaks=p.class_breaks)

    @cached_property
    def admin_cells(self) -> AdminCells | None:
        """The admin units rasterized on the grid with their population (None without an admin
        layer), built on first use and kept."""
        return (admin_cells(self.admin, self.grid, self.population.reshape(self.grid.shape))
                if self.admin is not None else None)

    @cached_property
    def reach_neighbours(self) -> dict[str, frozenset[str]]:
        """Per base, the bases whose reach may share a cell with its reach (they share a block of
        8 x 8 cells; the base itself included). A change of a base's weight changes the
        intensity on its reach only, so it can alter the closure effect of these bases only."""
        terms = self.model.terms
        w = self.grid.width
        bw = -(-w // 8)
        rows, cols = [], []
        for k, t in enumerate(terms):
            r, c = np.divmod(t.reach.index.astype(np.int64), w)
            blocks = np.unique((r // 8) * bw + c // 8)
            rows.append(np.full(len(blocks), k))
            cols.append(blocks)
        n_blocks = (-(-self.grid.height // 8)) * bw
        m = sp.csr_matrix((np.ones(sum(len(c) for c in cols)), (np.concatenate(rows or [np.zeros(0, int)]),
                                                                 np.concatenate(cols or [np.zeros(0, int)]))),
                          shape=(len(terms), n_blocks))
        share = (m @ m.T).tocoo()
        out: dict[str, set[str]] = {t.base_id: {t.base_id} for t in terms}
        for i, j in zip(share.row, share.col, strict=True):
            out[terms[i].base_id].add(terms[j].base_id)
        return {k: frozenset(v) for k, v in out.items()}

    @cached_property
    def gap_totals(self) -> dict[str, float]:
        """Sums over the area's cells of the baseline gap, for incremental phase figures:
        cells, gap, gap x exposure, people at high/critical (>= class_breaks[2])."""
        g = self.baseline_gap_flat
        ok = np.isfinite(g)
        return {"cells": float(ok.sum()), "gap": float(g[ok].sum()), "gap_exposure": float((g[ok] * self.exposure[ok]).sum()),
                "people_high_critical": float(self.population[ok & (g >= self.params.class_breaks[2])].sum())}


def load_baseline(folder: str | Path) -> Baseline:
    """Read an analysis folder written by :func:`geo.products.write_analysis`."""
    folder = Path(folder)
    need = ["risk.tif", "exposure.tif", "population.tif", "bases.geojson", "model/coverage_terms.npz",
            "model/analysis.json", "model/params.json"]
    missing = [n for n in need if not (folder / n).exists()]
    if missing:
        raise AnalysisFolderError(
            f"{folder} is not a complete analysis folder (missing {', '.join(missing)}); run `vacuum analyze --out {folder}` first"
        )
    model, grid = load_coverage_model(folder / "model")
    meta = json.loads((folder / "model/params.json").read_text())
    pv = dict(meta["params"])
    for k in ("class_breaks",):
        pv[k] = tuple(pv[k])
    pv["unit_types"] = {k: tuple(v) for k, v in pv["unit_types"].items()}
    params = Params(**pv)
    risk, _ = read_surface(folder / "risk.tif")
    exposure, _ = read_surface(folder / "exposure.tif")
    population, _ = read_surface(folder / "population.tif")
    need100 = gap_score(risk, exposure, np.zeros_like(risk), params.threat_weight, params.exposure_weight)
    bases = gpd.read_file(folder / "bases.geojson").to_crs(grid.crs)
    admin = None
    if (folder / "admin_summary.geojson").exists():
        admin = gpd.read_file(folder / "admin_summary.geojson").to_crs(grid.crs)
        admin = admin[[c for c in ("admin_id", "name", "level", "parent", "geometry") if c in admin]]
    events = (gpd.read_file(folder / "events.geojson").to_crs(grid.crs) if (folder / "events.geojson").exists()
              else gpd.GeoDataFrame({"date": [], "fatalities": []}, geometry=gpd.GeoSeries([], crs=grid.crs)))
    if len(events):
        events["date"] = pd.to_datetime(events["date"])
    sites = gpd.read_file(folder / "sites.geojson").to_crs(grid.crs) if (folder / "sites.geojson").exists() else None
    cost = None
    if (folder / "model/friction.npz").exists():
        with np.load(folder / "model/friction.npz") as z:
            cost = z["cost_h"]
    return Baseline(folder, grid, params, date.fromisoformat(meta["as_of"]), model,
                    need100.astype(np.float64).ravel(), np.nan_to_num(exposure.astype(np.float64)).ravel(),
                    np.nan_to_num(population.astype(np.float64)).ravel(), bases, admin, events, sites, cost,
                    risk.astype(np.float64).ravel())


@dataclass
class PhaseState:
    """The state after a phase: the intensity on the cells that differ from the baseline
    (``touched``), and the full surfaces built from it on first use (flat arrays)."""

    name: str
    date: date
    closed: list[str]  # closed or handed over so far (cumulative)
    touched: np.ndarray  # flat indices (sorted) of cells whose intensity differs from the baseline's
    intensity_touched: np.ndarray  # the intensity there (float64)
    baseline: Baseline = field(repr=False)

    @cached_property
    def gap_touched(self) -> np.ndarray:
        return self.baseline.need100[self.touched] * np.exp(-np.maximum(self.intensity_touched, 0.0))

    @cached_property
    def coverage_touched(self) -> np.ndarray:
        return -np.expm1(-np.maximum(self.intensity_touched, 0.0))

    def _on_grid(self, baseline_flat: np.ndarray, touched: np.ndarray) -> np.ndarray:
        """The baseline's flat surface with the touched cells' new values."""
        full = baseline_flat.copy()
        full[self.touched] = touched
        return full

    @cached_property
    def intensity(self) -> np.ndarray:
        return self._on_grid(self.baseline.intensity_flat, self.intensity_touched)

    @cached_property
    def gap(self) -> np.ndarray:
        return self._on_grid(self.baseline.baseline_gap_flat, self.gap_touched)

    @cached_property
    def coverage(self) -> np.ndarray:
        return self._on_grid(self.baseline.baseline_coverage_flat, self.coverage_touched)

    @cached_property
    def gap_inside(self) -> np.ndarray:
        """:attr:`gap` on the cells of the area (:attr:`Baseline.inside`)."""
        return self.gap[self.baseline.inside]

    @cached_property
    def coverage_inside(self) -> np.ndarray:
        """:attr:`coverage` on the cells of the area (:attr:`Baseline.inside`)."""
        return self.coverage[self.baseline.inside]


class WhatIf:
    """Incremental what-if on a :class:`Baseline`: weights change, terms stay."""

    def __init__(self, baseline: Baseline):
        self.baseline = baseline
        self.intensity = baseline.intensity_flat.copy()
        self.weight = {t.base_id: t.weight for t in baseline.model.terms}
        self.initial_weight = dict(self.weight)
        self.closed: list[str] = []
        self.national: dict[str, str | None] = {}  # handed-over base -> receiving force (None: no force named)
        self.touched = np.zeros(self.intensity.size, dtype=bool)  # cells whose intensity may differ from the baseline

    def set_weight(self, base_id: str, new: float) -> None:
        if base_id not in self.weight:
            raise LayerError(f"no base {base_id!r} in the analysis (it may lie outside the grid)")
        old = self.weight[base_id]
        if new == old:
            return
        t = self.baseline.model.term(base_id)
        self.intensity[t.reach.index] += (new - old) * self.baseline.protection(base_id)
        self.touched[t.reach.index] = True
        self.weight[base_id] = new

    def apply(self, step: Step) -> None:
        if step.kind == "close":
            self.set_weight(step.base_id, 0.0)
            self.closed.append(step.base_id)
        elif step.kind == "reduce":
            self.set_weight(step.base_id, self.baseline.weight_for(step.base_id, float(step.strength)))  # type: ignore[arg-type]
        elif step.kind == "handover":
            self.set_weight(step.base_id, self.baseline.weight_for(step.base_id, float(step.strength),  # type: ignore[arg-type]
                                                            readiness=float(step.readiness),  # type: ignore[arg-type]
                                                            unit_type=step.unit_type))
            self.closed.append(step.base_id)
            self.national[step.base_id] = step.to
        else:  # pragma: no cover - Step.kind is a Literal
            raise ValueError(step.kind)

    def coverage(self) -> np.ndarray:
        return -np.expm1(-np.maximum(self.intensity, 0.0))

    def national_intensity(self) -> np.ndarray:
        """The part of the intensity national forces provide (the handed-over bases' terms)."""
        out = np.zeros_like(self.intensity)
        for bid in self.national:
            t = self.baseline.model.term(bid)
            out[t.reach.index] += self.weight[bid] * self.baseline.protection(bid)
        return out

    def split_coverage(self) -> tuple[np.ndarray, np.ndarray]:
        """(mission coverage, national coverage), each ``1 - exp(-its own intensity)``."""
        nat = self.national_intensity()
        mission = np.maximum(self.intensity - nat, 0.0)
        return -np.expm1(-mission), -np.expm1(-np.maximum(nat, 0.0))

    def snapshot(self) -> tuple:
        """State to :meth:`restore` (a phase evaluated, then held)."""
        return self.intensity.copy(), dict(self.weight), list(self.closed), dict(self.national), self.touched.copy()

    def restore(self, snap: tuple) -> None:
        self.intensity, self.weight, self.closed, self.national = snap[0].copy(), dict(snap[1]), list(snap[2]), dict(snap[3])
        self.touched = snap[4].copy()

    def gap(self) -> np.ndarray:
        return self.baseline.need100 * np.exp(-np.maximum(self.intensity, 0.0))

    def run_phase(self, phase: ResolvedPhase) -> PhaseState:
        for s in phase.steps:
            self.apply(s)
        idx = np.flatnonzero(self.touched)
        return PhaseState(phase.name, phase.date, list(self.closed), idx, self.intensity[idx], self.baseline)

    def full_recompute(self) -> np.ndarray:
        """Intensity rebuilt from every term with the current weights (the reference the tests compare with)."""
        terms = [BaseTerm(t.base_id, self.weight[t.base_id], t.t_resp, t.t_max, t.reach, t.national)
                 for t in self.baseline.model.terms if self.weight[t.base_id] > 0]
        return CoverageModel(self.baseline.model.shape, terms).intensity.ravel()
