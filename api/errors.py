"""Errors of the service and the ONE table that maps every exception to an HTTP status.

Routes raise; they never build error responses. :func:`install_error_handlers` registers
one handler for every class in :data:`STATUS_CODES` (plus request validation and
Starlette's own HTTP errors), and every error body has the same shape::

    {"error": "MissingColumnError", "detail": "bases.csv: bases need field(s) 'strength' ..."}

``error`` is the class name of the exception (a stable code a client can switch on),
``detail`` the message, which names the bad value and the fix.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    ConfigError,
    CoordinateError,
    CRSMismatchError,
    DateParseError,
    EmptyLayerError,
    GridError,
    InvalidGeometryError,
    LayerError,
    MissingColumnError,
    MissingCRSError,
    UnsupportedFormatError,
    VacuumError,
)

__all__ = [
    "ErrorBody",
    "ServiceError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "JobNotReadyError",
    "PayloadTooLargeError",
    "UploadRejectedError",
    "RequestError",
    "STATUS_CODES",
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
    """Base of the errors the service itself raises (the engine's are :class:`VacuumError`)."""


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
    """An upload over the size limits."""


class UploadRejectedError(LayerError):
    """An upload that is not what it claims to be: wrong extension, garbage bytes, hostile zip."""


class RequestError(VacuumError, ValueError):
    """A request that refers to the wrong things (a layer of another kind, an unknown surface...)."""


STATUS_CODES: dict[type[Exception], int] = {
    # --- the engine's errors: bad input, named precisely
    LayerError: 422,
    MissingColumnError: 422,
    DateParseError: 422,
    CoordinateError: 422,
    MissingCRSError: 422,
    CRSMismatchError: 422,
    InvalidGeometryError: 422,
    EmptyLayerError: 422,
    UnsupportedFormatError: 422,
    ConfigError: 422,
    GridError: 422,
    VacuumError: 422,
    # --- the service's own
    UploadRejectedError: 422,
    RequestError: 422,
    RequestValidationError: 422,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    LookupError: 404,
    JobNotReadyError: 409,
    PayloadTooLargeError: 413,
    # tiles: api.tiles.TILE_ERROR_STATUS (TileCoordinateError -> 422, TileOutsideBoundsError,
    # UnknownSurfaceError, SurfaceFileMissingError -> 404) is merged in by install_error_handlers.
}
"""Exception class -> HTTP status. The most specific class in an exception's MRO wins."""

def _tile_error_classes() -> dict[type[Exception], int]:
    """The tile errors' statuses (``api.tiles.TILE_ERROR_STATUS``) when that package is there."""
    try:
        from api.tiles import TILE_ERROR_STATUS
    except ImportError:
        return {}
    return dict(TILE_ERROR_STATUS)


def status_for(exc: BaseException, table: dict[type[Exception], int] | None = None) -> int:
    table = STATUS_CODES if table is None else table
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500


def _name(exc: BaseException) -> str:
    if type(exc) in (LookupError, KeyError, IndexError):
        return "NotFound"
    return type(exc).__name__


def _detail(exc: BaseException) -> str:
    if isinstance(exc, RequestValidationError):
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body" or len(e.get("loc", ())) == 1)
            parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}")
        return "; ".join(parts)
    if isinstance(exc, KeyError) and not isinstance(exc, VacuumError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def error_body(error: str, detail: str) -> dict[str, str]:
    return {"error": error, "detail": detail}


def install_error_handlers(app: FastAPI) -> dict[type[Exception], int]:
    """Register the one handler for every class of the table; return the table in force."""
    table = dict(STATUS_CODES)
    table.update(_tile_error_classes())

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc, table)
        headers = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'} if status == 401 else None
        return JSONResponse(error_body(_name(exc), _detail(exc)), status_code=status, headers=headers)

    async def handle_http(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
            raise exc
        import http

        name = http.HTTPStatus(exc.status_code).phrase.replace(" ", "") if exc.status_code in http.HTTPStatus._value2member_map_ else "HTTPError"
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(error_body(name, detail), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("InternalError", "an unexpected error occurred; the server log has the details"),
                            status_code=500)

    for cls in table:
        app.add_exception_handler(cls, handle)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(Exception, handle_unexpected)
    return table


_EXAMPLES: dict[int, tuple[str, str]] = {
    401: ("AuthenticationError", "no API key: send it as the X-API-Key header or Authorization: Bearer <key>"),
    403: ("PermissionDeniedError", "this needs the planner role; your key 'ops-room' has viewer"),
    404: ("NotFoundError", "no analysis 'an_0123456789ab'"),
    409: ("JobNotReadyError", "analysis 'an_0123456789ab' is running (stage travel_time); poll its status until done"),
    413: ("PayloadTooLargeError", "upload of 312.0 MB is over the limit of 200 MB (VACUUM_MAX_UPLOAD_MB)"),
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
                        409: "not ready", 413: "too large", 422: "invalid input, with the fix"}[status],
        "model": ErrorBody,
        "content": {"application/json": {"example": error_body(error, detail)}},
    }
