"""Offline downloads of the service: the field package (zip) and the MBTiles pyramids, by role.

The viewer's package must add nothing to what a viewer may fetch already: every PMTiles
tile in it is the viewer's served tile, byte for byte, and its zones and admin units are
the viewer's /zones and /admin GeoJSON.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import time
import zipfile

import pytest
from conftest import make_keys, upload_demo_layers
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.testing import ADMIN_KEY
from geo.pmtiles import read_pmtiles
from geo.pyramid import render_pyramid

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(s)) as c:
        keys = make_keys(c)
        ids = upload_demo_layers(c, keys["admin"], ("bases", "events", "admin", "roads", "towns", "airports",
                                                      "population"))
        r = c.post("/analyses", headers=keys["planner"], json={
            "layers": ids, "as_of": "2020-10-31", "params": {"resolution_m": 5000}})
        assert r.status_code == 202, r.text
        aid = r.json()["id"]
        deadline = time.monotonic() + 180
        while (st := c.get(f"/analyses/{aid}", headers=keys["viewer"]).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, st
            time.sleep(0.2)
        assert st["status"] == "done", st
        yield c, keys, aid, c.app.state.services.storage.job_dir("analysis", aid)


def _unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}


def _package_data(files: dict[str, bytes]) -> dict:
    js = files["data/package.js"].decode()
    return json.loads(re.fullmatch(r"window\.VACUUM_PACKAGE = (.*);\n", js, re.S).group(1))


def test_viewer_package_is_what_a_viewer_may_fetch(served, tmp_path):
    c, keys, aid, _ = served
    v = keys["viewer"]
    r = c.get(f"/analyses/{aid}/package", headers=v)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    files = _unzip(r.content)
    assert json.loads(files["manifest.json"])["full"] is False
    surfaces = sorted(f[len("tiles/"):-len(".pmtiles")] for f in files if f.startswith("tiles/"))
    assert surfaces == ["exposure", "gap_public", "population", "risk", "threat"]
    n = 0
    for s in surfaces:
        (tmp_path / f"{s}.pmtiles").write_bytes(files[f"tiles/{s}.pmtiles"])
        for (z, x, y), data in read_pmtiles(tmp_path / f"{s}.pmtiles")[2].items():
            t = c.get(f"/analyses/{aid}/tiles/{s}/{z}/{x}/{y}.png", headers=v)
            assert t.status_code == 200 and t.content == data, (s, z, x, y)
            n += 1
    assert n >= len(surfaces)  # every tile compared, at least one per surface
    data = _package_data(files)
    zones = c.get(f"/analyses/{aid}/zones", headers=v).json()
    admin = c.get(f"/analyses/{aid}/admin", params={"format": "geojson"}, headers=v).json()
    assert [f["properties"] for f in data["zones"]["features"]] == [f["properties"] for f in zones["features"]]
    assert sorted(f["properties"]["admin_id"] for f in data["admin"]["features"]) == \
        sorted(f["properties"]["admin_id"] for f in admin["features"])
    assert {k: f["properties"]["mean_gap"] for k, f in enumerate(data["admin"]["features"])} == \
        {k: f["properties"]["mean_gap"] for k, f in enumerate(admin["features"])}
    assert "bases" not in data and "nearest_base" not in files["data/package.js"].decode()


def test_full_package_is_for_planners(served):
    c, keys, aid, _ = served
    r = c.get(f"/analyses/{aid}/package", params={"full": "true"}, headers=keys["viewer"])
    assert r.status_code == 403 and "planner" in r.json()["detail"]
    r = c.get(f"/analyses/{aid}/package", params={"full": "true"}, headers=keys["planner"])
    assert r.status_code == 200
    files = _unzip(r.content)
    bases = c.get(f"/analyses/{aid}/exports/bases.geojson", headers=keys["planner"]).json()
    data = _package_data(files)
    assert sorted(f["properties"]["base_id"] for f in data["bases"]["features"]) == \
        sorted(f["properties"]["base_id"] for f in bases["features"])
    assert {"tiles/gap.pmtiles", "tiles/coverage.pmtiles", "tiles/travel_time.pmtiles"} <= set(files)
    log = c.app.state.services.storage.list_audit(action="export.package")
    outcomes = {(a.role, a.outcome, a.detail.get("full")) for a in log if a.target == aid}
    assert {("viewer", "denied: PermissionDeniedError", True), ("planner", "ok", True)} <= outcomes


def test_pyramid_downloads(served):
    c, keys, aid, folder = served
    assert c.get(f"/analyses/{aid}/pyramids", headers=keys["viewer"]).json() == []
    r = c.get(f"/analyses/{aid}/pyramids/threat.mbtiles", headers=keys["viewer"])
    assert r.status_code == 404 and "vacuum pyramid" in r.json()["detail"]
    for s in ("threat", "gap"):
        render_pyramid(folder / f"{s}.tif", folder / f"{s}.mbtiles", surface=s, minzoom=0, maxzoom=4)
    listed = c.get(f"/analyses/{aid}/pyramids", headers=keys["viewer"]).json()
    assert [x["surface"] for x in listed] == ["threat"]  # gap pinpoints bases: not listed for viewers
    assert [x["surface"] for x in c.get(f"/analyses/{aid}/pyramids", headers=keys["planner"]).json()] == ["gap", "threat"]
    r = c.get(listed[0]["url"], headers=keys["viewer"])
    assert r.status_code == 200 and r.content == (folder / "threat.mbtiles").read_bytes()
    assert r.content.startswith(b"SQLite format 3\x00")
    r = c.get(f"/analyses/{aid}/pyramids/gap.mbtiles", headers=keys["viewer"])
    assert r.status_code == 403
    r = c.get(f"/analyses/{aid}/pyramids/gap.mbtiles", headers=keys["planner"])
    assert r.status_code == 200 and r.content == (folder / "gap.mbtiles").read_bytes()
    db = sqlite3.connect(folder / "gap.mbtiles")
    assert db.execute("SELECT value FROM metadata WHERE name = 'maxzoom'").fetchone() == ("4",)
    db.close()
    r = c.get(f"/analyses/{aid}/pyramids/bogus.mbtiles", headers=keys["planner"])
    assert r.status_code == 404 and "surfaces:" in r.json()["detail"]
