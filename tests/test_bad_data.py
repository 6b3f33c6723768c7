"""Bad data that used to be accepted silently, and errors that were tracebacks (issue 12, sections 4 and 5).

Each test plays the bad input and checks the refusal or the warning in ``summary.json``."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import LineString, Point, box

from geo.errors import ConfigError, EmptyLayerError, LayerError
from geo.grid import equal_area_crs
from geo.inputs import InputSpec, build_inputs, default_as_of
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze

DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"
CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["Area"], "level": [1], "parent": [None]},
                        geometry=[box(-30_000, -30_000, 30_000, 30_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=5, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)
AS_OF = date(2020, 7, 1)


def _bases(rows):
    return gpd.GeoDataFrame(
        {"base_id": [r[0] for r in rows], "name": [r[0] for r in rows], "strength": [r[1] for r in rows],
         "unit_type": ["infantry"] * len(rows), "mission": ["M"] * len(rows)},
        geometry=[Point(r[2], r[3]) for r in rows], crs=CRS)


def _events(pts, dates):
    return gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))], "date": pd.to_datetime(dates),
                             "event_type": ["one_sided"] * len(pts), "fatalities": [3.0] * len(pts),
                             "actors": [""] * len(pts), "schema": ["custom"] * len(pts)},
                            geometry=[Point(*p) for p in pts], crs=CRS)


BASE = _bases([("b", 650, 0, 0)])


# --- section 4: warnings in summary.json ----------------------------------------------

def test_a_clean_run_has_an_empty_warnings_list():
    ev = _events([(1000, 1000)], ["2020-06-01"])
    a = analyze(build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA)), P, AS_OF)
    # nothing about the data; only that one event is too little history to fit a forecast
    assert len(a.summary["warnings"]) == 1 and a.summary["warnings"][0].startswith("forecast: ")
    assert a.summary["forecast"]["method"] == "past_events_kernel"


def test_one_event_dated_2099_is_an_error_not_a_new_as_of():
    ev = _events([(1000, 1000), (2000, 2000)], ["2020-06-01", "2099-01-01"])
    with pytest.raises(ConfigError, match=r"1 event\(s\) dated after .*2099-01-01.*allow_future_events"):
        build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA))
    # after the as-of date given, also an error
    with pytest.raises(ConfigError, match="after the as-of date 2020-05-01"):
        build_inputs(InputSpec(bases=BASE, events=ev.iloc[:1], admin=AREA, as_of=date(2020, 5, 1)))


def test_future_events_allowed_are_not_used_and_counted():
    ev = _events([(1000, 1000), (2000, 2000)], ["2020-06-01", "2099-01-01"])
    inputs = build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA, allow_future_events=True))
    d, _ = default_as_of(inputs)
    assert d == date(2020, 6, 1)  # the latest real event, not 2099
    a = analyze(inputs, P, d)
    assert a.summary["layers"]["events_in_window"] == 1
    assert any("1 event(s) dated after the as-of date 2020-06-01 were not used" in w for w in a.summary["warnings"])


def test_an_as_of_date_after_today_is_refused():
    with pytest.raises(ConfigError, match="as-of date 2999-01-01 is after today"):
        build_inputs(InputSpec(bases=BASE, admin=AREA, as_of=date(2999, 1, 1)))


def test_no_events_in_the_window_is_not_a_finding_of_safety():
    ev = _events([(1000, 1000)], ["2010-06-01"])  # long before the look-back window
    a = analyze(build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA)), P, AS_OF)
    assert a.summary["layers"]["events_in_window"] == 0
    assert "no events known in the window: the gap is not a finding of safety" in a.summary["warnings"]


def test_a_road_layer_with_nothing_inside_the_area_is_warned():
    roads = gpd.GeoDataFrame({"road_id": ["r"], "road_class": ["primary"]},
                             geometry=[LineString([(500_000, 0), (600_000, 0)])], crs=CRS)
    inputs = build_inputs(InputSpec(bases=BASE, roads=roads, admin=AREA))
    a = analyze(inputs, P, AS_OF)
    assert any("no road of the road layer lies inside the area" in w for w in a.summary["warnings"])
    inside = gpd.GeoDataFrame({"road_id": ["r"], "road_class": ["primary"]},
                              geometry=[LineString([(-5000, 0), (5000, 0)])], crs=CRS)
    assert build_inputs(InputSpec(bases=BASE, roads=inside, admin=AREA)).warnings == []


def test_events_just_outside_the_admin_polygons_are_counted_and_can_be_snapped():
    ev = _events([(1000, 1000), (32_000, 0), (400_000, 0)], ["2020-06-01"] * 3)  # 2 km out, and far away
    inputs = build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA))
    [w] = [w for w in inputs.warnings if "outside the admin polygons" in w]
    assert "1 event(s)" in w and "snap_events_km" in w and "--snap-events-km" in w
    snapped = build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA, snap_events_km=3))
    x = snapped.events.geometry.x.to_numpy()
    assert x[1] < 30_000 and x[1] > 29_900  # moved onto the area, barely inside
    assert x[2] == 400_000  # beyond the tolerance: not moved
    assert any("moved 1 event(s)" in w for w in snapped.warnings)
    with pytest.raises(ConfigError, match="snap_events_km"):
        build_inputs(InputSpec(bases=BASE, events=ev, admin=AREA, snap_events_km=-1))


def test_a_single_swapped_base_is_named_with_the_swap_hint():
    ll = gpd.GeoDataFrame({"base_id": ["good", "swapped"], "name": ["g", "s"], "strength": [650, 650],
                           "unit_type": ["infantry"] * 2, "mission": ["M"] * 2},
                          geometry=[Point(20.0, 6.0), Point(6.05, 20.05)], crs=4326)
    a = analyze(AnalysisInputs(bases=ll, admin=AREA), P, AS_OF)
    assert a.summary["layers"]["bases_outside_grid"] == ["swapped"]
    [w] = [w for w in a.summary["warnings"] if "swapped" in w]
    assert "latitude and longitude" in w


def test_summary_warnings_are_documented():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    assert "| `warnings` |" in doc


# --- population rasters -----------------------------------------------------------------

def _tif(path, values, *, res=0.1, nodata=None, dtype="float32"):
    import rasterio

    values = np.asarray(values, dtype=dtype)
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype=dtype, crs="EPSG:4326", transform=Affine(res, 0, 19.0, 0, -res, 7.0),
                       nodata=nodata) as dst:
        dst.write(values, 1)
    return path


@pytest.mark.parametrize("values, match, match_count", [
    (np.full((4, 4), -5.0), "no positive value .*zero or negative", "no positive value"),
    (np.full((4, 4), np.nan), "no positive value .*NaN or nodata", "no positive value"),
    (np.full((4, 4), 3e38), "3e\\+38 people per km².*undeclared nodata", "people per km² .read as count.*nodata"),
])
def test_implausible_population_rasters_are_refused(tmp_path, values, match, match_count):
    from geo.layers import check_population_raster

    path = _tif(tmp_path / "pop.tif", values)
    with pytest.raises(LayerError, match=match):
        check_population_raster(path, units="density")
    with pytest.raises(LayerError, match=match_count):
        build_inputs(InputSpec(bases=BASE, admin=AREA, population=path, population_units="count"))


def test_a_density_raster_declared_as_count_is_warned_with_the_fix():
    from geo.layers import check_population_raster

    path = DEMO / "population_worldpop2020_density.tif"
    [w] = check_population_raster(path, units="count")
    assert "population_units='density'" in w and "--population-units density" in w
    assert check_population_raster(path, units="density") == []
    inputs = build_inputs(InputSpec(bases=BASE, admin=AREA, population=path, population_units="count"))
    assert any("--population-units density" in w for w in inputs.warnings)


def test_a_raster_over_the_services_pixel_limit_is_refused_before_reading(tmp_path):
    import rasterio

    from geo.layers import MAX_RASTER_PIXELS, check_population_raster

    path = tmp_path / "huge.tif"  # 100000 x 100000, sparse: a few kB on disk, 37 GB to read
    with rasterio.open(path, "w", driver="GTiff", width=100_000, height=100_000, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(1e-4, 0, 0, 0, -1e-4, 0), tiled=True,
                       compress="deflate", sparse_ok=True):
        pass
    assert path.stat().st_size < 10_000_000 and 100_000**2 > MAX_RASTER_PIXELS
    with pytest.raises(LayerError, match="100000 x 100000 = 10,000,000,000 pixels, over the limit"):
        check_population_raster(path, units="count")


# --- Geo-PKO ----------------------------------------------------------------------------

V23 = ("mission,year,location,latitude,longitude,NoTroops,ave.no.troops,Infantry,Reserve,hq,UNPOL,UNMO,Av\n"
       "MINUSCA,2021,Bria,6.54,21.98,650,650,1,0,0,0,0,0\n"
       "MINUSCA,2022,Bria,6.54,21.98,1300,1300,1,0,0,0,0,0\n")


def test_geopko_v23_rows_of_an_unfinished_year_are_not_used(tmp_path):
    from geo.layers import load_bases

    path = tmp_path / "v23.csv"
    path.write_text(V23)
    b = load_bases(path, as_of=date(2022, 1, 15))
    assert b["map_date"].dt.year.tolist() == [2021] and b["strength"].tolist() == [650]
    assert any("2022 is not complete before the as-of date 2022-01-15" in n for n in b.attrs["notes"])
    assert load_bases(path, as_of=date(2023, 1, 15))["strength"].tolist() == [1300]  # 2022 is complete
    with pytest.raises(EmptyLayerError, match="no Geo-PKO v2.3 rows .* before 2021"):
        load_bases(path, as_of=date(2021, 6, 1))


def test_a_stale_geopko_map_names_the_cli_flag(tmp_path):
    from geo.layers import load_bases

    path = tmp_path / "v23.csv"
    path.write_text(V23)
    with pytest.raises(EmptyLayerError, match=r"max_map_age_days=None \(CLI: --max-map-age none\)"):
        load_bases(path, as_of=date(2025, 1, 15))


# --- section 5: one line, exit 2, never a traceback --------------------------------------

def _cli(capsys, argv):
    from cli.main import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err, match):
    import re

    lines = [ln for ln in err.strip().splitlines() if ln]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vacuum: error:"), err
    assert re.search(match, lines[0]), lines[0]


def _analyze_argv(tmp_path, *extra):
    return ["analyze", "--quiet", "--resolution", "20000", "--bases", DEMO / "bases_geopko_v2.1.csv",
            "--admin", DEMO / "admin1_naturalearth.geojson", "--out", tmp_path / "o", *extra]


def test_cli_as_of_in_the_far_future_is_one_line(tmp_path, capsys):
    code, _, err = _cli(capsys, _analyze_argv(tmp_path, "--as-of", "2999-01-01"))
    _one_line(code, err, "as-of date 2999-01-01 is after today.*--allow-future-events")


def test_cli_plan_with_a_day_that_does_not_exist_is_one_line(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\nphases:\n  - name: one\n    date: 2021-02-30\n    actions:\n      - close: [\"x\"]\n")
    code, _, err = _cli(capsys, ["scenario", "--analysis", tmp_path, "--plan", plan, "--out", tmp_path / "s"])
    _one_line(code, err, r"plan.yaml.*2021-02-30.*not a real date.*YYYY-MM-DD")


def test_cli_max_map_age_none_keeps_every_mission(tmp_path, capsys):
    from cli.main import build_parser

    args = build_parser().parse_args([str(a) for a in _analyze_argv(tmp_path, "--max-map-age", "none")])
    assert args.max_map_age is None


def test_cli_prints_the_warnings(tmp_path, capsys):
    events = tmp_path / "events.csv"
    events.write_text("event_id,date,fatalities,latitude,longitude\n1,2010-01-01,3,6.5,21.9\n")
    code, out, err = _cli(capsys, _analyze_argv(tmp_path, "--as-of", "2020-10-31", "--events", events,
                                                "--map", "events.date=date"))
    assert code == 0, err
    assert "warning: no events known in the window: the gap is not a finding of safety" in out
    summary = __import__("json").loads((tmp_path / "o" / "summary.json").read_text())
    assert "no events known in the window: the gap is not a finding of safety" in summary["warnings"]


# --- geometries GEOS cannot build ---------------------------------------------------------

RING = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"admin_id":"A1","name":"A"},'
        '"geometry":{"type":"Polygon","coordinates":[[[20,5],[21,5],[21,6],[20,6]]]}}]}')
LINE = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"highway":"primary"},'
        '"geometry":{"type":"LineString","coordinates":[[20,5],[20.5,5]]}},{"type":"Feature","properties":'
        '{"highway":"track"},"geometry":{"type":"LineString","coordinates":[[20,5]]}}]}')


@pytest.mark.parametrize("text, loader, match", [
    (RING, "load_admin", r"feature\(s\) 1 \(admin_id='A1'\) cannot be built.*ring must close"),
    (LINE, "load_roads", r"feature\(s\) 2 cannot be built.*at least 2 points"),
])
def test_unbuildable_geometries_name_the_feature(tmp_path, capsys, text, loader, match):
    import geo.layers
    from geo.errors import InvalidGeometryError

    path = tmp_path / "layer.geojson"
    path.write_text(text)
    kw = {"level": 1} if loader == "load_admin" else {}
    with pytest.raises(InvalidGeometryError, match=match):
        getattr(geo.layers, loader)(path, **kw)
    flag = "--admin" if loader == "load_admin" else "--roads"
    argv = ["analyze", "--quiet", "--bases", DEMO / "bases_geopko_v2.1.csv", "--bbox", "14,2,28,11",
            "--as-of", "2020-10-31", "--admin-level", "1", flag, path, "--out", tmp_path / "o"]
    code, _, err = _cli(capsys, argv)
    _one_line(code, err, match)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from api.testing import ADMIN_KEY

    ws = tmp_path_factory.mktemp("ws")
    s = Settings(workspace=ws, admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(s)) as c:
        c.headers["X-API-Key"] = ADMIN_KEY
        yield c


@pytest.mark.parametrize("kind, text, match", [("admin", RING, "ring must close"), ("roads", LINE, "at least 2 points")])
def test_unbuildable_geometries_are_a_422_from_the_service(api, kind, text, match):
    r = api.post("/layers", data={"kind": kind, "level": "1"} if kind == "admin" else {"kind": kind},
                 files={"file": ("layer.geojson", text.encode())})
    assert r.status_code == 422, r.text
    assert match in r.json()["detail"]


# --- zip archives: the upload's checks, for the CLI too ----------------------------------

def _shapefile_parts(tmp_path):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[LineString([(20, 5), (21, 5)])], crs=4326).to_file(
        src / "roads.shp")
    return {p.name: p.read_bytes() for p in src.iterdir()}


def _zip(members, *, link=None, encrypted=None):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name == link:
                info.external_attr = (0o120777 << 16)
            zf.writestr(info, data)
    out = bytearray(buf.getvalue())
    if encrypted is not None:  # zipfile cannot encrypt: set the "encrypted" flag bit in both headers
        name = encrypted.encode()
        for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
            i = out.find(sig)
            while i >= 0:
                if out[i + name_at:i + name_at + len(name)] == name:
                    out[i + flag_at] |= 0x1
                i = out.find(sig, i + 4)
    return bytes(out)


def _hostile(tmp_path, case):
    parts = _shapefile_parts(tmp_path)
    if case == "traversal":
        parts["../../evil.shp"] = parts.pop("roads.shp")
        return _zip(parts), "path traversal"
    if case == "symlink":
        return _zip({**parts, "roads.shp": b"/etc/passwd"}, link="roads.shp"), "a symbolic link"
    if case == "encrypted":
        return _zip(parts, encrypted="roads.dbf"), "encryption"
    return _zip({"roads.shp": bytes(1100 * 1024 * 1024 // 1000)}), "unzips to"  # bomb: see the limit below


@pytest.mark.parametrize("case", ["traversal", "symlink", "encrypted", "bomb"])
def test_hostile_zips_are_refused_in_plain_words_by_the_cli(tmp_path, capsys, monkeypatch, case):
    import geo.archives

    monkeypatch.setattr(geo.archives, "MAX_BYTES", 1024 * 1024)  # the bomb: 1.1 MB of zeros over a 1 MB limit
    monkeypatch.setattr(geo.archives.extract_shapefile, "__kwdefaults__",
                        {**geo.archives.extract_shapefile.__kwdefaults__, "max_bytes": 1024 * 1024})
    content, match = _hostile(tmp_path, case)
    path = tmp_path / "roads.zip"
    path.write_bytes(content)
    argv = ["analyze", "--quiet", "--bases", DEMO / "bases_geopko_v2.1.csv", "--bbox", "14,2,28,11",
            "--as-of", "2020-10-31", "--roads", path, "--out", tmp_path / "o"]
    code, _, err = _cli(capsys, argv)
    _one_line(code, err, match)
    assert "vsizip" not in err and "/vsi" not in err
    assert not (tmp_path.parent / "evil.shp").exists()


def test_an_encrypted_zip_upload_is_a_422_in_plain_words(api, tmp_path):
    content, _ = _hostile(tmp_path, "encrypted")
    r = api.post("/layers", data={"kind": "roads"}, files={"file": ("roads.zip", content)})
    assert r.status_code == 422, r.text
    assert "encryption" in r.json()["detail"] and "vsizip" not in r.json()["detail"]


# --- the workspace: one line naming the file and the fix; never start empty over data ----

def _serve(capsys, ws, monkeypatch):
    """``vacuum serve`` up to the point where it would listen (uvicorn is not started)."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("started over a broken workspace"))
    monkeypatch.setenv("VACUUM_ADMIN_KEY", "a-test-admin-key-that-is-long-enough-0123")
    return _cli(capsys, ["serve", "--workspace", ws])


