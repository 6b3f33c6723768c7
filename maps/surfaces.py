"""Put a surface on a map: an embedded image overlay (standalone) or a tile layer (served)."""

from __future__ import annotations

import os

import folium
from folium.raster_layers import ImageOverlay

from geo.legend import style_for

from .overlay import DEFAULT_MAX_PIXELS, SurfaceImage, surface_image
from .tiles import TileJSONBounds, TileSource, tile_layer

__all__ = ["add_surface", "SURFACE_PANE", "SURFACE_OPACITY"]

SURFACE_PANE = "vacuumSurface"
SURFACE_OPACITY = 1.0
"""Layer opacity on top of the alpha that geo.legend.colorize gives (the tiles' own), so the map shows the tile colours."""


def add_surface(
    m: folium.Map,
    surface: str,
    *,
    name: str,
    path: str | os.PathLike[str] | None = None,
    tiles: TileSource | None = None,
    show: bool = True,
    opacity: float = SURFACE_OPACITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    parent: folium.map.Layer | None = None,
    bounds_lonlat: list[float] | None = None,
) -> folium.map.Layer:
    """Add ``surface`` (a name in :data:`geo.legend.STYLES`) to ``parent`` (default ``m``).

    With ``tiles`` it is an XYZ layer from the service; otherwise ``path`` (a COG) is
    rendered to a Web Mercator PNG embedded as a data URL, so the page needs no server.
    """
    style = style_for(surface)
    target = parent if parent is not None else m
    if tiles is not None:
        from .coords import bounds_latlon

        layer = tile_layer(tiles, surface, name=name, pane=SURFACE_PANE, opacity=opacity, show=show,
                           bounds_latlon=[list(c) for c in bounds_latlon(bounds_lonlat)] if bounds_lonlat else None)
        layer.add_to(target)
        tj = tiles.tilejson_for(surface)
        if tj:
            TileJSONBounds(layer, tj).add_to(m)
        return layer
    if path is None:
        raise ValueError(f"surface {surface!r}: give the COG path (standalone) or a TileSource (served)")
    img: SurfaceImage = surface_image(path, style, max_pixels=max_pixels)
    overlay = ImageOverlay(
        image=img.data_url,
        bounds=img.bounds,
        name=name,
        opacity=opacity,
        interactive=False,
        cross_origin=False,
        pixelated=True,
        pane=SURFACE_PANE,
        show=show,
        overlay=True,
        control=parent is None,
    )
    overlay.add_to(target)
    return overlay
