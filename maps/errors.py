"""Errors of the map builders: part of the engine's one error tree (:mod:`geo.errors`).

The CLI prints any :class:`~geo.errors.VacuumError` as one line and exits with status 2.
"""

from __future__ import annotations

from geo.errors import VacuumError

__all__ = ["MapError", "MissingProductError", "MapAssetError"]


class MapError(VacuumError, ValueError):
    """A map cannot be built from what it was given."""


class MissingProductError(VacuumError, FileNotFoundError):
    """An analysis or scenario folder lacks a product the map needs."""

    def __str__(self) -> str:  # OSError would prefix an errno
        return str(self.args[0]) if self.args else ""


class MapAssetError(MapError):
    """A map needs a JavaScript/CSS resource that has no vendored local copy."""
