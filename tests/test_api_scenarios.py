"""Scenarios as jobs of the service, in-process (TestClient, real worker processes): a plan
submitted on a 5 km analysis of the demo, polled to done; every product, the phase tiles,
exports, each error path, the planner-only rule and the audit log; a restart keeps it all."""

import json
import time

import morecantile
import pyogrio
import pytest
import rasterio
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.storage import JobRecord, new_id
from api.testing import ADMIN_KEY, DEMO

UPLOADS = {  # kind -> (file in data/minusca, upload options)
    "bases": ("bases_geopko_v2.1.csv", {"as_of": "2020-10-31"}),
    "events": ("events_ged_v23.1.csv", {}),
    "admin": ("admin1_naturalearth.geojson", {}),
    "roads": ("roads_trans_african_highway.geojson", {}),
    "towns": ("towns_geonames.csv", {}),
    "population": ("population_worldpop2020_density.tif", {"population_units": "density"}),
}
SURFACES = ("gap", "coverage", "gap_delta", "coverage_delta")


def example_plan() -> dict:
    """data/minusca/plan_example.yaml as the JSON a client sends (dates as strings)."""
    doc = yaml.safe_load((DEMO / "plan_example.yaml").read_text(encoding="utf-8"))
    return json.loads(json.dumps(doc, default=str))


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1, _env_file=None)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def storage(client):
    return client.app.state.services.storage


