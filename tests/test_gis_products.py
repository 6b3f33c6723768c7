"""Products as GIS clients open them: styles, CRS name, GeoPackage 1.2 with DATE and
MultiPolygon, .csvt, KMZ, GeoParquet, provenance, reproducible bytes, file modes.

The analysis is the bundled demo (data/minusca) at 10 km with a cheap forecast, built
through ``build_inputs`` as the CLI does, so provenance is recorded; every product is
opened with GDAL (pyogrio, rasterio) and with sqlite3 / zipfile / xml where the format is
plain, and with the GDAL command-line tools where they are installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import rasterio
from pyproj import CRS
from shapely.geometry import MultiPolygon, Point, box

from geo.errors import MissingCRSError
from geo.export import GpkgLayer, csvt_types, kml_color, write_gpkg
from geo.grid import equal_area_crs, equal_area_name
from geo.inputs import InputSpec, build_inputs
from geo.legend import SurfaceStyle
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.products import write_analysis
from geo.provenance import ged_version, geopko_versions
from geo.styles import hex_to_rgba, raster_qml, raster_sld

DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"
AS_OF = date(2020, 10, 31)
FILES = {"bases": "bases_geopko_v2.1.csv", "events": "events_ged_v23.1.csv", "admin": "admin1_naturalearth.geojson",
         "roads": "roads_trans_african_highway.geojson", "towns": "towns_geonames.csv"}
PARAMS = Params(resolution_m=10_000, forecast_model="logistic", forecast_train_years=2.0, forecast_block_km=50.0)
SLD = "{http://www.opengis.net/sld}"
OGC = "{http://www.opengis.net/ogc}"

# geo.legend's colours, listed by hand (low to high)
GAP_HEX = ["#1a9850", "#a6d96a", "#fee08b", "#f46d43", "#a50026"]
TRAVEL_HEX = ["#006837", "#31a354", "#78c679", "#fdae61", "#d7191c", "#67001f"]
GAP_LABELS = ["low", "moderate", "elevated", "high", "critical"]


def _run(out: Path) -> Path:
    spec = InputSpec(**{k: DEMO / v for k, v in FILES.items()}, as_of=AS_OF)
    write_analysis(analyze(build_inputs(spec), PARAMS, AS_OF), out)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two runs on the same inputs, in two folders."""
    old = os.umask(0o022)
    try:
        return _run(tmp_path_factory.mktemp("run1") / "a"), _run(tmp_path_factory.mktemp("run2") / "a")
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def folder(runs) -> Path:
    return runs[0]


def _tool(name: str) -> str | None:
    return shutil.which(name)


# ------------------------------------------------------------------ styles beside the COGs


def test_each_cog_has_a_qml_and_sld_with_the_legend_classes(folder):
    for name in ("gap", "risk", "coverage", "threat", "exposure", "travel_time", "population"):
        assert (folder / f"{name}.qml").is_file() and (folder / f"{name}.sld").is_file(), name
    qml = ET.parse(folder / "gap.qml").getroot()
    assert qml.tag == "qgis"
    renderer = qml.find("pipe/rasterrenderer")
    assert renderer.get("type") == "singlebandpseudocolor"
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "DISCRETE"
    items = shader.findall("item")
    assert [i.get("color") for i in items] == GAP_HEX
    assert [i.get("value") for i in items] == ["10", "20", "35", "50", "inf"]
    assert [i.get("label") for i in items] == GAP_LABELS
    tt = ET.parse(folder / "travel_time.qml").getroot().findall("pipe/rasterrenderer/rastershader/colorrampshader/item")
    assert [i.get("color") for i in tt] == TRAVEL_HEX
    assert [i.get("value") for i in tt] == ["1", "2", "4", "6", "12", "inf"]
    sld = ET.parse(folder / "travel_time.sld").getroot()
    cmap = sld.find(f"{SLD}NamedLayer/{SLD}UserStyle/{SLD}FeatureTypeStyle/{SLD}Rule/{SLD}RasterSymbolizer/{SLD}ColorMap")
    assert cmap.get("type") == "intervals"
    entries = cmap.findall(f"{SLD}ColorMapEntry")
    assert [e.get("color") for e in entries] == TRAVEL_HEX
    assert [float(e.get("quantity")) for e in entries[:-1]] == [1, 2, 4, 6, 12]
    assert float(entries[-1].get("quantity")) > 24  # the last class is open above the cap


