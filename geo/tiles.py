"""The one tile renderer: PNG tile z/x/y (WebMercatorQuad) of a surface COG.

Both the live tile routes (``api.tiles``) and the pre-rendered pyramids
(:mod:`geo.pyramid`) draw their tiles here, so a tile is the same bytes whichever
of them serves it.

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
tiles) stays open in a pool, so a tile costs about a millisecond.

    with CogTiler() as tiler:
        png = tiler.render("gap.tif", "gap", z, x, y)

Caching rendered tiles, ETags and HTTP errors are the service's (``api.tiles``).
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, overload

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

from .errors import LayerError, MissingCRSError, VacuumError
from .legend import STYLES, SurfaceStyle

__all__ = [
    "CogTiler",
    "CogInfo",
    "TileWindow",
    "TilePalette",
    "HandlePool",
    "render_tile",
    "check_tile",
    "tile_palette",
    "class_index",
    "encode_palette_png",
    "file_version",
    "TileCoordinateError",
    "TileOutsideBoundsError",
    "UnknownSurfaceError",
    "Resampling",
    "MAX_ZOOM",
    "TILE_SIZE",
    "RENDER_VERSION",
    "PNG_SIGNATURE",
]

Resampling = Literal["nearest", "bilinear"]

MAX_ZOOM = 24
TILE_SIZE = 256
RENDER_VERSION = "1"
"""Part of every ETag and of every pyramid's metadata: raise it when the same input
would give different pixels."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_TMS = morecantile.tms.get("WebMercatorQuad")
_QUIET = threading.Lock()
_AFFINE_MUL = "Use `@` matmul instead of `\\*` mul operator"
_MERCATOR = CRS.from_wkt(_TMS.rasterio_crs.to_wkt())


# ----------------------------------------------------------------------------- errors
class TileCoordinateError(VacuumError, ValueError):
    """z/x/y is not a WebMercatorQuad tile (z outside 0..24, x or y outside 0..2^z-1)."""


class TileOutsideBoundsError(VacuumError, LookupError):
    """The tile does not touch the surface's bounds."""


# a KeyError too, for callers that look a surface up by name; the service's table lists this
# class itself (404), not KeyError.
class UnknownSurfaceError(KeyError, VacuumError):
    """No legend (and so no tiles) for this surface name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


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


# ----------------------------------------------------------------------------- colours
@dataclass(frozen=True)
class TilePalette:
    """A surface's legend as a PNG palette: one entry per class, then a transparent one."""

    style: SurfaceStyle
    breaks: np.ndarray  # float64 class edges
    palette: bytes  # RGB per class, then the transparent entry
    alpha: bytes
    nodata_index: int
    digest: str  # changes when the legend changes


def _make_palette(style: SurfaceStyle) -> TilePalette:
    table = style.rgba_table()  # the alpha geo.legend.colorize uses
    rgb = table[:, :3].tobytes() + b"\x00\x00\x00"
    alpha = table[:, 3].tobytes() + b"\x00"
    digest = hashlib.blake2b(repr((style.breaks, style.colors, rgb, alpha)).encode(), digest_size=8).hexdigest()
    return TilePalette(style, np.asarray(style.breaks, dtype=np.float64), rgb, alpha, len(table), digest)


_PALETTES = {name: _make_palette(style) for name, style in STYLES.items()}


def tile_palette(surface: str) -> TilePalette:
    """The palette of a surface's tiles; UnknownSurfaceError names the known surfaces."""
    try:
        return _PALETTES[surface]
    except (KeyError, TypeError):
        raise UnknownSurfaceError(
            f"no tiles for surface {surface!r}; known surfaces: {', '.join(_PALETTES)}"
        ) from None


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


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_palette_png(index: np.ndarray, palette: bytes, alpha: bytes, *, level: int = 1) -> bytes:
    """PNG bytes of a 2-D uint8 ``index`` image (colour type 3: PLTE + tRNS).

    ``palette`` holds 3 bytes (R, G, B) per entry and ``alpha`` one byte per
    entry (0 transparent .. 255 opaque); every index in the image must have a
    palette entry. Rows are written unfiltered (filter type 0): class images are
    runs of equal bytes, which zlib at level 1 compresses to a few kB in well under
    a millisecond.
    """
    idx = np.asarray(index)
    if idx.ndim != 2 or idx.dtype != np.uint8:
        raise ValueError(f"index must be a 2-D uint8 array, got {idx.dtype} with shape {idx.shape}")
    n = len(palette) // 3
    if len(palette) != 3 * n or not 1 <= n <= 256 or len(alpha) > n:
        raise ValueError(f"palette must hold 1..256 RGB triplets and alpha at most one byte each; "
                         f"got {len(palette)} and {len(alpha)} bytes")
    h, w = idx.shape
    raw = np.zeros((h, w + 1), dtype=np.uint8)  # a leading 0 per row: filter type None
    raw[:, 1:] = idx
    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)  # 8 bit, colour type 3 (palette)
    return b"".join((
        PNG_SIGNATURE,
        _png_chunk(b"IHDR", header),
        _png_chunk(b"PLTE", bytes(palette)),
        _png_chunk(b"tRNS", bytes(alpha)),
        _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
        _png_chunk(b"IEND", b""),
    ))


