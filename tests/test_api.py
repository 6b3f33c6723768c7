"""The HTTP service in-process (TestClient, real worker processes): every endpoint, each
error path, each role. One app per module: layers uploaded once, one analysis at 5 km."""

import dataclasses
import io
import json
import logging
import re
import textwrap
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

import api.jobs
from api.app import create_app
from api.errors import NotFoundError
from api.settings import Settings
from api.storage import JobRecord, new_id
from api.testing import ADMIN_KEY, DEMO

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
INTERNAL = {"error": "InternalError", "detail": "an unexpected error occurred; the server log has the details"}
"""The body of every 500, as docs/service.md gives it."""


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, max_upload_mb=1,
                    max_unzipped_mb=2, max_zip_members=12, workers=1, _env_file=None)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def storage(client):
    return client.app.state.services.storage


@pytest.fixture(scope="module")
def keys(client):
    """Headers per role; the planner's key goes as a bearer token."""
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for role in ("viewer", "planner"):
        r = client.post("/keys", json={"name": f"test {role}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        out[role] = {"Authorization": f"Bearer {key}"} if role == "planner" else {"X-API-Key": key}
    return out


def upload(client, headers, kind, filename, content, **fields):
    return client.post("/layers", headers=headers, data={"kind": kind, **fields},
                       files={"file": (filename, content)})


def demo_bytes(name):
    return (DEMO / name).read_bytes()


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def shapefile_parts(tmp_path, gdf, name="roads") -> dict[str, bytes]:
    d = tmp_path / f"shp-{name}"
    d.mkdir()
    gdf = gdf[[c for c in gdf.columns if len(c) <= 10]]  # shapefile field names: 10 characters
    pyogrio.write_dataframe(gdf, d / f"{name}.shp", driver="ESRI Shapefile")
    return {p.name: p.read_bytes() for p in d.iterdir()}


@pytest.fixture(scope="module")
def layers(client, keys, tmp_path_factory):
    """The demo's layers, uploaded as the admin in every accepted format."""
    tmp = tmp_path_factory.mktemp("files")
    a = keys["admin"]
    ids = {}

    def ok(kind, filename, content, **fields):
        r = upload(client, a, kind, filename, content, **fields)
        assert r.status_code == 201, r.text
        ids[kind] = r.json()["id"]
        return r.json()

    ok("bases", "bases_geopko_v2.1.csv", demo_bytes("bases_geopko_v2.1.csv"), as_of="2020-10-31")
    ok("events", "events_ged_v23.1.csv", demo_bytes("events_ged_v23.1.csv"))
    admin = gpd.read_file(DEMO / "admin1_naturalearth.geojson")
    pyogrio.write_dataframe(admin, tmp / "admin.gpkg", layer="prefectures", driver="GPKG")
    ok("admin", "admin.gpkg", (tmp / "admin.gpkg").read_bytes())  # GeoPackage
    roads = gpd.read_file(DEMO / "roads_trans_african_highway.geojson")
    ok("roads", "roads.zip", zipped(shapefile_parts(tmp, roads)))  # zipped Shapefile
    ok("towns", "towns.geojson", _towns_geojson())  # GeoJSON
    ok("airports", "airports_ourairports.csv", demo_bytes("airports_ourairports.csv"))
    ok("population", "population.tif", demo_bytes("population_worldpop2020_density.tif"), population_units="density")
    return ids


def _towns_geojson() -> bytes:
    import pandas as pd

    df = pd.read_csv(DEMO / "towns_geonames.csv", dtype=str, keep_default_na=False)
    gdf = gpd.GeoDataFrame(df.drop(columns=["latitude", "longitude"]),
                           geometry=gpd.points_from_xy(df.longitude.astype(float), df.latitude.astype(float)), crs=4326)
    return gdf.to_json().encode()


def wait_done(client, headers, job_id, timeout=120):
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < timeout:
        st = client.get(f"/analyses/{job_id}", headers=headers).json()
        seen.append((st["status"], st["stage"], st["fraction"]))
        if st["status"] not in ("queued", "running"):
            return st, seen
        time.sleep(0.1)
    raise AssertionError(f"analysis {job_id} did not finish: {seen[-5:]}")


@pytest.fixture(scope="module")
def analysis(client, keys, layers):
    body = {"name": "test run", "layers": {k: layers[k] for k in
                                           ("bases", "events", "admin", "roads", "towns", "airports", "population")},
            "as_of": "2020-10-31", "params": {"resolution_m": 5000}}
    r = client.post("/analyses", json=body, headers=keys["planner"])
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["status_url"] == f"/analyses/{r.json()['id']}"
    st, seen = wait_done(client, keys["viewer"], r.json()["id"])
    assert st["status"] == "done", st
    return {"id": st["id"], "status": st, "seen": seen}


# ============================================================================ settings and CLI


def test_settings_refuse_placeholder_and_short_admin_keys(tmp_path):
    for bad in ("changethis", "secret", "aaaaaaaaaaaaaaaaaaaaaaaa", "short-but-real-9"):
        with pytest.raises(ValidationError, match="VACUUM_ADMIN_KEY is a placeholder"):
            Settings(workspace=tmp_path, admin_key=bad, _env_file=None)
    with pytest.raises(ValidationError, match="must start with postgresql://"):
        Settings(workspace=tmp_path, database_url="mysql://u:p@h/db", _env_file=None)
    with pytest.raises(ValidationError, match="placeholder password"):
        Settings(workspace=tmp_path, database_url="postgresql://u:changethis@h/db", _env_file=None)


def test_settings_come_from_vacuum_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VACUUM_WORKSPACE", str(tmp_path / "w"))
    monkeypatch.setenv("VACUUM_WORKERS", "3")
    monkeypatch.setenv("VACUUM_MAX_UPLOAD_MB", "12.5")
    monkeypatch.setenv("VACUUM_ANONYMOUS_ROLE", "none")
    s = Settings(_env_file=None)
    assert (s.workspace, s.workers, s.max_upload_bytes, s.anonymous_role, s.backend) == (
        tmp_path / "w", 3, int(12.5 * MB), None, "sqlite")
    monkeypatch.setenv("VACUUM_DATABASE_URL", "postgresql://vacuum:s3cret-pw@127.0.0.1:5432/vacuum")
    assert Settings(_env_file=None).backend == "postgis"


def test_serve_refuses_bad_settings_in_one_line(tmp_path, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("VACUUM_ADMIN_KEY", "changethis")
    assert main(["serve", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "VACUUM_ADMIN_KEY" in err[0] and "placeholder" in err[0]
    monkeypatch.delenv("VACUUM_ADMIN_KEY")
    assert main(["serve", "--workspace", str(tmp_path), "--host", "0.0.0.0", "--anonymous-role", "planner"]) == 2
    assert "only on a loopback address" in capsys.readouterr().err


def test_no_app_settings_or_job_kinds_at_import(tmp_path):
    """In a fresh interpreter (this one has imported everything): importing the service builds
    no app or settings and registers no job kind; create_app loads the kinds."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import sys
import fastapi
import api, api.app, api.jobs
from api.settings import Settings
found = [k for k, v in vars(api.app).items() if isinstance(v, (Settings, fastapi.FastAPI))]
assert found == [], found
assert api.jobs.JOB_KINDS == {{}}, api.jobs.JOB_KINDS
assert "api.analyses" not in sys.modules and "api.scenarios" not in sys.modules
api.create_app(Settings(workspace={str(tmp_path)!r}, workers=1, _env_file=None))
assert sorted(api.jobs.JOB_KINDS) == ["analysis", "monitor", "scenario"], sorted(api.jobs.JOB_KINDS)
print("ok")
"""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                       env={**__import__("os").environ, "PYTHONPATH": str(root)}, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr


# ============================================================================ access


def test_health_needs_no_key(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["storage"] == "sqlite"


@pytest.mark.parametrize("headers, match", [
    ({}, "no API key"),
    ({"X-API-Key": "vk_0000_nope"}, "unknown API key"),
    ({"X-API-Key": "garbage"}, "malformed API key"),
    ({"Authorization": "Bearer vk_abc_def"}, "unknown API key"),
])
def test_requests_without_a_valid_key_get_401(client, keys, headers, match):
    r = client.get("/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "AuthenticationError" and match in r.json()["detail"]
    assert "Bearer" in r.headers["www-authenticate"]


def test_each_role_is_who_it_says(client, keys):
    for role in ("viewer", "planner", "admin"):
        assert client.get("/me", headers=keys[role]).json()["role"] == role


@pytest.mark.parametrize("role, method, path, body, need", [
    ("viewer", "post", "/keys", {"name": "x", "role": "viewer"}, "admin"),
    ("planner", "post", "/keys", {"name": "x", "role": "admin"}, "admin"),
    ("viewer", "get", "/keys", None, "admin"),
    ("planner", "get", "/audit", None, "admin"),
    ("planner", "delete", "/keys/abc", None, "admin"),
    ("viewer", "post", "/analyses", {"layers": {"bases": "ly_x"}}, "planner"),
])
def test_roles_below_the_right_get_403(client, keys, role, method, path, body, need):
    r = getattr(client, method)(path, headers=keys[role], **({"json": body} if body else {}))
    assert r.status_code == 403 and r.json()["error"] == "PermissionDeniedError"
    # the keys fixture names its keys "test <role>"
    assert r.json()["detail"] == f"this needs the {need} role; your key 'test {role}' has {role}"


def test_keys_are_created_listed_and_revoked(client, keys, storage):
    r = client.post("/keys", json={"name": "temp", "role": "viewer"}, headers=keys["admin"])
    new = r.json()
    assert r.status_code == 201 and new["key"].startswith(f"vk_{new['id']}_")
    stored = storage.get_key(new["id"])
    assert new["key"].split("_", 2)[2] not in (stored.hash, stored.salt)  # only a salted hash is kept
    listed = client.get("/keys", headers=keys["admin"]).json()
    assert new["id"] in {k["id"] for k in listed} and all("key" not in k and "hash" not in k for k in listed)
    assert client.get("/me", headers={"X-API-Key": new["key"]}).status_code == 200
    r = client.delete(f"/keys/{new['id']}", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = client.get("/me", headers={"X-API-Key": new["key"]})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert client.delete("/keys/nope", headers=keys["admin"]).status_code == 404
    r = client.post("/keys", json={"name": "x", "role": "god"}, headers=keys["admin"])
    assert r.status_code == 422 and r.json()["error"] == "RequestValidationError" and "role" in r.json()["detail"]


ROLES_BELOW = {"none": (), "viewer": (None,), "planner": (None, "viewer"), "admin": (None, "viewer", "planner")}
"""Callers below each minimum role: no key at all, then each lower role."""

PATH_PARAMS = {"layer_id": "ly_nope", "analysis_id": "an_nope", "scenario_id": "sc_nope", "key_id": "nope",
               "monitor_id": "mo_nope", "chart": "overview.png",
               "filename": "summary.json", "phase": "1", "surface": "threat", "z": "0", "x": "0", "y": "0",
               "path": "leaflet/leaflet.css", "collectionId": "an_nope-zones", "featureId": "1", "mapCollectionId": "an_nope-risk",
               "tileMatrixSetId": "WebMercatorQuad", "plan_id": "pl_nope"}


def documented_roles() -> dict[tuple[str, str], str]:
    """``(method, path) -> minimum role`` from the endpoint table of docs/service.md."""
    text = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    section = text.split("\n## Endpoints\n", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| (none|viewer|planner|admin)\b", section, re.M)
    table = {(m, path): role for m, path, role in rows}
    assert len(table) == len(rows), "a route is listed twice"
    return table


def app_routes(app) -> set[tuple[str, str]]:
    """Every ``(method, path)`` the app answers (HEAD aside); a mount as ``<prefix>/{path}``."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount

    out = set()
    for rc in iter_route_contexts(app.routes):
        if isinstance(rc.original_route, Mount):
            out.add(("GET", rc.path + "/{path}"))
        else:
            out |= {(m, rc.path) for m in rc.methods if m != "HEAD"}
    return out


def test_every_route_is_in_the_role_table_of_the_docs(client):
    assert app_routes(client.app) == set(documented_roles())


@pytest.mark.parametrize("method, path", sorted(documented_roles()))
def test_every_route_refuses_the_roles_below_its_minimum(client, keys, method, path):
    role = documented_roles()[(method, path)]
    url = path.format(**{**PATH_PARAMS, **({"path": "swagger-ui/swagger-ui.css"} if path.startswith("/static/docs/")
                                           else {"path": "editor.js"} if path.startswith("/static/editor/")
                                           else {})})
    if role == "none":
        r = client.request(method, url)
        assert r.status_code == 200, r.text
        return
    for below in ROLES_BELOW[role]:
        r = client.request(method, url, headers=keys[below] if below else {})
        expected = (401, "AuthenticationError") if below is None else (403, "PermissionDeniedError")
        assert (r.status_code, r.json()["error"]) == expected, (below, r.text)
    # the minimum role itself gets past the check: it is answered exactly as the admin is
    r = client.request(method, url, headers=keys[role])
    top = client.request(method, url, headers=keys["admin"])
    assert r.status_code == top.status_code, (role, r.text, top.text)


def test_anonymous_role_when_configured(tmp_path):
    s = Settings(workspace=tmp_path, anonymous_role="viewer", workers=1, _env_file=None)
    with TestClient(create_app(s)) as c:
        assert c.get("/me").json() == {"key_id": "anonymous", "name": "anonymous", "role": "viewer"}
        assert c.get("/keys").status_code == 403
        assert c.get("/me", headers={"X-API-Key": "vk_1_2"}).status_code == 401  # a bad key is never anonymous


# ============================================================================ layers


def test_uploaded_layers_are_listed_with_what_the_loader_found(client, keys, layers):
    listed = {x["id"]: x for x in client.get("/layers", headers=keys["planner"]).json()}
    assert set(layers.values()) <= set(listed)
    b = listed[layers["bases"]]
    assert (b["kind"], b["format"], b["feature_count"], b["crs"], b["attrs"]["schema"]) == (
        "bases", "CSV", 20, "EPSG:4326", "geo_pko_v2.1")
    assert b["options"] == {"as_of": "2020-10-31"} and b["bbox"][0] > 14
    assert listed[layers["roads"]]["format"] == "zipped Shapefile" and listed[layers["admin"]]["format"] == "GeoPackage"
    assert listed[layers["population"]]["storage"] == "raster"
    only = client.get("/layers", params={"kind": "events"}, headers=keys["viewer"]).json()
    assert [x["id"] for x in only] == [layers["events"]]
    r = client.get("/layers", params={"kind": "bogus"}, headers=keys["viewer"])
    assert r.status_code == 422 and "not a layer kind" in r.json()["detail"]
    kinds = {k["kind"]: k for k in client.get("/layers/kinds", headers=keys["viewer"]).json()}
    assert "mission" in kinds["bases"]["options"] and kinds["population"]["formats"] == [".tif", ".tiff"]


def test_viewers_never_see_base_positions_in_layers(client, keys, layers):
    v = keys["viewer"]
    meta = client.get(f"/layers/{layers['bases']}", headers=v).json()
    assert meta["bbox"] is None and meta["attrs"] == {}
    r = client.get(f"/layers/{layers['bases']}/data", headers=v)
    assert r.status_code == 403 and "planner" in r.json()["detail"]
    r = client.get(f"/layers/{layers['bases']}/data", headers=keys["planner"])
    assert r.status_code == 200 and len(r.json()["features"]) == 20
    assert client.get(f"/layers/{layers['bases']}", headers=keys["planner"]).json()["bbox"] is not None


def test_national_forces_are_force_positions_too(client, keys):
    csv = b"base_id,name,strength,latitude,longitude\nFACA-1,Bouar,400,5.93,15.6\n"
    r = upload(client, keys["admin"], "national", "faca.csv", csv)
    assert r.status_code == 201, r.text
    lid = r.json()["id"]
    assert client.get(f"/layers/{lid}/data", headers=keys["viewer"]).status_code == 403
    assert client.get(f"/layers/{lid}", headers=keys["viewer"]).json()["bbox"] is None
    r = client.get(f"/layers/{lid}/data", headers=keys["planner"])
    assert r.status_code == 200 and r.json()["features"][0]["properties"]["base_id"] == "FACA-1"


def test_layer_data_is_geojson_with_nulls(client, keys, layers):
    r = client.get(f"/layers/{layers['airports']}/data", headers=keys["viewer"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    assert "NaN" not in r.text
    feats = r.json()["features"]
    assert feats and all(f["properties"]["population"] is None for f in feats)  # OurAirports: no population
    lon, lat = feats[0]["geometry"]["coordinates"]
    assert 14 < lon < 28 and 2 < lat < 11
    r = client.get(f"/layers/{layers['population']}/data", headers=keys["viewer"])
    assert r.status_code == 200 and r.content[:4] in (b"II*\x00", b"MM\x00*")
    assert client.get("/layers/ly_nope/data", headers=keys["viewer"]).status_code == 404
    assert client.get("/layers/ly_nope", headers=keys["viewer"]).json()["error"] == "NotFoundError"


def test_only_admins_upload(client, keys):
    for role in ("viewer", "planner"):
        r = upload(client, keys[role], "events", "e.csv", demo_bytes("events_ged_v23.1.csv"))
        assert r.status_code == 403


def _bad_shapefile_zips(tmp_path):
    roads = gpd.read_file(DEMO / "roads_trans_african_highway.geojson")
    parts = shapefile_parts(tmp_path, roads)
    traversal = dict(parts)
    traversal["../../evil.shp"] = traversal.pop("roads.shp")
    no_dbf = {k: v for k, v in parts.items() if not k.endswith(".dbf")}
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("roads.shp")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    many = {f"f{i}.txt": b"x" for i in range(13)}
    return {
        "traversal": (zipped(traversal), 422, "path traversal"),
        "absolute": (zipped({"/tmp/roads.shp": b"x"}), 422, "absolute path"),
        "symlink": (link.getvalue(), 422, "symbolic link"),
        "no .shp": (zipped({"readme.txt": b"hello"}), 422, "holds no .shp"),
        "no .dbf": (zipped(no_dbf), 422, "no .dbf"),
        "too many members": (zipped(many), 422, "13 entries, more than the 12 allowed"),
        "zip bomb": (zipped({"roads.shp": bytes(3 * MB)}), 413, "unzips to 3.0 MB"),
        "two shapefiles": (zipped({**parts, **{k.replace("roads", "other"): v for k, v in parts.items()}}), 422,
                           "2 shapefiles"),
    }


@pytest.mark.parametrize("case", ["traversal", "absolute", "symlink", "no .shp", "no .dbf", "too many members",
                                  "zip bomb", "two shapefiles"])
def test_hostile_zips_are_refused(client, keys, layers, storage, tmp_path, case):
    content, status, match = _bad_shapefile_zips(tmp_path)[case]
    before = [x.id for x in storage.list_layers()]
    r = upload(client, keys["admin"], "roads", "roads.zip", content)
    assert r.status_code == status, r.text
    assert match in r.json()["detail"] and "field 'file'" in r.json()["detail"]
    assert [x.id for x in storage.list_layers()] == before
    assert not any((storage.workspace / "tmp").iterdir())  # no upload left half-done
    assert not (storage.workspace.parent / "evil.shp").exists()


def test_a_shapefile_without_prj_needs_the_crs_option(client, keys, tmp_path):
    roads = gpd.read_file(DEMO / "roads_trans_african_highway.geojson")
    parts = {k: v for k, v in shapefile_parts(tmp_path, roads).items() if not k.endswith(".prj")}
    r = upload(client, keys["admin"], "roads", "roads.zip", zipped(parts))
    assert r.status_code == 422 and r.json()["error"] == "MissingCRSError"
    assert "roads.zip!roads.shp" in r.json()["detail"] and "/tmp" not in r.json()["detail"]
    r = upload(client, keys["admin"], "roads", "roads.zip", zipped(parts), crs="EPSG:4326")
    assert r.status_code == 201 and r.json()["crs"] == "EPSG:4326"


@pytest.mark.parametrize("kind, filename, content, fields, error, match", [
    ("bases", "bases.exe", b"MZ\x90\x00", {}, "UploadRejectedError", "extension '.exe'"),
    ("population", "pop.csv", b"a,b\n", {"population_units": "count"}, "UploadRejectedError", ".tif (GeoTIFF)"),
    ("events", "events.geojson", b"\x89PNG\r\n\x1a\n", {}, "UploadRejectedError", "is not a GeoJSON file"),
    ("admin", "admin.gpkg", b"not a database at all", {}, "UploadRejectedError", "is not a GeoPackage file"),
    ("roads", "roads.zip", b"\x00\x01garbage", {}, "UploadRejectedError", "is not a zipped Shapefile file"),
    ("events", "events.csv", b"a,b\x00c\n", {}, "UploadRejectedError", "NUL bytes"),
    ("events", "events.csv", "date,lat\n\xe9".encode("latin-1"), {}, "UploadRejectedError", "not UTF-8"),
    ("population", "pop.tif", b"GIF89a....", {"population_units": "count"}, "UploadRejectedError", "not a GeoTIFF"),
    ("events", "events.csv", b"", {}, "UploadRejectedError", "is empty"),
    ("bases", "bases.csv", b"site,lat,lon,troops\nA,5,20,100\n", {}, "MissingColumnError", "base_id"),
    ("bases", "bases.csv", b"base_id,strength,latitude,longitude\nA,100,95,20\n", {}, "CoordinateError",
     "out of range"),
    ("bases", "bases.csv", b"base_id,strength,latitude,longitude\n", {}, "EmptyLayerError", "no data rows"),
    ("events", "events.csv", b"event_id,date,fatalities,latitude,longitude\n1,yesterday,0,5,20\n", {},
     "DateParseError", "date"),
    ("admin", "admin.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
     b'{"name": "a", "admin_id": "1"}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],'
     b'[0,0]]]}}]}', {"level": "1"}, "InvalidGeometryError", "repair"),
    ("bases", "bases.csv", b"x", {"mapping": "{not json"}, "RequestError", "field 'mapping' is not JSON"),
    ("events", "e.csv", b"x", {"mission": "MINUSCA"}, "RequestError", "do not apply to events"),
    ("events", "e.csv", b"x", {"colour": "red"}, "RequestError", "field 'colour' is not an upload option"),
    ("bogus", "e.csv", b"x", {}, "RequestError", "field 'kind'"),
    ("population", "pop.tif", b"II*\x00", {}, "RequestError", "population_units' is required"),
    ("bases", "bases.csv", b"x", {"as_of": "last week"}, "RequestError", "field 'as_of'"),
    ("events", "e.geojson", b'{"type": "FeatureCollection", "features": []}', {}, "EmptyLayerError", "no features"),
])
def test_bad_uploads_get_422_naming_the_field_and_the_fix(client, keys, layers, storage, kind, filename, content,
                                                          fields, error, match):
    before = [x.id for x in storage.list_layers()]
    r = upload(client, keys["admin"], kind, filename, content, **fields)
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == error, body
    assert match in body["detail"], body["detail"]
    assert str(storage.workspace) not in body["detail"]  # our paths never leak; the client's name is used
    assert [x.id for x in storage.list_layers()] == before  # nothing stored is lost or added
    assert client.get(f"/layers/{layers['events']}/data", headers=keys["viewer"]).status_code == 200


def test_missing_parts_of_the_form(client, keys):
    r = client.post("/layers", headers=keys["admin"], data={"kind": "bases"})  # a urlencoded form, no file
    assert r.status_code == 422 and "send the layer as multipart/form-data" in r.json()["detail"]
    r = client.post("/layers", headers=keys["admin"], data={"kind": "bases"}, files={"name": (None, b"no file")})
    assert r.status_code == 422 and "field 'file' is required" in r.json()["detail"]
    r = client.post("/layers", headers=keys["admin"], files={"file": ("b.csv", b"a")})
    assert r.status_code == 422 and "field 'kind' is required" in r.json()["detail"]
    r = client.post("/layers", headers=keys["admin"], json={"kind": "bases"})
    assert r.status_code == 422 and "multipart/form-data" in r.json()["detail"]
    r = client.post("/layers", headers=keys["admin"], data={"kind": "bases"}, files={"other": ("b.csv", b"a")})
    assert r.status_code == 422 and "send the layer file as field 'file'" in r.json()["detail"]


def test_too_large_uploads_get_413(client, keys, storage):
    before = [x.id for x in storage.list_layers()]
    big = b"event_id,date,latitude,longitude\n" + b"1,2020-01-01,5,20\n" * (2 * MB // 18)
    r = upload(client, keys["admin"], "events", "events.csv", big)  # Content-Length says it all
    assert r.status_code == 413 and r.json()["error"] == "PayloadTooLargeError"
    assert "VACUUM_MAX_UPLOAD_MB" in r.json()["detail"]

    boundary = "vacuumtestboundary"

    def chunked():  # no Content-Length: counted while streaming
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nevents\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e.csv\"\r\n"
               "Content-Type: text/csv\r\n\r\n").encode()
        for _ in range(3):
            yield bytes(MB // 2)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/layers", headers={**keys["admin"], "Content-Type": f"multipart/form-data; boundary={boundary}"},
                    content=chunked())
    assert r.status_code == 413 and "over the limit of 1 MB" in r.json()["detail"]
    assert [x.id for x in storage.list_layers()] == before
    assert not any((storage.workspace / "tmp").iterdir())


def test_uploads_are_audited_accepted_or_not(client, keys, layers):
    rows = client.get("/audit", params={"action": "layer.upload", "limit": 1000}, headers=keys["admin"]).json()
    ok = {r["target"] for r in rows if r["outcome"] == "ok"}
    assert set(layers.values()) <= ok
    assert all(r["key_id"] == "bootstrap" and r["role"] == "admin" for r in rows if r["target"] in ok)
    assert any(r["outcome"].startswith("rejected:") for r in rows)


# ============================================================================ analyses


def test_analysis_runs_in_a_worker_with_progress(analysis, keys, client):
    st = analysis["status"]
    assert st["fraction"] == 1.0 and st["stage"] == "store" and st["error"] is None
    assert st["submitted_by"] == "test planner" and st["result"]["bases"] == 20 and st["result"]["zones"] >= 1
    assert st["started_at"] <= st["finished_at"]
    summary = client.get(f"/analyses/{st['id']}/summary", headers=keys["viewer"]).json()
    assert st["result"]["warnings"] == summary["warnings"]  # bad data the run let through, in the job's result
    fractions = [f for s, _, f in analysis["seen"] if s == "running"]
    assert fractions == sorted(fractions)  # progress only moves forward
    assert st["links"]["tilejson"] == f"/analyses/{st['id']}/tilejson/gap.json"
    assert st["links"]["public_tilejson"] == f"/analyses/{st['id']}/tilejson/gap_public.json"
    listed = client.get("/analyses", params={"status": "done"}, headers=keys["viewer"]).json()
    assert st["id"] in [j["id"] for j in listed]


@pytest.mark.parametrize("body, error, match", [
    ({"layers": {"bases": "ly_nope"}, "bbox": [14, 2, 28, 11]}, "RequestError", "layers.bases: no layer 'ly_nope'"),
    ({"layers": {"bases": "EVENTS"}, "bbox": [14, 2, 28, 11]}, "RequestError", "is a events layer, not bases"),
    ({"layers": {"bases": "BASES"}}, "RequestError", "no area of interest"),
    ({"layers": {"bases": "BASES"}, "bbox": [14, 2, 28, 11], "params": {"max_reach_h": -1}}, "ConfigError",
     "params: model parameter max_reach_h must be a positive number"),
    ({"layers": {"bases": "BASES"}, "bbox": [14, 2, 28, 11], "params": {"max_reach": 3}}, "ConfigError",
     "unknown model parameter(s) ['max_reach']"),
    ({"layers": {"bases": "BASES"}, "bbox": [14, 2, 28, 11], "crs": "EPSG:4326"}, "GridError", "must be projected"),
    ({"layers": {"bases": "BASES"}, "bbox": [14, 2, 28, 11], "crs": "EPSG:999999"}, "GridError", "bad CRS"),
    ({"layers": {"bases": "BASES"}, "bbox": [28, 2, 14, 11]}, "RequestValidationError", "bbox"),
    ({"layers": {"bases": "BASES"}, "bbox": [14, 2, 28, 11], "as_of": "someday"}, "RequestValidationError", "as_of"),
    ({"layers": {"bases": "BASES", "rivers": "x"}, "bbox": [14, 2, 28, 11]}, "RequestValidationError", "rivers"),
])
def test_bad_analysis_requests_get_422_before_any_job(client, keys, layers, storage, body, error, match):
    body = json.loads(json.dumps(body).replace('"BASES"', f'"{layers["bases"]}"')
                      .replace('"EVENTS"', f'"{layers["events"]}"'))
    n = len(storage.list_jobs(limit=1000))
    r = client.post("/analyses", json=body, headers=keys["planner"])
    assert r.status_code == 422, r.text
    assert r.json()["error"] == error and match in r.json()["detail"], r.json()
    assert len(storage.list_jobs(limit=1000)) == n


def test_products_wait_for_the_job(client, keys, storage):
    running = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, status="running",
                                           stage="travel_time", instance_id=client.app.state.services.jobs.instance_id))
    failed = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, status="failed",
                                          error="bases layer is empty"))
    for job, match in ((running, "is running (stage travel_time"), (failed, "failed (bases layer is empty)")):
        for path in ("summary", "zones", "admin", "exports"):
            r = client.get(f"/analyses/{job.id}/{path}", headers=keys["planner"])
            assert r.status_code == 409 and r.json()["error"] == "JobNotReadyError" and match in r.json()["detail"]
    storage.finish_job(running.id, "interrupted", error="test")
    other = storage.create_job(JobRecord(id=new_id("sc"), kind="scenario", request={}))
    r = client.get(f"/analyses/{other.id}", headers=keys["planner"])
    assert r.status_code == 404 and "it is a scenario" in r.json()["detail"]
    storage.finish_job(other.id, "interrupted", error="test")
    for path in ("", "/summary", "/zones", "/exports/zones.gpkg"):
        r = client.get(f"/analyses/an_nope{path}", headers=keys["planner"])
        assert r.status_code == 404 and r.json()["error"] == "NotFoundError"


def test_summary_zones_and_admin_table(client, keys, analysis):
    aid = analysis["id"]
    v, p = keys["viewer"], keys["planner"]
    s_v = client.get(f"/analyses/{aid}/summary", headers=v).json()
    s_p = client.get(f"/analyses/{aid}/summary", headers=p).json()
    assert s_v["as_of"] == "2020-10-31" and s_v["layers"]["bases"] == 20
    assert isinstance(s_v["layers"]["bases_outside_grid"], int) and isinstance(s_p["layers"]["bases_outside_grid"], list)
    z_v = client.get(f"/analyses/{aid}/zones", headers=v)
    assert z_v.headers["content-type"] == "application/geo+json" and "NaN" not in z_v.text
    props_v = z_v.json()["features"][0]["properties"]
    props_p = client.get(f"/analyses/{aid}/zones", headers=p).json()["features"][0]["properties"]
    # viewers: the public blocks a zone touches (geo.public), planners: the zones themselves
    assert set(props_v) == {"block_row", "block_col", "zone_area_km2", "zone_population", "block_gap", "gap_class"}
    assert "nearest_base_id" in props_p
    rows = client.get(f"/analyses/{aid}/admin", headers=v).json()
    assert len(rows) == 17 and {"admin_id", "mean_gap", "pop_critical"} <= set(rows[0])
    csv = client.get(f"/analyses/{aid}/admin", params={"format": "csv"}, headers=v)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("admin_id,")
    gj = client.get(f"/analyses/{aid}/admin", params={"format": "geojson"}, headers=v)
    assert gj.headers["content-type"] == "application/geo+json" and len(gj.json()["features"]) == 17
    assert client.get(f"/analyses/{aid}/admin", params={"format": "xls"}, headers=v).status_code == 422
    rows_p = client.get(f"/analyses/{aid}/admin", headers=p).json()
    assert [r["admin_id"] for r in rows_p] == [r["admin_id"] for r in rows]
    assert [r["max_gap"] for r in rows_p] != [r["max_gap"] for r in rows]  # viewers': from the block gap


def test_public_export_is_the_viewer_products(client, keys, analysis):
    aid = analysis["id"]
    offered = client.get(f"/analyses/{aid}/public", headers=keys["viewer"]).json()
    files = {e["file"] for e in offered}
    assert files == {"zones.geojson", "zones.gpkg", "admin_summary.geojson", "admin_summary.gpkg", "admin_summary.csv",
                     "gap_public.tif", "risk.tif", "threat.tif", "exposure.tif", "population.tif", "summary.json"}
    for e in offered:
        r = client.get(e["url"], headers=keys["viewer"])
        assert r.status_code == 200 and r.headers["content-type"].startswith(e["media_type"].split(";")[0]), e
    s = client.get(f"/analyses/{aid}/public/summary.json", headers=keys["viewer"]).json()
    assert isinstance(s["layers"]["bases_outside_grid"], int)
    for f in ("gap.tif", "coverage.tif", "bases.geojson", "vacuum.gpkg", "../gap.tif"):
        assert client.get(f"/analyses/{aid}/public/{f}", headers=keys["viewer"]).status_code == 404, f


def test_exports_for_planners_only_and_audited(client, keys, analysis, tmp_path):
    aid = analysis["id"]
    r = client.get(f"/analyses/{aid}/exports", headers=keys["viewer"])
    assert r.status_code == 403
    for f in ("bases.geojson", "zones.gpkg", "gap.tif"):
        assert client.get(f"/analyses/{aid}/exports/{f}", headers=keys["viewer"]).status_code == 403
    offered = {e["file"] for e in client.get(f"/analyses/{aid}/exports", headers=keys["planner"]).json()}
    for product in ("zones", "admin_summary", "bases", "events", "sites"):
        assert {f"{product}.geojson", f"{product}.gpkg", f"{product}.csv"} <= offered
    assert {"gap.tif", "coverage.tif", "travel_time.tif", "vacuum.gpkg", "summary.json"} <= offered
    p = keys["planner"]
    r = client.get(f"/analyses/{aid}/exports/zones.gpkg", headers=p)
    assert r.status_code == 200 and r.content.startswith(b"SQLite format 3\x00")
    (tmp_path / "z.gpkg").write_bytes(r.content)
    z = gpd.read_file(tmp_path / "z.gpkg")
    assert z.crs.to_epsg() == 4326 and len(z) >= 1 and "nearest_base_id" in z
    r = client.get(f"/analyses/{aid}/exports/bases.csv", headers=p)
    assert r.text.splitlines()[0].endswith("longitude,latitude") and len(r.text.splitlines()) == 21
    r = client.get(f"/analyses/{aid}/exports/zones.csv", headers=p)
    assert "wkt" in r.text.splitlines()[0] and "POLYGON" in r.text
    r = client.get(f"/analyses/{aid}/exports/gap.tif", headers=p)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/tiff")
    (tmp_path / "gap.tif").write_bytes(r.content)
    import rasterio

    with rasterio.open(tmp_path / "gap.tif") as ds:
        assert ds.crs is not None and ds.overviews(1) is not None and ds.profile["tiled"]
    assert client.get(f"/analyses/{aid}/exports/vacuum.gpkg", headers=p).status_code == 200
    assert client.get(f"/analyses/{aid}/exports/summary.json", headers=p).json()["as_of"] == "2020-10-31"
    r = client.get(f"/analyses/{aid}/exports/../../vacuum.sqlite", headers=p)
    assert r.status_code == 404
    r = client.get(f"/analyses/{aid}/exports/model.npz", headers=p)
    assert r.status_code == 404 and "offered:" in r.json()["detail"]
    rows = client.get("/audit", params={"action": "export", "limit": 1000}, headers=keys["admin"]).json()
    targets = {(x["target"], x["outcome"], x["role"]) for x in rows}
    assert (f"{aid}/zones.gpkg", "ok", "planner") in targets
    assert (f"{aid}/model.npz", "rejected: NotFoundError", "planner") in targets


def test_submits_are_audited_with_who_asked(client, keys, analysis):
    rows = client.get("/audit", params={"action": "analysis.submit"}, headers=keys["admin"]).json()
    mine = [x for x in rows if x["target"] == analysis["id"]]
    assert len(mine) == 1 and mine[0]["key_name"] == "test planner" and mine[0]["role"] == "planner"
    assert mine[0]["detail"]["params"] == {"resolution_m": 5000}
    r = client.get("/audit", params={"since": "yesterday"}, headers=keys["admin"])
    assert r.status_code == 422 and "ISO 8601" in r.json()["detail"]
    assert client.get("/audit", params={"since": "2000-01-01T00:00:00+00:00", "limit": 2},
                      headers=keys["admin"]).json().__len__() == 2


# ============================================================================ tiles and the map


def _tile_inside(tilejson, z=6):
    import morecantile

    w, s, e, n = tilejson["bounds"]
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, z)
    return t.z, t.x, t.y


def test_tiles_for_viewers_except_surfaces_that_pinpoint_bases(client, keys, analysis):
    aid = analysis["id"]
    tj = client.get(f"/analyses/{aid}/tilejson/gap_public.json", headers=keys["viewer"])
    assert tj.status_code == 200
    assert tj.json()["tiles"][0].endswith(f"/analyses/{aid}/tiles/gap_public/{{z}}/{{x}}/{{y}}.png")
    z, x, y = _tile_inside(tj.json())
    r = client.get(f"/analyses/{aid}/tiles/gap_public/{z}/{x}/{y}.png", headers=keys["viewer"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    for surface in ("gap", "coverage", "travel_time"):  # the full gap gives coverage back (issue 12)
        r = client.get(f"/analyses/{aid}/tiles/{surface}/{z}/{x}/{y}.png", headers=keys["viewer"])
        assert r.status_code == 403 and "planner" in r.json()["detail"]
        assert client.get(f"/analyses/{aid}/tilejson/{surface}.json", headers=keys["viewer"]).status_code == 403
        assert client.get(f"/analyses/{aid}/tiles/{surface}/{z}/{x}/{y}.png", headers=keys["planner"]).status_code == 200
    assert client.get(f"/analyses/{aid}/tiles/gap_public/{z}/{x}/{y}.png").status_code == 401
    r = client.get(f"/analyses/{aid}/tiles/gap_public/40/0/0.png", headers=keys["viewer"])
    assert r.status_code == 422 and r.json()["error"] == "TileCoordinateError"
    r = client.get(f"/analyses/{aid}/tiles/gap_public/8/0/0.png", headers=keys["viewer"])
    assert r.status_code == 404 and r.json()["error"] == "TileOutsideBoundsError"
    r = client.get(f"/analyses/an_nope/tiles/gap_public/{z}/{x}/{y}.png", headers=keys["viewer"])
    assert r.status_code == 404 and "no analysis 'an_nope'" in r.json()["detail"]
    for role, status in (("viewer", 403), ("planner", 404)):  # scenario tiles: planner, whatever the id
        r = client.get(f"/scenarios/{aid}/phases/1/tiles/gap/{z}/{x}/{y}.png", headers=keys[role])
        assert r.status_code == status  # and for a planner an analysis is not a scenario
        assert client.get(f"/scenarios/{aid}/phases/1/tilejson/gap.json", headers=keys[role]).status_code == status
    assert client.get("/legend/gap", headers=keys["viewer"]).status_code == 200


def test_map_page_hides_bases_from_viewers(client, keys, analysis):
    aid = analysis["id"]
    page_v = client.get("/", params={"analysis": aid}, headers=keys["viewer"])
    page_p = client.get("/", params={"analysis": aid}, headers=keys["planner"])
    assert page_v.status_code == page_p.status_code == 200
    assert page_v.headers["content-type"].startswith("text/html")
    assert f"/analyses/{aid}/tiles/" in page_v.text
    assert "MINUSCA:" not in page_v.text  # base ids
    # the bases file's first row: mission MINUSCA, location Alindao -> id "MINUSCA:" + slug
    assert "MINUSCA:alindao" in page_p.text and "PLACEHOLDER" not in page_p.text
    assert client.get("/", params={"analysis": "an_nope"}, headers=keys["viewer"]).status_code == 404


# ============================================================================ errors and docs


@pytest.mark.parametrize("case, status, error", [
    ("no such route", 404, "NotFound"),
    ("wrong method", 405, "MethodNotAllowed"),
    ("body not JSON", 422, "RequestValidationError"),
    ("query out of range", 422, "RequestValidationError"),
])
def test_one_error_shape_everywhere(client, keys, case, status, error):
    r = {"no such route": lambda: client.get("/no/such/route"),
         "wrong method": lambda: client.put("/health"),
         "body not JSON": lambda: client.post("/analyses", content=b"{not json",
                                              headers={**keys["planner"], "Content-Type": "application/json"}),
         "query out of range": lambda: client.get("/analyses", params={"limit": 0}, headers=keys["viewer"])}[case]()
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "detail"} and r.json()["error"] == error


def _bug_app(tmp_path):
    """The service with one more route that fails the way a bug does (no lifespan: no workers)."""
    from geo.errors import VacuumError
    from geo.scenario import AnalysisFolderError

    app = create_app(Settings(workspace=tmp_path, workers=1, _env_file=None))
    bugs = {"KeyError": KeyError("ly_secret_key"), "LookupError": LookupError("row 7 of /srv/secret.csv"),
            "VacuumError": VacuumError("internal state at /srv/secret"),
            "AnalysisFolderError": AnalysisFolderError("/srv/secret/analyses/an_1 lacks model.npz"),
            "NotFoundError": NotFoundError("no layer 'ly_x'; GET /layers lists the layers")}

    @app.get("/_bug/{name}")
    def bug(name: str):
        raise bugs[name]

    return app


@pytest.mark.parametrize("name", ["KeyError", "LookupError", "VacuumError", "AnalysisFolderError"])
def test_an_error_no_table_entry_claims_is_a_logged_500_with_a_generic_body(tmp_path, caplog, name):
    caplog.set_level(logging.ERROR, logger="vacuum.api")
    r = TestClient(_bug_app(tmp_path)).get(f"/_bug/{name}")
    assert r.status_code == 500 and r.json() == INTERNAL
    assert "secret" not in r.text
    (rec,) = [x for x in caplog.records if x.name == "vacuum.api"]
    assert rec.levelno == logging.ERROR and rec.getMessage() == f"unhandled error on GET /_bug/{name}"
    assert rec.exc_info[0].__name__ == name and "secret" in str(rec.exc_info[1])  # the traceback is in the log


def test_a_real_not_found_is_a_404_naming_it(tmp_path, client, keys, caplog):
    caplog.set_level(logging.ERROR, logger="vacuum.api")
    r = TestClient(_bug_app(tmp_path)).get("/_bug/NotFoundError")
    assert (r.status_code, r.json()) == (404, {"error": "NotFoundError",
                                               "detail": "no layer 'ly_x'; GET /layers lists the layers"})
    r = client.get("/layers/ly_nope", headers=keys["viewer"])  # the storage's own
    assert (r.status_code, r.json()["error"], r.json()["detail"]) == (
        404, "NotFoundError", "no layer 'ly_nope'; GET /layers lists the layers")
    assert [x for x in caplog.records if x.name == "vacuum.api"] == []  # not a bug: nothing logged


# ============================================================================ plugins fail loudly


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules made by the test; JOB_KINDS restored after it."""
    d = tmp_path / "plugins"
    d.mkdir()
    monkeypatch.syspath_prepend(d)
    monkeypatch.setattr(api.jobs, "JOB_KINDS", dict(api.jobs.JOB_KINDS))
    return d


@pytest.mark.parametrize("module, source, error, match", [
    ("vacuum_test_no_such_kind", None, ModuleNotFoundError, "No module named 'vacuum_test_no_such_kind'"),
    ("vacuum_test_broken_kind", "import vacuum_test_missing_dependency\n", ModuleNotFoundError,
     "No module named 'vacuum_test_missing_dependency'"),
    ("vacuum_test_raising_kind", "raise RuntimeError('kind module failed at import')\n", RuntimeError,
     "kind module failed at import"),
    ("vacuum_test_empty_kind", "X = 1\n", api.jobs.JobKindError,
     "vacuum_test_empty_kind is listed in api.jobs.JOB_KIND_MODULES but registered no job kind"),
    ("vacuum_test_bad_router_kind", textwrap.dedent("""
        from api.jobs import JobKind, register_job_kind

        def run(ctx, request):
            return {}

        def router():
            raise RuntimeError("the kind's router failed")

        register_job_kind(JobKind(name="bad_router", id_prefix="br", run=run, router=router))
        """), RuntimeError, "the kind's router failed"),
])
def test_a_job_kind_that_is_missing_fails_to_import_or_raises_stops_the_app(tmp_path, monkeypatch, plugin_dir,
                                                                            module, source, error, match):
    if source is not None:
        (plugin_dir / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(api.jobs, "JOB_KIND_MODULES", ("api.analyses", "api.scenarios", module))
    with pytest.raises(error, match=re.escape(match)):
        create_app(Settings(workspace=tmp_path / "ws", workers=1, _env_file=None))


def test_a_job_kind_that_raises_on_a_request_is_a_logged_500(client, keys, analysis, monkeypatch, caplog):
    def resolve_surface(storage, job, phase, surface):
        raise KeyError("surface table of the kind")

    kind = api.jobs.JOB_KINDS["analysis"]
    monkeypatch.setitem(api.jobs.JOB_KINDS, "analysis", dataclasses.replace(kind, resolve_surface=resolve_surface))
    caplog.set_level(logging.ERROR, logger="vacuum.api")
    r = client.get(f"/analyses/{analysis['id']}/tilejson/threat.json", headers=keys["viewer"])
    assert r.status_code == 500 and r.json() == INTERNAL
    (rec,) = [x for x in caplog.records if x.name == "vacuum.api"]
    assert rec.exc_info[0] is KeyError


def test_a_map_builder_that_cannot_be_imported_stops_the_app(tmp_path, monkeypatch):
    import maps

    monkeypatch.delattr(maps, "operations_map")
    with pytest.raises(ImportError, match="cannot import name 'operations_map'"):
        create_app(Settings(workspace=tmp_path, workers=1, _env_file=None))


def test_a_map_builder_that_raises_is_a_logged_500_never_a_placeholder(client, keys, analysis, storage,
                                                                       monkeypatch, caplog):
    import maps

    def operations_map(*args, **kwargs):
        raise RuntimeError("operations_map failed on this analysis")

    monkeypatch.setattr(maps, "operations_map", operations_map)
    for page in (storage.workspace / "cache" / "pages").glob(f"{analysis['id']}-*.html"):
        page.unlink()  # derived files, safe to delete: the page is built again
    caplog.set_level(logging.ERROR, logger="vacuum.api")
    for role in ("viewer", "planner"):
        r = client.get("/", params={"analysis": analysis["id"]}, headers=keys[role])
        assert r.status_code == 500 and r.json() == INTERNAL, r.text
    recs = [x for x in caplog.records if x.name == "vacuum.api"]
    assert [(x.exc_info[0], str(x.exc_info[1])) for x in recs] == [
        (RuntimeError, "operations_map failed on this analysis")] * 2
    assert not list((storage.workspace / "cache" / "pages").glob(f"{analysis['id']}-*.html"))  # nothing cached


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = schema["components"]["schemas"][name]
    return node


def _has_example(schema, content):
    for media in content.values():
        if "example" in media or "examples" in media:
            return True
        s = _resolve(schema, media.get("schema", {}))
        if s.get("type") == "array":
            s = _resolve(schema, s.get("items", {}))
        if "examples" in s or "example" in s:
            return True
    return False


def test_openapi_has_examples_for_every_endpoint_and_one_error_shape(client):
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            ok = [c for s, c in op["responses"].items() if s.startswith("2")]
            assert ok and any(_has_example(schema, c.get("content", {})) for c in ok), f"{method} {path}"
            if "requestBody" in op:
                assert _has_example(schema, op["requestBody"]["content"]), f"{method} {path} body"
            for status, resp in op["responses"].items():
                if status[0] in "45":
                    media = resp["content"]["application/json"]
                    assert _resolve(schema, media["schema"]).get("required") == ["error", "detail"], f"{path} {status}"
                    assert set(media["example"]) == {"error", "detail"}
    assert client.get("/docs").status_code == 200


def test_progress_fraction_is_monotonic_over_the_stages():
    from api.analyses import ANALYSIS_STAGES
    from api.jobs import stage_fraction

    fr = [stage_fraction(ANALYSIS_STAGES, s, f) for s, _ in ANALYSIS_STAGES for f in (0.0, 0.5, 1.0)]
    assert fr == sorted(fr) and fr[0] == 0.0 and fr[-1] == 1.0
    assert stage_fraction(ANALYSIS_STAGES, "a stage of tomorrow", 0.5) is None
    assert np.isclose(stage_fraction(ANALYSIS_STAGES, "travel_time", 2.0), stage_fraction(ANALYSIS_STAGES, "coverage", 0))


def test_a_job_failing_in_its_worker_says_why(client, keys, layers):
    jobs = client.app.state.services.jobs  # past the checks: as if the layer vanished after submit
    job = jobs.submit("analysis", {"layers": {"bases": "ly_gone"}, "bbox": [14, 2, 28, 11], "params": {}})
    st, _ = wait_done(client, keys["viewer"], job.id)
    assert st["status"] == "failed" and "no layer 'ly_gone'" in st["error"]
    r = client.get(f"/analyses/{job.id}/summary", headers=keys["viewer"])
    assert r.status_code == 409 and "failed (no layer 'ly_gone'" in r.json()["detail"]


def test_demo_mode_loads_the_demo_once_and_maps_it(tmp_path):
    s = Settings(workspace=tmp_path, demo=True, demo_resolution_m=5000, anonymous_role="viewer", workers=1,
                 _env_file=None)
    with TestClient(create_app(s)) as c:
        layers = c.get("/layers").json()
        assert {x["kind"] for x in layers} == {"bases", "events", "admin", "roads", "towns", "airports", "population"}
        first = c.get("/analyses").json()
        assert len(first) == 1 and first[0]["name"] == "MINUSCA demo (October 2020)"
        st, _ = wait_done(c, {}, first[0]["id"])
        assert st["status"] == "done" and st["request"]["params"] == {"resolution_m": 5000.0}
        page = c.get("/")
        assert page.status_code == 200 and f"/analyses/{st['id']}/tiles/" in page.text and "MINUSCA:" not in page.text
    with TestClient(create_app(s)) as c:  # a restart reuses the layers and the finished analysis
        assert [x["id"] for x in c.get("/layers").json()] == [x["id"] for x in layers]
        assert [x["id"] for x in c.get("/analyses").json()] == [st["id"]]


# ============================================================================ point query


def _job_folder(settings, analysis_id):
    hits = [p for p in Path(settings.workspace).rglob(analysis_id) if (p / "gap.tif").is_file()]
    assert len(hits) == 1, hits
    return hits[0]


def test_point_query_reads_every_term_where_the_planner_asks(client, keys, analysis, settings):
    import pandas as pd
    import rasterio
    from pyproj import Transformer

    # the mission HQ, from the bases file itself
    b = pd.read_csv(DEMO / "bases_geopko_v2.1.csv")
    hq = b[b["location"].astype(str).str.contains("Bangui")].iloc[0]
    lon, lat = float(hq["longitude"]), float(hq["latitude"])
    r = client.get(f"/analyses/{analysis['id']}/point", params={"lon": lon, "lat": lat}, headers=keys["planner"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["inside"] is True and got["travel_time"] == pytest.approx(0.0, abs=1.0)
    folder = _job_folder(settings, analysis["id"])
    for name in ("gap", "risk", "exposure", "coverage", "threat", "population"):  # as rasterio samples the COG
        with rasterio.open(folder / f"{name}.tif") as ds:
            x, y = Transformer.from_crs(4326, ds.crs, always_xy=True).transform(lon, lat)
            want = float(next(ds.sample([(x, y)]))[0])
        assert got[name] == pytest.approx(want, abs=1e-4), name
    # the gap is its terms: 100 (risk^2 exposure)^(1/3) (1 - coverage), to the products' rounding
    g = 100 * (got["risk"] ** 2 * got["exposure"]) ** (1 / 3) * (1 - got["coverage"])
    assert got["gap"] == pytest.approx(g, abs=0.05)


def test_point_query_gives_viewers_no_coverage_and_refuses_bad_places(client, keys, analysis):
    aid = analysis["id"]
    r = client.get(f"/analyses/{aid}/point", params={"lon": 20.9, "lat": 6.6}, headers=keys["viewer"])
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"lon", "lat", "inside", "risk", "exposure", "threat", "population", "gap_public"}
    bad = client.get(f"/analyses/{aid}/point", params={"lon": 200, "lat": 6.6}, headers=keys["viewer"])
    assert bad.status_code == 422 and "lon 200.0" in bad.json()["detail"]
