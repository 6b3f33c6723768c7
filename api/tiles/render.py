"""Render XYZ PNG tiles (WebMercatorQuad) of a stored surface COG.

One tile: GDAL warps the COG to Web Mercator (a rasterio WarpedVRT on the grid of
the zoom level, over the overview whose cells are just finer than the tile's
pixels, set up as rio-tiler sets up its own) and the tile is a window read of it;
each value becomes its legend class (:mod:`geo.legend`), and the class image is
written as a paletted PNG whose palette *is* the legend, so tile colours and
legend colours cannot drift apart. Cells without data are transparent. rio-tiler's
``Reader`` gives each file's zoom range and lon/lat bounds (as TiTiler reports
them) and is the reference the tests compare tiles with.

Speed comes from doing per tile only what depends on the tile. ``Reader.tile``
would, per tile, build two PROJ transformations (the footprint test and
``calculate_default_transform``: ~7 ms together, and they serialise threads
inside PROJ/GDAL), and below the grid's resolution warp at full resolution then
decimate (~25 ms). Here the footprint, overviews and a pyproj transformer are
read once per file, and one WarpedVRT per (file, overview, zoom, block of 32x32
tiles) stays open in a pool, so a tile costs about a millisecond. PNG bytes are
kept in an LRU cache keyed by the file's identity (device, inode, size, mtime),
so a rewritten product never serves stale tiles.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import morecantile
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import Resampling as RioResampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from rio_tiler.constants import WGS84_CRS
from rio_tiler.io import Reader

from geo.errors import MissingCRSError
from geo.legend import STYLES, SurfaceStyle

from .cache import HandlePool, SizedLRU
from .errors import (
    SurfaceFileMissingError,
    TileCoordinateError,
    TileOutsideBoundsError,
    UnknownSurfaceError,
)
from .png import encode_palette_png

__all__ = ["TileRenderer", "TileKey", "FileId", "Resampling", "MAX_ZOOM", "RENDER_VERSION", "class_index"]

Resampling = Literal["nearest", "bilinear"]

MAX_ZOOM = 24
RENDER_VERSION = "1"
"""Part of every ETag: raise it when the same input would give different pixels."""

_TMS = morecantile.tms.get("WebMercatorQuad")
_QUIET = threading.Lock()
_AFFINE_MUL = "Use `@` matmul instead of `\\*` mul operator"
_MERCATOR = CRS.from_wkt(_TMS.rasterio_crs.to_wkt())


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
    z: int
    x: int
    y: int
    level: int  # 0 = full resolution, k = k-th overview
    transform: Affine  # of the output tile, Web Mercator metres
    etag: str

    @property
    def cache_key(self) -> tuple[Any, ...]:
        return _cache_key(self.file, self.surface, self.z, self.x, self.y)


def _cache_key(fid: FileId, surface: str, z: int, x: int, y: int) -> tuple[Any, ...]:
    return (fid, surface, z, x, y)


@dataclass(frozen=True)
class _Palette:
    breaks: np.ndarray  # float64 class edges
    palette: bytes  # RGB per class, then the transparent entry
    alpha: bytes
    nodata_index: int
    digest: str  # changes when the legend changes


def _palette(style: SurfaceStyle) -> _Palette:
    table = style.rgba_table()  # the alpha geo.legend.colorize uses
    n = len(table)
    rgb = table[:, :3].tobytes() + b"\x00\x00\x00"
    alpha = table[:, 3].tobytes() + b"\x00"
    digest = hashlib.blake2b(repr((style.breaks, style.colors, rgb, alpha)).encode(), digest_size=8).hexdigest()
    return _Palette(np.asarray(style.breaks, dtype=np.float64), rgb, alpha, n, digest)


def _float32_edges(breaks: np.ndarray) -> np.ndarray:
    """For each float64 edge b, the smallest float32 t >= b: for float32 v, v >= t iff v >= b."""
    t = breaks.astype(np.float32)
    low = t.astype(np.float64) < breaks
    t[low] = np.nextafter(t[low], np.float32(np.inf))
    return t


def class_index(values: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """uint8 class of each value, as ``geo.legend.colorize`` classes it (searchsorted, side
    right, in float64), by one comparison pass per edge (20x faster than searchsorted).
    NaN gets class 0; callers mark it as no data."""
    v = np.asarray(values)
    if v.dtype == np.float32:
        edges = _float32_edges(breaks)
    else:
        v = v.astype(np.float64, copy=False)
        edges = breaks
    out = np.zeros(v.shape, dtype=np.uint8)
    for edge in edges:
        out += v >= edge
    return out


class _CogInfo:
    """Facts of one COG read once: footprint, overviews, zoom range, lon/lat bounds."""

    def __init__(self, path: str) -> None:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise MissingCRSError("the stored surface raster has no CRS, so it cannot be tiled; "
                                      "write it with geo.rasters.write_cog")
            self.crs = ds.crs
            self.bounds = tuple(ds.bounds)
            self.res = min(abs(ds.res[0]), abs(ds.res[1]))
            self.factors = (1, *ds.overviews(1))
            # rasterio's calculate_default_transform multiplies Affines with `*`, which affine 3
            # flags as pending deprecation; rio-tiler catches any error there and falls back to
            # the TMS's zoom range. Silenced here, once per file, so that a warnings-as-errors
            # run (pytest) gets the same zooms as production; the lock keeps our own
            # catch_warnings blocks from interleaving (they are not thread-safe).
            with _QUIET, warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_AFFINE_MUL, category=PendingDeprecationWarning)
                with Reader(None, dataset=ds, tms=_TMS) as r:
                    self.minzoom = int(r.minzoom)
                    self.maxzoom = int(r.maxzoom)
                    self.lonlat_bounds = tuple(float(v) for v in r.get_geographic_bounds(WGS84_CRS))
        self._to_src = Transformer.from_crs(_MERCATOR, CRS.from_wkt(self.crs.to_wkt()), always_xy=True)
        self._lock = threading.Lock()  # a pyproj Transformer is not shared between threads

    def src_bounds(self, merc: tuple[float, float, float, float]) -> tuple[float, ...] | None:
        """The tile's bounds in the COG's CRS (densified edges); None if not finite there."""
        try:
            with self._lock:
                b = self._to_src.transform_bounds(*merc, densify_pts=21)
        except Exception:  # noqa: BLE001 - PROJ fails for tiles far outside the CRS's domain
            return None
        return tuple(b) if all(np.isfinite(b)) else None

    def intersects(self, sb: tuple[float, ...] | None) -> bool:
        # as rio-tiler's tile_exists: a tile whose bounds do not transform counts as touching
        if sb is None:
            return True
        w, s, e, n = self.bounds
        return sb[0] < e and sb[2] > w and sb[3] > s and sb[1] < n

    def level_for(self, sb: tuple[float, ...] | None, tile_size: int) -> int:
        """The coarsest overview whose cells are no larger than the tile's pixels."""
        if sb is None:
            return len(self.factors) - 1
        pixel = min(sb[2] - sb[0], sb[3] - sb[1]) / tile_size
        level = 0
        for i, f in enumerate(self.factors):
            if self.res * f <= pixel * (1 + 1e-6):
                level = i
        return level


