"""The plan editor's API, in-process (TestClient, real worker processes), on a 5 km analysis
of the demo: previews checked against the full scenario job's own rasters, versioned saves
and the refused stale save, YAML out and back in, the errors, the planner-only rule."""

import base64
import io
import json
import time

import numpy as np
import pytest
import rasterio
import yaml
from conftest import upload_demo_layers
from fastapi.testclient import TestClient
from PIL import Image
from pyproj import Transformer

from api.app import create_app
from api.settings import Settings
from api.storage import ACTIVE_STATUSES
from api.testing import ADMIN_KEY, DEMO

# two phases, two bases: Bria (a battalion in the east) first, then Kaga-Bandoro
PLAN = {"name": "Two closures", "phases": [
    {"name": "East", "date": "2021-03-31", "actions": [{"close": ["MINUSCA:bria"]}]},
    {"name": "Centre", "date": "2021-09-30", "actions": [{"close": ["MINUSCA:kaga-bandoro"]}]},
]}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client):
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for role in ("viewer", "planner"):
        r = client.post("/keys", json={"name": f"plans {role}", "role": role}, headers=admin)
        out[role] = {"X-API-Key": r.json()["key"]}
    return out


def _wait(client, headers, url, timeout=180):
    """A job's status once it is no longer queued or running (an analysis or a scenario)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = client.get(url, headers=headers).json()
        if st["status"] not in ACTIVE_STATUSES:
            return st
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish")


@pytest.fixture(scope="module")
def analysis(client, keys):
    layers = upload_demo_layers(client, keys["admin"], ("bases", "events", "admin", "roads", "towns", "population"))
    r = client.post("/analyses", headers=keys["planner"], json={
        "name": "plans baseline", "layers": layers, "as_of": "2020-10-31", "params": {"resolution_m": 5000}})
    st = _wait(client, keys["planner"], r.json()["status_url"])
    assert st["status"] == "done", st
    return st["id"]


@pytest.fixture(scope="module")
def preview(client, keys, analysis):
    r = client.post("/plans/preview", headers=keys["planner"], json={"analysis_id": analysis, "plan": PLAN})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def scenario_dir(client, keys, analysis):
    """The same plan as a full scenario job, saved and submitted through /plans."""
    r = client.post("/plans", headers=keys["planner"], json={"analysis_id": analysis, "plan": PLAN})
    assert r.status_code == 201, r.text
    r = client.post(f"/plans/{r.json()['id']}/submit", headers=keys["planner"])
    assert r.status_code == 202, r.text
    st = _wait(client, keys["planner"], r.json()["status_url"])
    assert st["status"] == "done", st
    return client.app.state.services.storage.job_dir("scenario", st["id"])


def test_the_preview_matches_the_scenario_jobs_own_rasters(preview, scenario_dir, analysis, client):
    """New zones = cells whose gap rose to the zone threshold (35) or above, counted here from
    the scenario's phase gap COG and the analysis' gap COG; people losing cover is what the
    full job wrote for that phase."""
    folder = client.app.state.services.storage.job_dir("analysis", analysis)
    with rasterio.open(folder / "gap.tif") as src:
        base = src.read(1, masked=True).filled(np.nan)
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
    summary = json.loads((scenario_dir / "summary.json").read_text())
    assert [p["name"] for p in preview["phases"]] == ["East", "Centre"]
    prev_new = 0.0
    for k, ph in enumerate(preview["phases"], start=1):
        with rasterio.open(scenario_dir / f"phase_{k}" / "gap.tif") as src:
            after = src.read(1, masked=True).filled(np.nan)
        rose = np.isfinite(after) & (after >= 35) & ~(base >= 35)
        assert ph["numbers"]["new_high_critical_km2"] == pytest.approx(rose.sum() * cell_km2)
        assert sum(f["properties"]["area_km2"] for f in ph["new_zones"]["features"]) == pytest.approx(rose.sum() * cell_km2)
        assert ph["numbers"]["population_losing_cover"] == pytest.approx(
            summary["phases"][k - 1]["population_losing_cover"], rel=1e-6)
        # against the previous phase: a difference of this phase's and the last one's numbers
        assert ph["vs_previous"]["new_high_critical_km2"] == pytest.approx(
            ph["numbers"]["new_high_critical_km2"] - prev_new)
        prev_new = ph["numbers"]["new_high_critical_km2"]
    assert preview["phases"][1]["numbers"]["vacuum_measure"] >= preview["phases"][0]["numbers"]["vacuum_measure"]


def test_the_overlay_is_a_png_over_the_analysis_grid(preview, client, analysis):
    folder = client.app.state.services.storage.job_dir("analysis", analysis)
    with rasterio.open(folder / "gap.tif") as src:
        left, bottom, right, top = src.bounds
        cells_across = max(src.width, src.height)
        to_ll = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
    lons, lats = to_ll.transform([left, right, left, right], [bottom, bottom, top, top])
    ov = preview["phases"][0]["overlay"]
    assert ov["image"].startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(ov["image"].split(",", 1)[1])))
    assert img.mode == "RGBA" and max(img.size) == min(1200, cells_across)  # no finer than the grid
    (s, w), (n, e) = ov["bounds"]
    # the overlay covers the grid's corners (bounds are densified, so they may be a little larger)
    assert w <= min(lons) + 1e-6 and e >= max(lons) - 1e-6 and s <= min(lats) + 1e-6 and n >= max(lats) - 1e-6
    assert e - w < (max(lons) - min(lons)) * 1.2
    alpha = np.asarray(img)[..., 3]
    assert 0 < (alpha > 0).mean() < 1  # the area drawn, outside it transparent


def test_saves_are_versioned_and_a_stale_save_is_refused(client, keys, analysis):
    h = keys["planner"]
    r = client.post("/plans", headers=h, json={"analysis_id": analysis, "plan": PLAN})
    pid, v1 = r.json()["id"], r.json()["version"]
    assert v1 == 1 and r.headers["location"] == f"/plans/{pid}"
    edited = json.loads(json.dumps(PLAN))
    edited["phases"][1]["actions"].append({"reduce": {"base": "MINUSCA:bambari", "strength": 300}})
    r = client.put(f"/plans/{pid}", headers=h, json={"version": 1, "plan": edited})
    assert r.status_code == 200 and r.json()["version"] == 2
    # a second browser still on version 1
    other = json.loads(json.dumps(PLAN))
    other["name"] = "someone else's edit"
    r = client.put(f"/plans/{pid}", headers=h, json={"version": 1, "plan": other})
    assert r.status_code == 409
    assert "version 2" in r.json()["detail"] and "plans planner" in r.json()["detail"]
    got = client.get(f"/plans/{pid}", headers=h).json()
    assert got["version"] == 2 and got["name"] == "Two closures"  # nothing overwritten
    assert [v["version"] for v in got["versions"]] == [1, 2]
    assert all(v["saved_by"] == "plans planner" for v in got["versions"])
    actions = [a["action"] for a in client.get("/audit", headers=keys["admin"],
                                               params={"limit": 500}).json() if a["target"] == pid]
    assert actions.count("plan.save") == 1 and actions.count("plan.create") == 1


def test_the_exported_yaml_is_the_plan_file_and_comes_back_the_same(client, keys, analysis):
    h = keys["planner"]
    pid = client.post("/plans", headers=h, json={"analysis_id": analysis, "plan": PLAN}).json()["id"]
    r = client.get(f"/plans/{pid}/yaml", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    text = r.text
    doc = yaml.safe_load(text)
    assert doc["name"] == PLAN["name"]
    assert [[a for a in ph["actions"]] for ph in doc["phases"]] == [ph["actions"] for ph in PLAN["phases"]]
    assert [str(ph["date"]) for ph in doc["phases"]] == ["2021-03-31", "2021-09-30"]
    r = client.post("/plans/import", headers=h, json={"analysis_id": analysis, "yaml": text})
    assert r.status_code == 201, r.text
    again = client.get(f"/plans/{r.json()['id']}/yaml", headers=h).text
    assert again == text


@pytest.mark.parametrize("plan, match", [
    ({"name": "x", "phases": [{"name": "A", "date": "2021-03-31", "actions": [{"close": ["MINUSCA:atlantis"]}]}]},
     "MINUSCA:atlantis"),
    ({"name": "x", "phases": [{"name": "A", "date": "2021-03-31", "actions": [{"close": ["MINUSCA:bria"]}]},
                              {"name": "Empty", "date": "2021-06-30", "actions": []}]},
     r"phase 2 \(Empty\) has no steps"),
])
def test_bad_plans_are_refused_with_the_fix(client, keys, analysis, plan, match):
    for url in ("/plans", "/plans/preview"):
        r = client.post(url, headers=keys["planner"], json={"analysis_id": analysis, "plan": plan})
        assert r.status_code == 422, (url, r.text)
        assert __import__("re").search(match, r.json()["detail"]), r.json()


def test_a_broken_yaml_names_its_line(client, keys, analysis):
    text = "name: x\nphases:\n  - name: A\n    date: 2021-03-31\n    actions: [close: [MINUSCA:bria]\n"
    r = client.post("/plans/import", headers=keys["planner"], json={"analysis_id": analysis, "yaml": text})
    assert r.status_code == 422 and "line " in r.json()["detail"]


def test_viewers_get_no_plan_route_and_no_editor(client, keys, analysis):
    h = keys["viewer"]
    assert client.get("/editor", headers=h).status_code == 403
    assert client.get("/plans", headers=h).status_code == 403
    assert client.post("/plans/preview", headers=h, json={"analysis_id": analysis, "plan": PLAN}).status_code == 403


def test_the_editor_page_names_its_analysis_and_loads_only_local_files(client, keys, analysis):
    r = client.get("/editor", headers=keys["planner"], params={"analysis": analysis})
    assert r.status_code == 200 and "<title>Plan editor: plans baseline" in r.text
    assert "http://" not in r.text and "https://" not in r.text
    assert client.get("/static/editor/editor.js").status_code == 200


def test_a_phase_condition_is_judged_in_the_preview(client, keys, analysis, preview):
    plan = json.loads(json.dumps(PLAN))
    plan["phases"][0]["conditions"] = [{"condition": "people_losing_cover", "op": "<=", "threshold": 1},
                                       {"condition": "new_zone_area_km2", "op": "<=", "threshold": 1e9}]
    r = client.post("/plans/preview", headers=keys["planner"], json={"analysis_id": analysis, "plan": plan})
    assert r.status_code == 200, r.text
    ph = r.json()["phases"][0]
    lost = preview["phases"][0]["numbers"]["population_losing_cover"]
    assert lost > 1  # closing Bria uncovers people, so "at most 1" fails
    assert ph["status"] == "hold" and len(ph["hold_reasons"]) == 1
    rows = {b["condition"]: b for b in ph["benchmarks"]}
    assert rows["people_losing_cover"]["pass"] is False
    assert rows["people_losing_cover"]["value"] == pytest.approx(lost, rel=1e-6)
    assert rows["people_losing_cover"]["margin"] == pytest.approx(1 - lost, rel=1e-6)
    assert rows["new_zone_area_km2"]["pass"] is True
    assert r.json()["phases"][1]["status"] == "go" and r.json()["phases"][1]["benchmarks"] == []


def test_an_imported_yaml_lists_every_problem_with_its_line(client, keys, analysis):
    text = ("name: two mistakes\n"
            "phases:\n"
            "  - name: A\n"
            "    date: 2021-03-31\n"
            "    actions:\n"
            "      - close: [MINUSCA:bria]\n"
            "    conditions:\n"
            "      - {condition: gap_meen, op: '<', threshold: 5}\n"
            "  - name: B\n"
            "    date: 2021-06-30\n"
            "    actions:\n"
            "      - reduce: {base: MINUSCA:bambari}\n")
    r = client.post("/plans/import", headers=keys["planner"], json={"analysis_id": analysis, "yaml": text})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "2 problems" in detail
    assert "line 8" in detail and "gap_meen" in detail and "gap_mean" in detail  # with the fix
    assert "line 12" in detail and "strength" in detail


def test_the_demo_conditions_plan_imports_and_previews_with_its_national_force(client, keys, analysis):
    """data/minusca/plan_conditions.yaml: conditions on every phase, Bambari handed to a named
    (illustrative) national force."""
    text = (DEMO / "plan_conditions.yaml").read_text(encoding="utf-8")
    r = client.post("/plans/import", headers=keys["planner"], json={"analysis_id": analysis, "yaml": text})
    assert r.status_code == 201, r.text
    plan = r.json()["plan"]
    r = client.post("/plans/preview", headers=keys["planner"], json={"analysis_id": analysis, "plan": plan})
    assert r.status_code == 200, r.text
    phases = r.json()["phases"]
    assert len(phases) == 3 and all(p["benchmarks"] for p in phases)
    hand = [s for s in phases[2]["steps"] if s["kind"] == "handover"]
    assert [s["base_id"] for s in hand] == ["MINUSCA:bambari"]
    doc = yaml.safe_load(text)
    assert len(phases[2]["benchmarks"]) == len(doc["phases"][2]["conditions"])
