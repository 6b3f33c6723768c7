"""The served map in a real browser: headless Chromium (Debian's package) on loopback.

`vacuum serve --demo` runs in its own process; Chromium (driven by Playwright, using the
system browser, never a downloaded one) opens `/`. Basemap tiles from the internet are
unreachable here: the test ignores failures of non-loopback requests and checks that the
map works without them.
"""

import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

import httpx
import pytest

from api.testing import ROOT

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
            if os.environ.get("CI") == "true":
                raise AssertionError(f"chromium could not be installed for the browser test: {exc}") from exc
            pytest.skip("chromium is not installed (scripts/ensure_chromium.sh)")
    return path


def _loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or url.startswith(("data:", "blob:"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = tmp_path_factory.mktemp("ws")
    log = open(ws / "serve.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ}
    env.pop("VACUUM_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--demo", "--demo-resolution", "2000",
                             "--host", "127.0.0.1", "--port", str(port), "--workspace", str(ws / "w"),
                             "--workers", "1", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            t0 = time.monotonic()
            while True:  # until the demo analysis is done and / serves the map
                if proc.poll() is not None:
                    raise AssertionError(f"vacuum serve exited: {(ws / 'serve.log').read_text()[-3000:]}")
                try:
                    jobs = http.get("/analyses").json()
                    if jobs and jobs[0]["status"] == "done":
                        break
                    if jobs and jobs[0]["status"] in ("failed", "interrupted"):
                        raise AssertionError(f"demo analysis {jobs[0]['status']}: {jobs[0].get('error')}")
                except httpx.TransportError:
                    pass
                if time.monotonic() - t0 > 180:
                    raise AssertionError("the demo analysis did not finish in 180 s")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
    tiles = [(s, u) for s, u in local if "/tiles/gap/" in u]
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
