"""End to end on the bundled real demo (MINUSCA, CAR, October 2020): facts a planner would check."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import DEMO, DEMO_AS_OF, events_in_window_by_hand, zones_by_hand

from geo.params import Params
from geo.rasters import read_surface

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(demo_analysis):
    return demo_analysis  # tests/conftest.py: the demo, run once per session


def _at(path, gdf):
    arr, grid = read_surface(path)
    g = gdf.to_crs(grid.crs)
    r, c, ok = grid.rowcol(g.geometry.x.to_numpy(), g.geometry.y.to_numpy())
    assert ok.all()
    return arr[r, c], arr, grid


def test_products_are_written(demo):
    for name in ("gap", "coverage", "threat", "exposure", "travel_time", "population"):
        with rasterio.open(demo / f"{name}.tif") as ds:
            assert ds.crs is not None and ds.profile["tiled"] and ds.profile["blockxsize"] == 512
            assert ds.overviews(1), f"{name}.tif has no overviews"
    for name in ("zones", "admin_summary", "bases"):
        doc = json.loads((demo / f"{name}.geojson").read_text())
        assert "crs" not in doc  # RFC 7946
        g = gpd.read_file(demo / f"{name}.geojson")
        if len(g):
            w, s, e, n = g.total_bounds
            assert 13 < w and e < 28 and 1 < s and n < 12  # lon/lat around the CAR
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(demo / "vacuum.gpkg")}
    assert {"zones", "admin_summary", "bases", "events"} <= layers
    tab = pd.read_csv(demo / "admin_summary.csv")
    assert len(tab) == 17 and {"mean_gap", "max_gap", "pop_weighted_gap", "pop_high", "pop_critical"} <= set(tab.columns)
    s = json.loads((demo / "summary.json").read_text())
    events = events_in_window_by_hand(DEMO / "events_ged_v23.1.csv", DEMO_AS_OF, Params().lookback_days, demo / "gap.tif")
    bases = pd.read_csv(DEMO / "bases_geopko_v2.1.csv")
    assert len(events) == 116 and len(bases) == 20  # the demo's data, as its SOURCE.md lists it
    assert s["as_of"] == "2020-10-31"
    assert s["layers"]["bases"] == len(bases) and s["layers"]["events_in_window"] == len(events)
    assert sorted(gpd.read_file(demo / "vacuum.gpkg", layer="events")["event_id"].astype(int)) == sorted(events["id"])
    assert set(s["gap"]["by_class"]) == {"low", "moderate", "elevated", "high", "critical"}


def test_cells_next_to_a_large_base_are_well_covered(demo):
    bases = gpd.read_file(demo / "bases.geojson")
    cov, arr, grid = _at(demo / "coverage.tif", bases)
    big = (bases["strength"] >= 650).to_numpy()
    assert big.sum() >= 10
    assert (cov[big] >= 0.9).all()
    # and the 3x3 neighbourhood (1 km around) of Bangui, the mission HQ with 3,135 troops
    r, c, _ = grid.rowcol(*[np.array([v]) for v in bases.to_crs(grid.crs).set_index("name").geometry["Bangui"].coords[0]])
    assert np.nanmin(arr[r[0] - 1:r[0] + 2, c[0] - 1:c[0] + 2]) > 0.99


def test_recent_fatal_events_beyond_reach_score_high(demo):
    """Fatal events of the last quarter (since 2020-08-01) where no base's protection
    reaches (coverage < 0.1: observer-only posts count as no protection) lie in the top 5 %
    of the area's gap, where the forecast risk is over five times the area's mean."""
    ev = gpd.read_file(demo / "vacuum.gpkg", layer="events")
    ev["date"] = pd.to_datetime(ev["date"])
    cov, _, _ = _at(demo / "coverage.tif", ev)
    gap, gap_all, _ = _at(demo / "gap.tif", ev)
    risk, risk_all, _ = _at(demo / "risk.tif", ev)
    sel = (ev["date"] >= "2020-08-01").to_numpy() & (ev["fatalities"] > 0).to_numpy() & (cov < 0.1)
    assert sel.sum() >= 3, "the demo should have recent fatal events beyond any base's reach"
    top5 = np.nanpercentile(gap_all, 95)
    assert (gap[sel] > top5).all(), f"gap at recent fatal events beyond reach: {gap[sel]}, 95th percentile {top5}"
    assert (risk[sel] > 5 * np.nanmean(risk_all)).all(), risk[sel]
    # and the same events where a battalion does reach are not in a vacuum: low class
    covered = (ev["date"] >= "2020-08-01").to_numpy() & (cov >= 0.9)
    assert covered.any() and (gap[covered] < Params().class_breaks[0]).all()


def test_zones_name_their_nearest_base(demo):
    z = gpd.read_file(demo / "zones.geojson")
    p = Params()
    by_hand = zones_by_hand(demo / "gap.tif", p.zone_threshold, p.zone_min_area_km2)
    assert len(by_hand) >= 1
    assert sorted(z["area_km2"], reverse=True) == pytest.approx(list(by_hand))
    assert json.loads((demo / "summary.json").read_text())["zones"]["count"] == len(by_hand)
    assert (z["max_gap"] >= p.zone_threshold).all() and (z["area_km2"] >= p.zone_min_area_km2).all()
    # the nearest base is one with troops; a zone with none in reach names the presence-only site
    # (0 troops in Geo-PKO) it lies at instead (the Ndélé, Zémio and Obo posts of the demo)
    bases = gpd.read_file(demo / "bases.geojson").set_index("base_id")
    named = z["nearest_base_id"].notna()
    assert z.loc[named, "nearest_base_id"].map(bases["strength"]).gt(0).all()
    assert z.loc[~named, "presence_site_id"].notna().all()
    assert z["presence_site_id"].dropna().map(bases["strength"]).eq(0).all()
    assert (z["population"] > 0).all()
