"""HTTP conventions of every response: gzip for text, ETags and 304s for GeoJSON.

* **gzip** (Starlette's ``GZipMiddleware``) for bodies of :data:`GZIP_MIN_BYTES` or more
  when the client sends ``Accept-Encoding: gzip``: JSON, GeoJSON, CSV, HTML, XML. Never for
  what is compressed already or read by byte ranges: PNG tiles (their ``ETag`` and cache
  headers stay as they are), COGs (``image/tiff``; a ``Range`` request's 206 is never
  compressed either, so ``Accept-Ranges`` and ``Content-Range`` keep meaning bytes of the
  file), GeoPackages, zips, MBTiles and PMTiles.
* **ETag** on every 200 ``application/geo+json`` response that has none: a weak tag of the
  SHA-256 of the body (weak, because the same tag is good for its gzip and identity forms);
  a GeoJSON file response keeps the file's own tag (made weak when the answer is gzipped). A matching ``If-None-Match`` turns the
  response into a 304 without a body, with the same ``ETag`` and cache headers.

``HEAD`` is answered by the routes themselves (tiles, exports: ``methods=["GET", "HEAD"]``)
with the GET's headers and no body; a HEAD is never compressed, so its ``Content-Length`` is
the identity body's.
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GZIP_MIN_BYTES", "GZIP_LEVEL", "NOT_GZIPPED", "ETAG_MEDIA_TYPES", "gzippable", "body_etag", "etag_matches",
           "install_http"]

GZIP_MIN_BYTES = 1024
"""Smaller bodies go as they are: under a kilobyte gzip's header and a round trip of CPU buy little."""
GZIP_LEVEL = 6
"""zlib's default: level 9 costs about twice the CPU for 1-2 % smaller JSON."""
NOT_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/tiff", "application/geopackage+sqlite3",
               "application/vnd.sqlite3", "application/x-sqlite3", "application/vnd.pmtiles",
               "application/octet-stream")
"""Media types sent as they are (Starlette's list: images, zips, fonts, streams; plus ours)."""
ETAG_MEDIA_TYPES = ("application/geo+json",)
_KEPT_ON_304 = ("etag", "cache-control", "vary", "expires", "last-modified", "content-location")


def body_etag(body: bytes) -> str:
    """The weak ETag of a body: ``W/"<first 32 hex digits of its SHA-256>"``."""
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): ``W/"x"`` and ``"x"`` match; ``*`` matches anything."""
    tag = etag.removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == tag for t in if_none_match.split(","))


class _GeoJSONETags:
    """ETags and 304s for GeoJSON (see the module docstring); other responses pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        inm = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        mode = "undecided"  # then "pass", "buffer" or "drop"

        async def wrapped(message: Message) -> None:
            nonlocal start, mode
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                media = headers.get("content-type", "").partition(";")[0].strip().lower()
                if message["status"] != 200 or media not in ETAG_MEDIA_TYPES:
                    mode = "pass"
                    await send(message)
                elif "etag" in headers:  # a file response: its own tag
                    if inm and etag_matches(inm, headers["etag"]):
                        mode = "drop"
                        await send(_not_modified(message))
                    else:
                        mode = "pass"
                        await send(message)
                else:
                    mode, start = "buffer", message
                return
            if mode == "pass":
                await send(message)
            elif mode == "drop" and message["type"] == "http.response.body" and not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif mode == "buffer" and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and start is not None:
                    await _send_tagged(send, start, b"".join(chunks), inm, scope["method"] == "HEAD")

        await self.app(scope, receive, wrapped)


def _not_modified(start: Message) -> Message:
    headers = [(k, v) for k, v in start.get("headers", []) if k.decode("latin-1").lower() in _KEPT_ON_304]
    return {"type": "http.response.start", "status": 304, "headers": headers}


async def _send_tagged(send: Send, start: Message, body: bytes, inm: str | None, head: bool) -> None:
    headers = MutableHeaders(raw=list(start.get("headers", [])))
    etag = body_etag(body)
    headers["ETag"] = etag
    if inm and etag_matches(inm, etag):
        await send(_not_modified({**start, "headers": headers.raw}))
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({**start, "headers": headers.raw})
    await send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})


def gzippable(media_type: str) -> bool:
    """Whether a body of this media type is gzipped (when large enough and asked for)."""
    media = media_type.partition(";")[0].strip().lower()
    return not {media, media.partition("/")[0] + "/*"} & set(NOT_GZIPPED)


class _HeadAndEncodings:
    """Around gzip. A HEAD skips gzip (it has no body to compress), so its ``Content-Length`` is
    the identity body's: the request goes on without ``Accept-Encoding``, and its answer gets
    the ``Vary: Accept-Encoding`` its GET has. A gzipped answer's strong ``ETag`` (a file's) is
    made weak: a strong tag names one byte sequence, and the gzip form is another."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}

        async def adjust(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                size = headers.get("content-length")
                if head and gzippable(headers.get("content-type", "")) and (
                        size is None or int(size) >= GZIP_MIN_BYTES):
                    headers.add_vary_header("Accept-Encoding")
                tag = headers.get("etag")
                if headers.get("content-encoding") == "gzip" and tag and not tag.startswith("W/"):
                    headers["ETag"] = "W/" + tag
                message = {**message, "headers": headers.raw}
            await send(message)

        await self.app(scope, receive, adjust)


def install_http(app: FastAPI) -> None:
    """The ETag layer innermost, gzip around it (tags are of the identity body), HEAD outermost."""
    app.add_middleware(_GeoJSONETags)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL,
                       exclude_content_types=NOT_GZIPPED)
    app.add_middleware(_HeadAndEncodings)
