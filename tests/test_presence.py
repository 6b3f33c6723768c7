"""Presence-only sites (HQ, observers, police: 0 troops): flagged in tables and tooltips, and a
zone's nearest base is the nearest base with troops, the presence site named beside it."""

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from rasterio import features
from shapely.geometry import Point, box

from geo.grid import equal_area_crs
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.zones import PRESENCE_LABEL, presence_only

CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["A"], "level": [1], "parent": [None]},
                        geometry=[box(-30_000, -15_000, 30_000, 15_000)], crs=CRS)
# no roads: 10 km/h everywhere, 1 km cells, so a straight or diagonal step costs 0.1 h or 0.1 * sqrt(2) h
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2,
           zone_min_area_km2=1, zone_threshold=35)


def _post_inputs() -> AnalysisInputs:
    bases = gpd.GeoDataFrame({"base_id": ["bat", "obs"], "name": ["Battalion", "Observers"],
                              "strength": [650.0, 0.0], "unit_type": ["infantry", "observer"], "mission": ["M"] * 2,
                              "strength_source": ["reported", "presence_only"]},
                             geometry=[Point(-20_500, 500), Point(20_500, 500)], crs=CRS)
    rng = np.random.default_rng(1)
    pts = [(20_500 + dx, 500 + dy) for dx, dy in rng.normal(0, 3000, (40, 2))]
    events = gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))],
                               "date": pd.to_datetime(["2020-06-01"] * len(pts)),
                               "event_type": ["one_sided"] * len(pts), "fatalities": [5.0] * len(pts)},
                              geometry=[Point(*q) for q in pts], crs=CRS)
    towns = gpd.GeoDataFrame({"site_id": ["t"], "name": ["T"], "kind": ["town"], "population": [30_000.0],
                              "subtype": [""]}, geometry=[Point(20_500, 2_500)], crs=CRS)
    return AnalysisInputs(bases=bases, events=events, admin=AREA, sites=towns)


@pytest.fixture(scope="module")
def post_zone():
    return analyze(_post_inputs(), P, pd.Timestamp("2020-07-01").date())  # the troop search on a forked process


def test_presence_only_rows_are_the_zero_troop_sites():
    b = pd.DataFrame({"strength": [650.0, 0.0, 35.0], "strength_source": ["reported", "presence_only", "reported"]})
    assert presence_only(b).tolist() == [False, True, False]


def test_a_zone_at_the_post_reports_the_battalion_and_names_the_post(post_zone):
    a = post_zone
    z = a.zones[a.zones["presence_site_name"].notna()]
    assert len(z) >= 1
    row = z.iloc[0]
    assert row["nearest_base_name"] == "Battalion" and row["presence_site_name"] == "Observers"
    # the post's own cell or a neighbour is in the zone: 0 h, or one step (0.1 h or 0.14 h)
    assert row["presence_site_travel_time_h"] <= 0.1 * math.sqrt(2) + 1e-6
    # the battalion's time by hand: the octile distance from its cell to the zone's nearest cell, x 0.1 h
    lab = features.rasterize([(row.geometry, 1)], out_shape=a.grid.shape, transform=a.grid.transform, fill=0)
    rr, cc = np.nonzero(lab)
    br, bc, _ = a.grid.rowcol(np.array([-20_500.0]), np.array([500.0]))
    dr, dc = np.abs(rr - br[0]), np.abs(cc - bc[0])
    octile = (np.maximum(dr, dc) - np.minimum(dr, dc)) + np.minimum(dr, dc) * math.sqrt(2)
    assert row["travel_time_h"] == pytest.approx(0.1 * octile.min(), rel=1e-4)
    assert row["travel_time_h"] > 1.0 > row["presence_site_travel_time_h"]  # not the post's "0.0 h"


def test_tooltips_and_popups_say_presence_only():
    from maps.areas import ZONE_FIELDS
    from maps.bases import base_popup_html, strength_text

    post = {"base_id": "obs", "name": "Observers", "strength": 0.0, "strength_source": "presence_only"}
    assert strength_text(post) == PRESENCE_LABEL == "presence only, 0 troops"
    assert strength_text({"strength": 650.0, "strength_source": "reported"}) == "650 troops"
    assert "presence only, 0 troops" in base_popup_html(post)
    zone = {"presence_site_name": "Ndélé", "presence_site_travel_time_h": 0.0, "nearest_base_name": "Kaga Bandoro"}
    assert ZONE_FIELDS["presence"][1](zone) == "Ndélé (presence only, 0 troops), 0.0 h"
    assert ZONE_FIELDS["presence"][1]({"presence_site_name": None}) == "–"


def test_the_keep_table_flags_presence_only_sites():
    from scipy import sparse

    from geo.budget import BudgetProblem, choice_table, solve_greedy

    bases = gpd.GeoDataFrame({"base_id": ["bat", "obs"], "name": ["Battalion", "Observers"], "strength": [650.0, 0.0]},
                             geometry=[Point(0, 0), Point(1, 1)], crs=CRS)
    p = BudgetProblem(["bat"], np.array([10.0]), np.array([0.1]), sparse.csc_matrix(np.ones((1, 1))),
                      [[(650.0, 1.0)]], presence_only=["obs"])
    t = choice_table(solve_greedy(p, 650), bases, p).set_index("base_id")
    assert t.loc["obs", "status"] == "presence only, 0 troops" and bool(t.loc["obs", "presence_only"])
    assert t.loc["bat", "status"] == "kept" and t.loc["bat", "troops_kept"] == 650.0


def test_the_troop_search_in_this_process_gives_the_same_zones(post_zone):
    one = analyze(_post_inputs(), P, pd.Timestamp("2020-07-01").date(), n_jobs=1)  # one process: searched inline
    assert one.zones.drop(columns="geometry").equals(post_zone.zones.drop(columns="geometry"))
    assert one.zones.geometry.equals(post_zone.zones.geometry)
