"""Air mobility: helicopter reach from airfields, checked by hand on a strip 170 km long."""

import math
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo import layers as L
from geo.air import air_hours, merge_nearest, merge_reach, nearest_airfield, night_wait_h
from geo.errors import ConfigError, LayerError
from geo.grid import equal_area_crs
from geo.params import Params, load_params
from geo.pipeline import AnalysisInputs, analyze
from geo.traveltime import Reach

CRS = equal_area_crs(20.0, 6.0)
AS_OF = date(2020, 7, 1)
DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"
# the area: x -10..160 km, y -10..10 km; 1 km cells whose centres sit at 500 m offsets
AREA = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["Strip"], "level": [1], "parent": [None]},
                        geometry=[box(-10_000, -10_000, 160_000, 10_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, air_mobility="auto")
TOWN = (150_500.0, 500.0)  # a cell centre 150 km east of the airstrip


def _bases(air=True, x=2_500.0, unit_type="quick_reaction", strength=650.0):
    return gpd.GeoDataFrame({"base_id": ["qrf"], "name": ["QRF"], "strength": [strength], "unit_type": [unit_type],
                             "mission": ["M"], "air": [air]}, geometry=[Point(x, 500.0)], crs=CRS)


def _airstrip(x=500.0):
    return gpd.GeoDataFrame({"site_id": ["STRIP"], "name": ["Strip"], "kind": ["airport"], "population": [np.nan],
                             "subtype": ["small_airport"]}, geometry=[Point(x, 500.0)], crs=CRS)


def _cell(a, x, y):
    r, c, _ = a.grid.rowcol(np.array([x]), np.array([y]))
    return r[0], c[0]


def test_night_wait_and_air_hours_by_hand():
    assert night_wait_h(12.0) == pytest.approx(3.0)  # half the calls wait, on average 6 h
    assert night_wait_h(24.0) == 0.0
    assert night_wait_h(18.0) == pytest.approx(6 / 24 * 3)
    assert air_hours(np.array([150.0]), reaction_h=0.5, speed_kmh=220.0)[0] == pytest.approx(0.5 + 150 / 220)
    with pytest.raises(ValueError, match="daylight"):
        night_wait_h(0.0)


def test_nearest_airfield_within_the_distance():
    bases = np.array([[0.0, 0.0], [50_000.0, 0.0]])
    fields = np.array([[3_000.0, 4_000.0], [20_000.0, 0.0]])
    which, km = nearest_airfield(bases, fields, 10.0)
    assert which.tolist() == [0, -1] and km[0] == pytest.approx(5.0) and km[1] == math.inf


def test_merge_reach_keeps_the_faster_time_per_cell():
    ground = Reach(np.array([1, 2, 3], np.int32), np.array([1.0, 2.0, 3.0], np.float32))
    air = Reach(np.array([4, 2, 3], np.int32), np.array([0.5, 5.0, 1.0], np.float32))
    m = merge_reach(ground, air)
    assert m.index.tolist() == [1, 2, 3, 4] and m.hours.tolist() == [1.0, 2.0, 1.0, 0.5]
    h, w = merge_nearest(np.array([2.0, 1.0, np.inf]), np.array([0, 0, -1]), np.array([1.0, 1.0, 3.0]),
                         np.array([5, 5, 5]))
    assert h.tolist() == [1.0, 1.0, 3.0] and w.tolist() == [5, 0, 5]  # a tie stays with the ground


def test_a_base_at_an_airstrip_reaches_a_town_150_km_away_in_about_an_hour():
    a = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=_airstrip()), P, AS_OF, crs=CRS)
    r, c = _cell(a, *TOWN)
    by_air = 0.5 + 150.0 / 220.0  # reaction + distance / cruise speed = 1.18 h
    assert a.surfaces["travel_time"][r, c] == pytest.approx(by_air, rel=1e-5)
    # quick reaction: t_resp = 2 h x 1.5 = 3 h > 1.18 h, so full protection: 1 - 0.1^(1.2 x sqrt(650/650))
    assert a.surfaces["coverage"][r, c] == pytest.approx(1 - 0.1 ** 1.2, rel=1e-5)
    assert a.air is not None and a.air["airfield_id"].tolist() == ["STRIP"]
    assert a.air["base_to_airfield_km"].iloc[0] == pytest.approx(2.0)
    # by road (off-road at 10 km/h) the same town is 148 km / 10 km/h away, beyond the 9 h reach
    g = analyze(AnalysisInputs(bases=_bases(air=False), admin=AREA, sites=_airstrip()), P, AS_OF, crs=CRS)
    assert g.surfaces["travel_time"][r, c] == pytest.approx(14.8, rel=1e-4)
    assert g.surfaces["coverage"][r, c] == 0.0 and g.air is None
    # the base's own surroundings keep the ground time where that is faster (1 km: 0.1 h < 0.5 h)
    rb, cb = _cell(a, 3_500.0, 500.0)
    assert a.surfaces["travel_time"][rb, cb] == pytest.approx(0.1, rel=1e-5)


