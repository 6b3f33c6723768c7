"""The service as deployed: `vacuum serve` in its own process on loopback, spoken to over HTTP.

End to end (upload the demo layers, analyse at 5 km, poll, tiles, GeoPackage export) and a
restart: a job cut off by killing the server is reported `interrupted` by the next one."""

import signal
import time

import geopandas as gpd
import pandas as pd
import pytest
from conftest import (
    DEMO_AS_OF,
    DEMO_UPLOADS,
    alive,
    children,
    events_in_window_by_hand,
    make_keys,
    poll_job,
    upload_demo_layers,
    zones_by_hand,
)

from api.testing import DEMO
from geo.params import Params


def test_end_to_end_over_http(server_factory, tmp_path):
    srv = server_factory(tmp_path / "ws")
    http = srv.http
    keys = make_keys(http)
    ids = upload_demo_layers(http, keys["admin"], DEMO_UPLOADS)
    body = {"name": "e2e", "layers": ids, "as_of": "2020-10-31", "params": {"resolution_m": 5000}}
    r = http.post("/analyses", json=body, headers=keys["planner"])
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    t0 = time.monotonic()
    while (st := http.get(r.json()["status_url"], headers=keys["viewer"]).json())["status"] in ("queued", "running"):
        assert http.get("/health").status_code == 200  # the API answers while the job runs
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    assert st["status"] == "done", st
    # counted from the uploaded files, on the grid of the gap COG the job wrote
    p = Params()
    gap_tif = tmp_path / "ws" / "analyses" / job / "gap.tif"
    events = events_in_window_by_hand(DEMO / DEMO_UPLOADS["events"][0], DEMO_AS_OF, p.lookback_days, gap_tif)
    bases = pd.read_csv(DEMO / DEMO_UPLOADS["bases"][0])
    assert len(events) > 100 and len(bases) == 20
    assert st["result"]["bases"] == len(bases) and st["result"]["events_in_window"] == len(events)

    summary = http.get(f"/analyses/{job}/summary", headers=keys["viewer"]).json()
    assert summary["grid"]["resolution_m"] == 5000 and summary["terms_left_out"] == []
    zones = zones_by_hand(gap_tif, p.zone_threshold, p.zone_min_area_km2)
    assert summary["zones"]["count"] == len(zones)
    assert summary["zones"]["area_km2"] == pytest.approx(zones.sum())
    assert http.get(f"/analyses/{job}/tilejson/gap.json", headers=keys["viewer"]).status_code == 403
    tj = http.get(f"/analyses/{job}/tilejson/gap_public.json", headers=keys["viewer"])  # the 150 km block gap
    assert tj.status_code == 200, tj.text
    import morecantile

    w, s, e, n = tj.json()["bounds"]
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, 7)
    tile = http.get(tj.json()["tiles"][0].format(z=t.z, x=t.x, y=t.y), headers=keys["viewer"])
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png" and tile.content[:4] == b"\x89PNG"

    gpkg = http.get(f"/analyses/{job}/exports/vacuum.gpkg", headers=keys["planner"])
    assert gpkg.status_code == 200 and gpkg.content.startswith(b"SQLite format 3\x00")
    (tmp_path / "v.gpkg").write_bytes(gpkg.content)
    import pyogrio

    assert {"zones", "admin_summary", "bases", "events"} <= {n for n, _ in pyogrio.list_layers(tmp_path / "v.gpkg")}
    assert len(gpd.read_file(tmp_path / "v.gpkg", layer="admin_summary")) == 17
    assert http.get(f"/analyses/{job}/exports/vacuum.gpkg", headers=keys["viewer"]).status_code == 403
    page = http.get("/", headers=keys["viewer"])
    assert page.status_code == 200 and f"/analyses/{job}/tiles/" in page.text
    assert srv.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    from api.storage import StorageConfig

    st = StorageConfig(tmp_path / "ws", None).open()
    assert all(i.stopped_at for i in st.list_instances())  # the lifespan's shutdown ran


def test_a_job_cut_off_by_a_crash_is_interrupted_after_restart(server_factory, tmp_path):
    ws = tmp_path / "ws"
    srv = server_factory(ws)
    keys = make_keys(srv.http)
    ids = upload_demo_layers(srv.http, keys["admin"], ("bases", "admin"))
    quick = srv.http.post("/analyses", json={"layers": ids, "params": {"resolution_m": 5000}},
                          headers=keys["planner"]).json()["id"]
    assert poll_job(srv.http, keys["planner"], quick)["status"] == "done"
    slow = srv.http.post("/analyses", json={"layers": ids, "params": {"resolution_m": 500}},
                         headers=keys["planner"]).json()["id"]
    st = poll_job(srv.http, keys["planner"], slow, until=("running", "done", "failed"))
    assert st["status"] == "running", st
    workers = children(srv.proc.pid)
    server_factory.leftovers.update(workers)
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL  # no shutdown code runs

    t0 = time.monotonic()  # orphaned workers notice and stop (at their next progress report, or at once if idle)
    while any(alive(p) for p in workers) and time.monotonic() - t0 < 30:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), "worker processes outlived their server"

    srv2 = server_factory(ws)
    st = srv2.http.get(f"/analyses/{slow}", headers=keys["viewer"]).json()
    assert st["status"] == "interrupted" and "stopped before it finished" in st["error"], st
    assert not (ws / "analyses" / slow).exists()  # no half-written products
    done = srv2.http.get(f"/analyses/{quick}/summary", headers=keys["viewer"])  # results survive a restart
    assert done.status_code == 200 and done.json()["grid"]["resolution_m"] == 5000
    assert srv2.stop() in (0, -signal.SIGTERM)
