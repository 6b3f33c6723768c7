"""The withdrawal effect (geo/effect.py, cli/effect.py): hand-made episodes on a tiny
panel where the difference-in-differences is computable by hand, the placebo, matching,
the weak flag, and the one-line errors for bad input."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from geo.effect import (
    LITERATURE_PRIOR,
    EffectError,
    EffectEstimate,
    did_cluster_ols,
    did_interval,
    estimate_effect,
    estimate_from_panel,
    expected_change,
    find_episodes,
    load_effect,
    match_controls,
    stacked_did,
)

KM = 1000.0
D0, D1 = date(2020, 1, 1), date(2020, 4, 1)  # map k, map k+1
M0 = 2018 * 12  # panel starts January 2018 (placebo pre window 2018-01..2018-12)
N_MONTHS = 12 * 4  # to December 2021 (post window 2020-04..2021-03)


def _month(y: int, m: int) -> int:
    return y * 12 + m - 1 - M0


def _map(bases: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    """(base_id, x km, y km, troops) -> the frame find_episodes reads."""
    return pd.DataFrame({"base_id": [b[0] for b in bases], "name": [b[0] for b in bases],
                         "x": [b[1] * KM for b in bases], "y": [b[2] * KM for b in bases],
                         "strength": [b[3] for b in bases], "strength_source": "reported"})


def _series(pre: float, post: float, placebo_pre: float | None = None) -> np.ndarray:
    """Monthly counts: ``placebo_pre`` in 2018, ``pre`` in 2019 (the pre window) up to map k,
    ``post`` from map k+1 on; the months between the maps (Jan-Mar 2020) get 99, which no
    window may read."""
    s = np.full(N_MONTHS, float(pre))
    s[: _month(2019, 1)] = pre if placebo_pre is None else placebo_pre
    s[_month(2020, 1):_month(2020, 4)] = 99.0
    s[_month(2020, 4):] = post
    return s


def _one_episode_panel(treated_post: float = 3.0, control_post: float = 1.0):
    """Base A at (0, 0) closes, base B at (300 km, 0) stays. Blocks: 5 km (ring 0-15),
    20 km (15-30), 45 km (30-60) from A; two controls 5 and 15 km from B."""
    maps = [(D0, _map([("A", 0, 0, 650), ("B", 300, 0, 650)])), (D1, _map([("B", 300, 0, 650)]))]
    xy = np.array([[5, 0], [20, 0], [45, 0], [305, 0], [315, 0]], float) * KM
    counts = np.vstack([
        _series(0, treated_post),  # treated: 0 -> 3 events per month
        _series(0, 2.0),  # 15-30 km: 0 -> 2
        _series(0, 1.0),  # 30-60 km: 0 -> 1
        _series(0, control_post),  # controls: 0 -> 1
        _series(0, control_post),
    ])
    return maps, xy, counts


def _estimate(maps, xy, counts, **kw) -> EffectEstimate:
    episodes, pairs = find_episodes(maps)
    return estimate_from_panel(counts, M0, xy, episodes, pairs, n_boot=199, **kw)


# ------------------------------------------------------------------ the DiD by hand


def test_did_by_hand_one_episode():
    est = _estimate(*_one_episode_panel())
    assert [e.kind for e in est.episodes] == ["closure"]
    r0, r1, r2 = est.rings
    # treated +3/month, matched controls +1/month -> 2; the rings: 2 - 1 = 1 and 1 - 1 = 0
    assert r0.estimate == pytest.approx(2.0)
    assert r1.estimate == pytest.approx(1.0)
    assert r2.estimate == pytest.approx(0.0)
    assert (r0.n_episodes, r0.n_units, r0.n_controls) == (1, 1, 1)
    # the months between the two maps (99 events) are read by no window
    assert all(abs(s["estimate"]) < 10 for s in est.event_study["0-15km"])
    # event study: pre quarters 0, post quarters +2
    study = {s["quarter"]: s["estimate"] for s in est.event_study["0-15km"]}
    assert study == pytest.approx({-4: 0, -3: 0, -2: 0, -1: 0, 0: 2, 1: 2, 2: 2, 3: 2})


def test_placebo_on_dates_12_months_earlier():
    # no change between 2018 and 2019: the placebo is 0
    est = _estimate(*_one_episode_panel())
    assert est.placebo[0].estimate == pytest.approx(0.0)
    # the treated block already rose from 0 (2018) to 1 (2019), controls flat at 1:
    # placebo = (1 - 0) - (1 - 1) = 1, and the real DiD = (3 - 1) - (1 - 1) = 2
    maps, xy, _ = _one_episode_panel()
    counts = np.vstack([_series(1, 3, placebo_pre=0), _series(0, 2), _series(0, 1),
                        _series(1, 1, placebo_pre=1), _series(1, 1, placebo_pre=1)])
    est = _estimate(maps, xy, counts)
    assert est.placebo[0].estimate == pytest.approx(1.0)
    assert est.rings[0].estimate == pytest.approx(2.0)


def test_matching_on_pre_counts():
    # nearest neighbour on (first half, second half) of the pre window, ties to the lowest index
    idx = match_controls(np.array([[0, 0], [3, 1]]), np.array([[5, 5], [3, 1], [0, 0], [0, 0]]))
    assert idx.tolist() == [[2], [1]]
    # in the panel: the treated block had 2/month before and 5 after (+3); control 1 had 2 and 2
    # (+0), control 2 had 0 and 1 (+1). Matched on the pre counts, the estimate is 3 - 0 = 3
    # (an unmatched comparison with both controls would give 3 - 0.5 = 2.5)
    maps, xy, _ = _one_episode_panel()
    counts = np.vstack([_series(2, 5), _series(0, 0), _series(0, 0), _series(2, 2), _series(0, 1)])
    est = _estimate(maps, xy, counts)
    assert est.rings[0].estimate == pytest.approx(3.0)
    assert est.rings[0].n_controls == 1


def test_stacked_did_weights_and_statsmodels_cross_check():
    # episode 0: 1 treated (+3), 1 control (+1): D = 2, w = 1*1/2; episode 1: 2 treated (+5),
    # 2 controls (+1): D = 4, w = 2*2/4 = 1. Estimate (0.5*2 + 1*4) / 1.5 = 10/3
    delta = np.array([3, 1, 5, 5, 1, 1], float)
    treated = np.array([1, 0, 1, 1, 0, 0], bool)
    episode = np.array([0, 0, 1, 1, 1, 1])
    assert stacked_did(delta, treated, episode) == pytest.approx(10 / 3)
    est, se, lo, hi = did_cluster_ols(delta, treated, episode)
    assert est == pytest.approx(10 / 3)
    assert math.isfinite(se) and lo < est < hi
    lo, hi = did_interval(delta, treated, episode, n_boot=199, seed=1)
    assert 2.0 <= lo <= hi <= 4.0
    assert did_interval(delta, treated, episode, n_boot=199, seed=1) == (lo, hi)  # seeded


def test_reduction_is_an_episode_and_a_small_cut_is_not():
    maps = [(D0, _map([("A", 0, 0, 800), ("B", 300, 0, 650), ("C", 600, 0, 650)])),
            (D1, _map([("A", 1, 0, 150), ("B", 300, 0, 400), ("C", 600, 0, 650), ("N", 900, 0, 150)]))]
    episodes, pairs = find_episodes(maps)
    assert [(e.base_id, e.kind, e.strength_after) for e in episodes] == [("A", "reduction", 150.0)]
    # changed: the cut base A and the opened base N (no map-k base within 5 km)
    assert sorted(pairs[0]["changed_xy"][:, 0].tolist()) == [0.0, 900 * KM]


def _many_episodes(n: int = 12) -> tuple[list, np.ndarray, np.ndarray]:
    """n bases 200 km apart all close; base P at -600 km stays. Treated blocks go from 1 event
    a month to 4 + 0.1 (k - 5.5), controls near P from 1 to 2: the DiD is about 2 (+200 % of
    the treated pre mean) with a narrow interval."""
    before = [(f"B{k}", 200.0 * k, 0.0, 650.0) for k in range(n)] + [("P", -600.0, 0.0, 650.0)]
    maps = [(D0, _map(before)), (D1, _map([("P", -600.0, 0.0, 650.0)]))]
    xy = [[200.0 * k + 5, 0] for k in range(n)] + [[-600.0 + d, 0] for d in (5, 15, 25)]
    counts = [_series(1, 4 + 0.1 * (k - 5.5)) for k in range(n)] + [_series(1, 2)] * 3
    return maps, np.array(xy) * KM, np.vstack(counts)


def test_weak_flag():
    est = _estimate(*_one_episode_panel())
    assert est.weak
    assert any("only 1 episode" in r for r in est.weak_reasons)
    strong = _estimate(*_many_episodes(12))
    r0 = strong.rings[0]
    assert r0.n_episodes == 12
    assert r0.estimate == pytest.approx(2.0)
    assert 1.7 < r0.ci_low < 2.0 < r0.ci_high < 2.3
    assert not strong.weak, strong.weak_reasons
    # the same with 9 episodes is weak for its number of episodes alone
    nine = _estimate(*_many_episodes(9))
    assert nine.weak_reasons == ["only 9 episode(s) with treated and control blocks (< 10)"]
    # a null effect with spread: the interval spans zero
    maps, xy, counts = _many_episodes(12)
    counts[:12] = np.vstack([_series(0, 1 + (1.0 if k % 2 else -1.0)) for k in range(12)])
    null = _estimate(maps, xy, np.clip(counts, 0, None))
    assert any("includes zero" in r for r in null.weak_reasons)


def test_effect_json_round_trip(tmp_path):
    est = _estimate(*_many_episodes(12))
    est.save(tmp_path / "effect.json")
    back = load_effect(tmp_path / "effect.json")
    assert back.rings[0].estimate == pytest.approx(est.rings[0].estimate)
    assert back.n_episodes == 12 and back.weak == est.weak
    (tmp_path / "other.json").write_text(json.dumps({"plan": "x"}))
    with pytest.raises(EffectError, match="not an effect estimate"):
        load_effect(tmp_path / "other.json")


# ----------------------------------------------------------- scenario ranges (pure)


def test_expected_change_from_estimate_prior_and_none():
    est = _estimate(*_many_episodes(12))
    r0 = est.rings[0]
    assert r0.treated_pre_mean == pytest.approx(1.0)
    out = expected_change(est, {"lost_cover": 300.0, "15-30km": 200.0, "30-60km": 0.0},
                          {"lost_cover": 0.5, "15-30km": 0.25}, months=12)
    lost = next(a for a in out["areas"] if a["area"] == "lost_cover")
    # relative: +200 % of the 6 events in the 12 months before -> +12 (CI / pre mean for low, high)
    assert lost["scale"] == "relative"
    assert lost["central"] == pytest.approx(r0.estimate / 1.0 * 6)
    assert lost["low"] == pytest.approx(r0.ci_low * 6) and lost["high"] == pytest.approx(r0.ci_high * 6)
    # no treated events before (one-episode panel: 0 -> 3): absolute, 2 per block-month x 3 blocks x 12
    one = _estimate(*_one_episode_panel())
    out = expected_change(one, {"lost_cover": 300.0}, {"lost_cover": 0.5}, months=12)
    lost = next(a for a in out["areas"] if a["area"] == "lost_cover")
    assert lost["scale"] == "absolute" and lost["central"] == pytest.approx(2.0 * 3 * 12)
    assert out["weak"] is True and out["n_episodes"] == 1
    # a fall larger than the baseline is cut at -100 %
    maps, xy, _ = _one_episode_panel()
    drop = _estimate(maps, xy, np.vstack([_series(3, 0), _series(0, 0), _series(0, 0), _series(3, 5), _series(3, 5)]))
    assert drop.rings[0].estimate == pytest.approx(-5.0)  # -5/3 of the pre mean
    lost = next(a for a in expected_change(drop, {"lost_cover": 100.0}, {"lost_cover": 2.0})["areas"]
                if a["area"] == "lost_cover")
    assert lost["central"] == pytest.approx(-24.0)  # all 24 events of the year, not more
    prior = expected_change(LITERATURE_PRIOR, {"lost_cover": 300.0}, {"lost_cover": 0.5}, months=12)
    lost = next(a for a in prior["areas"] if a["area"] == "lost_cover")
    # 0.5 events a month before -> 6 in 12 months; prior +0% / +40% / +100%
    assert (lost["low"], lost["central"], lost["high"]) == pytest.approx((0.0, 2.4, 6.0))
    assert "Fjelde" in prior["citation"] and "Peitz" in prior["citation"]
    none = expected_change(None, {"lost_cover": 300.0}, {"lost_cover": 0.5})
    assert none["status"] == "not_computed"
    assert none["note"] == "no effect estimate: expected change not computed"
    assert none["areas"] == []


# ------------------------------------------------------------------ bad input


_V21_COLS = ["source", "mission", "year", "month", "location", "latitude", "longitude", "no.troops",
             "rpf", "res", "sf", "avia", "he.sup", "he.sup.lw",
             "inf", "fpu", "hq", "unmo.dummy", "unpol.dummy", "battalion", "company", "platoon"]


def _v21(tmp_path, rows: list[tuple[str, int, int, str, float, float, str]]):
    """A Geo-PKO v2.1-shaped CSV: (source, year, month, location, lat, lon, no.troops)."""
    recs = [{"source": s, "mission": "TESTMIS", "year": y, "month": m, "location": loc, "latitude": lat,
             "longitude": lon, "no.troops": t, "rpf": "NA", "res": "0", "sf": "0", "avia": "0", "he.sup": "0",
             "he.sup.lw": "0", "inf": "1", "fpu": "0", "hq": "0", "unmo.dummy": "0", "unpol.dummy": "0",
             "battalion": "1", "company": "0", "platoon": "0"} for s, y, m, loc, lat, lon, t in rows]
    p = tmp_path / "geopko.csv"
    pd.DataFrame(recs, columns=_V21_COLS).to_csv(p, index=False)
    return p


def _ged(tmp_path, dates: list[str], lon: float = 20.0, lat: float = 5.0):
    p = tmp_path / "ged.csv"
    pd.DataFrame({"id": range(len(dates)), "type_of_violence": 3, "best": 1, "date_start": dates,
                  "side_a": "X", "side_b": "civilians", "longitude": lon, "latitude": lat}).to_csv(p, index=False)
    return p


def test_no_episodes_error(tmp_path):
    bases = _v21(tmp_path, [("Map 1", 2019, 1, "Alpha", 5.0, 20.0, "650"), ("Map 1", 2019, 1, "Beta", 6.0, 22.0, "650"),
                            ("Map 1 Rev. 1", 2019, 6, "Alpha", 5.0, 20.0, "650"),
                            ("Map 1 Rev. 1", 2019, 6, "Beta", 6.0, 22.0, "600")])
    with pytest.raises(EffectError, match=r"no closure or >= 50% troop cut .* widen --from/--to"):
        estimate_effect(bases, _ged(tmp_path, ["2015-01-01", "2022-01-01"]))


def test_events_not_covering_the_windows(tmp_path):
    bases = _v21(tmp_path, [("Map 1", 2019, 1, "Alpha", 5.0, 20.0, "650"), ("Map 1", 2019, 1, "Beta", 6.0, 22.0, "650"),
                            ("Map 1 Rev. 1", 2019, 6, "Beta", 6.0, 22.0, "650")])
    # windows: placebo from 2017-01 (24 months before map k), post to 2020-05
    with pytest.raises(EffectError, match=r"events cover 2018-01 to 2021-01 but .* need 2017-01 to 2020-05; pass an events file"):
        estimate_effect(bases, _ged(tmp_path, ["2018-01-15", "2021-01-15"]))
    est = estimate_effect(bases, _ged(tmp_path, ["2016-01-15", "2021-01-15"]), n_boot=99)
    assert [(e.name, e.kind) for e in est.episodes] == [("Alpha", "closure")]


def test_bases_without_dates(tmp_path):
    p = tmp_path / "bases.csv"
    pd.DataFrame({"base_id": ["a", "b"], "strength": [650, 150], "longitude": [20.0, 21.0],
                  "latitude": [5.0, 5.5]}).to_csv(p, index=False)
    with pytest.raises(EffectError, match=r"no dates \(no map_date\); .* pass the Geo-PKO v2.1 file"):
        estimate_effect(p, _ged(tmp_path, ["2015-01-01"]))


def test_cli_errors_are_one_line(tmp_path, capsys):
    from cli.main import main

    bases = _v21(tmp_path, [("Map 1", 2019, 1, "Alpha", 5.0, 20.0, "650"), ("Map 1 Rev. 1", 2019, 6, "Alpha", 5.0, 20.0, "650")])
    rc = main(["effect", "--bases", str(bases), "--events", str(_ged(tmp_path, ["2015-01-01"]))])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and err.startswith("vacuum: error: no closure")


def test_cli_writes_effect_json(tmp_path, capsys):
    from cli.main import main

    bases = _v21(tmp_path, [("Map 1", 2019, 1, "Alpha", 5.0, 20.0, "650"), ("Map 1", 2019, 1, "Beta", 6.0, 22.0, "650"),
                            ("Map 1 Rev. 1", 2019, 6, "Beta", 6.0, 22.0, "650")])
    rc = main(["effect", "--bases", str(bases), "--events", str(_ged(tmp_path, ["2016-01-15", "2021-01-15"])),
               "--n-boot", "99", "--out", str(tmp_path / "eff")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "WEAK: only 1 episode" in out
    doc = json.loads((tmp_path / "eff" / "effect.json").read_text())
    assert doc["n_episodes"] == 1 and doc["weak"] is True
    assert [r["ring"] for r in doc["rings"]] == ["0-15km", "15-30km", "30-60km"]
    assert (tmp_path / "eff" / "effect.csv").is_file()
    assert load_effect(tmp_path / "eff" / "effect.json").episodes[0].map_after == date(2019, 6, 1)


# ------------------------------------------------------- scenario ranges per phase


@pytest.fixture(scope="module")
def two_base_analysis(tmp_path_factory):
    """Bases a (-10 km, 0) and b (+10 km, 0), each reaching 20 km; events under b and 15 km
    east of it in June 2020; as of 2020-07-01."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    from geo.grid import equal_area_crs
    from geo.params import Params
    from geo.pipeline import AnalysisInputs, analyze
    from geo.products import write_analysis

    crs = equal_area_crs(20.0, 6.0)
    area = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1], "parent": [None, None]},
                            geometry=[box(-30_000, -20_000, 0, 20_000), box(0, -20_000, 30_000, 20_000)], crs=crs)
    bases = gpd.GeoDataFrame({"base_id": ["a", "b"], "name": ["a", "b"], "strength": [650.0, 650.0],
                              "unit_type": ["infantry"] * 2, "mission": ["M"] * 2},
                             geometry=[Point(-10_000, 0), Point(10_000, 0)], crs=crs)
    pts = [(10_000, 5_000), (10_500, 5_500), (25_500, 500), (-10_000, 5_000)]
    events = gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))], "date": pd.to_datetime(["2020-06-01"] * len(pts)),
                               "event_type": ["one_sided"] * len(pts), "fatalities": [1.0] * len(pts)},
                              geometry=[Point(*p) for p in pts], crs=crs)
    p = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)
    folder = tmp_path_factory.mktemp("two")
    write_analysis(analyze(AnalysisInputs(bases=bases, events=events, admin=area), p, date(2020, 7, 1)), folder)
    return folder