@pytest.fixture(scope="module")
def keys(client):
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for role in ("viewer", "planner"):
        r = client.post("/keys", json={"name": f"test {role}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        out[role] = {"X-API-Key": r.json()["key"]}
    return out


def wait_done(client, headers, path, timeout=120):
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < timeout:
        st = client.get(path, headers=headers).json()
        seen.append((st["status"], st["stage"], st["fraction"]))
        if st["status"] not in ("queued", "running"):
            return st, seen
        time.sleep(0.1)
    raise AssertionError(f"{path} did not finish: {seen[-5:]}")


@pytest.fixture(scope="module")
def analysis(client, keys):
    layers = {}
    for kind, (name, opts) in UPLOADS.items():
        r = client.post("/layers", headers=keys["admin"], data={"kind": kind, **opts},
                        files={"file": (name, (DEMO / name).read_bytes())})
        assert r.status_code == 201, r.text
        layers[kind] = r.json()["id"]
    r = client.post("/analyses", headers=keys["planner"], json={
        "name": "baseline", "layers": layers, "as_of": "2020-10-31", "params": {"resolution_m": 5000}})
    assert r.status_code == 202, r.text
    st, _ = wait_done(client, keys["planner"], r.json()["status_url"])
    assert st["status"] == "done", st
    return st["id"]


@pytest.fixture(scope="module")
def scenario(client, keys, analysis):
    body = {"analysis_id": analysis, "plan": example_plan(), "phases": 2, "cover_threshold": 0.6}
    r = client.post("/scenarios", json=body, headers=keys["planner"])
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    assert sid.startswith("sc_") and r.headers["location"] == r.json()["status_url"] == f"/scenarios/{sid}"
    st, seen = wait_done(client, keys["planner"], f"/scenarios/{sid}")
    assert st["status"] == "done", st
    return {"id": sid, "status": st, "seen": seen}


def _tile_inside(tilejson, z=6):
    w, s, e, n = tilejson["bounds"]
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, z)
    return t.z, t.x, t.y


# ============================================================================ the job


def test_a_scenario_runs_in_a_worker_with_progress(scenario, analysis):
    st = scenario["status"]
    assert (st["kind"], st["fraction"], st["stage"], st["error"]) == ("scenario", 1.0, "store", None)
    assert st["name"] == "Illustrative MINUSCA drawdown" and st["submitted_by"] == "test planner"
    fractions = [f for _, _, f in scenario["seen"]]
    assert fractions == sorted(fractions)
    res = st["result"]
    assert res["analysis_id"] == analysis and res["phases"] == 3 and res["vacuum_final"] > res["vacuum_baseline"]
    assert res["new_zones_final"] >= 1 and res["most_critical_base"].startswith("MINUSCA:")
    req = st["request"]  # the plan as checked, stored with the job
    assert req["phases"] == 2 and req["cover_threshold"] == 0.6
    assert req["plan"]["phases"][0]["date"] == "2021-03-31"
    sid = scenario["id"]
    assert st["links"]["criticality"] == f"/scenarios/{sid}/criticality"
    assert st["links"]["tiles"] == f"/scenarios/{sid}/phases/{{phase}}/tiles/{{surface}}/{{z}}/{{x}}/{{y}}.png"


def test_scenarios_are_listed_and_told_apart_from_analyses(client, keys, scenario, analysis):
    p = keys["planner"]
    assert scenario["id"] in [x["id"] for x in client.get("/scenarios", headers=p).json()]
    assert client.get("/scenarios", params={"status": "failed", "limit": 5}, headers=p).status_code == 200
    r = client.get(f"/scenarios/{analysis}", headers=p)
    assert r.status_code == 404 and "it is an analysis" in r.json()["detail"]
    r = client.get(f"/analyses/{scenario['id']}", headers=p)
    assert r.status_code == 404 and "it is a scenario" in r.json()["detail"]
    for path in ("", "/summary", "/phases/1/zones", "/criticality", "/exports/scenario.gpkg"):
        r = client.get(f"/scenarios/sc_nope{path}", headers=p)
        assert r.status_code == 404 and "no scenario 'sc_nope'" in r.json()["detail"], path


# ============================================================================ products


def test_summary_phases_and_closing_order(client, keys, scenario, analysis, storage):
    sid, p = scenario["id"], keys["planner"]
    r = client.get(f"/scenarios/{sid}/summary", headers=p)
    s = r.json()
    assert r.status_code == 200 and s["analysis"] == analysis and str(storage.workspace) not in r.text
    assert s["cover_threshold"] == 0.6 and [ph["phase"] for ph in s["phases"]] == [1, 2, 3]
    assert s["phases"][0]["closed"] == ["MINUSCA:obo", "MINUSCA:zemio", "MINUSCA:rafai", "MINUSCA:mobaye"]
    assert "MINUSCA:birao" in s["phases"][1]["closed"]  # close_admin: Vakaga
    phases = client.get(f"/scenarios/{sid}/phases", headers=p).json()
    assert [ph["new_zones"]["count"] for ph in phases] == [ph["new_zones"]["count"] for ph in s["phases"]]
    assert phases[2]["links"]["tilejson"]["gap_delta"] == f"/scenarios/{sid}/phases/3/tilejson/gap_delta.json"
    order = client.get(f"/scenarios/{sid}/closing-order", headers=p).json()
    assert len(order["plan_phases"]) == len(order["suggested_phases"]) == 2  # "phases": 2
    assert sorted(sum(order["plan_phases"], [])) == sorted(sum(order["suggested_phases"], []))
    assert "keep" in order["maximal_covering"]


def test_phase_zones_admin_change_and_sites(client, keys, scenario):
    sid, p = scenario["id"], keys["planner"]
    summary = client.get(f"/scenarios/{sid}/summary", headers=p).json()
    for k in (1, 2, 3):
        r = client.get(f"/scenarios/{sid}/phases/{k}/zones", headers=p)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json" and "NaN" not in r.text
        feats = r.json()["features"]
        assert len(feats) == summary["phases"][k - 1]["new_zones"]["count"]
    props = feats[0]["properties"]
    assert {"opened_by", "nearest_remaining_base_id", "area_km2", "population"} <= set(props)
    rows = client.get(f"/scenarios/{sid}/phases/3/admin", headers=p).json()
    assert len(rows) == 17 and isinstance(rows[0]["admin_id"], str)
    assert {"mean_gap_before", "mean_gap_after", "pop_weighted_gap_change"} <= set(rows[0])
    assert rows[0]["pop_weighted_gap_change"] >= rows[-1]["pop_weighted_gap_change"]  # largest rise first
    csv = client.get(f"/scenarios/{sid}/phases/3/admin", params={"format": "csv"}, headers=p)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("admin_id,")
    gj = client.get(f"/scenarios/{sid}/phases/3/admin", params={"format": "geojson"}, headers=p)
    assert gj.headers["content-type"] == "application/geo+json" and len(gj.json()["features"]) == 17
    assert client.get(f"/scenarios/{sid}/phases/3/admin", params={"format": "xls"}, headers=p).status_code == 422
    sites = client.get(f"/scenarios/{sid}/phases/3/sites", headers=p)
    lost = {f["properties"]["name"] for f in sites.json()["features"]}
    assert sites.headers["content-type"] == "application/geo+json" and "Alindao" in lost  # closed in phase 3
    for k in (0, 4, -1):
        r = client.get(f"/scenarios/{sid}/phases/{k}/zones", headers=p)
        assert r.status_code == 404 and "its phases are 1..3" in r.json()["detail"]
    assert client.get(f"/scenarios/{sid}/phases/one/zones", headers=p).status_code == 422


def test_base_criticality_with_positions_is_audited(client, keys, scenario):
    sid, p = scenario["id"], keys["planner"]
    rows = client.get(f"/scenarios/{sid}/criticality", headers=p).json()
    assert [r["rank"] for r in rows] == list(range(1, 21)) and rows[0]["added_vacuum"] >= rows[-1]["added_vacuum"]
    csv = client.get(f"/scenarios/{sid}/criticality", params={"format": "csv"}, headers=p)
    assert csv.text.startswith("rank,base_id,") and len(csv.text.splitlines()) == 21
    gj = client.get(f"/scenarios/{sid}/criticality", params={"format": "geojson"}, headers=p).json()
    assert {f["geometry"]["type"] for f in gj["features"]} == {"Point"} and len(gj["features"]) == 20
    audit = client.get("/audit", params={"action": "scenario.criticality"}, headers=keys["admin"]).json()
    assert {a["detail"]["format"] for a in audit if a["target"] == sid} == {"json", "csv", "geojson"}


def test_exports_are_offered_downloaded_and_audited(client, keys, scenario, tmp_path):
    sid, p = scenario["id"], keys["planner"]
    listed = client.get(f"/scenarios/{sid}/exports", headers=p).json()
    offered = {e["file"] for e in listed}
    assert {"scenario.gpkg", "summary.json", "closing_order.json", "base_criticality.csv",
            "base_criticality.geojson"} <= offered
    for k in (1, 2, 3):
        assert {f"phase_{k}_{s}.tif" for s in SURFACES} <= offered
        assert {f"phase_{k}_{n}.{e}" for n in ("new_zones", "admin_change", "lost_cover_sites")
                for e in ("geojson", "csv")} <= offered
    assert all(e["url"] == f"/scenarios/{sid}/exports/{e['file']}" and "source" not in e for e in listed)
    r = client.get(f"/scenarios/{sid}/exports/scenario.gpkg", headers=p)
    assert r.status_code == 200 and r.content.startswith(b"SQLite format 3\x00")
    (tmp_path / "s.gpkg").write_bytes(r.content)
    names = {n for n, _ in pyogrio.list_layers(tmp_path / "s.gpkg")}
    assert {"base_criticality", "new_zones_phase_3", "admin_change_phase_1", "lost_cover_sites_phase_3"} <= names
    r = client.get(f"/scenarios/{sid}/exports/phase_2_gap_delta.tif", headers=p)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/tiff")
    (tmp_path / "d.tif").write_bytes(r.content)
    with rasterio.open(tmp_path / "d.tif") as ds:
        assert ds.crs is not None and ds.profile["tiled"]
    zones_csv = client.get(f"/scenarios/{sid}/exports/phase_3_new_zones.csv", headers=p).text
    assert "wkt" in zones_csv.splitlines()[0] and "POLYGON" in zones_csv
    sites_csv = client.get(f"/scenarios/{sid}/exports/phase_3_lost_cover_sites.csv", headers=p).text
    assert sites_csv.splitlines()[0].endswith("longitude,latitude")
    assert client.get(f"/scenarios/{sid}/exports/summary.json", headers=p).json()["plan"]
    for bad in ("phase_9_gap.tif", "model.npz", "..%2F..%2Fvacuum.sqlite"):
        r = client.get(f"/scenarios/{sid}/exports/{bad}", headers=p)
        assert r.status_code == 404, bad
    rows = client.get("/audit", params={"action": "export", "limit": 1000}, headers=keys["admin"]).json()
    got = {(x["target"], x["outcome"]) for x in rows}
    assert (f"{sid}/scenario.gpkg", "ok") in got and (f"{sid}/model.npz", "rejected: NotFoundError") in got


# ============================================================================ tiles


def test_phase_tiles_for_planners(client, keys, scenario):
    sid, p = scenario["id"], keys["planner"]
    tj = client.get(f"/scenarios/{sid}/phases/3/tilejson/gap_delta.json", headers=p)
    assert tj.status_code == 200, tj.text
    assert tj.json()["tiles"][0].endswith(f"/scenarios/{sid}/phases/3/tiles/gap_delta/{{z}}/{{x}}/{{y}}.png")
    z, x, y = _tile_inside(tj.json())
    for surface in SURFACES:
        r = client.get(f"/scenarios/{sid}/phases/3/tiles/{surface}/{z}/{x}/{y}.png", headers=p)
        assert r.status_code == 200 and r.content[:4] == b"\x89PNG", (surface, r.text)
    for path, match in ((f"phases/4/tiles/gap/{z}/{x}/{y}.png", "has no phase 4"),
                        ("phases/0/tilejson/gap.json", "has no phase 0"),
                        (f"phases/1/tiles/threat/{z}/{x}/{y}.png", "no scenario surface 'threat'"),
                        (f"phases/1/tiles/nope/{z}/{x}/{y}.png", "nope")):
        r = client.get(f"/scenarios/{sid}/{path}", headers=p)
        assert r.status_code == 404 and match in r.json()["detail"], (path, r.text)
    assert client.get(f"/analyses/{sid}/tiles/gap/{z}/{x}/{y}.png", headers=p).status_code == 404
    r = client.get(f"/scenarios/{sid}/phases/3/tiles/gap/{z}/{x}/{y}.png", headers=keys["viewer"])
    assert r.status_code == 403 and "withdrawal plan" in r.json()["detail"]
    assert client.get(f"/scenarios/{sid}/phases/3/tilejson/gap_delta.json", headers=keys["viewer"]).status_code == 403


# ============================================================================ errors and roles


def test_viewers_get_nothing_of_scenarios(client, keys, scenario, analysis):
    v, sid = keys["viewer"], scenario["id"]
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": example_plan()}, headers=v)
    assert r.status_code == 403 and "planner" in r.json()["detail"]
    for path in ("", f"/{sid}", f"/{sid}/summary", f"/{sid}/phases", f"/{sid}/phases/1/zones",
                 f"/{sid}/phases/1/admin", f"/{sid}/phases/1/sites", f"/{sid}/criticality",
                 f"/{sid}/closing-order", f"/{sid}/exports", f"/{sid}/exports/scenario.gpkg"):
        r = client.get(f"/scenarios{path}", headers=v)
        assert r.status_code == 403 and r.json()["error"] == "PermissionDeniedError", path
    assert client.get(f"/scenarios/{sid}").status_code == 401


def _plan_with(first_phase_actions):
    plan = example_plan()
    plan["phases"][0]["actions"] = first_phase_actions
    return plan


@pytest.mark.parametrize("body, status, error, match", [
    ({"plan": _plan_with([{"close": ["MINUSCA:oboo"]}])}, 422, "PlanError",
     "phase 1 (Close observer posts in the south-east), action 1 (close): unknown base id 'MINUSCA:oboo'; "
     "did you mean MINUSCA:obo"),
    ({"plan": _plan_with([{"close": ["MINUSCA:obo"], "reduce": {"base": "MINUSCA:bria", "factor": 0.5}}])}, 422,
     "PlanError", "phase 1 (Close observer posts in the south-east), action 1: Value error, an action is exactly one"),
    ({"plan": _plan_with([{"reduce": {"base": "MINUSCA:bria", "strength": 9000}}])}, 422, "PlanError",
     "action 1 (reduce): 'MINUSCA:bria' would grow"),
    ({"plan": _plan_with([{"close_admin": "Vakagga"}])}, 422, "PlanError", "no admin unit named 'Vakagga'; did you mean"),
    ({"plan": _plan_with([{"shut": ["MINUSCA:obo"]}])}, 422, "PlanError", "phase 1 (Close observer posts in the "
     "south-east), action 1, shut: Extra inputs are not permitted"),
    ({"plan": {"name": "no phases"}}, 422, "PlanError", "plan: phases: Field required"),
    ({"plan": {**example_plan(), "national_forces": "forces.csv"}}, 422, "PlanError",
     "national_forces 'forces.csv': the service reads no files named by a client"),
    ({"plan": _plan_with([{"handover": {"base": "MINUSCA:bambari", "to": "FACA"}}])}, 422, "PlanError",
     "receiving force 'FACA' does not exist: the plan lists no national_forces"),
    ({"plan": "close everything"}, 422, "RequestValidationError", "plan: Input should be a valid dictionary"),
    ({"cover_threshold": 1.5}, 422, "RequestValidationError", "cover_threshold"),
    ({"phases": 0}, 422, "RequestValidationError", "phases"),
    ({"colour": "red"}, 422, "RequestValidationError", "colour"),
    ({"analysis_id": "an_nope"}, 404, "NotFoundError", "no analysis 'an_nope'; GET /analyses lists them"),
])
def test_bad_submits_are_refused_before_any_job(client, keys, analysis, storage, body, status, error, match):
    n = len(storage.list_jobs(limit=1000))
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": example_plan(), **body},
                    headers=keys["planner"])
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and match in r.json()["detail"], r.json()
    assert len(storage.list_jobs(limit=1000)) == n


