"""Errors of the tile service and the HTTP status each one stands for (one table; the
service's single handler maps them). The renderer's own errors (bad coordinates, a
tile outside the surface, an unknown surface) are ``geo.tiles``'; a stored product
whose file is gone is the service's."""

from __future__ import annotations

from geo.errors import VacuumError
from geo.tiles import TileCoordinateError, TileOutsideBoundsError, UnknownSurfaceError

__all__ = [
    "TileCoordinateError",
    "TileOutsideBoundsError",
    "UnknownSurfaceError",
    "SurfaceFileMissingError",
    "TILE_ERROR_STATUS",
]


# listed by name in TILE_ERROR_STATUS (404); the service's table maps no built-in class.
class SurfaceFileMissingError(LookupError, VacuumError):
    """The resolver named a stored product whose raster file is gone (deleted meanwhile)."""


TILE_ERROR_STATUS: dict[type[Exception], int] = {
    TileCoordinateError: 422,
    TileOutsideBoundsError: 404,
    UnknownSurfaceError: 404,
    SurfaceFileMissingError: 404,
}
"""HTTP status of each tile error, for the service's one exception-to-status table."""
