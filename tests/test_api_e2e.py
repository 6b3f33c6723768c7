"""The service as deployed: `vacuum serve` in its own process on loopback, spoken to over HTTP.

End to end (upload the demo layers, analyse at 5 km, poll, tiles, GeoPackage export) and a
restart: a job cut off by killing the server is reported `interrupted` by the next one."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import httpx
import pandas as pd
import pytest
from conftest import DEMO_AS_OF, events_in_window_by_hand, zones_by_hand

from api.testing import ADMIN_KEY, DEMO, ROOT
from geo.params import Params

DEMO_UPLOADS = {
    "bases": ("bases_geopko_v2.1.csv", {"as_of": "2020-10-31"}),
    "events": ("events_ged_v23.1.csv", {}),
    "admin": ("admin1_naturalearth.geojson", {}),
    "roads": ("roads_trans_african_highway.geojson", {}),
    "towns": ("towns_geonames.csv", {}),
    "airports": ("airports_ourairports.csv", {}),
    "population": ("population_worldpop2020_density.tif", {"population_units": "density"}),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Server:
    def __init__(self, workspace: Path, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "VACUUM_ADMIN_KEY": ADMIN_KEY, "VACUUM_HEARTBEAT_S": "1"}
        env.pop("VACUUM_DATABASE_URL", None)
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workspace", str(workspace), "--workers", "1", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"vacuum serve exited {self.proc.returncode}: {log.read_text()[-3000:]}")
            try:
                if self.http.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - t0 > 60:
                raise AssertionError(f"vacuum serve did not answer in 60 s: {log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self.http.close()
            self.log.close()


@pytest.fixture
def server_factory(tmp_path):
    started: list[Server] = []
    leftovers: set[int] = set()

    def start(workspace: Path) -> Server:
        s = Server(workspace, tmp_path / "serve.log")
        started.append(s)
        return s

    start.leftovers = leftovers
    yield start
    for s in started:
        if s.proc.poll() is None:
            leftovers |= _children(s.proc.pid)
        s.stop(signal.SIGKILL)
    for pid in leftovers:  # never leave worker processes behind, whatever happened
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _keys(http: httpx.Client) -> dict[str, dict[str, str]]:
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for role in ("viewer", "planner"):
        r = http.post("/keys", json={"name": f"e2e {role}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        out[role] = {"X-API-Key": r.json()["key"]}
    return out


def _upload(http, headers, kinds) -> dict[str, str]:
    ids = {}
    for kind in kinds:
        name, fields = DEMO_UPLOADS[kind]
        with open(DEMO / name, "rb") as f:
            r = http.post("/layers", headers=headers, data={"kind": kind, **fields}, files={"file": (name, f)})
        assert r.status_code == 201, r.text
        ids[kind] = r.json()["id"]
    return ids


def _poll(http, headers, job_id, until=("done", "failed", "interrupted"), timeout=120) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = http.get(f"/analyses/{job_id}", headers=headers).json()
        if st["status"] in until:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{job_id} never reached {until}: {st}")


def test_end_to_end_over_http(server_factory, tmp_path):
    srv = server_factory(tmp_path / "ws")
    http = srv.http
    keys = _keys(http)
    ids = _upload(http, keys["admin"], DEMO_UPLOADS)
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
    tj = http.get(f"/analyses/{job}/tilejson/gap.json", headers=keys["viewer"])
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
    keys = _keys(srv.http)
    ids = _upload(srv.http, keys["admin"], ("bases", "admin"))
    quick = srv.http.post("/analyses", json={"layers": ids, "params": {"resolution_m": 5000}},
                          headers=keys["planner"]).json()["id"]
    assert _poll(srv.http, keys["planner"], quick)["status"] == "done"
    slow = srv.http.post("/analyses", json={"layers": ids, "params": {"resolution_m": 500}},
                         headers=keys["planner"]).json()["id"]
    st = _poll(srv.http, keys["planner"], slow, until=("running", "done", "failed"))
    assert st["status"] == "running", st
    workers = _children(srv.proc.pid)
    server_factory.leftovers.update(workers)
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL  # no shutdown code runs

    t0 = time.monotonic()  # orphaned workers notice and stop (at their next progress report, or at once if idle)
    while any(_alive(p) for p in workers) and time.monotonic() - t0 < 30:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "worker processes outlived their server"

    srv2 = server_factory(ws)
    st = srv2.http.get(f"/analyses/{slow}", headers=keys["viewer"]).json()
    assert st["status"] == "interrupted" and "stopped before it finished" in st["error"], st
    assert not (ws / "analyses" / slow).exists()  # no half-written products
    done = srv2.http.get(f"/analyses/{quick}/summary", headers=keys["viewer"])  # results survive a restart
    assert done.status_code == 200 and done.json()["grid"]["resolution_m"] == 5000
    assert srv2.stop() in (0, -signal.SIGTERM)
