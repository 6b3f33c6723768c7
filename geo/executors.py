"""Where the stages of :func:`geo.pipeline.analyze` run: one process, or blocks on Dask.

An executor knows how to run a stage's kernel over the grid, not what the kernel
computes. :class:`LocalExecutor` calls each kernel once on whole numpy arrays;
:class:`geo.dask.DaskExecutor` calls the same kernels block by block, with the halo
each stage names (``depth``), and gathers the surfaces at the end. The stages
themselves are written once, in :mod:`geo.pipeline`.

Arrays an executor returns are its own kind (numpy here, dask arrays there); only
:meth:`Executor.gather` turns them into numpy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .friction import friction
from .grid import Grid
from .params import Params
from .records import ExecutorInfo, Force
from .summaries import admin_summary
from .traveltime import Reach, graph_of, nearest_source, reach_many
from .zones import vacuum_zones

__all__ = ["Executor", "LocalExecutor", "Travel", "ZoneInputs", "points_on_grid"]

Array = Any  # numpy.ndarray for LocalExecutor, dask.array.Array for DaskExecutor


@dataclass
class Travel:
    """What the travel-time stage returns: each force's reach (in force order), and per
    cell the hours to the nearest base and that base's position among the bases."""

    reaches: list[Reach]
    nearest_hours: Array
    nearest_which: Array


@dataclass
class ZoneInputs:
    """The surfaces vacuum zones are drawn from, as executor arrays."""

    gap: Array
    population: Array
    nearest_base: Array
    nearest_hours: Array


def points_on_grid(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of ``weights`` per cell (rows, cols inside ``shape``), added in the given order."""
    h, w = shape
    flat = np.asarray(rows, dtype=np.int64) * w + np.asarray(cols, dtype=np.int64)
    return np.bincount(flat, weights=np.asarray(weights, dtype=np.float64), minlength=h * w).reshape(shape)


class Executor(ABC):
    """The operations the pipeline's stages are written in."""

    name: str

    @abstractmethod
    def friction(self, grid: Grid, params: Params, top: gpd.GeoDataFrame | None, roads: gpd.GeoDataFrame | None,
                 impassable: gpd.GeoDataFrame | None, water: gpd.GeoDataFrame | None = None) -> tuple[Array, Array]:
        """(inside the area, hours to cross each cell) by :func:`geo.friction.friction`
        (``water``: rivers and lakes, which roads cross)."""

    @abstractmethod
    def travel(self, grid: Grid, cost: Array, forces: Sequence[Force], base_cells: np.ndarray, cap_h: float,
               progress: Callable[[int, int], None] | None = None) -> Travel:
        """Each force's reach within its ``t_max``, and the nearest base of every cell."""

    @abstractmethod
    def points(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> Array:
        """:func:`points_on_grid` as an executor array."""

    @abstractmethod
    def map_overlap(self, fn: Callable[..., np.ndarray], array: Array, *, depth: int, name: str, dtype: Any,
                    **kwargs: Any) -> Array:
        """``fn(window, **kwargs)`` on windows with a halo of ``depth`` cells (zeros beyond the grid)."""

    @abstractmethod
    def map_blocks(self, fn: Callable[..., np.ndarray], *arrays: Array, dtype: Any, **kwargs: Any) -> Array:
        """``fn(*blocks, **kwargs)`` cell by cell (no halo)."""

    @abstractmethod
    def whole(self, fn: Callable[..., np.ndarray], shape: tuple[int, int], dtype: Any, *args: Any) -> Array:
        """``fn(*args)`` as one task that returns a whole-grid array."""

    @abstractmethod
    def asarray(self, array: np.ndarray) -> Array:
        """A numpy array held by the client as an executor array."""

    @abstractmethod
    def gather(self, arrays: Mapping[str, Array]) -> dict[str, np.ndarray]:
        """The arrays as numpy, on the client."""

    @abstractmethod
    def zones(self, grid: Grid, params: Params, surfaces: ZoneInputs, events: gpd.GeoDataFrame,
              bases: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """:func:`geo.zones.vacuum_zones` over the whole grid."""

    @abstractmethod
    def admin_summary(self, grid: Grid, params: Params, admin: gpd.GeoDataFrame, gap: Array,
                      population: Array) -> pd.DataFrame:
        """:func:`geo.summaries.admin_summary` over every admin unit."""

    def begin(self, grid: Grid) -> None:
        """Called once with the analysis grid, before the first stage (the local executor
        needs nothing from it)."""
        return None

    def persist(self, *arrays: Array) -> tuple[Array, ...]:
        """Compute now and keep (so a stage's time is its own); the local arrays already are."""
        return arrays

    def info(self) -> ExecutorInfo | None:
        """How the grid was cut, for ``summary.json`` (None: not cut)."""
        return None


class LocalExecutor(Executor):
    """Every kernel once, on whole arrays, in this process (travel times on ``n_jobs``
    forked workers that share the graph)."""

    name = "local"

    def __init__(self, n_jobs: int | None = None):
        self.n_jobs = n_jobs

    def friction(self, grid, params, top, roads, impassable, water=None):
        return friction(grid, params, top, roads, impassable, water)

    def travel(self, grid, cost, forces, base_cells, cap_h, progress=None):
        graph = graph_of(cost)
        reaches = reach_many(graph, [f.cell for f in forces], [f.t_max for f in forces], n_jobs=self.n_jobs,
                             progress=progress)
        hours, which = nearest_source(graph, [int(c) for c in base_cells], cap_h)
        return Travel(reaches, hours, which)

    def points(self, shape, rows, cols, weights):
        return points_on_grid(shape, rows, cols, weights)

    def map_overlap(self, fn, array, *, depth, name, dtype, **kwargs):
        return np.asarray(fn(array, **kwargs), dtype=dtype)

    def map_blocks(self, fn, *arrays, dtype, **kwargs):
        return np.asarray(fn(*arrays, **kwargs), dtype=dtype)

    def whole(self, fn, shape, dtype, *args):
        return np.asarray(fn(*args), dtype=dtype)

    def asarray(self, array):
        return array

    def gather(self, arrays):
        return {k: np.asarray(v) for k, v in arrays.items()}

    def zones(self, grid, params, surfaces, events, bases):
        return vacuum_zones(surfaces.gap, grid, threshold=params.zone_threshold,
                            min_area_km2=params.zone_min_area_km2, population=surfaces.population, events=events,
                            bases=bases, nearest_base=surfaces.nearest_base, nearest_time=surfaces.nearest_hours,
                            breaks=params.class_breaks)

    def admin_summary(self, grid, params, admin, gap, population):
        return admin_summary(admin, grid, gap, population, breaks=params.class_breaks)
