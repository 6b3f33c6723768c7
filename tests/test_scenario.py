"""Withdrawal scenarios: hand-made cases with known answers, plan errors, incremental == full."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from geo.grid import equal_area_crs
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.plan import PlanError, Step, parse_plan, resolve_plan
from geo.products import write_analysis
from geo.scenario import WhatIf, load_baseline
from geo.scenario_products import run_scenario

CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1], "parent": [None, None]},
                        geometry=[box(-30_000, -20_000, 0, 20_000), box(0, -20_000, 30_000, 20_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)
AS_OF = pd.Timestamp("2020-07-01").date()


def _bases(rows):
    return gpd.GeoDataFrame(
        {"base_id": [r[0] for r in rows], "name": [r[0] for r in rows], "strength": [float(r[1]) for r in rows],
         "unit_type": ["infantry"] * len(rows), "mission": ["M"] * len(rows)},
        geometry=[Point(r[2], r[3]) for r in rows], crs=CRS)


def _events(pts):
    return gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))], "date": pd.to_datetime(["2020-06-01"] * len(pts)),
                             "event_type": ["one_sided"] * len(pts), "fatalities": [3.0] * len(pts)},
                            geometry=[Point(*p) for p in pts], crs=CRS)


@pytest.fixture(scope="module")
def two_bases(tmp_path_factory):
    """Base a in the west, base b in the east, 20 km apart; each reaches 20 km (2 h at 10 km/h)."""
    folder = tmp_path_factory.mktemp("two")
    a = analyze(AnalysisInputs(bases=_bases([("a", 650, -10_000, 0), ("b", 650, 10_000, 0)]),
                               events=_events([(-10_000, 5_000), (10_000, 5_000), (25_000, 0)]), admin=AREA),
                P, AS_OF)
    write_analysis(a, folder)
    return folder


def _plan(*phases):
    return parse_plan({"name": "t", "phases": [{"name": f"p{k}", "date": f"2021-0{k + 1}-01", "actions": acts}
                                               for k, acts in enumerate(phases)]})


def test_closing_one_base_uncovers_exactly_the_cells_only_it_reached(two_bases):
    bl = load_baseline(two_bases)
    w = WhatIf(bl)
    cov0 = w.coverage().copy()
    w.apply(Step("close", "b"))
    cov1 = w.coverage()
    ia = set(bl.model.term("a").reach.index.tolist())
    ib = set(bl.model.term("b").reach.index.tolist())
    only_b = np.array(sorted(ib - ia))
    # cells only b reached: no cover left at all
    assert (cov1[only_b] == 0).all() and (cov0[only_b] > 0).any()
    # cells b did not reach: untouched, bit for bit
    untouched = np.setdiff1d(np.arange(len(cov0)), np.array(sorted(ib)))
    np.testing.assert_array_equal(cov1[untouched], cov0[untouched])
    # cells both reached: only a's term remains
    both = np.array(sorted(ia & ib))
    from geo.coverage import decay

    ta = bl.model.term("a")
    pa = dict(zip(ta.reach.index.tolist(), decay(ta.reach.hours, ta.t_resp, ta.t_max), strict=True))
    expected = 1 - np.exp(-np.array([ta.weight * pa[i] for i in both]))
    np.testing.assert_allclose(cov1[both], expected, rtol=1e-9)


def test_handover_at_full_readiness_changes_nothing(two_bases):
    bl = load_baseline(two_bases)
    w = WhatIf(bl)
    g0 = w.gap().copy()
    w.apply(Step("handover", "b", strength=650.0, readiness=1.0))
    np.testing.assert_array_equal(w.gap(), g0)
    w.apply(Step("reduce", "a", strength=650.0))  # a reduce to the same strength: no-op too
    np.testing.assert_array_equal(w.gap(), g0)


def test_handover_at_half_readiness_halves_the_intensity_where_only_b_reached(two_bases):
    """By hand: a battalion (650) alone within the response time covers 0.9, so its weight
    is ln 10; at half readiness it is ln 10 / 2 and cover there is 1 - 10^-0.5 = 0.684,
    the gap sqrt(10) times what it was. At (15 km, 0): 5 km (0.5 h) from b, 25 km from a
    (beyond a's 2 h reach at 10 km/h)."""
    bl = load_baseline(two_bases)
    w = WhatIf(bl)
    h, wd = bl.grid.shape
    res = bl.grid.resolution
    x0, y0 = bl.grid.transform.c, bl.grid.transform.f
    east = int((0 - y0) / -res) * wd + int((15_000 - x0) / res)  # the cell whose corner is (15 km, 0)
    west = int((0 - y0) / -res) * wd + int((-15_000 - x0) / res)  # 5 km from a, 25 km from b
    cov0, g0 = w.coverage().copy(), w.gap().copy()
    assert cov0[east] == pytest.approx(0.9) and cov0[west] == pytest.approx(0.9)
    assert g0[east] > 0  # the event at (25 km, 0) makes need there
    w.apply(Step("handover", "b", strength=650.0, readiness=0.5))
    assert w.coverage()[east] == pytest.approx(1 - 10**-0.5)
    assert w.gap()[east] == pytest.approx(g0[east] * 10**0.5)
    assert w.coverage()[west] == cov0[west] and w.gap()[west] == g0[west]  # a's side: untouched
    assert w.closed == ["b"]  # handed over: no longer a mission base


def test_closing_nothing_changes_nothing(two_bases, tmp_path):
    bl = load_baseline(two_bases)
    s = run_scenario(bl, _plan([]), tmp_path)
    ph = s["phases"][0]
    assert ph["new_zones"]["count"] == 0 and ph["population_losing_cover"] == 0
    assert ph["mean_gap_change"] == 0 and ph["vacuum_measure"] == pytest.approx(s["baseline"]["vacuum_measure"])
    from geo.rasters import read_surface

    d, _ = read_surface(tmp_path / "phase_1" / "gap_delta.tif")
    assert np.nanmax(np.abs(d)) == 0


def test_closing_a_base_opens_a_zone_and_names_it(two_bases, tmp_path):
    bl = load_baseline(two_bases)
    s = run_scenario(bl, _plan([{"close": ["b"]}]), tmp_path)
    ph = s["phases"][0]
    assert ph["closed"] == ["b"] and ph["new_zones"]["count"] >= 1
    z = gpd.read_file(tmp_path / "phase_1" / "new_zones.geojson")
    assert (z["opened_by"] == "b").all()
    assert (z["nearest_remaining_base_id"] == "a").all()
    # the event under b at (10 km, 5 km) is in the new zone
    assert z["recent_events"].sum() >= 1
    crit = pd.read_csv(tmp_path / "base_criticality.csv")
    assert set(crit["base_id"]) == {"a", "b"} and list(crit["rank"]) == [1, 2]
    order = json.loads((tmp_path / "closing_order.json").read_text())
    assert order["plan_phases"] == [["b"]]


@pytest.mark.parametrize(
    "actions, match",
    [
        ([{"close": ["c"]}], r"phase 1 \(p0\), action 1 \(close\): unknown base id 'c'"),
        ([{"close": ["a"]}, {"reduce": {"base": "a", "strength": 10}}], r"action 2 \(reduce\): base 'a' was already closed"),
        ([{"reduce": {"base": "a", "strength": 900}}], "would grow from 650 to 900 troops"),
        ([{"close_admin": "Westt"}], r"no admin unit named 'Westt'; did you mean West"),
        ([{"handover": {"base": "zz", "readiness": 0.5}}], r"unknown base id 'zz'"),
    ],
)
def test_plan_errors_name_phase_action_and_id(two_bases, actions, match):
    bl = load_baseline(two_bases)
    with pytest.raises(PlanError, match=match):
        resolve_plan(_plan(actions), bl.bases, bl.admin)


@pytest.mark.parametrize(
    "doc, match",
    [
        ({"phases": []}, "phases"),
        ({"phases": [{"name": "x", "date": "2021-13-01", "actions": []}]}, r"phase 1 \(x\), date"),
        ({"phases": [{"name": "x", "date": "2021-01-01", "actions": [{"close": ["a"], "reduce": {"base": "a", "factor": 0.5}}]}]},
         r"phase 1 \(x\), action 1: .*exactly one of close"),
        ({"phases": [{"name": "x", "date": "2021-01-01", "actions": [{"reduce": {"base": "a", "factor": 1.5}}]}]},
         r"action 1, reduce.factor"),
        ({"phases": [{"name": "x", "date": "2021-01-01", "actions": [{"shut": ["a"]}]}]}, r"action 1, shut: Extra inputs"),
    ],
)
def test_plan_shape_errors(doc, match):
    with pytest.raises(PlanError, match=match):
        parse_plan(doc)


def test_close_admin_closes_the_bases_inside(two_bases):
    bl = load_baseline(two_bases)
    (ph,) = resolve_plan(_plan([{"close_admin": "East"}]), bl.bases, bl.admin)
    assert [s.base_id for s in ph.steps] == ["b"]


def test_plan_file_errors(tmp_path):
    from geo.plan import load_plan

    bad = tmp_path / "p.yaml"
    bad.write_text("phases: [\n")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(bad)
    with pytest.raises(PlanError, match="does not exist"):
        load_plan(tmp_path / "none.yaml")


@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["close", "reduce", "handover"]), st.integers(0, 5),
                          st.floats(0, 1), st.floats(0, 1)), max_size=8))
