"""Receiving an upload safely: streamed to disk with a byte counter, sniffed, unzipped with limits.

Nothing here trusts the client: the body is refused early when ``Content-Length`` is over
the limit and cut off when the bytes streamed pass it (413); the file is written under a
name of ours (the client's filename only gives the extension and the name shown in
messages); its first bytes must match its extension; a zipped shapefile is extracted by
us, member by member, counting the bytes actually inflated, refusing path traversal,
links, encryption, and too many or too large members. Everything lands in a fresh folder
under ``workspace/tmp`` that the caller removes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import PayloadTooLargeError, UploadRejectedError
from geo.archives import SHAPEFILE_PARTS  # the shapefile's parts: one list, the CLI's too

__all__ = [
    "VECTOR_FORMATS",
    "RASTER_FORMATS",
    "SHAPEFILE_PARTS",
    "Upload",
    "receive_upload",
    "check_extension",
    "sniff",
    "extract_shapefile_zip",
    "clean_filename",
]

VECTOR_FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".zip": "zipped Shapefile",
    ".csv": "CSV",
    ".parquet": "GeoParquet",
}
RASTER_FORMATS = {".tif": "GeoTIFF", ".tiff": "GeoTIFF"}


MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
FORM_OVERHEAD = 256 * 1024  # room for the form fields and multipart framing around the file
_CHUNK = 1024 * 1024


@dataclass
class Upload:
    """One received multipart upload: text fields and the file saved under ``workdir``."""

    workdir: Path
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # the client's, cleaned; for messages and the record
    path: Path | None = None  # where we saved it
    size: int = 0


def clean_filename(name: str) -> str:
    """The last path component of a client's filename, with odd characters replaced."""
    base = PureWindowsPath(PurePosixPath(name.replace("\x00", "")).name).name
    base = re.sub(r"[^\w.\- ()+]", "_", base).strip(" .")
    if len(base) > 200:  # cut the stem, keep the extension (the format is read from it)
        stem, dot, ext = base.rpartition(".")
        if dot and stem and len(ext) <= 16:
            return stem[:199 - len(ext)].rstrip(" .") + "." + ext
    return base[:200] or "upload"


