"""The troop budget: hand-made cases whose best keep set is worked out by hand, ILP vs greedy,
a battalion against an empty post, bad ceilings."""

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from shapely.geometry import Point, box

from geo.budget import (
    BudgetProblem,
    TroopBudgetError,
    check_troops,
    chord_breakpoints,
    problem_from_baseline,
    protected_value,
    solve_greedy,
    solve_ilp,
)
from geo.grid import equal_area_crs
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.products import write_analysis
from geo.scenario import load_baseline

LN10, LN5 = math.log(10), math.log(5)


def three_bases(levels_a=None):
    """A: 650 troops, covers cell 0 (value 1000) at 90 %; B and C: 300 troops each, cover cells
    1 (600) and 2 (500) at 80 %. Cells do not overlap, so F is a sum by hand."""
    prot = sparse.csc_matrix(np.eye(3))
    levels = [levels_a or [(650.0, LN10)], [(300.0, LN5)], [(300.0, LN5)]]
    return BudgetProblem(["A", "B", "C"], np.array([1000.0, 600.0, 500.0]), np.zeros(3), prot, levels)


def test_value_is_risk_weighted_people_times_coverage_by_hand():
    p = three_bases()
    assert protected_value(p, [0, -1, -1]) == pytest.approx(900.0)  # 1000 * 0.9
    assert protected_value(p, [-1, 0, 0]) == pytest.approx(480.0 + 400.0)
    assert protected_value(p, [0, 0, 0]) == pytest.approx(900.0 + 480.0 + 400.0)


@pytest.mark.parametrize("ceiling, keep, value", [
    (650, {"A"}, 900.0),          # A alone (900) beats B + C (880, 600 troops)
    (950, {"A", "B"}, 1380.0),    # A + B (950 troops) beats A + C (1300)
    (599, {"B"}, 480.0),          # only one 300-troop base fits; B protects more than C
    (299, set(), 0.0),
])
def test_ilp_finds_the_keep_set_worked_out_by_hand(ceiling, keep, value):
    p = three_bases()
    c = solve_ilp(p, ceiling)
    assert set(c.kept) == keep and c.protected == pytest.approx(value)
    assert c.total_troops <= ceiling
    # the certificate holds: the exact optimum is within chord_error * sum(v) of the ILP objective
    assert c.bound["upper_bound_on_optimum"] >= value


def test_greedy_by_ratio_alone_would_take_b_and_c_but_the_best_single_base_wins():
    p = three_bases()
    # ratios: A 900/650 = 1.38, B 480/300 = 1.6, C 400/300 = 1.33 -> B first, then only C fits: 880
    g = solve_greedy(p, 650)
    assert set(g.kept) == {"A"} and g.protected == pytest.approx(900.0)
    assert "(1 - 1/e)/2" in g.bound["a_priori"]
    assert g.bound["upper_bound_on_optimum"] >= 900.0


def test_a_battalion_may_be_halved_when_that_protects_more():
    # A at 325 troops: weight ln10 * sqrt(325/650), so coverage 1 - 10**-sqrt(1/2)
    half = LN10 * math.sqrt(0.5)
    p = three_bases([(325.0, half), (650.0, LN10)])
    cov_half = 1 - 10 ** -math.sqrt(0.5)
    # ceiling 650: A halved + B (625 troops) = 1000 * 0.8037 + 480 beats A whole (900) and B + C (880)
    for solver in (solve_ilp, solve_greedy):
        c = solver(p, 650)
        assert c.troops == [325.0, 300.0, 0.0]
        assert c.protected == pytest.approx(1000 * cov_half + 480.0)