def test_raster_styles_of_a_hand_made_legend():
    style = SurfaceStyle("x", "X", "m", (5.0,), ("#000000", "#ffffff"), ("below", "above"), 0, 10)
    items = ET.fromstring(raster_qml(style).split("\n", 1)[1]).findall("pipe/rasterrenderer/rastershader/colorrampshader/item")
    assert [(i.get("value"), i.get("color"), i.get("label")) for i in items] == [
        ("5", "#000000", "below"), ("inf", "#ffffff", "above")]
    entries = ET.fromstring(raster_sld(style)).iter(f"{SLD}ColorMapEntry")
    assert [(e.get("quantity"), e.get("color")) for e in entries] == [("5", "#000000"), ("1e+20", "#ffffff")]
    assert hex_to_rgba("#a50026") == "165,0,38,255" and hex_to_rgba("#1a9850", 200) == "26,152,80,200"
    assert kml_color("#a50026", 200) == "c82600a5"


def test_cogs_carry_units_descriptions_and_the_named_crs(folder):
    summary = json.loads((folder / "summary.json").read_text())
    units = {"gap": "score 0..100", "coverage": "0..1", "exposure": "0..1", "threat": "0..1", "risk": "probability 0..1",
             "travel_time": "hours", "population": "persons per cell (100 km²)"}  # 10 km cells
    for name, unit in units.items():
        with rasterio.open(folder / f"{name}.tif") as ds:
            assert ds.units == (unit,), name
            assert ds.descriptions[0], name
            wkt = ds.crs.to_wkt()
    crs = CRS.from_wkt(wkt)
    lon0 = next(p.value for p in crs.coordinate_operation.params if "longitude" in p.name.lower())
    lat0 = next(p.value for p in crs.coordinate_operation.params if "latitude" in p.name.lower())
    assert 14 < lon0 < 28 and 2 < lat0 < 11  # the centre of CAR
    assert crs.name == f"Vacuum LAEA centred {round(lon0, 2):g}E {round(lat0, 2):g}N"
    assert CRS.from_wkt(summary["grid"]["crs"]).name == crs.name
    if _tool("gdalsrsinfo"):
        out = subprocess.run(["gdalsrsinfo", "-o", "wkt2", str(folder / "gap.tif")], capture_output=True, text=True)
        assert crs.name in out.stdout
    if _tool("gdalinfo"):
        out = subprocess.run(["gdalinfo", str(folder / "travel_time.tif")], capture_output=True, text=True).stdout
        assert crs.name in out and "Unit Type: hours" in out


def test_equal_area_name_and_the_named_crs_equals_the_plain_one():
    assert equal_area_name(20.9, 6.6) == "Vacuum LAEA centred 20.9E 6.6N"
    assert equal_area_name(-3.25, -10.0) == "Vacuum LAEA centred 3.25W 10S"
    named = equal_area_crs(20.9, 6.6)
    plain = CRS.from_proj4("+proj=laea +lat_0=6.6 +lon_0=20.9 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")
    assert named.name == "Vacuum LAEA centred 20.9E 6.6N" and plain.name == "unknown"
    assert named.equals(plain)  # check_crs accepts layers in either


def test_travel_time_beyond_the_cap_is_nodata(tmp_path):
    # one base at the centre, 10 km/h off-road, a 0.5 h cap: 5 km of reach on a 60 km square
    laea = equal_area_crs(20.0, 6.0)
    area = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["Area"], "level": [1], "parent": [None]},
                            geometry=[box(-30_000, -30_000, 30_000, 30_000)], crs=laea)
    bases = gpd.GeoDataFrame({"base_id": ["b"], "name": ["b"], "strength": [650], "unit_type": ["infantry"],
                              "mission": ["M"]}, geometry=[Point(500, 500)], crs=laea)
    p = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=0.25, max_reach_h=0.5,
               travel_time_cap_h=0.5)
    write_analysis(analyze(AnalysisInputs(bases=bases, admin=area), p, date(2020, 7, 1)), tmp_path)
    with rasterio.open(tmp_path / "travel_time.tif") as ds:
        values = ds.read(1)
        far = ds.index(20_500, 500)  # 20 km east of the base: 2 h off-road
        near = ds.index(2_500, 500)  # 2 km east: 0.2 h
        base = ds.index(500, 500)
        assert ds.nodata == -9999.0
    assert values[far] == -9999.0
    assert values[near] == pytest.approx(0.2, abs=0.06) and values[base] == 0.0
    assert values[values != -9999.0].max() <= 0.5


