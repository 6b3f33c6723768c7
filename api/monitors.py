"""Monitors: the ``monitor`` job kind (:func:`geo.monitor.run_monitor` in a worker), its
routes, and ``GET /alerts`` over every finished monitor as JSON or an Atom feed.

What a viewer gets: alerts on the forecast risk of admin units and new vacuum zones (as
the unit and the zone's track id, never its outline), the events behind them, and the
risk columns of the series. Alerts and series columns computed from the coverage (the
gap, people losing cover) are for planners: with the dates of a closure they would tell
where a base was.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.analyses import (
    AnalysisLayers,
    AnalysisRequest,
    JobStatus,
    Submitted,
    cancel_job,
    check_request,
    finished_folder,
    job_of_kind,
)
from api.auth import Caller, audit, require
from api.deps import Page, ServicesDep
from api.errors import NotFoundError, RequestError, error_responses
from api.jobs import JobContext, JobKind, register_job_kind
from api.responses import CSV
from api.storage import JobRecord

__all__ = ["MonitorRequest", "run_monitor_job", "MONITOR_STAGES", "viewer_alert", "atom_feed", "VIEWER_SERIES",
           "ATOM"]

ATOM = "application/atom+xml"
MONITOR_STAGES: tuple[tuple[str, float], ...] = (("load_layers", 5), ("dates", 90), ("store", 5))
VIEWER_SERIES = ("unit_id", "name", "level", "date", "risk_mean", "risk_max", "events_in_window", "event_ids")
"""The series columns a viewer gets: forecast risk (event history only) and the events."""
_VIEWER_ALERT_FIELDS = ("alert_id", "date", "rule", "severity", "unit_id", "unit_name", "metric", "before", "after",
                        "before_date", "message", "event_ids", "zone")


class MonitorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "CAR monthly", "layers": {"bases": "ly_3f9a0c1b2d4e", "events": "ly_0a1b2c3d4e5f",
                                          "admin": "ly_9e8d7c6b5a41"},
        "start": "2020-01-31", "end": "2020-10-31", "every": "1M", "params": {"resolution_m": 5000},
        "alerts": {"rise_points": 10}}]})

    name: str = Field("", max_length=200)
    layers: AnalysisLayers
    dates: list[date] | None = Field(None, description="the as-of dates (instead of start/end/every)")
    start: date | None = None
    end: date | None = None
    every: str = Field("1M", description="1M, 3M, 1Y ...")
    max_dates: int = Field(240, ge=1, le=2000)
    params: dict[str, Any] = Field(default_factory=dict)
    alerts: dict[str, Any] = Field(default_factory=dict, description="alert rules (docs/monitoring.md)")
    surfaces_only: bool = True
    bbox: tuple[float, float, float, float] | None = None
    crs: str | None = None

    def as_dates(self) -> list[date]:
        from geo.monitor import check_dates, monitor_dates, parse_every

        if self.dates:
            out = list(self.dates)
        elif self.start is not None:
            out = monitor_dates(self.start, self.end or self.start, parse_every(self.every))
        else:
            raise RequestError("give dates [...] or start (and end, every)")
        check_dates(out, self.max_dates)
        return out


def _check(storage, req: MonitorRequest, max_cells: int | None) -> dict[str, Any]:
    from geo.alerts import alert_rules

    if req.layers.admin is None:
        raise RequestError("layers.admin: a monitor needs admin units (its series are per unit)")
    dates = req.as_dates()
    one = AnalysisRequest(name=req.name, layers=req.layers, as_of=dates[-1], params=req.params, bbox=req.bbox,
                          crs=req.crs)
    check_request(storage, one, max_cells=max_cells)
    alert_rules(req.alerts)
    return req.model_dump(mode="json")


def run_monitor_job(ctx: JobContext, request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a worker: stored layers -> run_monitor -> the monitoring folder."""
    from geo.alerts import alert_rules
    from geo.inputs import InputSpec, analysis_crs
    from geo.monitor import run_monitor
    from geo.params import load_params
    from geo.types import BBox

    req = MonitorRequest.model_validate(request)
    ctx.progress("load_layers", 0.0)
    lay = req.layers
    frames = {slot: ctx.storage.read_layer(getattr(lay, slot)) if getattr(lay, slot) else None
              for slot in ("bases", "events", "roads", "towns", "airports", "sites", "admin", "national", "impassable")}
    population, units = None, None
    if lay.population:
        population = ctx.storage.raster_path(lay.population)
        units = "density" if ctx.storage.get_layer(lay.population).attrs.get("population_units") == "density" else "count"
    spec = InputSpec(**frames, population=population, population_units=units,  # type: ignore[arg-type]
                     bbox=BBox(*req.bbox) if req.bbox else None, max_raster_pixels=None)
    out = ctx.staging_dir()
    ctx.progress("load_layers", 1.0)
    state = run_monitor(spec, load_params(None, **req.params), req.as_dates(), out, rules=alert_rules(req.alerts),
                        surfaces_only=req.surfaces_only, crs=analysis_crs(req.crs), n_jobs=ctx.travel_time_jobs,
                        max_dates=req.max_dates, on_date=lambda d: ctx.progress("dates", d.index / d.total))
    ctx.progress("store", 0.0)
    n = len(json.loads((out / "alerts.json").read_text(encoding="utf-8"))["alerts"])
    ctx.publish()
    return {"dates": len(state.finished), "first": state.finished[0], "last": state.finished[-1], "alerts": n,
            "seconds": round(sum(state.seconds.values()), 2)}