def test_unknown_conditions_and_units_are_all_named_in_one_refusal(client, keys, analysis):
    plan = example_plan()
    plan["phases"][0]["conditions"] = [{"condition": "gap_man", "op": "<", "threshold": 3}]
    plan["phases"][1]["conditions"] = [{"condition": "risk", "op": "<=", "threshold": 3, "at": "during"}]
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan}, headers=keys["planner"])
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("plan: 2 problems:")
    assert "phase 1 (Close observer posts in the south-east), condition 1, condition: Value error, unknown " \
           "condition 'gap_man'; did you mean gap_mean?" in detail
    assert "phase 2 (Leave the north-east, thin Bria), condition 1, at: Input should be 'before' or 'after'" in detail
    plan = example_plan()
    plan["phases"][0]["conditions"] = [{"condition": "risk", "unit": "Vakagga", "op": "<", "threshold": 1}]
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan}, headers=keys["planner"])
    assert r.status_code == 422 and "no admin unit named 'Vakagga' in the admin layer; did you mean Vakaga?" \
        in r.json()["detail"]


def test_an_enforced_scenario_stops_at_the_held_phase(client, keys, analysis):
    plan = example_plan()
    # phase 2 closes every base in Vakaga: people there lose cover, so "no one loses cover" fails
    plan["phases"][1]["conditions"] = [{"condition": "people_losing_cover", "op": "<=", "threshold": 0}]
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan, "enforce": True},
                    headers=keys["planner"])
    assert r.status_code == 202, r.text
    st, _ = wait_done(client, keys["planner"], r.json()["status_url"])
    assert st["status"] == "done", st
    assert st["result"]["held_at_phase"] == 2 and st["result"]["phases"] == 1
    s = client.get(f"/scenarios/{st['id']}/summary", headers=keys["planner"]).json()
    assert s["enforced"]["plan_that_holds"] == ["Close observer posts in the south-east"]
    assert s["enforced"]["reasons"][0].startswith("people_losing_cover in whole area after the phase is ")


