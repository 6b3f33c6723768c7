"""Run a withdrawal plan on a stored analysis and write what planners read.

Scenario folder::

    summary.json                 plan, per phase: closed bases, new vacuum, people and sites losing cover,
                                 coverage by the mission and by national forces, benchmarks go/hold
    benchmarks.json/.csv         every phase condition before/after its steps: value, threshold, pass, margin
    base_criticality.csv/.geojson  every base ranked by the vacuum its closure alone opens
    closing_order.json           greedy order vs the plan's, and the maximal-covering cross-check
    scenario.gpkg                new zones, admin change, sites losing cover per phase (EPSG:4326)
    phase_{k}/gap.tif coverage.tif gap_delta.tif coverage_delta.tif (COGs)
    phase_{k}/new_zones.geojson admin_change.csv admin_change.geojson lost_cover_sites.geojson
    phase_{k}/expected_change.json/.csv  expected change in events where cover is lost and in the
                                 15-30 / 30-60 km rings (low/central/high), from an effect estimate
                                 or a stated prior only; "not computed" without one

Deltas are against the baseline (the analysis), phases are cumulative.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio import features

from .benchmarks import BenchmarkContext, results_table
from .decision import (
    base_criticality,
    greedy_closing_order,
    maximal_covering_keep,
    order_cost,
    vacuum_measure,
)
from .effect import RINGS_KM, EffectEstimate, EffectPrior, expected_change
from .export import as_multi, write_csv, write_geojson, write_gpkg_layer, write_json
from .grid import Grid
from .legend import STYLES
from .national import NO_LAYER_NOTE
from .plan import Plan, ResolvedPhase, national_forces, resolve_plan
from .products import write_raster_styles
from .rasters import BackgroundWriter, write_cog
from .scenario import Baseline, PhaseState, WhatIf
from .scenario_benchmarks import (
    BenchmarkScopes,
    PhaseBenchmarks,
    coverage_split,
    load_zones,
    phase_benchmarks,
    write_benchmarks,
)
from .summaries import admin_summary, class_index
from .timeline import PhaseNeed, phase_need, phase_surfaces, versus_previous
from .traveltime import nearest_source
from .zones import label_zones, vacuum_zones

__all__ = ["PhaseResult", "evaluate_phase", "run_scenario", "nearest_remaining", "zone_possible"]


@dataclass
class PhaseResult:
    state: PhaseState
    new_zone_mask: np.ndarray  # flat bool: rose into high/critical
    lost_cover: np.ndarray  # flat bool: coverage fell below cover_threshold
    numbers: dict


def evaluate_phase(w: WhatIf, phase: ResolvedPhase, base_gap: np.ndarray, base_cov: np.ndarray,
                   cover_threshold: float = 0.5) -> PhaseResult:
    """Apply one phase (cumulatively) and measure it against the baseline. In memory, fast:
    the figures are the baseline's totals (:attr:`Baseline.gap_totals`) corrected on the cells
    the plan has touched so far, so the cost follows the changed bases' reach, not the grid.
    ``base_gap`` and ``base_cov`` are the baseline's gap and coverage (flat)."""
    b = w.baseline
    st = w.run_phase(phase)
    idx, g, c = st.touched, st.gap_touched, st.coverage_touched
    bg, bc, pop, ex = base_gap[idx], base_cov[idx], b.population[idx], b.exposure[idx]
    thr, hb = b.params.zone_threshold, b.params.class_breaks[2]
    ok = np.isfinite(g)
    new = ok & (g >= thr) & ~(bg >= thr)
    lost = ok & (bc >= cover_threshold) & (c < cover_threshold)
    tot = b.gap_totals
    d_gap = float((g[ok] - bg[ok]).sum())
    d_gap_ex = float((g[ok] * ex[ok]).sum() - (bg[ok] * ex[ok]).sum())
    hc_after = tot["people_high_critical"] - float(pop[ok & (bg >= hb)].sum()) + float(pop[ok & (g >= hb)].sum())
    den = b.exposure_total
    numbers = {
        "vacuum_measure": (tot["gap_exposure"] + d_gap_ex) / den if den > 0 else 0.0,
        "mean_gap": (tot["gap"] + d_gap) / tot["cells"] if tot["cells"] else float("nan"),
        "mean_gap_change": d_gap / tot["cells"] if tot["cells"] else float("nan"),
        "new_high_critical_km2": float(new.sum() * b.grid.cell_area_km2),
        "people_into_high_critical": float(pop[new].sum()),
        "population_losing_cover": float(pop[lost].sum()),
        "area_losing_cover_km2": float(lost.sum() * b.grid.cell_area_km2),
        "population_high_critical_before": tot["people_high_critical"],
        "population_high_critical_after": hc_after,
    }
    new_mask = np.zeros(b.grid.size, dtype=bool)
    new_mask[idx[new]] = True
    lost_mask = np.zeros(b.grid.size, dtype=bool)
    lost_mask[idx[lost]] = True
    return PhaseResult(st, new_mask, lost_mask, numbers)