class _Parser:
    def __init__(self, up: Upload, max_file_bytes: int, file_field: str):
        self.up, self.max_file, self.file_field = up, max_file_bytes, file_field
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.name: str | None = None
        self.is_file = False
        self.buf = bytearray()
        self.out: BinaryIO | None = None

    def callbacks(self):
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "header_field", self.header_field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "header_value", self.header_value + d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.headers, self.name, self.is_file, self.buf = {}, None, False, bytearray()

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if name is None:
            raise UploadRejectedError("a multipart part has no name; send fields as -F name=value")
        self.name = name.decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is not None:
            if self.name != self.file_field:
                raise UploadRejectedError(
                    f"field {self.name!r} carries a file; send the layer file as field {self.file_field!r} "
                    f"(curl -F {self.file_field}=@bases.csv) and options as plain fields")
            if self.up.path is not None:
                raise UploadRejectedError(f"field {self.file_field!r} was sent twice; upload one file per request")
            self.is_file = True
            self.up.filename = clean_filename(filename.decode("utf-8", "replace"))
            self.up.path = self.up.workdir / ("upload" + Path(self.up.filename).suffix.lower()[:16])
            self.out = open(self.up.path, "wb")  # noqa: SIM115 - closed in on_part_end / close()
        elif len(self.up.fields) >= MAX_FIELDS:
            raise UploadRejectedError(f"more than {MAX_FIELDS} form fields; send only the documented ones")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.is_file:
            self.up.size += n
            if self.up.size > self.max_file:
                raise PayloadTooLargeError(
                    f"field 'file': the upload is over the limit of {self.max_file / 2**20:g} MB "
                    "(VACUUM_MAX_UPLOAD_MB); split the layer or clip it to the area of interest")
            if self.out is not None:
                self.out.write(data[start:end])
        else:
            self.buf += data[start:end]
            if len(self.buf) > MAX_FIELD_BYTES:
                raise UploadRejectedError(f"field {self.name!r} is over {MAX_FIELD_BYTES // 1024} KB; "
                                          "form fields hold short options, the data goes in 'file'")

    def on_part_end(self) -> None:
        if self.is_file:
            self.close()
        elif self.name is not None:
            if self.name in self.up.fields:
                raise UploadRejectedError(f"field {self.name!r} was sent twice; send each option once")
            try:
                self.up.fields[self.name] = self.buf.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadRejectedError(f"field {self.name!r} is not UTF-8 text") from None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive_upload(request: Request, workdir: Path, *, max_file_bytes: int, file_field: str = "file") -> Upload:
    """Stream a ``multipart/form-data`` body into ``workdir`` with byte limits."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRejectedError(
            "send the layer as multipart/form-data, e.g. curl -F file=@bases.csv -F kind=bases "
            f"(got content type {ctype.decode('latin-1') or 'none'!r})")
    limit = max_file_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"upload of {int(declared) / 2**20:.1f} MB is over the limit of {max_file_bytes / 2**20:g} MB "
            "(VACUUM_MAX_UPLOAD_MB); split the layer or clip it to the area of interest")
    up = Upload(workdir=workdir)
    p = _Parser(up, max_file_bytes, file_field)
    parser = MultipartParser(boundary, p.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise PayloadTooLargeError(
                    f"upload is over the limit of {max_file_bytes / 2**20:g} MB (VACUUM_MAX_UPLOAD_MB); "
                    "split the layer or clip it to the area of interest")
            parser.write(chunk)
        parser.finalize()
    except (UploadRejectedError, PayloadTooLargeError):
        raise
    except Exception as exc:  # python_multipart's MultipartParseError and friends
        raise UploadRejectedError(f"the multipart body could not be parsed ({exc}); send it with curl -F or a "
                                  "form library, not by hand") from None
    finally:
        p.close()
    return up


def check_extension(filename: str, formats: dict[str, str], what: str) -> str:
    """The lower-case extension of ``filename`` if ``formats`` has it; else 422 listing them."""
    ext = Path(filename).suffix.lower()
    if ext not in formats:
        listed = ", ".join(f"{e} ({n})" for e, n in formats.items())
        raise UploadRejectedError(
            f"field 'file': {filename!r} has extension {ext or '(none)'!r}; {what} must be one of: {listed}. "
            "Convert the file (e.g. ogr2ogr -f GPKG out.gpkg in.kml) or give it its real extension")
    return ext


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def sniff(path: Path, ext: str, filename: str) -> None:
    """Refuse a file whose first bytes do not match its extension."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    if not head:
        raise UploadRejectedError(f"field 'file': {filename!r} is empty; upload the layer file itself")
    fmt = {**VECTOR_FORMATS, **RASTER_FORMATS}.get(ext, ext)

    def bad(what_it_is: str) -> UploadRejectedError:
        return UploadRejectedError(
            f"field 'file': {filename!r} is not a {fmt} file ({what_it_is}; it starts with {head[:8]!r}); "
            f"upload a real {fmt} file, or give the file the extension of its real format")

    if ext in (".geojson", ".json"):
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        if b"\x00" in head or not text.startswith(b"{"):
            raise bad("GeoJSON is a JSON object, starting with '{'")
    elif ext == ".gpkg":
        if not head.startswith(b"SQLite format 3\x00"):
            raise bad("a GeoPackage is an SQLite database")
    elif ext == ".zip":
        if head.startswith(b"PK\x05\x06"):
            raise UploadRejectedError(f"field 'file': {filename!r} is an empty zip archive; "
                                      "zip the .shp, .shx, .dbf and .prj of the layer")
        if not head.startswith(b"PK\x03\x04"):
            raise bad("a zip archive starts with PK")
    elif ext == ".csv":
        if b"\x00" in head:
            raise bad("CSV is text, and this holds NUL bytes")
        try:
            # a multi-byte character may be cut at the end of the sniffed block
            (head[:-4] if len(head) == 64 * 1024 else head).decode("utf-8")
        except UnicodeDecodeError:
            raise UploadRejectedError(f"field 'file': {filename!r} is not UTF-8 text; re-save the CSV as UTF-8") from None
    elif ext == ".parquet":
        with open(path, "rb") as f:
            f.seek(-4, 2)
            tail = f.read(4)
        if not (head.startswith(b"PAR1") and tail == b"PAR1"):
            raise bad("a Parquet file starts and ends with PAR1")
    elif ext in RASTER_FORMATS:
        if not head.startswith(_TIFF_MAGIC):
            raise bad("a GeoTIFF starts with II* or MM*")


def extract_shapefile_zip(path: Path, dest: Path, filename: str, *, max_members: int, max_bytes: int,
                          layer: str | None = None) -> Path:
    """Extract the shapefile parts of a zip archive into ``dest``; return the ``.shp``.

    The checks are :func:`geo.archives.extract_shapefile`'s (the CLI's too): bytes counted
    while inflating, stopping at ``max_bytes`` (413); more than ``max_members`` entries,
    absolute or ``..`` paths, links, encrypted members, a shapefile without its ``.shx``
    or ``.dbf`` are refused (422).
    """
    from geo.archives import ArchiveError, ArchiveTooLargeError, extract_shapefile

    try:
        return extract_shapefile(path, dest, label=f"field 'file': {filename!r}", layer=layer,
                                 max_members=max_members, max_bytes=max_bytes,
                                 members_setting="VACUUM_MAX_ZIP_MEMBERS", bytes_setting="VACUUM_MAX_UNZIPPED_MB",
                                 layer_option="the field layer=<name>")
    except ArchiveTooLargeError as exc:
        raise PayloadTooLargeError(str(exc)) from None
    except ArchiveError as exc:
        msg = str(exc)
        if layer is not None and msg.startswith(f"no shapefile {layer!r}"):
            msg = f"field 'layer': {msg}"
        raise UploadRejectedError(msg) from None
