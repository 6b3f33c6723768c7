"""The OGC API routes, under ``/ogc``: Common (landing page, conformance, collections),
Features (items with ``bbox``, ``datetime``, ``limit``/``offset``, one item) and Tiles
(tile matrix sets, map tile sets, ``{z}/{y}/{x}`` PNG tiles), plus a WMTS capabilities
document. The tiles are the XYZ tiles' own (:func:`api.tiles.router.tile_response`, the
app's one :class:`api.tiles.TileRenderer`); what a role sees is :mod:`api.ogc.catalog`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam

from api.auth import Caller, Identity, require, tile_cache_headers
from api.errors import NotFoundError, error_responses
from api.ogc import documents as docs
from api.ogc.catalog import (
    FEATURES,
    CollectionRef,
    FeatureSpec,
    check_surface,
    collection_id,
    done_analyses,
    feature_collection,
    parse_collection_id,
    visible_features,
    visible_surfaces,
)
from api.ogc.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    date_of,
    feature_bbox,
    parse_bbox,
    parse_datetime,
    select,
)
from api.responses import GeoJSONResponse

__all__ = ["build_router", "OGC_PREFIX", "EXAMPLES"]

OGC_PREFIX = "/ogc"
CollectionId = Annotated[str, PathParam(description="<analysis id>-<product>, e.g. an_0123456789ab-zones "
                                                    "(GET /ogc/collections lists them)")]
MapCollectionId = Annotated[str, PathParam(description="<analysis id>-<surface>, e.g. an_0123456789ab-risk "
                                                       "(the collections with a map/tiles link)")]
TMSId = Annotated[str, PathParam(description="the tile matrix set: WebMercatorQuad")]
_CID = "an_0123456789ab-zones"
_LINK = {"href": "/ogc/collections/an_0123456789ab-zones", "rel": "self", "type": "application/json"}
_FEATURE = {"type": "Feature", "id": "274351", "properties": {"event_id": "274351", "date": "2018-11-01",
                                                              "event_type": "one_sided", "fatalities": 1.0},
            "geometry": {"type": "Point", "coordinates": [18.283269, 7.300818]}}
EXAMPLES: dict[str, Any] = {
    "landing": {"title": "Vacuum OGC API", "links": [{"href": "/ogc/collections", "rel": "data", "type": "application/json"}]},
    "conformance": {"conformsTo": ["http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"]},
    "tms_list": {"tileMatrixSets": [{"id": "WebMercatorQuad", "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"}]},
    "tms": {"id": "WebMercatorQuad", "crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "tileMatrices": []},
    "collection": {"id": _CID, "title": "Vacuum zones - MINUSCA demo", "itemType": "feature",
                   "extent": {"spatial": {"bbox": [[14.4, 2.2, 27.5, 11.0]]}}, "links": [_LINK]},
    "items": {"type": "FeatureCollection", "features": [_FEATURE], "numberMatched": 116, "numberReturned": 1,
              "links": [{"href": "/ogc/collections/an_0123456789ab-events/items?limit=1&offset=1", "rel": "next",
                         "type": "application/geo+json"}]},
    "item": _FEATURE,
    "tilesets": {"tilesets": [{"title": "Forecast risk", "dataType": "map", "crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}]},
    "tileset": {"title": "Forecast risk", "dataType": "map", "tileMatrixSetLimits": [
        {"tileMatrix": "5", "minTileRow": 14, "maxTileRow": 15, "minTileCol": 17, "maxTileCol": 18}]},
}
"""One example per 200 answer (the OpenAPI document shows one for every route)."""


def _ok(name: str, media: str = "application/json") -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "OK", "content": {media: {"example": EXAMPLES[name]}}}}


def _bases(request: Request) -> tuple[str, str]:
    """(the OGC API's base URL, the service's base URL): absolute for a trusted ``Host`` only."""
    from api.security import public_base

    root = public_base(request, request.app.state.services.settings)
    return root + OGC_PREFIX, root


def _folder(request: Request, analysis_id: str) -> Path:
    from api.analyses import finished_folder

    return finished_folder(request.app.state.services.storage, analysis_id)


_EXTENTS: dict[tuple[str, str, bool, int], tuple[Any, Any]] = {}
"""Extents of feature collections by (folder, product, planner, folder mtime): a finished
analysis folder does not change, and ``/collections`` would read every product each time."""


def _feature_extent(folder: Path, spec: FeatureSpec, who: Identity) -> tuple[Any, Any]:
    key = (str(folder), spec.name, who.can("planner"), folder.stat().st_mtime_ns)
    if key not in _EXTENTS:
        if len(_EXTENTS) > 1024:
            _EXTENTS.clear()
        _EXTENTS[key] = _extent(feature_collection(folder, spec, who), spec.date_property)
    return _EXTENTS[key]


def _extent(features: list[dict[str, Any]], date_property: str | None):
    boxes = [b for f in features if (b := feature_bbox(f.get("geometry"))) is not None]
    bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes)) if boxes else None
    interval = None
    if date_property:
        days = sorted(d for f in features if (d := date_of((f.get("properties") or {}).get(date_property))))
        interval = (days[0].isoformat(), days[-1].isoformat()) if days else (None, None)
    return bbox, interval


def _surface_info(request: Request, analysis_id: str, surface: str) -> dict[str, Any]:
    """TileJSON facts of a surface (bounds, zooms, title) from the app's one renderer."""
    renderer = request.app.state.tile_renderer
    path = request.app.state.tile_resolve("analysis", analysis_id, None, surface)
    return renderer.tilejson(path, surface, "")