def _opened_by(w: WhatIf, zones: gpd.GeoDataFrame, changed: list[str], b: Baseline) -> list[str | None]:
    """Per zone, the changed base whose lost protection there is largest."""
    if zones.empty or not changed:
        return [None] * len(zones)
    lab = features.rasterize(((g, int(z)) for g, z in zip(zones.geometry, zones["zone_id"], strict=True)),
                             out_shape=b.grid.shape, transform=b.grid.transform, fill=0, dtype="int32").ravel()
    n = int(zones["zone_id"].max()) + 1
    best = np.zeros(n)
    who: list[str | None] = [None] * n
    for bid in changed:
        t = b.model.term(bid)
        lost = (w.initial_weight[bid] - w.weight[bid]) * b.protection(bid)
        per = np.bincount(lab[t.reach.index], weights=lost, minlength=n)
        for z in np.flatnonzero(per > best):
            if z > 0:
                best[z], who[z] = per[z], bid
    return [who[int(z)] for z in zones["zone_id"]]


def run_scenario(
    baseline: Baseline,
    plan: Plan,
    out_dir: str | Path,
    *,
    closing_phases: int | None = None,
    cover_threshold: float = 0.5,
    progress: Callable[[str, float], None] | None = None,
    effect: EffectEstimate | EffectPrior | None = None,
    enforce: bool = False,
    history: gpd.GeoDataFrame | None = None,
) -> dict:
    """Evaluate the baseline and every phase cumulatively; write the scenario folder.

    ``effect`` (:func:`geo.effect.resolve_effect`) turns lost cover into an expected change in
    events per phase; without it the phases say that none was computed. A phase whose
    conditions fail is marked ``hold``; with ``enforce`` the plan stops there (that phase and
    the later ones are not applied) and ``summary.json.enforced`` says where and why.

    Each phase is also scored at its own date (:mod:`geo.timeline`): with ``history`` (dated
    events in the grid CRS) reaching the phase's date, the forecast is fitted again on the
    events known by then and the phase's gap at that date is reported (``dated``); otherwise
    the phase says that the as-of forecast was used. Every phase is measured against the
    previous one (``vs_previous``, and ``*_change_vs_previous`` in its admin table) as well as
    against the baseline."""
    b = baseline
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    zones_in = load_zones(b)
    phases = resolve_plan(plan, b.bases, b.admin, zones_in)
    forces = national_forces(plan)
    t_need = time.perf_counter()
    needs = phase_need([ph.date for ph in phases], as_of=b.as_of, risk=b.risk, exposure=b.exposure,
                       params=b.params, history=history, need100=b.need100,
                       refit=_refit(b) if history is not None else None)
    timings: dict[str, float] = {"phase_dates": round(time.perf_counter() - t_need, 4)}
    base_gap = b.baseline_gap()
    base_cov = -np.expm1(-np.maximum(b.model.intensity.ravel(), 0.0))
    ctx = BenchmarkContext(base_gap, base_cov, b.risk, b.population, b.grid.cell_area_km2, b.params.class_breaks[2],
                           b.params.zone_threshold, cover_threshold)
    scopes = BenchmarkScopes(b, zones_in, forces)
    shape = b.grid.shape
    gpkg = out / "scenario.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    w = WhatIf(b)
    phase_docs: list[dict] = []
    prev: PhaseState | None = None
    bench: list[PhaseBenchmarks] = []
    enforced: dict | None = None
    dated = _Dated(b, base_gap, base_cov)
    # the units' population comes with b.admin_cells
    admin_before = admin_summary(b.admin, b.grid, base_gap.reshape(shape).astype(np.float32), None,
                                 breaks=b.params.class_breaks, cells=b.admin_cells) if b.admin is not None else None
    # the phases' COGs are written on worker threads while the next products are computed
    with BackgroundWriter() as writer:
        for k, ph in enumerate(phases, start=1):
            if progress:
                progress("phases", (k - 1) / len(phases))
            t0 = time.perf_counter()
            before = ((prev.gap, prev.coverage) if prev is not None else (b.baseline_gap_flat, b.baseline_coverage_flat)) \
                if ph.conditions else None  # the state the earlier phases left
            snap = w.snapshot() if enforce and ph.conditions else None
            res = evaluate_phase(w, ph, base_gap, base_cov, cover_threshold)
            pb = None
            if before:
                before_in = ((prev.gap_inside, prev.coverage_inside) if prev is not None else
                             (b.baseline_gap_flat[b.inside], b.baseline_coverage_flat[b.inside]))
                pb = phase_benchmarks(k, ph, scopes, ctx, before, (res.state.gap, res.state.coverage),
                                      before_inside=before_in,
                                      after_inside=(res.state.gap_inside, res.state.coverage_inside))
            timings[f"phase_{k}_evaluate"] = round(time.perf_counter() - t0, 4)
            if pb is not None:
                bench.append(pb)
            if pb is not None and pb.status == "hold" and snap is not None:
                w.restore(snap)
                enforced = {"held_at_phase": k, "phase": ph.name, "reasons": pb.reasons,
                            "plan_that_holds": [p.name for p in phases[:k - 1]],
                            "not_applied": [p.name for p in phases[k - 1:]]}
                phases = phases[:k - 1]
                break
            prev = res.state
            res.numbers.update(coverage_split(w, cover_threshold, res.state.coverage_inside))
            vs_dates = dated.step(b, res, needs[k - 1], cover_threshold)
            phase_docs.append(_write_phase(k, ph, res, w, b, base_gap, base_cov, phases[:k], gpkg, admin_before,
                                           effect, out, timings, t0, dated, writer))
            phase_docs[-1].update(vs_dates)
            phase_docs[-1].update({"status": pb.status if pb else "go", "hold_reasons": pb.reasons if pb else [],
                                   "benchmarks": results_table(pb.results) if pb else []})
        write_benchmarks(out, bench, enforced)
        if progress:
            progress("phases", 1.0)
            progress("decision_support", 0.0)
        crit, order = _write_decision_support(b, phases, closing_phases, cover_threshold, out, gpkg, timings)
        if progress:
            progress("decision_support", 1.0)
    timings["rasters_wait"] = round(writer.waited_s, 4)
    summary = _summary(plan, b, cover_threshold, base_gap, phase_docs, crit, order, timings)
    summary["national_forces"] = ({"count": len(forces), "strength": float(sum(f.strength for f in forces))}
                                  if forces else {"count": 0, "note": NO_LAYER_NOTE})
    summary["enforced"] = enforced
    write_json(summary, out / "summary.json")
    return summary