# ----------------------------------------------------------------------------- handle pool
class _Closable(Protocol):
    def close(self) -> None: ...


H = TypeVar("H", bound=_Closable)


class HandlePool(Generic[H]):
    """Idle handles by key, at most ``max_idle`` of them in all (least recently used closed first).

    A GDAL dataset handle serves one thread at a time, so ``with pool.lend(key, open_fn)
    as h:`` takes an idle handle of ``key`` or opens a new one; it goes back to the pool
    afterwards, or is closed if the block raised. Handles in use are not counted: their
    number is bounded by the number of rendering threads.
    """

    def __init__(self, max_idle: int) -> None:
        if max_idle < 0:
            raise ValueError(f"max_idle must be >= 0, got {max_idle}")
        self.max_idle = max_idle
        self._idle: OrderedDict[Hashable, list[H]] = OrderedDict()
        self._n_idle = 0
        self._lock = threading.Lock()
        self.opened = 0

    @contextmanager
    def lend(self, key: Hashable, open_fn: Callable[[], H]) -> Iterator[H]:
        handle: H | None = None
        with self._lock:
            free = self._idle.get(key)
            if free:
                handle = free.pop()
                self._n_idle -= 1
                if not free:
                    del self._idle[key]
        if handle is None:
            handle = open_fn()
            with self._lock:
                self.opened += 1
        try:
            yield handle
        except BaseException:
            handle.close()
            raise
        self._give_back(key, handle)

    def _give_back(self, key: Hashable, handle: H) -> None:
        to_close: list[H] = []
        with self._lock:
            self._idle.setdefault(key, []).append(handle)
            self._idle.move_to_end(key)
            self._n_idle += 1
            while self._n_idle > self.max_idle:
                oldest_key, free = next(iter(self._idle.items()))
                to_close.append(free.pop(0))
                self._n_idle -= 1
                if not free:
                    del self._idle[oldest_key]
        for h in to_close:
            h.close()

    def close_where(self, stale: Callable[[Hashable], bool]) -> int:
        """Close the idle handles whose key is stale; return how many."""
        with self._lock:
            keys = [k for k in self._idle if stale(k)]
            handles = [h for k in keys for h in self._idle.pop(k)]
            self._n_idle -= len(handles)
        for h in handles:
            h.close()
        return len(handles)

    def close(self) -> None:
        with self._lock:
            handles = [h for free in self._idle.values() for h in free]
            self._idle.clear()
            self._n_idle = 0
        for h in handles:
            h.close()

    def __len__(self) -> int:
        return self._n_idle