def _workspace_with_a_layer(tmp_path):
    from api.storage.sqlite import SQLiteStorage

    ws = tmp_path / "ws"
    st = SQLiteStorage(ws)
    st.init()
    (ws / "layers" / "ly_0123456789ab.gpkg").write_bytes(b"layer data")  # a stored layer's file
    return ws


def test_a_zero_byte_database_over_existing_data_is_refused(tmp_path, capsys, monkeypatch):
    from api.storage.sqlite import SQLiteStorage, WorkspaceError

    ws = _workspace_with_a_layer(tmp_path)
    (ws / "vacuum.sqlite").write_bytes(b"")
    for extra in ("-wal", "-shm"):
        (ws / f"vacuum.sqlite{extra}").unlink(missing_ok=True)
    with pytest.raises(WorkspaceError, match=r"vacuum.sqlite is empty \(0 bytes\) but the workspace holds 1 layer"):
        SQLiteStorage(ws).init()
    assert (ws / "layers" / "ly_0123456789ab.gpkg").exists()  # not dropped as an orphan
    code, _, err = _serve(capsys, ws, monkeypatch)
    _one_line(code, err, r"vacuum.sqlite is empty .*restore it from a backup")


def test_a_corrupt_database_is_one_line(tmp_path, capsys, monkeypatch):
    ws = _workspace_with_a_layer(tmp_path)
    (ws / "vacuum.sqlite").write_bytes(b"this is not a database" * 100)
    code, _, err = _serve(capsys, ws, monkeypatch)
    _one_line(code, err, r"vacuum.sqlite is not a readable SQLite database.*backup")