def _close_b():
    from geo.plan import parse_plan

    return parse_plan({"name": "t", "phases": [{"name": "p1", "date": "2021-01-01", "actions": [{"close": ["b"]}]}]})


def _by_hand(analysis, scenario):
    """Lost-cover cells from the two coverage rasters, the 15-30 / 30-60 km ring cells around b
    from the grid, and the events in each (read from the analysis' events file)."""
    import geopandas as gpd

    from geo.rasters import read_surface

    before, grid = read_surface(analysis / "coverage.tif")
    after, _ = read_surface(scenario / "phase_1" / "coverage.tif")
    ok = np.isfinite(after)
    lost = ok & (before >= 0.5) & (after < 0.5)
    x, y = grid.cell_centres()
    dist = np.hypot(x[None, :] - 10_000, y[:, None] - 0) / 1000
    rings = {"15-30km": ok & ~lost & (dist >= 15) & (dist < 30), "30-60km": ok & ~lost & (dist >= 30) & (dist < 60)}
    ev = gpd.read_file(analysis / "events.geojson").to_crs(grid.crs)
    r, c, _ = grid.rowcol(ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy())
    n_ev = {"lost_cover": int(lost[r, c].sum()), **{k: int(m[r, c].sum()) for k, m in rings.items()}}
    km2 = {"lost_cover": float(lost.sum()), **{k: float(m.sum()) for k, m in rings.items()}}
    return km2, n_ev


