"""Benchmarks in plans, handover to national forces, plan errors with their lines.

Pure metrics on a 2 x 3 grid computed by hand; then the scenario on two bases 20 km apart
(the same layout as tests/test_scenario.py): hold, enforce, a handover to a named force.
"""

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.benchmarks import (
    BenchmarkContext,
    ConditionSpec,
    compare,
    evaluate_condition,
    metric_value,
    weighted_readiness,
)
from geo.grid import equal_area_crs
from geo.national import allot_strength
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.plan import PlanError, load_plan, parse_plan, resolve_plan
from geo.products import write_analysis
from geo.rasters import read_surface
from geo.scenario import WhatIf, load_baseline
from geo.scenario_products import run_scenario

# ---------------------------------------------------------------- pure metrics, by hand
#   cells 0 1 2 / 3 4 5; cell 5 outside the area (NaN gap); scope = cells 0, 1, 3, 4, 5
GAP = np.array([10.0, 40.0, 60.0, 30.0, 50.0, np.nan])
BASE_GAP = np.array([10.0, 20.0, 60.0, 30.0, 40.0, np.nan])
COV = np.array([0.9, 0.4, 0.1, 0.6, 0.2, 0.0])
BASE_COV = np.array([0.9, 0.7, 0.1, 0.6, 0.8, 0.0])
POP = np.array([100.0, 200.0, 300.0, 400.0, 500.0, 600.0])
RISK = np.array([0.1, 0.2, 0.3, 0.4, 0.5, np.nan])
MASK = np.array([True, True, False, True, True, True])
CTX = BenchmarkContext(BASE_GAP, BASE_COV, RISK, POP, cell_area_km2=4.0, high_break=35.0, zone_threshold=35.0,
                       cover_threshold=0.5)


@pytest.mark.parametrize("metric, expected", [
    ("gap_mean", (10 + 40 + 30 + 50) / 4),          # cell 5 is outside the area, cell 2 outside the scope
    ("risk", (0.1 + 0.2 + 0.4 + 0.5) / 4),
    ("people_high_or_critical", 200 + 500),          # gap 40 and 50 >= 35
    ("people_losing_cover", 200 + 500),              # cover 0.7 -> 0.4 and 0.8 -> 0.2; cell 3 stays at 0.6
    ("new_zone_area_km2", 4.0 * 1),                  # cell 1 rose 20 -> 40; cell 4 was already at 40
])
def test_each_metric_by_hand(metric, expected):
    assert metric_value(metric, GAP, COV, MASK, CTX) == pytest.approx(expected)


def test_compare_margins_and_no_value():
    assert compare("<", 3.0, 5.0) == (True, 2.0)
    assert compare("<", 5.0, 5.0) == (False, 0.0)
    assert compare("<=", 5.0, 5.0) == (True, 0.0)
    assert compare(">=", 0.4, 0.5) == (False, pytest.approx(-0.1))
    assert compare(">", 0.7, 0.5) == (True, pytest.approx(0.2))
    ok, margin = compare("<", math.nan, 5.0)
    assert not ok and math.isnan(margin)


def test_readiness_is_strength_weighted():
    assert weighted_readiness(np.array([300.0, 100.0]), np.array([0.6, 0.2])) == pytest.approx((180 + 20) / 400)
    assert math.isnan(weighted_readiness(np.array([]), np.array([])))


def test_condition_judged_before_or_after():
    before = (BASE_GAP, BASE_COV)
    spec_after = ConditionSpec("people_losing_cover", "<=", 500.0)
    r = evaluate_condition(spec_after, 1, "p", before, (GAP, COV), MASK, CTX)
    assert (r.value_before, r.value_after, r.passed, r.margin) == (0.0, 700.0, False, -200.0)
    assert "people_losing_cover in whole area after the phase is 700, needs <= 500" == r.reason
    r = evaluate_condition(ConditionSpec("people_losing_cover", "<=", 500.0, at="before"), 1, "p", before,
                           (GAP, COV), MASK, CTX)
    assert r.passed and r.value == 0.0 and r.margin == 500.0


