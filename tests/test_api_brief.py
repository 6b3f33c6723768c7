"""The briefing routes (api/brief.py): viewers get the viewer-safe briefing of an analysis and
nothing of scenarios; planners get the full one, and a scenario's as PDF; each one audited."""

from __future__ import annotations

import io
import shutil

import pytest
from brief_case import BASES, make_small_case
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api.app import create_app
from api.settings import Settings
from api.storage import JobRecord, new_id
from api.testing import ADMIN_KEY

BASE_NAMES = [b[0] for b in BASES]  # Kilo, Lima, Mike: no admin unit or town is called so


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    s = Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(s)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client):
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for role in ("viewer", "planner"):
        r = client.post("/keys", json={"name": f"brief {role}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        out[role] = {"X-API-Key": r.json()["key"]}
    return out


@pytest.fixture(scope="module")
def stored(client, tmp_path_factory):
    """The small case's analysis and scenario folders, stored as two finished jobs."""
    case = make_small_case(tmp_path_factory.mktemp("case"))
    storage = client.app.state.services.storage
    ids = {}
    for kind, prefix, folder, request in (("analysis", "an", "analysis", {}), ("scenario", "sc", "scenario", None)):
        job = storage.create_job(JobRecord(id=new_id(prefix), kind=kind,
                                           request=request if request is not None else {"analysis_id": ids["analysis"]},
                                           status="running"))
        shutil.copytree(case / folder, storage.job_dir(kind, job.id), dirs_exist_ok=True)
        storage.finish_job(job.id, "done", result={})
        ids[kind] = job.id
    return ids


def test_a_viewer_gets_the_viewer_safe_briefing_whatever_it_asks(client, keys, stored):
    for query in ("?format=html", "?format=html&public=false"):
        r = client.get(f"/analyses/{stored['analysis']}/brief{query}", headers=keys["viewer"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "viewer-safe" in r.text and "Content-Security-Policy" in r.headers
        assert not any(n in r.text for n in BASE_NAMES)


def test_a_planner_gets_the_full_briefing_or_asks_for_the_public_one(client, keys, stored):
    full = client.get(f"/analyses/{stored['analysis']}/brief", headers=keys["planner"])
    assert full.status_code == 200 and full.headers["content-type"] == "application/pdf"
    assert full.content.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(full.content)).pages)
    assert "viewer-safe" not in text and "Situation" in text
    pub = client.get(f"/analyses/{stored['analysis']}/brief?format=html&public=true", headers=keys["planner"])
    assert pub.status_code == 200 and "viewer-safe" in pub.text


def test_a_scenario_briefing_is_for_planners_and_audited(client, keys, stored):
    r = client.get(f"/scenarios/{stored['scenario']}/brief", headers=keys["planner"])
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    assert r.headers["content-disposition"] == f'attachment; filename="briefing-{stored["scenario"]}.pdf"'
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "Mike" in text and "Kilo" in text  # the plan closes them (closing order, criticality)
    cached = client.app.state.services.storage.workspace / "cache" / "briefs" / f"{stored['scenario']}-full.pdf"
    assert cached.read_bytes() == r.content  # drawn once; the next request reads it
    again = client.get(f"/scenarios/{stored['scenario']}/brief", headers=keys["planner"])
    assert again.content == r.content
    denied = client.get(f"/scenarios/{stored['scenario']}/brief", headers=keys["viewer"])
    assert (denied.status_code, denied.json()["error"]) == (403, "PermissionDeniedError")
    audit = client.get("/audit?action=brief", headers=keys["admin"]).json()
    assert stored["scenario"] in [a["target"] for a in audit]


def test_unknown_ids_and_formats_are_refused(client, keys, stored):
    r = client.get("/analyses/an_nope/brief", headers=keys["planner"])
    assert r.status_code == 404 and "an_nope" in r.json()["detail"]
    r = client.get(f"/analyses/{stored['analysis']}/brief?format=docx", headers=keys["planner"])
    assert r.status_code == 422
    r = client.get(f"/scenarios/{stored['analysis']}/brief", headers=keys["planner"])
    assert r.status_code == 404 and "it is an analysis" in r.json()["detail"]
