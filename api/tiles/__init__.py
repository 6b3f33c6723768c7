"""XYZ PNG tiles (WebMercatorQuad), TileJSON and legends of stored surface COGs.

    renderer = TileRenderer()
    png, etag = renderer.render(cog_path, "gap", z, x, y)
    app.include_router(tiles_router(resolve, renderer=renderer, dependencies=[...]))

The pixels are ``geo.tiles``' (the one renderer, shared with ``vacuum pyramid``).
Modules: ``render`` (TileRenderer: cache, ETags, pyramids), ``router`` (FastAPI
routes), ``cache`` (tile LRU), ``errors`` (HTTP statuses).
"""

from .errors import (
    TILE_ERROR_STATUS,
    SurfaceFileMissingError,
    TileCoordinateError,
    TileOutsideBoundsError,
    UnknownSurfaceError,
)
from .render import MAX_ZOOM, TileKey, TileRenderer
from .router import CACHE_CONTROL, add_tile_error_handlers, tiles_router

__all__ = [
    "TileRenderer",
    "TileKey",
    "tiles_router",
    "add_tile_error_handlers",
    "TileCoordinateError",
    "TileOutsideBoundsError",
    "UnknownSurfaceError",
    "SurfaceFileMissingError",
    "TILE_ERROR_STATUS",
    "CACHE_CONTROL",
    "MAX_ZOOM",
]