def test_allotment_splits_the_rest_evenly():
    assert allot_strength(600, [None, 100, None]) == [250.0, 100.0, 250.0]
    with pytest.raises(ValueError, match="ask for 700 troops, the force has 600"):
        allot_strength(600, [300, 400])


# ---------------------------------------------------------------- the scenario on two bases
CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1], "parent": [None, None]},
                        geometry=[box(-30_000, -20_000, 0, 20_000), box(0, -20_000, 30_000, 20_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)


def _bases(rows):
    return gpd.GeoDataFrame(
        {"base_id": [r[0] for r in rows], "name": [r[0] for r in rows], "strength": [float(r[1]) for r in rows],
         "unit_type": ["infantry"] * len(rows), "mission": ["M"] * len(rows)},
        geometry=[Point(r[2], r[3]) for r in rows], crs=CRS)


def _events(pts):
    return gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))],
                             "date": pd.to_datetime(["2020-06-01"] * len(pts)),
                             "event_type": ["one_sided"] * len(pts), "fatalities": [3.0] * len(pts)},
                            geometry=[Point(*p) for p in pts], crs=CRS)


@pytest.fixture(scope="module")
def two_bases(tmp_path_factory):
    """Base a in the west, b in the east, 20 km apart, 650 troops each; each reaches 20 km (2 h at 10 km/h)."""
    folder = tmp_path_factory.mktemp("two")
    a = analyze(AnalysisInputs(bases=_bases([("a", 650, -10_000, 0), ("b", 650, 10_000, 0)]),
                               events=_events([(-10_000, 5_000), (10_000, 5_000), (25_000, 0)]), admin=AREA),
                P, pd.Timestamp("2020-07-01").date())
    write_analysis(a, folder)
    return folder


def _baseline(folder):
    bl = load_baseline(folder)
    bl.population = np.where(np.isfinite(bl.need100), 10.0, 0.0)  # ten people in every cell of the area
    return bl


def _lonlat(x, y):
    p = gpd.GeoSeries([Point(x, y)], crs=CRS).to_crs("EPSG:4326").iloc[0]
    return p.x, p.y


def _doc(phases, forces=None):
    d = {"name": "t", "phases": [{"name": f"p{k}", "date": f"2021-0{k + 1}-01", **ph} for k, ph in enumerate(phases)]}
    if forces is not None:
        d["national_forces"] = forces
    return d


def test_a_failing_condition_holds_the_phase_with_its_reason(two_bases, tmp_path):
    bl = _baseline(two_bases)
    plan = parse_plan(_doc([{"actions": [{"close": ["b"]}],
                             "conditions": [{"condition": "people_losing_cover", "unit": "East", "op": "<=",
                                             "threshold": 0}]}]))
    s = run_scenario(bl, plan, tmp_path)
    # by hand from the written surfaces: cells covered (>= 0.5) before and not after, in the East unit (x >= 0)
    cov0, _ = read_surface(two_bases / "coverage.tif")
    cov1, _ = read_surface(tmp_path / "phase_1" / "coverage.tif")
    x = bl.grid.transform.c + (np.arange(bl.grid.width) + 0.5) * bl.grid.resolution
    east = np.broadcast_to(x[None, :] > 0, cov0.shape)
    lost = int((east & (cov0 >= 0.5) & (cov1 < 0.5)).sum())
    assert lost > 0
    ph = s["phases"][0]
    assert ph["status"] == "hold"
    (row,) = ph["benchmarks"]
    assert row["value"] == pytest.approx(10.0 * lost) and row["value_before"] == 0.0 and not row["pass"]
    assert row["margin"] == pytest.approx(-10.0 * lost) and row["unit"] == "East"
    assert ph["hold_reasons"] == [f"people_losing_cover in East after the phase is {10 * lost:.4g}, needs <= 0"]
    table = pd.read_csv(tmp_path / "benchmarks.csv")
    assert list(table["condition"]) == ["people_losing_cover"] and not table["pass"].iloc[0]
    assert json.loads((tmp_path / "benchmarks.json").read_text())["phases"][0]["status"] == "hold"


