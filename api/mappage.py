"""The web map at ``/``: the operations map of an analysis, served with the service's tiles.

The page comes from ``maps.operations_map(analysis_dir, tiles=TileSource(...))`` (Folium).
Viewers get it built from a view of the folder without base positions
(:func:`api.products.viewer_folder`). Until ``maps`` offers ``operations_map`` — or if it
fails — a PLACEHOLDER page (plain Leaflet over the same tiles) is served instead; it says so.
"""

from __future__ import annotations

import html
import json
import logging

from api.auth import Identity
from api.products import viewer_folder
from api.storage import JobRecord, Storage

__all__ = ["DEMO_NAME", "pick_analysis", "map_html", "status_html", "latest_active"]

log = logging.getLogger("vacuum.api")

DEMO_NAME = "MINUSCA demo (October 2020)"
MAP_ASSETS_URL = "/static/maps"
"""Where the vendored Leaflet/plugin files of ``maps/static`` are served (``api.app`` mounts
them): the map page links them here, so it works with no internet."""


def pick_analysis(storage: Storage, analysis_id: str | None, prefer_name: str | None = None) -> JobRecord | None:
    """The analysis to show: the one asked for, else the newest done one named ``prefer_name``, else the newest done."""
    if analysis_id is not None:
        job = storage.get_job(analysis_id)
        if job.kind != "analysis":
            from api.errors import NotFoundError

            raise NotFoundError(f"no analysis {analysis_id!r}")
        return job
    done = storage.list_jobs(kind="analysis", statuses=("done",), limit=200)
    named = [j for j in done if prefer_name and j.name == prefer_name]
    pool = named or done
    return pool[0] if pool else None


def _operations_map():
    """``maps.operations_map`` and ``maps.TileSource`` if the maps package offers them."""
    try:
        import maps
    except ImportError:
        return None
    fn = getattr(maps, "operations_map", None)
    ts = getattr(maps, "TileSource", None)
    if fn is None or ts is None:
        try:
            from maps.operations import operations_map as fn
            from maps.tiles import TileSource as ts
        except ImportError:
            return None
    return fn, ts


def map_html(storage: Storage, job: JobRecord, who: Identity) -> str:
    folder = storage.job_dir(job.kind, job.id)
    planner = who.can("planner")
    cache = storage.workspace / "cache" / "pages" / f"{job.id}-{'planner' if planner else 'viewer'}.html"
    if cache.is_file():
        return cache.read_text(encoding="utf-8")
    page = None
    found = _operations_map()
    base = f"/analyses/{job.id}"
    if found is not None:
        operations_map, TileSource = found
        tiles = TileSource(url_template=f"{base}/tiles/{{surface}}/{{z}}/{{x}}/{{y}}.png",
                           tilejson_url=f"{base}/tilejson/{{surface}}.json",
                           geojson_urls={"zones": f"{base}/zones", "admin_summary": f"{base}/admin?format=geojson"})
        src = folder if planner else viewer_folder(folder, storage.workspace / "cache" / "views")
        try:
            from maps.assets import render_html

            page = render_html(operations_map(src, tiles=tiles), "url", base_url=MAP_ASSETS_URL)
            page = page.replace("<head>", '<head>\n<link rel="icon" href="data:,">', 1)  # no favicon request
        except Exception:
            log.exception("maps.operations_map failed for %s; serving the placeholder page", job.id)
    if page is None:
        page = _placeholder(job, base)
    else:
        from geo.export import atomic_path

        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            tmp.write_text(page, encoding="utf-8")
    return page


def _placeholder(job: JobRecord, base: str) -> str:
    """PLACEHOLDER map page (not the operations map): Leaflet with the gap tiles and zones."""
    title = html.escape(job.name or job.id)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Vacuum: {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{MAP_ASSETS_URL}/leaflet/leaflet.css">
<script src="{MAP_ASSETS_URL}/leaflet/leaflet.js"></script>
<style>html,body,#map{{height:100%;margin:0}} .note{{position:absolute;z-index:1000;top:8px;left:50px;
background:#fff;padding:6px 10px;font:13px sans-serif;border:1px solid #999}}</style></head>
<body><div id="map"></div>
<div class="note"><b>PLACEHOLDER map page</b> (api/mappage.py) — the operations map from <code>maps</code>
replaces it. {title}: <a href="{base}">status</a> · <a href="{base}/summary">summary</a> ·
<a href="/docs">API</a></div>
<script>
var map = L.map('map').setView([0, 20], 4);
fetch({json.dumps(base + "/tilejson/gap.json")}).then(r => r.json()).then(function (tj) {{
  L.tileLayer(tj.tiles[0], {{opacity: 0.75, minZoom: tj.minzoom, maxNativeZoom: tj.maxzoom}}).addTo(map);
  map.fitBounds([[tj.bounds[1], tj.bounds[0]], [tj.bounds[3], tj.bounds[2]]]);
}});
fetch({json.dumps(base + "/zones")}).then(r => r.json()).then(function (z) {{
  L.geoJSON(z, {{style: {{color: '#3f007d', weight: 2, fillOpacity: 0.1}}}}).addTo(map);
}});
</script></body></html>"""


def status_html(job: JobRecord | None) -> str:
    """A page for when there is nothing to map yet (refreshes itself while a job runs)."""
    if job is None:
        body = ("<p>No analysis yet. Upload layers (<code>POST /layers</code>) and submit one "
                "(<code>POST /analyses</code>); see <a href=\"/docs\">the API docs</a>.</p>")
        refresh = ""
    else:
        body = (f"<p>Analysis <a href=\"/analyses/{job.id}\">{html.escape(job.name or job.id)}</a> is "
                f"{job.status}" + (f": {html.escape(job.stage or '')} ({job.fraction:.0%})" if job.status == "running" else "")
                + (f" — {html.escape(job.error or '')}" if job.error else "") + ".</p>")
        refresh = '<meta http-equiv="refresh" content="2">' if job.status in ("queued", "running") else ""
    return (f"<!doctype html><html><head><meta charset=\"utf-8\">{refresh}<title>Vacuum</title></head>"
            f"<body style=\"font:15px sans-serif;margin:2em\"><h1>Vacuum</h1>{body}</body></html>")


def latest_active(storage: Storage) -> JobRecord | None:
    jobs = storage.list_jobs(kind="analysis", limit=1)
    return jobs[0] if jobs else None
