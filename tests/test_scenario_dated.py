"""Dated scenarios on the hand-made two-base case: each phase against the previous one, and
the forecast each phase date gets (with and without a later event history)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point
from test_scenario import CRS, _events, _plan, two_bases  # noqa: F401, F811 - two_bases: the fixture

from geo.scenario import load_baseline
from geo.scenario_products import run_scenario


def test_each_phase_is_measured_against_the_one_before(two_bases, tmp_path):  # noqa: F811
    """Closures only: cover lost since the baseline adds up phase by phase, so the second
    phase's loss against the first is its total loss minus the first phase's."""
    s = run_scenario(load_baseline(two_bases), _plan([{"close": ["b"]}], [{"close": ["a"]}]), tmp_path)
    p1, p2 = s["phases"]
    assert p1["vs_previous"]["population_losing_cover"] == pytest.approx(p1["population_losing_cover"])
    assert p2["vs_previous"]["population_losing_cover"] == pytest.approx(
        p2["population_losing_cover"] - p1["population_losing_cover"])
    assert p2["vs_previous"]["area_losing_cover_km2"] > 0  # a's cells, covered until phase 2
    a1 = pd.read_csv(tmp_path / "phase_1" / "admin_change.csv").set_index("admin_id")
    a2 = pd.read_csv(tmp_path / "phase_2" / "admin_change.csv").set_index("admin_id")
    assert (a1["mean_gap_change_vs_previous"] == a1["mean_gap_change"]).all()  # phase 1: vs the baseline
    assert np.allclose(a2["mean_gap_change_vs_previous"], a2["mean_gap_after"] - a1.loc[a2.index, "mean_gap_after"])


def test_without_history_every_phase_says_it_uses_the_as_of_forecast(two_bases, tmp_path):  # noqa: F811
    s = run_scenario(load_baseline(two_bases), _plan([{"close": ["b"]}]), tmp_path)
    d = s["phases"][0]["dated"]
    assert d["method"] == "as_of" and d["months_after_as_of"] == 6  # 2020-07-01 to 2021-01-01
    assert "no event history after 2020-07-01" in d["note"]


def test_a_history_reaching_the_phase_refits_on_the_events_known_by_then(two_bases, tmp_path):  # noqa: F811
    later = gpd.GeoDataFrame({"event_id": ["9"], "date": pd.to_datetime(["2021-03-01"]), "event_type": ["one_sided"],
                              "fatalities": [1.0]}, geometry=[Point(10_000, 5_000)], crs=CRS)
    hist = pd.concat([_events([(-10_000, 5_000), (10_000, 5_000), (25_000, 0)]), later], ignore_index=True)
    bl = load_baseline(two_bases)
    s = run_scenario(bl, _plan([{"close": ["b"]}]), tmp_path, history=hist.to_crs(bl.grid.crs))
    d = s["phases"][0]["dated"]
    # the three events of June 2020 are known on 2021-01-01; the one of March 2021 is not
    assert d["method"] == "refit" and "fitted again at 2021-01-01 on the 3 events known by then" in d["note"]
    assert 0 <= d["risk_mean"] <= 1 and {"mean_gap", "vacuum_measure", "vs_previous"} <= set(d)
