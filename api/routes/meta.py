"""``/`` (the web map), ``/health`` and ``/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from api.auth import Caller, require
from api.deps import ServicesDep
from api.errors import error_responses
from api.mappage import DEMO_NAME, latest_active, map_html, pick_analysis, status_html
from api.security import html_page
from geo import __version__

__all__ = ["router"]

router = APIRouter(tags=["service"])


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ok", "version": __version__, "storage": "sqlite", "workers": 2, "instance": "srv_0123456789ab"}]})

    status: str
    version: str
    storage: str
    workers: int
    instance: str


class Me(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"key_id": "0123456789ab", "name": "ops room",
                                                               "role": "viewer"}]})

    key_id: str
    name: str
    role: str


@router.get("/health", response_model=Health, summary="Is the service up (no key needed)")
def health(s: ServicesDep) -> Health:
    return Health(status="ok", version=__version__, storage=s.storage.backend, workers=s.jobs.workers,
                  instance=s.jobs.instance_id)


@router.get("/me", dependencies=[Depends(require("viewer"))],
            response_model=Me, responses=error_responses(401), summary="The caller's key and role")
def me(who: Caller) -> Me:
    return Me(key_id=who.key_id, name=who.name, role=who.role)


@router.get("/", dependencies=[Depends(require("viewer"))], response_class=HTMLResponse, responses={
    200: {"content": {"text/html": {"example": "<!doctype html><html>... the operations map ...</html>"}}},
    **error_responses(401, 404)}, summary="The web map of an analysis")
async def index(s: ServicesDep, who: Caller,
                analysis: Annotated[str | None, Query(description="analysis id (default: the demo, else the newest "
                                                                  "finished one)")] = None) -> HTMLResponse:
    """The operations map: gap tiles over a basemap, admin areas, zones, events, sites and
    (planner) bases. While the first analysis runs, a page that refreshes itself."""
    job = pick_analysis(s.storage, analysis, DEMO_NAME if s.settings.demo else None)
    if job is None or job.status != "done":
        return html_page(status_html(job or latest_active(s.storage)))
    page = await run_in_threadpool(map_html, s.storage, job, who)
    # its CSP: its inline scripts by hash, the vendored files, the basemaps; eval for leaflet-measure
    return html_page(page, unsafe_eval=True)
