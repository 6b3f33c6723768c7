"""A surface COG as one PNG in Web Mercator, for an image overlay embedded in the page.

Leaflet stretches an image overlay linearly between the Web Mercator positions of its
corners, so the surface is reprojected to EPSG:3857 over exactly the grid's lon/lat
footprint (nearest neighbour: every pixel keeps the class of one cell, as the tiles
do) and coloured with :func:`geo.legend.colorize`, the function the tile server uses.
"""

from __future__ import annotations

import base64
import io
import math
import os
from dataclasses import dataclass

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.crs import CRS as RioCRS
from rasterio.warp import Resampling, reproject

from geo.grid import Grid
from geo.legend import SurfaceStyle, colorize, style_for
from geo.rasters import read_surface
from geo.types import BBox

from .coords import MAX_MERCATOR_LAT, WEB_MERCATOR, bounds_latlon, lonlat_to_mercator

__all__ = ["SurfaceImage", "surface_image", "render_surface", "DEFAULT_MAX_PIXELS"]

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
    (``optimize``: the smallest PNG, about twice the encoding time of zlib's default level)."""
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
    dst_transform = Affine((merc.east - merc.west) / width, 0.0, merc.west,
                           0.0, -(merc.north - merc.south) / height, merc.north)
    dst = np.full((height, width), np.nan, dtype=np.float32)
    reproject(
        np.asarray(values, dtype=np.float32),
        dst,
        src_transform=grid.transform,
        src_crs=RioCRS.from_wkt(grid.crs.to_wkt()),
        src_nodata=np.nan,
        dst_transform=dst_transform,
        dst_crs=RioCRS.from_wkt(WEB_MERCATOR.to_wkt()),
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
    )
    rgba = colorize(dst, style, alpha=alpha)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", **({"optimize": True} if optimize else {"compress_level": 6}))
    return SurfaceImage(buf.getvalue(), BBox(w, s, e, n), width, height, style)


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