def test_enforce_stops_the_plan_at_the_held_phase(two_bases, tmp_path):
    bl = _baseline(two_bases)
    plan = parse_plan(_doc([
        {"actions": [], "conditions": [{"condition": "new_zone_area_km2", "op": "<=", "threshold": 0}]},  # nothing changes
        {"actions": [{"close": ["a", "b"]}], "conditions": [{"condition": "gap_mean", "op": "<", "threshold": 0}]},
    ]))
    free = run_scenario(bl, plan, tmp_path / "free")
    assert [p["status"] for p in free["phases"]] == ["go", "hold"] and free["enforced"] is None
    s = run_scenario(bl, plan, tmp_path / "held", enforce=True)
    assert [p["name"] for p in s["phases"]] == ["p0"]
    assert s["enforced"]["held_at_phase"] == 2 and s["enforced"]["plan_that_holds"] == ["p0"]
    assert s["enforced"]["not_applied"] == ["p1"]
    assert not (tmp_path / "held" / "phase_2").exists()
    # a gap mean of 0 or more fails "< 0": the reason says the value and the threshold
    assert s["enforced"]["reasons"][0].startswith("gap_mean in whole area after the phase is ")
    bench = json.loads((tmp_path / "held" / "benchmarks.json").read_text())
    assert [p["status"] for p in bench["phases"]] == ["go", "hold"] and bench["enforced"]["held_at_phase"] == 2


def _east_cell(bl):
    """The cell whose corner is (15 km, 0): 0.5 h from b, beyond a's 2 h reach."""
    x0, y0, res = bl.grid.transform.c, bl.grid.transform.f, bl.grid.resolution
    return int((0 - y0) / -res) * bl.grid.width + int((15_000 - x0) / res)


def test_handover_to_a_force_uses_its_strength_and_readiness(two_bases, tmp_path):
    """By hand: 650 troops within the response time cover 0.9 (weight ln 10). The force F
    (650 troops, readiness 0.5) takes b: weight ln 10 / 2, cover 1 - 10^-0.5 east of b,
    all of it national. Two handovers to G (650, readiness 1) share it: 325 each, weight
    ln 10 * sqrt(1/2), cover 1 - 10^-sqrt(1/2)."""
    bl = _baseline(two_bases)
    e = _east_cell(bl)
    lon, lat = _lonlat(10_000, 0)
    forces = [{"id": "F", "kind": "army", "strength": 650, "readiness": 0.5, "lon": lon, "lat": lat},
              {"id": "G", "kind": "army", "strength": 650, "readiness": 1.0}]
    (ph,) = resolve_plan(parse_plan(_doc([{"actions": [{"handover": {"base": "b", "to": "F"}}]}], forces)),
                         bl.bases, bl.admin)
    w = WhatIf(bl)
    w.run_phase(ph)
    mission, national = w.split_coverage()
    assert w.coverage()[e] == pytest.approx(1 - 10**-0.5)
    assert national[e] == pytest.approx(1 - 10**-0.5) and mission[e] == 0.0
    (ph,) = resolve_plan(parse_plan(_doc([{"actions": [{"handover": {"base": "a", "to": "G"}},
                                                       {"handover": {"base": "b", "to": "G"}}]}], forces)),
                         bl.bases, bl.admin)
    assert [s.strength for s in ph.steps] == [325.0, 325.0]
    w = WhatIf(bl)
    w.run_phase(ph)
    assert w.coverage()[e] == pytest.approx(1 - 10 ** -math.sqrt(0.5))
    s = run_scenario(bl, parse_plan(_doc([{"actions": [{"handover": {"base": "b", "to": "F"}}],
                                           "conditions": [{"condition": "national_readiness", "unit": "East",
                                                           "op": ">=", "threshold": 0.6}]}], forces)), tmp_path)
    ph = s["phases"][0]
    assert ph["steps"][0]["to"] == "F" and ph["national_coverage_mean"] > 0
    assert ph["benchmarks"][0]["value"] == 0.5 and ph["status"] == "hold"  # only F stands in East (G has no place)
    assert s["national_forces"]["count"] == 2