def test_radius_daylight_and_switch():
    sites = _airstrip()
    # radius 100 km: the town at 150 km is left to the road (14.8 h)
    a = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=sites), P.updated(air_radius_km=100.0), AS_OF, crs=CRS)
    r, c = _cell(a, *TOWN)
    assert a.surfaces["travel_time"][r, c] == pytest.approx(14.8, rel=1e-4)
    r2, c2 = _cell(a, 100_500.0, 500.0)  # 100 km from the strip: the edge of the radius
    assert a.surfaces["travel_time"][r2, c2] == pytest.approx(0.5 + 100 / 220, rel=1e-5)
    # daylight only, 12 h of daylight: + (24 - 12)^2 / 48 = 3 h expected wait
    d = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=sites), P.updated(air_daylight_only=True), AS_OF, crs=CRS)
    assert d.surfaces["travel_time"][r, c] == pytest.approx(0.5 + 3.0 + 150 / 220, rel=1e-5)
    off = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=sites), P.updated(air_mobility="off"), AS_OF, crs=CRS)
    assert off.surfaces["travel_time"][r, c] == pytest.approx(14.8, rel=1e-4) and off.air is None


def test_closing_the_base_removes_its_air_reach():
    a = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=_airstrip()), P, AS_OF, crs=CRS)
    r, c = _cell(a, *TOWN)
    flat = r * a.grid.width + c
    assert a.coverage_model.intensity.ravel()[flat] > 0
    assert a.coverage_model.intensity_without(["qrf"]).ravel()[flat] == 0.0


def test_an_air_base_without_an_airfield_in_range():
    far = _airstrip(x=40_500.0)  # 38 km from the base, beyond air_base_max_km = 10
    a = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=far), P, AS_OF, crs=CRS)
    assert any("'qrf'" in w and "air_base_max_km" in w for w in a.summary["warnings"])
    assert a.air is None
    with pytest.raises(LayerError, match=r"air-capable base 'qrf' has no airfield within air_base_max_km = 10 km"):
        analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=far), P.updated(air_mobility="on"), AS_OF, crs=CRS)
    with pytest.raises(LayerError, match=r"no airports layer.*--airports"):
        analyze(AnalysisInputs(bases=_bases(), admin=AREA), P.updated(air_mobility="on"), AS_OF, crs=CRS)
    # a base 38 km from the strip flies once the distance allows it
    ok = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=far), P.updated(air_base_max_km=40.0), AS_OF, crs=CRS)
    assert ok.air["base_to_airfield_km"].iloc[0] == pytest.approx(38.0)


def test_presence_only_and_ground_bases_do_not_fly():
    for bases in (_bases(strength=0.0), _bases(air=False), _bases().drop(columns="air")):
        a = analyze(AnalysisInputs(bases=bases, admin=AREA, sites=_airstrip()), P.updated(air_mobility="on"), AS_OF, crs=CRS)
        assert a.air is None


@pytest.mark.parametrize("text,match", [
    ("air_mobility = 'always'", "air_mobility must be 'auto', 'on' or 'off'"),
    ("air_speed_kmh = 0", "air_speed_kmh must be a positive number"),
    ("air_daylight_h = 30", "air_daylight_h must be at most 24"),
    ("air_daylight_only = 'yes'", "air_daylight_only must be true or false"),
])
def test_bad_air_parameters_are_named(tmp_path, text, match):
    p = tmp_path / "c.toml"
    p.write_text(f"[model]\n{text}\n")
    with pytest.raises(ConfigError, match=match):
        load_params(p)


def test_geopko_air_units_are_flagged_from_the_dummies():
    raw = pd.read_csv(DEMO / "bases_geopko_v2.1.csv", dtype=str)
    flag = (raw[["avia", "he.sup", "rpf"]].apply(pd.to_numeric, errors="coerce").fillna(0) > 0).any(axis=1)
    want = sorted(raw.loc[flag, "location"])
    bases = L.load_bases(DEMO / "bases_geopko_v2.1.csv")
    assert sorted(bases.loc[bases["air"], "name"]) == want and len(want) == 3  # Bangui, Bouar, Bria


