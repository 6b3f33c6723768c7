"""One error tree for the engine. Each class is also the built-in it behaves like,
so callers that catch ``ValueError`` keep working. Messages name the bad value and
the fix."""

from __future__ import annotations

__all__ = [
    "VacuumError",
    "LayerError",
    "MissingColumnError",
    "DateParseError",
    "CoordinateError",
    "MissingCRSError",
    "CRSMismatchError",
    "InvalidGeometryError",
    "EmptyLayerError",
    "UnsupportedFormatError",
    "ConfigError",
    "GridError",
    "UnknownIdError",
]


class VacuumError(Exception):
    """Base of every error the engine raises on purpose."""


class LayerError(VacuumError, ValueError):
    """A layer file cannot be used as given."""


class MissingColumnError(LayerError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DateParseError(LayerError):
    pass


class CoordinateError(LayerError):
    pass


class CRSMismatchError(VacuumError, ValueError):
    """A layer is not in the CRS it must be in."""


class MissingCRSError(LayerError, CRSMismatchError):
    """A layer or raster declares no CRS: the one class for that, wherever it is found."""


class InvalidGeometryError(LayerError):
    pass


class EmptyLayerError(LayerError):
    pass


class UnsupportedFormatError(LayerError):
    pass


class ConfigError(VacuumError, ValueError):
    pass


class GridError(VacuumError, ValueError):
    pass


class UnknownIdError(VacuumError, KeyError):
    """An id or name the engine does not know (a base in a model, a surface's style); the
    message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
