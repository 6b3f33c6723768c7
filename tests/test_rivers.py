"""Rivers and lakes as barriers that roads cross, checked by hand on a 20 x 20 km grid."""

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString, box

from cli.main import build_parser
from geo.friction import four_connected, friction, speed_surface, water_speed
from geo.grid import Grid, equal_area_crs
from geo.layers import load_water
from geo.params import Params
from geo.traveltime import build_graph, reach_from

CRS = equal_area_crs(20.0, 6.0)
GRID = Grid(CRS, Affine(1000, 0, 0, 0, -1000, 20_000), 20, 20)  # x 0..20 km, y 0..20 km; row r at y 19.5 - r km
RIVER = gpd.GeoDataFrame({"water_id": ["river:1"], "name": ["R"], "kind": ["river"]},
                         geometry=[LineString([(10_500, 20_000), (10_500, 0)])], crs=CRS)  # column 10
ROAD = gpd.GeoDataFrame({"road_id": ["1"], "road_class": ["primary"]},  # row 5, 50 km/h, bridges the river
                        geometry=[LineString([(500, 14_500), (19_500, 14_500)])], crs=CRS)


def _hours(params, roads=ROAD, water=RIVER, impassable=None):
    return friction(GRID, params, None, roads, impassable, water)[1]


def _t(cost, a, b):
    return reach_from(build_graph(cost), a[0] * 20 + a[1], 100.0).dense(GRID.shape)[b]


def test_water_speed_keeps_road_cells():
    speed = np.array([[8.0, 50.0], [8.0, 8.0]])
    on_road = np.array([[False, True], [False, False]])
    water = np.array([[True, True], [False, True]])
    assert water_speed(speed, on_road, water, 0.0).tolist() == [[0.0, 50.0], [8.0, 0.0]]


def test_four_connected_fills_corner_steps():
    m = np.eye(3, dtype=bool)  # a diagonal: (0,0) (1,1) (2,2)
    assert four_connected(m).astype(int).tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    anti = np.fliplr(np.eye(3, dtype=bool))  # (0,2) (1,1) (2,0)
    assert four_connected(anti).astype(int).tolist() == [[0, 1, 1], [1, 1, 0], [1, 0, 0]]
    line = np.zeros((3, 3), bool)
    line[1] = True
    assert (four_connected(line) == line).all()  # already 4-connected: unchanged


def test_the_river_is_impassable_off_road_and_the_road_crosses_it():
    speed = speed_surface(GRID, Params(), ROAD, None, None, RIVER)
    assert speed[5, 10] == 50.0  # the bridge: a road cell stays passable
    assert (np.delete(speed[:, 10], 5) == 0.0).all() and speed[15, 9] == 8.0
    cost = _hours(Params())
    # along the road across the river: 16 road steps of 1 km at 50 km/h
    assert _t(cost, (5, 2), (5, 18)) == pytest.approx(16 / 50)
    # off-road from one bank to the other, 2 km apart: only over the bridge 10 km north:
    # 9 km off-road north (9 x 1/8 h), onto the road ((1/8 + 1/50) / 2), 2 road cells (2 / 50),
    # off the road and 9 km back south: 2 x 9/8 + 2 x 0.0725 + 0.04 = 2.435 h
    assert _t(cost, (15, 9), (15, 11)) == pytest.approx(2 * 9 / 8 + 2 * (1 / 8 + 1 / 50) / 2 + 2 / 50)
    # without the road the two banks are cut apart
    assert _t(_hours(Params(), roads=None), (15, 9), (15, 11)) == np.inf


def test_a_fordable_river_slows_off_road_crossing():
    cost = _hours(Params(river_speed_kmh=2.0), roads=None)
    # two steps through the river cell: 2 x (1/8 + 1/2) / 2 h instead of 2 x 1/8 h
    assert _t(cost, (15, 9), (15, 11)) == pytest.approx(0.625)
    # straight across the grid: 14 off-road steps and the river cell
    assert _t(cost, (15, 2), (15, 18)) == pytest.approx(14 / 8 + 0.625)


def test_a_diagonal_river_has_no_diagonal_gap():
    river = gpd.GeoDataFrame({"kind": ["river"]}, geometry=[LineString([(0, 20_000), (20_000, 0)])], crs=CRS)
    cost = _hours(Params(), roads=None, water=river)
    t = reach_from(build_graph(cost), 15 * 20 + 2, 100.0).dense(GRID.shape)  # south-west of the river
    assert np.isfinite(t[19, 0]) and not np.isfinite(t[:5, 15:]).any()  # north-east bank unreachable


def test_a_lake_no_longer_cuts_the_road_but_an_impassable_area_does():
    lake = gpd.GeoDataFrame({"kind": ["lake"]}, geometry=[box(8_000, 12_000, 13_000, 17_000)], crs=CRS)
    cost = _hours(Params(), water=lake)
    assert cost[5, 10] == pytest.approx(1 / 50) and cost[4, 10] == np.inf
    assert _t(cost, (5, 2), (5, 18)) == pytest.approx(16 / 50)
    blocked = _hours(Params(), water=None, impassable=lake)
    assert blocked[5, 10] == np.inf
    assert _t(blocked, (5, 2), (5, 18)) > 16 / 50 + 0.5  # around the lake: 5 cells of it off-road at 1/8 h


def test_natural_earth_rivers_and_lakes_load(shared_data):
    rivers = load_water(shared_data / "hydro" / "ne_10m_rivers_lake_centerlines_mli_cod_caf_ssd.geojson")
    lakes = load_water(shared_data / "hydro" / "ne_10m_lakes_mli_cod_caf_ssd.geojson", kind="lake")
    assert len(rivers) == 72 and len(lakes) == 11  # the counts SOURCE.md gives
    assert {"Ubangi", "Niger", "Congo"} <= set(rivers["name"]) and set(lakes["kind"]) == {"lake"}
    assert rivers.crs.to_epsg() == 4326


def test_lakes_must_be_polygons(tmp_path):
    from geo.errors import VacuumError

    p = tmp_path / "l.geojson"
    RIVER.to_crs(4326).to_file(p)
    with pytest.raises(VacuumError, match="LineString"):
        load_water(p, kind="lake")


def test_cli_takes_rivers_and_lakes():
    args = build_parser().parse_args(["analyze", "--bases", "b.csv", "--rivers", "r.geojson", "--lakes", "l.geojson",
                                      "--out", "o"])
    assert str(args.rivers) == "r.geojson" and str(args.lakes) == "l.geojson"


def test_build_inputs_combines_rivers_and_lakes(shared_data):
    from geo.inputs import InputSpec, build_inputs

    hydro = shared_data / "hydro"
    spec = InputSpec(bases=gpd.GeoDataFrame({"base_id": ["b"], "strength": [650.0]},
                                            geometry=gpd.points_from_xy([20.0], [6.0]), crs=4326),
                     rivers=hydro / "ne_10m_rivers_lake_centerlines_mli_cod_caf_ssd.geojson",
                     lakes=hydro / "ne_10m_lakes_mli_cod_caf_ssd.geojson", bbox=(14.0, 2.0, 28.0, 11.0))
    water = build_inputs(spec).water
    assert water["kind"].value_counts().to_dict() == {"river": 72, "lake": 11}