def test_geopko_v23_aviation_column_flags_air(shared_data):
    f = shared_data / "geo_pko" / "geo_pko_v2.3_dashboard_frontmap_yearly_mli_cod_caf_ssd.csv"
    raw = pd.read_csv(f)
    year = raw[raw["mission"] == "MINUSCA"]["year"].max()
    rows = raw[(raw["mission"] == "MINUSCA") & (raw["year"] == year)]
    want = sorted(set(rows.loc[pd.to_numeric(rows["Av"], errors="coerce") > 0, "location"]))
    bases = L.load_bases(f, mission="MINUSCA", max_map_age_days=None)
    assert sorted(bases.loc[bases["air"], "name"]) == want


@pytest.mark.slow
def test_air_and_rivers_are_the_same_on_the_dask_executor():
    from shapely.geometry import LineString

    from geo.dask import DaskExecutor, DaskOptions, connect

    bases = pd.concat([_bases(), gpd.GeoDataFrame(
        {"base_id": ["inf"], "name": ["Inf"], "strength": [650.0], "unit_type": ["infantry"], "mission": ["M"],
         "air": [False]}, geometry=[Point(120_500.0, -4_500.0)], crs=CRS)], ignore_index=True)
    roads = gpd.GeoDataFrame({"road_id": ["1"], "road_class": ["primary"]},
                             geometry=[LineString([(-9_500, 500), (159_500, 500)])], crs=CRS)
    water = gpd.GeoDataFrame({"water_id": ["river:1"], "name": ["R"], "kind": ["river"]},
                             geometry=[LineString([(76_000, 10_000), (96_000, -10_000)])], crs=CRS)  # diagonal
    inputs = AnalysisInputs(bases=bases, admin=AREA, sites=_airstrip(), roads=roads, water=water)
    params = P.updated(air_radius_km=90.0, bandwidth_km=2.0, critical_site_radius_km=2.0)
    a = analyze(inputs, params, AS_OF, crs=CRS, n_jobs=1)
    with connect("local:2", processes=False) as client:
        b = analyze(inputs, params, AS_OF, crs=CRS, executor=DaskExecutor(client, DaskOptions(block_size=48)))
    assert b.summary["dask"]["blocks"] == [1, 4]  # 20 x 170 cells; the river crosses a block edge (x 86 km)
    for name, x in a.surfaces.items():
        np.testing.assert_allclose(b.surfaces[name], x, rtol=1e-6, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(a.nearest_base, b.nearest_base)
    np.testing.assert_array_equal(np.isfinite(a.cost_h), np.isfinite(b.cost_h))
    for ta, tb in zip(a.coverage_model.terms, b.coverage_model.terms, strict=True):
        np.testing.assert_array_equal(ta.reach.index, tb.reach.index)
        np.testing.assert_allclose(tb.reach.hours, ta.reach.hours, rtol=1e-6)
    assert (~np.isfinite(a.cost_h)).sum() > 20  # the river cut off-road cells (20 rows, diagonal)
    pd.testing.assert_frame_equal(a.air.drop(columns="geometry"), b.air.drop(columns="geometry"))


def test_air_reach_on_the_operations_map_and_hidden_from_viewers(tmp_path):
    import folium
    from pyproj import Transformer

    from api.products import viewer_folder
    from geo.products import write_analysis
    from maps import operations_map, render_html

    a = analyze(AnalysisInputs(bases=_bases(), admin=AREA, sites=_airstrip()), P, AS_OF, crs=CRS)
    out = tmp_path / "analysis"
    write_analysis(a, out)
    air = gpd.read_file(out / "air.geojson")
    assert air["airfield_id"].tolist() == ["STRIP"] and air["radius_km"].tolist() == [200.0]
    m = operations_map(out)
    (group,) = [c for c in m._children.values() if getattr(c, "layer_name", "") == "Air reach (1 airfields)"]
    (circle,) = [c for c in group._children.values() if type(c) is folium.Circle]
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(500.0, 500.0)  # the strip
    assert circle.location == pytest.approx([lat, lon]) and circle.options["radius"] == 200_000.0
    assert "Air reach (1 airfields)" in render_html(m)  # standalone: every asset vendored
    view = viewer_folder(out, tmp_path / "cache")
    assert (view / "summary.json").exists() and not (view / "air.geojson").exists()


def test_a_generic_bases_file_may_carry_an_air_field(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("base_id,strength,air,longitude,latitude\nA,650,1,20.0,6.0\nB,650,0,20.5,6.0\nC,150,,21.0,6.0\n")
    bases = L.load_bases(p)
    assert bases["air"].tolist() == [True, False, False]
    p.write_text("base_id,strength,air,longitude,latitude\nA,650,yes,20.0,6.0\n")
    with pytest.raises(LayerError, match="air"):
        L.load_bases(p)