def _collection_docs(request: Request, who: Identity, ref: CollectionRef, title: str, folder: Path,
                     base: str) -> dict[str, Any]:
    if ref.product in FEATURES:
        spec = FEATURES[ref.product]
        return docs.feature_collection_doc(base, ref.id, spec, title, *_feature_extent(folder, spec, who))
    check_surface(ref.product, who)
    info = _surface_info(request, ref.analysis_id, ref.product)
    style = request.app.state.tile_renderer.style(ref.product)
    return docs.map_collection_doc(base, ref.id, f"{style.title} - {title}", style.unit, info["bounds"])


def _visible(request: Request, who: Identity, ref: CollectionRef) -> Path:
    """The analysis folder of a collection the caller may see; 404 for one it does not offer."""
    folder = _folder(request, ref.analysis_id)
    if ref.product in FEATURES:
        spec = FEATURES[ref.product]
        if spec.planner_only and not who.can("planner"):
            feature_collection(folder, spec, who)  # raises the 403 naming the role
        if spec not in visible_features(folder, who):
            raise NotFoundError(f"analysis {ref.analysis_id!r} has no {ref.product} product")
    else:
        check_surface(ref.product, who)
        if ref.product not in visible_surfaces(folder, who):
            raise NotFoundError(f"analysis {ref.analysis_id!r} has no {ref.product} surface")
    return folder


def _common_routes(router: APIRouter) -> None:
    @router.get("", summary="OGC API landing page", responses=_ok("landing"))
    def landing(request: Request) -> dict[str, Any]:
        """Links to the conformance classes, the collections, the tile matrix sets and the API definition."""
        base, root = _bases(request)
        return docs.landing(base, root, request.app.title, request.app.version)

    @router.get("/conformance", summary="OGC API conformance classes", responses=_ok("conformance"))
    def conformance() -> dict[str, Any]:
        return {"conformsTo": list(docs.CONFORMANCE)}

    @router.get("/tileMatrixSets", summary="Tile matrix sets (WebMercatorQuad)", responses=_ok("tms_list"))
    def tile_matrix_sets(request: Request) -> dict[str, Any]:
        return docs.tile_matrix_sets_doc(_bases(request)[0])

    @router.get("/tileMatrixSets/{tileMatrixSetId}", summary="A tile matrix set (OGC TMS 2.0 JSON)",
                responses={**_ok("tms"), **error_responses(404)})
    def tile_matrix_set(tileMatrixSetId: TMSId) -> dict[str, Any]:  # noqa: N803 - the OGC name
        _check_tms(tileMatrixSetId)
        return docs.tile_matrix_set_doc()


def _check_tms(tms_id: str) -> None:
    if tms_id != docs.TMS_ID:
        raise NotFoundError(f"no tile matrix set {tms_id!r}; this service tiles in {docs.TMS_ID} only")