def test_greedy_matches_the_ilp_on_overlapping_bases_and_stays_under_its_bound():
    rng = np.random.default_rng(4)
    n, m = 60, 5
    prot = sparse.csc_matrix(np.where(rng.random((n, m)) < 0.4, rng.random((n, m)), 0.0))
    levels = [[(100.0 * (j + 1) * f, 0.8 * math.sqrt(f) * (1 + j / 3)) for f in (0.5, 1.0)] for j in range(m)]
    p = BudgetProblem(list("abcde"), rng.random(n) * 100, rng.random(n) * 0.1, prot, levels)
    # brute force over every level choice: the exact optimum
    import itertools

    best = max((protected_value(p, list(x)), x) for x in itertools.product(*[range(-1, 2)] * m)
               if p.troops_of(list(x)) <= 700)
    ilp, gr = solve_ilp(p, 700), solve_greedy(p, 700)
    assert ilp.protected >= best[0] - 0.002 * p.total_value
    assert ilp.bound["upper_bound_on_optimum"] >= best[0]
    assert gr.protected <= best[0] + 1e-9 <= gr.bound["upper_bound_on_optimum"] + 1e-9
    assert ilp.total_troops <= 700 and gr.total_troops <= 700


def test_chords_stay_within_the_stated_error():
    pts = chord_breakpoints(6.0, 0.002)
    x = np.linspace(0, pts[-1], 20001)
    f = -np.expm1(-x)
    chord = np.interp(x, pts, -np.expm1(-pts))
    assert pts[0] == 0 and pts[-1] >= 6.0 and np.max(f - chord) <= 0.002 + 1e-12 and np.min(f - chord) >= -1e-12


@pytest.mark.parametrize("ceiling, msg", [(-1, "below zero"), (2001, "above the mission's total of 2000"),
                                          (float("nan"), "give a number")])
def test_bad_ceilings_are_refused_with_the_range(ceiling, msg):
    with pytest.raises(TroopBudgetError, match=msg):
        check_troops(ceiling, 2000.0)
    with pytest.raises(TroopBudgetError, match="bases left out of the choice"):
        check_troops(100, 2000.0, fixed=300.0)


# ------------------------------------------------------------------ a battalion and an empty post on a real grid

CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1], "parent": [None, None]},
                        geometry=[box(-30_000, -20_000, 0, 20_000), box(0, -20_000, 30_000, 20_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)


@pytest.fixture(scope="module")
def post_and_battalion(tmp_path_factory):
    """A battalion (650) in the west, an observer post (0 troops) and a small company (120) in the east,
    events on both sides; towns give the people."""
    folder = tmp_path_factory.mktemp("post")
    rows = [("bat", 650.0, -10_000, 0, "reported"), ("obs", 0.0, 10_000, 0, "presence_only"),
            ("coy", 120.0, 15_000, 5_000, "reported")]
    bases = gpd.GeoDataFrame({"base_id": [r[0] for r in rows], "name": [r[0] for r in rows],
                              "strength": [r[1] for r in rows], "unit_type": ["infantry"] * 3, "mission": ["M"] * 3,
                              "strength_source": [r[4] for r in rows]},
                             geometry=[Point(r[2], r[3]) for r in rows], crs=CRS)
    pts = [(-10_000, 5_000), (-8_000, 0), (10_000, 5_000), (12_000, 0), (15_000, 3_000)]
    events = gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))],
                               "date": pd.to_datetime(["2020-06-01"] * len(pts)),
                               "event_type": ["one_sided"] * len(pts), "fatalities": [3.0] * len(pts)},
                              geometry=[Point(*q) for q in pts], crs=CRS)
    towns = gpd.GeoDataFrame({"site_id": ["w", "e"], "name": ["W", "E"], "kind": ["town", "town"],
                              "population": [20_000.0, 20_000.0], "subtype": ["", ""]},
                             geometry=[Point(-9_000, 2_000), Point(11_000, 2_000)], crs=CRS)
    a = analyze(AnalysisInputs(bases=bases, events=events, admin=AREA, sites=towns), P, pd.Timestamp("2020-07-01").date())
    write_analysis(a, folder)
    return load_baseline(folder)


def test_the_empty_post_costs_no_troops_and_never_displaces_the_battalion(post_and_battalion):
    bl = post_and_battalion
    p = problem_from_baseline(bl, fractions=(1.0,))
    assert p.base_ids == ["bat", "coy"] and p.presence_only == ["obs"]  # the post is not a choice: 0 troops
    # 650 troops: the battalion or the company, not both (770); the post stays, costing none
    for solver in (solve_ilp, solve_greedy):
        c = solver(p, 650)
        assert c.kept == ["bat"] and c.troops == [650.0, 0.0]
    # at full strength the battalion's weight is the analysis's own
    assert p.levels[0][-1] == (650.0, pytest.approx(bl.model.term("bat").weight))


