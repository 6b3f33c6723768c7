"""A surface COG as one PNG in Web Mercator, for an image overlay embedded in the page.

Leaflet stretches an image overlay linearly between the Web Mercator positions of its
corners, so the surface is reprojected to EPSG:3857 over exactly the grid's lon/lat
footprint (nearest neighbour: every pixel keeps the class of one cell, as the tiles
do) and coloured with :func:`geo.legend.colorize`, the function the tile server uses.

The warp is the same for every surface of a grid, so it is done once per grid and image
size (:func:`warp_index`): GDAL warps the grid's cell numbers, and each image then takes
its values by those numbers (a numpy gather instead of a warp per image; a monitor page
has 48 images of one grid).
"""

from __future__ import annotations

import base64
import io
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.crs import CRS as RioCRS
from rasterio.warp import Resampling, reproject

from geo.errors import GridError
from geo.grid import Grid
from geo.legend import SurfaceStyle, colorize, style_for
from geo.rasters import read_surface
from geo.types import BBox

from .coords import MAX_MERCATOR_LAT, WEB_MERCATOR, bounds_latlon, lonlat_to_mercator

__all__ = ["SurfaceImage", "surface_image", "render_surface", "DEFAULT_MAX_PIXELS", "WarpIndex", "warp_index", "build_warp_index",
           "WARP_INDEXES", "WARP_INDEXES_KEPT",
           "clear_warp_cache"]

DEFAULT_MAX_PIXELS = 4_000_000
"""Cap on the overlay's pixel count (about 2000 x 2000); coarser beyond it, to keep pages light."""


@dataclass(frozen=True)
class SurfaceImage:
    """A coloured surface ready for ``folium.raster_layers.ImageOverlay``."""

    png: bytes
    bounds_lonlat: BBox  # (west, south, east, north), the footprint in WGS84
    width: int
    height: int
    style: SurfaceStyle

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def bounds(self) -> list[list[float]]:
        """Leaflet bounds ``[[south, west], [north, east]]``."""
        return bounds_latlon(self.bounds_lonlat)


@dataclass(frozen=True)
class WarpIndex:
    """Where each pixel of a grid's Web Mercator image takes its value (:func:`warp_index`)."""

    cells: np.ndarray  # (height * width,) flat cell number of each pixel, 0 where outside the grid
    outside: np.ndarray  # flat numbers of the pixels that no cell covers (NaN in every image)
    width: int
    height: int
    bounds_lonlat: BBox  # (west, south, east, north) of the image, Mercator-clipped

    def take(self, values: np.ndarray) -> np.ndarray:
        """``values`` (on the grid) as the image: float32 ``(height, width)``, NaN outside."""
        out = np.asarray(values).ravel()[self.cells].astype(np.float32, copy=False)
        out[self.outside] = np.nan
        return out.reshape(self.height, self.width)


_INT32_CELLS = np.iinfo(np.int32).max
"""Grids up to this many cells number them in int32: 4 bytes a cell like the float32 surfaces,
so GDAL splits the warp into the same chunks as a surface's and picks the same cells."""

WARP_INDEXES_KEPT = 8
"""How many indexes :func:`warp_index` keeps (an index of 4 million pixels is 32 MB)."""

_LOCK = threading.Lock()  # one warp per grid, even when two threads ask for it at once
WARP_INDEXES: OrderedDict[tuple[Any, ...], WarpIndex] = OrderedDict()


def warp_index(grid: Grid, max_pixels: int = DEFAULT_MAX_PIXELS) -> WarpIndex:
    """The pixel-to-cell index of ``grid``'s image (at most ``max_pixels``), computed once
    per grid (transform, CRS, shape) and ``max_pixels``; the last :data:`WARP_INDEXES_KEPT` are kept."""
    key = (tuple(grid.transform), grid.crs.to_wkt(), grid.width, grid.height, int(max_pixels))
    with _LOCK:
        if key not in WARP_INDEXES:
            WARP_INDEXES[key] = build_warp_index(grid, int(max_pixels))
            while len(WARP_INDEXES) > WARP_INDEXES_KEPT:
                WARP_INDEXES.popitem(last=False)
        WARP_INDEXES.move_to_end(key)
        return WARP_INDEXES[key]


def clear_warp_cache() -> None:
    """Forget the kept :func:`warp_index` results."""
    with _LOCK:
        WARP_INDEXES.clear()


