"""Monitors as jobs of the service (TestClient, a real worker process): submit, poll, the
series and alerts by role, /alerts as JSON and as an Atom feed, and a viewer who fetches
everything a monitor offers and looks for the bases in it."""

from __future__ import annotations

import json
import re
import time
from xml.etree import ElementTree as ET

import pandas as pd
import pytest
from conftest import DEMO, upload_demo_layers
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.testing import ADMIN_KEY

pytestmark = pytest.mark.slow

DATES = ["2020-07-31", "2020-10-31"]
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    s = Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(s)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client):
    out = {"admin": {"X-API-Key": ADMIN_KEY}}
    for role in ("viewer", "planner"):
        r = client.post("/keys", json={"name": f"mon {role}", "role": role}, headers=out["admin"])
        out[role] = {"X-API-Key": r.json()["key"]}
    return out


@pytest.fixture(scope="module")
def monitor(client, keys):
    layers = upload_demo_layers(client, keys["admin"], ("bases", "events", "admin"))
    # rise_points tiny: every unit whose forecast risk rises between the dates alerts
    body = {"name": "demo monthly", "layers": layers, "dates": DATES,
            "params": {"resolution_m": 20000, "forecast_model": "logistic"}, "alerts": {"rise_points": 0.001}}
    r = client.post("/monitors", json=body, headers=keys["planner"])
    assert r.status_code == 202, r.text
    url = r.json()["status_url"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 240:
        st = client.get(url, headers=keys["viewer"]).json()
        if st["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert st["status"] == "done", st
    return st


def test_the_job_runs_every_date(client, keys, monitor):
    assert monitor["kind"] == "monitor" and monitor["result"]["dates"] == 2
    tab = pd.DataFrame(client.get(f"/monitors/{monitor['id']}/series", headers=keys["planner"]).json())
    assert sorted(tab["date"].unique()) == DATES
    assert {"gap_max", "people_lost_cover"} <= set(tab.columns)


def test_alerts_follow_the_series_and_the_role(client, keys, monitor):
    tab = pd.DataFrame(client.get(f"/monitors/{monitor['id']}/series", headers=keys["planner"]).json())
    wide = tab.pivot(index="unit_id", columns="date", values="risk_mean")
    rising = set(wide.index[(wide[DATES[1]] - wide[DATES[0]]) * 100 >= 0.001])
    assert rising, "the demo's risk rises somewhere between the two dates"
    planner = client.get("/alerts", headers=keys["planner"]).json()
    viewer = client.get("/alerts", headers=keys["viewer"]).json()
    assert {a["unit_id"] for a in planner if a["rule"] == "rise" and a["metric"] == "risk_mean"} == rising
    allowed = [a for a in planner if a["metric"] == "risk_mean" or a["rule"] == "new_zone"]
    assert sorted(a["alert_id"] for a in viewer) == sorted(a["alert_id"] for a in allowed)
    assert all(a["rule"] != "uncovered" and a["metric"] != "gap_max" for a in viewer)
    one = next(a for a in viewer if a["rule"] == "rise")
    row = tab[(tab["unit_id"] == one["unit_id"]) & (tab["date"] == one["date"])].iloc[0]
    assert one["after"] == pytest.approx(row["risk_mean"])
    assert one["event_ids"] == ([] if pd.isna(row["event_ids"]) else str(row["event_ids"]).split(";"))


def test_alert_filters(client, keys, monitor):
    every = client.get("/alerts", headers=keys["planner"]).json()
    unit = every[0]["unit_id"]
    got = client.get("/alerts", params={"unit": unit}, headers=keys["planner"]).json()
    assert got and {a["unit_id"] for a in got} == {unit}
    late = client.get("/alerts", params={"since": DATES[1]}, headers=keys["planner"]).json()
    assert late and all(a["date"] >= DATES[1] for a in late)
    high = client.get("/alerts", params={"severity": "high"}, headers=keys["planner"]).json()
    assert [a["alert_id"] for a in high] == [a["alert_id"] for a in every if a["severity"] == "high"]


def test_atom_feed_parses_with_one_entry_per_alert(client, keys, monitor):
    want = client.get("/alerts", headers=keys["viewer"]).json()
    for how in ({"params": {"format": "atom"}}, {"headers": {"Accept": "application/atom+xml"}}):
        headers = {**keys["viewer"], **how.get("headers", {})}
        r = client.get("/alerts", params=how.get("params"), headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        feed = ET.fromstring(r.content)
        assert feed.tag == f"{ATOM}feed"
        ids = [e.find(f"{ATOM}id").text for e in feed.findall(f"{ATOM}entry")]
        assert sorted(ids) == sorted(f"urn:vacuum:alert:{monitor['id']}:{a['alert_id']}" for a in want)


def test_a_viewer_finds_no_base_in_anything_a_monitor_offers(client, keys, monitor):
    bases = pd.read_csv(DEMO / "bases_geopko_v2.1.csv")
    mid = monitor["id"]
    texts = []
    for url, params in ((f"/monitors/{mid}", None), ("/monitors", None), (f"/monitors/{mid}/series", None),
                        (f"/monitors/{mid}/series", {"format": "csv"}), (f"/monitors/{mid}/alerts", None),
                        ("/alerts", None), ("/alerts", {"format": "atom"})):
        r = client.get(url, params=params, headers=keys["viewer"])
        assert r.status_code == 200, (url, r.text)
        texts.append(r.text)
    assert client.get(f"/monitors/{mid}/charts/overview.png", headers=keys["viewer"]).status_code == 403
    blob = "\n".join(texts)
    series = pd.read_csv(pd.io.common.StringIO(texts[3]))
    assert "gap_max" not in series.columns and "coverage_mean" not in series.columns
    for lon, lat in zip(bases["longitude"], bases["latitude"], strict=True):
        for v in (lon, lat):
            assert not re.search(rf"(?<![\d.]){abs(v):.3f}", blob), v
    names = {"MINUSCA-" + str(x) for x in bases["location"]}
    assert not any(n in blob for n in names)
    assert "base" not in json.dumps(client.get(f"/monitors/{mid}/alerts", headers=keys["viewer"]).json()[:50]).lower()


def test_the_monitoring_map_steps_through_the_dates_by_role(client, keys, monitor):
    mid = monitor["id"]
    planner = client.get(f"/monitors/{mid}/map", headers=keys["planner"])
    viewer = client.get(f"/monitors/{mid}/map", headers=keys["viewer"])
    assert planner.status_code == viewer.status_code == 200
    for page in (planner.text, viewer.text):
        assert json.dumps(DATES) in page and 'id="vm-slider"' in page
        assert len(re.findall(r'L\.imageOverlay\(\s*"data:image/png;base64,', page)) == 2 * len(DATES)  # gap, risk
    assert "coverage gap (150 km blocks)" in viewer.text and "coverage gap (150 km blocks)" not in planner.text
    # the alerts a viewer may not see are not on the viewer's map
    hidden = [a["message"] for a in client.get("/alerts", headers=keys["planner"]).json()
              if a["metric"] != "risk_mean" and a["rule"] != "new_zone"]
    assert all(m not in viewer.text for m in hidden)
