"""``create_app(settings)``: the one place where the service is assembled.

Nothing is built at import time. The lifespan opens the storage, starts the job manager
(worker processes, heartbeat, recovery of jobs orphaned by a previous process) and, with
``settings.demo``, loads the bundled demo; on shutdown unfinished jobs of this server are
marked ``interrupted`` and the workers stop.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from api.auth import require_surface_access, tile_cache_headers, tile_url
from api.deps import Services
from api.errors import NotFoundError, error_body, error_responses, install_error_handlers
from api.http import install_http
from api.jobs import JOB_KINDS, JobManager, load_job_kinds
from api.ogc import build_router as ogc_router
from api.ogc.catalog import ATTRIBUTION
from api.security import install_security
from api.settings import Settings
from api.storage import StorageConfig

__all__ = ["create_app", "make_resolver"]


DESCRIPTION = """
Maps where a peacekeeping drawdown leaves a security vacuum: upload layers, submit analyses,
poll them, fetch products, tiles and exports.

**Keys and roles.** Send an API key as `X-API-Key: <key>` or `Authorization: Bearer <key>`.
`viewer`: maps, tiles, zones, admin tables, summaries — never base positions.
`planner`: + analyses, scenarios, exports, bases. `admin`: + layer upload, keys, audit log.

**Errors** all have the shape `{"error": "<class>", "detail": "<what is wrong and the fix>"}`.
"""

TAGS = [
    {"name": "layers", "description": "input layers, validated by the engine's loaders"},
    {"name": "analyses", "description": "analysis jobs: submit, poll, products, exports"},
    {"name": "tiles", "description": "XYZ PNG tiles, TileJSON and legends of stored surfaces"},
    {"name": "access", "description": "API keys and the audit log"},
    {"name": "service", "description": "the web map, health, who am I"},
]


def make_resolver(app: FastAPI):
    """``resolve(owner_kind, owner_id, phase, surface) -> Path`` for the tile routes: ids only, never paths."""

    def resolve(owner_kind: str, owner_id: str, phase: int | None, surface: str) -> Path:
        storage = app.state.services.storage
        try:
            job = storage.get_job(owner_id)
        except NotFoundError:
            raise NotFoundError(f"no {owner_kind} {owner_id!r}") from None
        kind = JOB_KINDS.get(job.kind)
        if job.kind != owner_kind or kind is None or kind.resolve_surface is None:
            raise NotFoundError(f"no {owner_kind} {owner_id!r}")
        return kind.resolve_surface(storage, job, phase, surface)

    return resolve


def _mount_map(app: FastAPI) -> None:
    """The map page's builder and its assets: an import error here stops the app at startup."""
    from fastapi.staticfiles import StaticFiles

    from api.mappage import MAP_ASSETS_URL, map_builder
    from maps.assets import STATIC_DIR

    map_builder()
    app.mount(MAP_ASSETS_URL, StaticFiles(directory=STATIC_DIR), name="map-assets")
    from api.editor import EDITOR_ASSETS_URL

    app.mount(EDITOR_ASSETS_URL, StaticFiles(directory=Path(__file__).resolve().parent / "static" / "editor"),
              name="editor-assets")


def _mount_tiles(app: FastAPI) -> None:
    from api.tiles import TileRenderer, tiles_router

    renderer, resolve = TileRenderer(), make_resolver(app)
    app.state.tile_renderer, app.state.tile_resolve = renderer, resolve  # the one renderer: api.ogc's tiles too
    app.include_router(tiles_router(resolve, renderer=renderer, attribution=ATTRIBUTION,
                                    dependencies=[Depends(require_surface_access)],
                                    cache_headers=tile_cache_headers, tile_url=tile_url),
                       responses=error_responses(401, 403))  # require_surface_access: no key, or a role without the surface