def test_a_read_only_or_uncreatable_workspace_is_one_line(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _serve(capsys, blocker / "ws", monkeypatch)  # a folder under a file cannot be made
    _one_line(code, err, r"workspace .*ws cannot be created.*--workspace")
    if os.geteuid() == 0:
        return  # root writes anywhere: the read-only case cannot be played
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = _serve(capsys, ro, monkeypatch)
        _one_line(code, err, r"workspace .*ro is not writable")
    finally:
        ro.chmod(0o755)


def test_tmp_files_no_live_job_owns_are_cleaned_at_startup(tmp_path):
    from api.storage import InstanceRecord, JobRecord
    from api.storage.sqlite import SQLiteStorage

    ws = tmp_path / "ws"
    st = SQLiteStorage(ws)
    st.init()
    st.register_instance(InstanceRecord(id="inst", host="h", pid=1))  # alive: its heartbeat is now
    for job_id, instance in (("an_live0000000", "inst"), ("an_dead0000000", "gone")):
        st.create_job(JobRecord(id=job_id, kind="analysis", request={}))
        assert st.start_job(job_id, instance)
    tmp = ws / "tmp"
    (tmp / "upload-0123456789ab").mkdir()  # fresh leftovers of a crash: minutes old, not an hour
    (tmp / ".ly_0123456789ab.tif").write_bytes(b"x")
    (tmp / "an_dead0000000-1234abcd").mkdir()
    (tmp / "an_live0000000-1234abcd").mkdir()
    SQLiteStorage(ws).init()  # another server is alive: its job's folder and (for an hour) uploads stay
    assert sorted(p.name for p in tmp.iterdir()) == [".ly_0123456789ab.tif", "an_live0000000-1234abcd",
                                                     "upload-0123456789ab"]
    st.stop_instance("inst")
    SQLiteStorage(ws).init()  # no server alive: nothing is owned
    assert list(tmp.iterdir()) == []


# --- the service: audit, keys, schema ---------------------------------------------------------

def _key(api, role):
    r = api.post("/keys", json={"name": f"test {role}", "role": role})
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


def _audit(api, **params):
    r = api.get("/audit", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_body_validation_rejections_and_403_denials_are_audited(api):
    planner, viewer = _key(api, "planner"), _key(api, "viewer")
    r = api.post("/analyses", json={"layers": {}, "bogus": 1}, headers=planner)
    assert r.status_code == 422
    [row] = [x for x in _audit(api, action="analysis.submit") if x["key_name"] == "test planner"]
    assert row["outcome"] == "rejected: RequestValidationError" and row["target"] == "POST /analyses"
    r = api.get("/audit", headers=viewer)
    assert r.status_code == 403
    [row] = [x for x in _audit(api) if x["key_name"] == "test viewer"]
    assert row["outcome"] == "denied: PermissionDeniedError" and row["target"] == "GET /audit"


def test_audit_since_is_a_time_not_a_string(api):
    from datetime import UTC, datetime, timedelta, timezone

    _key(api, "viewer")  # an entry made now
    plus5 = timezone(timedelta(hours=5))
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).astimezone(plus5).isoformat()  # its text sorts after now (UTC)
    assert any(x["action"] == "key.create" for x in _audit(api, since=hour_ago))
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _audit(api, since=in_an_hour) == []
    naive = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()  # taken as UTC
    assert any(x["action"] == "key.create" for x in _audit(api, since=naive))


def test_a_key_name_of_only_spaces_is_a_422(api):
    r = api.post("/keys", json={"name": "   ", "role": "viewer"})
    assert r.status_code == 422 and "name" in r.json()["detail"]


def test_revoking_a_revoked_key_is_a_409(api):
    r = api.post("/keys", json={"name": "twice", "role": "viewer"})
    key_id = r.json()["id"]
    assert api.delete(f"/keys/{key_id}").status_code == 200
    r = api.delete(f"/keys/{key_id}")
    assert r.status_code == 409 and "already revoked" in r.json()["detail"]


def test_layer_kind_is_an_enum_in_the_openapi_schema(api):
    from api.layers import LAYER_KINDS

    doc = api.get("/openapi.json").json()
    [param] = [p for p in doc["paths"]["/layers"]["get"]["parameters"] if p["name"] == "kind"]
    schema = param["schema"]
    enum = schema.get("enum") or next(s["enum"] for s in schema.get("anyOf", []) if "enum" in s)
    assert enum == list(LAYER_KINDS)
    assert doc["components"]["schemas"]["LayerOut"]["properties"]["kind"]["enum"] == list(LAYER_KINDS)


def test_job_errors_shown_to_viewers_carry_no_server_paths(api):
    from api.storage import JobRecord

    storage = api.app.state.services.storage
    job = JobRecord(id="an_paths000000a", kind="analysis", request={"layers": {}})
    storage.create_job(job)
    assert storage.start_job(job.id, "inst")
    ws = storage.workspace.resolve()
    storage.finish_job(job.id, "failed", error=f"{ws}/layers/ly_0123456789ab.tif: a cell holds 3e+38 people; "
                                                "see /usr/lib/gdal/x.c and C:\\data\\pop.tif")
    viewer = _key(api, "viewer")
    err = api.get(f"/analyses/{job.id}", headers=viewer).json()["error"]
    assert str(ws) not in err and "/usr/lib" not in err and "C:\\" not in err
    assert err.startswith("ly_0123456789ab.tif: a cell holds") and "x.c" in err and "pop.tif" in err


def test_a_long_filename_keeps_its_extension():
    from api.uploads import clean_filename

    name = "a" * 300 + ".geojson"
    out = clean_filename(name)
    assert len(out) == 200 and out.endswith(".geojson")
    assert clean_filename("x" * 300).startswith("x") and len(clean_filename("x" * 300)) == 200


def test_demo_events_just_outside_natural_earths_polygons_are_counted_by_hand():
    from geo.layers import load_admin, load_events

    ev = load_events(DEMO / "events_ged_v23.1.csv")
    admin = load_admin(DEMO / "admin1_naturalearth.geojson")
    metric = equal_area_crs(20.9, 6.6)  # by hand: an equal-area CRS over the CAR
    d_km = ev.to_crs(metric).distance(admin.to_crs(metric).union_all()) / 1000
    near = int(((d_km > 0) & (d_km <= 25)).sum())
    assert near > 0
    inputs = build_inputs(InputSpec(bases=DEMO / "bases_geopko_v2.1.csv", events=DEMO / "events_ged_v23.1.csv",
                                    admin=DEMO / "admin1_naturalearth.geojson", as_of=date(2020, 10, 31)))
    assert any(w.startswith(f"{near} event(s) lie outside the admin polygons") for w in inputs.warnings)
    snapped = build_inputs(InputSpec(bases=DEMO / "bases_geopko_v2.1.csv", events=DEMO / "events_ged_v23.1.csv",
                                     admin=DEMO / "admin1_naturalearth.geojson", as_of=date(2020, 10, 31),
                                     snap_events_km=25))
    assert f"moved {near} event(s)" in " ".join(snapped.warnings)
    d_after = snapped.events.to_crs(metric).distance(admin.to_crs(metric).union_all()) / 1000
    assert int(((d_after > 0) & (d_after <= 25)).sum()) == 0


def test_an_implausible_population_upload_is_a_422_and_a_doubtful_one_is_flagged(api, tmp_path):
    path = _tif(tmp_path / "pop.tif", np.full((4, 4), 3e38))
    r = api.post("/layers", data={"kind": "population", "population_units": "density"},
                 files={"file": ("pop.tif", path.read_bytes())})
    assert r.status_code == 422 and "undeclared nodata" in r.json()["detail"], r.text
    assert str(tmp_path) not in r.json()["detail"]
    demo = DEMO / "population_worldpop2020_density.tif"
    r = api.post("/layers", data={"kind": "population", "population_units": "count"},
                 files={"file": ("density.tif", demo.read_bytes())})
    assert r.status_code == 201, r.text
    [w] = r.json()["attrs"]["warnings"]
    assert w.startswith("density.tif: read as counts") and "--population-units density" in w
