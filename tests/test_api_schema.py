"""Schemathesis over the whole API (issue 12): no 5xx, no status, media type or body the
OpenAPI schema does not declare.

The real app in-process (schemathesis' ASGI transport, the app's lifespan started by a
TestClient, real worker processes), with the demo layers uploaded and one finished analysis
and scenario at 5 km, so ids exist. Every case is sent as the admin, twice when it has an id
path parameter: once as generated (an unknown id: the 404 path) and once with the real id
(the 200 path and its body); then, fewer cases, as a viewer with the real ids (the 403s, the
viewer's own bodies). Nothing is excluded; the exceptions are listed in
:data:`KEEP_GENERATED`, each with its reason.

The submits (``POST /layers``, ``/analyses``, ``/scenarios``) get generated bodies only, which
refer to no real layer or analysis (422/404): a generated body that named real ids would start
long jobs on the two workers the test shares. Their 201/202 paths are tests/test_api.py's and
tests/test_api_scenarios.py's. The files each export list offers are checked one by one in
:func:`test_every_offered_file_conforms`, as generated file names never name a real one.
"""

from __future__ import annotations

import collections
import re
import time

import pytest
import schemathesis
import yaml
from conftest import poll_job, upload_demo_layers
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import Settings
from api.testing import ADMIN_KEY, DEMO

pytestmark = pytest.mark.slow

ADMIN = {"X-API-Key": ADMIN_KEY}
MAX_EXAMPLES = 20
VIEWER_EXAMPLES = 6
SEEN: dict[str, list[int]] = {}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

KEEP_GENERATED = {
    "key_id": "DELETE /keys/{key_id} with a real id would revoke the admin's test keys mid-run; "
              "generated ids cover its 404 path, tests/test_api.py its 200 and 409",
}
"""Path parameters never replaced by a real id, and why."""


def _wait(client, url, timeout=180):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = client.get(url, headers=ADMIN).json()
        if st["status"] not in ("queued", "running"):
            return st
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The running app, with real ids: layers, a finished analysis and a finished scenario."""
    s = Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(s)) as client:
        layers = upload_demo_layers(client, ADMIN, ("bases", "events", "admin", "roads", "towns", "airports",
                                                    "population"))
        r = client.post("/analyses", headers=ADMIN, json={
            "name": "schema run", "layers": layers, "as_of": "2020-10-31", "params": {"resolution_m": 5000}})
        assert r.status_code == 202, r.text
        st = poll_job(client, ADMIN, r.json()["id"], timeout=180)
        assert st["status"] == "done", st
        from geo.pyramid import render_pyramid

        folder = client.app.state.services.storage.job_dir("analysis", st["id"])
        render_pyramid(folder / "gap.tif", folder / "gap.mbtiles", surface="gap", minzoom=4, maxzoom=5)  # `vacuum pyramid`
        plan = yaml.safe_load((DEMO / "plan_example.yaml").read_text(encoding="utf-8"))
        r = client.post("/scenarios", headers=ADMIN, json={
            "analysis_id": st["id"], "plan": _jsonable(plan), "phases": 2, "cover_threshold": 0.6})
        assert r.status_code == 202, r.text
        sc = _wait(client, f"/scenarios/{r.json()['id']}")
        assert sc["status"] == "done", sc
        r = client.post("/keys", headers=ADMIN, json={"name": "schema viewer", "role": "viewer"})
        assert r.status_code == 201, r.text
        viewer = {"X-API-Key": r.json()["key"]}
        ids = {"analysis_id": st["id"], "scenario_id": sc["id"], "layer_id": layers["towns"], "phase": 1,
               "surface": "gap", "filename": "summary.json",
               "z": 6, "x": 35, "y": 30,  # the z6 tile over Bangui's east (21 E, 6.5 N), inside the grid
               "collectionId": f"{st['id']}-events", "featureId": "274351",  # an event of the window (GED id)
               "mapCollectionId": f"{st['id']}-risk", "tileMatrixSetId": "WebMercatorQuad"}
        yield client.app, ids, viewer


def _path_names(label: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", label))


def _jsonable(obj):
    import json

    return json.loads(json.dumps(obj, default=str))


@pytest.fixture(scope="module")
def api_schema(world):
    app = world[0]
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations() -> list[str]:
    """Every operation of the OpenAPI schema as ``"METHOD /path"``, read from an app that is
    built (no lifespan: no storage, no workers) only to list them."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(workspace=tmp, admin_key=ADMIN_KEY, _env_file=None))
        paths = app.openapi()["paths"]
    return [f"{m.upper()} {p}" for p, ops in paths.items() for m in ops]


OPERATIONS = _operations()


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms(label, api_schema, world):
    _, ids, _ = world
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        SEEN.setdefault(label, []).append(case.call_and_validate(headers=ADMIN, checks=CHECKS).status_code)
        params = case.path_parameters or {}
        real = {k: ids[k] for k in params if k in ids and k not in KEEP_GENERATED}
        if real:
            case.path_parameters = {**params, **real}
            SEEN.setdefault(label, []).append(case.call_and_validate(headers=ADMIN, checks=CHECKS).status_code)

    check()
    statuses = collections.Counter(SEEN[label])
    if label.startswith("GET ") and (set(ids) & _path_names(label)) - set(KEEP_GENERATED):
        # the real ids reached data: a 2xx with a body the schema accepts, not only 404s
        assert any(200 <= st < 300 for st in statuses), (label, statuses)


def test_the_run_covers_every_operation():
    """The parametrization is the schema's whole list: the tile, export and docs routes are in it."""
    assert {"GET /analyses/{analysis_id}/tiles/{surface}/{z}/{x}/{y}.png", "POST /layers", "DELETE /keys/{key_id}",
            "POST /scenarios", "GET /audit"} <= set(OPERATIONS)


EXPORT_LISTS = {
    "GET /analyses/{analysis_id}/exports/{filename}": ("analysis_id", "/analyses/{}/exports"),
    "GET /analyses/{analysis_id}/public/{filename}": ("analysis_id", "/analyses/{}/public"),
    "GET /scenarios/{scenario_id}/exports/{filename}": ("scenario_id", "/scenarios/{}/exports"),
}


@pytest.mark.parametrize("label", EXPORT_LISTS)
def test_every_offered_file_conforms(label, api_schema, world):
    """Generated file names are unknown ones (404): every file the lists offer, as schemathesis
    cases, so each real media type is checked against the schema."""
    app, ids, _ = world
    key, listing = EXPORT_LISTS[label]
    c = TestClient(app)  # not entered: no second lifespan, the module's app is already running
    files = [e["file"] for e in c.get(listing.format(ids[key]), headers=ADMIN).json()]
    assert len(files) >= 5, files
    operation = api_schema.find_operation_by_label(label)
    for name in files:
        operation.Case(path_parameters={key: ids[key], "filename": name}).call_and_validate(
            headers=ADMIN, checks=CHECKS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms_as_a_viewer(label, api_schema, world):
    """The same as a viewer, with the real ids: the 403s of planner and admin routes, the
    viewer's own bodies (public zones, block gap table), each declared by the schema."""
    _, ids, viewer = world
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy())
    @settings(max_examples=VIEWER_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        params = case.path_parameters or {}
        case.path_parameters = {**params, **{k: ids[k] for k in params if k in ids and k not in KEEP_GENERATED}}
        case.call_and_validate(headers=viewer, checks=CHECKS)

    check()