def test_scenario_without_effect_says_not_computed(two_base_analysis, tmp_path):
    from geo.scenario import load_baseline
    from geo.scenario_products import run_scenario

    s = run_scenario(load_baseline(two_base_analysis), _close_b(), tmp_path)
    ec = s["phases"][0]["expected_change"]
    assert ec["status"] == "not_computed" and ec["note"] == "no effect estimate: expected change not computed"
    assert json.loads((tmp_path / "phase_1" / "expected_change.json").read_text())["status"] == "not_computed"
    assert pd.read_csv(tmp_path / "phase_1" / "expected_change.csv").empty


def test_scenario_ranges_from_an_estimate_and_from_the_prior(two_base_analysis, tmp_path):
    from geo.scenario import load_baseline
    from geo.scenario_products import run_scenario

    est = _estimate(*_many_episodes(12))
    s = run_scenario(load_baseline(two_base_analysis), _close_b(), tmp_path / "est", effect=est)
    km2, n_ev = _by_hand(two_base_analysis, tmp_path / "est")
    assert km2["lost_cover"] > 0 and n_ev["lost_cover"] >= 2  # the two events under b
    ec = {a["area"]: a for a in s["phases"][0]["expected_change"]["areas"]}
    r0 = est.rings[0]
    # the ring's relative change (treated pre mean 1 event a month) x the events there before
    assert ec["lost_cover"]["area_km2"] == pytest.approx(km2["lost_cover"])
    assert ec["lost_cover"]["baseline_events"] == pytest.approx(n_ev["lost_cover"])
    assert ec["lost_cover"]["central"] == pytest.approx(r0.estimate * n_ev["lost_cover"])
    assert ec["lost_cover"]["low"] == pytest.approx(r0.ci_low * n_ev["lost_cover"])
    assert ec["15-30km"]["area_km2"] == pytest.approx(km2["15-30km"])
    assert ec["30-60km"]["area_km2"] == pytest.approx(km2["30-60km"])
    assert s["phases"][0]["expected_change"]["n_episodes"] == 12
    table = pd.read_csv(tmp_path / "est" / "phase_1" / "expected_change.csv")
    assert list(table["area"]) == ["lost_cover", "15-30km", "30-60km"]

    s = run_scenario(load_baseline(two_base_analysis), _close_b(), tmp_path / "prior", effect=LITERATURE_PRIOR)
    ec = {a["area"]: a for a in s["phases"][0]["expected_change"]["areas"]}
    # events in the 12 months before the as-of date, times the prior's relative change
    for area, ring in (("lost_cover", "0-15km"), ("15-30km", "15-30km"), ("30-60km", "30-60km")):
        lo, mid, hi = LITERATURE_PRIOR.relative[ring]
        assert ec[area]["baseline_events"] == pytest.approx(n_ev[area])
        assert (ec[area]["low"], ec[area]["central"], ec[area]["high"]) == pytest.approx((lo * n_ev[area], mid * n_ev[area], hi * n_ev[area]))


