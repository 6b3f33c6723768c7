"""Downloads for offline use: the field package (zip) and the tile pyramids (MBTiles) of an analysis.

    GET /analyses/{id}/package                 viewer: the viewer-safe package (maps.package)
    GET /analyses/{id}/package?full=true       planner: the full one (bases, coverage, travel time)
    GET /analyses/{id}/pyramids                viewer: the pyramids written by `vacuum pyramid` it may have
    GET /analyses/{id}/pyramids/{surface}.mbtiles   viewer; planner for gap, coverage, travel_time

A package is built on first request into ``exports/`` of the analysis folder (atomically;
a second request is served the same file). Every download is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from api.analyses import finished_folder
from api.auth import SENSITIVE_SURFACES, Caller, audit, require
from api.deps import ServicesDep
from api.errors import NotFoundError, PermissionDeniedError, error_responses
from geo.pipeline import SURFACES

__all__ = ["build_router", "package_zip", "ZIP", "MBTILES"]

ZIP = "application/zip"
MBTILES = "application/vnd.sqlite3"
"""MBTiles has no media type of its own; it is an SQLite file."""

_ID = Annotated[str, PathParam(description="analysis id", examples=["an_0123456789ab"])]


def package_zip(folder: Path, *, full: bool) -> Path:
    """``exports/package_<viewer|full>.zip`` of an analysis folder, built on first use."""
    from maps.package import build_package

    out = folder / "exports" / f"package_{'full' if full else 'viewer'}.zip"
    if not out.is_file():
        build_package(folder, out, full=full, as_zip=True)
    return out


def _pyramids(folder: Path, ident) -> list[str]:
    return [s for s in SURFACES if (folder / f"{s}.mbtiles").is_file()
            and (s not in SENSITIVE_SURFACES or ident.can("planner"))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/analyses", tags=["offline"])

    @router.get("/{analysis_id}/package", dependencies=[Depends(require("viewer"))], response_class=FileResponse,
                responses={200: {"description": "the package: a zip holding index.html, PMTiles and data files",
                                 "content": {ZIP: {"example": "(binary zip)"}}},
                           **error_responses(401, 403, 404, 409)},
                summary="Download the offline field package (zip)")
    def package(analysis_id: _ID, s: ServicesDep, who: Caller,
                full: Annotated[bool, Query(description="planner: the full package (bases, full gap, "
                                                        "coverage, travel time)")] = False) -> FileResponse:
        """Unzip and open ``index.html`` in a browser: no network needed. Viewers get the
        viewer-safe package (the 150 km block gap, public zones and admin table, no bases);
        ``?full=true`` needs the planner role."""
        if full and not who.can("planner"):
            audit(s.storage, who, "export.package", analysis_id, outcome="denied: PermissionDeniedError", full=True)
            raise PermissionDeniedError("the full package holds base positions: planner role needed; "
                                        "leave out ?full=true for the viewer-safe package")
        folder = finished_folder(s.storage, analysis_id)
        path = package_zip(folder, full=full)
        audit(s.storage, who, "export.package", analysis_id, full=full)
        return FileResponse(path, media_type=ZIP,
                            filename=f"{analysis_id}_field_package{'_full' if full else ''}.zip")

    @router.get("/{analysis_id}/pyramids", dependencies=[Depends(require("viewer"))], responses={
        200: {"description": "the pyramids offered", "content": {"application/json": {"example": [
            {"surface": "risk", "file": "risk.mbtiles", "url": "/analyses/an_0123456789ab/pyramids/risk.mbtiles"}]}}},
        **error_responses(401, 404, 409)}, summary="List the tile pyramids (MBTiles) of an analysis")
    def pyramids(analysis_id: _ID, s: ServicesDep, who: Caller) -> list[dict[str, str]]:
        """The pyramids ``vacuum pyramid`` wrote for the analysis that the caller may have
        (viewers: not gap, coverage, travel_time)."""
        folder = finished_folder(s.storage, analysis_id)
        return [{"surface": x, "file": f"{x}.mbtiles", "url": f"/analyses/{analysis_id}/pyramids/{x}.mbtiles"}
                for x in _pyramids(folder, who)]

    @router.get("/{analysis_id}/pyramids/{surface}.mbtiles", dependencies=[Depends(require("viewer"))],
                response_class=FileResponse, responses={
        200: {"description": "the MBTiles file", "content": {MBTILES: {"example": "(binary SQLite)"}}},
        **error_responses(401, 403, 404, 409)}, summary="Download a tile pyramid (MBTiles)")
    def pyramid(analysis_id: _ID, surface: str, s: ServicesDep, who: Caller) -> FileResponse:
        if surface in SENSITIVE_SURFACES and not who.can("planner"):
            raise PermissionDeniedError(f"the {surface} surface pinpoints bases: planner role needed")
        if surface not in SURFACES:
            raise NotFoundError(f"no surface {surface!r}; surfaces: {', '.join(SURFACES)}")
        folder = finished_folder(s.storage, analysis_id)
        path = folder / f"{surface}.mbtiles"
        if not path.is_file():
            raise NotFoundError(f"analysis {analysis_id!r} has no {surface} pyramid; `vacuum pyramid` writes one "
                                f"(offered: {', '.join(_pyramids(folder, who)) or 'none'})")
        audit(s.storage, who, "export.pyramid", f"{analysis_id}/{surface}")
        return FileResponse(path, media_type=MBTILES, filename=f"{analysis_id}_{surface}.mbtiles")

    return router
