"""Friction from a dense, OpenStreetMap-style network built by hand, and its travel times."""

import json

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString, box

from geo.errors import CRSMismatchError
from geo.friction import hours_per_cell, speed_surface
from geo.grid import Grid, equal_area_crs
from geo.layers import load_roads
from geo.params import Params
from geo.traveltime import build_graph, reach_from

CRS = equal_area_crs(20.0, 6.0)
GRID = Grid(CRS, Affine(1000, 0, 0, 0, -1000, 20_000), 20, 20)  # 20 x 20 km, 1 km cells


@pytest.fixture
def osm_roads(tmp_path):
    """An OSM export: a primary road along row 9, a track down column 5, and a bridleway (a class
    not in the speed table) down column 15, rows 0..4."""
    to_ll = gpd.GeoSeries([
        LineString([(500, 10_500), (19_500, 10_500)]),      # row 9 (y 10.5 km from the south = row 9)
        LineString([(5_500, 19_500), (5_500, 500)]),        # column 5
        LineString([(15_500, 19_500), (15_500, 15_500)]),   # column 15, rows 0..4
    ], crs=CRS).to_crs(4326)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"osm_id": str(i), "highway": hw}, "geometry": json.loads(gpd.GeoSeries([g]).to_json())["features"][0]["geometry"]}
        for i, (hw, g) in enumerate(zip(["primary", "track", "bridleway"], to_ll, strict=True))
    ]}
    p = tmp_path / "osm.geojson"
    p.write_text(json.dumps(fc))
    return p


def test_osm_highway_classes_set_speeds(osm_roads):
    roads = load_roads(osm_roads)
    assert sorted(roads["road_class"]) == ["bridleway", "primary", "track"]
    speed = speed_surface(GRID, Params(), roads.to_crs(CRS))
    assert speed[9, 12] == 50  # primary
    assert speed[15, 5] == 15  # track
    assert speed[9, 5] == 50  # crossing: the fastest road wins
    assert speed[2, 15] == 30  # a class not in the table: unknown_road_speed_kmh
    assert speed[0, 0] == 8 and speed[19, 19] == 8  # off-road
    # along the primary road: 10 cells at 50 km/h = 0.2 h; off-road the same 10 km take 1.25 h
    cost = hours_per_cell(speed, GRID.resolution_km)
    t = reach_from(build_graph(cost), 9 * 20 + 2, 100).dense(GRID.shape)
    assert t[9, 12] == pytest.approx(10 / 50)
    t_off = reach_from(build_graph(np.full(GRID.shape, 1 / 8)), 9 * 20 + 2, 100).dense(GRID.shape)
    assert t_off[9, 12] == pytest.approx(10 / 8)


def test_outside_area_and_water_are_impassable():
    inside = np.ones(GRID.shape, bool)
    inside[:, 15:] = False
    lake = gpd.GeoDataFrame(geometry=[box(2000, 2000, 4000, 4000)], crs=CRS)
    speed = speed_surface(GRID, Params(), None, inside, lake)
    assert (speed[:, 15:] == 0).all()
    assert speed[17, 2] == 0 and speed[17, 3] == 0 and speed[15, 2] == 8
    cost = hours_per_cell(speed, 1.0)
    t = reach_from(build_graph(cost), 0, 1000).dense(GRID.shape)
    assert np.isinf(t[:, 15:]).all()


def test_roads_in_another_crs_are_refused(osm_roads):
    with pytest.raises(CRSMismatchError, match="roads layer is in WGS 84.*to_crs"):
        speed_surface(GRID, Params(), load_roads(osm_roads))
