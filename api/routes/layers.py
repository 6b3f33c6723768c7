"""``/layers``: upload (admin), list and fetch (viewer; force positions need planner)."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import SENSITIVE_LAYER_KINDS, Caller, Identity, audit, require
from api.deps import ServicesDep
from api.errors import PermissionDeniedError, RequestError, error_responses
from api.layers import LAYER_KINDS, OPTION_FIELDS, LayerOptions, ingest_layer, parse_options
from api.responses import GEOJSON, GEOTIFF
from api.storage import LayerRecord
from api.uploads import RASTER_FORMATS, VECTOR_FORMATS, receive_upload

__all__ = ["router", "LayerOut", "layer_out"]

router = APIRouter(prefix="/layers", tags=["layers"])

_EXAMPLE: dict[str, Any] = {
    "id": "ly_3f9a0c1b2d4e", "kind": "bases", "name": "MINUSCA October 2020", "filename": "bases_geopko_v2.1.csv",
    "format": "CSV", "storage": "vector", "crs": "EPSG:4326", "feature_count": 20,
    "bbox": [15.5, 3.6, 26.4, 10.3],
    "columns": {"base_id": "str", "name": "str", "mission": "str", "strength": "float", "unit_type": "str",
                "strength_source": "str", "map_date": "datetime", "hq": "int"},
    "attrs": {"schema": "geo_pko_v2.1", "maps": {"MINUSCA": {"source": "Map no. 4522 Rev. 19", "map_date": "2020-10"}}},
    "options": {"as_of": "2020-10-31"}, "size_bytes": 9932, "created_at": "2026-11-24T10:00:00.000+00:00",
    "links": {"self": "/layers/ly_3f9a0c1b2d4e", "data": "/layers/ly_3f9a0c1b2d4e/data"},
}


class LayerOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: str
    kind: str = Field(description="what the layer holds", json_schema_extra={"enum": list(LAYER_KINDS)})
    name: str
    filename: str
    format: str
    storage: str = Field(description="vector (features) or raster (GeoTIFF)")
    crs: str
    feature_count: int | None
    bbox: list[float] | None = Field(description="lon/lat W, S, E, N (hidden from viewers for force positions)")
    columns: dict[str, str]
    attrs: dict[str, Any] = Field(description="what the loader recorded: schema, maps used, defaults applied")
    options: dict[str, Any]
    size_bytes: int
    created_at: str
    links: dict[str, str]


def layer_out(rec: LayerRecord, who: Identity) -> LayerOut:
    hide = rec.kind in SENSITIVE_LAYER_KINDS and not who.can("planner")
    return LayerOut(id=rec.id, kind=rec.kind, name=rec.name, filename=rec.filename, format=rec.format,
                    storage=rec.storage, crs=rec.crs, feature_count=rec.feature_count,
                    bbox=None if hide else rec.bbox, columns=rec.columns, attrs={} if hide else rec.attrs,
                    options=rec.options, size_bytes=rec.size_bytes, created_at=rec.created_at,
                    links={"self": f"/layers/{rec.id}", "data": f"/layers/{rec.id}/data"})


def _upload_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "file": {"type": "string", "format": "binary",
                 "description": "the layer: " + ", ".join(f"{e} ({n})" for e, n in {**VECTOR_FORMATS, **RASTER_FORMATS}.items())},
        "kind": {"type": "string", "enum": list(LAYER_KINDS), "description": "what the layer holds"},
        "name": {"type": "string", "description": "a label (default: the file name)"},
    }
    opt_schema = LayerOptions.model_json_schema()["properties"]
    for k in OPTION_FIELDS:
        p = dict(opt_schema[k])
        if k == "mapping":
            p = {"type": "string", "description": p.get("description", ""), "example": '{"strength": "troops"}'}
        props[k] = p
    return {
        "required": True,
        "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["file", "kind"], "properties": props},
            "example": {"kind": "bases", "name": "MINUSCA October 2020", "as_of": "2020-10-31"},
        }},
    }


@router.post("", dependencies=[Depends(require("admin"))],
             status_code=201, response_model=LayerOut, openapi_extra={"requestBody": _upload_schema()},
             responses=error_responses(401, 403, 413, 422), summary="Upload a layer (admin)")
async def upload_layer(request: Request, s: ServicesDep, who: Caller) -> JSONResponse:
    """Upload a layer file as multipart form data, validated by the engine's loader for its kind::

        curl -H "X-API-Key: $KEY" -F kind=bases -F as_of=2020-10-31 -F file=@bases_geopko_v2.1.csv .../layers

    Kinds and their options: ``GET /layers/kinds``. A bad file gets 422 naming the file,
    the row, the field and the fix; an oversize one 413. Every upload, accepted or not, is
    recorded in the audit log. Nothing stored is touched: each upload is a new layer.
    """
    workdir = s.storage.tmp_dir() / f"upload-{uuid.uuid4().hex[:12]}"
    workdir.mkdir(parents=True)
    filename, kind = "-", None
    try:
        up = await receive_upload(request, workdir, max_file_bytes=s.settings.max_upload_bytes)
        filename = up.filename or "-"
        fields = dict(up.fields)
        kind = fields.pop("kind", None)
        name = fields.pop("name", None)
        if not kind:
            raise RequestError(f"field 'kind' is required: one of {', '.join(LAYER_KINDS)}")
        if up.path is None or up.filename is None:
            raise RequestError("field 'file' is required: the layer file (curl -F file=@bases.csv)")
        opts = parse_options(kind, fields)
        rec = await run_in_threadpool(
            ingest_layer, s.storage, s.settings, kind=kind, source=up.path, filename=up.filename, options=opts,
            name=(name or "").strip()[:200] or None, created_by=who.key_id, workdir=workdir)
    except Exception as exc:
        audit(s.storage, who, "layer.upload", filename, outcome=f"rejected: {type(exc).__name__}", kind=kind)
        raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    audit(s.storage, who, "layer.upload", rec.id, kind=rec.kind, filename=rec.filename,
          features=rec.feature_count, size_bytes=rec.size_bytes)
    return JSONResponse(layer_out(rec, who).model_dump(), status_code=201, headers={"Location": f"/layers/{rec.id}"})


@router.get("/kinds", dependencies=[Depends(require("viewer"))],
            responses={200: {"content": {"application/json": {"example": [
    {"kind": "bases", "storage": "vector", "description": "peacekeeper bases with troop strength",
     "options": ["as_of", "crs", "layer", "mapping", "max_map_age_days", "mission"], "formats": [".csv", ".geojson"]}]}}},
            **error_responses(401)}, summary="Layer kinds, their formats and upload options")
def kinds() -> list[dict[str, Any]]:
    return [{"kind": k.kind, "storage": k.storage, "description": k.description, "options": sorted(k.options),
             "formats": list(RASTER_FORMATS if k.storage == "raster" else VECTOR_FORMATS)}
            for k in LAYER_KINDS.values()]


@router.get("", dependencies=[Depends(require("viewer"))],
            response_model=list[LayerOut], responses=error_responses(401, 422), summary="List layers")
def list_layers(s: ServicesDep, who: Caller,
                kind: Annotated[str | None, Query(description="only layers of this kind", examples=["bases"],
                                                  json_schema_extra={"enum": list(LAYER_KINDS)})] = None
                ) -> list[LayerOut]:
    if kind is not None and kind not in LAYER_KINDS:
        raise RequestError(f"kind {kind!r} is not a layer kind; use one of {', '.join(LAYER_KINDS)}")
    return [layer_out(r, who) for r in s.storage.list_layers(kind)]


_LID = Annotated[str, PathParam(description="layer id", examples=["ly_3f9a0c1b2d4e"])]


@router.get("/{layer_id}", dependencies=[Depends(require("viewer"))],
            response_model=LayerOut, responses=error_responses(401, 404), summary="One layer")
def get_layer(layer_id: _LID, s: ServicesDep, who: Caller) -> LayerOut:
    return layer_out(s.storage.get_layer(layer_id), who)


@router.get("/{layer_id}/data", dependencies=[Depends(require("viewer"))],
            response_class=FileResponse, responses={
    200: {"description": "vector layers as RFC 7946 GeoJSON (WGS84, NaN as null); rasters as the GeoTIFF",
          "content": {GEOJSON: {"example": {"type": "FeatureCollection", "features": [{
              "type": "Feature", "properties": {"site_id": "2389853", "name": "Bangui", "kind": "town",
                                                "population": 542393.0, "subtype": ""},
              "geometry": {"type": "Point", "coordinates": [18.554963, 4.361698]}}]}},
                      "image/tiff": {"example": "(binary GeoTIFF)"}}},
    **error_responses(401, 403, 404)}, summary="A layer's data (GeoJSON or GeoTIFF)")
def layer_data(layer_id: _LID, s: ServicesDep, who: Caller) -> FileResponse:
    """Bases and national forces are force positions: they need the planner role, and each
    fetch is recorded in the audit log."""
    rec = s.storage.get_layer(layer_id)
    if rec.kind in SENSITIVE_LAYER_KINDS:
        if not who.can("planner"):
            raise PermissionDeniedError(
                f"layer {layer_id!r} holds {rec.kind} positions; it needs the planner role (your key has {who.role})")
        audit(s.storage, who, "layer.fetch", layer_id, kind=rec.kind)
    if rec.storage == "raster":
        return FileResponse(s.storage.raster_path(layer_id), media_type=GEOTIFF, filename=f"{layer_id}.tif")
    cache = s.storage.workspace / "cache" / "layers" / f"{layer_id}.geojson"
    if not cache.is_file():
        from geo.export import write_geojson

        cache.parent.mkdir(parents=True, exist_ok=True)
        write_geojson(s.storage.read_layer(layer_id), cache)
    return FileResponse(cache, media_type=GEOJSON)
