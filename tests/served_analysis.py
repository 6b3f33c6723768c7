"""One small analysis of the bundled demo served in-process, for the OGC API and HTTP tests.

:func:`served_analysis` starts the app (SQLite workspace, one worker), uploads the demo
layers as the admin, makes a viewer and a planner key and runs the demo analysis at
:data:`RESOLUTION_M` with a plain logistic forecast (:data:`PARAMS`, a few seconds rather
than the 1 km demo's half minute). :func:`live_server` serves the same app object over
HTTP on a loopback port (uvicorn in a thread), for clients that speak HTTP only (OWSLib).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.storage import ACTIVE_STATUSES
from api.testing import ADMIN_KEY, DEMO

__all__ = ["Served", "served_analysis", "live_server", "RESOLUTION_M", "PARAMS", "UPLOADS"]

RESOLUTION_M = 10_000.0
PARAMS = {"resolution_m": RESOLUTION_M, "forecast_model": "logistic", "forecast_train_years": 3.0}
UPLOADS = {
    "bases": ("bases_geopko_v2.1.csv", {"as_of": "2020-10-31"}),
    "events": ("events_ged_v23.1.csv", {}),
    "admin": ("admin1_naturalearth.geojson", {}),
    "roads": ("roads_trans_african_highway.geojson", {}),
    "towns": ("towns_geonames.csv", {}),
    "airports": ("airports_ourairports.csv", {}),
    "population": ("population_worldpop2020_density.tif", {"population_units": "density"}),
}


@dataclass
class Served:
    client: TestClient
    analysis_id: str
    keys: dict[str, dict[str, str]]
    """Headers per role: ``viewer``, ``planner``, ``admin``."""


@contextlib.contextmanager
def served_analysis(workspace: Path) -> Iterator[Served]:
    s = Settings(workspace=workspace, admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(s)) as c:
        admin = {"X-API-Key": ADMIN_KEY}
        keys = {"admin": admin}
        for role in ("viewer", "planner"):
            r = c.post("/keys", json={"name": f"ogc {role}", "role": role}, headers=admin)
            assert r.status_code == 201, r.text
            keys[role] = {"X-API-Key": r.json()["key"]}
        ids = {}
        for kind, (name, fields) in UPLOADS.items():
            r = c.post("/layers", headers=admin, data={"kind": kind, **fields},
                       files={"file": (name, (DEMO / name).read_bytes())})
            assert r.status_code == 201, r.text
            ids[kind] = r.json()["id"]
        r = c.post("/analyses", headers=admin, json={"name": "OGC test", "layers": ids, "as_of": "2020-10-31",
                                                      "params": PARAMS})
        assert r.status_code == 202, r.text
        aid = r.json()["id"]
        deadline = time.monotonic() + 300
        while (st := c.get(f"/analyses/{aid}", headers=admin).json())["status"] in ACTIVE_STATUSES:
            assert time.monotonic() < deadline, "the analysis did not finish in 300 s"
            time.sleep(0.3)
        assert st["status"] == "done", st
        yield Served(c, aid, keys)


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` serving ``app`` (its lifespan already run by a TestClient)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