def _collection_routes(router: APIRouter) -> None:
    viewer = [Depends(require("viewer"))]

    @router.get("/collections", dependencies=viewer, responses={
        200: {"description": "OK", "content": {"application/json": {"example": {"collections": [EXAMPLES["collection"]]}}}},
        **error_responses(401)},
                summary="The collections the caller may see")
    def collections(request: Request, who: Caller) -> dict[str, Any]:
        """Per finished analysis (newest 50): its feature collections and its surfaces' map tile sets."""
        base, _ = _bases(request)
        out = []
        for job in done_analyses(request.app.state.services.storage):
            folder = request.app.state.services.storage.job_dir("analysis", job.id)
            title = job.name or job.id
            names = [s.name for s in visible_features(folder, who)] + visible_surfaces(folder, who)
            out += [_collection_docs(request, who, CollectionRef(job.id, n), title, folder, base) for n in names]
        return {"collections": out, "links": [docs.link(f"{base}/collections", "self")]}

    @router.get("/collections/{collectionId}", dependencies=viewer,
                responses={**_ok("collection"), **error_responses(401, 403, 404, 409)},
                summary="One collection")
    def collection(request: Request, who: Caller, collectionId: CollectionId) -> dict[str, Any]:  # noqa: N803
        ref = parse_collection_id(collectionId)
        folder = _visible(request, who, ref)
        job = request.app.state.services.storage.get_job(ref.analysis_id)
        return _collection_docs(request, who, ref, job.name or job.id, folder, _bases(request)[0])


def _item_routes(router: APIRouter) -> None:
    viewer = [Depends(require("viewer"))]

    @router.get("/collections/{collectionId}/items", dependencies=viewer, response_class=GeoJSONResponse,
                responses={**_ok("items", "application/geo+json"), **error_responses(401, 403, 404, 409, 422)},
                summary="Features of a collection (GeoJSON)")
    def items(request: Request, who: Caller, collectionId: CollectionId,  # noqa: N803
              bbox: Annotated[str | None, Query(description="W,S,E,N in CRS84 degrees")] = None,
              datetime_: Annotated[str | None, Query(alias="datetime", description=(
                  "an RFC 3339 date or interval (a/b, ../b, a/..), at day resolution; events only"))] = None,
              limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
              offset: Annotated[int, Query(ge=0)] = 0) -> GeoJSONResponse:
        ref = parse_collection_id(collectionId)
        spec = FEATURES.get(ref.product)
        if spec is None:
            raise NotFoundError(f"{collectionId!r} is a map tile set, not a feature collection: its tiles are at "
                                f"{OGC_PREFIX}/collections/{collectionId}/map/tiles")
        folder = _visible(request, who, ref)
        box = parse_bbox(bbox) if bbox is not None else None
        interval = parse_datetime(datetime_) if datetime_ is not None else None
        if interval is not None and spec.date_property is None:
            from api.errors import RequestError

            raise RequestError(f"datetime: the {spec.name} collection has no time; datetime filters events only")
        page = select(feature_collection(folder, spec, who), bbox=box, interval=interval,
                      date_property=spec.date_property, limit=limit, offset=offset)
        query = {k: v for k, v in (("bbox", bbox), ("datetime", datetime_)) if v is not None}
        return GeoJSONResponse(docs.items_doc(_bases(request)[0], ref.id, page.features, page.matched, limit,
                                              offset, query))

    @router.get("/collections/{collectionId}/items/{featureId}", dependencies=viewer,
                response_class=GeoJSONResponse,
                responses={**_ok("item", "application/geo+json"), **error_responses(401, 403, 404, 409)},
                summary="One feature (GeoJSON)")
    def item(request: Request, who: Caller, collectionId: CollectionId,  # noqa: N803
             featureId: Annotated[str, PathParam(description="the feature's id, as in its items")]) -> GeoJSONResponse:  # noqa: N803
        ref = parse_collection_id(collectionId)
        spec = FEATURES.get(ref.product)
        if spec is None:
            raise NotFoundError(f"{collectionId!r} is a map tile set; it has no items")
        features = feature_collection(_visible(request, who, ref), spec, who)
        found = next((f for f in features if f["id"] == featureId), None)
        if found is None:
            raise NotFoundError(f"no feature {featureId!r} in {collectionId!r}")
        base = _bases(request)[0]
        found["links"] = [docs.link(f"{base}/collections/{ref.id}/items/{featureId}", "self", "application/geo+json"),
                          docs.link(f"{base}/collections/{ref.id}", "collection")]
        return GeoJSONResponse(found)


