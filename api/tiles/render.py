"""Serve XYZ PNG tiles (WebMercatorQuad) of stored surface COGs.

The pixels are :mod:`geo.tiles`' (the one renderer, which ``vacuum pyramid`` uses
too); this module adds what a service needs around it: a file identity per stored
product (a deleted file is a 404), ETags, an LRU cache of PNG bytes keyed by the
file's identity (device, inode, size, mtime, so a rewritten product never serves
stale tiles), pre-rendered tiles from a ``<surface>.mbtiles`` beside the COG (the
same bytes the renderer would draw, so they share its ETags), and TileJSON and
legends.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from geo.legend import SurfaceStyle
from geo.pyramid import MBTilesReader, pyramid_matches
from geo.tiles import (
    MAX_ZOOM,
    RENDER_VERSION,
    CogTiler,
    Resampling,
    TileWindow,
    check_tile,
    class_index,
    tile_palette,
)

from .cache import SizedLRU
from .errors import SurfaceFileMissingError

__all__ = ["TileRenderer", "TileKey", "FileId", "Resampling", "MAX_ZOOM", "RENDER_VERSION", "class_index"]


@dataclass(frozen=True, slots=True)
class FileId:
    """A file's identity: a rewritten (os.replace'd) product gets a new one."""

    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path | str | FileId) -> FileId:
        if isinstance(path, FileId):
            return path
        p = os.fspath(path)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise SurfaceFileMissingError(
                "the stored surface has no raster file (it was deleted or is being rewritten); "
                "re-run the analysis or ask again"
            ) from None
        return cls(p, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class TileKey:
    """Everything needed to render one tile, worked out without reading pixels."""

    file: FileId
    surface: str
    tile: TileWindow
    etag: str

    @property
    def cache_key(self) -> tuple[Any, ...]:
        return _cache_key(self.file, self.surface, self.tile.z, self.tile.x, self.tile.y)


def _cache_key(fid: FileId, surface: str, z: int, x: int, y: int) -> tuple[Any, ...]:
    return (fid, surface, z, x, y)


class TileRenderer:
    """PNG tiles of surface COGs for a service: :class:`geo.tiles.CogTiler` behind an LRU
    cache of tiles, ETags, and pre-rendered pyramids.

    ``cache_tiles`` and ``cache_bytes`` bound the tile cache (0 turns it off);
    ``max_open``, ``tile_size``, ``resampling`` and ``max_files`` are the CogTiler's.
    A ``<surface>.mbtiles`` beside the COG (``vacuum pyramid``) stands in for rendering
    the tiles it holds, when it was written after the COG and with this renderer's
    tile size, resampling and ``RENDER_VERSION`` (so its tiles are the bytes rendering
    would give). Thread-safe: call ``render`` from any number of threads.
    """

    def __init__(
        self,
        *,
        cache_tiles: int = 4096,
        max_open: int = 64,
        tile_size: int = 256,
        cache_bytes: int = 256 * 2**20,
        resampling: Resampling = "nearest",
        max_files: int = 256,
    ) -> None:
        self._tiler = CogTiler(tile_size=tile_size, resampling=resampling, max_open=max_open, max_files=max_files)
        self.tile_size = tile_size
        self.resampling: Resampling = resampling
        self._tiles: SizedLRU[tuple[bytes, str]] = SizedLRU(cache_tiles, cache_bytes)
        self._renders = 0
        self._pyramid_hits = 0
        # (pyramid file, COG file) -> its reader, or None: there, but not ours to serve
        self._pyramids: dict[tuple[FileId, FileId], MBTilesReader | None] = {}
        self._pyramids_lock = threading.Lock()

    # -- checks that need no file ------------------------------------------------------
    @staticmethod
    def style(surface: str) -> SurfaceStyle:
        """The surface's legend style; UnknownSurfaceError names the known surfaces."""
        return tile_palette(surface).style

    check_tile = staticmethod(check_tile)

    def check(self, surface: str, z: int, x: int, y: int) -> None:
        """Validate a tile request before looking anything up."""
        tile_palette(surface)
        check_tile(z, x, y)

    # -- tiles ---------------------------------------------------------------------------
    @overload
    def tile_key(self, cog_path: Path | str | FileId, surface: str, z: int, x: int, y: int) -> TileKey: ...
    @overload
    def tile_key(self, cog_path: Path | str | FileId, surface: str, z: int, x: int, y: int, *,
                 open_file: bool) -> TileKey | None: ...

    def tile_key(self, cog_path: Path | str | FileId, surface: str, z: int, x: int, y: int, *,
                 open_file: bool = True) -> TileKey | None:
        """Check the request and the tile's footprint, and name the tile (ETag included).

        Reads the file's metadata the first time a file is seen (or, with
        ``open_file=False``, returns None instead), never its pixels.
        """
        self.check(surface, z, x, y)
        fid = FileId.of(cog_path)
        tile = self._tiler.locate(fid.path, surface, z, x, y, version=fid, open_file=open_file)
        if tile is None:
            return None
        tag = hashlib.blake2b(
            repr((RENDER_VERSION, tile_palette(surface).digest, fid.path, fid.dev, fid.ino, fid.size,
                  fid.mtime_ns, surface, z, x, y, self.tile_size, self.resampling)).encode(),
            digest_size=16,
        ).hexdigest()
        return TileKey(fid, surface, tile, f'"{tag}"')

    @staticmethod
    def file_id(cog_path: Path | str) -> FileId:
        """The file's identity (one stat); raises SurfaceFileMissingError if it is gone."""
        return FileId.of(cog_path)

    def cached(self, cog: Path | str | FileId, surface: str, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """(PNG, ETag) of a tile in the cache, else None; no check, no I/O beyond a stat.

        For the hot path of a server, after ``check``: a hit costs a dictionary lookup.
        """
        return self._tiles.get(_cache_key(FileId.of(cog), surface, z, x, y))

    def render_key(self, key: TileKey) -> bytes:
        """The tile's PNG, from the cache, else from a pyramid beside the COG, else
        rendered (and then cached)."""
        hit = self._tiles.get(key.cache_key)
        if hit is not None:
            return hit[0]
        png = self._pyramid_tile(key)
        if png is None:
            png = self._tiler.encode(key.surface, self.read(key))
            self._renders += 1
        else:
            self._pyramid_hits += 1
        self._tiles.put(key.cache_key, (png, key.etag), len(png))
        return png

    def read(self, key: TileKey) -> np.ma.MaskedArray:
        """The tile's values (1, size, size), masked where no data."""
        return self._tiler.read(key.file.path, key.tile, version=key.file)

    @staticmethod
    def encode(surface: str, values: np.ma.MaskedArray) -> bytes:
        """PNG of a (1, h, w) masked array in the surface's legend classes; masked or NaN: transparent."""
        return CogTiler.encode(surface, values)

    def render(self, cog_path: Path | str, surface: str, z: int, x: int, y: int) -> tuple[bytes, str]:
        """(PNG bytes, ETag) of tile z/x/y of a surface COG.

        Raises UnknownSurfaceError, TileCoordinateError, TileOutsideBoundsError,
        SurfaceFileMissingError.
        """
        self.check(surface, z, x, y)
        fid = FileId.of(cog_path)
        hit = self.cached(fid, surface, z, x, y)
        if hit is not None:
            return hit
        key = self.tile_key(fid, surface, z, x, y)
        return self.render_key(key), key.etag

    def _pyramid_tile(self, key: TileKey) -> bytes | None:
        """The tile from ``<surface>.mbtiles`` beside the COG (see geo.pyramid), if it is there
        and may be served (see the class's docstring)."""
        mb = Path(key.file.path).with_suffix(".mbtiles")
        try:
            mid = FileId.of(mb)
        except SurfaceFileMissingError:
            return None
        with self._pyramids_lock:
            if (mid, key.file) in self._pyramids:
                reader = self._pyramids[(mid, key.file)]
            else:
                for old in [k for k in self._pyramids if k[0].path == mid.path]:
                    # dropped, not closed: a thread may still be reading it (the
                    # connection closes when the last reference goes)
                    del self._pyramids[old]
                reader = MBTilesReader(mb)
                if mid.mtime_ns < key.file.mtime_ns or not pyramid_matches(
                        reader, tile_size=self.tile_size, resampling=self.resampling):
                    reader.close()  # older than the COG, or another renderer's tiles: render
                    reader = None
                self._pyramids[(mid, key.file)] = reader
        if reader is None or not reader.minzoom <= key.tile.z <= reader.maxzoom:
            return None
        return reader.get(key.tile.z, key.tile.x, key.tile.y)

    # -- metadata ------------------------------------------------------------------------
    def tilejson(self, cog_path: Path | str, surface: str, tiles_url: str) -> dict[str, Any]:
        """TileJSON 3.0.0 of a surface COG: lon/lat bounds and zoom range from the file."""
        style = self.style(surface)
        fid = FileId.of(cog_path)
        info = self._tiler.info(fid.path, version=fid)
        w, s, e, n = info.lonlat_bounds
        return {
            "tilejson": "3.0.0",
            "name": style.title,
            "description": f"{style.title} ({style.unit}); legend classes at /legend/{surface}",
            "tiles": [tiles_url],
            "scheme": "xyz",
            "minzoom": info.minzoom,
            "maxzoom": info.maxzoom,
            "bounds": [w, s, e, n],
            "center": [(w + e) / 2, (s + n) / 2, info.minzoom],
        }

    def legend(self, surface: str) -> dict[str, Any]:
        """Title, unit and classes (label, colour, value range) of a surface, as tiles show them."""
        style = self.style(surface)
        edges = [style.vmin, *style.breaks, style.vmax]
        opacity = round(int(style.rgba_table()[0, 3]) / 255, 3)
        return {
            "surface": surface,
            "title": style.title,
            "unit": style.unit,
            "classes": [
                {"label": label, "color": color, "min": edges[i], "max": edges[i + 1]}
                for i, (label, color) in enumerate(zip(style.labels, style.colors, strict=True))
            ],
            "opacity": opacity,
            "nodata": "transparent",
            "intervals": "[min, max); a value equal to a break takes the class above it, values beyond the first or last class edge take that class",
        }

    # -- housekeeping --------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        return {
            "tiles_cached": len(self._tiles), "tile_bytes": self._tiles.nbytes,
            "hits": self._tiles.hits, "renders": self._renders, "pyramid_tiles": self._pyramid_hits,
            "handles_idle": len(self._tiler.handles), "handles_opened": self._tiler.handles.opened,
            "files": self._tiler.n_files,
        }

    def clear(self) -> None:
        """Drop cached tiles and close idle handles (e.g. after products were deleted)."""
        self._tiles.clear()
        self._tiler.clear()

    close = clear

    def __enter__(self) -> TileRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