def _write_phase(k: int, ph: ResolvedPhase, res: PhaseResult, w: WhatIf, b: Baseline, base_gap: np.ndarray,
                 base_cov: np.ndarray, phases_so_far: list[ResolvedPhase], gpkg: Path,
                 admin_before: pd.DataFrame | None, effect: EffectEstimate | EffectPrior | None, out: Path,
                 timings: dict[str, float], t0: float, dated: _Dated, writer: BackgroundWriter) -> dict:
    """phase_k/: rasters (handed to ``writer``), new zones, lost sites, admin change, expected
    change; returns the phase's summary entry."""
    d = out / f"phase_{k}"
    d.mkdir(exist_ok=True)
    gap2 = _write_phase_rasters(d, b, ph, res, base_gap, base_cov, writer)
    zones = _phase_zones(w, b, res, phases_so_far)
    write_geojson(zones, d / "new_zones.geojson")
    write_gpkg_layer(as_multi(zones), gpkg, f"new_zones_phase_{k}", geometry_type="MultiPolygon")
    lost_sites = _write_lost_sites(b, res, base_cov, d, gpkg, k)
    if admin_before is not None and b.admin is not None:
        dated.admin = _write_admin_change(b, b.admin, admin_before, gap2, d, gpkg, k, dated.admin)
    timings[f"phase_{k}_total"] = round(time.perf_counter() - t0, 4)
    doc = _phase_doc(k, ph, res, zones, lost_sites)
    doc["expected_change"] = _write_expected_change(b, res, phases_so_far, effect, d)
    return doc


