"""End to end on the bundled real demo (MINUSCA, CAR, October 2020): facts a planner would check."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from conftest import DEMO, DEMO_AS_OF, events_in_window_by_hand, zones_by_hand
from pyproj import Geod

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
    reaches (coverage < 0.1: observer-only posts count as no protection) score high or critical."""
    ev = gpd.read_file(demo / "vacuum.gpkg", layer="events")
    ev["date"] = pd.to_datetime(ev["date"])
    cov, _, _ = _at(demo / "coverage.tif", ev)
    gap, _, _ = _at(demo / "gap.tif", ev)
    sel = (ev["date"] >= "2020-08-01").to_numpy() & (ev["fatalities"] > 0).to_numpy() & (cov < 0.1)
    assert sel.sum() >= 3, "the demo should have recent fatal events beyond any base's reach"
    assert (gap[sel] >= 60).all(), f"gap at recent fatal events beyond reach: {gap[sel]}"
    # and the same events where a battalion does reach are not in a vacuum
    covered = (ev["date"] >= "2020-08-01").to_numpy() & (cov >= 0.9)
    assert covered.any() and (gap[covered] < 20).all()


def test_population_total_is_preserved(demo):
    # CAR: 7.3 people/km² mean over the Natural Earth polygon on the source grid (SOURCE.md);
    # the grid's total inside the prefectures must match the source's people within 2%
    pop, grid = read_surface(demo / "population.tif")
    total = np.nansum(pop)
    with rasterio.open(DEMO / "population_worldpop2020_density.tif") as ds:
        dens = ds.read(1, masked=True).filled(0).clip(0)
        t = ds.transform
        assert ds.crs.is_geographic
    # km² of each source cell: the geodesic area of the cell's polygon on WGS84 (one per row)
    geod = Geod(ellps="WGS84")
    row_km2 = np.array([abs(geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c],
                                                        [y0, y0, y0 + t.e, y0 + t.e])[0]) / 1e6
                        for y0 in t.f + np.arange(dens.shape[0]) * t.e])
    area = np.repeat(row_km2[:, None], dens.shape[1], axis=1)
    lon = t.c + (np.arange(dens.shape[1]) + 0.5) * t.a
    lat = t.f + (np.arange(dens.shape[0]) + 0.5) * t.e
    LON, LAT = np.meshgrid(lon, lat)
    car = gpd.read_file(DEMO / "admin1_naturalearth.geojson").union_all()
    inside = shapely.contains_xy(car, LON, LAT)
    expected = float((dens * area)[inside].sum())
    assert total == pytest.approx(expected, rel=0.02)
    assert 4.0e6 < total < 5.2e6  # the CAR's ~4.8 M people in 2020 (WorldPop unconstrained)


def test_zones_name_their_nearest_base(demo):
    z = gpd.read_file(demo / "zones.geojson")
    p = Params()
    by_hand = zones_by_hand(demo / "gap.tif", p.zone_threshold, p.zone_min_area_km2)
    assert len(by_hand) >= 1
    assert sorted(z["area_km2"], reverse=True) == pytest.approx(list(by_hand))
    assert json.loads((demo / "summary.json").read_text())["zones"]["count"] == len(by_hand)
    assert (z["max_gap"] >= 60).all() and (z["area_km2"] >= 25).all()
    assert z["nearest_base_id"].str.startswith("MINUSCA:").all()
    assert (z["population"] > 0).all()
