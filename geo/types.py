"""Small shared types."""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["BBox", "LayerKind", "GapClass", "ProgressFn"]


class BBox(NamedTuple):
    """(west, south, east, north) in the units of a stated CRS."""

    west: float
    south: float
    east: float
    north: float


LayerKind = Literal["bases", "events", "roads", "sites", "admin", "national"]
GapClass = Literal["low", "moderate", "elevated", "high", "critical"]

from collections.abc import Callable  # noqa: E402

ProgressFn = Callable[[str, float], None]
"""Called as ``progress(stage_name, fraction_done)``."""
