"""Forecast units: square blocks of ``block_km`` on an analysis :class:`~geo.grid.Grid`.

Units are anchored at the grid's north-west corner, so with ``block_km`` a whole multiple
of the grid resolution a unit is exactly a ``factor x factor`` block of analysis cells
(the blocks of :func:`geo.backtest.block_aggregate`). Units are numbered row-major:
``index = row * n_cols + col``. Edge units may reach past the grid's east/south edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..grid import Grid, cell_index
from .errors import ForecastError

__all__ = [
    "UnitGrid",
    "unit_grid",
    "point_units",
    "ring_kernel",
    "ring_sum",
    "unit_mask",
    "distance_to_nearest",
    "smooth",
]


@dataclass(frozen=True)
class UnitGrid:
    """The unit lattice: north-west corner (CRS units), unit edge (CRS units), shape."""

    west: float
    north: float
    size: float
    n_rows: int
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_cols)

    @property
    def n_units(self) -> int:
        return self.n_rows * self.n_cols

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x (n_cols,) and y (n_rows,) of unit centres."""
        x = self.west + (np.arange(self.n_cols) + 0.5) * self.size
        y = self.north - (np.arange(self.n_rows) + 0.5) * self.size
        return x, y


def unit_grid(grid: Grid, block_km: float = 10.0) -> UnitGrid:
    """Units of ``block_km`` over ``grid`` (a projected grid in metres).

    ``block_km * 1000`` must be a whole multiple of the grid resolution, so that a unit
    is a block of whole analysis cells.
    """
    if not (block_km > 0 and math.isfinite(block_km)):
        raise ForecastError(f"block_km must be a positive number, got {block_km!r}")
    factor = block_km * 1000.0 / grid.resolution
    if abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
        raise ForecastError(
            f"block_km={block_km:g} is not a whole multiple of the grid resolution "
            f"({grid.resolution:g} m); use e.g. block_km={max(1, round(factor)) * grid.resolution / 1000:g}"
        )
    f = int(round(factor))
    return UnitGrid(
        west=float(grid.transform.c), north=float(grid.transform.f), size=f * grid.resolution,
        n_rows=-(-grid.height // f), n_cols=-(-grid.width // f),
    )


def point_units(ug: UnitGrid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Flat unit index of each point (grid CRS), ``-1`` for points outside the units.

    A point on a unit's west or north edge belongs to that unit.
    """
    r, c, inside = cell_index(
        np.asarray(x, float), np.asarray(y, float), ug.west, ug.north, ug.size, ug.n_rows, ug.n_cols
    )
    return np.where(inside, r * ug.n_cols + c, -1).astype(np.int64)


def ring_kernel(k_min: int, k_max: int) -> np.ndarray:
    """Square kernel of side ``2 k_max + 1``: 1 where the Chebyshev distance from the
    centre is in ``[k_min, k_max]`` (ring 1 = the 8 neighbours; rings 2-3 = 40 units)."""
    if not (0 <= k_min <= k_max) or int(k_min) != k_min or int(k_max) != k_max:
        raise ForecastError(f"ring needs whole numbers 0 <= k_min <= k_max, got {k_min!r}, {k_max!r}")
    i = np.arange(-k_max, k_max + 1)
    d = np.maximum(np.abs(i)[:, None], np.abs(i)[None, :])
    return ((d >= k_min) & (d <= k_max)).astype(np.float64)


def ring_sum(values: np.ndarray, k_min: int, k_max: int) -> np.ndarray:
    """Sum of a 2-D unit array over the units at Chebyshev distance ``k_min..k_max``
    (``k_min = 0`` includes the unit itself); units beyond the lattice count 0."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ForecastError(f"ring_sum needs a 2-D unit array, got shape {v.shape}")
    return ndimage.convolve(v, ring_kernel(k_min, k_max), mode="constant", cval=0.0)


def unit_mask(inside: np.ndarray, grid: Grid, ug: UnitGrid) -> np.ndarray:
    """2-D bool mask of units holding at least one analysis cell where ``inside`` is True."""
    m = np.asarray(inside, dtype=bool)
    if m.shape != grid.shape:
        raise ForecastError(f"inside mask shape {m.shape} differs from the grid shape {grid.shape}")
    f = int(round(ug.size / grid.resolution))
    pad = ((0, ug.n_rows * f - m.shape[0]), (0, ug.n_cols * f - m.shape[1]))
    blocks = np.pad(m, pad, constant_values=False).reshape(ug.n_rows, f, ug.n_cols, f)
    return np.asarray(blocks.any(axis=(1, 3)), dtype=bool)


def distance_to_nearest(present: np.ndarray, cap: float) -> np.ndarray:
    """Euclidean distance in unit steps from each unit to the nearest unit where
    ``present`` is True (0 there), capped at ``cap``; ``cap`` everywhere when none is."""
    m = np.asarray(present, dtype=bool)
    if m.ndim != 2:
        raise ForecastError(f"distance_to_nearest needs a 2-D unit array, got shape {m.shape}")
    if not m.any():
        return np.full(m.shape, float(cap))
    return np.minimum(ndimage.distance_transform_edt(~m), float(cap))


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted sum of a 2-D unit array (``sigma`` in unit steps, kernel cut at
    4 sigma, weights summing to 1; units beyond the lattice count 0): a kernel density."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ForecastError(f"smooth needs a 2-D unit array, got shape {v.shape}")
    if not sigma > 0:
        raise ForecastError(f"sigma must be > 0 unit steps, got {sigma!r}")
    return ndimage.gaussian_filter(v, float(sigma), mode="constant", cval=0.0, truncate=4.0)
