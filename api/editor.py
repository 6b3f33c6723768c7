"""The planner's workspace in the browser: ``GET /editor``.

One HTML page and two vendored-free files of plain JavaScript and CSS
(``api/static/editor``), over Leaflet from ``maps/static`` (no build step, works with no
internet). The page draws the analysis' bases; a click closes, reduces or hands a base
over in the selected phase; every edit previews the plan at once (``POST /plans/preview``)
and shows, per phase, the gap after it beside the baseline, the new vacuum zones, the
sites losing cover, the admin units' change and the change against the previous phase.
Plans are saved (``/plans``, versioned), exported and imported as the CLI's YAML, and
submitted as a full scenario job. Planner role, like every plan route.
"""

from __future__ import annotations

import html
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from api.auth import require
from api.deps import ServicesDep
from api.errors import error_responses
from api.mappage import DEMO_NAME, MAP_ASSETS_URL, pick_analysis
from api.security import html_page

__all__ = ["EDITOR_ASSETS_URL", "editor_html", "router"]

EDITOR_ASSETS_URL = "/static/editor"

router = APIRouter(tags=["plans"])


def editor_html(analysis_id: str | None, analysis_name: str, as_of: str | None) -> str:
    """The page; the analysis it opens on is given to the script as a JSON data attribute."""
    from geo.benchmarks import METRICS

    cfg = html.escape(json.dumps({"analysis": analysis_id, "name": analysis_name, "as_of": as_of}), quote=True)
    metrics = "".join(f'<option value="{html.escape(k)}" title="{html.escape(v)}">{html.escape(k)}</option>'
                      for k, v in METRICS.items())
    title = f"Plan editor: {analysis_name}" if analysis_id else "Plan editor"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)} · Vacuum</title>
<link rel="stylesheet" href="{MAP_ASSETS_URL}/leaflet/leaflet.css">
<link rel="stylesheet" href="{EDITOR_ASSETS_URL}/editor.css">
<script src="{MAP_ASSETS_URL}/leaflet/leaflet.js"></script>
<script src="{MAP_ASSETS_URL}/sync/L.Map.Sync.js"></script>
<script src="{EDITOR_ASSETS_URL}/editor.js" defer></script>
</head><body data-config="{cfg}">
<aside id="side">
  <h1>Plan editor</h1>
  <p class="how">Click a base on the map to close, reduce or hand it over in the selected phase.
  The right map shows the gap after that phase; the left one the analysis as it is. Red outlines:
  new vacuum zones (cells rising into high or critical).</p>
  <p id="analysis"></p>
  <label>Plan name <input id="plan-name" value="New plan"></label>
  <section id="phases-box"><h2>Phases</h2><div id="phases"></div>
    <button id="add-phase" type="button">Add phase</button>
    <label class="slider">Phase <input id="phase-slider" type="range" min="1" max="1" value="1"></label>
    <details id="cond-box"><summary>Add a benchmark condition to the selected phase</summary>
      <select id="cond-metric" aria-label="condition">{metrics}</select>
      <select id="cond-unit" aria-label="where"><option value="">whole area</option></select>
      <select id="cond-op" aria-label="operator"><option>&lt;</option><option selected>&lt;=</option>
        <option>&gt;</option><option>&gt;=</option></select>
      <input id="cond-threshold" type="number" step="any" value="10000" aria-label="threshold">
      <button id="add-cond" type="button">Add condition</button></details>
  </section>
  <section id="actions"><button id="save" type="button">Save</button>
    <button id="export" type="button">Export YAML</button>
    <button id="submit" type="button">Run full scenario</button>
    <a id="brief" hidden>Download the briefing (PDF)</a>
    <a id="brief-html" hidden target="_blank" rel="noopener">the briefing as a page</a>
    <details><summary>Import YAML</summary><textarea id="import-text" rows="8"
      placeholder="paste a plan file (as vacuum scenario --plan reads)"></textarea>
      <button id="import" type="button">Import</button></details>
  </section>
  <div id="messages" role="status" aria-live="polite"></div>
  <section id="result"><h2>Result of the selected phase</h2>
    <table id="numbers"><thead><tr><th></th><th>after phase</th><th>vs previous</th></tr></thead><tbody></tbody></table>
    <h3>Benchmarks</h3><table id="benchmarks"><tbody></tbody></table>
    <h3>Sites losing cover</h3><ul id="sites"></ul>
    <h3>Admin units, largest rise of the mean gap</h3><table id="admin"><tbody></tbody></table>
  </section>
  <p id="timing"></p>
</aside>
<main id="maps"><div id="map-before" class="map"></div><div id="map-after" class="map"></div>
<div id="legend"></div></main>
</body></html>"""


@router.get("/editor", dependencies=[Depends(require("planner"))], response_class=HTMLResponse, responses={
    200: {"content": {"text/html": {"example": "<!doctype html><html>... the plan editor ...</html>"}}},
    **error_responses(401, 403, 404)}, summary="The plan editor in the browser (planner)")
def editor(s: ServicesDep, analysis: Annotated[str | None, Query(description="analysis id (default: the demo, "
                                                                              "else the newest finished one)")] = None
           ) -> HTMLResponse:
    job = pick_analysis(s.storage, analysis, DEMO_NAME if s.settings.demo else None)
    done = job is not None and job.status == "done"
    as_of = (job.result or {}).get("as_of") if done and job is not None else None
    return html_page(editor_html(job.id if done and job else None, job.name if job else "", as_of))