def test_a_baseline_must_be_a_finished_analysis(client, keys, storage, scenario):
    running = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, status="running",
                                           stage="travel_time", instance_id=client.app.state.services.jobs.instance_id))
    try:
        r = client.post("/scenarios", json={"analysis_id": running.id, "plan": example_plan()},
                        headers=keys["planner"])
        assert r.status_code == 409 and "is running (stage travel_time" in r.json()["detail"]
    finally:
        storage.finish_job(running.id, "interrupted", error="test")
    r = client.post("/scenarios", json={"analysis_id": scenario["id"], "plan": example_plan()},
                    headers=keys["planner"])
    assert r.status_code == 404 and "it is a scenario" in r.json()["detail"]


def test_a_base_outside_the_grid_cannot_be_acted_on(storage, analysis, tmp_path):
    """bases.geojson keeps every base; one outside the grid has no coverage term to change."""
    import shutil

    from api.scenarios import check_plan
    from geo.plan import PlanError, parse_plan

    src = storage.job_dir("analysis", analysis)
    (tmp_path / "model").mkdir()
    for name in ("bases.geojson", "admin_summary.geojson"):
        shutil.copy(src / name, tmp_path / name)
    meta = json.loads((src / "model" / "analysis.json").read_text())
    meta["terms"] = [t for t in meta["terms"] if t["base_id"] != "MINUSCA:zemio"]
    (tmp_path / "model" / "analysis.json").write_text(json.dumps(meta))
    with pytest.raises(PlanError, match=r"phase 1 \(Close observer posts in the south-east\), close 'MINUSCA:zemio': "
                                        "the base lies outside the analysis grid"):
        check_plan(tmp_path, parse_plan(example_plan()))
    assert check_plan(src, parse_plan(example_plan())) == 3


