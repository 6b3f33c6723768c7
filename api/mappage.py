"""The web map at ``/``: the operations map of an analysis, served with the service's tiles.

The page comes from ``maps.operations_map(analysis_dir, tiles=TileSource(...))`` (Folium).
Viewers get it built from a view of the folder without base positions, with the public
block gap, zones and admin table (:func:`api.products.viewer_folder`, :mod:`geo.public`). There is no fallback page: if ``maps`` cannot be
imported the server does not start, and if it fails on an analysis the request is a logged 500.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from api.auth import Identity
from api.products import viewer_folder
from api.storage import JobRecord, Storage

__all__ = ["DEMO_NAME", "MAP_ASSETS_URL", "pick_analysis", "map_builder", "map_html", "status_html", "latest_active"]

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


def map_builder() -> tuple[Callable[..., Any], type, Callable[..., str]]:
    """``(maps.operations_map, maps.TileSource, maps.render_html)``. An import error
    propagates: :func:`api.app.create_app` calls this, so a broken ``maps`` stops the
    server at startup instead of serving some other page."""
    from maps import TileSource, operations_map, render_html

    return operations_map, TileSource, render_html


def map_html(storage: Storage, job: JobRecord, who: Identity) -> str:
    """The operations map of ``job`` for ``who`` (cached per analysis and role). Whatever
    ``maps`` raises propagates: the service logs it and answers 500."""
    folder = storage.job_dir(job.kind, job.id)
    planner = who.can("planner")
    cache = storage.workspace / "cache" / "pages" / f"{job.id}-{'planner' if planner else 'viewer-public'}.html"
    if cache.is_file():
        return cache.read_text(encoding="utf-8")
    operations_map, TileSource, render_html = map_builder()
    base = f"/analyses/{job.id}"
    if planner:
        tiles = TileSource(url_template=f"{base}/tiles/{{surface}}/{{z}}/{{x}}/{{y}}.png",
                           tilejson_url=f"{base}/tilejson/{{surface}}.json",
                           geojson_urls={"zones": f"{base}/zones", "admin_summary": f"{base}/admin?format=geojson"},
                           brief_url=f"{base}/brief")
    else:  # the public block gap (geo.public) in the gap's place; zones and admin are the viewer's
        tiles = TileSource(url_template=f"{base}/tiles/gap_public/{{z}}/{{x}}/{{y}}.png",
                           tilejson_url=f"{base}/tilejson/gap_public.json",
                           geojson_urls={"zones": f"{base}/zones", "admin_summary": f"{base}/admin?format=geojson"},
                           brief_url=f"{base}/brief")  # the viewer-safe briefing, for a viewer
    src = folder if planner else viewer_folder(folder, storage.workspace / "cache" / "views")
    page = render_html(operations_map(src, tiles=tiles), "url", base_url=MAP_ASSETS_URL)
    page = page.replace("<head>", '<head>\n<link rel="icon" href="data:,">', 1)  # no favicon request
    from geo.export import atomic_path

    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return page


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
