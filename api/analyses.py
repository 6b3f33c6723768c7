"""Analyses: the ``analysis`` job kind and its routes.

Submit (planner) -> 202 with the id and the status URL; the request is checked at once
(layer ids and kinds, model parameters through :func:`geo.params.load_params`, CRS,
area) so a job never fails on what could be told up front. A worker process loads the
layers from the store, runs :func:`geo.pipeline.analyze` with progress, writes the
products with :func:`geo.products.write_analysis` into a staging folder and renames it
to ``analyses/<id>/``.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Caller, audit, require
from api.deps import Page, ServicesDep
from api.errors import JobNotReadyError, NotFoundError, RequestError, error_responses
from api.jobs import JobContext, JobKind, register_job_kind
from api.products import (
    PUBLIC_SURFACES,
    SURFACE_NAMES,
    export_catalogue,
    export_file,
    public_catalogue,
    public_file,
    public_surface_path,
    viewer_admin,
    viewer_summary,
    viewer_zones,
    zones_geojson,
)
from api.responses import CSV, GEOJSON, GeoJSONResponse
from api.storage import JobRecord, Storage
from geo.errors import ConfigError

__all__ = ["AnalysisRequest", "AnalysisLayers", "JobStatus", "check_request", "run_analysis", "ANALYSIS_STAGES",
           "Submitted", "finished_folder", "job_of_kind", "cancel_job", "EARLIEST_AS_OF", "MAX_BBOX_SPAN_DEG"]

EARLIEST_AS_OF = date(1900, 1, 1)
"""``as_of`` from this date to a year from today (pandas' timestamps end in 2262, begin in 1677)."""
MAX_BBOX_SPAN_DEG = 90.0
"""Widest bbox, each way: the equal-area CRS centred on the area holds a continent, not the world."""

ANALYSIS_STAGES: tuple[tuple[str, float], ...] = (
    ("load_layers", 5), ("grid", 1), ("reproject", 1), ("events", 1), ("friction", 5), ("travel_time", 46),
    ("coverage", 2), ("threat", 6), ("exposure", 6), ("gap", 1), ("gather", 1), ("zones", 8),
    ("admin_summary", 4), ("write_cogs", 8), ("write_vectors", 5), ("store", 2),
)
"""Stages of an analysis in order, with rough shares of the run time (for the overall fraction)."""

_SLOT_KINDS = {"bases": "bases", "events": "events", "roads": "roads", "towns": "towns", "airports": "airports",
               "sites": "sites", "admin": "admin", "national": "national", "impassable": "impassable",
               "population": "population"}


class AnalysisLayers(BaseModel):
    """Layer ids (from ``POST /layers``) for each input; only ``bases`` is required."""

    model_config = ConfigDict(extra="forbid")

    bases: str = Field(description="peacekeeper bases", examples=["ly_3f9a0c1b2d4e"])
    events: str | None = Field(None, description="armed-conflict events (threat)")
    roads: str | None = None
    towns: str | None = None
    airports: str | None = None
    sites: str | None = Field(None, description="critical sites")
    admin: str | None = Field(None, description="admin units: the area of interest and the summary table")
    national: str | None = Field(None, description="national forces")
    impassable: str | None = None
    population: str | None = Field(None, description="population raster")


class AnalysisRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "name": "MINUSCA October 2020",
            "layers": {"bases": "ly_3f9a0c1b2d4e", "events": "ly_0a1b2c3d4e5f", "admin": "ly_9e8d7c6b5a41",
                       "roads": "ly_1122334455aa", "population": "ly_5566778899bb"},
            "as_of": "2020-10-31",
            "params": {"resolution_m": 5000, "max_reach_h": 6},
        }]},
    )

    name: str = Field("", max_length=200, description="a label for people")
    layers: AnalysisLayers
    as_of: date | None = Field(None, description="analysis date (default: the latest event, else today)")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="model parameter overrides (docs/model.md), e.g. resolution_m")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="area of interest W,S,E,N in lon/lat, instead of the admin layer's extent")
    crs: str | None = Field(None, description="projected analysis CRS (default: equal-area centred on the area)",
                            examples=["EPSG:32634"])

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, v):
        if v is None:
            return v
        w, s, e, n = v
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError("bbox must be W,S,E,N in lon/lat degrees with W < E and S < N")
        return v


