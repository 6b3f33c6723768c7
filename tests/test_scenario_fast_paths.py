"""The scenario's shortcuts give what the long way gives: the nearest remaining base from the
analysis' search updated for the closures, against a new search; no search at all where no
zone can form; coverage figures and benchmarks on the area's cells, against the whole grid."""

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from test_scenario import _plan, six, two_bases  # noqa: F401  (fixtures)

import geo.scenario_products as sp
from geo.grid import Grid, equal_area_crs
from geo.plan import ResolvedPhase, Step
from geo.scenario import WhatIf, load_baseline
from geo.scenario_benchmarks import coverage_split
from geo.traveltime import nearest_source
from geo.zones import vacuum_zones


def test_nearest_remaining_base_equals_a_search_over_the_open_bases(six):  # noqa: F811
    bl, rows = six
    assert bl.graph is not None
    w = WhatIf(bl)
    for step in (Step("close", rows[0][0]), Step("reduce", rows[1][0], strength=35.0),
                 Step("handover", rows[2][0], strength=rows[2][1], readiness=0.5), Step("close", rows[5][0])):
        w.apply(step)
        out_rows, near_b, near_t = sp.nearest_remaining(w, bl)
        # by hand: the mission's bases still open (handed-over ones are national forces now)
        open_ids = [r[0] for r in rows if w.weight[r[0]] > 0 and r[0] not in w.closed]
        cells = [bl.base_cells[b][1] for b in open_ids]
        t_ref, which = nearest_source(bl.graph, cells, bl.params.travel_time_cap_h)
        row_of = {b: i for i, b in enumerate(out_rows["base_id"])}
        b_ref = np.where(which >= 0, np.array([row_of[b] for b in open_ids])[np.clip(which, 0, None)], -1)
        np.testing.assert_array_equal(near_t, t_ref)
        np.testing.assert_array_equal(near_b, b_ref)


def test_a_phase_without_a_new_zone_searches_no_travel_time(two_bases, tmp_path, monkeypatch):  # noqa: F811
    def no_search(*_a, **_k):
        raise AssertionError("the nearest remaining base was searched for")

    monkeypatch.setattr(sp, "nearest_remaining", no_search)
    bl = load_baseline(two_bases)
    s = sp.run_scenario(bl, _plan([{"reduce": {"base": "a", "strength": 600}}]), tmp_path)
    assert s["phases"][0]["new_zones"]["count"] == 0
    zones = gpd.read_file(tmp_path / "phase_1/new_zones.geojson")
    assert len(zones) == 0
    # the empty table is vacuum_zones' own, on the analysis' grid
    empty = vacuum_zones(np.full(bl.grid.shape, np.nan), bl.grid)
    assert list(bl.empty_zones.columns) == list(empty.columns)
    assert bl.empty_zones.crs == empty.crs
    assert (bl.empty_zones.dtypes == empty.dtypes).all()


def _zone_args(min_area_km2: float):
    grid = Grid(equal_area_crs(20, 6), Affine(1000, 0, 0, 0, -1000, 12_000), 12, 12)
    return SimpleNamespace(grid=grid, params=SimpleNamespace(zone_min_area_km2=min_area_km2))


@pytest.mark.parametrize("min_area", [0.5, 1.0, 3.0, 4.0, 9.5])
def test_zone_possible_never_rules_out_a_zone_that_vacuum_zones_keeps(min_area):
    b = _zone_args(min_area)
    rng = np.random.default_rng(int(min_area * 10))
    for density in (0.02, 0.05, 0.1, 0.2):
        for _ in range(20):
            mask = rng.random(b.grid.shape) < density
            zones = vacuum_zones(np.where(mask, 90.0, np.nan), b.grid, threshold=50, min_area_km2=min_area)
            if len(zones):
                assert sp.zone_possible(mask.ravel(), b)


def test_zone_possible_by_hand():
    b = _zone_args(4.0)  # 1 km² cells: a zone needs 4 connected cells
    mask = np.zeros((12, 12), dtype=bool)
    assert not sp.zone_possible(mask.ravel(), b)
    mask[0, 0:3] = True  # 3 cells
    mask[5, 5] = mask[6, 6] = True  # 2 cells, diagonal: 8-connected
    assert not sp.zone_possible(mask.ravel(), b)
    mask[7, 7] = mask[8, 8] = True  # now 4 on one diagonal
    assert sp.zone_possible(mask.ravel(), b)


def test_coverage_split_on_the_area_equals_the_whole_grid_s(six):  # noqa: F811
    bl, rows = six
    w = WhatIf(bl)
    w.apply(Step("close", rows[0][0]))
    w.apply(Step("handover", rows[3][0], strength=rows[3][1], readiness=0.4))
    for state in ("with national forces", "without"):
        mission, national = w.split_coverage()
        ok = np.isfinite(bl.need100)
        by_grid = {"mission_coverage_mean": float(mission[ok].mean()),
                   "national_coverage_mean": float(national[ok].mean()),
                   "population_covered_mission": float(bl.population[ok & (mission >= 0.5)].sum()),
                   "population_covered_national": float(bl.population[ok & (national >= 0.5)].sum())}
        assert coverage_split(w, 0.5) == by_grid, state
        w = WhatIf(bl)
        w.apply(Step("close", rows[0][0]))
    st = w.run_phase(ResolvedPhase("p", bl.as_of, ()))
    assert coverage_split(w, 0.5, st.coverage_inside) == coverage_split(w, 0.5)
    np.testing.assert_array_equal(st.gap_inside, st.gap[bl.inside])


def test_benchmarks_over_the_area_on_its_cells_equal_the_whole_grid_s(two_bases):  # noqa: F811
    from geo.benchmarks import BenchmarkContext
    from geo.plan import parse_plan, resolve_plan
    from geo.scenario_benchmarks import BenchmarkScopes, phase_benchmarks

    bl = load_baseline(two_bases)
    conds = [{"condition": c, "op": "<=", "threshold": t} for c, t in
             (("gap_mean", 100), ("people_losing_cover", 0), ("people_high_or_critical", 1e9),
              ("new_zone_area_km2", 0), ("risk", 1))]
    conds.append({"condition": "gap_mean", "unit": "West", "op": "<", "threshold": 50})
    plan = parse_plan({"name": "t", "phases": [{"name": "p", "date": "2021-01-01", "actions": [{"close": ["a"]}],
                                                "conditions": conds}]})
    ph = resolve_plan(plan, bl.bases, bl.admin, None)[0]
    base_gap, base_cov = bl.baseline_gap(), -np.expm1(-np.maximum(bl.model.intensity.ravel(), 0.0))
    ctx = BenchmarkContext(base_gap, base_cov, bl.risk, bl.population, bl.grid.cell_area_km2,
                           bl.params.class_breaks[2], bl.params.zone_threshold, 0.5)
    w = WhatIf(bl)
    st = w.run_phase(ph)
    before = (bl.baseline_gap_flat, bl.baseline_coverage_flat)
    whole = phase_benchmarks(1, ph, BenchmarkScopes(bl, None, None), ctx, before, (st.gap, st.coverage))
    ins = bl.inside
    fast = phase_benchmarks(1, ph, BenchmarkScopes(bl, None, None), ctx, before, (st.gap, st.coverage),
                            before_inside=(before[0][ins], before[1][ins]),
                            after_inside=(st.gap_inside, st.coverage_inside))
    assert len(whole.results) == 6
    assert fast.results == whole.results
