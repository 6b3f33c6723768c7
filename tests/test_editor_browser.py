"""The plan editor in a real browser (Debian's Chromium driven by Playwright, loopback only):
a planner closes two bases in two phases, sees the new zones and the numbers update, saves,
exports the plan and gets the same YAML back, runs the full scenario and downloads its
briefing. Screenshots of each step go to the test's temporary folder, or to
``$VACUUM_SCREENSHOTS`` (``VACUUM_SCREENSHOTS=docs/img`` refreshes docs/img/editor_*.png), so a
test run never changes tracked files; the click-to-map times are printed (bench/RESULTS.md
records them; no timing is asserted)."""

import io
import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VacuumServer, alive, children
from test_browser import CHROMIUM_ARGS, _chromium, _loopback

from api.storage import ACTIVE_STATUSES
from api.testing import ADMIN_KEY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    srv = VacuumServer(ws / "w", ws / "serve.log", ("--demo", "--demo-resolution", "2000"))
    try:
        t0 = time.monotonic()
        while True:
            jobs = srv.http.get("/analyses").json()
            if jobs and jobs[0]["status"] not in ACTIVE_STATUSES:
                break
            assert time.monotonic() - t0 < 240, "the demo analysis did not finish in 240 s"
            time.sleep(0.5)
        assert jobs[0]["status"] == "done", jobs[0]
        r = srv.http.post("/keys", json={"name": "browser planner", "role": "planner"},
                          headers={"X-API-Key": ADMIN_KEY})
        yield srv, {"X-API-Key": r.json()["key"]}, jobs[0]["id"]
    finally:
        workers = children(srv.proc.pid)
        srv.stop()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _click_base(page, base_id: str) -> None:
    """Click the base's marker where the right-hand map draws it, as a user would."""
    xy = page.evaluate("""(id) => { const ed = window.vacuumEditor; const m = ed.state.markers[id];
        const p = ed.after.latLngToContainerPoint(m.getLatLng());
        const r = document.getElementById('map-after').getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""", base_id)
    page.mouse.click(*xy)
    page.wait_for_selector(".base-popup", timeout=5_000)


def _wait_update(page, before: int) -> int:
    """Wait for the next drawn update (the page counts them in ``data-updates``). Selectors,
    not ``wait_for_function``: the page's CSP forbids the eval Playwright's polling uses."""
    page.wait_for_selector(f"body[data-updates='{before + 1}']", state="attached", timeout=60_000)
    return before + 1


def _number(page, label: str) -> str:
    return page.locator("#numbers tr", has_text=label).locator("td").first.inner_text()


def test_a_planner_builds_a_two_phase_plan_in_the_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright

    img = ROOT / os.environ["VACUUM_SCREENSHOTS"] if os.environ.get("VACUUM_SCREENSHOTS") else tmp_path

    srv, planner, analysis_id = served
    errors: list[str] = []
    outside: list[str] = []
    times_ms: list[int] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1500, "height": 900}, extra_http_headers=planner,
                                      accept_downloads=True)
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: outside.append(r.url) if not _loopback(r.url) else None)
            page.goto(srv.url + "/editor", wait_until="networkidle", timeout=60_000)
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)
            assert page.title().startswith("Plan editor: ")
            page.screenshot(path=str(img / "editor_1_open.png"))

            # phase 1: close Bria
            n = 0  # no preview yet: the plan's one phase has no steps
            _click_base(page, "MINUSCA:bria")
            page.locator(".base-popup button[data-act=close]").click()
            n = _wait_update(page, n)
            times_ms.append(int(page.locator("#timing").get_attribute("data-ms")))
            assert page.locator(".phase.selected .steps").inner_text().strip() == "close MINUSCA:bria"
            lost_1 = _number(page, "people losing cover")
            assert int(lost_1.replace(",", "")) > 0  # closing Bria's battalion uncovers people
            page.screenshot(path=str(img / "editor_2_phase1.png"))

            # phase 2: close Kaga-Bandoro
            page.locator("#add-phase").click()
            _click_base(page, "MINUSCA:kaga-bandoro")
            page.locator(".base-popup button[data-act=close]").click()
            n = _wait_update(page, n)
            times_ms.append(int(page.locator("#timing").get_attribute("data-ms")))
            assert page.evaluate("document.body.dataset.phaseShown") == "2"
            zones_2 = int(page.locator("#numbers tr", has_text="new zones (count)").locator("td").first.inner_text())
            assert zones_2 >= 1
            assert page.locator("#map-after path.leaflet-interactive[stroke='#b10026']").count() >= zones_2
            # the phase radio back to 1: the map and the numbers follow
            page.locator(".phase input[type=radio]").first.check()
            page.wait_for_selector("body[data-phase-shown='1']", state="attached")
            assert _number(page, "people losing cover") == lost_1
            page.locator(".phase input[type=radio]").nth(1).check()
            page.wait_for_selector("body[data-phase-shown='2']", state="attached")
            page.screenshot(path=str(img / "editor_3_phase2.png"))

            # a benchmark on phase 2: at most 1 person may lose cover; it fails, the phase would hold
            page.locator("#cond-box summary").click()
            page.locator("#cond-metric").select_option("people_losing_cover")
            page.locator("#cond-op").select_option("<=")
            page.locator("#cond-threshold").fill("1")
            n = int(page.evaluate("document.body.dataset.updates"))  # the radio choices above redrew the map too
            page.locator("#add-cond").click()
            n = _wait_update(page, n)
            row = page.locator("#benchmarks tr.fail")
            assert row.count() == 1 and "people_losing_cover" in row.inner_text() and "HOLD" in row.inner_text()
            assert "would HOLD" in page.locator("#messages").inner_text()
            page.screenshot(path=str(img / "editor_4_benchmark.png"))

            # save, then export: the YAML the CLI reads, the same as the API's
            page.locator("#save").click()
            page.wait_for_selector("body[data-version='1']", state="attached")
            plan_id = page.evaluate("document.body.dataset.planId")
            with page.expect_download() as dl:
                page.locator("#export").click()
            text = Path(dl.value.path()).read_text(encoding="utf-8")
            assert text == srv.http.get(f"/plans/{plan_id}/yaml", headers=planner).text
            doc = yaml.safe_load(text)
            assert [ph["actions"] for ph in doc["phases"]] == [[{"close": ["MINUSCA:bria"]}],
                                                                [{"close": ["MINUSCA:kaga-bandoro"]}]]
            assert doc["phases"][1]["conditions"] == [{"condition": "people_losing_cover", "op": "<=",
                                                       "threshold": 1.0}]

            # the full scenario, then its briefing
            page.locator("#submit").click()
            page.wait_for_selector("#brief:not([hidden])", timeout=180_000)
            page.screenshot(path=str(img / "editor_5_submitted.png"))
            with page.expect_download(timeout=120_000) as dl:
                page.locator("#brief").click()
            from pypdf import PdfReader

            pdf = Path(dl.value.path()).read_bytes()  # before the browser closes and removes it
            brief = "\n".join(p_.extract_text() for p_ in PdfReader(io.BytesIO(pdf)).pages)
        finally:
            browser.close()
    print(f"\nclick-to-map times (ms, request to overlay drawn): {times_ms}")
    assert pdf[:5] == b"%PDF-" and "Phase 2" in brief
    assert errors == [], errors
    assert outside == [], outside