def _tile_routes(router: APIRouter) -> None:
    viewer = [Depends(require("viewer"))]

    def surface_of(request: Request, who: Identity, cid: str) -> CollectionRef:
        ref = parse_collection_id(cid)
        if ref.product in FEATURES:
            raise NotFoundError(f"{cid!r} is a feature collection; its features are at "
                                f"{OGC_PREFIX}/collections/{cid}/items")
        _visible(request, who, ref)
        return ref

    @router.get("/collections/{mapCollectionId}/map/tiles", dependencies=viewer,
                responses={**_ok("tilesets"), **error_responses(401, 403, 404, 409)}, summary="Map tile sets of a surface")
    def tilesets(request: Request, who: Caller, mapCollectionId: MapCollectionId) -> dict[str, Any]:  # noqa: N803
        ref = surface_of(request, who, mapCollectionId)
        return docs.tilesets_doc(_bases(request)[0], ref.id, request.app.state.tile_renderer.style(ref.product).title)

    @router.get("/collections/{mapCollectionId}/map/tiles/{tileMatrixSetId}", dependencies=viewer,
                responses={**_ok("tileset"), **error_responses(401, 403, 404, 409)},
                summary="Tile set metadata (WebMercatorQuad)")
    def tileset(request: Request, who: Caller, mapCollectionId: MapCollectionId,  # noqa: N803
                tileMatrixSetId: TMSId) -> dict[str, Any]:  # noqa: N803
        _check_tms(tileMatrixSetId)
        ref = surface_of(request, who, mapCollectionId)
        info = _surface_info(request, ref.analysis_id, ref.product)
        return docs.tileset_doc(_bases(request)[0], ref.id, info["name"], info["bounds"], info["minzoom"],
                                info["maxzoom"])

    tile_path = "/collections/{mapCollectionId}/map/tiles/{tileMatrixSetId}/{z}/{y}/{x}"

    @router.get(tile_path, dependencies=viewer, response_class=Response,
                responses={200: {"content": {"image/png": {"example": "(binary 256x256 PNG)"}}, "description": "a PNG tile"},
                           304: {"description": "not modified"}, **error_responses(401, 403, 404, 409, 422)},
                summary="A map tile (z/y/x: row before column)")
    @router.head(tile_path, dependencies=viewer, include_in_schema=False)
    async def tile(request: Request, who: Caller, mapCollectionId: MapCollectionId, tileMatrixSetId: TMSId,  # noqa: N803
                   z: int, y: int, x: int) -> Response:
        """The same PNG as ``/analyses/{id}/tiles/{surface}/{z}/{x}/{y}.png``, with its ETag and cache headers."""
        from starlette.concurrency import run_in_threadpool

        from api.tiles.router import tile_response

        _check_tms(tileMatrixSetId)
        product = parse_collection_id(mapCollectionId).product
        if product not in FEATURES:
            request.app.state.tile_renderer.check(product, z, x, y)  # before any lookup
        ref = await run_in_threadpool(surface_of, request, who, mapCollectionId)
        return await tile_response(request, request.app.state.tile_renderer, request.app.state.tile_resolve,
                                   "analysis", ref.analysis_id, None, ref.product, z, x, y,
                                   tile_cache_headers(request, ref.product))


def _wmts_route(router: APIRouter) -> None:
    @router.get("/wmts/1.0.0/WMTSCapabilities.xml", dependencies=[Depends(require("viewer"))],
                response_class=Response, responses={200: {"description": "OK", "content": {"application/xml": {
                    "example": "<Capabilities xmlns=\"http://www.opengis.net/wmts/1.0\" version=\"1.0.0\">...</Capabilities>"}}},
                    **error_responses(401)},
                summary="WMTS 1.0.0 capabilities of the same tiles")
    def wmts(request: Request, who: Caller) -> Response:
        """One layer per surface the caller may tile (newest 50 finished analyses), RESTful tile URLs."""
        from api.ogc.wmts import WMTSLayer, capabilities_xml

        storage = request.app.state.services.storage
        layers = []
        for job in done_analyses(storage):
            folder = storage.job_dir("analysis", job.id)
            for surface in visible_surfaces(folder, who):
                info = _surface_info(request, job.id, surface)
                layers.append(WMTSLayer(collection_id(job.id, surface), f"{info['name']} - {job.name or job.id}",
                                        tuple(info["bounds"])))
        return Response(capabilities_xml(_bases(request)[0], layers), media_type="application/xml")


def build_router() -> APIRouter:
    """Every OGC API route, mounted by :func:`api.app.create_app` (roles in ``docs/service.md``)."""
    router = APIRouter(prefix=OGC_PREFIX, tags=["ogc"])
    _common_routes(router)
    _collection_routes(router)
    _item_routes(router)
    _tile_routes(router)
    _wmts_route(router)
    return router

