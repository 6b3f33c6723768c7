"""What the service does for browsers, caches and hostile clients: security headers with a
content security policy per page, the request-body limit, CORS, URLs built without trusting
the ``Host`` header, and the offline API docs (vendored Swagger UI, ``api/static``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.settings import Settings

__all__ = ["SECURITY_HEADERS", "API_CSP", "html_page", "page_csp", "install_security", "public_base",
           "DOCS_ASSETS_URL", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
DOCS_ASSETS_URL = "/static/docs"

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # tile URLs may carry a signed token: never pass them on
    "X-Frame-Options": "DENY",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
"""The policy of every response that is not one of our HTML pages (JSON, PNG, files): nothing runs."""

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_TILE_HOST = re.compile(r"""https://([^/"'\s]+)/[^"'\s]*\{z\}""")


def _hashes(page: str) -> list[str]:
    return sorted({"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                   for s in _INLINE_SCRIPT.findall(page)})


def page_csp(page: str, *, workers: bool = False, unsafe_eval: bool = False) -> str:
    """The policy of one HTML page of ours: its own files ('self'), its inline scripts by hash
    (no 'unsafe-inline' for scripts), inline styles (Folium and Swagger UI write style
    attributes), images from 'self', data: and the basemap hosts the page names.
    ``unsafe_eval``: the map page only, whose vendored leaflet-measure compiles its templates
    with ``Function()`` (a lodash template); its scripts still come from 'self' or by hash."""
    hosts = sorted({"https://" + h.replace("{s}", "*") for h in _TILE_HOST.findall(page)})
    parts = [
        "default-src 'none'",
        "script-src 'self' " + ("'unsafe-eval' " if unsafe_eval else "") + " ".join(_hashes(page)),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob: " + " ".join(hosts),
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
    if workers:
        parts.append("worker-src 'self' blob:")
    return "; ".join(p.strip() for p in parts)


def html_page(page: str, status_code: int = 200, *, workers: bool = False, unsafe_eval: bool = False) -> HTMLResponse:
    """An HTML response with the content security policy of its page (:func:`page_csp`)."""
    return HTMLResponse(page, status_code=status_code,
                        headers={"Content-Security-Policy": page_csp(page, workers=workers, unsafe_eval=unsafe_eval)})


class _SecurityHeaders:
    """Add :data:`SECURITY_HEADERS`, and :data:`API_CSP` where a response set no policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for name, value in (*SECURITY_HEADERS.items(), ("Content-Security-Policy", API_CSP)):
                    if name.lower().encode() not in have:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 naming the setting: on the declared
    ``Content-Length`` at once, else counting the bytes as they stream in (the body is held in
    memory up to the limit, then replayed). Layer uploads (``POST /layers``) stream to disk
    under their own, larger limit (``VACUUM_MAX_UPLOAD_MB``, :mod:`api.uploads`)."""

    def __init__(self, app: ASGIApp, limit: int, limit_mb: float) -> None:
        self.app = app
        self.limit = limit
        self.limit_mb = limit_mb

    def _too_large(self, size: str) -> JSONResponse:
        return JSONResponse(error_body("PayloadTooLargeError",
                                       f"request body of {size} is over the limit of {self.limit_mb:g} MB "
                                       "(VACUUM_MAX_BODY_MB); send less"), status_code=413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] == "POST" and scope["path"].rstrip("/") == "/layers"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                n = -1
            if n > self.limit:
                await self._too_large(f"{n / 1024 / 1024:.1f} MB")(scope, receive, send)
                return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and declared is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.limit:
                await self._too_large(f"more than {self.limit_mb:g} MB")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def public_base(request: Request, settings: Settings) -> str:
    """The scheme, host and prefix to put before an absolute URL of ours: the configured
    ``public_base_url``; else the request's own base if its ``Host`` is trusted
    (``trusted_hosts``); else ``""``, a relative URL, so a forged ``Host`` never reaches a client."""
    if settings.public_base_url:
        return settings.public_base_url
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
    if name.lower() in {h.lower() for h in settings.trusted_hosts}:
        return str(request.base_url).rstrip("/")
    return ""


def _mount_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) from the vendored files: nothing from a CDN. No ``/redoc``: its
    bundle loads its logo from a CDN (blocked by the policy, but tried)."""
    from fastapi.staticfiles import StaticFiles

    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    oauth2 = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_URL}/swagger-ui/favicon-32x32.png", oauth2_redirect_url=oauth2,
            swagger_ui_parameters={"validatorUrl": None})
        return html_page(bytes(page.body).decode())

    @app.get(oauth2, include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return html_page(bytes(get_swagger_ui_oauth2_redirect_html().body).decode())


def install_security(app: FastAPI, settings: Settings) -> None:
    """The docs routes, then the middleware: the body limit innermost, CORS, the security
    headers outermost (so every answer, a 413 or a preflight too, carries them)."""
    from starlette.middleware.cors import CORSMiddleware

    _mount_docs(app)
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes, limit_mb=settings.max_body_mb)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       allow_headers=["X-API-Key", "Authorization", "Content-Type", "If-None-Match"],
                       expose_headers=["ETag", "Location"], max_age=600)
    app.add_middleware(_SecurityHeaders)