_TILE_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "/tiles/": {"200": {"image/png": "(binary 256x256 PNG)"}},
    "/tilejson/": {"200": {"application/json": {
        "tilejson": "3.0.0", "name": "gap", "tiles": ["http://127.0.0.1:8000/analyses/an_0123456789ab/tiles/gap/{z}/{x}/{y}.png"],
        "minzoom": 4, "maxzoom": 10, "bounds": [13.83, 1.76, 28.0, 11.46]}}},
    "/legend/": {"200": {"application/json": {
        "surface": "gap", "classes": [{"name": "low", "min": 0, "max": 20, "color": "#fff5eb"}]}}},
}


def _custom_openapi(app: FastAPI):
    """OpenAPI with one error shape everywhere and an example on every response."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                             tags=app.openapi_tags)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        comps.setdefault("ErrorBody", {"type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "string"}, "detail": {"type": "string"}}})
        for path, ops in schema.get("paths", {}).items():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                for marker, examples in _TILE_EXAMPLES.items():
                    if marker in path:
                        for status, content in examples.items():
                            for media, ex in content.items():
                                body = responses.setdefault(status, {"description": "OK"}).setdefault("content", {})
                                body.setdefault(media, {}).setdefault("example", ex)
                        for status, (err, detail) in (("404", ("TileOutsideBoundsError", "tile 3/0/0 is outside the surface")),
                                                      ("422", ("TileCoordinateError", "x=9 is outside 0..7 at z=3"))):
                            responses.setdefault(status, {"description": "error"})["content"] = {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"},
                                                     "example": error_body(err, detail)}}
                for status, resp in responses.items():
                    if status[:1] not in ("4", "5"):
                        continue
                    # errors are JSON whatever the route's media type: one ErrorBody, with an example
                    example = next((c["example"] for c in resp.get("content", {}).values() if "example" in c),
                                   error_body("RequestValidationError", "as_of: Input should be a valid date"))
                    resp["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"},
                                                            "example": example}}
        for name in ("HTTPValidationError", "ValidationError"):
            comps.pop(name, None)
        app.openapi_schema = schema
        return copy.deepcopy(schema)

    return openapi


def create_app(settings: Settings) -> FastAPI:
    """The service for ``settings``; storage and workers start with the app's lifespan.

    Every plugin is loaded here and none is skipped: a job kind, the tiles or the map
    builder that fails to import (or a kind's ``router()`` that raises) fails this call.
    Each route's minimum role is a ``dependencies=[Depends(require(role))]`` of the route
    (the tile routes': :func:`api.auth.require_surface_access`), tabled in ``docs/service.md``.
    """
    from geo import __version__

    config = StorageConfig.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = config.open()
        storage.init()
        jobs = JobManager(storage, config, workers=settings.workers, travel_time_jobs=settings.travel_time_jobs,
                          heartbeat_s=settings.heartbeat_s, stale_after_s=settings.stale_after_s,
                          job_retries=settings.job_retries,
                          max_active_per_key=settings.max_active_jobs_per_key)
        jobs.start()
        services = Services(settings=settings, storage=storage, jobs=jobs)
        app.state.services = services
        try:
            if settings.demo:
                from api.demo import ensure_demo

                ensure_demo(services)
            yield
        finally:
            jobs.stop()
            storage.close()

    app = FastAPI(title="Vacuum", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  openapi_tags=TAGS, docs_url=None, redoc_url=None)  # the docs: api.security, vendored files
    app.state.settings = settings
    secret = settings.url_signing_secret
    app.state.url_secret = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
    install_error_handlers(app)

    from api.routes import keys, layers, meta

    app.include_router(meta.router)
    app.include_router(layers.router)
    for kind in load_job_kinds().values():
        if kind.router is not None:
            app.include_router(kind.router())
    from api import package

    app.include_router(package.build_router())
    app.include_router(keys.router)
    from api import editor, plans

    app.include_router(plans.router)
    app.include_router(editor.router)
    from api.brief import router as brief_router

    app.include_router(brief_router)  # the briefings of analyses and scenarios (maps.brief)
    _mount_tiles(app)
    app.include_router(ogc_router())
    _mount_map(app)
    install_http(app)
    install_security(app, settings)
    app.openapi = _custom_openapi(app)  # type: ignore[method-assign]
    return app