def _summary(plan: Plan, b: Baseline, cover_threshold: float, base_gap: np.ndarray, phase_docs: list[dict],
             crit: pd.DataFrame, order: dict, timings: dict[str, float]) -> dict:
    """summary.json: the plan, the baseline, every phase and the decision support."""
    return {
        "plan": plan.name,
        "analysis": str(b.folder),
        "as_of": b.as_of.isoformat(),
        "cover_threshold": cover_threshold,
        "baseline": {"vacuum_measure": vacuum_measure(base_gap, b.exposure), "mean_gap": float(np.nanmean(base_gap)),
                     "population_high_critical": _people_high_critical(b, base_gap)},
        "phases": phase_docs,
        "most_critical_bases": crit.head(5)[["rank", "base_id", "name", "added_vacuum", "population_losing_cover"]].to_dict("records"),
        "closing_order": {**{k: order[k] for k in ("plan_cumulative_vacuum", "suggested_cumulative_vacuum", "improvement_pct")},
                          "mission_wide": ({k: order["mission_wide"][k] for k in ("cumulative_vacuum", "improvement_pct")}
                                           if "mission_wide" in order else None)},
        "timings_s": timings,
    }


def _people_high_critical(b: Baseline, gap: np.ndarray) -> float:
    """People in cells of class high or critical of ``gap`` (flat), summed over the area's cells
    only (the others have no gap: the same cells in the same order)."""
    g = gap[b.inside]
    return float(b.population_inside[np.isfinite(g) & (class_index(g, b.params.class_breaks) >= 3)].sum())


def _effect_areas(b: Baseline, res: PhaseResult, phases_so_far: list[ResolvedPhase],
                  months: int = 12) -> tuple[dict[str, float], dict[str, float]]:
    """Area (km²) and events per month over the ``months`` before the as-of date in the cells
    that lose cover and in the 15-30 / 30-60 km rings around the bases changed so far (the rings
    leave out cells that lose cover)."""
    ok = np.isfinite(res.state.gap)
    masks = {"lost_cover": res.lost_cover & ok}
    changed = list(dict.fromkeys(s.base_id for p in phases_so_far for s in p.steps))
    rows = b.bases[b.bases["base_id"].isin(changed)]
    x, y = b.grid.cell_centres()
    d2 = np.full(b.grid.shape, np.inf)
    for g in rows.geometry:
        d2 = np.minimum(d2, (y[:, None] - g.y) ** 2 + (x[None, :] - g.x) ** 2)
    dist_km = np.sqrt(d2).ravel() / 1000.0
    for (lo, hi), name in zip(RINGS_KM[1:], ("15-30km", "30-60km"), strict=True):
        masks[name] = ok & ~masks["lost_cover"] & (dist_km >= lo) & (dist_km < hi)
    per_cell = np.zeros(b.grid.size)
    if len(b.events):
        start = pd.Timestamp(b.as_of) - pd.DateOffset(months=months)
        ev = b.events[(b.events["date"] > start) & (b.events["date"] <= pd.Timestamp(b.as_of))]
        r, c, inside = b.grid.rowcol(ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy())
        np.add.at(per_cell, (r * b.grid.width + c)[inside], 1.0)
    area = {k: float(m.sum() * b.grid.cell_area_km2) for k, m in masks.items()}
    rate = {k: float(per_cell[m].sum() / months) for k, m in masks.items()}
    return area, rate


def _write_expected_change(b: Baseline, res: PhaseResult, phases_so_far: list[ResolvedPhase],
                           effect: EffectEstimate | EffectPrior | None, d: Path) -> dict:
    """phase_k/expected_change.json and .csv; returns the summary.json entry. Only an effect
    estimate or a stated prior is used, never the coverage-violence association."""
    if effect is None:
        doc = expected_change(None, {}, {})
    else:
        area, rate = _effect_areas(b, res, phases_so_far)
        doc = expected_change(effect, area, rate, months=12)
    write_json(doc, d / "expected_change.json")
    write_csv(pd.DataFrame(doc["areas"], columns=["area", "ring", "area_km2", "baseline_events", "scale",
                                                  "relative_low", "relative_central", "relative_high",
                                                  "low", "central", "high"]).assign(source=doc.get("source", "none")),
              d / "expected_change.csv")
    return doc


