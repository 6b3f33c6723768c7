"""FastAPI routes for tiles, TileJSON and legends of stored products.

Routes take ids, never paths or URLs: the service's ``resolve(owner_kind,
owner_id, phase, surface)`` turns an id into the COG of a stored product or
raises the service's ``NotFoundError`` (anything else it raises is a logged 500). Errors are raised, not turned into responses here:
the service maps them with its one table (``TILE_ERROR_STATUS`` lists ours;
``add_tile_error_handlers`` installs just those for a standalone app).

A thread hop costs more than serving a cached tile (with wrk on 2 cores: ~3,500
cached tiles/s from the event loop, ~2,100 through the thread pool), so a tile
request runs on the event loop as far as it can: validation, the ETag, 304s and
cache hits. Rendering, the first look at a file, and ``resolve`` (unless
``resolve_in_threadpool=False``) go to the thread pool.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .errors import TILE_ERROR_STATUS
from .render import MAX_ZOOM, TileRenderer

__all__ = ["tiles_router", "tile_response", "add_tile_error_handlers", "CACHE_CONTROL", "Resolver", "CacheHeaders", "TileURL"]

Resolver = Callable[[str, str, "int | None", str], Path]
CacheHeaders = Callable[[Request, str], dict[str, str]]
"""``(request, surface) -> headers``: the cache headers of a tile or TileJSON response."""
TileURL = Callable[[Request, str, str, str, bool, "int | None"], str]
"""``(request, path, owner kind, owner id, signed, ttl_s) -> URL`` of the tile template in a TileJSON."""
CACHE_CONTROL = "public, max-age=3600"
"""The default for a standalone app whose tiles anyone may see; the service passes
``cache_headers`` (role-restricted tiles are private)."""
Signed = Annotated[bool, Query(description="tile URLs with a signed, expiring token, for clients that cannot "
                                           "send headers (QGIS, plain Leaflet)")]
TTL = Annotated[int | None, Query(description="lifetime of the signed URLs in seconds (default "
                                              "VACUUM_SIGNED_URL_TTL_S)")]
_PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "a PNG tile"}, 304: {"description": "not modified"}}

Z = Annotated[int, PathParam(description=f"zoom 0..{MAX_ZOOM}")]
X = Annotated[int, PathParam(description="column 0..2^z-1")]
Y = Annotated[int, PathParam(description="row 0..2^z-1")]


def _etag_matches(if_none_match: str, etag: str) -> bool:
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


async def tile_response(request: Request, renderer: TileRenderer, resolve: Resolver, kind: str, owner_id: str,
                        phase: int | None, surface: str, z: int, x: int, y: int, cache: dict[str, str], *,
                        resolve_in_threadpool: bool = True) -> Response:
    """The PNG tile ``z/x/y`` of a stored surface with its ``ETag`` and ``cache`` headers, or a
    304 for a matching ``If-None-Match``: the one tile path of the XYZ and the OGC API routes."""
    renderer.check(surface, z, x, y)  # before any lookup
    if resolve_in_threadpool:
        path = await run_in_threadpool(resolve, kind, owner_id, phase, surface)
    else:
        path = resolve(kind, owner_id, phase, surface)
    fid = renderer.file_id(path)
    key = None
    hit = renderer.cached(fid, surface, z, x, y)
    if hit is not None:
        png, etag = hit
    else:
        key = renderer.tile_key(fid, surface, z, x, y, open_file=False)
        if key is None:  # a file not seen before: reading its metadata blocks
            key = await run_in_threadpool(renderer.tile_key, fid, surface, z, x, y)
        etag = key.etag
    headers = {"ETag": etag, **cache}
    inm = request.headers.get("if-none-match")
    if inm and _etag_matches(inm, etag):
        return Response(status_code=304, headers=headers)  # nothing rendered
    if key is not None:
        png = await run_in_threadpool(renderer.render_key, key)
    return Response(png, media_type="image/png", headers=headers)


def tiles_router(
    resolve: Resolver,
    *,
    renderer: TileRenderer,
    dependencies: Sequence[Any] = (),
    resolve_in_threadpool: bool = True,
    cache_headers: CacheHeaders | None = None,
    tile_url: TileURL | None = None,
    attribution: str | None = None,
) -> APIRouter:
    """Routes for PNG tiles, TileJSON and legends; ``dependencies`` (e.g. auth) apply to all.

    ``resolve_in_threadpool=False`` calls ``resolve`` on the event loop: right for a
    resolver that never blocks (an in-memory map, a local SQLite lookup of a few tens of
    microseconds), and it saves a thread hop per tile; keep the default for a resolver
    that may wait on a network database.

    ``cache_headers`` gives each response's cache headers (default: :data:`CACHE_CONTROL`);
    ``tile_url`` builds the tile URL of a TileJSON from its path (default: ``request.url_for``,
    from the ``Host`` header; without it ``?signed=1`` has no effect). ``attribution`` is the
    TileJSON's credit line for the sources (their licences, CC BY and ODbL, ask for it).
    Tiles answer ``HEAD`` with the GET's headers and no body.
    """

    def caching(request: Request, surface: str) -> dict[str, str]:
        return cache_headers(request, surface) if cache_headers is not None else {"Cache-Control": CACHE_CONTROL}

    router = APIRouter(dependencies=list(dependencies), tags=["tiles"])

    async def tile(request: Request, kind: str, owner_id: str, phase: int | None,
                   surface: str, z: int, x: int, y: int) -> Response:
        return await tile_response(request, renderer, resolve, kind, owner_id, phase, surface, z, x, y,
                                   caching(request, surface), resolve_in_threadpool=resolve_in_threadpool)

    @router.get("/analyses/{analysis_id}/tiles/{surface}/{z}/{x}/{y}.png", name="analysis_tile",
                response_class=Response, responses=_PNG)
    @router.head("/analyses/{analysis_id}/tiles/{surface}/{z}/{x}/{y}.png", include_in_schema=False)
    async def analysis_tile(request: Request, analysis_id: str, surface: str, z: Z, x: X, y: Y) -> Response:
        """A 256x256 PNG tile of a surface of a stored analysis (WebMercatorQuad z/x/y)."""
        return await tile(request, "analysis", analysis_id, None, surface, z, x, y)

    @router.get("/scenarios/{scenario_id}/phases/{phase}/tiles/{surface}/{z}/{x}/{y}.png",
                name="scenario_tile", response_class=Response, responses=_PNG)
    @router.head("/scenarios/{scenario_id}/phases/{phase}/tiles/{surface}/{z}/{x}/{y}.png", include_in_schema=False)
    async def scenario_tile(request: Request, scenario_id: str, phase: int, surface: str,
                            z: Z, x: X, y: Y) -> Response:
        """A PNG tile of a surface of one phase of a stored scenario."""
        return await tile(request, "scenario", scenario_id, phase, surface, z, x, y)

    def tilejson(request: Request, response: Response, route: str, kind: str, owner_id: str, phase: int | None,
                 surface: str, ids: dict[str, Any], signed: bool, ttl_s: int | None) -> dict[str, Any]:
        renderer.style(surface)
        path = resolve(kind, owner_id, phase, surface)
        params = {k: urllib.parse.quote(str(v), safe="") for k, v in {**ids, "surface": surface}.items()}
        if tile_url is None:  # a standalone app signs nothing: ``signed`` has no effect
            url = str(request.url_for(route, z="{z}", x="{x}", y="{y}", **params))
        else:
            url = tile_url(request, request.app.url_path_for(route, z="{z}", x="{x}", y="{y}", **params),
                           kind, owner_id, signed, ttl_s)
        headers = caching(request, surface)
        if "token=" in url:  # a capability: never stored by any cache
            headers = {"Cache-Control": "no-store", "Vary": "Authorization, X-API-Key"}
        response.headers.update(headers)
        doc = renderer.tilejson(path, surface, url)
        return {**doc, "attribution": attribution} if attribution else doc

    @router.get("/analyses/{analysis_id}/tilejson/{surface}.json", name="analysis_tilejson")
    def analysis_tilejson(request: Request, response: Response, analysis_id: str, surface: str,
                          signed: Signed = False, ttl_s: TTL = None) -> dict[str, Any]:
        """TileJSON 3.0.0 of a surface of a stored analysis (``?signed=1``: tile URLs that carry a token)."""
        return tilejson(request, response, "analysis_tile", "analysis", analysis_id, None, surface,
                        {"analysis_id": analysis_id}, signed, ttl_s)

    @router.get("/scenarios/{scenario_id}/phases/{phase}/tilejson/{surface}.json", name="scenario_tilejson")
    def scenario_tilejson(request: Request, response: Response, scenario_id: str, phase: int, surface: str,
                          signed: Signed = False, ttl_s: TTL = None) -> dict[str, Any]:
        """TileJSON 3.0.0 of a surface of one phase of a stored scenario (``?signed=1`` as for analyses)."""
        return tilejson(request, response, "scenario_tile", "scenario", scenario_id, phase, surface,
                        {"scenario_id": scenario_id, "phase": phase}, signed, ttl_s)

    @router.get("/legend/{surface}", name="legend")
    async def legend(surface: str) -> dict[str, Any]:
        """Classes and colours of a surface, exactly as its tiles draw them."""
        return renderer.legend(surface)

    return router


def add_tile_error_handlers(app: FastAPI, extra: dict[type[Exception], int] | None = None) -> None:
    """Map the tile errors (and ``extra``) to JSON ``{"detail": message}`` responses.

    For a standalone app (tests, benchmarks); the service keeps one table of its own.
    """
    table = {**TILE_ERROR_STATUS, **(extra or {})}

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        status = next(code for cls, code in table.items() if isinstance(exc, cls))
        return JSONResponse({"detail": str(exc)}, status_code=status)

    for cls in table:
        app.add_exception_handler(cls, handler)