# ----------------------------------------------------------------------------- one file
def file_version(path: str | os.PathLike[str]) -> tuple[int, int, int, int]:
    """(device, inode, size, mtime) of a file: a rewritten (os.replace'd) file gets a new one."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LayerError(f"surface raster {os.fspath(path)} does not exist") from None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class CogInfo:
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


@dataclass(frozen=True, slots=True)
class TileWindow:
    """Where a tile is read from, worked out without reading pixels."""

    z: int
    x: int
    y: int
    level: int  # 0 = full resolution, k = k-th overview
    transform: Affine  # of the output tile, Web Mercator metres


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

    A tile is a window of it. The warp's coordinate transformation is built once per
    chunk instead of once per tile (creating it is most of the cost of a tile, and it
    serialises threads inside PROJ/GDAL), and GDAL caches warped blocks, so
    neighbouring tiles share work.
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


# ----------------------------------------------------------------------------- the renderer
class CogTiler:
    """PNG tiles of surface COGs, with a pool of open warped views and per-file facts.

    ``max_open`` bounds the idle views kept open (a view is one dataset handle and its
    WarpedVRT, per file, overview level, zoom and block of 32 x 32 tiles, and one more
    per thread rendering the same block at the same time); ``max_files`` bounds the
    files whose metadata is kept. ``resampling`` is the warp kernel: ``"nearest"``
    (default) shows each cell's own class; ``"bilinear"`` smooths class edges when
    zoomed in past the grid's cells.

    A file is known by its path and a ``version`` (any hashable that changes when the
    file is rewritten; default :func:`file_version`): a new version drops the old one's
    facts and closes its views. Thread-safe: call any method from any number of threads.
    """

    def __init__(self, *, tile_size: int = TILE_SIZE, resampling: Resampling = "nearest",
                 max_open: int = 64, max_files: int = 256) -> None:
        if not 64 <= tile_size <= 1024:
            raise ValueError(f"tile_size must be 64..1024 pixels, got {tile_size}; use 256 (or 512 for high-DPI maps)")
        if resampling not in ("nearest", "bilinear"):
            raise ValueError(f"resampling must be 'nearest' or 'bilinear', got {resampling!r}")
        if max_files < 1:
            raise ValueError(f"max_files must be >= 1, got {max_files}")
        self.tile_size = tile_size
        self.resampling: Resampling = resampling
        self.handles: HandlePool[_WarpedChunk] = HandlePool(max_open)
        self._infos: OrderedDict[tuple[str, Hashable], CogInfo] = OrderedDict()
        self._lock = threading.Lock()
        self._max_files = max_files

    # -- files ---------------------------------------------------------------------------
    @staticmethod
    def _file(path: str | os.PathLike[str], version: Hashable | None) -> tuple[str, Hashable]:
        p = os.fspath(path)
        return p, file_version(p) if version is None else version

    def known(self, path: str | os.PathLike[str], version: Hashable | None = None) -> CogInfo | None:
        """The file's facts if already read, else None (no I/O beyond a stat)."""
        key = self._file(path, version)
        with self._lock:
            info = self._infos.get(key)
            if info is not None:
                self._infos.move_to_end(key)
            return info

    def info(self, path: str | os.PathLike[str], version: Hashable | None = None) -> CogInfo:
        """The file's facts, read the first time this version of the file is seen."""
        key = self._file(path, version)
        info = self.known(*key)
        if info is not None:
            return info
        info = CogInfo(key[0])  # outside the lock: opening a file takes milliseconds
        with self._lock:
            for old in [k for k in self._infos if k[0] == key[0] and k != key]:
                del self._infos[old]  # the file was rewritten
            self._infos[key] = info
            while len(self._infos) > self._max_files:
                self._infos.popitem(last=False)
        # views on an older version of this file would keep its deleted inode open
        self.handles.close_where(lambda k: isinstance(k, tuple) and k[0] == key[0] and k[1] != key[1])
        return info

    @property
    def n_files(self) -> int:
        return len(self._infos)

    # -- tiles ---------------------------------------------------------------------------
    @overload
    def locate(self, path: str | os.PathLike[str], surface: str, z: int, x: int, y: int, *,
               version: Hashable | None = None) -> TileWindow: ...
    @overload
    def locate(self, path: str | os.PathLike[str], surface: str, z: int, x: int, y: int, *,
               version: Hashable | None = None, open_file: bool) -> TileWindow | None: ...

    def locate(self, path: str | os.PathLike[str], surface: str, z: int, x: int, y: int, *,
               version: Hashable | None = None, open_file: bool = True) -> TileWindow | None:
        """Check the request and the tile's footprint; where to read the tile from.

        Raises UnknownSurfaceError, TileCoordinateError, TileOutsideBoundsError. Reads the
        file's metadata the first time it is seen (or, with ``open_file=False``, returns
        None instead), never its pixels.
        """
        tile_palette(surface)
        check_tile(z, x, y)
        p, version = self._file(path, version)
        info = self.info(p, version) if open_file else self.known(p, version)
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
        return TileWindow(int(z), int(x), int(y), info.level_for(sb, ts), transform)

    def read(self, path: str | os.PathLike[str], tile: TileWindow,
             version: Hashable | None = None) -> np.ma.MaskedArray:
        """The tile's values (1, size, size), masked where no data."""
        p, version = self._file(path, version)
        cx, cy = tile.x // _CHUNK, tile.y // _CHUNK
        with self.handles.lend(
            (p, version, tile.level, tile.z, cx, cy),
            lambda: _WarpedChunk(p, tile.level, tile.z, cx, cy, self.tile_size, self.resampling),
        ) as chunk:
            return chunk.read(tile.x, tile.y)

    @staticmethod
    def encode(surface: str, values: np.ma.MaskedArray) -> bytes:
        """PNG of a (1, h, w) masked array in the surface's legend classes; masked or NaN: transparent."""
        pal = tile_palette(surface)
        v = np.ma.getdata(values)[0]
        index = class_index(v, pal.breaks)
        index[np.ma.getmaskarray(values)[0] | np.isnan(v)] = pal.nodata_index
        return encode_palette_png(index, pal.palette, pal.alpha)

    def render(self, path: str | os.PathLike[str], surface: str, z: int, x: int, y: int, *,
               version: Hashable | None = None) -> bytes:
        """PNG bytes of tile z/x/y of a surface COG.

        Raises UnknownSurfaceError, TileCoordinateError, TileOutsideBoundsError,
        LayerError (no such file), MissingCRSError.
        """
        p, version = self._file(path, version)
        return self.encode(surface, self.read(p, self.locate(p, surface, z, x, y, version=version), version))

    def clear(self) -> None:
        """Close idle views and forget files' facts."""
        self.handles.close()
        with self._lock:
            self._infos.clear()

    close = clear

    def __enter__(self) -> CogTiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_tile(path: str | os.PathLike[str], surface: str, z: int, x: int, y: int, *,
                tile_size: int = TILE_SIZE, resampling: Resampling = "nearest") -> bytes:
    """PNG bytes of one tile, opening and closing everything (use a CogTiler for many)."""
    with CogTiler(tile_size=tile_size, resampling=resampling, max_open=1, max_files=1) as tiler:
        return tiler.render(path, surface, z, x, y)
