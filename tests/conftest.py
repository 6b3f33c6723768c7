"""Shared test set-up: where the real data is, the one rule for "in CI", the demo analysis.

- :func:`in_ci` is the one rule for "in CI" (``CI`` set to 1/true/yes, any case; the same
  function as :func:`api.testing.in_ci`, which the PostGIS fixtures use). Every skip that
  depends on data or tools goes through :func:`skip_or_fail`: locally it skips, in CI it
  fails, so a green CI never hides a test that did not run.
- :data:`SHARED_DATA` is the project's real data sets: ``$VACUUM_SHARED_DATA``, else
  ``../shared/data`` next to the checkout. Tests that read it take the :func:`shared_data`
  fixture (``pytestmark = real_data`` or ``@real_data``).
- :func:`demo_analysis` runs the bundled demo (MINUSCA, CAR, 2020-10-31, 1 km) once per
  session into a temporary folder. Treat it as read-only: copy it (``shutil.copytree``) to
  change anything.
- :func:`server_factory` / :class:`VacuumServer` start `vacuum serve` in its own process;
  :func:`make_keys` and :func:`upload_demo_layers` give role keys and the demo's layers.
- ``events_in_window_by_hand`` and ``zones_by_hand`` compute what a planner would check in
  a written analysis straight from the data file and the gap COG, without the engine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from api.testing import ADMIN_KEY, in_ci

__all__ = ["ROOT", "DEMO", "DEMO_AS_OF", "SHARED_DATA", "in_ci", "skip_or_fail", "real_data",
           "VacuumServer", "DEMO_UPLOADS", "make_keys", "upload_demo_layers", "poll_job", "children", "alive",
           "events_in_window_by_hand", "zones_by_hand"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "minusca"
DEMO_AS_OF = date.fromisoformat(tomllib.loads((DEMO / "demo.toml").read_text())["run"]["as_of"])
SHARED_DATA = Path(os.environ.get("VACUUM_SHARED_DATA", "").strip() or ROOT.parent / "shared" / "data")


def skip_or_fail(reason: str) -> None:
    """Skip the test; in CI (:func:`in_ci`) fail it instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing prerequisite fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; skips (in CI: fails) when it is not there."""
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"shared real data not present at {SHARED_DATA} (set VACUUM_SHARED_DATA)")
    return SHARED_DATA


real_data = pytest.mark.usefixtures("shared_data")
"""Mark for tests that read :data:`SHARED_DATA`."""


@pytest.fixture(scope="session")
def demo_analysis(tmp_path_factory) -> Path:
    """The demo analysis folder (1 km, as `vacuum demo` writes it), computed once per session."""
    from cli.main import main

    out = tmp_path_factory.mktemp("demo") / "analysis"
    assert main(["demo", "--out", str(out), "--quiet", "--jobs", "2"]) == 0
    return out


# ------------------------------------------------------------------ the service in its own process

DEMO_UPLOADS = {
    "bases": ("bases_geopko_v2.1.csv", {"as_of": "2020-10-31"}),
    "events": ("events_ged_v23.1.csv", {}),
    "admin": ("admin1_naturalearth.geojson", {}),
    "roads": ("roads_trans_african_highway.geojson", {}),
    "towns": ("towns_geonames.csv", {}),
    "airports": ("airports_ourairports.csv", {}),
    "population": ("population_worldpop2020_density.tif", {"population_units": "density"}),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class VacuumServer:
    """`vacuum serve` in its own process on a free loopback port, with an httpx client;
    ready when /health answers. ``extra`` are more `serve` arguments (e.g. ``--demo``)."""

    def __init__(self, workspace: Path, log: Path, extra: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "VACUUM_ADMIN_KEY": ADMIN_KEY, "VACUUM_HEARTBEAT_S": "1"}
        env.pop("VACUUM_DATABASE_URL", None)
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workspace", str(workspace), "--workers", "1", "--log-level", "warning", *extra],
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
    """Start `vacuum serve` processes (``start(workspace, *extra)``); all are killed at the end,
    with any worker processes they leave (``start.leftovers``)."""
    started: list[VacuumServer] = []
    leftovers: set[int] = set()

    def start(workspace: Path, *extra: str) -> VacuumServer:
        s = VacuumServer(workspace, tmp_path / "serve.log", extra)
        started.append(s)
        return s

    start.leftovers = leftovers
    yield start
    for s in started:
        if s.proc.poll() is None:
            leftovers |= children(s.proc.pid)
        s.stop(signal.SIGKILL)
    for pid in leftovers:  # never leave worker processes behind, whatever happened
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def make_keys(http: httpx.Client) -> dict[str, dict[str, str]]:
    """Headers per role: the admin key, and a new viewer and planner key."""
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for role in ("viewer", "planner"):
        r = http.post("/keys", json={"name": f"e2e {role}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        out[role] = {"X-API-Key": r.json()["key"]}
    return out


def upload_demo_layers(http, headers, kinds) -> dict[str, str]:
    """Upload the demo files of ``kinds`` (keys of DEMO_UPLOADS) as layers; their ids by kind."""
    ids = {}
    for kind in kinds:
        name, fields = DEMO_UPLOADS[kind]
        with open(DEMO / name, "rb") as f:
            r = http.post("/layers", headers=headers, data={"kind": kind, **fields}, files={"file": (name, f)})
        assert r.status_code == 201, r.text
        ids[kind] = r.json()["id"]
    return ids


def poll_job(http, headers, job_id, until=("done", "failed", "interrupted"), timeout=120) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = http.get(f"/analyses/{job_id}", headers=headers).json()
        if st["status"] in until:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{job_id} never reached {until}: {st}")


# ------------------------------------------------------------------ expectations by hand


def events_in_window_by_hand(csv: Path, as_of: date, lookback_days: float, grid_tif: Path) -> pd.DataFrame:
    """UCDP GED rows with ``as_of - lookback_days <= date_start <= as_of`` whose point lies
    inside the footprint of ``grid_tif`` (read with rasterio, not the engine's grid)."""
    import rasterio
    from pyproj import Transformer

    ev = pd.read_csv(csv, usecols=["id", "date_start", "longitude", "latitude", "best"])
    d = pd.to_datetime(ev["date_start"]).dt.normalize()
    first = pd.Timestamp(as_of - timedelta(days=lookback_days))
    ev = ev[(d >= first) & (d <= pd.Timestamp(as_of))]
    with rasterio.open(grid_tif) as ds:
        to_grid = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True)
        x, y = to_grid.transform(ev["longitude"].to_numpy(), ev["latitude"].to_numpy())
        b = ds.bounds
    on_grid = (x >= b.left) & (x < b.right) & (y > b.bottom) & (y <= b.top)
    return ev[on_grid]


def zones_by_hand(gap_tif: Path, threshold: float, min_area_km2: float) -> np.ndarray:
    """Areas (km², largest first) of the 8-connected areas with gap >= ``threshold`` of at
    least ``min_area_km2`` in a gap COG, labelled with scipy.ndimage (docs/model.md)."""
    import rasterio
    from scipy import ndimage

    with rasterio.open(gap_tif) as ds:
        gap = ds.read(1, masked=True).astype(np.float64).filled(np.nan)
        assert ds.crs.linear_units in ("metre", "meter"), ds.crs
        cell_km2 = abs(ds.transform.a * ds.transform.e) / 1e6
    with np.errstate(invalid="ignore"):
        mask = gap >= threshold
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:] * cell_km2
    return np.sort(areas[areas >= min_area_km2 - 1e-9])[::-1]


@pytest.fixture(scope="session")
def served_demo(tmp_path_factory):
    """A small demo analysis served in-process with viewer and planner keys
    (:mod:`tests.served_analysis`), shared by the OGC API and HTTP-conventions tests."""
    from served_analysis import served_analysis

    with served_analysis(tmp_path_factory.mktemp("served")) as served:
        yield served
