"""Scenarios: the ``scenario`` job kind and its routes.

A scenario applies a withdrawal plan (:mod:`geo.plan`) to a finished analysis, phase by
phase, and writes the scenario folder of :func:`geo.scenario_products.run_scenario`.

Submit (planner) -> 202 with the id and the status URL. Checked at once, so a job never
fails on what could be told up front: the analysis exists and is done (404, 409), the plan
has the right shape (:func:`geo.plan.parse_plan`) and resolves against the analysis' own
bases and admin units (:func:`geo.plan.resolve_plan`): unknown base ids, a base acted on
after its closure, dates out of order are 422s whose message names the phase, the action
and the id. A worker process loads the baseline (:func:`geo.scenario.load_baseline`),
runs the phases with progress into a staging folder and renames it to ``scenarios/<id>/``.

Roles: a withdrawal plan is sensitive (which bases close, and when), and every scenario
product names or places bases, so EVERYTHING here needs the planner role: submit, status,
lists, products, exports and the phase tiles (``api.auth.require_surface_access``).
Viewers get nothing of scenarios. Submits and exports are recorded in the audit log, and
so is every read of the base criticality (base ids and positions).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.analyses import JobStatus, Submitted, cancel_job, finished_folder, job_of_kind
from api.auth import Caller, audit, require
from api.deps import Page, ServicesDep
from api.errors import NotFoundError, RequestError, error_responses
from api.jobs import JobContext, JobKind, register_job_kind
from api.responses import CSV, GEOJSON, GEOPACKAGE, GEOTIFF, GeoJSONResponse
from api.storage import JobRecord, Storage
from geo.plan import Plan, PlanError, parse_plan

__all__ = [
    "ScenarioRequest",
    "ScenarioStatus",
    "PHASE_SURFACES",
    "SCENARIO_STAGES",
    "check_request",
    "run_scenario_job",
    "resolve_surface",
    "export_catalogue",
    "export_file",
    "check_plan",
]

PHASE_SURFACES = ("gap", "coverage", "gap_delta", "coverage_delta")
"""The COGs of each phase (``phase_k/<surface>.tif``), served as tiles and exports."""

SCENARIO_STAGES: tuple[tuple[str, float], ...] = (
    ("load_baseline", 2), ("phases", 4), ("decision_support", 6), ("store", 1),
)
"""Stages of a scenario in order, with rough shares of the run time (for the overall fraction)."""

_PLAN_EXAMPLE: dict[str, Any] = {
    "name": "Illustrative MINUSCA drawdown",
    "phases": [
        {"name": "Close observer posts in the south-east", "date": "2021-03-31",
         "actions": [{"close": ["MINUSCA:obo", "MINUSCA:zemio"]}]},
        {"name": "Leave the north-east, thin Bria", "date": "2021-09-30",
         "actions": [{"close_admin": "Vakaga"}, {"reduce": {"base": "MINUSCA:bria", "strength": 650}}]},
        {"name": "Hand Bambari to national forces", "date": "2022-03-31",
         "actions": [{"handover": {"base": "MINUSCA:bambari", "readiness": 0.5}}]},
    ],
}


# ============================================================================ models


class ScenarioRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"analysis_id": "an_0123456789ab", "plan": _PLAN_EXAMPLE,
                                         "phases": 3, "cover_threshold": 0.5}]},
    )

    name: str = Field("", max_length=200, description="a label for people (default: the plan's name)")
    analysis_id: str = Field(description="a finished analysis: the baseline", examples=["an_0123456789ab"])
    plan: dict[str, Any] = Field(description="the withdrawal plan as JSON, as in a plan file (docs/scenarios.md): "
                                             "name, phases of {name, date, actions}")
    phases: int | None = Field(None, ge=1, le=100,
                               description="phases to split the closures into for the suggested closing order "
                                           "(default: as many closures per phase as the plan)")
    cover_threshold: float = Field(0.5, gt=0, lt=1, description="coverage below which a cell counts as uncovered")
    enforce: bool = Field(False, description="stop the plan at the first phase whose conditions fail (benchmarks); "
                                             "summary.enforced names it and the plan that would hold")


class ScenarioLinks(BaseModel):
    self: str
    summary: str | None = None
    phases: str | None = None
    criticality: str | None = None
    closing_order: str | None = None
    exports: str | None = None
    tiles: str | None = Field(default=None, description="template: fill in {phase} (1..n) and {surface} "
                                                "(gap, coverage, gap_delta, coverage_delta)")


class ScenarioStatus(JobStatus):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "sc_0123456789ab", "kind": "scenario", "name": "Illustrative MINUSCA drawdown", "status": "done",
        "stage": "store", "stage_fraction": 1.0, "fraction": 1.0, "error": None,
        "created_at": "2026-11-24T10:05:00.000+00:00", "started_at": "2026-11-24T10:05:00.300+00:00",
        "finished_at": "2026-11-24T10:05:03.100+00:00", "updated_at": "2026-11-24T10:05:03.100+00:00",
        "submitted_by": "planning cell",
        "request": {"analysis_id": "an_0123456789ab", "plan": _PLAN_EXAMPLE, "phases": None, "cover_threshold": 0.5},
        "result": {"analysis_id": "an_0123456789ab", "plan": "Illustrative MINUSCA drawdown", "phases": 3,
                   "vacuum_baseline": 6.83, "vacuum_final": 7.69, "new_zones_final": 8,
                   "population_losing_cover_final": 92440.0, "most_critical_base": "MINUSCA:bouar",
                   "closing_order_improvement_pct": 0.0, "seconds": 2.4},
        "links": {"self": "/scenarios/sc_0123456789ab", "summary": "/scenarios/sc_0123456789ab/summary",
                  "phases": "/scenarios/sc_0123456789ab/phases",
                  "criticality": "/scenarios/sc_0123456789ab/criticality",
                  "closing_order": "/scenarios/sc_0123456789ab/closing-order",
                  "exports": "/scenarios/sc_0123456789ab/exports",
                  "tiles": "/scenarios/sc_0123456789ab/phases/{phase}/tiles/{surface}/{z}/{x}/{y}.png"},
    }]})

    links: ScenarioLinks  # type: ignore[assignment]


class ScenarioSubmitted(Submitted):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "sc_0123456789ab", "status": "queued", "status_url": "/scenarios/sc_0123456789ab"}]})


def scenario_status(job: JobRecord) -> ScenarioStatus:
    base = f"/scenarios/{job.id}"
    links = ScenarioLinks(self=base)
    if job.status == "done":
        links = ScenarioLinks(self=base, summary=f"{base}/summary", phases=f"{base}/phases",
                              criticality=f"{base}/criticality", closing_order=f"{base}/closing-order",
                              exports=f"{base}/exports",
                              tiles=f"{base}/phases/{{phase}}/tiles/{{surface}}/{{z}}/{{x}}/{{y}}.png")
    return ScenarioStatus(id=job.id, kind=job.kind, name=job.name, status=job.status, stage=job.stage,
                          stage_fraction=job.stage_fraction, fraction=job.fraction, error=job.error,
                          created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                          updated_at=job.updated_at, submitted_by=job.created_by_name, request=job.request,
                          result=job.result, links=links)


# ============================================================================ checks


def _plan_inputs(folder: Path):
    """The bases (and admin units) a plan is resolved against, as :func:`geo.scenario.load_baseline`
    reads them (grid CRS), without loading any raster; and the ids of the bases with a coverage term."""
    import geopandas as gpd

    from geo.grid import Grid

    meta_path = folder / "model" / "analysis.json"
    if not meta_path.is_file() or not (folder / "bases.geojson").is_file():
        raise RequestError(f"analysis {folder.name!r} has no stored coverage model, so it cannot be a scenario "
                           "baseline; submit the analysis again")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    grid = Grid.from_dict(meta["grid"])
    bases = gpd.read_file(folder / "bases.geojson").to_crs(grid.crs)
    admin = None
    if (folder / "admin_summary.geojson").is_file():
        admin = gpd.read_file(folder / "admin_summary.geojson").to_crs(grid.crs)
        admin = admin[[c for c in ("admin_id", "name", "level", "parent", "geometry") if c in admin]]
    with_terms = {str(t["base_id"]) for t in meta["terms"] if not t.get("national")}
    return bases, admin, with_terms


def _raw_steps(action: Any) -> int:
    if isinstance(action, dict):
        return sum(len(v) if isinstance(v, list) else 1 for v in action.values()) or 1
    return 1


def check_plan_size(plan: Any, max_phases: int, max_steps: int) -> None:
    """The plan document's size, before it is parsed: at most ``max_phases`` phases and
    ``max_steps`` steps (a base in a ``close`` list is one step)."""
    phases = plan.get("phases") if isinstance(plan, dict) else None
    if not isinstance(phases, list):
        return  # parse_plan names what is wrong
    if len(phases) > max_phases:
        raise RequestError(f"plan.phases: {len(phases):,} phases, more than the {max_phases} a plan may have "
                           "(VACUUM_MAX_PLAN_PHASES); merge phases")
    steps = sum(_raw_steps(a) for ph in phases if isinstance(ph, dict) and isinstance(ph.get("actions"), list)
                for a in ph["actions"])
    if steps > max_steps:
        raise RequestError(f"plan: {steps:,} steps, more than the {max_steps} a plan may have "
                           "(VACUUM_MAX_PLAN_STEPS); split it into several scenarios")


def check_plan(folder: Path, plan: Plan, max_steps: int | None = None) -> int:
    """Resolve ``plan`` against the analysis in ``folder``; the number of phases. PlanError names
    the phase, the action and the id; more than ``max_steps`` resolved steps (``close_admin``
    expands to every base of the unit) is a RequestError."""
    import geopandas as gpd

    from geo.effect import PRIORS
    from geo.plan import resolve_plan

    if plan.effect is not None and plan.effect not in PRIORS:
        raise PlanError(f"plan: effect {plan.effect!r}: the service reads no effect files (a path from a client); "
                        f"name a prior ({', '.join(PRIORS)}) or run `vacuum scenario --effect effect.json`")
    if isinstance(plan.national_forces, str):
        raise PlanError(f"plan: national_forces {plan.national_forces!r}: the service reads no files named by a client; "
                        "list the forces in the plan ([{id, kind, strength, readiness, lon, lat}])")
    bases, admin, with_terms = _plan_inputs(folder)
    zones = gpd.read_file(folder / "zones.geojson").to_crs(bases.crs) if (folder / "zones.geojson").is_file() else None
    try:
        phases = resolve_plan(plan, bases, admin, zones)
    except PlanError as exc:
        raise PlanError(f"plan: {exc}") from None
    n_steps = sum(len(ph.steps) for ph in phases)
    if max_steps is not None and n_steps > max_steps:
        raise RequestError(f"plan: {n_steps:,} steps once resolved, more than the {max_steps} a plan may have "
                           "(VACUUM_MAX_PLAN_STEPS); split it into several scenarios")
    for k, ph in enumerate(phases, start=1):
        for step in ph.steps:
            if step.base_id not in with_terms:
                raise PlanError(f"plan: phase {k} ({ph.name}), {step.kind} {step.base_id!r}: the base lies outside "
                                "the analysis grid, so the analysis holds no coverage of it to change; leave it out")
    return len(phases)


def check_request(storage: Storage, req: ScenarioRequest, max_phases: int | None = None,
                  max_steps: int | None = None) -> dict[str, Any]:
    """Everything that can be told before running; returns the request to store (JSON).
    ``max_phases``, ``max_steps``: the plan's size limits (``VACUUM_MAX_PLAN_*``)."""
    folder = finished_folder(storage, req.analysis_id, "analysis")  # 404 unknown, 409 not done
    if max_phases is not None and max_steps is not None:
        check_plan_size(req.plan, max_phases, max_steps)
    plan = parse_plan(req.plan, source="plan")  # 422 naming phase/action/field
    check_plan(folder, plan, max_steps)
    return {"name": req.name or plan.name, "analysis_id": req.analysis_id,
            "plan": plan.model_dump(mode="json", exclude_none=True),
            "phases": req.phases, "cover_threshold": req.cover_threshold, "enforce": req.enforce}


