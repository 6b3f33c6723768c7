"""Zipped shapefiles, opened safely: the one set of checks for the CLI's files and the
service's uploads (``api.uploads`` wraps :func:`extract_shapefile` in its own errors).

An archive is refused, in plain words, when it has more than ``max_members`` entries,
a member with an absolute path, ``..`` (path traversal), a NUL byte or a symbolic link,
an encrypted member, or when it inflates past ``max_bytes`` (counted while inflating: a
member's declared size can lie). Only the shapefile's parts are extracted, flat, into a
folder of the caller's; GDAL never sees the archive, so its ``/vsizip`` messages (and
its build paths) never reach the user.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from .errors import LayerError, UnsupportedFormatError

__all__ = ["ArchiveError", "ArchiveTooLargeError", "SHAPEFILE_PARTS", "MAX_MEMBERS", "MAX_BYTES", "unsafe_member",
           "extract_shapefile"]

SHAPEFILE_PARTS = frozenset({".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd"})
"""Members of a zipped shapefile that are extracted; anything else in the archive is ignored."""

MAX_MEMBERS = 64
"""Most entries an archive may hold (the service's ``VACUUM_MAX_ZIP_MEMBERS`` default)."""

MAX_BYTES = 1000 * 1024 * 1024
"""Most bytes an archive may inflate to (the service's ``VACUUM_MAX_UNZIPPED_MB`` default, 1000 MB)."""

_CHUNK = 1024 * 1024


class ArchiveError(LayerError):
    """A zip archive that is refused (unsafe, encrypted, not a shapefile)."""


class ArchiveTooLargeError(ArchiveError):
    """A zip archive that inflates past the limit (a zip bomb, or a layer to clip first)."""


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be extracted, or None."""
    name = info.filename
    if "\x00" in name:
        return "a NUL byte in its name"
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in posix.parts:
        return "'..' in its path (path traversal)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if info.flag_bits & 0x1:
        return "encryption (a password); zip it without one"
    return None


def _hint(setting: str) -> str:
    return f" ({setting})" if setting else ""


def extract_shapefile(
    path: Path, dest: Path, *, label: str | None = None, layer: str | None = None,
    max_members: int = MAX_MEMBERS, max_bytes: int = MAX_BYTES,
    members_setting: str = "", bytes_setting: str = "", layer_option: str = "layer='name' (CLI: FILE.zip::name)",
) -> Path:
    """Extract the shapefile parts of the zip archive ``path`` into ``dest`` (flat); return
    the ``.shp``. ``label`` names the archive in messages (default: the path);
    ``*_setting`` name the limits' settings and ``layer_option`` how to pick a shapefile.

    Raises :class:`ArchiveError` (:class:`ArchiveTooLargeError` past ``max_bytes``)."""
    what = label or str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{what} is not a readable zip archive ({exc}); zip the shapefile again") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise ArchiveError(
                f"{what} holds {len(infos)} entries, more than the {max_members} allowed{_hint(members_setting)}; "
                "zip one shapefile (.shp, .shx, .dbf, .prj) per archive")
        declared = sum(i.file_size for i in infos)
        if declared > max_bytes:
            raise ArchiveTooLargeError(
                f"{what} unzips to {declared / 2**20:.1f} MB, over the limit of {max_bytes / 2**20:g} MB"
                f"{_hint(bytes_setting)}")
        for info in infos:
            why = unsafe_member(info)
            if why:
                raise ArchiveError(f"{what} has a member {info.filename!r} with {why}; "
                                   "zip the shapefile's files without folders, links or a password")
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        written: dict[str, str] = {}
        for info in infos:
            posix = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or posix.parts[0] == "__MACOSX" or posix.name.startswith("."):
                continue
            if posix.suffix.lower() not in SHAPEFILE_PARTS:
                continue
            base = re.sub(r"[^\w.\-]", "_", posix.name)
            if base.lower() in written:
                raise ArchiveError(f"{what} holds two files named {base!r} ({written[base.lower()]!r} and "
                                   f"{info.filename!r}); zip one shapefile per archive")
            written[base.lower()] = info.filename
            try:
                with zf.open(info) as src, open(dest / base, "wb") as out:
                    while block := src.read(_CHUNK):
                        total += len(block)
                        if total > max_bytes:
                            raise ArchiveTooLargeError(
                                f"{what} unzips to more than {max_bytes / 2**20:g} MB{_hint(bytes_setting)}; "
                                "a zip bomb, or a layer to clip first")
                        out.write(block)
            except RuntimeError as exc:  # encrypted without the flag we check
                raise ArchiveError(f"{what}: {exc}; zip it without a password") from None
            except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as exc:
                raise ArchiveError(f"{what} member {info.filename!r} cannot be extracted ({exc}); "
                                   "zip the shapefile again") from None
    shps = sorted(p for p in dest.iterdir() if p.suffix.lower() == ".shp")
    if layer is not None:
        wanted = [p for p in shps if p.stem == layer or p.name == layer]
        if not wanted:
            raise ArchiveError(f"no shapefile {layer!r} in {what}; it holds: "
                               f"{', '.join(p.name for p in shps) or '(none)'}")
        shps = wanted
    if not shps:
        raise _NoShapefile(f"{what} holds no .shp file; only zipped shapefiles are supported as .zip "
                           "(give GeoJSON, GeoPackage or CSV as they are)")
    if len(shps) > 1:
        raise ArchiveError(f"{what} holds {len(shps)} shapefiles ({', '.join(p.name for p in shps)}); "
                           f"pick one with {layer_option}")
    shp = shps[0]
    missing = [e for e in (".shx", ".dbf") if not any(p.name.lower() == (shp.stem + e).lower() for p in dest.iterdir())]
    if missing:
        raise ArchiveError(f"{what} has {shp.name} but no {' or '.join(missing)}; a shapefile needs its .shp, "
                           ".shx and .dbf (and .prj for its CRS) zipped together")
    return shp


class _NoShapefile(ArchiveError, UnsupportedFormatError):
    pass


