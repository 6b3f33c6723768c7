"""Errors of the service and the ONE table that maps exceptions to HTTP statuses.

Routes raise; they never build error responses. :func:`install_error_handlers` registers
one handler for every class in :data:`STATUS_CODES` (plus request validation and
Starlette's own HTTP errors), and every error body has the same shape::

    {"error": "MissingColumnError", "detail": "bases.csv: bases need field(s) 'strength' ..."}

``error`` is the class name of the exception (a stable code a client can switch on),
``detail`` the message, which names the bad value and the fix.

The table is narrow on purpose: it lists the engine's input errors and the service's own
classes, never ``LookupError``, ``KeyError`` or the whole :class:`~geo.errors.VacuumError`
tree. Anything else is a bug: a 500 with a generic body (no internals), logged with its
traceback.

The service's errors are their own tree, :class:`ServiceError`, apart from the engine's.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.errors import ConfigError, CRSMismatchError, GridError, LayerError, UnknownIdError
from geo.plan import PlanError

__all__ = [
    "ErrorBody",
    "ServiceError",
    "InputError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "JobNotReadyError",
    "ConflictError",
    "PayloadTooLargeError",
    "QuotaExceededError",
    "UploadRejectedError",
    "RequestError",
    "STATUS_CODES",
    "INTERNAL_ERROR",
    "status_for",
    "error_body",
    "install_error_handlers",
    "error_responses",
]

log = logging.getLogger("vacuum.api")


class ErrorBody(BaseModel):
    """The one error shape of every endpoint."""

    error: str = Field(description="class of the error, a stable code", examples=["MissingColumnError"])
    detail: str = Field(description="what is wrong and how to fix it",
                        examples=["bases.csv: bases need field(s) 'strength', which no column provides"])


class ServiceError(Exception):
    """Base of the errors the service itself raises (the engine's are :class:`geo.errors.VacuumError`)."""


class InputError(ServiceError, ValueError):
    """A request the client must change: its message names the bad value and the fix."""


class AuthenticationError(ServiceError):
    """No valid API key where one is needed."""


class PermissionDeniedError(ServiceError, PermissionError):
    """A valid key whose role lacks the right."""


class NotFoundError(ServiceError, LookupError):
    """No such layer, analysis, key..."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class JobNotReadyError(ServiceError):
    """Products asked of a job that has not finished (or failed)."""


class PayloadTooLargeError(ServiceError):
    """An upload or a request body over the size limits."""


class ConflictError(ServiceError):
    """A request the current state forbids: cancelling a finished job, revoking the last admin key
    or a key already revoked."""


class QuotaExceededError(ServiceError):
    """A key with as many queued or running jobs as it may have."""


class UploadRejectedError(InputError):
    """An upload that is not what it claims to be: wrong extension, garbage bytes, hostile zip."""


class RequestError(InputError):
    """A request that refers to the wrong things (a layer of another kind, an unknown surface...)."""


STATUS_CODES: dict[type[Exception], int] = {
    # --- the engine's input errors (each with its subclasses: MissingColumnError, DateParseError,
    # CoordinateError, MissingCRSError, InvalidGeometryError, EmptyLayerError, UnsupportedFormatError)
    LayerError: 422,
    CRSMismatchError: 422,
    ConfigError: 422,
    GridError: 422,
    PlanError: 422,
    # --- the service's own
    InputError: 422,  # UploadRejectedError, RequestError
    RequestValidationError: 422,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    UnknownIdError: 404,  # the engine's own "not found": a base or surface it does not know
    JobNotReadyError: 409,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    QuotaExceededError: 429,
    # tiles: api.tiles.TILE_ERROR_STATUS (TileCoordinateError -> 422, TileOutsideBoundsError,
    # UnknownSurfaceError, SurfaceFileMissingError -> 404) is merged in by install_error_handlers.
}
"""Exception class -> HTTP status. The most specific class in an exception's MRO wins; a
class in none of them is a 500."""

INTERNAL_ERROR = ("InternalError", "an unexpected error occurred; the server log has the details")
"""The body of every 500: nothing of the exception reaches the client."""


def _tile_error_classes() -> dict[type[Exception], int]:
    """The tile errors' statuses (``api.tiles.TILE_ERROR_STATUS``)."""
    from api.tiles import TILE_ERROR_STATUS

    return dict(TILE_ERROR_STATUS)


def status_for(exc: BaseException, table: dict[type[Exception], int] | None = None) -> int:
    table = STATUS_CODES if table is None else table
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500


def _detail(exc: BaseException) -> str:
    if isinstance(exc, RequestValidationError):
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body" or len(e.get("loc", ())) == 1)
            parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}")
        return "; ".join(parts)
    return str(exc)


