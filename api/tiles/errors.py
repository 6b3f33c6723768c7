"""Errors of the tile service, each also the built-in it behaves like, and the
HTTP status each one stands for (one table; the service's single handler maps them)."""

from __future__ import annotations

from geo.errors import VacuumError

__all__ = [
    "TileCoordinateError",
    "TileOutsideBoundsError",
    "UnknownSurfaceError",
    "SurfaceFileMissingError",
    "TILE_ERROR_STATUS",
]


class TileCoordinateError(VacuumError, ValueError):
    """z/x/y is not a WebMercatorQuad tile (z outside 0..24, x or y outside 0..2^z-1)."""


class TileOutsideBoundsError(VacuumError, LookupError):
    """The tile does not touch the surface's bounds."""


# The not-found errors list LookupError first so that a table walked along the MRO (the
# service's api.errors maps VacuumError to 422 and LookupError to 404) finds 404.


class UnknownSurfaceError(KeyError, VacuumError):
    """No legend (and so no tiles) for this surface name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SurfaceFileMissingError(LookupError, VacuumError):
    """The resolver named a stored product whose raster file is gone (deleted meanwhile)."""


TILE_ERROR_STATUS: dict[type[Exception], int] = {
    TileCoordinateError: 422,
    TileOutsideBoundsError: 404,
    UnknownSurfaceError: 404,
    SurfaceFileMissingError: 404,
}
"""HTTP status of each tile error, for the service's one exception-to-status table."""