_CHUNK = 32
"""Tiles per side of one warped view (8192 x 8192 pixels at 256-pixel tiles)."""

_WARP_TOLERANCE = 0.01
"""Error allowed to GDAL's approximate transformer, in output pixels. GDAL's default
(0.125) over a chunk-sized warp moved ~3% of the pixels of a zoomed-in tile to a
neighbouring cell against an exact per-pixel PROJ transformation; 0.01 leaves fewer such
pixels than rio-tiler's own per-tile warp, at no measurable cost per tile."""


class _WarpedChunk:
    """One thread's view of a COG in Web Mercator at one zoom: a GDAL WarpedVRT on the
    grid of a block of up to _CHUNK x _CHUNK tiles, over one overview level.

    A tile is a window of it. The warp's coordinate
    transformation is built once per chunk instead of once per tile (creating it is
    most of the cost of a tile, and it serialises threads inside PROJ/GDAL), and GDAL
    caches warped blocks, so neighbouring tiles share work.
    """

    def __init__(self, path: str, level: int, z: int, cx: int, cy: int, tile_size: int,
                 resampling: Resampling) -> None:
        n = 1 << z
        self.x0, self.y0, self.tile_size = cx * _CHUNK, cy * _CHUNK, tile_size
        width = min(_CHUNK, n - self.x0) * tile_size
        height = min(_CHUNK, n - self.y0) * tile_size
        left, bottom, right, top = _TMS.xy_bounds(morecantile.Tile(self.x0, self.y0, z))
        res = (right - left) / tile_size
        self.dataset = rasterio.open(path, overview_level=level - 1) if level else rasterio.open(path)
        try:
            nodata = self.dataset.nodata if self.dataset.nodata is not None else float("nan")
            self.vrt = WarpedVRT(
                self.dataset, crs=_TMS.rasterio_crs, transform=Affine(res, 0.0, left, 0.0, -res, top),
                width=width, height=height, nodata=nodata, src_nodata=self.dataset.nodata,
                resampling=RioResampling[resampling], dtype=self.dataset.dtypes[0], tolerance=_WARP_TOLERANCE,
            )
        except Exception:
            self.dataset.close()
            raise

    def read(self, x: int, y: int) -> np.ma.MaskedArray:
        ts = self.tile_size
        window = Window((x - self.x0) * ts, (y - self.y0) * ts, ts, ts)
        # What rio_tiler.reader.read does for a window of a WarpedVRT, minus its ImageData
        # (bounds via affine's deprecated `*`: a warning per tile, an error under pytest).
        return self.vrt.read(indexes=[1], window=window, masked=True)

    def close(self) -> None:
        self.vrt.close()
        self.dataset.close()