def _resolve(storage, job: JobRecord, phase: int | None, surface: str):
    raise NotFoundError(f"monitor {job.id!r}: tiles of a monitor's dates are not served yet; "
                        "fetch the series and alerts")


def viewer_alert(a: dict[str, Any]) -> dict[str, Any] | None:
    """The alert as a viewer gets it, or None when it is computed from the coverage."""
    if a["rule"] in ("crossing", "rise") and a["metric"] != "risk_mean":
        return None
    if a["rule"] == "uncovered":
        return None
    return {k: a.get(k) for k in _VIEWER_ALERT_FIELDS}


def _alerts_of(folder, job_id: str, planner: bool) -> list[dict[str, Any]]:
    doc = json.loads((folder / "alerts.json").read_text(encoding="utf-8"))
    out = []
    for a in doc["alerts"]:
        got = a if planner else viewer_alert(a)
        if got is not None:
            out.append({**got, "monitor": job_id})
    return out


def _filter(alerts: list[dict[str, Any]], since: date | None, unit: str | None, severity: str | None):
    from geo.alerts import SEVERITIES

    floor = SEVERITIES.index(severity) if severity else 0
    return [a for a in alerts if (since is None or a["date"] >= since.isoformat())
            and (unit is None or a["unit_id"] == unit or a["unit_name"] == unit)
            and SEVERITIES.index(a["severity"]) >= floor]