def test_without_national_forces_the_scenario_says_so(two_bases, tmp_path):
    bl = _baseline(two_bases)
    s = run_scenario(bl, parse_plan(_doc([{"actions": [{"handover": {"base": "b", "readiness": 0.5}}]}])), tmp_path)
    assert s["national_forces"]["count"] == 0 and "no national_forces given" in s["national_forces"]["note"]
    assert s["phases"][0]["status"] == "go" and s["phases"][0]["benchmarks"] == []


# ---------------------------------------------------------------- plan errors with their lines
PLAN_WITH_PROBLEMS = """\
name: bad
phases:
  - name: one
    date: 2021-01-01
    actions:
      - close: [a]
      - shut: [b]
    conditions:
      - {condition: gap_man, op: "<", threshold: 30}
      - {condition: risk, op: "=", threshold: 0.2}
  - name: two
    date: 2021-02-01
    actions:
      - reduce: {base: a, factor: 1.5}
"""


def test_every_shape_problem_is_listed_with_its_line_and_fix(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text(PLAN_WITH_PROBLEMS)
    with pytest.raises(PlanError) as exc:
        load_plan(p)
    msg = str(exc.value)
    assert "4 problems:" in msg
    assert "line 7, phase 1 (one), action 2, shut: Extra inputs are not permitted; remove or rename 'shut' " \
           "(allowed here: close, close_admin, reduce, handover)" in msg
    assert "line 9, phase 1 (one), condition 1, condition: Value error, unknown condition 'gap_man'; " \
           "did you mean gap_mean?" in msg
    assert "line 10, phase 1 (one), condition 2, op: Input should be '<', '<=', '>' or '>='" in msg
    assert "line 14, phase 2 (two), action 1, reduce.factor: Input should be less than or equal to 1" in msg


def test_resolve_problems_name_the_line_the_unit_and_the_force(two_bases, tmp_path):
    bl = load_baseline(two_bases)
    p = tmp_path / "plan.yaml"
    p.write_text("""\
name: bad
national_forces:
  - {id: FACA-1, strength: 300, readiness: 0.6}
phases:
  - name: one
    date: 2021-01-01
    actions:
      - handover: {base: a, to: FACA-2}
      - close: [c]
    conditions:
      - {condition: gap_mean, unit: Eastt, op: "<", threshold: 30}
      - {condition: risk, zone: 99, op: "<", threshold: 0.5}
""")
    with pytest.raises(PlanError) as exc:
        resolve_plan(load_plan(p), bl.bases, bl.admin)
    msg = str(exc.value)
    assert msg.startswith("4 problems:")
    assert ("line 8, phase 1 (one), action 1 (handover): no national force 'FACA-2'; did you mean FACA-1? "
            "national_forces lists FACA-1") in msg
    assert "line 9, phase 1 (one), action 2 (close): unknown base id 'c'" in msg
    assert ("line 11, phase 1 (one), condition 1 (gap_mean): no admin unit named 'Eastt' in the admin layer; "
            "did you mean East?") in msg
    assert "line 12, phase 1 (one), condition 2 (risk): no zone 99 (the analysis has no vacuum zones" in msg


def test_a_handover_to_a_force_needs_the_forces(two_bases, tmp_path):
    bl = load_baseline(two_bases)
    p = tmp_path / "plan.yaml"
    p.write_text("phases:\n  - name: one\n    date: 2021-01-01\n    actions:\n      - handover: {base: b, to: FACA}\n")
    with pytest.raises(PlanError, match=r"^line 5, phase 1 \(one\), action 1 \(handover\): receiving force 'FACA' "
                                        r"does not exist: the plan lists no national_forces; add national_forces"):
        resolve_plan(load_plan(p), bl.bases, bl.admin)
    p.write_text("phases:\n  - name: one\n    date: 2021-01-01\n    conditions:\n"
                 "      - {condition: national_readiness, op: '>=', threshold: 0.5}\n")
    with pytest.raises(PlanError, match=r"line 5, .*national_readiness needs the plan's national_forces"):
        resolve_plan(load_plan(p), bl.bases, bl.admin)


def test_a_single_problem_stays_on_one_line(tmp_path):
    with pytest.raises(PlanError, match=r"^plan: phase 1 \(x\), action 1, handover: Value error, give either to:"):
        parse_plan({"phases": [{"name": "x", "date": "2021-01-01",
                                "actions": [{"handover": {"base": "a", "to": "F", "readiness": 0.5}}]}]})


def test_national_forces_from_a_csv_file(tmp_path):
    from geo.plan import national_forces, read_national_forces

    (tmp_path / "forces.csv").write_text("id,kind,strength,readiness,lon,lat\nF1,police,120,0.4,20.6,5.7\n"
                                         "F2,army,300,1.5,20.7,5.8\n")
    plan = parse_plan(_doc([{"actions": []}], "forces.csv"))
    with pytest.raises(PlanError, match=r"forces.csv row 2, readiness: Input should be less than or equal to 1"):
        read_national_forces(plan, tmp_path)
    (tmp_path / "forces.csv").write_text("id,kind,strength,readiness,lon,lat\nF1,police,120,0.4,20.6,5.7\n")
    (f,) = national_forces(read_national_forces(plan, tmp_path))
    assert (f.force_id, f.kind, f.strength, f.readiness, f.unit_type) == ("F1", "police", 120.0, 0.4, "police")
    assert (f.lon, f.lat) == pytest.approx((20.6, 5.7))
    with pytest.raises(PlanError, match="is a file path; read it first"):
        national_forces(plan)


def test_a_zone_scope_is_the_zone_cells(two_bases):
    """A hand-made zone 4 km x 3 km on the grid's 1 km cells: 12 cells, gap mean over those."""
    from geo.scenario_benchmarks import BenchmarkScopes

    bl = _baseline(two_bases)
    x0, y0 = bl.grid.transform.c, bl.grid.transform.f
    zone = gpd.GeoDataFrame({"zone_id": [7]}, geometry=[box(x0 + 10_000, y0 - 8_000, x0 + 14_000, y0 - 5_000)], crs=CRS)
    (ph,) = resolve_plan(parse_plan(_doc([{"actions": [], "conditions": [
        {"condition": "gap_mean", "zone": 7, "op": "<", "threshold": 100}]}])), bl.bases, bl.admin, zone)
    (spec,) = ph.conditions
    assert (spec.scope, spec.scope_kind, spec.scope_id) == ("zone 7", "zone", "7")
    mask = BenchmarkScopes(bl, zone, None).mask(spec).reshape(bl.grid.shape)
    assert mask.sum() == 12 and mask[5:8, 10:14].all()
    gap = bl.baseline_gap().reshape(bl.grid.shape)
    ctx = BenchmarkContext(bl.baseline_gap(), bl.baseline_coverage_flat, bl.risk, bl.population, 1.0, 35, 35, 0.5)
    assert metric_value("gap_mean", bl.baseline_gap(), bl.baseline_coverage_flat, mask.ravel(), ctx) == \
        pytest.approx(float(np.nanmean(gap[5:8, 10:14])))