def _write_phase_rasters(d: Path, b: Baseline, ph: ResolvedPhase, res: PhaseResult,
                         base_gap: np.ndarray, base_cov: np.ndarray, writer: BackgroundWriter) -> np.ndarray:
    """gap, coverage and their change against the baseline as styled COGs, written (the changes
    also computed) on ``writer``'s threads; returns the gap grid."""
    shape = b.grid.shape
    gap, coverage = res.state.gap, res.state.coverage
    gap2 = gap.reshape(shape).astype(np.float32)
    cov2 = np.where(np.isfinite(gap), coverage, np.nan).reshape(shape).astype(np.float32)
    rasters = {"gap": (gap2, f"gap after {ph.name}", "score 0..100"),
               "coverage": (cov2, f"coverage after {ph.name}", "0..1"),
               "gap_delta": (lambda: (gap - base_gap).reshape(shape).astype(np.float32),
                             f"gap change, {ph.name} vs baseline", "score points"),
               "coverage_delta": (lambda: (cov2.ravel() - base_cov).reshape(shape).astype(np.float32),
                                  f"coverage change, {ph.name} vs baseline", "change in 0..1")}
    for name, (values, description, unit) in rasters.items():
        writer.submit(_write_styled_cog, d / f"{name}.tif", values, b.grid, description, unit, name)
    return gap2


def _write_styled_cog(path: Path, values: np.ndarray | Callable[[], np.ndarray], grid: Grid, description: str,
                      unit: str, style: str) -> None:
    """One COG (of ``values``, or of what it returns) and its QGIS/SLD styles."""
    arr = values() if callable(values) else values
    write_raster_styles(write_cog(path, arr, grid, description=description, unit=unit, threads=1), STYLES[style])


def nearest_remaining(w: WhatIf, b: Baseline) -> tuple[gpd.GeoDataFrame, np.ndarray | None, np.ndarray | None]:
    """Base rows, and per cell the row of the nearest UN base still open and its travel time
    (None without roads). The search over the bases open in the analysis is done once
    (:attr:`Baseline.nearest_open`) and redone only where the plan closed a cell's nearest base."""
    # UN bases still open (handed-over bases are national forces now, not "remaining")
    remaining = [t.base_id for t in b.model.terms
                 if not t.national and w.weight[t.base_id] > 0 and t.base_id not in w.closed]
    rows = b.bases.reset_index(drop=True)
    if b.graph is None or not remaining:
        return rows, None, None
    on_grid = [bid for bid in remaining if bid in b.base_cells]
    ids, search = b.nearest_open  # type: ignore[misc]  # a graph: not None
    if set(on_grid) <= set(ids):
        keep = set(on_grid)
        near_t, which = search.without(b.graph, [i for i, bid in enumerate(ids) if bid not in keep]).on_grid(b.graph)
        src = ids
    else:  # a base open now that was not in the analysis' search (a reinforced empty site)
        near_t, which = nearest_source(b.graph, [b.base_cells[bid][1] for bid in on_grid], b.params.travel_time_cap_h)
        src = on_grid
    src_rows = np.array([b.base_cells[bid][0] for bid in src], dtype=np.int32)
    near_b = np.where(which >= 0, src_rows[np.clip(which, 0, None)] if len(src_rows) else -1, -1)
    return rows, near_b, near_t


def _phase_zones(w: WhatIf, b: Baseline, res: PhaseResult, phases_so_far: list[ResolvedPhase]) -> gpd.GeoDataFrame:
    """New vacuum zones, with the nearest remaining base, its travel time and the base that opened each.
    The nearest remaining base (a search over the whole grid) is looked for only when the new
    cells can make a zone at all."""
    shape = b.grid.shape
    p = b.params
    if not zone_possible(res.new_zone_mask, b):
        zones = b.empty_zones.copy()
    else:
        rows, near_b, near_t = nearest_remaining(w, b)
        masked = np.where(res.new_zone_mask, res.state.gap, np.nan).reshape(shape).astype(np.float32)
        zones = vacuum_zones(masked, b.grid, threshold=p.zone_threshold, min_area_km2=p.zone_min_area_km2,
                             population=b.population.reshape(shape), events=b.events,
                             bases=rows if near_b is not None else None,
                             nearest_base=near_b, nearest_time=near_t, breaks=p.class_breaks)
    changed = [s.base_id for p in phases_so_far for s in p.steps]
    zones["opened_by"] = _opened_by(w, zones, list(dict.fromkeys(changed)), b)
    return zones.rename(columns={"nearest_base_id": "nearest_remaining_base_id",
                                 "nearest_base_name": "nearest_remaining_base_name"})


