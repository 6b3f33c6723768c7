"""The served map in a real browser: headless Chromium (Debian's package) on loopback.

`vacuum serve --demo` runs in its own process; Chromium (driven by Playwright, using the
system browser, never a downloaded one) opens `/`. Basemap tiles from the internet are
unreachable here: the test ignores failures of non-loopback requests and checks that the
map works without them.
"""

import os
import shutil
import signal
import subprocess
import time
from urllib.parse import urlparse

import pytest
from conftest import ROOT, VacuumServer, alive, children, skip_or_fail

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        try:
            path = subprocess.run([str(ROOT / "scripts/ensure_chromium.sh")], check=True, capture_output=True,
                                  text=True, timeout=600).stdout.strip().splitlines()[-1]
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            skip_or_fail(f"chromium is not installed and scripts/ensure_chromium.sh failed: {exc}")
    return path


def _loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or url.startswith(("data:", "blob:"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    srv = VacuumServer(ws / "w", ws / "serve.log", ("--demo", "--demo-resolution", "2000"))
    try:
        t0 = time.monotonic()
        while True:  # until the demo analysis is done and / serves the map
            if srv.proc.poll() is not None:
                raise AssertionError(f"vacuum serve exited: {(ws / 'serve.log').read_text()[-3000:]}")
            jobs = srv.http.get("/analyses").json()
            if jobs and jobs[0]["status"] == "done":
                break
            if jobs and jobs[0]["status"] in ("failed", "interrupted"):
                raise AssertionError(f"demo analysis {jobs[0]['status']}: {jobs[0].get('error')}")
            if time.monotonic() - t0 > 180:
                raise AssertionError("the demo analysis did not finish in 180 s")
            time.sleep(0.5)
        yield srv.url
    finally:
        workers = children(srv.proc.pid)
        srv.stop()
        for pid in workers:  # never leave worker processes behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_served_map_loads_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    exe = _chromium()
    page_errors: list[str] = []
    console_errors: list[str] = []
    responses: list[tuple[int, str]] = []
    failed_local: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("console", lambda m: console_errors.append(f"{m.text} @ {m.location.get('url', '')}")
                    if m.type == "error" and _loopback(m.location.get("url", "") or served) and
                    "net::ERR_NAME_NOT_RESOLVED" not in m.text else None)
            page.on("response", lambda r: responses.append((r.status, r.url)))
            # Leaflet cancels tile requests it no longer needs (zoom, layer re-added): ERR_ABORTED is not a failure
            page.on("requestfailed", lambda r: failed_local.append(f"{r.url}: {r.failure}")
                    if _loopback(r.url) and "ERR_ABORTED" not in (r.failure or "") else None)
            page.goto(served + "/", wait_until="networkidle", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane path, "
                                   ".vacuumZones path, path.leaflet-interactive').length > 0", timeout=20_000)
            page.wait_for_timeout(500)
            overlays = [t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
            legend = page.locator(".vacuum-legend, .vl-legend, [class*=legend]").first.inner_text()
            page.screenshot(path=str(tmp_path / "served_map.png"))
        finally:
            browser.close()

    assert page_errors == [], f"JavaScript errors: {page_errors}"
    assert console_errors == [], f"console errors from the page: {console_errors}"
    assert failed_local == [], f"loopback requests that failed: {failed_local}"
    local = [(s, u) for s, u in responses if _loopback(u)]
    tiles = [(s, u) for s, u in local if "/tiles/gap_public/" in u]  # a viewer's page: the public block gap
    assert len(tiles) >= 4 and all(s == 200 for s, _ in tiles), f"gap tiles: {tiles[:10]}"
    geojson = [(s, u) for s, u in local if u.endswith("/zones") or "admin?format=geojson" in u]
    assert {urlparse(u).path.rsplit("/", 1)[-1] for _, u in geojson} == {"zones", "admin"}
    assert all(s == 200 for s, _ in geojson), geojson
    assert all(s == 200 for s, u in local if "/static/maps/" in u)
    # every layer named in the legend is a layer of the layer switcher
    for name in ("Coverage gap (0-100)", "Admin outlines", "Vacuum zones", "Recent events", "Towns and airports"):
        assert any(o.startswith(name) for o in overlays), (name, overlays)
        assert name in legend, (name, legend)
    for cls in ("low", "moderate", "elevated", "high", "critical"):
        assert cls in legend


def test_api_docs_render_offline_under_their_csp(served):
    """/docs draws the API from the vendored files alone, with no CSP violation and no request
    leaving this machine."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: outside.append(r.url)
                    if not (_loopback(r.url) or r.url.startswith(("data:", "blob:"))) else None)
            page.goto(served + "/docs", wait_until="networkidle", timeout=60_000)
            page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        finally:
            browser.close()
    assert errors == [], errors
    assert outside == [], outside
