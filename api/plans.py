"""The plan editor's routes: saved plans (versioned), quick previews, YAML in and out.

A plan is the same document the CLI reads (``vacuum scenario --plan plan.yaml``,
:mod:`geo.plan`), kept as JSON on one analysis. Every save is a new version; a save that
names an older version than the stored one is refused (409) with the newer version and
who saved it, so two browsers never overwrite each other. Saves, imports, previews of a
saved plan and submissions are in the audit log.

``POST /plans/preview`` runs the plan's phases on the what-if engine
(:class:`geo.preview.PlanPreviewer`: the analysis' stored per-base coverage terms held in
memory, no analysis re-run) and answers per phase: the numbers, their change against
the previous phase, new vacuum zones (GeoJSON), sites losing cover, admin units' change
and the gap after the phase as a PNG overlay. ``POST /plans/{id}/submit`` queues the full
scenario job (``/scenarios``) for the complete products.

Everything here needs the planner role: a plan says which bases close and when.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.analyses import finished_folder
from api.auth import Caller, audit, require
from api.deps import ServicesDep
from api.errors import ConflictError, RequestError, error_responses
from api.responses import GeoJSONResponse
from api.storage import PlanRecord, new_id, now
from geo.plan import Plan, PlanError, national_forces, parse_plan, plan_lines

__all__ = ["PlanSave", "PlanUpdate", "PlanImport", "PreviewRequest", "PlanOut", "plan_yaml", "previewer_for",
           "build_router", "router"]

_ID = Annotated[str, PathParam(description="plan id", examples=["pl_0123456789ab"])]
_PLAN = {"name": "Two closures", "phases": [
    {"name": "East", "date": "2021-03-31", "actions": [{"close": ["MINUSCA:bria"]}]},
    {"name": "Centre", "date": "2021-09-30", "actions": [{"reduce": {"base": "MINUSCA:bambari", "strength": 650}}]}]}
_PREVIEW_EXAMPLE = {
    "analysis_id": "an_0123456789ab", "plan": "Two closures", "as_of": "2020-10-31",
    "baseline": {"numbers": {"vacuum_measure": 1.55, "mean_gap": 1.32}},
    "phases": [{"phase": 1, "name": "East", "date": "2021-03-31",
                "steps": [{"kind": "close", "base_id": "MINUSCA:bria", "strength": None, "readiness": None}],
                "numbers": {"vacuum_measure": 1.57, "new_high_critical_km2": 100.0,
                            "population_losing_cover": 13938.8},
                "vs_previous": {"vacuum_measure": 0.02, "new_high_critical_km2": 100.0},
                "new_since_previous_km2": 100.0, "new_zones": {"type": "FeatureCollection", "features": []},
                "lost_sites": [], "admin": [], "overlay": {"image": "data:image/png;base64,...",
                                                           "bounds": [[1.76, 13.83], [11.46, 28.0]]}}],
    "timings_s": {"load": 0.01, "evaluate": 0.3, "render": 0.2, "total": 0.51}}


class PlanSave(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"analysis_id": "an_0123456789ab", "plan": _PLAN}]})
    analysis_id: str = Field(description="the finished analysis the plan is drawn on", examples=["an_0123456789ab"])
    plan: dict[str, Any] = Field(description="the plan as JSON, as in a plan file: name, phases of "
                                             "{name, date, actions}")


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 3, "plan": _PLAN}]})
    version: int = Field(ge=1, description="the version this edit started from (GET /plans/{id} gives it)")
    plan: dict[str, Any]


class PlanImport(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"analysis_id": "an_0123456789ab",
         "yaml": "name: Two closures\nphases:\n- name: East\n  date: 2021-03-31\n  actions:\n"
                 "  - close: [MINUSCA:bria]\n"}]})
    analysis_id: str
    yaml: str = Field(max_length=1_000_000, description="a plan file's text, as `vacuum scenario --plan` reads it")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"analysis_id": "an_0123456789ab", "plan": _PLAN, "cover_threshold": 0.5, "overlay": True}]})
    analysis_id: str
    plan: dict[str, Any]
    cover_threshold: float = Field(0.5, gt=0, lt=1)
    overlay: bool = Field(True, description="include each phase's gap as a PNG overlay (data: URI)")


class PlanOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "pl_0123456789ab", "analysis_id": "an_0123456789ab", "name": "Two closures", "version": 2,
        "plan": _PLAN, "created_at": "2026-12-01T10:00:00.000+00:00", "updated_at": "2026-12-01T10:05:00.000+00:00",
        "created_by": "planner A", "updated_by": "planner B",
        "versions": [{"version": 1, "saved_at": "2026-12-01T10:00:00.000+00:00", "saved_by": "planner A"},
                     {"version": 2, "saved_at": "2026-12-01T10:05:00.000+00:00", "saved_by": "planner B"}],
        "links": {"self": "/plans/pl_0123456789ab", "yaml": "/plans/pl_0123456789ab/yaml",
                  "submit": "/plans/pl_0123456789ab/submit"}}]})

    id: str
    analysis_id: str
    name: str
    version: int
    plan: dict[str, Any]
    created_at: str
    updated_at: str
    created_by: str
    updated_by: str
    versions: list[dict[str, Any]] = Field(default_factory=list,
                                           description="every saved version: version, saved_at, saved_by")
    links: dict[str, str] = Field(default_factory=dict)


def _out(rec: PlanRecord, versions: list[dict[str, Any]] | None = None) -> PlanOut:
    return PlanOut(id=rec.id, analysis_id=rec.analysis_id, name=rec.name, version=rec.version, plan=rec.plan,
                   created_at=rec.created_at, updated_at=rec.updated_at, created_by=rec.created_by,
                   updated_by=rec.updated_by,
                   versions=[{k: v[k] for k in ("version", "saved_at", "saved_by")} for v in versions or []],
                   links={"self": f"/plans/{rec.id}", "yaml": f"/plans/{rec.id}/yaml",
                          "submit": f"/plans/{rec.id}/submit"})


def plan_yaml(plan: dict[str, Any]) -> str:
    """The plan as the YAML the CLI reads: keys in the order of the plan file format."""
    return yaml.safe_dump(plan, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)


def _parsed(plan: dict[str, Any], lines: dict[tuple, int] | None = None, source: str = "plan") -> Plan:
    """The plan's shape (:func:`geo.plan.parse_plan`: every problem, with its line when
    ``lines`` of the file are given), and no phase without steps: in the editor an empty
    phase is an edit not finished."""
    parsed = parse_plan(plan, source=source, lines=lines)
    empty = [f"phase {k} ({ph.name})" for k, ph in enumerate(parsed.phases, start=1) if not ph.actions]
    if empty:
        raise PlanError(f"plan: {', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no steps; close, reduce "
                        "or hand over a base in it, or remove it")
    return parsed


def _checked(s: Any, analysis_id: str, plan: dict[str, Any], lines: dict[tuple, int] | None = None,
             source: str = "plan") -> dict[str, Any]:
    """``plan`` parsed and resolved against the analysis' bases; the normalised JSON stored."""
    from api.scenarios import check_plan

    folder = finished_folder(s.storage, analysis_id, "analysis")
    parsed = _parsed(plan, lines, source)
    check_plan(folder, parsed, s.settings.max_plan_steps)
    return json.loads(parsed.model_dump_json(exclude_none=True, exclude_defaults=True))