def zone_possible(mask: np.ndarray, b: Baseline) -> bool:
    """False when no vacuum zone can come out of the cells of ``mask`` (flat bool): its largest
    8-connected part is smaller than a zone's minimum area. vacuum_zones keeps a part of at least
    ceil(min_area / cell_area - 1e-9) cells; the looser 1e-6 here never rules out one it keeps."""
    need = max(1, math.ceil(b.params.zone_min_area_km2 / b.grid.cell_area_km2 - 1e-6))
    n = int(np.count_nonzero(mask))
    if n == 0 or n < need:
        return False
    labels, k = label_zones(mask.reshape(b.grid.shape))
    return k > 0 and int(np.bincount(labels.ravel())[1:].max()) >= need


def _write_lost_sites(b: Baseline, res: PhaseResult, base_cov: np.ndarray, d: Path, gpkg: Path,
                      k: int) -> gpd.GeoDataFrame | None:
    """Sites losing cover, with coverage before and after; None without sites."""
    if b.sites is None or not len(b.sites):
        return None
    r, c, ok = b.grid.rowcol(b.sites.geometry.x.to_numpy(), b.sites.geometry.y.to_numpy())
    flat = np.where(ok, r * b.grid.width + c, 0)
    hit = ok & res.lost_cover[flat]
    lost_sites = b.sites[hit].copy()
    lost_sites["coverage_before"] = base_cov[flat[hit]]
    lost_sites["coverage_after"] = res.state.coverage[flat[hit]]
    write_geojson(lost_sites, d / "lost_cover_sites.geojson")
    write_gpkg_layer(lost_sites, gpkg, f"lost_cover_sites_phase_{k}")
    return lost_sites