def test_a_scenario_failing_in_its_worker_says_why(client, keys, storage):
    jobs = client.app.state.services.jobs  # past the checks: as if the analysis vanished after submit
    job = jobs.submit("scenario", {"analysis_id": "an_gone", "plan": example_plan(), "phases": None,
                                   "cover_threshold": 0.5})
    st, _ = wait_done(client, keys["planner"], f"/scenarios/{job.id}")
    assert st["status"] == "failed" and "no analysis 'an_gone'" in st["error"]
    assert str(storage.workspace) not in st["error"]
    r = client.get(f"/scenarios/{job.id}/summary", headers=keys["planner"])
    assert r.status_code == 409 and "failed (no analysis 'an_gone'" in r.json()["detail"]
    r = client.get(f"/scenarios/{job.id}/phases/1/tiles/gap/6/35/31.png", headers=keys["planner"])
    assert r.status_code == 404 and "is failed" in r.json()["detail"]


def test_submits_are_audited_with_who_asked(client, keys, scenario, analysis):
    rows = client.get("/audit", params={"action": "scenario.submit", "limit": 1000}, headers=keys["admin"]).json()
    mine = [x for x in rows if x["target"] == scenario["id"]]
    assert len(mine) == 1 and (mine[0]["key_name"], mine[0]["role"], mine[0]["outcome"]) == (
        "test planner", "planner", "ok")
    assert mine[0]["detail"] == {"analysis_id": analysis, "plan": "Illustrative MINUSCA drawdown", "phases": 3}
    outcomes = {x["outcome"] for x in rows if x["target"] == "-"}
    assert {"rejected: PlanError", "rejected: NotFoundError", "rejected: JobNotReadyError"} <= outcomes


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _has_example(schema, content):
    for media in content.values():
        s = _resolve(schema, media.get("schema", {}))
        if s.get("type") == "array":
            s = _resolve(schema, s.get("items", {}))
        if {"example", "examples"} & (set(media) | set(s)):
            return True
    return False