# ------------------------------------------------------------------ the GeoPackage


def test_geopackage_is_1_2_with_dates_multipolygons_and_styles(folder):
    gpkg = folder / "vacuum.gpkg"
    con = sqlite3.connect(gpkg)
    try:
        assert con.execute("PRAGMA user_version").fetchone() == (10200,)
        types = {t: {r[1]: r[2] for r in con.execute(f"PRAGMA table_info({t})")} for t in ("events", "bases")}
        assert types["events"]["date"] == "DATE" and types["bases"]["map_date"] == "DATE"
        geom_types = dict(con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns"))
        assert geom_types["zones"] == "MULTIPOLYGON" and geom_types["admin_summary"] == "MULTIPOLYGON"
        assert geom_types["bases"] == "POINT"
        rows = con.execute("SELECT f_table_name, f_geometry_column, styleQML, styleSLD, useAsDefault FROM layer_styles"
                           ).fetchall()
        stamps = {r[0] for r in con.execute("SELECT last_change FROM gpkg_contents")}
    finally:
        con.close()
    assert stamps == {"2020-10-31T00:00:00.000Z"}  # the as-of date, not the clock
    styles = {r[0]: r for r in rows}
    assert set(styles) == {"zones", "admin_summary"} and all(r[4] == 1 for r in rows)
    assert styles["zones"][1] == pyogrio.read_info(gpkg, layer="zones")["geometry_name"]
    qml = ET.fromstring(styles["zones"][2].split("\n", 1)[1])
    renderer = qml.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "gap_class"
    assert [c.get("value") for c in renderer.findall("categories/category")] == GAP_LABELS
    fills = [s.find("layer/prop[@k='color']").get("v") for s in renderer.findall("symbols/symbol")]
    assert fills == ["26,152,80,200", "166,217,106,200", "254,224,139,200", "244,109,67,200", "165,0,38,200"]
    sld = ET.fromstring(styles["admin_summary"][3])
    fill = [c.text for c in sld.iter(f"{SLD}CssParameter") if c.get("name") == "fill"]
    assert fill == GAP_HEX
    lows = [float(e.find(f"{OGC}Literal").text) for e in sld.iter(f"{OGC}PropertyIsGreaterThanOrEqualTo")]
    assert lows == [0, 10, 20, 35, 50]
    zones = pyogrio.read_dataframe(gpkg, layer="zones")
    n_geojson = len(json.loads((folder / "zones.geojson").read_text())["features"])
    assert len(zones) == n_geojson > 0 and set(zones.geom_type) == {"MultiPolygon"}
    events = pyogrio.read_dataframe(gpkg, layer="events")
    csv_dates = pd.to_datetime(json.loads((folder / "events.geojson").read_text())["features"][0]["properties"]["date"])
    assert pd.Timestamp(events["date"].iloc[0]) == csv_dates
    if _tool("ogrinfo"):
        out = subprocess.run(["ogrinfo", "-so", str(gpkg), "events"], capture_output=True, text=True).stdout
        assert "date: Date" in out


def test_empty_layers_keep_geometry_type_and_crs_and_one_file_is_moved_once(tmp_path):
    laea = equal_area_crs(20.0, 6.0)
    poly = gpd.GeoDataFrame({"zone_id": [1, 2], "d": pd.array([date(2020, 1, 2), None], dtype=pd.ArrowDtype(pa.date32()))},
                            geometry=[box(0, 0, 1000, 1000), MultiPolygon([box(5000, 0, 6000, 1000)])], crs=laea)
    empty = gpd.GeoDataFrame({"event_id": pd.Series([], dtype=str)}, geometry=gpd.GeoSeries([], crs=laea))
    path = write_gpkg(tmp_path / "v.gpkg", [GpkgLayer("zones", poly, "MultiPolygon"),
                                             GpkgLayer("events", empty, "Point")])
    info = pyogrio.read_info(path, layer="events")
    assert info["features"] == 0 and info["geometry_type"] == "Point"
    assert CRS.from_user_input(info["crs"]).equals(CRS.from_epsg(4326))
    zones = pyogrio.read_info(path, layer="zones")
    assert zones["geometry_type"] == "MultiPolygon" and zones["ogr_types"][list(zones["fields"]).index("d")] == "OFTDate"
    before = path.read_bytes()
    no_crs = poly.set_crs(None, allow_override=True)
    with pytest.raises(MissingCRSError, match="layer broken"):
        write_gpkg(path, [GpkgLayer("zones", poly, "MultiPolygon"), GpkgLayer("broken", no_crs, "MultiPolygon")])
    assert path.read_bytes() == before  # the old file stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.gpkg"]  # no temporary left


# ------------------------------------------------------------------ CSV, KMZ, GeoParquet


def test_csvt_gives_qgis_the_column_types(folder):
    header = (folder / "admin_summary.csv").read_text().splitlines()[0].split(",")
    types = (folder / "admin_summary.csvt").read_text().strip().split(",")
    assert len(types) == len(header)
    by_col = dict(zip(header, (t.strip('"') for t in types), strict=True))
    assert by_col["admin_id"] == "String" and by_col["area_km2"] == "Real" and by_col["cells"] == "Integer64"
    info = pyogrio.read_info(folder / "admin_summary.csv")  # GDAL's CSV driver reads the .csvt
    ogr = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert ogr["area_km2"] == "OFTReal" and ogr["cells"] == "OFTInteger64" and ogr["admin_id"] == "OFTString"
    df = pd.DataFrame({"n": [1], "x": [0.5], "s": ["a"], "ok": [True], "d": pd.to_datetime(["2020-01-01"])})
    assert csvt_types(df) == ["Integer64", "Real", "String", "String", "DateTime"]


def test_kmz_opens_with_one_placemark_per_zone(folder):
    with zipfile.ZipFile(folder / "zones.kmz") as z:
        assert z.namelist() == ["doc.kml"]
        assert z.getinfo("doc.kml").date_time == (1980, 1, 1, 0, 0, 0)
        doc = ET.fromstring(z.read("doc.kml"))  # well-formed KML
    kml_ns = "{http://www.opengis.net/kml/2.2}"
    fill_of_class = {"high": "c8436df4", "critical": "c82600a5"}  # #f46d43, #a50026 as aabbggrr, alpha 200
    placemarks = list(doc.iter(f"{kml_ns}Placemark"))
    assert placemarks
    for pm in placemarks:
        cls = next(d.text for d in pm.iter(f"{kml_ns}SimpleData") if d.get("name") == "gap_class")
        assert pm.find(f"{kml_ns}Style/{kml_ns}PolyStyle/{kml_ns}color").text == fill_of_class[cls]
    kml = pyogrio.read_dataframe(f"/vsizip/{folder / 'zones.kmz'}/doc.kml")
    zones = json.loads((folder / "zones.geojson").read_text())["features"]
    assert sorted(kml["Name"].astype(int)) == sorted(f["properties"]["zone_id"] for f in zones)
    admin = pyogrio.read_dataframe(f"/vsizip/{folder / 'admin_summary.kmz'}/doc.kml")
    names = [f["properties"]["name"] for f in json.loads((folder / "admin_summary.geojson").read_text())["features"]]
    assert sorted(admin["Name"]) == sorted(names)


def test_geoparquet_of_every_vector_product_reads_back_with_its_crs(folder):
    for name in ("zones", "bases", "events", "sites", "admin_summary"):
        gdf = gpd.read_parquet(folder / f"{name}.parquet")
        assert CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326)), name
        n = len(json.loads((folder / f"{name}.geojson").read_text())["features"])
        assert len(gdf) == n, name
    assert set(gpd.read_parquet(folder / "zones.parquet").geom_type) == {"MultiPolygon"}
    assert str(gpd.read_parquet(folder / "events.parquet")["date"].dtype) == "date32[day][pyarrow]"


