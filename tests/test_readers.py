"""geo.readers: formats, CRS rules, coordinate checks, geometry validation."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import LineString, Point, Polygon

from geo.errors import (
    CoordinateError,
    EmptyLayerError,
    InvalidGeometryError,
    LayerError,
    MissingColumnError,
    MissingCRSError,
    UnsupportedFormatError,
)
from geo.readers import read_vector, validate_geometries

BOWTIE = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])


# ------------------------------------------------------------------ factories


@pytest.fixture
def write_csv(tmp_path: Path):
    def make(text: str, name: str = "layer.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


@pytest.fixture
def points(tmp_path: Path):
    """A three-point layer in EPSG:4326 (or another CRS), written where asked."""

    def make(crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {"site": ["a", "b", "c"], "value": [1, 2, 3]},
            geometry=[Point(18.5, 4.4), Point(20.6, 5.8), Point(22.8, 4.7)],
            crs=crs,
        )

    return make


def shapefile_parts(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if p.stem == path.stem)


# ------------------------------------------------------------------------ CSV


def test_csv_lonlat_is_wgs84_and_keeps_text(write_csv):
    path = write_csv(
        'name,longitude,latitude,strength,comments\n'
        'Bangui,18.56,4.39,unknown,"two\nlines"\n'
        'Bria,21.99,6.54,NA,\n'
    )
    gdf = read_vector(path)
    assert gdf.crs == CRS.from_epsg(4326)
    assert gdf.attrs["source"] == str(path)
    assert gdf["strength"].tolist() == ["unknown", "NA"]
    assert gdf["comments"].tolist() == ["two\nlines", ""]
    assert gdf.geometry.iloc[1].equals(Point(21.99, 6.54))
    assert list(gdf.index) == [0, 1]


@pytest.mark.parametrize(
    "header", ["lon,lat", "LNG,LAT", "Long,Lat", "longitude_deg,latitude_deg", "Longitude,Latitude"]
)
def test_csv_degree_pairs_are_detected(write_csv, header):
    gdf = read_vector(write_csv(f"id,{header}\n1,10.5,-3.25\n"))
    assert gdf.crs == CRS.from_epsg(4326)
    assert gdf.geometry.iloc[0].equals(Point(10.5, -3.25))


def test_csv_xy_without_crs_is_refused(write_csv):
    path = write_csv("id,x,y\n1,500000,1000000\n")
    with pytest.raises(MissingCRSError, match=r"'x'/'y' carry no CRS.*--layer-crs"):
        read_vector(path)


def test_csv_xy_with_crs(write_csv):
    gdf = read_vector(write_csv("id,x,y\n1,500000,1000000\n"), crs="EPSG:32634")
    assert gdf.crs == CRS.from_epsg(32634)
    assert gdf.geometry.iloc[0].equals(Point(500000, 1000000))


def test_csv_explicit_columns(write_csv):
    gdf = read_vector(write_csv("id,east,north\n1,1.5,2.5\n"), x="east", y="north", crs=4326)
    assert gdf.geometry.iloc[0].equals(Point(1.5, 2.5))


def test_csv_explicit_column_missing(write_csv):
    with pytest.raises(MissingColumnError, match=r"'east'.*columns present: id, x, y"):
        read_vector(write_csv("id,x,y\n1,1,2\n"), x="east", y="north", crs=4326)


def test_csv_without_coordinates(write_csv):
    with pytest.raises(MissingColumnError, match=r"no coordinate columns.*columns present: id, place.*x="):
        read_vector(write_csv("id,place\n1,Bangui\n"))


def test_csv_two_coordinate_pairs_are_ambiguous(write_csv):
    with pytest.raises(LayerError, match=r"several coordinate column pairs.*lon/lat.*x/y"):
        read_vector(write_csv("id,lon,lat,x,y\n1,1,2,3,4\n"))


def test_csv_non_numeric_coordinate(write_csv):
    path = write_csv("id,longitude,latitude\n1,18.5,4.4\n2,20.1,four\n3,21.0,\n")
    with pytest.raises(CoordinateError, match=r"layer\.csv.*'latitude'.*row\(s\) 2 \('four'\), 3 \(''\)"):
        read_vector(path)


def test_csv_coordinate_out_of_range(write_csv):
    path = write_csv("id,longitude,latitude\n1,18.5,4.4\n2,200.0,95.0\n")
    with pytest.raises(CoordinateError, match=r"out of range.*'longitude', 'latitude'.*row\(s\) 2$"):
        read_vector(path)


def test_csv_swapped_lat_lon(write_csv):
    # lon/lat written into each other's columns; row 2's "latitude" (129) is impossible
    path = write_csv("id,latitude,longitude\n1,29.2,-1.7\n2,129.0,12.0\n")
    with pytest.raises(CoordinateError, match=r"row\(s\) 2; latitude and longitude look swapped"):
        read_vector(path)


def test_csv_header_only_is_empty(write_csv):
    with pytest.raises(EmptyLayerError, match=r"layer\.csv.*no data rows"):
        read_vector(write_csv("id,longitude,latitude\n"))


def test_csv_zero_bytes_is_empty(write_csv):
    with pytest.raises(EmptyLayerError, match="empty"):
        read_vector(write_csv(""))


# ------------------------------------------------------------- other formats


def test_unsupported_extension(tmp_path):
    path = tmp_path / "bases.kml"
    path.write_text("<kml/>")
    with pytest.raises(UnsupportedFormatError, match=r"'\.kml'.*\.geojson \(GeoJSON\).*\.csv"):
        read_vector(path)


def test_missing_file(tmp_path):
    with pytest.raises(LayerError, match=r"nope\.geojson: no such file"):
        read_vector(tmp_path / "nope.geojson")


def test_geojson_round_trip(tmp_path, points):
    path = tmp_path / "p.geojson"
    points().to_file(path)
    gdf = read_vector(path)
    assert gdf["site"].tolist() == ["a", "b", "c"]
    assert gdf.crs == CRS.from_epsg(4326)


def test_geojson_out_of_range_names_feature(tmp_path):
    path = tmp_path / "bad.geojson"
    gpd.GeoDataFrame(
        {"id": [1, 2]}, geometry=[Point(10, 10), LineString([(10, 10), (190, 10)])], crs=4326
    ).to_file(path)
    with pytest.raises(CoordinateError, match=r"bad\.geojson: field 'geometry'.*feature\(s\) 2$"):
        read_vector(path)


def test_geojson_swapped(tmp_path):
    path = tmp_path / "swapped.geojson"
    gpd.GeoDataFrame({"id": [1]}, geometry=[Point(16.3, -120.5)], crs=4326).to_file(path)
    with pytest.raises(CoordinateError, match="look swapped"):
        read_vector(path)


def test_empty_geojson(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(EmptyLayerError, match=r"empty\.geojson"):
        read_vector(path)


def test_shapefile_without_prj(tmp_path, points):
    path = tmp_path / "bases.shp"
    points().to_file(path)
    (tmp_path / "bases.prj").unlink()
    with pytest.raises(MissingCRSError, match=r"bases\.shp: the file declares no CRS.*--layer-crs EPSG"):
        read_vector(path)
    gdf = read_vector(path, crs="EPSG:4326")
    assert gdf.crs == CRS.from_epsg(4326)
    assert len(gdf) == 3


def test_declared_crs_conflicts_with_argument(tmp_path, points):
    path = tmp_path / "bases.shp"
    points().to_file(path)
    with pytest.raises(LayerError, match=r"declares CRS EPSG:4326 but crs=EPSG:32634.*ambiguous.*reproject"):
        read_vector(path, crs="EPSG:32634")
    assert len(read_vector(path, crs="EPSG:4326")) == 3  # the same CRS is fine


def test_zipped_shapefile(tmp_path, points):
    shp = tmp_path / "src" / "bases.shp"
    shp.parent.mkdir()
    points().to_file(shp)
    archive = tmp_path / "bases.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shapefile_parts(shp):
            zf.write(part, f"data/{part.name}")
    gdf = read_vector(archive)
    assert gdf["site"].tolist() == ["a", "b", "c"]
    assert gdf.crs == CRS.from_epsg(4326)
    assert gdf.attrs["source"] == str(archive)


def test_zip_with_two_shapefiles_needs_layer(tmp_path, points):
    src = tmp_path / "src"
    src.mkdir()
    points().to_file(src / "one.shp")
    points().iloc[:1].to_file(src / "two.shp")
    archive = tmp_path / "both.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in src.iterdir():
            zf.write(part, part.name)
    with pytest.raises(LayerError, match=r"2 shapefiles.*one\.shp.*layer="):
        read_vector(archive)
    assert len(read_vector(archive, layer="two")) == 1


def test_geopackage_round_trip_and_layers(tmp_path, points):
    path = tmp_path / "layers.gpkg"
    points().to_file(path, layer="bases")
    assert read_vector(path)["site"].tolist() == ["a", "b", "c"]  # one layer: taken
    points().iloc[:2].to_file(path, layer="towns")
    with pytest.raises(LayerError, match=r"2 spatial layers \(bases, towns\).*layer="):
        read_vector(path)
    assert len(read_vector(path, layer="towns")) == 2
    with pytest.raises(LayerError, match=r"no layer 'roads'; layers in this GeoPackage: bases, towns"):
        read_vector(path, layer="roads")


def test_geoparquet_round_trip(tmp_path, points):
    path = tmp_path / "p.parquet"
    src = points("EPSG:32634")
    src.to_parquet(path)
    gdf = read_vector(path)
    assert gdf.crs == CRS.from_epsg(32634)
    assert gdf.geometry.equals(src.geometry)


def test_plain_parquet_is_refused(tmp_path):
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    with pytest.raises(LayerError, match=r"plain\.parquet: not a GeoParquet file"):
        read_vector(path)


# ---------------------------------------------------------------- geometries


def frame(geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids or [f"u{i}" for i in range(1, len(geoms) + 1)]
    gdf = gpd.GeoDataFrame({"uid": ids}, geometry=list(geoms), crs=4326)
    gdf.attrs["source"] = "units.geojson"
    return gdf


def test_invalid_polygon_is_rejected_naming_the_id():
    gdf = frame([Polygon([(0, 0), (1, 0), (1, 1)]), BOWTIE])
    with pytest.raises(InvalidGeometryError, match=r"units\.geojson: units with invalid geometry: 1 feature\(s\): u2 \(first: Self-intersection.*repair=True"):
        validate_geometries(gdf, what="units", id_column="uid", allowed={"Polygon", "MultiPolygon"})


def test_invalid_polygon_is_repaired_on_request():
    gdf = frame([Polygon([(0, 0), (1, 0), (1, 1)]), BOWTIE])
    out = validate_geometries(
        gdf, what="units", id_column="uid", allowed={"Polygon", "MultiPolygon"}, repair=True
    )
    assert len(out) == 2
    assert out.is_valid.all()
    assert out.geometry.iloc[1].geom_type == "MultiPolygon"
    assert out.geometry.iloc[1].area == pytest.approx(2.0)  # two triangles of area 1
    assert out.attrs["repaired"] == ["u2"]
    assert gdf.geometry.iloc[1].equals(BOWTIE)  # input untouched


def test_repair_to_a_single_polygon_type_that_needs_multi_is_refused():
    with pytest.raises(InvalidGeometryError, match=r"u1: repair gives a MultiPolygon"):
        validate_geometries(frame([BOWTIE]), what="units", id_column="uid", allowed={"Polygon"}, repair=True)


def test_repair_never_drops_a_row():
    flat = Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])  # collapses to a line
    with pytest.raises(InvalidGeometryError, match=r"u1: make_valid left nothing of type"):
        validate_geometries(frame([flat]), what="units", id_column="uid", allowed={"Polygon", "MultiPolygon"}, repair=True)


def test_wrong_geometry_type():
    gdf = frame([Point(0, 0), LineString([(0, 0), (1, 1)]), Point(1, 1)])
    with pytest.raises(InvalidGeometryError, match=r"must have geometry type Point; found LineString x1 for 1 feature\(s\): u2"):
        validate_geometries(gdf, what="bases", id_column="uid", allowed={"Point"})


def test_null_and_empty_geometries():
    gdf = frame([Point(0, 0), None, shapely.Point()])
    with pytest.raises(InvalidGeometryError, match=r"null or empty geometry: 2 feature\(s\): u2, u3"):
        validate_geometries(gdf, what="bases", id_column="uid", allowed={"Point"})


def test_row_numbers_without_id_column():
    with pytest.raises(InvalidGeometryError, match=r"row 2"):
        validate_geometries(frame([Point(0, 0), None]), what="bases", id_column=None, allowed={"Point"})


def test_z_is_dropped():
    out = validate_geometries(frame([Point(1, 2, 3)]), what="bases", id_column="uid", allowed={"Point"})
    assert not out.has_z.any()
    assert out.geometry.iloc[0].equals(Point(1, 2))


def test_reading_once_hands_out_copies_and_sees_a_changed_file(tmp_path):
    from geo.readers import reading_once

    f = tmp_path / "pts.csv"
    f.write_text("name,longitude,latitude\na,10,5\nb,11,6\n")
    with reading_once():
        first = read_vector(f)
        first.loc[0, "name"] = "changed"  # the caller's copy only
        again = read_vector(f)
        assert list(again["name"]) == ["a", "b"]
        f.write_text("name,longitude,latitude\na,10,5\nb,11,6\nc,12,7\n")  # a new size: read again
        assert len(read_vector(f)) == 3
    f.write_text("name,longitude,latitude\nz,1,1\n")
    assert list(read_vector(f)["name"]) == ["z"]  # outside the block, no memo