@example(random_steps=[("close", 0, 0, 0), ("reduce", 1, 0.3, 0), ("handover", 2, 0, 0.5), ("reduce", 3, 0.0, 0),
                       ("reduce", 5, 0.5, 0), ("handover", 5, 0, 0.25)])
def test_incremental_equals_a_fresh_analysis_of_the_changed_layers(six, random_steps):
    """The what-if after the steps equals a new analysis whose input has the closed bases
    removed, the reduced ones at their new strength, the handed-over ones moved to the
    national-forces layer with their readiness (nothing shared with WhatIf but the layers)."""
    bl, rows = six
    w = WhatIf(bl)
    strength = {r[0]: r[1] for r in rows}
    national: dict[str, float] = {}
    done = set()
    for kind, k, f, r in random_steps:
        bid = rows[k][0]
        if bid in done:
            continue
        if kind == "close":
            w.apply(Step("close", bid))
            strength.pop(bid)
            done.add(bid)
        elif kind == "reduce":
            w.apply(Step("reduce", bid, strength=rows[k][1] * f))
            strength[bid] = rows[k][1] * f
        else:
            w.apply(Step("handover", bid, strength=strength[bid], readiness=r))
            national[bid] = r
            done.add(bid)
    kept = [(b, strength[b], x, y) for b, _, x, y in rows if b in strength and b not in national]
    assume(kept)  # an analysis needs at least one mission base
    handed = [(b, strength[b], x, y) for b, _, x, y in rows if b in national]
    nat = _bases(handed).assign(readiness=[national[b] for b, *_ in handed]) if handed else None
    fresh = analyze(AnalysisInputs(bases=_bases(kept), national=nat, events=_events(SIX_EVENTS), admin=AREA), P, AS_OF)
    cov = fresh.surfaces["coverage"].ravel()
    inside = np.isfinite(cov)  # the analysis leaves the margin outside the area NaN
    assert inside.sum() == 60 * 40
    np.testing.assert_allclose(w.coverage()[inside], cov[inside], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.gap(), fresh.surfaces["gap"].ravel(), rtol=1e-5, atol=1e-4, equal_nan=True)