class JobLinks(BaseModel):
    self: str
    summary: str | None = None
    zones: str | None = None
    admin: str | None = None
    exports: str | None = None
    tilejson: str | None = None
    tiles: str | None = None
    public: str | None = Field(default=None, description="the public (viewer-safe) export")
    public_tilejson: str | None = Field(default=None, description="TileJSON of the viewers' gap (150 km blocks)")


class JobStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "an_0123456789ab", "kind": "analysis", "name": "MINUSCA October 2020", "status": "running",
        "stage": "travel_time", "stage_fraction": 0.4, "fraction": 0.37, "error": None,
        "created_at": "2026-11-24T10:00:00.000+00:00", "started_at": "2026-11-24T10:00:01.200+00:00",
        "finished_at": None, "updated_at": "2026-11-24T10:00:03.900+00:00", "submitted_by": "planning cell",
        "request": {"layers": {"bases": "ly_3f9a0c1b2d4e"}, "as_of": "2020-10-31", "params": {}},
        "result": None, "links": {"self": "/analyses/an_0123456789ab"},
    }]})

    id: str
    kind: str
    name: str
    status: Literal["queued", "running", "done", "failed", "interrupted"]
    stage: str | None = Field(None, description="the stage running or last run")
    stage_fraction: float = Field(description="how far the stage is, 0..1")
    fraction: float = Field(description="how far the whole job is, 0..1")
    error: str | None = Field(None, description="why it failed or was interrupted")
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    submitted_by: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    links: JobLinks


class Submitted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "an_0123456789ab", "status": "queued", "status_url": "/analyses/an_0123456789ab"}]})

    id: str
    status: str
    status_url: str


def job_status(job: JobRecord, base: str = "/analyses") -> JobStatus:
    links = JobLinks(self=f"{base}/{job.id}")
    if job.status == "done":
        links = JobLinks(self=f"{base}/{job.id}", summary=f"{base}/{job.id}/summary", zones=f"{base}/{job.id}/zones",
                         admin=f"{base}/{job.id}/admin", exports=f"{base}/{job.id}/exports",
                         tilejson=f"{base}/{job.id}/tilejson/gap.json",
                         tiles=f"{base}/{job.id}/tiles/gap/{{z}}/{{x}}/{{y}}.png",
                         public=f"{base}/{job.id}/public", public_tilejson=f"{base}/{job.id}/tilejson/gap_public.json")
    return JobStatus(id=job.id, kind=job.kind, name=job.name, status=job.status, stage=job.stage,
                     stage_fraction=job.stage_fraction, fraction=job.fraction, error=job.error,
                     created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                     updated_at=job.updated_at, submitted_by=job.created_by_name, request=job.request,
                     result=job.result, links=links)


# ============================================================================ checks


def _check_as_of(as_of: date | None) -> None:
    from datetime import timedelta

    latest = date.today() + timedelta(days=366)
    if as_of is not None and not EARLIEST_AS_OF <= as_of <= latest:
        raise RequestError(f"as_of: {as_of.isoformat()} is outside {EARLIEST_AS_OF.isoformat()}..{latest.isoformat()} "
                           "(a year from today); give the date the analysis is for, e.g. 2020-10-31")


def _check_cells(storage: Storage, req: AnalysisRequest, params: Any, max_cells: int) -> None:
    """The grid the job would build (bbox, else the admin layer's extent; resolution, margin) is
    at most ``max_cells``: counted here, with the engine's own grid function, before any job."""
    from geo.errors import GridError
    from geo.grid import grid_for_area
    from geo.inputs import analysis_crs
    from geo.types import BBox

    if req.bbox is not None:
        bb, what = req.bbox, "the bbox"
    else:
        bb = storage.get_layer(req.layers.admin).bbox if req.layers.admin else None  # type: ignore[arg-type,assignment]
        what = "the admin layer's extent"
    if not bb:
        return
    fix = "use a coarser resolution_m or a smaller area"
    try:
        grid = grid_for_area(BBox(*bb), resolution_m=params.resolution_m, margin_m=params.margin_km * 1000.0,
                             crs=analysis_crs(req.crs))
    except GridError as exc:
        if "exceeds" not in str(exc):
            raise
        raise RequestError(f"params.resolution_m: {params.resolution_m:g} m over {what} makes a grid over the limit "
                           f"of {max_cells:,} cells (VACUUM_MAX_ANALYSIS_CELLS); {fix}") from None
    cells = grid.width * grid.height
    if cells > max_cells:
        raise RequestError(f"params.resolution_m: {params.resolution_m:g} m over {what} makes {cells:,} cells "
                           f"({grid.height} x {grid.width}, margin included), over the limit of {max_cells:,} cells "
                           f"(VACUUM_MAX_ANALYSIS_CELLS); {fix}")


