"""The commander's briefing over HTTP: ``GET /analyses/{id}/brief`` and ``GET /scenarios/{id}/brief``.

Rendered on first request by :mod:`maps.brief` from the stored folders (nothing is written
into them; the result is kept in ``workspace/cache/briefs/``, as the map pages are), as PDF
(default) or one self-contained HTML page (``?format=html``).

Roles: a viewer asking for an analysis' briefing gets the viewer-safe one (the 150 km
block gap, no base drawn or named; :mod:`geo.public`), whatever it asks; a planner gets the
full one, or the viewer-safe one with ``?public=true`` (to hand on). A scenario's briefing
names the bases a plan closes, so it is for planners only, like every scenario product.
Each briefing served is audited (``brief``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from api.analyses import finished_folder, job_of_kind
from api.auth import Caller, audit, require
from api.deps import ServicesDep
from api.errors import NotFoundError, error_responses
from api.security import html_page

__all__ = ["router", "brief_response"]

BriefFormat = Literal["pdf", "html"]
_FORMAT = Annotated[BriefFormat, Query(description="pdf (default) or html (one self-contained page)")]
_PUBLIC = Annotated[bool, Query(description="planners: the viewer-safe briefing instead (viewers always get it)")]
_RESPONSES = {200: {"description": "the briefing",
                    "content": {"application/pdf": {"example": "(binary PDF)"},
                                "text/html": {"example": "<!DOCTYPE html><html>... the briefing ...</html>"}}}}

router = APIRouter(tags=["analyses"])


def brief_response(data: bytes, fmt: BriefFormat, filename: str) -> Response:
    """The briefing as a download (PDF) or a page with its own content security policy (HTML)."""
    if fmt == "html":
        return html_page(data.decode("utf-8"))
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.pdf"',
                             "Cache-Control": "private, no-store"})


def _render(cache: Path, analysis_dir: Path, scenario_dir: Path | None, public: bool, fmt: BriefFormat) -> bytes:
    """The briefing's bytes, drawn once per job, variant and format: a finished job's folders
    never change, so ``workspace/cache/briefs/`` keeps what was drawn (like the map pages)."""
    if cache.is_file():
        return cache.read_bytes()
    from geo.export import atomic_path
    from maps.brief import build_briefing, render

    data = render(build_briefing(analysis_dir, scenario_dir, public=public), fmt)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        tmp.write_bytes(data)
    return data


def _cache(s, job_id: str, public: bool, fmt: BriefFormat) -> Path:
    return s.storage.workspace / "cache" / "briefs" / f"{job_id}-{'public' if public else 'full'}.{fmt}"


@router.get("/analyses/{analysis_id}/brief", dependencies=[Depends(require("viewer"))], response_class=Response,
            responses={**_RESPONSES, **error_responses(401, 404, 409)},
            summary="The briefing of an analysis (viewers: the viewer-safe one)")
async def analysis_brief(analysis_id: Annotated[str, PathParam(examples=["an_0123456789ab"])], s: ServicesDep,
                         who: Caller, format: _FORMAT = "pdf", public: _PUBLIC = False) -> Response:
    folder = finished_folder(s.storage, analysis_id, "analysis")
    public = public or not who.can("planner")
    data = await run_in_threadpool(_render, _cache(s, analysis_id, public, format), folder, None, public, format)
    audit(s.storage, who, "brief", analysis_id, format=format, public=public)
    return brief_response(data, format, f"briefing-{analysis_id}" + ("-public" if public else ""))


@router.get("/scenarios/{scenario_id}/brief", dependencies=[Depends(require("planner"))], response_class=Response,
            responses={**_RESPONSES, **error_responses(401, 403, 404, 409)},
            summary="The briefing of a scenario (planner)")
async def scenario_brief(scenario_id: Annotated[str, PathParam(examples=["sc_0123456789ab"])], s: ServicesDep,
                         who: Caller, format: _FORMAT = "pdf") -> Response:
    folder = finished_folder(s.storage, scenario_id, "scenario")
    job = job_of_kind(s.storage, scenario_id, "scenario")
    analysis_id = (job.request or {}).get("analysis_id")
    if not analysis_id:
        raise NotFoundError(f"scenario {scenario_id!r} names no analysis; its briefing cannot be drawn")
    analysis = finished_folder(s.storage, str(analysis_id), "analysis")
    data = await run_in_threadpool(_render, _cache(s, scenario_id, False, format), analysis, folder, False, format)
    audit(s.storage, who, "brief", scenario_id, format=format, analysis=analysis_id)
    return brief_response(data, format, f"briefing-{scenario_id}")