def error_body(error: str, detail: str) -> dict[str, str]:
    return {"error": error, "detail": detail}


class _UnexpectedErrors:
    """ASGI middleware around the routes: an exception no class of the table claims is a bug.

    It is logged with its traceback (``logging.exception``) and answered with a generic 500
    (:data:`INTERNAL_ERROR`). Starlette's own ``Exception`` handler would re-raise it after
    answering, so the server would log it twice; this one does not.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for a response of ours: let the server close the connection
                raise
            await JSONResponse(error_body(*INTERNAL_ERROR), status_code=500)(scope, receive, send)


AUDITED_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/analyses"): "analysis.submit",
    ("POST", "/scenarios"): "scenario.submit",
    ("POST", "/layers"): "layer.upload",
    ("POST", "/keys"): "key.create",
    ("DELETE", "/keys/{key_id}"): "key.revoke",
}
"""The audit action of a route whose refusals are logged under its own name; any other
route's refusal is logged as ``request``."""


def audit_refusal(request: Request, exc: Exception) -> None:
    """Record a request refused before its handler ran: a body that failed validation
    (``rejected: RequestValidationError``) or a role that lacks the right (``denied:
    PermissionDeniedError``), with the caller when known. A failure to write the entry is
    logged, never turned into a 500 on top of the refusal."""
    from api.storage import AuditRecord

    services = getattr(request.app.state, "services", None)
    if services is None:
        return
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    action = AUDITED_ROUTES.get((request.method, path), "request")
    ident = getattr(request.state, "identity", None)
    who = (ident.key_id, ident.name, ident.role) if ident is not None else ("-", "unidentified", "-")
    word = "denied" if isinstance(exc, PermissionDeniedError) else "rejected"
    try:
        services.storage.add_audit(AuditRecord(
            key_id=who[0], key_name=who[1], role=who[2], action=action, target=f"{request.method} {path}",
            outcome=f"{word}: {type(exc).__name__}", detail={"detail": _detail(exc)[:500]}))
    except Exception:  # noqa: BLE001 - the refusal is answered whatever the log does
        log.exception("could not audit a refused request to %s %s", request.method, path)


def install_error_handlers(app: FastAPI) -> dict[type[Exception], int]:
    """Register the one handler for every class of the table, and the logged 500 for the
    rest; return the table in force."""
    table = dict(STATUS_CODES)
    table.update(_tile_error_classes())

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc, table)
        if isinstance(exc, RequestValidationError | PermissionDeniedError):
            audit_refusal(request, exc)
        headers = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'} if status == 401 else None
        return JSONResponse(error_body(type(exc).__name__, _detail(exc)), status_code=status, headers=headers)

    async def handle_http(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
            raise exc
        import http

        name = http.HTTPStatus(exc.status_code).phrase.replace(" ", "") if exc.status_code in http.HTTPStatus._value2member_map_ else "HTTPError"
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(error_body(name, detail), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    for cls in table:
        app.add_exception_handler(cls, handle)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_middleware(_UnexpectedErrors)
    return table


_EXAMPLES: dict[int, tuple[str, str]] = {
    401: ("AuthenticationError", "no API key: send it as the X-API-Key header or Authorization: Bearer <key>"),
    403: ("PermissionDeniedError", "this needs the planner role; your key 'ops-room' has viewer"),
    404: ("NotFoundError", "no analysis 'an_0123456789ab'"),
    409: ("JobNotReadyError", "analysis 'an_0123456789ab' is running (stage travel_time); poll its status until done"),
    413: ("PayloadTooLargeError", "upload of 312.0 MB is over the limit of 200 MB (VACUUM_MAX_UPLOAD_MB)"),
    429: ("QuotaExceededError", "your key 'planning cell' has 4 jobs queued or running, the most it may have "
          "(VACUUM_MAX_ACTIVE_JOBS_PER_KEY); wait for one to finish or cancel one"),
    422: ("MissingColumnError", "bases.csv: bases need field(s) 'strength', which no column provides; columns present: "
          "site, lat, lon. Fix: pass mapping={'strength': 'your_column'}"),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error statuses, each with an example body."""
    return {s: _error_response(s) for s in statuses}


def _error_response(status: int) -> dict[str, Any]:
    error, detail = _EXAMPLES[status]
    return {
        "description": {401: "no or unknown API key", 403: "the key's role lacks the right", 404: "not found",
                        409: "not ready, or in a state that forbids it", 413: "too large",
                        422: "invalid input, with the fix", 429: "too many jobs running"}[status],
        "model": ErrorBody,
        "content": {"application/json": {"example": error_body(error, detail)}},
    }
