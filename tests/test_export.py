from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from pyproj import CRS
from shapely.geometry import Point, box

from geo.errors import CRSMismatchError
from geo.export import (
    as_dates,
    atomic_path,
    write_csv,
    write_geojson,
    write_gpkg_layer,
    write_json,
    write_npz,
)
from geo.grid import equal_area_crs

LAEA = equal_area_crs(20, 6)


def zones_laea() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "zone_id": [1, 2],
            "name": ["a", None],
            "population": [1234.5, np.nan],
            "travel_time_h": [np.inf, 2.25],
        },
        geometry=[box(-20_000, -10_000, 30_000, 15_000), Point(100_000, -50_000).buffer(5_000)],
        crs=LAEA,
    )


def strict_json(text: str):
    """Parse JSON refusing NaN / Infinity, which Python's json accepts by default."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def all_coords(geometry: dict) -> np.ndarray:
    def walk(c):
        if isinstance(c[0], (int, float)):
            yield c
        else:
            for x in c:
                yield from walk(x)

    return np.array(list(walk(geometry["coordinates"])))


def test_geojson_is_rfc7946_lonlat_with_nulls(tmp_path):
    gdf = zones_laea()
    path = write_geojson(gdf, tmp_path / "zones.geojson")
    assert path == tmp_path / "zones.geojson"
    doc = strict_json(path.read_text())
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert len(doc["features"]) == 2
    for feat in doc["features"]:
        xy = all_coords(feat["geometry"])
        assert np.all((xy[:, 0] >= -180) & (xy[:, 0] <= 180))
        assert np.all((xy[:, 1] >= -90) & (xy[:, 1] <= 90))
        assert np.all(np.abs(xy[:, 0] - 20) < 2) and np.all(np.abs(xy[:, 1] - 6) < 1)  # near the LAEA centre
        np.testing.assert_allclose(xy, np.round(xy, 6), rtol=0, atol=1e-12)  # 6 decimals at most
    p0, p1 = (f["properties"] for f in doc["features"])
    assert p0 == {"zone_id": 1, "name": "a", "population": 1234.5, "travel_time_h": None}
    assert p1 == {"zone_id": 2, "name": None, "population": None, "travel_time_h": 2.25}
    back = pyogrio.read_dataframe(path)
    assert CRS.from_user_input(back.crs).equals(CRS.from_epsg(4326))
    np.testing.assert_allclose(back.to_crs(LAEA).area, gdf.area, rtol=1e-4)
    assert gdf.crs.equals(LAEA)  # input untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zones.geojson"]


def test_geojson_of_empty_frame_and_missing_crs(tmp_path):
    empty = zones_laea().iloc[:0]
    doc = strict_json(write_geojson(empty, tmp_path / "empty.geojson").read_text())
    assert doc["type"] == "FeatureCollection" and doc["features"] == []
    with pytest.raises(CRSMismatchError, match="set_crs"):
        write_geojson(zones_laea().set_crs(None, allow_override=True), tmp_path / "x.geojson")
    assert not (tmp_path / "x.geojson").exists()


def test_gpkg_holds_several_layers_and_replaces_one(tmp_path):
    path = tmp_path / "vacuum.gpkg"
    zones = zones_laea()
    points = gpd.GeoDataFrame({"base_id": ["B1", "B2", "B3"]},
                              geometry=[Point(0, 0), Point(1000, 0), Point(0, 1000)], crs=LAEA)
    write_gpkg_layer(zones, path, "zones")
    write_gpkg_layer(points, path, "bases")
    layers = dict(pyogrio.list_layers(path).tolist())
    assert layers == {"zones": "Polygon", "bases": "Point"}

    write_gpkg_layer(points.iloc[:1], path, "bases")  # replaces bases only
    assert sorted(pyogrio.list_layers(path)[:, 0].tolist()) == ["bases", "zones"]
    bases = pyogrio.read_dataframe(path, layer="bases")
    assert bases["base_id"].tolist() == ["B1"]
    z = pyogrio.read_dataframe(path, layer="zones")
    assert len(z) == 2
    assert CRS.from_user_input(z.crs).equals(CRS.from_epsg(4326))
    assert z.geometry.iloc[0].centroid.x == pytest.approx(20, abs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vacuum.gpkg"]


def test_csv_drops_geometry_and_writes_short_floats(tmp_path):
    df = zones_laea()
    df["share"] = [0.1 + 0.2, 1 / 3]
    path = write_csv(df, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "zone_id,name,population,travel_time_h,share"
    assert lines[1] == "1,a,1234.5,inf,0.3"
    assert lines[2] == "2,,,2.25,0.3333333333"
    back = pd.read_csv(path)
    assert "geometry" not in back.columns


def test_json_converts_nan_numpy_and_dates(tmp_path):
    obj = {
        "nan": float("nan"),
        "inf": np.float32("inf"),
        "n": np.int64(3),
        "x": np.float64(0.5),
        "flag": np.bool_(True),
        "arr": np.array([1.0, np.nan]),
        "when": pd.Timestamp("2024-05-01"),
        "nested": [{"a": (1, math.inf)}],
        7: "int key",
    }
    path = write_json(obj, tmp_path / "summary.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert text.startswith('{\n  "nan": null')  # indent 2
    assert strict_json(text) == {
        "nan": None,
        "inf": None,
        "n": 3,
        "x": 0.5,
        "flag": True,
        "arr": [1.0, None],
        "when": "2024-05-01T00:00:00",
        "nested": [{"a": [1, None]}],
        "7": "int key",
    }


def test_writers_are_atomic(tmp_path):
    path = write_json({"v": 1}, tmp_path / "s.json")
    with pytest.raises(TypeError, match="object"):
        write_json({"v": object()}, path)
    assert strict_json(path.read_text()) == {"v": 1}

    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(path) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("crash")
    assert strict_json(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_as_dates_takes_the_calendar_day_of_each_stamp():
    import datetime as dt

    import pyarrow as pa

    df = pd.DataFrame({"date": ["2020-02-29T00:00:00", None, "1969-12-31T23:59:59", "1900-03-01T12:00:00"],
                       "map_date": pd.to_datetime(["2020-01-01T23:30+05:00"] * 4), "n": [1, 2, 3, 4]},
                      index=[10, 11, 12, 13])
    out = as_dates(df, ["date", "map_date", "absent"])
    assert out["date"].dtype == pd.ArrowDtype(pa.date32()) and out["map_date"].dtype == pd.ArrowDtype(pa.date32())
    assert list(out.index) == [10, 11, 12, 13] and list(out["n"]) == [1, 2, 3, 4]
    assert list(out["date"]) == [dt.date(2020, 2, 29), pd.NA, dt.date(1969, 12, 31), dt.date(1900, 3, 1)]
    assert set(out["map_date"]) == {dt.date(2020, 1, 1)}  # the day on the stamp's own clock, not UTC's
    assert list(df["date"])[0] == "2020-02-29T00:00:00"  # the input is left as it was


def test_npz_at_any_level_reads_back_the_same_arrays(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {"i": np.sort(rng.choice(10**6, 50_000, replace=False)).astype(np.int32),
              "h": rng.random(50_000).astype(np.float32)}
    fast = write_npz(arrays, tmp_path / "fast.npz", compresslevel=1)
    default = write_npz(arrays, tmp_path / "default.npz")
    assert fast.read_bytes() != default.read_bytes()  # the level is applied to every entry
    for path in (fast, default):
        with np.load(path) as z:
            assert sorted(z.files) == ["h", "i"]
            assert all(np.array_equal(z[k], v) and z[k].dtype == v.dtype for k, v in arrays.items())
    assert write_npz(arrays, tmp_path / "again.npz", compresslevel=1).read_bytes() == fast.read_bytes()
