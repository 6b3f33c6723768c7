"""XYZ PNG tiles (WebMercatorQuad), TileJSON and legends of stored surface COGs.

    renderer = TileRenderer()
    png, etag = renderer.render(cog_path, "gap", z, x, y)
    app.include_router(tiles_router(resolve, renderer=renderer, dependencies=[...]))

Modules: ``render`` (TileRenderer), ``router`` (FastAPI routes), ``cache`` (tile LRU,
handle pool), ``png`` (paletted PNG encoder), ``errors``.
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