def check_request(storage: Storage, req: AnalysisRequest, max_cells: int | None = None) -> dict[str, Any]:
    """Everything that can be told before running; returns the request to store (JSON).
    ``max_cells``: the largest grid accepted (``VACUUM_MAX_ANALYSIS_CELLS``)."""
    from geo.params import load_params

    for slot, layer_id in req.layers.model_dump().items():
        if layer_id is None:
            continue
        try:
            rec = storage.get_layer(layer_id)
        except NotFoundError:
            raise RequestError(f"layers.{slot}: no layer {layer_id!r}; upload it (POST /layers) or pick one "
                               "from GET /layers") from None
        if rec.kind != _SLOT_KINDS[slot]:
            raise RequestError(f"layers.{slot}: layer {layer_id!r} is a {rec.kind} layer, not {slot}; "
                               f"pick a {slot} layer from GET /layers?kind={slot}")
    if req.layers.admin is None and req.bbox is None:
        raise RequestError("no area of interest: give layers.admin (admin units) or bbox [W, S, E, N]")
    _check_as_of(req.as_of)
    if req.bbox is not None:
        w, s_, e, n = req.bbox
        if e - w > MAX_BBOX_SPAN_DEG or n - s_ > MAX_BBOX_SPAN_DEG:
            raise RequestError(f"bbox: spans {e - w:g} x {n - s_:g} degrees; at most {MAX_BBOX_SPAN_DEG:g} each way "
                               "(an analysis covers a country or a region, not the world)")
    try:
        params = load_params(None, **req.params)
    except ConfigError as exc:
        raise ConfigError(f"params: {exc}") from None
    from geo.inputs import analysis_crs

    analysis_crs(req.crs)
    if max_cells is not None:
        _check_cells(storage, req, params, max_cells)
    return req.model_dump(mode="json")


# ============================================================================ worker


def _inputs(storage: Storage, req: AnalysisRequest):
    """The request's stored layers through :func:`geo.inputs.build_inputs`."""
    from geo.inputs import InputSpec, build_inputs
    from geo.types import BBox

    lay = req.layers
    frames: dict[str, Any] = {
        slot: storage.read_layer(getattr(lay, slot)) if getattr(lay, slot) else None
        for slot in ("bases", "events", "roads", "towns", "airports", "sites", "admin", "national", "impassable")}
    population = None
    units: Literal["count", "density"] | None = None
    if lay.population:
        population = storage.raster_path(lay.population)
        units = "density" if storage.get_layer(lay.population).attrs.get("population_units") == "density" else "count"
    return build_inputs(InputSpec(**frames, population=population, population_units=units,
                                  bbox=BBox(*req.bbox) if req.bbox else None, as_of=req.as_of,
                                  max_raster_pixels=None))  # the raster's size was checked at upload


