"""vacuum monitor: dates, series statistics, zone tracks and alert rules by hand; a small
real run over the demo data; resume without recomputing; bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import DEMO, events_in_window_by_hand
from shapely.geometry import box

from cli.main import main
from geo.alerts import (
    AlertRules,
    alert_rules,
    class_crossings,
    rise_onsets,
    unit_alerts,
    zone_alerts,
)
from geo.errors import ConfigError
from geo.monitor import (
    MonitorError,
    check_dates,
    load_monitor,
    monitor_dates,
    parse_every,
    run_monitor,
    track_zones,
    unit_stats,
)

# --- dates ----------------------------------------------------------------------------


def test_monthly_dates_from_a_month_end_stay_on_month_ends():
    got = monitor_dates(date(2020, 1, 31), date(2020, 5, 31), 1)
    assert got == [date(2020, 1, 31), date(2020, 2, 29), date(2020, 3, 31), date(2020, 4, 30), date(2020, 5, 31)]


def test_quarterly_dates_keep_the_day_of_month():
    assert monitor_dates(date(2020, 1, 15), date(2020, 12, 31), parse_every("3M")) == [
        date(2020, 1, 15), date(2020, 4, 15), date(2020, 7, 15), date(2020, 10, 15)]
    assert parse_every("1Y") == 12 and parse_every("2Q") == 6


def test_bad_intervals_and_dates_name_the_fix():
    with pytest.raises(MonitorError, match="1M, 3M"):
        parse_every("fortnight")
    with pytest.raises(MonitorError, match="2020-02-29 comes after 2020-03-31"):
        check_dates([date(2020, 3, 31), date(2020, 2, 29)])
    many = monitor_dates(date(2000, 1, 31), date(2021, 1, 31), 1)
    assert len(many) == 253
    with pytest.raises(MonitorError, match="--max-dates"):
        check_dates(many)
    check_dates(many, max_dates=300)


# --- series statistics by hand --------------------------------------------------------


def test_unit_stats_by_hand():
    nan = np.nan
    surfaces = {"gap": np.array([[5.0, 40.0], [60.0, nan]]), "risk": np.array([[0.1, 0.2], [0.3, nan]]),
                "coverage": np.array([[0.5, 0.1], [0.1, nan]]), "population": np.array([[10.0, 20.0], [30.0, nan]])}
    prev = np.array([[0.1, 0.5], [0.1, nan]])
    st = unit_stats(np.arange(4), surfaces, prev, (10, 20, 35, 50), 0.2)
    assert st["risk_mean"] == pytest.approx(0.2) and st["risk_max"] == pytest.approx(0.3)
    assert st["gap_mean"] == pytest.approx(35.0) and st["gap_max"] == 60.0
    assert st["gap_pop_weighted"] == pytest.approx((5 * 10 + 40 * 20 + 60 * 30) / 60)
    assert st["population"] == 60 and st["people_high"] == 20 and st["people_critical"] == 30
    assert st["coverage_mean"] == pytest.approx(0.7 / 3)
    assert st["people_uncovered"] == 50  # the two cells at coverage 0.1
    assert st["people_lost_cover"] == 20 and st["people_gained_cover"] == 10
    first = unit_stats(np.array([0, 1]), surfaces, None, (10, 20, 35, 50), 0.2)
    assert np.isnan(first["people_lost_cover"]) and first["population"] == 30


def test_zones_keep_the_track_they_overlap_most():
    prev = [("Z0001", box(0, 0, 2, 2)), ("Z0002", box(10, 10, 12, 12))]
    new = [box(1, 1, 3, 3), box(20, 20, 21, 21), box(1.5, 0, 11.5, 12)]
    ids, nxt = track_zones(prev, new, 3)
    # the third overlaps Z0001 by 0.5 x 2 = 1 and Z0002 by 1.5 x 2 = 3
    assert ids == ["Z0001", "Z0003", "Z0002"] and nxt == 4


# --- alert rules by hand --------------------------------------------------------------


def test_class_crossings_by_hand():
    # classes (breaks 0.01, 0.05, 0.15, 0.35): 0, 1, 3, 2, 4; NaN breaks the chain
    assert class_crossings([0.005, 0.02, 0.2, 0.1, 0.4], (0.01, 0.05, 0.15, 0.35), 2) == [(2, 1, 3), (4, 2, 4)]
    assert class_crossings([0.005, np.nan, 0.4], (0.01, 0.05, 0.15, 0.35), 2) == []


def test_rise_onsets_by_hand():
    dates = monitor_dates(date(2020, 1, 31), date(2020, 6, 30), 1)
    # Mar: 20 - 5 (Jan) = 15 >= 10, onset; Apr still holds (no new onset); May: 8 vs min 6 no;
    # Jun: 30 vs min(20, 25, 8) = 8 over the three months before: onset, reference May
    assert rise_onsets([5, 6, 20, 25, 8, 30], dates, points=10, factor=100, months=3) == [(2, 0), (5, 4)]
    assert rise_onsets([2, 4.5], dates[:2], points=100, factor=2, months=3) == [(1, 0)]
    assert rise_onsets([0.4, 0.9], dates[:2], points=100, factor=2, months=3) == []  # below 1 point: no factor


def _series(rows):
    cols = ["unit_id", "name", "date", "risk_mean", "gap_max", "people_lost_cover", "people_uncovered", "event_ids"]
    return pd.DataFrame(rows, columns=cols)


def test_unit_alerts_name_values_dates_and_events():
    s = _series([
        ("A", "Alpha", "2020-01-31", 0.02, 5.0, np.nan, 100.0, ""),
        ("A", "Alpha", "2020-02-29", 0.20, 8.0, 0.0, 100.0, "e1;e2"),
        ("B", "Beta", "2020-01-31", 0.001, 1.0, np.nan, 0.0, ""),
        ("B", "Beta", "2020-02-29", 0.001, 1.0, 1500.0, 1500.0, "e9"),
    ])
    got = unit_alerts(s, AlertRules(), (10, 20, 35, 50))
    by = {(a.unit_id, a.rule, a.metric): a for a in got}
    cross = by[("A", "crossing", "risk_mean")]
    assert (cross.before, cross.after, cross.before_date, cross.date) == (0.02, 0.20, "2020-01-31", "2020-02-29")
    assert cross.event_ids == ("e1", "e2") and cross.severity == "medium"  # class 3 (15-35 %)
    rise = by[("A", "rise", "risk_mean")]  # 2 -> 20 points
    assert rise.before == 0.02 and rise.after == 0.20
    unc = by[("B", "uncovered", "people_uncovered")]
    assert (unc.before, unc.after, unc.event_ids) == (0.0, 1500.0, ("e9",))
    assert len(got) == 3  # gap_max stays in the lowest class and rises by 3 points only


def test_new_zone_alerts_skip_the_first_date_and_small_zones():
    z = pd.DataFrame({"date": ["2020-01-31", "2020-02-29", "2020-02-29", "2020-02-29"],
                      "track": ["Z0001", "Z0001", "Z0002", "Z0003"], "population": [50.0, 60.0, 900.0, 10.0],
                      "area_km2": [100.0, 100.0, 50.0, 25.0], "unit_id": ["A", "A", "B", "B"],
                      "unit_name": ["Alpha", "Alpha", "Beta", "Beta"], "event_ids": ["", "", "e3", ""]})
    got = zone_alerts(z, AlertRules(new_zone_min_people=100))
    assert [(a.zone, a.unit_id, a.date, a.after, a.event_ids) for a in got] == [
        ("Z0002", "B", "2020-02-29", 900.0, ("e3",))]
    assert zone_alerts(z, AlertRules(new_zone=False)) == []


def test_alert_rules_refuse_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match="unknown key"):
        alert_rules({"rise_pionts": 3})
    with pytest.raises(ConfigError, match="min_class = 7"):
        alert_rules({}, min_class=7)
    assert alert_rules({"rise_points": 5}, rise_factor=3.0, min_class=None).rise_points == 5


# --- real runs ------------------------------------------------------------------------

FAST = ["--config", str(DEMO / "demo.toml"), "--resolution", "20000", "--set", 'forecast_model="logistic"',
        "--surfaces-only", "--no-charts", "--quiet"]


def _hashes(folder: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_three_dates_over_the_demo(tmp_path):
    out = tmp_path / "mon"
    dates = "2020-10-31,2020-11-30,2020-12-31"
    assert main(["monitor", *FAST[:-3], "--no-charts", "--dates", dates, "--out", str(out)]) == 0
    state = json.loads((out / "monitor.json").read_text())
    assert state["status"] == "complete" and state["finished"] == dates.split(",")
    # one Geo-PKO map (Oct 2020) in the demo: the travel times of the first date serve the others
    assert "travel" in state["reused"]["2020-11-30"] and "travel" in state["reused"]["2020-12-31"]
    # forecast_refit_months is 12 by default: the model fitted on 2020-10-31 serves the next two
    # months (Dec 31 closes a new origin, but the fit is 2 months old); tests/test_forecast_refit.py
    # checks when a model is fitted again
    assert "forecast" in state["reused"]["2020-11-30"] and "forecast" in state["reused"]["2020-12-31"]
    dec = json.loads((out / "dates" / "2020-12-31" / "summary.json").read_text())
    assert dec["forecast"]["fitted_as_of"] == "2020-10-31"
    series = pd.read_csv(out / "series" / "admin.csv", dtype={"unit_id": str})
    admin = gpd.read_file(DEMO / "admin1_naturalearth.geojson")
    assert len(series) == 3 * len(admin)
    # events in each unit's window, from the GED file and the admin polygons, not the engine
    for d in dates.split(","):
        ev = events_in_window_by_hand(DEMO / "events_ged_v23.1.csv", date.fromisoformat(d), 730,
                                      out / "dates" / d / "gap.tif")
        pts = gpd.GeoDataFrame(ev, geometry=gpd.points_from_xy(ev["longitude"], ev["latitude"]), crs=4326)
        joined = gpd.sjoin(pts, admin, predicate="within")
        got = series[series["date"] == d]["events_in_window"].sum()
        assert got == len(joined), d
    geo = gpd.read_file(out / "series" / "admin.geojson")
    assert len(geo) == len(series) and "date" in geo
    assert (out / "alerts.json").is_file() and (out / "alerts.csv").is_file()
    assert (out / "series" / "zones.csv").is_file()


@pytest.mark.slow
def test_resume_continues_without_recomputing(tmp_path, capsys):
    out = tmp_path / "mon"
    # four dates inside one quarter: one forecast fit per process
    assert main(["monitor", *FAST, "--dates", "2020-10-31,2020-11-10", "--out", str(out)]) == 0
    before = {d: _hashes(out / "dates" / d) for d in ("2020-10-31", "2020-11-10")}
    assert main(["monitor", "--resume", str(out), "--dates", "2020-10-31,2020-11-10,2020-11-20,2020-11-30",
                 "--quiet", "--no-charts"]) == 0
    state = load_monitor(out)
    assert state.status == "complete" and state.finished == ["2020-10-31", "2020-11-10", "2020-11-20", "2020-11-30"]
    for d, h in before.items():
        assert _hashes(out / "dates" / d) == h, d
    assert len(pd.read_csv(out / "series" / "admin.csv")) == 4 * 17
    # layers that changed since (here: the stored grid made one column wider) are refused
    doc = json.loads((out / "monitor.json").read_text())
    doc["grid"]["width"] += 1
    (out / "monitor.json").write_text(json.dumps(doc))
    assert main(["monitor", "--resume", str(out), "--dates", "2020-10-31,2020-11-10,2020-11-20,2020-11-30,2020-12-10",
                 "--quiet", "--no-charts"]) == 2
    assert "differs from the monitor's first date" in capsys.readouterr().err
    assert load_monitor(out).status == "interrupted"
    assert _hashes(out / "dates" / "2020-10-31") == before["2020-10-31"]


@pytest.mark.slow
def test_interrupted_monitor_is_marked_and_resumes(tmp_path):
    from geo.inputs import InputSpec
    from geo.params import load_params

    out = tmp_path / "mon"
    spec = InputSpec(bases=DEMO / "bases_geopko_v2.1.csv", events=DEMO / "events_ged_v23.1.csv",
                     admin=DEMO / "admin1_naturalearth.geojson")
    params = load_params(None, resolution_m=20000, forecast_model="logistic")

    def stop(done):
        raise KeyboardInterrupt  # as Ctrl-C after the first date

    with pytest.raises(KeyboardInterrupt):
        run_monitor(spec, params, [date(2020, 10, 31), date(2020, 11, 10)], out, surfaces_only=True, on_date=stop,
                    charts=False)
    state = load_monitor(out)
    assert state.status == "interrupted" and state.finished == ["2020-10-31"] and "KeyboardInterrupt" in state.error
    assert main(["monitor", "--resume", str(out), "--quiet", "--no-charts"]) == 0
    assert load_monitor(out).finished == ["2020-10-31", "2020-11-10"]
    assert load_monitor(out).status == "complete"


def test_a_killed_monitor_reads_as_interrupted(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    doc = {"dates": ["2020-10-31"], "status": "running", "finished": [], "params": {}, "alert_rules": {},
           "spec": {}, "pid": dead.pid, "host": socket.gethostname()}
    (tmp_path / "monitor.json").write_text(json.dumps(doc))
    state = load_monitor(tmp_path)
    assert state.status == "interrupted" and str(dead.pid) in state.error


def test_bad_ranges_name_what_the_files_hold(tmp_path, capsys):
    # the demo's Geo-PKO file holds one map, October 2020
    assert main(["monitor", *FAST, "--dates", "2019-06-30,2020-10-31", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "2019-06-30" in err and "maps from 2020-10 to 2020-10" in err
    # a year after the map, it is stale (max-map-age 365 days) ...
    assert main(["monitor", *FAST, "--dates", "2021-11-30", "--out", str(tmp_path / "b")]) == 2
    assert "more than 365" in capsys.readouterr().err
    # ... and kept, the events (which end in October 2020) leave the look-back window empty
    # (look-back 730 days)
    assert main(["monitor", *FAST, "--max-map-age", "none", "--dates", "2022-11-30,2022-12-31",
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "no event between 2020-11-30" in err and "the events file holds 2009-01-13 to 2020-10-24" in err
    assert main(["monitor", *FAST, "--dates", "2020-12-31,2020-11-30", "--out", str(tmp_path / "c")]) == 2
    assert "out of order" in capsys.readouterr().err
    assert main(["monitor", *FAST, "--from", "2000-01-31", "--to", "2020-10-31", "--out", str(tmp_path / "d")]) == 2
    assert "--max-dates" in capsys.readouterr().err


def test_reuse_recomputes_only_for_a_new_key():
    from geo.pipeline import Reuse

    calls = []
    r = Reuse()
    assert r.get("travel", "k1", lambda: calls.append(1) or "a") == "a"
    assert r.get("travel", "k1", lambda: calls.append(2) or "b") == "a"
    assert r.get("travel", "k2", lambda: calls.append(3) or "c") == "c"
    assert calls == [1, 3] and r.hits == {"travel": 1}


def test_reuse_keys_and_reprojections_follow_the_objects():
    import geo.pipeline as gp

    frame = gpd.GeoDataFrame({"v": [1]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    r = gp.Reuse()
    k1 = r.fingerprint("friction", {"res": 1000}, frame)
    frame.loc[0, "v"] = 2  # changed in place: the same object, so the kept key is given (inputs are not mutated)
    assert r.fingerprint("friction", {"res": 1000}, frame) == k1
    assert r.fingerprint("friction", {"res": 1000}, frame.copy()) != k1  # another object: hashed, its content differs
    assert r.fingerprint("friction", {"res": 2000}, frame) != k1  # another value: another key
    from geo.grid import grid_for_area

    grid = grid_for_area(frame, resolution_m=20_000.0)
    def reproject(f):
        return r.same_as_before("layer:admin", (f, grid.to_dict()), lambda: f.to_crs(grid.crs))

    once = reproject(frame)
    assert once.crs == grid.crs and reproject(frame) is once
    assert reproject(frame.copy()) is not once  # another input frame: reprojected


@pytest.mark.slow
def test_a_reused_date_is_the_same_as_a_fresh_analysis():
    from geo.inputs import InputSpec, build_inputs
    from geo.params import load_params
    from geo.pipeline import Reuse, analyze

    inputs = build_inputs(InputSpec(bases=DEMO / "bases_geopko_v2.1.csv", events=DEMO / "events_ged_v23.1.csv",
                                    admin=DEMO / "admin1_naturalearth.geojson", as_of=date(2020, 10, 31)))
    params = load_params(None, resolution_m=20000, forecast_model="logistic")
    reuse = Reuse()
    analyze(inputs, params, date(2020, 10, 31), reuse=reuse)
    again = analyze(inputs, params, date(2020, 11, 30), reuse=reuse)
    fresh = analyze(inputs, params, date(2020, 11, 30))
    # the demo has presence-only sites, so the nearest base with troops is searched (and kept) too
    assert reuse.hits == {"friction": 1, "travel": 1, "exposure": 1, "troops": 1, "admin_cells": 1}
    assert len(reuse.forecasts) == 1  # one fit for both dates
    for name, values in fresh.surfaces.items():
        np.testing.assert_array_equal(again.surfaces[name], values, err_msg=name)
    pd.testing.assert_frame_equal(again.admin_table, fresh.admin_table)  # on the units' cells kept


def test_surfaces_only_dates_skip_the_tables_and_keep_the_rest():
    from geo.inputs import InputSpec, build_inputs
    from geo.params import load_params
    from geo.pipeline import analyze

    inputs = build_inputs(InputSpec(bases=DEMO / "bases_geopko_v2.1.csv", events=DEMO / "events_ged_v23.1.csv",
                                    admin=DEMO / "admin1_naturalearth.geojson", as_of=date(2020, 10, 31)))
    params = load_params(None, resolution_m=20000, forecast_model="logistic")
    full = analyze(inputs, params, date(2020, 10, 31))
    lean = analyze(inputs, params, date(2020, 10, 31), tables=False)
    assert full.admin_table is not None and lean.admin_table is None
    for name, values in full.surfaces.items():
        np.testing.assert_array_equal(lean.surfaces[name], values, err_msg=name)
    assert len(full.zones) > 0  # the demo has zones at 20 km: the comparison below compares something
    assert "mean_risk" in full.zones and "mean_risk" not in lean.zones
    assert "presence_site_id" in full.zones and "presence_site_id" not in lean.zones
    core = ["zone_id", "area_km2", "population", "mean_gap", "max_gap", "recent_events"]
    pd.testing.assert_frame_equal(lean.zones[core], full.zones[core])
    assert lean.summary["zones"] == full.summary["zones"] and lean.summary["gap"] == full.summary["gap"]