SIX_EVENTS = [(0, 0), (20_000, 10_000)]


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    """Six bases of random strength and place (seeded): the baseline and the base rows."""
    rng = np.random.default_rng(5)
    rows = [(f"b{i}", float(rng.choice([35, 150, 650, 1100])), float(rng.uniform(-25e3, 25e3)), float(rng.uniform(-15e3, 15e3)))
            for i in range(6)]
    folder = tmp_path_factory.mktemp("six")
    a = analyze(AnalysisInputs(bases=_bases(rows), events=_events(SIX_EVENTS), admin=AREA), P, AS_OF)
    write_analysis(a, folder)
    return load_baseline(folder), rows


def test_maximal_covering_keeps_the_base_with_more_need(two_bases):
    from geo.decision import maximal_covering_keep

    bl = load_baseline(two_bases)
    # two events under b's reach (east), one under a's: b covers more need
    r = maximal_covering_keep(bl, 1, block_km=2)
    assert r["keep"] == ["b"]
    assert 0 < r["covered_demand"] <= r["demand_coverable_by_all"]
    assert maximal_covering_keep(bl, 2, block_km=2)["keep"] == ["a", "b"]


def test_greedy_order_and_phase_sizes(two_bases):
    from geo.decision import greedy_closing_order, order_cost, phase_sizes

    bl = load_baseline(two_bases)
    seq = greedy_closing_order(bl, ["b", "a"])
    assert [s for s, _ in seq] == ["a", "b"]  # a opens less vacuum, so it goes first
    assert seq[-1][1] == pytest.approx(order_cost(bl, [["a", "b"]])[0])
    assert phase_sizes(7, 3) == [3, 2, 2] and phase_sizes(2, 3) == [1, 1, 0]
    with pytest.raises(ValueError, match="phases must be >= 1"):
        phase_sizes(3, 0)