def _write_admin_change(b: Baseline, admin: gpd.GeoDataFrame, admin_before: pd.DataFrame, gap2: np.ndarray,
                        d: Path, gpkg: Path, k: int, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Admin units before / after the phase, largest rise of the population-weighted gap first;
    ``*_change_vs_previous`` against the previous phase's table (phase 1: the baseline).
    Returns this phase's table of the units (for the next phase)."""
    after = (admin_summary(admin, b.grid, gap2, None, breaks=b.params.class_breaks, cells=b.admin_cells)
             if admin is b.admin else  # the units' population comes with b.admin_cells
             admin_summary(admin, b.grid, gap2, b.population.reshape(b.grid.shape), breaks=b.params.class_breaks))
    stats = ["mean_gap", "max_gap", "pop_weighted_gap", "pop_high_or_critical"]
    tab = admin_before[["admin_id", "name", "level", *stats]].merge(
        after[["admin_id", *stats]], on="admin_id", suffixes=("_before", "_after"))
    prev = (previous if previous is not None else admin_before)[["admin_id", *stats]]
    tab = tab.merge(prev.rename(columns={s_: f"{s_}_previous" for s_ in stats}), on="admin_id", how="left")
    for stat in stats:
        tab[f"{stat}_change"] = tab[f"{stat}_after"] - tab[f"{stat}_before"]
        tab[f"{stat}_change_vs_previous"] = tab[f"{stat}_after"] - tab.pop(f"{stat}_previous")
    tab = tab.sort_values("pop_weighted_gap_change", ascending=False, kind="stable")
    write_csv(tab, d / "admin_change.csv")
    g = admin[["admin_id", "geometry"]].merge(tab, on="admin_id")
    write_geojson(g, d / "admin_change.geojson")
    write_gpkg_layer(g, gpkg, f"admin_change_phase_{k}")
    return after


def _phase_doc(k: int, ph: ResolvedPhase, res: PhaseResult, zones: gpd.GeoDataFrame,
               lost_sites: gpd.GeoDataFrame | None) -> dict:
    """The summary.json entry of one phase."""
    return {
        "phase": k, "name": ph.name, "date": ph.date.isoformat(),
        "steps": [{"kind": s.kind, "base_id": s.base_id, "strength": s.strength, "readiness": s.readiness,
                   **({"to": s.to} if s.to else {})} for s in ph.steps],
        "closed": res.state.closed,
        "new_zones": {"count": len(zones), "area_km2": float(zones["area_km2"].sum()) if len(zones) else 0.0,
                      "population": float(zones["population"].sum()) if len(zones) else 0.0,
                      "largest": (zones.iloc[0][["zone_id", "area_km2", "population", "opened_by",
                                                 "nearest_remaining_base_name", "travel_time_h"]].to_dict()
                                  if len(zones) else None)},
        "sites_losing_cover": ([] if lost_sites is None else
                               [_lost_site(r) for r in lost_sites.to_dict("records")]),
        **res.numbers,
    }


def _refit(b: Baseline) -> Callable[[gpd.GeoDataFrame, date], tuple[np.ndarray | None, str]]:
    """The forecast fitted again at a later date on the events known by then, on the
    analysis' grid, area and parameters (flat risk per cell); None, with the reason, when
    the history is too short for a probability (the past-events kernel fallback)."""
    from .risk import forecast_risk

    inside = np.isfinite(b.need100).reshape(b.grid.shape)

    def refit(known: gpd.GeoDataFrame, day: date) -> tuple[np.ndarray | None, str]:
        fc = forecast_risk(known, b.grid, inside, b.params, day)
        if not fc.is_probability:
            return None, fc.note or fc.method
        return fc.on_grid(b.grid).ravel(), ""

    return refit


class _Dated:
    """What a phase is measured against: the previous phase's gap and coverage (as-of
    forecast) and its gap at its own date; the previous phase's admin table."""

    def __init__(self, b: Baseline, base_gap: np.ndarray, base_cov: np.ndarray):
        self.cov, self.gap_at_date = base_cov, base_gap
        # the previous gap and coverage on the area's cells (versus_previous leaves the others out: no gap)
        self.gap_in, self.cov_in = base_gap[b.inside], base_cov[b.inside]
        self.admin: pd.DataFrame | None = None

    def step(self, b: Baseline, res: PhaseResult, need: PhaseNeed, cover_threshold: float) -> dict:
        gap, cov = res.state.gap, res.state.coverage
        gap_in, cov_in = res.state.gap_inside, res.state.coverage_inside
        kw = {"zone_threshold": b.params.zone_threshold, "cover_threshold": cover_threshold,
              "cell_area_km2": b.grid.cell_area_km2}
        doc: dict = {"vs_previous": versus_previous(self.gap_in, self.cov_in, gap_in, cov_in, b.population_inside, **kw),
                     "dated": need.describe()}
        gap_d = gap if need.method == "as_of" else phase_surfaces(need.need100, res.state.intensity)[0]
        if need.method == "refit":
            ok = np.isfinite(gap_d)
            doc["dated"].update({
                "mean_gap": float(np.nanmean(gap_d)), "vacuum_measure": vacuum_measure(gap_d, b.exposure),
                "population_high_critical": float(b.population[ok & (gap_d >= b.params.class_breaks[2])].sum()),
                "vs_previous": versus_previous(self.gap_at_date, self.cov, gap_d, cov, b.population, **kw)})
        self.cov, self.gap_at_date = cov, gap_d
        self.gap_in, self.cov_in = gap_in, cov_in
        return doc


def _write_decision_support(b: Baseline, phases: list[ResolvedPhase], closing_phases: int | None,
                            cover_threshold: float, out: Path, gpkg: Path,
                            timings: dict[str, float]) -> tuple[pd.DataFrame, dict]:
    """Base criticality and the closing order, written and timed; returns both."""
    t0 = time.perf_counter()
    crit = base_criticality(b, cover_threshold=cover_threshold)
    timings["criticality"] = round(time.perf_counter() - t0, 4)
    write_csv(crit, out / "base_criticality.csv")
    cg = b.bases[["base_id", "geometry"]].merge(crit, on="base_id")
    write_geojson(cg, out / "base_criticality.geojson")
    write_gpkg_layer(cg, gpkg, "base_criticality")
    order = _closing_order(b, phases, closing_phases)
    timings["closing_order"] = order.pop("_seconds")
    write_json(order, out / "closing_order.json")
    return crit, order


def _closing_order(b: Baseline, phases: list[ResolvedPhase], n_phases: int | None) -> dict:
    t0 = time.perf_counter()
    plan_groups = [[s.base_id for s in p.steps if s.kind == "close"] for p in phases]
    plan_groups = [g for g in plan_groups if g]
    to_close = [x for g in plan_groups for x in g]
    if not to_close:
        return {"note": "the plan closes no base", "plan_cumulative_vacuum": None, "suggested_cumulative_vacuum": None,
                "improvement_pct": None, "_seconds": round(time.perf_counter() - t0, 4)}
    seq = greedy_closing_order(b, to_close)
    order = [x for x, _ in seq]
    if n_phases:
        # the same number of closures per phase for both orders: the plan's sequence
        # (phase by phase, as listed) and the suggested one, split evenly into n phases
        from .decision import phase_sizes

        sizes = phase_sizes(len(to_close), n_phases)
        plan_groups = _split(to_close, sizes)
    else:
        sizes = [len(g) for g in plan_groups]
    groups = _split(order, sizes)
    plan_curve = order_cost(b, plan_groups)
    sugg_curve = order_cost(b, groups)
    plan_sum, sugg_sum = float(sum(plan_curve)), float(sum(sugg_curve))
    out = {
        "measure": "exposure-weighted mean gap after each phase; cumulative = sum over phases (lower is better)",
        "plan_phases": plan_groups, "plan_curve": plan_curve, "plan_cumulative_vacuum": plan_sum,
        "suggested_phases": groups, "suggested_curve": sugg_curve, "suggested_cumulative_vacuum": sugg_sum,
        "improvement_pct": (100.0 * (plan_sum - sugg_sum) / plan_sum) if plan_sum > 0 else 0.0,
        "greedy_sequence": [{"base_id": s, "vacuum_after": v} for s, v in seq],
    }
    out["mission_wide"] = _mission_wide_order(b, plan_groups, plan_curve)
    n_keep = len([t for t in b.model.terms if not t.national]) - len(to_close)
    if n_keep > 0:
        try:
            mclp = maximal_covering_keep(b, n_keep)
        except Exception as exc:  # noqa: BLE001 - the cross-check is optional; record why it failed
            out["maximal_covering"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            all_ids = [t.base_id for t in b.model.terms if not t.national]
            plan_keep = sorted(set(all_ids) - set(to_close))
            greedy_all = [s for s, _ in greedy_closing_order(b, all_ids, count=len(to_close))]
            greedy_keep = sorted(set(all_ids) - set(greedy_all))
            mk = set(mclp["keep"])
            mclp["plan_keeps"] = plan_keep
            mclp["greedy_keeps"] = greedy_keep
            mclp["overlap_with_plan"] = _jaccard(mk, set(plan_keep))
            mclp["overlap_with_greedy"] = _jaccard(mk, set(greedy_keep))
            out["maximal_covering"] = mclp
    out["_seconds"] = round(time.perf_counter() - t0, 4)
    return out


def _mission_wide_order(b: Baseline, plan_groups: list[list[str]], plan_curve: list[float]) -> dict:
    """The greedy over every base of the mission (not only the plan's), freeing as many troops
    as the plan's closures do phase by phase: least added vacuum per troop freed."""
    from .decision import base_troops

    troops = base_troops(b)
    steps = np.cumsum([sum(troops.get(x, 0.0) for x in g) for g in plan_groups])
    seq = greedy_closing_order(b, None, troops_to_free=float(steps[-1]) if len(steps) else 0.0)
    groups: list[list[str]] = [[] for _ in plan_groups]
    freed, k = 0.0, 0
    for bid, _ in seq:
        while k < len(steps) - 1 and freed >= steps[k]:
            k += 1
        groups[k].append(bid)
        freed += troops.get(bid, 0.0)
    curve = order_cost(b, groups)
    ps, ms = float(sum(plan_curve)), float(sum(curve))
    return {"candidates": "every base of the mission with troops",
            "troops_freed_per_phase": [float(x) for x in steps], "phases": groups, "curve": curve,
            "cumulative_vacuum": ms, "improvement_pct": (100.0 * (ps - ms) / ps) if ps > 0 else 0.0,
            "greedy_sequence": [{"base_id": x, "troops": troops.get(x, 0.0), "vacuum_after": v} for x, v in seq]}


def _lost_site(r: dict) -> dict:
    """A site losing cover: its name and layer kind; for a protected site (``critical``) its
    kind (IDP camp, hospital, ...) and people (None when the layer gives none)."""
    out = {"name": r["name"], "kind": r["kind"]}
    if r["kind"] == "critical":
        pop = r.get("population")
        out["site_kind"] = str(r.get("subtype") or "") or None
        out["people"] = None if pop is None or pop != pop else float(pop)
    return out


def _split(seq: list[str], sizes: list[int]) -> list[list[str]]:
    out, i = [], 0
    for n in sizes:
        out.append(seq[i:i + n])
        i += n
    return out


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0