# ============================================================================ previews

_CACHE: OrderedDict[tuple[str, float], Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2


def previewer_for(folder: Path, cover_threshold: float = 0.5) -> Any:
    """The :class:`geo.preview.PlanPreviewer` of an analysis folder, kept in memory for
    the next previews (the two most recent analyses; a changed folder is loaded again)."""
    from geo.preview import PlanPreviewer
    from geo.scenario import load_baseline

    meta = folder / "model" / "analysis.json"
    key = (f"{folder}|{cover_threshold}", meta.stat().st_mtime if meta.is_file() else 0.0)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    pv = PlanPreviewer(load_baseline(folder), cover_threshold)
    with _CACHE_LOCK:
        _CACHE[key] = pv
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return pv


def _preview(s: Any, req: PreviewRequest) -> dict[str, Any]:
    from geo.plan import resolve_plan
    t0 = time.perf_counter()
    folder = finished_folder(s.storage, req.analysis_id, "analysis")
    plan = _parsed(req.plan)
    pv = previewer_for(folder, req.cover_threshold)
    t_load = time.perf_counter()
    phases = resolve_plan(plan, pv.baseline.bases, pv.baseline.admin, pv.zones)
    results = pv.preview(phases, national_forces(plan))
    t_eval = time.perf_counter()
    out_phases = []
    for r in results:
        doc: dict[str, Any] = {
            "phase": r.index, "name": r.name, "date": r.date, "steps": r.steps, "numbers": r.numbers,
            "vs_previous": r.vs_previous, "new_since_previous_km2": r.new_since_previous_km2,
            "new_zones": json.loads(r.new_zones.to_json(drop_id=True)) if len(r.new_zones) else
            {"type": "FeatureCollection", "features": []},
            "lost_sites": r.lost_sites, "status": r.status, "hold_reasons": r.hold_reasons,
            "benchmarks": r.benchmarks,
            "admin": json.loads(r.admin.head(15).to_json(orient="records")),
        }
        if req.overlay:
            png, bounds = pv.overlay(r.gap)
            doc["overlay"] = {"image": "data:image/png;base64," + base64.b64encode(png).decode(), "bounds": bounds}
        out_phases.append(doc)
    base = {"numbers": pv.base_numbers}  # its gap: the analysis' own tiles
    t_end = time.perf_counter()
    return {"analysis_id": req.analysis_id, "plan": plan.name, "as_of": pv.baseline.as_of.isoformat(),
            "baseline": base, "phases": out_phases,
            "timings_s": {"load": round(t_load - t0, 3), "evaluate": round(t_eval - t_load, 3),
                          "render": round(t_end - t_eval, 3), "total": round(t_end - t0, 3)}}


# ============================================================================ routes


def build_router() -> APIRouter:
    r = APIRouter(prefix="/plans", tags=["plans"])
    planner = [Depends(require("planner"))]

    @r.get("", dependencies=planner, response_model=list[PlanOut], responses=error_responses(401, 403),
           summary="Saved plans, newest first (planner)")
    def list_plans(s: ServicesDep, analysis_id: Annotated[str | None, Query()] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[PlanOut]:
        return [_out(p) for p in s.storage.list_plans(analysis_id, limit)]

    @r.post("", dependencies=planner, status_code=201, response_model=PlanOut,
            responses=error_responses(401, 403, 404, 409, 422), summary="Save a new plan (planner)")
    def create(body: PlanSave, response: Response, s: ServicesDep, who: Caller) -> PlanOut:
        return _create(s, who, response, body.analysis_id, _checked(s, body.analysis_id, body.plan))

    def _create(s: Any, who: Any, response: Response, analysis_id: str, plan: dict[str, Any]) -> PlanOut:
        at = now()
        rec = s.storage.add_plan(PlanRecord(id=new_id("pl"), analysis_id=analysis_id,
                                            name=str(plan.get("name", "")), plan=plan, created_at=at,
                                            updated_at=at, created_by=who.name, updated_by=who.name))
        audit(s.storage, who, "plan.create", rec.id, analysis_id=analysis_id, version=1)
        response.headers["Location"] = f"/plans/{rec.id}"
        return _out(rec, s.storage.plan_versions(rec.id))

    @r.post("/import", dependencies=planner, status_code=201, response_model=PlanOut,
            responses=error_responses(401, 403, 404, 409, 422),
            summary="Save a plan from a plan file's YAML text (planner)")
    def import_yaml(body: PlanImport, response: Response, s: ServicesDep, who: Caller) -> PlanOut:
        """Every problem of the file is listed, each with its line, in the 422's message."""
        try:
            doc = yaml.safe_load(body.yaml)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise PlanError(f"plan file: {where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(doc, dict):
            raise PlanError("plan file: the top level must be a mapping with name and phases")
        doc = json.loads(json.dumps(doc, default=str))  # YAML dates as the plan's ISO strings
        plan = _checked(s, body.analysis_id, doc, plan_lines(body.yaml), source="plan file")
        return _create(s, who, response, body.analysis_id, plan)

    @r.post("/preview", dependencies=planner, responses={
        200: {"content": {"application/json": {"example": _PREVIEW_EXAMPLE}}},
        **error_responses(401, 403, 404, 409, 422)},
            summary="The plan's phases on the what-if engine, at once (planner)")
    def preview(body: PreviewRequest, s: ServicesDep) -> GeoJSONResponse:
        return GeoJSONResponse(_preview(s, body))

    @r.get("/{plan_id}", dependencies=planner, response_model=PlanOut, responses=error_responses(401, 403, 404),
           summary="A saved plan, its version and history (planner)")
    def get_plan(plan_id: _ID, s: ServicesDep) -> PlanOut:
        return _out(s.storage.get_plan(plan_id), s.storage.plan_versions(plan_id))

    @r.put("/{plan_id}", dependencies=planner, response_model=PlanOut,
           responses=error_responses(401, 403, 404, 409, 422),
           summary="Save a new version of a plan (planner); refused if someone saved since")
    def update(plan_id: _ID, body: PlanUpdate, s: ServicesDep, who: Caller) -> PlanOut:
        cur = s.storage.get_plan(plan_id)
        if body.version != cur.version:
            raise _stale(cur, body.version)
        plan = _checked(s, cur.analysis_id, body.plan)
        rec = s.storage.update_plan(plan_id, body.version, plan, str(plan.get("name", "")), who.name)
        if rec is None:  # saved by someone else between the read and the write
            raise _stale(s.storage.get_plan(plan_id), body.version)
        audit(s.storage, who, "plan.save", plan_id, version=rec.version)
        return _out(rec, s.storage.plan_versions(plan_id))

    @r.get("/{plan_id}/yaml", dependencies=planner, responses={
        200: {"content": {"application/yaml": {"example": "name: Illustrative MINUSCA drawdown\nphases: ...\n"}}},
        **error_responses(401, 403, 404)}, summary="The plan as the YAML file the CLI reads (planner)")
    def export_yaml(plan_id: _ID, s: ServicesDep,
                    version: Annotated[int | None, Query(ge=1, description="an older version")] = None) -> Response:
        rec = s.storage.get_plan(plan_id)
        plan = rec.plan
        if version is not None:
            match = [v for v in s.storage.plan_versions(plan_id) if v["version"] == version]
            if not match:
                raise RequestError(f"version: plan {plan_id!r} has versions 1..{rec.version}, not {version}")
            plan = match[0]["plan"]
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in rec.name)[:60] or rec.id
        return Response(plan_yaml(plan), media_type="application/yaml",
                        headers={"Content-Disposition": f'attachment; filename="{name}.yaml"'})

    @r.post("/{plan_id}/submit", dependencies=planner, status_code=202, responses={
        202: {"content": {"application/json": {"example": {"id": "sc_0123456789ab", "status": "queued",
                                                           "status_url": "/scenarios/sc_0123456789ab",
                                                           "plan_version": 2}}}},
        **error_responses(401, 403, 404, 409, 422, 429)},
            summary="Run the saved plan as a full scenario job (planner)")
    def submit(plan_id: _ID, response: Response, s: ServicesDep, who: Caller) -> dict[str, Any]:
        from api.scenarios import ScenarioRequest, check_request

        rec = s.storage.get_plan(plan_id)
        req = ScenarioRequest(analysis_id=rec.analysis_id, plan=rec.plan, name=rec.name)
        s.jobs.check_quota(who.key_id, who.name)
        stored = check_request(s.storage, req, s.settings.max_plan_phases, s.settings.max_plan_steps)
        job = s.jobs.submit("scenario", stored, name=stored["name"], created_by=who.key_id,
                            created_by_name=who.name)
        audit(s.storage, who, "plan.submit", plan_id, scenario_id=job.id, version=rec.version)
        response.headers["Location"] = f"/scenarios/{job.id}"
        return {"id": job.id, "status": job.status, "status_url": f"/scenarios/{job.id}", "plan_version": rec.version}

    return r


def _stale(cur: PlanRecord, edited: int) -> ConflictError:
    return ConflictError(f"plan {cur.id!r} is at version {cur.version}, saved by {cur.updated_by or 'someone'} at "
                         f"{cur.updated_at}, newer than the version {edited} you edited; reload it, apply your "
                         "change again and save")


router = build_router()