def test_openapi_has_an_example_for_every_scenario_endpoint(client):
    schema = client.get("/openapi.json").json()
    ours = {p: ops for p, ops in schema["paths"].items() if p.startswith("/scenarios")}
    assert {"/scenarios", "/scenarios/{scenario_id}/phases/{phase}/zones", "/scenarios/{scenario_id}/criticality",
            "/scenarios/{scenario_id}/exports/{filename}"} <= set(ours)
    for path, ops in ours.items():
        for method, op in ops.items():
            ok = [c for s, c in op["responses"].items() if s.startswith("2")]
            assert any(_has_example(schema, c.get("content", {})) for c in ok), f"{method} {path}"
    assert _has_example(schema, schema["paths"]["/scenarios"]["post"]["requestBody"]["content"])


# ============================================================================ restart (last: a second app)


def test_a_finished_scenario_survives_a_restart(client, keys, scenario, settings):
    sid = scenario["id"]
    tj = client.get(f"/scenarios/{sid}/phases/1/tilejson/gap.json", headers=keys["planner"]).json()
    z, x, y = _tile_inside(tj)
    with TestClient(create_app(settings)) as again:
        st = again.get(f"/scenarios/{sid}", headers=keys["planner"]).json()
        assert st["status"] == "done" and st["result"] == scenario["status"]["result"]
        assert again.get(f"/scenarios/{sid}/phases/1/zones", headers=keys["planner"]).status_code == 200
        r = again.get(f"/scenarios/{sid}/phases/1/tiles/gap/{z}/{x}/{y}.png", headers=keys["planner"])
        assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