# ============================================================================ worker


def run_scenario_job(ctx: JobContext, request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a worker process: stored analysis -> baseline -> phases -> scenario folder."""
    from geo.effect import PRIORS
    from geo.errors import VacuumError
    from geo.export import write_json
    from geo.scenario import load_baseline
    from geo.scenario_products import run_scenario

    t0 = time.perf_counter()
    req = ScenarioRequest.model_validate(request)
    ctx.progress("load_baseline", 0.0)
    folder = finished_folder(ctx.storage, req.analysis_id, "analysis")
    plan = parse_plan(req.plan, source="plan")
    try:
        baseline = load_baseline(folder)
    except VacuumError as exc:  # its message names the folder: name the analysis instead
        raise RequestError(str(exc).replace(str(folder), f"analysis {req.analysis_id}")) from None
    ctx.progress("load_baseline", 1.0)
    out = ctx.staging_dir()
    summary = run_scenario(baseline, plan, out, closing_phases=req.phases, cover_threshold=req.cover_threshold,
                           progress=ctx.progress, effect=PRIORS.get(plan.effect or ""), enforce=req.enforce)
    ctx.progress("store", 0.0)
    summary["analysis"] = req.analysis_id  # never a server path
    summary["request"] = {"job": ctx.job.id, **request}
    write_json(summary, out / "summary.json")
    ctx.publish()
    last = summary["phases"][-1] if summary["phases"] else {  # enforced: held at phase 1, nothing applied
        "vacuum_measure": summary["baseline"]["vacuum_measure"], "new_zones": {"count": 0},
        "population_losing_cover": 0.0}
    crit = summary["most_critical_bases"]
    return {"analysis_id": req.analysis_id, "plan": summary["plan"], "phases": len(summary["phases"]),
            "vacuum_baseline": summary["baseline"]["vacuum_measure"], "vacuum_final": last["vacuum_measure"],
            "new_zones_final": last["new_zones"]["count"],
            "population_losing_cover_final": last["population_losing_cover"],
            "most_critical_base": crit[0]["base_id"] if crit else None,
            "closing_order_improvement_pct": summary["closing_order"]["improvement_pct"],
            "held_at_phase": (summary["enforced"] or {}).get("held_at_phase"),
            "seconds": round(time.perf_counter() - t0, 2)}


def _phase_count(folder: Path) -> int:
    return sum(1 for p in folder.glob("phase_*") if p.is_dir() and p.name[6:].isdigit())


def _phase_dir(folder: Path, scenario_id: str, phase: int) -> Path:
    d = folder / f"phase_{phase}"
    if phase < 1 or not d.is_dir():
        raise NotFoundError(f"scenario {scenario_id!r} has no phase {phase}; its phases are 1..{_phase_count(folder)}")
    return d


def resolve_surface(storage: Storage, job: JobRecord, phase: int | None, surface: str) -> Path:
    """The COG of ``surface`` after ``phase`` of a done scenario (tile routes)."""
    if phase is None:
        raise NotFoundError(f"scenario {job.id!r}: surfaces are per phase, "
                            f"/scenarios/{job.id}/phases/{{phase}}/tiles/{{surface}}/{{z}}/{{x}}/{{y}}.png")
    if job.status != "done":
        raise NotFoundError(f"scenario {job.id!r} is {job.status}; its surfaces are served once it is done")
    if surface not in PHASE_SURFACES:
        raise NotFoundError(f"no scenario surface {surface!r}; each phase has {', '.join(PHASE_SURFACES)}")
    path = _phase_dir(storage.job_dir(job.kind, job.id), job.id, phase) / f"{surface}.tif"
    if not path.is_file():
        raise NotFoundError(f"scenario {job.id!r} has no {surface} surface for phase {phase}")
    return path


# ============================================================================ exports


_PHASE_VECTORS = {
    "new_zones": "connected areas that rise into high/critical gap, with opened_by and the nearest remaining base",
    "admin_change": "per admin unit: gap and people in high/critical before, after and change",
    "lost_cover_sites": "towns, airports and critical sites whose cell falls below the cover threshold",
}
_FILE = re.compile(r"^(?:phase_(\d+)_)?([a-z_]+)\.(geojson|gpkg|csv|tif|json)$")
_MEDIA = {"geojson": GEOJSON, "gpkg": GEOPACKAGE, "csv": CSV, "tif": GEOTIFF, "json": "application/json"}


def export_catalogue(folder: Path) -> list[dict[str, Any]]:
    """Every export a finished scenario folder offers; ``source`` is the file in the folder
    (``None`` for a CSV derived on first request)."""
    out: list[dict[str, Any]] = []

    def add(file: str, product: str, fmt: str, source: str | None, description: str, phase: int | None = None):
        out.append({"product": product, "phase": phase, "format": fmt, "file": file,
                    "media_type": _MEDIA[file.rsplit(".", 1)[1]], "description": description, "source": source})

    if (folder / "scenario.gpkg").is_file():
        add("scenario.gpkg", "scenario", "GeoPackage", "scenario.gpkg",
            "every vector product of every phase and the base criticality in one GeoPackage (EPSG:4326)")
    for name, what in (("summary.json", "baseline and per-phase figures"),
                       ("closing_order.json", "suggested closing order vs the plan's, maximal-covering cross-check"),
                       ("benchmarks.json", "every phase condition before/after its steps, go/hold, the enforcement")):
        if (folder / name).is_file():
            add(name, name.removesuffix(".json"), "JSON", name, what)
    if (folder / "benchmarks.csv").is_file():
        add("benchmarks.csv", "benchmarks", "CSV", "benchmarks.csv",
            "condition, unit, value before/after, threshold, pass, margin per phase")
    for ext, fmt in (("geojson", "GeoJSON"), ("csv", "CSV")):
        if (folder / f"base_criticality.{ext}").is_file():
            add(f"base_criticality.{ext}", "base_criticality", fmt, f"base_criticality.{ext}",
                "every base ranked by the vacuum its closure alone opens")
    for k in range(1, _phase_count(folder) + 1):
        d = f"phase_{k}"
        for s in PHASE_SURFACES:
            if (folder / d / f"{s}.tif").is_file():
                add(f"{d}_{s}.tif", s, "COG", f"{d}/{s}.tif",
                    f"{s} after phase {k}, Cloud-Optimized GeoTIFF on the analysis grid", k)
        for name, what in _PHASE_VECTORS.items():
            if (folder / d / f"{name}.geojson").is_file():
                add(f"{d}_{name}.geojson", name, "GeoJSON", f"{d}/{name}.geojson", what, k)
                csv = folder / d / f"{name}.csv"
                add(f"{d}_{name}.csv", name, "CSV", f"{d}/{name}.csv" if csv.is_file() else None, what, k)
    return out


def export_file(folder: Path, filename: str) -> tuple[Path, str]:
    """The file serving export ``filename`` (a CSV made on first request) and its media type."""
    offered = {e["file"]: e for e in export_catalogue(folder)}
    entry = offered.get(filename) if _FILE.match(filename) else None
    if entry is None:
        raise NotFoundError(f"no export {filename!r} of scenario {folder.name!r}; offered: {', '.join(sorted(offered))}")
    if entry["source"] is not None:
        return folder / entry["source"], entry["media_type"]
    target = folder / "exports" / filename
    if not target.is_file():
        target.parent.mkdir(exist_ok=True)
        _derive_csv(folder / f"phase_{entry['phase']}" / f"{entry['product']}.geojson", target)
    return target, entry["media_type"]


def _derive_csv(geojson: Path, target: Path) -> None:
    import geopandas as gpd

    from api.products import write_table_csv

    write_table_csv(gpd.read_file(geojson), target)


# ============================================================================ routes


_ID = Annotated[str, PathParam(description="scenario id", examples=["sc_0123456789ab"])]
_PHASE = Annotated[int, PathParam(description="phase number, 1..n in plan order (cumulative)", examples=[1])]
_FORMAT = Annotated[Literal["json", "csv", "geojson"],
                    Query(description="json: list of rows; csv: the table; geojson: with geometries")]
_ZONE_EXAMPLE = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {
        "zone_id": 1, "area_km2": 1650.0, "cells": 66, "population": 8120.0, "mean_gap": 66.2, "max_gap": 81.0,
        "gap_class": "high", "recent_events": 3, "fatalities": 7, "nearest_remaining_base_id": "MINUSCA:ndele",
        "nearest_remaining_base_name": "Ndele", "travel_time_h": None, "opened_by": "MINUSCA:birao"},
    "geometry": {"type": "Polygon", "coordinates": [[[22.6, 10.1], [22.9, 10.1], [22.9, 10.4], [22.6, 10.1]]]}}]}
_ADMIN_ROW = {"admin_id": "CAF-1457", "name": "Vakaga", "level": 1, "mean_gap_before": 6.1, "mean_gap_after": 9.8,
              "mean_gap_change": 3.7, "pop_weighted_gap_change": 4.2, "pop_high_or_critical_change": 3120.0}
_CRIT_ROW = {"rank": 1, "base_id": "MINUSCA:bouar", "name": "Bouar", "strength": 1100, "unit_type": "quick_reaction",
             "added_vacuum": 0.83, "population_losing_cover": 177280.2, "new_high_critical_km2": 1550.0,
             "people_into_high_critical": 74663.5}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _table(csv: Path, geojson: Path, format: str, filename: str, id_column: str) -> Response:
    import pandas as pd

    if format == "csv":
        return FileResponse(csv, media_type=CSV, filename=filename)
    if format == "geojson":
        return FileResponse(geojson, media_type=GEOJSON)
    rows = pd.read_csv(csv, dtype={id_column: str}).to_dict(orient="records")
    return GeoJSONResponse(rows, media_type="application/json")  # NaN as null


def build_router() -> APIRouter:
    router = APIRouter(prefix="/scenarios", tags=["scenarios"])

    @router.post("", dependencies=[Depends(require("planner"))],
                 status_code=202, response_model=ScenarioSubmitted,
                 responses={**error_responses(401, 403, 404, 409, 422)},
                 summary="Submit a withdrawal scenario on a finished analysis (planner)")
    def submit(body: ScenarioRequest, response: Response, s: ServicesDep, who: Caller) -> ScenarioSubmitted:
        """Check the plan against the analysis' bases and queue it; poll ``status_url`` until
        ``status`` is ``done``. Plan errors name the phase, the action and the id."""
        try:
            s.jobs.check_quota(who.key_id, who.name)
            stored = check_request(s.storage, body, s.settings.max_plan_phases, s.settings.max_plan_steps)
        except Exception as exc:
            audit(s.storage, who, "scenario.submit", "-", outcome=f"rejected: {type(exc).__name__}",
                  analysis_id=body.analysis_id)
            raise
        job = s.jobs.submit("scenario", stored, name=stored["name"], created_by=who.key_id, created_by_name=who.name)
        audit(s.storage, who, "scenario.submit", job.id, analysis_id=body.analysis_id, plan=stored["plan"]["name"],
              phases=len(stored["plan"]["phases"]))
        url = f"/scenarios/{job.id}"
        response.headers["Location"] = url
        return ScenarioSubmitted(id=job.id, status=job.status, status_url=url)

    @router.get("", dependencies=[Depends(require("planner"))],
                response_model=list[ScenarioStatus], responses=error_responses(401, 403),
                summary="List scenarios, newest first (planner)")
    def list_scenarios(s: ServicesDep, page: Annotated[Page, Depends()],
                       status: Annotated[Literal["queued", "running", "done", "failed", "interrupted"] | None,
                                         Query(description="only scenarios in this status")] = None
                       ) -> list[ScenarioStatus]:
        jobs = s.storage.list_jobs(kind="scenario", statuses=(status,) if status else None, limit=page.limit)
        return [scenario_status(j) for j in jobs]

    @router.get("/{scenario_id}", dependencies=[Depends(require("planner"))],
                response_model=ScenarioStatus, responses=error_responses(401, 403, 404),
                summary="Status and progress of a scenario (planner)")
    def get_scenario(scenario_id: _ID, s: ServicesDep) -> ScenarioStatus:
        return scenario_status(job_of_kind(s.storage, scenario_id, "scenario"))

    @router.post("/{scenario_id}/cancel", dependencies=[Depends(require("planner"))],
                 response_model=ScenarioStatus, responses=error_responses(401, 403, 404, 409),
                 summary="Cancel a queued or running scenario (planner: its submitter, or an admin)")
    def cancel(scenario_id: _ID, s: ServicesDep, who: Caller) -> ScenarioStatus:
        """The job is marked ``interrupted`` ("cancelled by ..."), stops at its next progress report
        and leaves no partial files."""
        return scenario_status(cancel_job(s, who, scenario_id, "scenario"))

    @router.delete("/{scenario_id}", dependencies=[Depends(require("planner"))],
                   response_model=ScenarioStatus, responses=error_responses(401, 403, 404, 409),
                   summary="Cancel a queued or running scenario (as POST .../cancel)")
    def delete(scenario_id: _ID, s: ServicesDep, who: Caller) -> ScenarioStatus:
        return scenario_status(cancel_job(s, who, scenario_id, "scenario"))

    @router.get("/{scenario_id}/summary", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "summary.json of the scenario",
              "content": {"application/json": {"example": {
                  "plan": "Illustrative MINUSCA drawdown", "analysis": "an_0123456789ab", "as_of": "2020-10-31",
                  "cover_threshold": 0.5,
                  "baseline": {"vacuum_measure": 6.83, "mean_gap": 5.7, "population_high_critical": 128471.0},
                  "phases": [{"phase": 1, "name": "Close observer posts in the south-east", "date": "2021-03-31",
                              "closed": ["MINUSCA:obo", "MINUSCA:zemio"], "vacuum_measure": 6.85,
                              "new_zones": {"count": 5, "area_km2": 125.0, "population": 2610.0},
                              "population_losing_cover": 0.0}],
                  "most_critical_bases": [{"rank": 1, "base_id": "MINUSCA:bouar", "name": "Bouar",
                                           "added_vacuum": 0.83, "population_losing_cover": 177280.2}],
                  "closing_order": {"plan_cumulative_vacuum": 21.59, "suggested_cumulative_vacuum": 21.59,
                                    "improvement_pct": 0.0}}}}},
        **error_responses(401, 403, 404, 409)}, summary="Summary of a finished scenario (planner)")
    def summary(scenario_id: _ID, s: ServicesDep) -> JSONResponse:
        """Baseline, then per phase: steps, bases closed so far, new vacuum zones, people and
        sites losing cover, exposure-weighted gap; the most critical bases; the closing-order comparison."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        return GeoJSONResponse(_read_json(folder / "summary.json"), media_type="application/json")

    @router.get("/{scenario_id}/phases", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "the phases, with the URLs of their products and tiles",
              "content": {"application/json": {"example": [{
                  "phase": 1, "name": "Close observer posts in the south-east", "date": "2021-03-31",
                  "closed": ["MINUSCA:obo", "MINUSCA:zemio"], "vacuum_measure": 6.85,
                  "new_zones": {"count": 5, "area_km2": 125.0, "population": 2610.0},
                  "population_losing_cover": 0.0,
                  "links": {"zones": "/scenarios/sc_0123456789ab/phases/1/zones",
                            "admin": "/scenarios/sc_0123456789ab/phases/1/admin",
                            "sites": "/scenarios/sc_0123456789ab/phases/1/sites",
                            "tilejson": {"gap_delta": "/scenarios/sc_0123456789ab/phases/1/tilejson/gap_delta.json"}}}]}}},
        **error_responses(401, 403, 404, 409)}, summary="Phases of a finished scenario (planner)")
    def phases(scenario_id: _ID, s: ServicesDep) -> JSONResponse:
        folder = finished_folder(s.storage, scenario_id, "scenario")
        base = f"/scenarios/{scenario_id}/phases"
        out = []
        for ph in _read_json(folder / "summary.json")["phases"]:
            k = ph["phase"]
            nz = ph["new_zones"]
            out.append({
                "phase": k, "name": ph["name"], "date": ph["date"], "steps": ph["steps"], "closed": ph["closed"],
                "vacuum_measure": ph["vacuum_measure"],
                "new_zones": {"count": nz["count"], "area_km2": nz["area_km2"], "population": nz["population"]},
                "population_losing_cover": ph["population_losing_cover"],
                "links": {"zones": f"{base}/{k}/zones", "admin": f"{base}/{k}/admin", "sites": f"{base}/{k}/sites",
                          "tilejson": {sf: f"{base}/{k}/tilejson/{sf}.json" for sf in PHASE_SURFACES},
                          "tiles": {sf: f"{base}/{k}/tiles/{sf}/{{z}}/{{x}}/{{y}}.png" for sf in PHASE_SURFACES}},
            })
        return GeoJSONResponse(out, media_type="application/json")

    @router.get("/{scenario_id}/phases/{phase}/zones", dependencies=[Depends(require("planner"))],
                response_class=FileResponse, responses={
        200: {"description": "new vacuum zones after the phase, RFC 7946 GeoJSON",
              "content": {GEOJSON: {"example": _ZONE_EXAMPLE}}},
        **error_responses(401, 403, 404, 409)}, summary="New vacuum zones of a phase (GeoJSON, planner)")
    def zones(scenario_id: _ID, phase: _PHASE, s: ServicesDep) -> FileResponse:
        """Connected areas that rise into high/critical gap (cumulative, against the baseline),
        with area, people, recent events, ``opened_by`` (the changed base whose lost protection
        there is largest) and the nearest remaining UN base with its travel time."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        return FileResponse(_phase_dir(folder, scenario_id, phase) / "new_zones.geojson", media_type=GEOJSON)

    @router.get("/{scenario_id}/phases/{phase}/admin", dependencies=[Depends(require("planner"))],
                responses={
        200: {"description": "admin units before, after and change",
              "content": {"application/json": {"example": [_ADMIN_ROW]},
                          CSV: {"example": "admin_id,name,level,mean_gap_before,...\nCAF-1457,Vakaga,1,6.1,...\n"},
                          GEOJSON: {"example": {"type": "FeatureCollection", "features": []}}}},
        **error_responses(401, 403, 404, 409, 422)}, summary="Admin-area change of a phase (JSON, CSV or GeoJSON; planner)")
    def admin_change(scenario_id: _ID, phase: _PHASE, s: ServicesDep, format: _FORMAT = "json") -> Response:
        """Per admin unit: mean, max and population-weighted gap and people in high/critical,
        before, after and change; the largest rise in population-weighted gap first."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        d = _phase_dir(folder, scenario_id, phase)
        if not (d / "admin_change.csv").is_file():
            raise NotFoundError(f"scenario {scenario_id!r} has no admin table (its analysis was run without admin units)")
        return _table(d / "admin_change.csv", d / "admin_change.geojson", format,
                      f"{scenario_id}_phase_{phase}_admin_change.csv", "admin_id")

    @router.get("/{scenario_id}/phases/{phase}/sites", dependencies=[Depends(require("planner"))],
                response_class=FileResponse, responses={
        200: {"description": "sites losing cover after the phase, RFC 7946 GeoJSON",
              "content": {GEOJSON: {"example": {"type": "FeatureCollection", "features": [{
                  "type": "Feature", "properties": {"site_id": "240999", "name": "Alindao", "kind": "town",
                                                    "population": 32588.0, "coverage_before": 0.9,
                                                    "coverage_after": 0.0},
                  "geometry": {"type": "Point", "coordinates": [21.20876, 5.02667]}}]}}}},
        **error_responses(401, 403, 404, 409)}, summary="Sites losing cover in a phase (GeoJSON, planner)")
    def sites(scenario_id: _ID, phase: _PHASE, s: ServicesDep) -> FileResponse:
        """Towns, airports and critical sites whose cell falls below the cover threshold, with
        coverage before and after."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        path = _phase_dir(folder, scenario_id, phase) / "lost_cover_sites.geojson"
        if not path.is_file():
            raise NotFoundError(f"scenario {scenario_id!r} has no sites product (its analysis was run without "
                                "towns, airports or critical sites)")
        return FileResponse(path, media_type=GEOJSON)

    @router.get("/{scenario_id}/criticality", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "every base ranked by the vacuum its closure alone opens",
              "content": {"application/json": {"example": [_CRIT_ROW]},
                          CSV: {"example": "rank,base_id,name,strength,...\n1,MINUSCA:bouar,Bouar,1100,...\n"},
                          GEOJSON: {"example": {"type": "FeatureCollection", "features": [{
                              "type": "Feature", "properties": _CRIT_ROW,
                              "geometry": {"type": "Point", "coordinates": [15.6, 5.93]}}]}}}},
        **error_responses(401, 403, 404, 409, 422)},
        summary="Base criticality (JSON, CSV or GeoJSON with base positions; planner)")
    def criticality(scenario_id: _ID, s: ServicesDep, who: Caller, format: _FORMAT = "json") -> Response:
        """For every base: the rise of the exposure-weighted mean gap when it alone closes, people
        losing cover, area and people rising into high/critical; ranked. GeoJSON gives each base's
        position. Every read is recorded in the audit log."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        audit(s.storage, who, "scenario.criticality", scenario_id, format=format)
        return _table(folder / "base_criticality.csv", folder / "base_criticality.geojson", format,
                      f"{scenario_id}_base_criticality.csv", "base_id")

    @router.get("/{scenario_id}/closing-order", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "closing_order.json",
              "content": {"application/json": {"example": {
                  "measure": "exposure-weighted mean gap after each phase; cumulative = sum over phases",
                  "plan_phases": [["MINUSCA:obo", "MINUSCA:zemio"], ["MINUSCA:birao"]],
                  "plan_curve": [6.85, 7.18], "plan_cumulative_vacuum": 14.03,
                  "suggested_phases": [["MINUSCA:zemio", "MINUSCA:obo"], ["MINUSCA:birao"]],
                  "suggested_curve": [6.85, 7.18], "suggested_cumulative_vacuum": 14.03, "improvement_pct": 0.0,
                  "greedy_sequence": [{"base_id": "MINUSCA:zemio", "vacuum_after": 6.83}],
                  "maximal_covering": {"keep": ["MINUSCA:bangui", "MINUSCA:bouar"], "overlap_with_plan": 0.56,
                                       "overlap_with_greedy": 1.0}}}}},
        **error_responses(401, 403, 404, 409)}, summary="Suggested closing order vs the plan's (planner)")
    def closing_order(scenario_id: _ID, s: ServicesDep) -> JSONResponse:
        """Greedy order on the exact incremental evaluation, split into phases like the plan (or
        ``phases`` evenly), both cumulative-vacuum curves, and the maximal-covering cross-check."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        return GeoJSONResponse(_read_json(folder / "closing_order.json"), media_type="application/json")

    @router.get("/{scenario_id}/exports", dependencies=[Depends(require("planner"))], responses={
        200: {"description": "the exports offered",
              "content": {"application/json": {"example": [
                  {"product": "gap_delta", "phase": 1, "format": "COG", "file": "phase_1_gap_delta.tif",
                   "media_type": GEOTIFF, "url": "/scenarios/sc_0123456789ab/exports/phase_1_gap_delta.tif",
                   "description": "gap_delta after phase 1, Cloud-Optimized GeoTIFF on the analysis grid"}]}}},
        **error_responses(401, 403, 404, 409)}, summary="List the exports of a scenario (planner)")
    def exports(scenario_id: _ID, s: ServicesDep) -> list[dict[str, Any]]:
        folder = finished_folder(s.storage, scenario_id, "scenario")
        return [{**{k: v for k, v in e.items() if k != "source"}, "url": f"/scenarios/{scenario_id}/exports/{e['file']}"}
                for e in export_catalogue(folder)]

    @router.head("/{scenario_id}/exports/{filename}", dependencies=[Depends(require("planner"))], include_in_schema=False)
    @router.get("/{scenario_id}/exports/{filename}", dependencies=[Depends(require("planner"))],
                response_class=FileResponse, responses={
        200: {"description": "the file",
              "content": {GEOPACKAGE: {"example": "(binary GeoPackage)"},
                          GEOJSON: {"example": {"type": "FeatureCollection", "features": []}},
                          CSV: {"example": "zone_id,area_km2,...\n1,1650,...\n"},
                          "image/tiff": {"example": "(binary Cloud-Optimized GeoTIFF)"},
                          "application/json": {"example": {"plan": "Illustrative MINUSCA drawdown"}}}},
        **error_responses(401, 403, 404, 409)}, summary="Download an export of a scenario (planner)")
    def export(scenario_id: _ID, s: ServicesDep, who: Caller,
               filename: Annotated[str, PathParam(description="a file from the exports list",
                                                  examples=["scenario.gpkg"])]) -> FileResponse:
        """``scenario.gpkg``; ``summary.json``, ``closing_order.json``; ``base_criticality.<geojson|csv>``;
        per phase ``phase_<k>_<surface>.tif`` (gap, coverage, gap_delta, coverage_delta) and
        ``phase_<k>_<new_zones|admin_change|lost_cover_sites>.<geojson|csv>``. Recorded in the audit log."""
        folder = finished_folder(s.storage, scenario_id, "scenario")
        try:
            path, media = export_file(folder, filename)
        except NotFoundError:
            audit(s.storage, who, "export", f"{scenario_id}/{filename}", outcome="rejected: NotFoundError")
            raise
        audit(s.storage, who, "export", f"{scenario_id}/{filename}")
        return FileResponse(path, media_type=media, filename=f"{scenario_id}_{filename}")

    return router


register_job_kind(JobKind(name="scenario", id_prefix="sc", run=run_scenario_job, resolve_surface=resolve_surface,
                          router=build_router, stages=SCENARIO_STAGES))