def test_the_battalion_is_dropped_only_when_the_numbers_say_so(post_and_battalion):
    bl = post_and_battalion
    # nobody lives in the west: the battalion protects no risk-weighted people, the company does
    people = bl.population.copy()
    x = np.arange(bl.grid.size) % bl.grid.width
    people[x < bl.grid.width // 2] = 0.0
    p = problem_from_baseline(bl, people=people, fractions=(1.0,))
    for solver in (solve_ilp, solve_greedy):
        c = solver(p, 650)
        assert c.kept == ["coy"]


def test_bases_to_choose_among_must_have_troops(post_and_battalion):
    from geo.errors import UnknownIdError

    with pytest.raises(UnknownIdError, match=r"obs \(presence only, 0 troops\)"):
        problem_from_baseline(post_and_battalion, candidates=["bat", "obs"])


def test_closing_order_searches_every_base_and_frees_the_troops_asked(post_and_battalion):
    from geo.decision import greedy_closing_order, vacuum_measure
    from geo.scenario import WhatIf

    bl = post_and_battalion
    # no list given: every base of the mission is a candidate, the empty post too
    assert {b for b, _ in greedy_closing_order(bl)} == {"bat", "obs", "coy"}

    def added(bid):
        w = WhatIf(bl)
        w.set_weight(bid, 0.0)
        return vacuum_measure(w.gap(), bl.exposure) - vacuum_measure(bl.baseline_gap(), bl.exposure)

    # freeing 100 troops: the base with the least added vacuum per troop freed; the post frees none
    per_troop = {"bat": added("bat") / 650, "coy": added("coy") / 120}
    first = min(per_troop, key=per_troop.get)
    seq = greedy_closing_order(bl, troops_to_free=100)
    assert [b for b, _ in seq] == [first]
    # 700 troops: both bases (650 or 120 alone is not enough), never the post
    assert sorted(b for b, _ in greedy_closing_order(bl, troops_to_free=700)) == ["bat", "coy"]


@pytest.mark.slow
def test_on_the_demo_troops_beat_counting_bases(demo_analysis):
    """The maximal-covering keep set counts bases; at the same troops the budget choice protects
    at least as much of its own objective, and spends none of them on 0-troop posts."""
    from geo.budget import mission_troops
    from geo.decision import maximal_covering_keep

    bl = load_baseline(demo_analysis)
    troops = mission_troops(bl)
    mclp = set(maximal_covering_keep(bl, 14)["keep"])
    ceiling = sum(t for b, t in troops.items() if b in mclp)
    p = problem_from_baseline(bl, fractions=(1.0,))
    mclp_level = [0 if b in mclp else -1 for b in p.base_ids]
    assert p.troops_of(mclp_level) == ceiling
    c = solve_ilp(p, ceiling, p_quantum=0.1)
    assert c.total_troops <= ceiling
    assert c.protected >= protected_value(p, mclp_level) - 1e-6 * p.total_value
    # every presence-only post stays (it is not a choice and costs nothing)
    pres = set(bl.bases["base_id"][bl.bases["strength_source"] == "presence_only"])
    assert set(p.presence_only) == pres and not pres & set(p.base_ids)


def test_plan_keep_command(post_and_battalion, tmp_path, capsys):
    from cli.main import main

    folder = str(post_and_battalion.folder)
    assert main(["plan-keep", folder, "--troops", "-5"]) == 2
    assert "cannot be below zero; give 0..770" in capsys.readouterr().err
    assert main(["plan-keep", folder, "--troops", "771"]) == 2
    assert "above the mission's total of 770 troops" in capsys.readouterr().err
    assert main(["plan-keep", folder, "--troops", "650", "--fractions", "1", "--method", "both",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "presence only, 0 troops" in out and "the optimum protects at most" in out
    t = pd.read_csv(tmp_path / "keep.csv").set_index("base_id")
    assert t.loc["obs", "status"] == "presence only, 0 troops" and t.loc["bat", "status"] == "kept"
    assert t.loc["coy", "status"] == "closed"