def test_plan_effect_field_and_cli_flags(two_base_analysis, tmp_path, capsys):
    from cli.main import main

    est = _estimate(*_many_episodes(12))
    est.save(tmp_path / "effect.json")
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: t\neffect: effect.json\nphases:\n  - name: p1\n    date: 2021-01-01\n"
                    "    actions:\n      - close: [b]\n")
    assert main(["scenario", "--analysis", str(two_base_analysis), "--plan", str(plan), "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "expected change in events, 12 months, low/central/high (effect_estimate)" in out
    assert main(["scenario", "--analysis", str(two_base_analysis), "--plan", str(plan), "--out", str(tmp_path / "b"),
                 "--quiet", "--effect-prior", "literature"]) == 0
    assert "(prior:literature)" in capsys.readouterr().out
    plan.write_text(plan.read_text().replace("effect.json", "missing.json"))
    assert main(["scenario", "--analysis", str(two_base_analysis), "--plan", str(plan), "--out", str(tmp_path / "c"),
                 "--quiet"]) == 2
    assert "effect 'missing.json': no such effect.json" in capsys.readouterr().err


def test_service_refuses_an_effect_path_in_a_plan(two_base_analysis):
    from api.scenarios import check_plan
    from geo.plan import PlanError, parse_plan

    doc = {"name": "t", "effect": "/etc/effect.json",
           "phases": [{"name": "p1", "date": "2021-01-01", "actions": [{"close": ["b"]}]}]}
    with pytest.raises(PlanError, match="the service reads no effect files"):
        check_plan(two_base_analysis, parse_plan(doc))
    assert check_plan(two_base_analysis, parse_plan({**doc, "effect": "literature"})) == 1


def test_gains_placebo_on_the_direction():
    # base N opens at (0, 0) between the maps; B at 300 km stays. The block 5 km from N goes
    # from 3 events a month to 0 once covered, the controls near B stay at 1: gains = -3
    maps = [(D0, _map([("B", 300, 0, 650)])), (D1, _map([("B", 300, 0, 650), ("N", 0, 0, 650)]))]
    xy = np.array([[5, 0], [20, 0], [45, 0], [305, 0], [315, 0]], float) * KM
    counts = np.vstack([_series(3, 0), _series(0, 0), _series(0, 0), _series(1, 1), _series(1, 1)])
    episodes, pairs = find_episodes(maps)
    assert episodes == [] and [o.base_id for o in pairs[0]["openings"]] == ["N"]
    est = estimate_from_panel(counts, M0, xy, episodes, pairs, n_boot=99)
    assert est.n_gain_episodes == 1
    assert est.gains[0].estimate == pytest.approx(-3.0)
    assert est.gains[1].estimate == pytest.approx(0.0)
    assert est.rings[0].n_episodes == 0 and est.weak


def test_yearly_summary_and_several_missions_are_refused(tmp_path):
    p = tmp_path / "v23.csv"
    pd.DataFrame({"mission": ["M", "M"], "year": [2019, 2020], "location": ["A", "A"], "latitude": [5.0, 5.0],
                  "longitude": [20.0, 20.0], "NoTroops": ["650", "650"], "ave.no.troops": ["650", "650"],
                  "Infantry": [1, 1], "Reserve": [0, 0], "hq": [0, 0], "UNPOL": [0, 0], "UNMO": [0, 0],
                  "Av": [0, 0]}).to_csv(p, index=False)
    with pytest.raises(EffectError, match="v2.3 yearly summary has no dated maps; pass the Geo-PKO v2.1 file"):
        estimate_effect(p, _ged(tmp_path, ["2015-01-01"]))
    bases = _v21(tmp_path, [("Map 1", 2019, 1, "Alpha", 5.0, 20.0, "650")])
    two = pd.concat([pd.read_csv(bases, dtype=str), pd.read_csv(bases, dtype=str).assign(mission="OTHER")])
    two.to_csv(bases, index=False)
    with pytest.raises(EffectError, match=r"bases of 2 missions \(OTHER, TESTMIS\); pick one with --mission"):
        estimate_effect(bases, _ged(tmp_path, ["2015-01-01"]))