def run_analysis(ctx: JobContext, request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a worker process: layers from the store -> analyze -> products folder."""
    from geo.export import write_json
    from geo.inputs import analysis_crs, default_as_of
    from geo.params import load_params
    from geo.pipeline import analyze
    from geo.products import write_analysis

    req = AnalysisRequest.model_validate(request)
    ctx.progress("load_layers", 0.0)
    inputs = _inputs(ctx.storage, req)
    as_of = req.as_of if req.as_of is not None else default_as_of(inputs)[0]
    params = load_params(None, **req.params)
    ctx.progress("load_layers", 1.0)
    res = analyze(inputs, params, as_of, crs=analysis_crs(req.crs), progress=ctx.progress,
                  n_jobs=ctx.travel_time_jobs)
    out = ctx.staging_dir()
    t0 = time.perf_counter()
    write_analysis(res, out, progress=ctx.progress)
    ctx.progress("store", 0.0)
    res.summary["timings_s"]["write"] = round(time.perf_counter() - t0, 3)
    res.summary["request"] = {"job": ctx.job.id, **request}
    write_json(res.summary, out / "summary.json")
    ctx.publish()
    s = res.summary
    return {"as_of": s["as_of"], "gap_mean": s["gap"]["mean"], "zones": s["zones"]["count"],
            "bases": s["layers"]["bases"], "events_in_window": s["layers"]["events_in_window"],
            "terms_left_out": s["terms_left_out"], "warnings": s["warnings"], "seconds": round(s["timings_s"]["total"] + s["timings_s"]["write"], 2)}


def resolve_surface(storage: Storage, job: JobRecord, phase: int | None, surface: str) -> Path:
    if phase is not None:
        raise NotFoundError(f"analysis {job.id!r} has no phases (scenarios do)")
    if job.status != "done":
        raise NotFoundError(f"analysis {job.id!r} is {job.status}; its surfaces are served once it is done")
    if surface in PUBLIC_SURFACES:
        return public_surface_path(storage.job_dir(job.kind, job.id), surface)
    if surface not in SURFACE_NAMES:
        raise NotFoundError(f"no surface {surface!r}; surfaces: {', '.join((*SURFACE_NAMES, *PUBLIC_SURFACES))}")
    path = storage.job_dir(job.kind, job.id) / f"{surface}.tif"
    if not path.is_file():
        raise NotFoundError(f"analysis {job.id!r} has no {surface} surface")
    return path


# ============================================================================ routes


def job_of_kind(storage: Storage, job_id: str, kind: str) -> JobRecord:
    """The job ``job_id`` if it is of ``kind``; 404 naming the list endpoint otherwise."""
    try:
        job = storage.get_job(job_id)
    except NotFoundError:
        raise NotFoundError(f"no {kind} {job_id!r}; GET /{kind.replace('analysis', 'analyse')}s lists them") from None
    if job.kind != kind:
        article = "an" if job.kind[:1] in "aeiou" else "a"
        raise NotFoundError(f"no {kind} {job_id!r} (it is {article} {job.kind})")
    return job


def cancel_job(s: Any, who: Any, job_id: str, kind: str) -> JobRecord:
    """Cancel a queued or running job of ``kind`` for ``who``: its submitter or an admin (403
    otherwise), 409 if it has finished. Audited as ``<kind>.cancel``."""
    from api.errors import ConflictError, PermissionDeniedError

    job = job_of_kind(s.storage, job_id, kind)
    if job.created_by != who.key_id and not who.can("admin"):
        raise PermissionDeniedError(f"{kind} {job_id!r} was submitted by another key ({job.created_by_name}); "
                                    "only that key or an admin may cancel it")
    if not s.jobs.cancel(job, by=who.name):
        job = s.storage.get_job(job_id)
        raise ConflictError(f"{kind} {job_id!r} is {job.status}, not queued or running: there is nothing to cancel")
    audit(s.storage, who, f"{kind}.cancel", job_id)
    return s.storage.get_job(job_id)


def finished_folder(storage: Storage, job_id: str, kind: str = "analysis") -> Path:
    """The products folder of a done job; 404 if no such job, 409 if it is not done."""
    job = job_of_kind(storage, job_id, kind)
    if job.status != "done":
        why = {"queued": "is queued", "running": f"is running (stage {job.stage}, {job.fraction:.0%})",
               "failed": f"failed ({job.error})", "interrupted": f"was interrupted ({job.error})"}[job.status]
        raise JobNotReadyError(f"{kind} {job_id!r} {why}; it has products only once done")
    return storage.job_dir(kind, job_id)


_ID = Annotated[str, PathParam(description="analysis id", examples=["an_0123456789ab"])]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/analyses", tags=["analyses"])

    @router.post("", dependencies=[Depends(require("planner"))], status_code=202, response_model=Submitted,
                 responses={**error_responses(401, 403, 422)},
                 summary="Submit an analysis (planner)")
    def submit(body: AnalysisRequest, response: Response, s: ServicesDep, who: Caller) -> Submitted:
        """Check the request and queue it; poll ``status_url`` until ``status`` is ``done``."""
        try:
            s.jobs.check_quota(who.key_id, who.name)
            stored = check_request(s.storage, body, max_cells=s.settings.max_analysis_cells)
        except Exception as exc:
            audit(s.storage, who, "analysis.submit", "-", outcome=f"rejected: {type(exc).__name__}")
            raise
        job = s.jobs.submit("analysis", stored, name=body.name, created_by=who.key_id, created_by_name=who.name)
        audit(s.storage, who, "analysis.submit", job.id, layers=stored["layers"], params=stored["params"])
        url = f"/analyses/{job.id}"
        response.headers["Location"] = url
        return Submitted(id=job.id, status=job.status, status_url=url)

    @router.get("", dependencies=[Depends(require("viewer"))],
                response_model=list[JobStatus], responses=error_responses(401),
                summary="List analyses, newest first")
    def list_analyses(s: ServicesDep, page: Annotated[Page, Depends()],
                      status: Annotated[Literal["queued", "running", "done", "failed", "interrupted"] | None,
                                        Query(description="only analyses in this status")] = None) -> list[JobStatus]:
        jobs = s.storage.list_jobs(kind="analysis", statuses=(status,) if status else None, limit=page.limit)
        return [job_status(j) for j in jobs]

    @router.get("/{analysis_id}", dependencies=[Depends(require("viewer"))],
                response_model=JobStatus, responses=error_responses(401, 404),
                summary="Status and progress of an analysis")
    def get_analysis(analysis_id: _ID, s: ServicesDep) -> JobStatus:
        return job_status(job_of_kind(s.storage, analysis_id, "analysis"))

    @router.post("/{analysis_id}/cancel", dependencies=[Depends(require("planner"))],
                 response_model=JobStatus, responses=error_responses(401, 403, 404, 409),
                 summary="Cancel a queued or running analysis (planner: its submitter, or an admin)")
    def cancel(analysis_id: _ID, s: ServicesDep, who: Caller) -> JobStatus:
        """The job is marked ``interrupted`` ("cancelled by ..."), stops at its next progress report
        and leaves no partial files."""
        return job_status(cancel_job(s, who, analysis_id, "analysis"))

    @router.delete("/{analysis_id}", dependencies=[Depends(require("planner"))],
                   response_model=JobStatus, responses=error_responses(401, 403, 404, 409),
                   summary="Cancel a queued or running analysis (as POST .../cancel)")
    def delete(analysis_id: _ID, s: ServicesDep, who: Caller) -> JobStatus:
        return job_status(cancel_job(s, who, analysis_id, "analysis"))

    @router.get("/{analysis_id}/summary", dependencies=[Depends(require("viewer"))], responses={
        200: {"description": "summary.json of the analysis",
              "content": {"application/json": {"example": {
                  "as_of": "2020-10-31", "layers": {"bases": 20, "events_in_window": 116, "bases_outside_grid": 0},
                  "gap": {"mean": 5.7, "max": 81.3, "population_weighted_mean": 8.0,
                          "by_class": {"critical": {"area_km2": 925.0, "population": 17509.0}}},
                  "zones": {"count": 10, "area_km2": 6925.0, "population": 128471.0}}}}},
        **error_responses(401, 404, 409)}, summary="Summary of a finished analysis")
    def summary(analysis_id: _ID, s: ServicesDep, who: Caller) -> JSONResponse:
        """As-of date, grid, gap by class, terms left out, parameters, timings. Viewers get
        the number of bases outside the grid instead of their ids."""
        import json

        folder = finished_folder(s.storage, analysis_id)
        doc = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        return JSONResponse(doc if who.can("planner") else viewer_summary(doc))

    @router.get("/{analysis_id}/point", dependencies=[Depends(require("viewer"))], responses={
        200: {"description": "each term of the gap at the cell holding the point",
              "content": {"application/json": {"example": {
                  "lon": 22.4, "lat": 6.5, "inside": True, "gap": 41.2, "risk": 0.31, "exposure": 0.62,
                  "coverage": 0.05, "travel_time": 7.5, "threat": 0.44, "population": 38.0}}}},
        **error_responses(401, 404, 409, 422)}, summary="The gap term by term at a point")
    def point(analysis_id: _ID, s: ServicesDep, who: Caller,
              lon: Annotated[float, Query(description="longitude, degrees (WGS 84)")],
              lat: Annotated[float, Query(description="latitude, degrees (WGS 84)")]) -> JSONResponse:
        """Planners: gap, risk, exposure, coverage, travel time, threat, population. Viewers: the
        terms that hold no force posture (risk, exposure, threat, population) and the public
        (150 km block) gap, as in the tiles they may fetch."""
        from geo.point import TERMS, point_terms

        folder = finished_folder(s.storage, analysis_id)
        if who.can("planner"):
            return JSONResponse(point_terms(folder, lon, lat, TERMS))
        doc = point_terms(folder, lon, lat, ("risk", "exposure", "threat", "population"))
        doc["gap_public"] = point_terms(folder / "public", lon, lat, ("gap",))["gap"]
        doc["inside"] = doc["inside"] or doc["gap_public"] is not None
        return JSONResponse(doc)

    @router.get("/{analysis_id}/zones", dependencies=[Depends(require("viewer"))],
                response_class=GeoJSONResponse, responses={
        200: {"description": "vacuum zones, RFC 7946 GeoJSON",
              "content": {GEOJSON: {"example": {"type": "FeatureCollection", "features": [{
                  "type": "Feature", "properties": {"zone_id": 1, "area_km2": 1175.0, "population": 37107.0,
                                                    "mean_gap": 69.96, "gap_class": "critical", "recent_events": 4},
                  "geometry": {"type": "Polygon", "coordinates": [[[17.1, 7.0], [17.3, 7.0], [17.3, 7.2],
                                                                   [17.1, 7.0]]]}}]}}}},
        **error_responses(401, 404, 409)}, summary="Vacuum zones (GeoJSON)")
    def zones(analysis_id: _ID, s: ServicesDep, who: Caller) -> GeoJSONResponse:
        """Planners: connected high/critical areas with area, population, recent events, the
        nearest base and its travel time. Viewers: the 150 km public blocks a zone touches,
        with the zone area and population in each (``geo.public``)."""
        folder = finished_folder(s.storage, analysis_id)
        if not who.can("planner"):
            return GeoJSONResponse(viewer_zones(folder))
        return GeoJSONResponse(zones_geojson(folder, with_bases=True))

    @router.get("/{analysis_id}/admin", dependencies=[Depends(require("viewer"))], responses={
        200: {"description": "the admin-area table",
              "content": {"application/json": {"example": [{
                  "admin_id": "CAF-1460", "name": "Bangui", "level": 1, "mean_gap": 0.1, "max_gap": 0.1,
                  "pop_weighted_gap": 0.1, "population": 78198.0, "pop_high": 0.0, "pop_critical": 0.0}]},
                          CSV: {"example": "admin_id,name,level,parent,area_km2,...\nCAF-1460,Bangui,1,CAF,75,...\n"},
                          GEOJSON: {"example": {"type": "FeatureCollection", "features": []}}}},
        **error_responses(401, 404, 409)}, summary="Admin-area table (JSON, CSV or GeoJSON)")
    def admin_table(analysis_id: _ID, s: ServicesDep, who: Caller,
                    format: Annotated[Literal["json", "csv", "geojson"],
                                      Query(description="json: list of rows; csv: the table; geojson: with areas")]
                    = "json") -> Response:
        """Per admin unit: mean, max and population-weighted gap, population at high and critical gap.
        Viewers get it computed from the public (150 km block) gap."""
        import pandas as pd

        folder = finished_folder(s.storage, analysis_id)
        if not (folder / "admin_summary.csv").is_file():
            raise NotFoundError(f"analysis {analysis_id!r} has no admin table (it was run without admin units)")
        planner = who.can("planner")
        csv = folder / "admin_summary.csv" if planner else viewer_admin(folder, ".csv")
        if format == "csv":
            return FileResponse(csv, media_type=CSV, filename=f"{analysis_id}_admin_summary.csv")
        if format == "geojson":
            return FileResponse(folder / "admin_summary.geojson" if planner else viewer_admin(folder, ".geojson"),
                                media_type=GEOJSON)
        rows = pd.read_csv(csv, dtype={"admin_id": str, "parent": str}).to_dict(orient="records")
        return GeoJSONResponse(rows, media_type="application/json")

    @router.get("/{analysis_id}/exports", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "the exports offered",
              "content": {"application/json": {"example": [
                  {"product": "zones", "format": "GeoPackage", "file": "zones.gpkg",
                   "media_type": "application/geopackage+sqlite3", "url": "/analyses/an_0123456789ab/exports/zones.gpkg",
                   "description": "vacuum zones: connected high/critical gap areas"}]}}},
        **error_responses(401, 403, 404, 409)}, summary="List the exports of an analysis (planner)")
    def exports(analysis_id: _ID, s: ServicesDep) -> list[dict[str, str]]:
        folder = finished_folder(s.storage, analysis_id)
        return [{**e, "url": f"/analyses/{analysis_id}/exports/{e['file']}"} for e in export_catalogue(folder)]

    @router.head("/{analysis_id}/exports/{filename}", dependencies=[Depends(require("planner"))], include_in_schema=False)
    @router.get("/{analysis_id}/exports/{filename}", dependencies=[Depends(require("planner"))],
                response_class=FileResponse, responses={
        200: {"description": "the file",
              "content": {"application/geopackage+sqlite3": {"example": "(binary GeoPackage)"},
                          GEOJSON: {"example": {"type": "FeatureCollection", "features": []}},
                          CSV: {"example": "zone_id,area_km2,...\n1,1175,...\n"},
                          "image/tiff": {"example": "(binary Cloud-Optimized GeoTIFF)"},
                          "application/json": {"example": {"as_of": "2020-10-31"}}}},
        **error_responses(401, 403, 404, 409)}, summary="Download an export (planner)")
    def export(analysis_id: _ID, filename: str, s: ServicesDep, who: Caller) -> FileResponse:
        """``<product>.<geojson|gpkg|csv>`` for zones, admin_summary, bases, events, sites;
        ``<surface>.tif`` for the COGs; ``vacuum.gpkg``; ``summary.json``. Recorded in the audit log."""
        folder = finished_folder(s.storage, analysis_id)
        try:
            path, media = export_file(folder, filename)
        except NotFoundError:
            audit(s.storage, who, "export", f"{analysis_id}/{filename}", outcome="rejected: NotFoundError")
            raise
        audit(s.storage, who, "export", f"{analysis_id}/{filename}")
        return FileResponse(path, media_type=media, filename=f"{analysis_id}_{filename}")

    @router.get("/{analysis_id}/public", dependencies=[Depends(require("viewer"))], responses={
        200: {"description": "the public export offered",
              "content": {"application/json": {"example": [
                  {"product": "gap_public", "format": "COG", "file": "gap_public.tif", "media_type": "image/tiff",
                   "url": "/analyses/an_0123456789ab/public/gap_public.tif"}]}}},
        **error_responses(401, 404, 409)}, summary="List the public (viewer-safe) export")
    def public_exports(analysis_id: _ID, s: ServicesDep) -> list[dict[str, str]]:
        """Products safe to share outside the mission (docs/service.md): the 150 km block gap,
        threat, exposure, population, public zones and admin table, the viewer summary."""
        folder = finished_folder(s.storage, analysis_id)
        return [{**e, "url": f"/analyses/{analysis_id}/public/{e['file']}"} for e in public_catalogue(folder)]

    @router.head("/{analysis_id}/public/{filename}", dependencies=[Depends(require("viewer"))], include_in_schema=False)
    @router.get("/{analysis_id}/public/{filename}", dependencies=[Depends(require("viewer"))],
                response_class=FileResponse, responses={
        200: {"description": "the file",
              "content": {GEOJSON: {"example": {"type": "FeatureCollection", "features": []}},
                          "image/tiff": {"example": "(binary Cloud-Optimized GeoTIFF)"},
                          "application/geopackage+sqlite3": {"example": "(binary GeoPackage)"},
                          CSV: {"example": "name,gap_mean,...\nOuham,0.41,...\n"},
                          "application/json": {"example": {"as_of": "2020-10-31"}}}},
        **error_responses(401, 404, 409)}, summary="Download a public (viewer-safe) export")
    def public_export(analysis_id: _ID, filename: str, s: ServicesDep, who: Caller) -> FileResponse:
        folder = finished_folder(s.storage, analysis_id)
        path, media = public_file(folder, filename)
        audit(s.storage, who, "export.public", f"{analysis_id}/{filename}")
        return FileResponse(path, media_type=media, filename=f"{analysis_id}_public_{filename}")

    return router


register_job_kind(JobKind(name="analysis", id_prefix="an", run=run_analysis, resolve_surface=resolve_surface,
                          router=build_router, stages=ANALYSIS_STAGES))