def build_warp_index(grid: Grid, max_pixels: int) -> WarpIndex:
    """Warp the cell numbers as a surface is warped (nearest neighbour, nodata -1 or NaN):
    every pixel gets the number of the cell whose value it would get."""
    frame = _frame(grid, max_pixels)
    dtype, nodata = (np.int32, -1) if grid.size <= _INT32_CELLS else (np.float64, np.nan)
    dst = np.full((frame.height, frame.width), nodata, dtype=dtype)
    _warp_nearest(np.arange(grid.size, dtype=dtype).reshape(grid.shape), dst, grid, frame.transform, nodata)
    flat = dst.ravel()
    inside = flat >= 0  # False for NaN too
    cells = np.where(inside, flat, 0).astype(np.intp)
    outside = np.flatnonzero(~inside)
    cells.setflags(write=False)
    outside.setflags(write=False)
    return WarpIndex(cells, outside, frame.width, frame.height, frame.bounds_lonlat)


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    transform: Affine  # of the image, in Web Mercator
    bounds_lonlat: BBox


def _frame(grid: Grid, max_pixels: int) -> _Frame:
    """The Web Mercator image of ``grid``: its lon/lat footprint (clipped to Mercator's
    latitudes), one pixel per cell at the centre latitude, at most ``max_pixels``."""
    w, s, e, n = grid.bounds_lonlat()
    s, n = max(s, -MAX_MERCATOR_LAT), min(n, MAX_MERCATOR_LAT)
    merc = lonlat_to_mercator((w, s, e, n))
    # one pixel per cell at the centre latitude (Mercator stretches by 1/cos(lat))
    px = grid.resolution / math.cos(math.radians((s + n) / 2.0))
    width = max(1, round((merc.east - merc.west) / px))
    height = max(1, round((merc.north - merc.south) / px))
    if width * height > max_pixels:
        f = math.sqrt(max_pixels / (width * height))
        width, height = max(1, int(width * f)), max(1, int(height * f))
    transform = Affine((merc.east - merc.west) / width, 0.0, merc.west,
                       0.0, -(merc.north - merc.south) / height, merc.north)
    return _Frame(width, height, transform, BBox(w, s, e, n))


def _warp_nearest(src: np.ndarray, dst: np.ndarray, grid: Grid, dst_transform: Affine, nodata: float) -> None:
    """GDAL's nearest-neighbour warp of ``src`` (on ``grid``) into ``dst`` (Web Mercator), in place."""
    reproject(
        src,
        dst,
        src_transform=grid.transform,
        src_crs=RioCRS.from_wkt(grid.crs.to_wkt()),
        src_nodata=nodata,
        dst_transform=dst_transform,
        dst_crs=RioCRS.from_wkt(WEB_MERCATOR.to_wkt()),
        dst_nodata=nodata,
        resampling=Resampling.nearest,
    )


def _colorize_valued(image: np.ndarray, style: SurfaceStyle, alpha: int) -> np.ndarray:
    """:func:`geo.legend.colorize` of ``image``, called on its pixels with a value only: most
    of an image is outside the country (NaN), and colorize works pixel by pixel, so the rest
    take its colour of NaN (transparent)."""
    valued = ~np.isnan(image)
    out = np.empty(image.shape + (4,), dtype=np.uint8)
    out[...] = colorize(np.full(1, np.nan, dtype=np.float32), style, alpha=alpha)[0]
    out[valued] = colorize(image[valued], style, alpha=alpha)
    return out


def render_surface(
    values: np.ndarray,
    grid: Grid,
    style: SurfaceStyle,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    alpha: int = 200,
    optimize: bool = True,
) -> SurfaceImage:
    """Colour ``values`` (on ``grid``) as a Web Mercator PNG covering ``grid.bounds_lonlat()``
    (``optimize``: the smallest PNG, about twice the encoding time of zlib's default level).
    The pixels take their cells through :func:`warp_index`, computed once per grid."""
    if np.shape(values) != grid.shape:
        raise GridError(f"surface of shape {np.shape(values)} on a grid of shape {grid.shape}")
    index = warp_index(grid, max_pixels)
    rgba = _colorize_valued(index.take(values), style, alpha)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", **({"optimize": True} if optimize else {"compress_level": 6}))
    return SurfaceImage(buf.getvalue(), index.bounds_lonlat, index.width, index.height, style)


def surface_image(
    path: str | os.PathLike[str],
    style: SurfaceStyle | str | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    alpha: int = 200,
) -> SurfaceImage:
    """Read a surface COG and render it; ``style`` defaults to the one named like the file."""
    values, grid = read_surface(path)
    if style is None:
        style = style_for(os.path.basename(os.fspath(path)).removesuffix(".tif"))
    elif isinstance(style, str):
        style = style_for(style)
    return render_surface(values, grid, style, max_pixels=max_pixels, alpha=alpha)
