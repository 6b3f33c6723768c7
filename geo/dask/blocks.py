"""Block geometry of a grid: chunks, windows with halos, sub-grids. Pure; no Dask.

A grid of ``height x width`` cells is cut into square blocks of ``size`` cells (the
last row and column of blocks are smaller). A block's *window* is the block grown by
a halo of ``h`` cells on every side, clipped to the grid: outside the grid there is
nothing (no cell, no event, no base), which is what the single-machine functions see
at the grid's edge too.

:func:`halo_cells` is the exactness rule for travel times: every step of a path
between neighbouring cells costs at least the cheapest cell's crossing time, so a
path of ``t`` hours moves at most ``t / min_cost`` cells (Chebyshev distance) from
either end.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from affine import Affine

from ..errors import ConfigError, GridError
from ..grid import Grid
from ..threat import gaussian_radius

__all__ = ["Block", "Blocks", "halo_cells", "sub_grid", "gaussian_radius"]


@dataclass(frozen=True)
class Block:
    """Rows ``r0:r1`` and columns ``c0:c1`` of the grid; ``(i, j)`` its position in the block grid."""

    i: int
    j: int
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.r1 - self.r0, self.c1 - self.c0)

    def slices(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r1), slice(self.c0, self.c1)


@dataclass(frozen=True)
class Blocks:
    """Square blocks of ``size`` cells over a grid of ``shape`` (rows, cols)."""

    shape: tuple[int, int]
    size: int

    def __post_init__(self) -> None:
        if int(self.size) < 1:
            raise ConfigError(f"block size must be >= 1 cell, got {self.size}")
        if self.shape[0] < 1 or self.shape[1] < 1:
            raise GridError(f"grid shape must be positive, got {self.shape}")

    @property
    def chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Chunk sizes per axis, as ``dask.array`` takes them."""
        return tuple(_edges_to_sizes(self.edges(ax)) for ax in (0, 1))  # type: ignore[return-value]

    def edges(self, axis: int) -> np.ndarray:
        n = self.shape[axis]
        return np.append(np.arange(0, n, self.size), n)

    @property
    def nblocks(self) -> tuple[int, int]:
        return (len(self.edges(0)) - 1, len(self.edges(1)) - 1)

    def __iter__(self) -> Iterator[Block]:
        re, ce = self.edges(0), self.edges(1)
        for i in range(len(re) - 1):
            for j in range(len(ce) - 1):
                yield Block(i, j, int(re[i]), int(re[i + 1]), int(ce[j]), int(ce[j + 1]))

    def block(self, i: int, j: int) -> Block:
        re, ce = self.edges(0), self.edges(1)
        return Block(i, j, int(re[i]), int(re[i + 1]), int(ce[j]), int(ce[j + 1]))

    def window(self, b: Block, halo: int) -> Block:
        """``b`` grown by ``halo`` cells on every side, clipped to the grid."""
        h = int(halo)
        if h < 0:
            raise ConfigError(f"halo must be >= 0 cells, got {halo}")
        return Block(b.i, b.j, max(b.r0 - h, 0), min(b.r1 + h, self.shape[0]),
                     max(b.c0 - h, 0), min(b.c1 + h, self.shape[1]))

    def block_of(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block position (i, j) of each cell."""
        return np.asarray(rows) // self.size, np.asarray(cols) // self.size

    def near(self, b: Block, halo: int) -> list[Block]:
        """Blocks that intersect ``b`` grown by ``halo`` cells."""
        w = self.window(b, halo)
        i0, i1 = w.r0 // self.size, (w.r1 - 1) // self.size
        j0, j1 = w.c0 // self.size, (w.c1 - 1) // self.size
        return [self.block(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]


def _edges_to_sizes(edges: np.ndarray) -> tuple[int, ...]:
    return tuple(int(x) for x in np.diff(edges))


def halo_cells(hours: float, min_cost_h: float) -> int:
    """Cells a force can move in ``hours`` when the cheapest cell takes ``min_cost_h`` to cross.

    A step between neighbours costs the mean of the two cells' crossing times times
    the step length (1 or sqrt 2), so at least ``min_cost_h``; a path of ``hours``
    has at most ``hours / min_cost_h`` steps and ends at most that many cells away
    (Chebyshev distance). One cell is added against rounding.
    """
    if not (min_cost_h > 0 and math.isfinite(min_cost_h)):
        raise ConfigError(f"the cheapest cell crossing time must be a positive number of hours, got {min_cost_h}")
    if hours < 0 or not math.isfinite(hours):
        raise ConfigError(f"hours must be a finite number >= 0, got {hours}")
    return int(math.floor(hours / min_cost_h)) + 1


def sub_grid(grid: Grid, b: Block) -> Grid:
    """The part of ``grid`` covered by ``b``, as a grid of its own (same CRS and cell size)."""
    t = grid.transform
    return Grid(grid.crs, Affine(t.a, 0.0, t.c + b.c0 * t.a, 0.0, t.e, t.f + b.r0 * t.e),
                b.c1 - b.c0, b.r1 - b.r0)