class TileRenderer:
    """PNG tiles of surface COGs, with an LRU cache of tiles and a pool of open warped views.

    ``cache_tiles`` and ``cache_bytes`` bound the tile cache (0 turns it off);
    ``max_open`` bounds the idle views kept open (a view is one dataset handle and its
    WarpedVRT, per file, overview level, zoom and block of 32 x 32 tiles, and one more
    per thread rendering the same block at the same time); ``max_files`` bounds the
    files whose metadata is kept.
    ``resampling`` is the warp kernel: ``"nearest"`` (default) shows each cell's own
    class; ``"bilinear"`` smooths class edges when zoomed in past the grid's cells.
    Thread-safe: call ``render`` from any number of threads.
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
        if not 64 <= tile_size <= 1024:
            raise ValueError(f"tile_size must be 64..1024 pixels, got {tile_size}; use 256 (or 512 for high-DPI maps)")
        if resampling not in ("nearest", "bilinear"):
            raise ValueError(f"resampling must be 'nearest' or 'bilinear', got {resampling!r}")
        if max_files < 1:
            raise ValueError(f"max_files must be >= 1, got {max_files}")
        self.tile_size = tile_size
        self.resampling: Resampling = resampling
        self._tiles: SizedLRU[tuple[bytes, str]] = SizedLRU(cache_tiles, cache_bytes)
        self._renders = 0
        self._handles: HandlePool[_WarpedChunk] = HandlePool(max_open)
        self._infos: OrderedDict[FileId, _CogInfo] = OrderedDict()
        self._pyramids: dict[FileId, Any] = {}  # open MBTilesReader per pre-rendered pyramid
        self._infos_lock = threading.Lock()
        self._max_files = max_files
        self._palettes = {name: _palette(style) for name, style in STYLES.items()}

    # -- checks that need no file ------------------------------------------------------
    def style(self, surface: str) -> SurfaceStyle:
        try:
            return STYLES[surface]
        except (KeyError, TypeError):
            raise UnknownSurfaceError(
                f"no tiles for surface {surface!r}; known surfaces: {', '.join(STYLES)}"
            ) from None

    @staticmethod
    def check_tile(z: int, x: int, y: int) -> None:
        """Raise TileCoordinateError unless z/x/y is a WebMercatorQuad tile."""
        for name, v in (("z", z), ("x", x), ("y", y)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TileCoordinateError(f"tile {name}={v!r} is not an integer")
        if not 0 <= z <= MAX_ZOOM:
            raise TileCoordinateError(f"zoom z={z} is outside 0..{MAX_ZOOM}")
        n = 1 << int(z)
        if not (0 <= x < n and 0 <= y < n):
            raise TileCoordinateError(f"tile x={x}, y={y} is outside 0..{n - 1} at zoom {z}")

    def check(self, surface: str, z: int, x: int, y: int) -> None:
        """Validate a tile request before looking anything up."""
        self.style(surface)
        self.check_tile(z, x, y)

    # -- files ---------------------------------------------------------------------------
    def _known_info(self, fid: FileId) -> _CogInfo | None:
        with self._infos_lock:
            info = self._infos.get(fid)
            if info is not None:
                self._infos.move_to_end(fid)
            return info

    def _info(self, fid: FileId) -> _CogInfo:
        info = self._known_info(fid)
        if info is not None:
            return info
        info = _CogInfo(fid.path)  # outside the lock: opening a file takes milliseconds
        with self._infos_lock:
            for old in [f for f in self._infos if f.path == fid.path and f != fid]:
                del self._infos[old]  # the file was rewritten
            self._infos[fid] = info
            while len(self._infos) > self._max_files:
                self._infos.popitem(last=False)
        # handles on an older version of this file would keep its deleted inode open
        self._handles.close_where(lambda k: isinstance(k, tuple) and k[0].path == fid.path and k[0] != fid)
        return info

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
        info = self._info(fid) if open_file else self._known_info(fid)
        if info is None:
            return None
        xmin, ymin, xmax, ymax = _TMS.xy_bounds(morecantile.Tile(x, y, z))
        sb = info.src_bounds((xmin, ymin, xmax, ymax))
        if not info.intersects(sb):
            w, s, e, n = info.lonlat_bounds
            raise TileOutsideBoundsError(
                f"tile {z}/{x}/{y} is outside the {surface} surface, which covers lon {w:.3f}..{e:.3f}, "
                f"lat {s:.3f}..{n:.3f} (zoom {info.minzoom}..{info.maxzoom}); see its TileJSON"
            )
        ts = self.tile_size
        transform = Affine((xmax - xmin) / ts, 0.0, xmin, 0.0, -(ymax - ymin) / ts, ymax)
        tag = hashlib.blake2b(
            repr((RENDER_VERSION, self._palettes[surface].digest, fid.path, fid.dev, fid.ino, fid.size,
                  fid.mtime_ns, surface, z, x, y, ts, self.resampling)).encode(),
            digest_size=16,
        ).hexdigest()
        return TileKey(fid, surface, int(z), int(x), int(y), info.level_for(sb, ts), transform, f'"{tag}"')

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
        """The tile's PNG, from the cache or rendered (and then cached)."""
        hit = self._tiles.get(key.cache_key)
        if hit is not None:
            return hit[0]
        png = self.encode(key.surface, self.read(key))
        self._renders += 1
        self._tiles.put(key.cache_key, (png, key.etag), len(png))
        return png

    def read(self, key: TileKey) -> np.ma.MaskedArray:
        """The tile's values (1, size, size) as rio-tiler reads them, masked where no data."""
        cx, cy = key.x // _CHUNK, key.y // _CHUNK
        with self._handles.lend(
            (key.file, key.level, key.z, cx, cy),
            lambda: _WarpedChunk(key.file.path, key.level, key.z, cx, cy, self.tile_size, self.resampling),
        ) as chunk:
            return chunk.read(key.x, key.y)

    def encode(self, surface: str, values: np.ma.MaskedArray) -> bytes:
        """PNG of a (1, h, w) masked array in the surface's legend classes; masked or NaN: transparent."""
        pal = self._palettes[surface]
        v = np.ma.getdata(values)[0]
        index = class_index(v, pal.breaks)
        index[np.ma.getmaskarray(values)[0] | np.isnan(v)] = pal.nodata_index
        return encode_palette_png(index, pal.palette, pal.alpha)

    def render(self, cog_path: Path, surface: str, z: int, x: int, y: int) -> tuple[bytes, str]:
        """(PNG bytes, ETag) of tile z/x/y of a surface COG.

        Raises UnknownSurfaceError, TileCoordinateError, TileOutsideBoundsError,
        SurfaceFileMissingError.
        """
        self.check(surface, z, x, y)
        fid = FileId.of(cog_path)
        hit = self.cached(fid, surface, z, x, y)
        if hit is not None:
            return hit
        pre = self._pyramid_tile(Path(cog_path), z, x, y)
        if pre is not None:
            return pre
        key = self.tile_key(fid, surface, z, x, y)
        return self.render_key(key), key.etag

    def _pyramid_tile(self, cog_path: Path, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """A pre-rendered tile from ``<surface>.mbtiles`` beside the COG (see geo.pyramid), if there is one."""
        mb = cog_path.with_suffix(".mbtiles")
        if not mb.is_file():
            return None
        from geo.pyramid import MBTilesReader

        mid = FileId.of(mb)
        with self._infos_lock:
            reader = self._pyramids.get(mid)
            if reader is None:
                for old in [k for k in self._pyramids if k.path == mid.path]:
                    self._pyramids.pop(old).close()
                reader = self._pyramids[mid] = MBTilesReader(mb)
        if not reader.minzoom <= z <= reader.maxzoom:
            return None
        data = reader.get(z, x, y)
        if data is None:
            return None
        etag = '"' + hashlib.sha1(f"{mid.ino}-{mid.size}-{mid.mtime_ns}-{z}/{x}/{y}".encode()).hexdigest()[:20] + '"'
        return data, etag

    # -- metadata ------------------------------------------------------------------------
    def tilejson(self, cog_path: Path, surface: str, tiles_url: str) -> dict[str, Any]:
        """TileJSON 3.0.0 of a surface COG: lon/lat bounds and zoom range from the file."""
        style = self.style(surface)
        info = self._info(FileId.of(cog_path))
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
            "hits": self._tiles.hits, "renders": self._renders,
            "handles_idle": len(self._handles), "handles_opened": self._handles.opened,
            "files": len(self._infos),
        }

    def clear(self) -> None:
        """Drop cached tiles and close idle handles (e.g. after products were deleted)."""
        self._tiles.clear()
        self._handles.close()
        with self._infos_lock:
            self._infos.clear()

    close = clear

    def __enter__(self) -> TileRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