def atom_feed(alerts: list[dict[str, Any]], base_url: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of ``alerts``, newest first."""
    ns = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", ns)
    feed = ET.Element(f"{{{ns}}}feed")
    ET.SubElement(feed, f"{{{ns}}}title").text = "Vacuum alerts"
    ET.SubElement(feed, f"{{{ns}}}id").text = "urn:vacuum:alerts"
    newest = max((a["date"] for a in alerts), default="1970-01-01")
    ET.SubElement(feed, f"{{{ns}}}updated").text = f"{newest}T00:00:00Z"
    ET.SubElement(ET.SubElement(feed, f"{{{ns}}}author"), f"{{{ns}}}name").text = "Vacuum"
    ET.SubElement(feed, f"{{{ns}}}link", href=f"{base_url}/alerts?format=atom", rel="self")
    for a in sorted(alerts, key=lambda a: a["date"], reverse=True):
        e = ET.SubElement(feed, f"{{{ns}}}entry")
        ET.SubElement(e, f"{{{ns}}}id").text = f"urn:vacuum:alert:{a['monitor']}:{a['alert_id']}"
        ET.SubElement(e, f"{{{ns}}}title").text = f"[{a['severity']}] {a['message']}"
        ET.SubElement(e, f"{{{ns}}}updated").text = f"{a['date']}T00:00:00Z"
        ET.SubElement(e, f"{{{ns}}}category", term=a["severity"], label="severity")
        ET.SubElement(e, f"{{{ns}}}category", term=a["rule"], label="rule")
        ET.SubElement(e, f"{{{ns}}}link", href=f"{base_url}/monitors/{a['monitor']}/alerts?unit={a['unit_id']}")
        ev = ", ".join(a.get("event_ids") or []) or "none"
        ET.SubElement(e, f"{{{ns}}}summary").text = (
            f"{a['unit_name']} ({a['unit_id']}), {a['rule']} of {a['metric']}: {a['before']} -> {a['after']}; "
            f"events in the window: {ev}")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


_ID = Annotated[str, PathParam(description="monitor id", examples=["mo_0123456789ab"])]
_ALERTS_200: dict[str, Any] = {
    "description": "alerts (viewers: on forecast risk and new zones)",
    "content": {"application/json": {"example": [{
        "alert_id": "2020-06-30/crossing/risk_mean/CAF-809", "date": "2020-06-30", "rule": "crossing",
        "severity": "medium", "unit_id": "CAF-809", "unit_name": "Ouaka", "metric": "risk_mean",
        "before": 0.04, "after": 0.18, "before_date": "2020-05-31", "event_ids": ["328777"],
        "message": "Ouaka: risk_mean entered class 15-35 %", "zone": None, "monitor": "mo_0123456789ab"}]},
        ATOM: {"example": "<?xml version='1.0' encoding='utf-8'?><feed xmlns=\"http://www.w3.org/2005/Atom\">...</feed>"}}}
_Since = Annotated[date | None, Query(description="alerts dated on or after this date")]
_Unit = Annotated[str | None, Query(description="admin unit id or name")]
_Sev = Annotated[Literal["low", "medium", "high"] | None, Query(description="this severity or higher")]
_Fmt = Annotated[Literal["json", "atom"] | None, Query(description="json (default) or atom")]


def _status(job: JobRecord) -> JobStatus:
    return JobStatus(id=job.id, kind=job.kind, name=job.name, status=job.status, stage=job.stage,
                     stage_fraction=job.stage_fraction, fraction=job.fraction, error=job.error,
                     created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                     updated_at=job.updated_at, submitted_by=job.created_by_name, request=job.request,
                     result=job.result, links={"self": f"/monitors/{job.id}"})  # type: ignore[arg-type]


def _answer(alerts, fmt: str | None, accept: str | None, request: Request) -> Response:
    if fmt == "atom" or (fmt is None and accept and ATOM in accept):
        return Response(atom_feed(alerts, str(request.base_url).rstrip("/")), media_type=ATOM)
    return JSONResponse(alerts)


def build_router() -> APIRouter:
    router = APIRouter(tags=["monitors"])

    @router.post("/monitors", dependencies=[Depends(require("planner"))], status_code=202, response_model=Submitted,
                 responses=error_responses(401, 403, 422), summary="Submit a monitor (planner)")
    def submit(body: MonitorRequest, response: Response, s: ServicesDep, who: Caller) -> Submitted:
        try:
            s.jobs.check_quota(who.key_id, who.name)
            stored = _check(s.storage, body, s.settings.max_analysis_cells)
        except Exception as exc:
            audit(s.storage, who, "monitor.submit", "-", outcome=f"rejected: {type(exc).__name__}")
            raise
        job = s.jobs.submit("monitor", stored, name=body.name, created_by=who.key_id, created_by_name=who.name)
        audit(s.storage, who, "monitor.submit", job.id, layers=stored["layers"])
        response.headers["Location"] = f"/monitors/{job.id}"
        return Submitted(id=job.id, status=job.status, status_url=f"/monitors/{job.id}")

    @router.get("/monitors", dependencies=[Depends(require("viewer"))], response_model=list[JobStatus],
                responses=error_responses(401), summary="List monitors, newest first")
    def list_monitors(s: ServicesDep, page: Annotated[Page, Depends()]) -> list[JobStatus]:
        return [_status(j) for j in s.storage.list_jobs(kind="monitor", limit=page.limit)]

    @router.get("/monitors/{monitor_id}", dependencies=[Depends(require("viewer"))], response_model=JobStatus,
                responses=error_responses(401, 404), summary="Status and progress of a monitor")
    def get_monitor(monitor_id: _ID, s: ServicesDep) -> JobStatus:
        return _status(job_of_kind(s.storage, monitor_id, "monitor"))

    @router.post("/monitors/{monitor_id}/cancel", dependencies=[Depends(require("planner"))],
                 response_model=JobStatus, responses=error_responses(401, 403, 404, 409),
                 summary="Cancel a queued or running monitor")
    def cancel(monitor_id: _ID, s: ServicesDep, who: Caller) -> JobStatus:
        return _status(cancel_job(s, who, monitor_id, "monitor"))

    @router.get("/monitors/{monitor_id}/series", dependencies=[Depends(require("viewer"))], responses={
        200: {"description": "one row per admin unit and date (docs/monitoring.md)",
              "content": {"application/json": {"example": [{
                  "unit_id": "CAF-809", "name": "Ouaka", "level": 1, "date": "2020-06-30", "risk_mean": 0.18,
                  "risk_max": 0.41, "events_in_window": 12, "event_ids": "328777;328778"}]},
                  CSV: {"example": "unit_id,name,level,date,risk_mean,...\nCAF-809,Ouaka,1,2020-06-30,0.18,...\n"}}},
        **error_responses(401, 404, 409)}, summary="The series per admin unit (JSON or CSV)")
    def series(monitor_id: _ID, s: ServicesDep, who: Caller,
               format: Annotated[Literal["json", "csv"], Query()] = "json") -> Response:
        import pandas as pd

        folder = finished_folder(s.storage, monitor_id, "monitor")
        tab = pd.read_csv(folder / "series" / "admin.csv", dtype={"unit_id": str, "event_ids": str})
        if not who.can("planner"):
            tab = tab[list(VIEWER_SERIES)]
        if format == "csv":
            return Response(tab.to_csv(index=False), media_type=CSV)
        return JSONResponse(json.loads(tab.to_json(orient="records")))

    @router.get("/monitors/{monitor_id}/alerts", dependencies=[Depends(require("viewer"))],
                responses={200: _ALERTS_200, **error_responses(401, 404, 409)},
                summary="The alerts of one monitor (JSON or Atom)")
    def monitor_alerts(monitor_id: _ID, s: ServicesDep, who: Caller, request: Request, since: _Since = None,
                       unit: _Unit = None, severity: _Sev = None, format: _Fmt = None,
                       accept: Annotated[str | None, Header()] = None) -> Response:
        folder = finished_folder(s.storage, monitor_id, "monitor")
        got = _filter(_alerts_of(folder, monitor_id, who.can("planner")), since, unit, severity)
        return _answer(got, format, accept, request)

    @router.get("/monitors/{monitor_id}/charts/{chart}", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "a PNG chart", "content": {"image/png": {"example": "(binary PNG)"}}},
        **error_responses(401, 403, 404, 409)}, summary="A chart (overview.png, unit_<id>.png)")
    def chart(monitor_id: _ID, chart: str, s: ServicesDep) -> FileResponse:
        folder = finished_folder(s.storage, monitor_id, "monitor") / "charts"
        path = folder / chart
        if "/" in chart or not chart.endswith(".png") or not path.is_file():
            raise NotFoundError(f"no chart {chart!r}; charts: {', '.join(sorted(p.name for p in folder.glob('*.png')))}")
        return FileResponse(path, media_type="image/png")

    @router.get("/monitors/{monitor_id}/map", dependencies=[Depends(require("viewer"))], response_class=HTMLResponse,
                responses={200: {"content": {"text/html": {"example": "<!doctype html>... the monitoring map ..."}}},
                           **error_responses(401, 403, 404, 409)},
                summary="The monitoring map: a time slider over the dates (viewers: the block gap)")
    async def monitor_page(monitor_id: _ID, s: ServicesDep, who: Caller) -> HTMLResponse:
        """Gap and risk per date, zones by date, the units' figures, the alerts linked to their
        place (``maps.monitor``). Viewers get the 150 km block gap and the alerts they may see."""
        from fastapi.concurrency import run_in_threadpool

        from api.security import html_page
        from maps import render_html
        from maps.monitor import monitor_map

        folder = finished_folder(s.storage, monitor_id, "monitor")
        public = not who.can("planner")
        cache = s.storage.workspace / "cache" / "pages" / f"{monitor_id}-monitor-{'viewer' if public else 'planner'}.html"
        if not cache.is_file():
            page = await run_in_threadpool(lambda: render_html(monitor_map(folder, public=public)))
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(page, encoding="utf-8")
        return html_page(cache.read_text(encoding="utf-8"), unsafe_eval=True)

    @router.get("/alerts", dependencies=[Depends(require("viewer"))], responses={
        200: _ALERTS_200, **error_responses(401)}, summary="Alerts of all monitors (JSON, or Atom with ?format=atom)")
    def alerts(s: ServicesDep, who: Caller, request: Request, since: _Since = None, unit: _Unit = None,
               severity: _Sev = None, format: _Fmt = None,
               accept: Annotated[str | None, Header()] = None) -> Response:
        """Newest monitors first; viewers get the alerts on forecast risk and new zones."""
        out: list[dict[str, Any]] = []
        for job in s.storage.list_jobs(kind="monitor", statuses=("done",), limit=1000):
            folder = s.storage.job_dir("monitor", job.id)
            if (folder / "alerts.json").is_file():
                out += _alerts_of(folder, job.id, who.can("planner"))
        return _answer(_filter(out, since, unit, severity), format, accept, request)

    return router


register_job_kind(JobKind(name="monitor", id_prefix="mo", run=run_monitor_job, resolve_surface=_resolve,
                          router=build_router, stages=MONITOR_STAGES))