# ------------------------------------------------------------------ provenance, bytes, modes


def test_provenance_records_files_hashes_and_data_versions(folder):
    prov = json.loads((folder / "summary.json").read_text())["provenance"]
    listed = {f["layer"]: f for f in prov["inputs"]}
    assert set(listed) == set(FILES)
    for layer, name in FILES.items():
        data = (DEMO / name).read_bytes()
        assert listed[layer]["name"] == name
        assert listed[layer]["size_bytes"] == len(data)
        assert listed[layer]["sha256"] == hashlib.sha256(data).hexdigest()
    raw = pd.read_csv(DEMO / FILES["bases"])
    latest = raw[(raw["mission"] == "MINUSCA") & (raw["year"] == 2020) & (raw["month"] == 10)]
    assert latest["source"].nunique() == 1
    assert f"MINUSCA: {latest['source'].iloc[0]} (2020-10)" in prov["data_versions"]["bases"]
    assert prov["data_versions"]["bases"].startswith("geo_pko_v2.1")
    assert prov["data_versions"]["events"] == "ged v23.1"  # from the file name
    import tomllib
    version = tomllib.loads((DEMO.parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert prov["code_version"] == version
    from geo.public import public_summary  # what viewers get: no file names, hashes or map numbers

    viewer = json.dumps(public_summary(json.loads((folder / "summary.json").read_text())))
    assert listed["bases"]["sha256"] not in viewer and FILES["bases"] not in viewer and "Rev. 19" not in viewer
    assert json.loads(viewer)["provenance"] == {"code_version": version}


def test_version_readers_by_hand():
    assert ged_version("GEDEvent_v23_1.csv") == "23.1" and ged_version("events_ged_v24.1.csv") == "24.1"
    assert ged_version("acled_2020.csv") is None
    attrs = {"schema": "geo_pko_v2.3", "maps": {"UNMISS": {"source": "Map 4456 Rev. 40", "map_date": "2021-06"},
                                                "MINUSMA": {"source": "Map 4225 Rev. 45", "map_date": "2021-07"}}}
    assert geopko_versions(attrs) == "geo_pko_v2.3; MINUSMA: Map 4225 Rev. 45 (2021-07); UNMISS: Map 4456 Rev. 40 (2021-06)"
    assert geopko_versions({"schema": "custom"}) is None


def test_two_runs_are_byte_identical_but_for_timings(runs):
    a, b = runs
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    differ = [str(f) for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    assert differ == ["summary.json"]
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    sa.pop("timings_s"), sb.pop("timings_s")
    assert sa == sb


def test_products_written_on_threads_are_the_bytes_written_one_by_one(tmp_path):
    spec = InputSpec(**{k: DEMO / v for k, v in FILES.items()}, as_of=AS_OF)
    a = analyze(build_inputs(spec), PARAMS, AS_OF)
    one, many = tmp_path / "one", tmp_path / "many"
    seen: list[tuple[str, float]] = []
    paths_one = write_analysis(a, one, workers=1)
    paths_many = write_analysis(a, many, workers=4, progress=lambda stage, frac: seen.append((stage, frac)))
    assert list(paths_one) == list(paths_many)  # the same products, listed in the same order
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(many) for p in many.rglob("*") if p.is_file())
    assert [str(f) for f in files if (one / f).read_bytes() != (many / f).read_bytes()] == []
    assert not [p for p in many.rglob(".*")]  # no temporary file or folder left behind
    assert seen[0] == ("write_cogs", 0.0) and seen[-1] == ("write_vectors", 1.0)


def test_a_failing_product_is_raised_after_the_others_finish(tmp_path, monkeypatch):
    import geo.products as products

    spec = InputSpec(**{k: DEMO / v for k, v in FILES.items()}, as_of=AS_OF)
    a = analyze(build_inputs(spec), PARAMS, AS_OF)

    def broken(*args, **kwargs):
        raise OSError("disk full (test)")

    monkeypatch.setattr(products, "write_kmz", broken)
    with pytest.raises(OSError, match="disk full"):
        write_analysis(a, tmp_path / "a")
    assert not (tmp_path / "a" / "summary.json").exists()  # no summary of a folder left incomplete
    assert not [p for p in (tmp_path / "a").rglob(".*")]


def test_model_files_and_pyramids_get_the_umask_mode(runs, tmp_path):
    from geo.pyramid import render_pyramid

    for npz in ("coverage_terms.npz", "friction.npz"):
        assert (runs[0] / "model" / npz).stat().st_mode & 0o777 == 0o644  # umask 022 in the fixture
        with np.load(runs[0] / "model" / npz) as z:
            assert len(z.files) >= 1
    old = os.umask(0o027)
    try:
        out = render_pyramid(runs[0] / "gap.tif", tmp_path / "gap.mbtiles", surface="gap", minzoom=3, maxzoom=3)
    finally:
        os.umask(old)
    assert Path(out).stat().st_mode & 0o777 == 0o640


def test_the_viewers_folder_links_none_of_the_new_full_products(folder, tmp_path):
    from api.products import viewer_folder

    view = viewer_folder(folder, tmp_path / "cache")
    names = {p.name for p in view.iterdir()}
    full = {"bases.parquet", "zones.parquet", "admin_summary.parquet", "zones.kmz", "admin_summary.kmz",
            "admin_summary.csvt", "vacuum.gpkg", "coverage.tif", "coverage.qml", "travel_time.tif", "travel_time.sld"}
    assert full <= {p.name for p in folder.iterdir()}  # they exist in the analysis folder
    assert not full & names
    assert "events.parquet" in names and "risk.qml" in names  # what viewers may see stays
    assert (view / "gap.tif").resolve() == (folder / "public" / "gap.tif").resolve()


def test_scenario_folders_get_styles_units_and_multipolygon_zones(tmp_path):
    from geo.plan import parse_plan
    from geo.scenario import load_baseline
    from geo.scenario_products import run_scenario

    laea = equal_area_crs(20.0, 6.0)
    area = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1], "parent": [None, None]},
                            geometry=[box(-30_000, -20_000, 0, 20_000), box(0, -20_000, 30_000, 20_000)], crs=laea)
    bases = gpd.GeoDataFrame({"base_id": ["a", "b"], "name": ["a", "b"], "strength": [650.0, 650.0],
                              "unit_type": ["infantry"] * 2, "mission": ["M"] * 2},
                             geometry=[Point(-10_000, 0), Point(10_000, 0)], crs=laea)
    events = gpd.GeoDataFrame({"event_id": ["0", "1"], "date": pd.to_datetime(["2020-06-01"] * 2),
                               "event_type": ["one_sided"] * 2, "fatalities": [3.0, 3.0]},
                              geometry=[Point(10_000, 5_000), Point(25_000, 0)], crs=laea)
    p = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)
    write_analysis(analyze(AnalysisInputs(bases=bases, events=events, admin=area), p, date(2020, 7, 1)), tmp_path / "a")
    plan = parse_plan({"name": "t", "phases": [{"name": "p0", "date": "2021-01-01", "actions": [{"close": ["b"]}]}]})
    run_scenario(load_baseline(tmp_path / "a"), plan, tmp_path / "s")
    phase = tmp_path / "s" / "phase_1"
    items = ET.parse(phase / "gap_delta.qml").getroot().findall("pipe/rasterrenderer/rastershader/colorrampshader/item")
    assert [i.get("color") for i in items] == ["#2166ac", "#92c5de", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"]
    for name in ("gap", "coverage", "gap_delta", "coverage_delta"):
        assert (phase / f"{name}.sld").is_file()
    with rasterio.open(phase / "gap_delta.tif") as ds:
        assert ds.units == ("score points",)
    con = sqlite3.connect(tmp_path / "s" / "scenario.gpkg")
    try:
        assert con.execute("PRAGMA user_version").fetchone() == (10200,)
        geom = dict(con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns"))
    finally:
        con.close()
    assert geom["new_zones_phase_1"] == "MULTIPOLYGON"
    zones = pyogrio.read_dataframe(tmp_path / "s" / "scenario.gpkg", layer="new_zones_phase_1")
    assert len(zones) >= 1 and set(zones.geom_type) == {"MultiPolygon"}
