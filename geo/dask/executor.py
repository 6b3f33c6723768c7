"""The pipeline's stages on a Dask cluster, block by block, with the engine's own kernels.

:class:`DaskExecutor` is the executor of :func:`geo.pipeline.analyze` for grids beyond
one machine; the result equals the local executor's (tested on cases with events,
bases and admin units off the grid and across blocks). What runs where:

====================  =====================================================  ==========
operation             how                                                    where
====================  =====================================================  ==========
friction              ``geo.friction.friction`` per block (layers clipped     workers
                      to the block and one cell)
travel                per block of forces: ``build_graph`` on the block and  workers
                      a halo of ``halo_cells(t_max, cheapest cell)``,
                      ``reach_from``; the reaches are gathered (the coverage
                      model holds them); nearest base: ``nearest_source`` on
                      windows with a halo of ``halo_cells(travel_time_cap_h)``
points, map_overlap   per-block sums of point weights; ``map_overlap`` with  workers
                      the depth the stage names (zeros beyond the grid)
map_blocks, whole     ``dask.array.map_blocks``; one task for a whole grid   workers
zones                 ``label_zones`` per block, labels joined across block  workers +
                      edges (client), ``vacuum_zones`` per zone on its box   client
admin_summary         ``admin_summary`` per spatially compact partition of   workers
                      admin units, on the window that holds them
====================  =====================================================  ==========
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ConfigError, GridError
from ..executors import Executor, Travel, ZoneInputs, points_on_grid
from ..friction import friction
from ..grid import Grid
from ..params import Params
from ..records import ExecutorInfo
from ..traveltime import Reach
from ..zones import vacuum_zones
from . import tasks
from .blocks import Block, Blocks, halo_cells, sub_grid
from .labels import contacts, merge_labels

__all__ = ["DaskOptions", "DaskExecutor"]


@dataclass(frozen=True)
class DaskOptions:
    """How the grid is cut. The results do not depend on these, only time and memory do.

    ``block_size``: cells per block edge (a block of 2048 x 2048 float64 is 32 MB). The
    forces of a block are searched on the block grown by their halo, so the graph work
    is about ``(1 + 2 halo / block_size)**2`` times the grid's: larger blocks do less
    work, but in fewer tasks (see docs/scaling.md).
    ``max_window_cells``: largest window (block + halo) for the nearest-base search;
    a grid at most this size is searched as one task, a larger one in tiles.
    ``admin_partitions``: partitions of the admin units (default: 2 per worker).
    """

    block_size: int = 2048
    max_window_cells: int = 40_000_000
    admin_partitions: int | None = None

    def __post_init__(self) -> None:
        if int(self.block_size) < 16:
            raise ConfigError(f"block_size must be at least 16 cells, got {self.block_size}")
        if int(self.max_window_cells) < 1:
            raise ConfigError(f"max_window_cells must be >= 1, got {self.max_window_cells}")


class DaskExecutor(Executor):
    """Runs the stages on the cluster of ``client`` (a ``distributed.Client``).

    Layers stay GeoDataFrames on the client; the population raster is opened by a
    worker, so it must be readable there (a shared filesystem, or a GDAL path such as
    ``/vsis3/...``).
    """

    name = "dask"

    def __init__(self, client, options: DaskOptions | None = None):
        self.client = client
        self.options = options or DaskOptions()
        self.halos: dict[str, int] = {}
        self.min_cost = math.inf
        self._blocks: Blocks | None = None

    @property
    def blocks(self) -> Blocks:
        if self._blocks is None:
            raise GridError("the Dask executor has no grid yet: friction() is its first stage")
        return self._blocks

    def begin(self, grid: Grid) -> None:
        if grid.size >= 2**31:
            raise GridError(f"grid of {grid.size} cells is too large for 32-bit cell indices")
        self._blocks = Blocks(grid.shape, self.options.block_size)
        self.halos = {}

    def friction(self, grid, params, top, roads, impassable, water=None):
        blocks = self.blocks
        parts = {}
        for b in blocks:
            g = sub_grid(grid, b)
            parts[b] = dask.delayed(friction, nout=2, pure=True)(
                g, params, _clip(top, g), _clip(roads, g), _clip(impassable, g), _clip(water, g))
        inside = _assemble(blocks, {b: p[0] for b, p in parts.items()}, bool)
        cost = _assemble(blocks, {b: p[1] for b, p in parts.items()}, np.float64)
        inside, cost = self.persist(inside, cost)
        finite = da.where(da.isfinite(cost), cost, np.inf)
        self.min_cost = float(self.client.compute(finite.min()).result())
        return inside, cost

    def _halo(self, hours: float) -> int:  # no passable cell at all: every force holds its own cell
        return halo_cells(hours, self.min_cost) if math.isfinite(self.min_cost) else 0

    def travel(self, grid, cost, forces, base_cells, cap_h, progress=None):
        reaches = self._reaches(grid, cost, forces)
        blocks = self.blocks
        if len(base_cells):
            h = self._halo(cap_h)
            self.halos["travel_time"] = h
            tb = _nearest_tiling(grid.shape, blocks.size, h, self.options.max_window_cells)
            t_parts, w_parts = {}, {}
            for b in tb:
                w = tb.window(b, h)
                t_parts[b], w_parts[b] = dask.delayed(tasks.nearest_tile, nout=2, pure=True)(
                    cost[w.slices()], w, b, grid.width, base_cells, cap_h)
            hours = _assemble(tb, t_parts, np.float32).rechunk(blocks.chunks)
            which = _assemble(tb, w_parts, np.int32).rechunk(blocks.chunks)
        else:
            hours = da.full(grid.shape, np.inf, dtype=np.float32, chunks=blocks.chunks)
            which = da.full(grid.shape, -1, dtype=np.int32, chunks=blocks.chunks)
        hours, which = self.persist(hours, which)
        return Travel(reaches, hours, which)

    def _reaches(self, grid: Grid, cost, forces) -> list[Reach]:
        """Each force's reach, searched on its block grown by the halo of its ``t_max``."""
        if not forces:
            return []
        blocks = self.blocks
        cells = np.array([f.cell for f in forces], dtype=np.int64)
        bi, bj = blocks.block_of(*np.divmod(cells, grid.width))
        jobs, halos = [], []
        for key in sorted(set(zip(bi.tolist(), bj.tolist(), strict=True))):
            sel = np.flatnonzero((bi == key[0]) & (bj == key[1]))
            h = max(self._halo(forces[k].t_max) for k in sel)
            w = blocks.window(blocks.block(*key), h)
            halos.append(h)
            jobs.append(dask.delayed(tasks.reach_tile, pure=True)(
                cost[w.slices()], w, grid.width, np.column_stack([sel, cells[sel]]),
                np.array([forces[k].t_max for k in sel])))
        self.halos["reach_max"] = max(halos)
        got = self.client.compute(jobs, sync=True)
        by_pos: dict[int, Reach] = {pos: r for res in got for pos, r in res}
        return [by_pos[k] for k in range(len(forces))]

    def points(self, shape, rows, cols, weights):
        return _points(self.blocks, rows, cols, weights)

    def map_overlap(self, fn, array, *, depth, name, dtype, **kwargs):
        self.halos[name] = int(depth)
        return array.map_overlap(fn, depth=depth, boundary=0.0, trim=True, dtype=dtype,
                                 **kwargs).rechunk(self.blocks.chunks)

    def map_blocks(self, fn, *arrays, dtype, **kwargs):
        return da.map_blocks(fn, *arrays, dtype=dtype, **kwargs)

    def whole(self, fn, shape, dtype, *args):
        return da.from_delayed(dask.delayed(fn, pure=True)(*args), shape, dtype=dtype).rechunk(self.blocks.chunks)

    def asarray(self, array):
        """The blocks of a client-side array scattered to the workers (not embedded in the graph)."""
        blocks = list(self.blocks)
        futures = self.client.scatter([np.ascontiguousarray(array[b.slices()]) for b in blocks])
        return _assemble(self.blocks, {b: dask.delayed(f) for b, f in zip(blocks, futures, strict=True)},
                         array.dtype)

    def persist(self, *arrays):
        from distributed import wait

        got = self.client.persist(list(arrays))
        wait(got)
        return tuple(got)

    def gather(self, arrays):
        keys = list(arrays)
        futures = self.client.compute([arrays[k] for k in keys])
        return {k: np.asarray(f.result()) for k, f in zip(keys, futures, strict=True)}

    def zones(self, grid, params, surfaces, events, bases):
        return _zones(self.client, grid, self.blocks, params, surfaces, events, bases)

    def admin_summary(self, grid, params, admin, gap, population):
        n = self.options.admin_partitions or 2 * self.workers
        return _admin(self.client, grid, admin, gap, population, params, n)

    @property
    def workers(self) -> int:
        return max(len(self.client.scheduler_info().get("workers", {})), 1)

    def info(self) -> ExecutorInfo:
        b = self.blocks
        return {"workers": self.workers, "block_size": b.size, "blocks": list(b.nblocks),
                "halo_cells": dict(self.halos),
                "cheapest_cell_h": self.min_cost if math.isfinite(self.min_cost) else None}


# --- helpers ----------------------------------------------------------------------

def _assemble(blocks: Blocks, parts: dict, dtype, fill=None) -> da.Array:
    """A dask array from one delayed numpy array per block (``None``: ``fill``)."""
    ni, nj = blocks.nblocks
    rows = []
    for i in range(ni):
        row = []
        for j in range(nj):
            b = blocks.block(i, j)
            p = parts.get(b)
            if p is None:
                row.append(da.full(b.shape, fill, dtype=dtype, chunks=b.shape))
            else:
                row.append(da.from_delayed(p, b.shape, dtype=dtype))
        rows.append(row)
    return da.block(rows)


def _clip(gdf: gpd.GeoDataFrame | None, g: Grid) -> gpd.GeoDataFrame | None:
    """Rows of ``gdf`` whose geometry meets ``g`` grown by one cell (None stays None)."""
    if gdf is None or len(gdf) == 0:
        return gdf
    w, s, e, n = g.bounds
    r = g.resolution
    idx = gdf.sindex.query(_box(w - r, s - r, e + r, n + r), predicate="intersects")
    return gdf.iloc[np.sort(idx)]


def _box(w, s, e, n):
    from shapely.geometry import box

    return box(w, s, e, n)


def _points(blocks: Blocks, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> da.Array:
    """Per-block sums of point weights as a dask array; points keep their order within a block."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    bi, bj = blocks.block_of(rows, cols)
    nj = blocks.nblocks[1]
    key = bi * nj + bj
    order = np.argsort(key, kind="stable")
    ks = key[order]
    parts = {}
    for k in np.unique(ks):
        sel = order[np.searchsorted(ks, k, "left"):np.searchsorted(ks, k, "right")]
        b = blocks.block(int(k) // nj, int(k) % nj)
        parts[b] = dask.delayed(points_on_grid, pure=True)(b.shape, rows[sel] - b.r0, cols[sel] - b.c0, weights[sel])
    return _assemble(blocks, parts, np.float64, fill=0.0)


def _nearest_tiling(shape: tuple[int, int], block: int, halo: int, max_window_cells: int) -> Blocks:
    """One tile if the grid fits in ``max_window_cells``, else the largest multiple of
    ``block`` whose window (tile + 2 halo) fits, at least one block."""
    if shape[0] * shape[1] <= max_window_cells:
        return Blocks(shape, max(shape))
    edge = int(math.isqrt(int(max_window_cells))) - 2 * halo
    size = max(block, (edge // block) * block)
    return Blocks(shape, size)


def _zones(client, grid: Grid, blocks: Blocks, params: Params, surf: ZoneInputs, events: gpd.GeoDataFrame,
           bases: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Vacuum zones: ``label_zones`` per block, joined across block edges, ``vacuum_zones`` per zone."""
    width = grid.width
    min_cells = max(1, math.ceil(params.zone_min_area_km2 / grid.cell_area_km2 - 1e-9))
    gap_blocks = surf.gap.to_delayed()
    lab_parts, stat_parts = {}, []
    cells_per_block = blocks.size * blocks.size + 1
    for b in blocks:
        lab, stats = dask.delayed(tasks.label_block, nout=2, pure=True)(
            gap_blocks[b.i, b.j], b, width, params.zone_threshold, (b.i * blocks.nblocks[1] + b.j) * cells_per_block)
        lab_parts[b] = lab
        stat_parts.append(stats)
    labels = _assemble(blocks, lab_parts, np.int64)
    (labels,) = client.persist([labels])
    strips = [labels[e - 1:e + 1, :] for e in blocks.edges(0)[1:-1]]
    strips += [labels[:, e - 1:e + 1].T for e in blocks.edges(1)[1:-1]]
    got = client.compute([dask.delayed(pd.concat)(stat_parts, ignore_index=True)]
                         + [dask.delayed(contacts)(s) for s in strips], sync=True)
    stats, pairs = got[0], got[1:]
    pairs = np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)
    zt = merge_labels(stats, pairs, min_cells)
    if len(zt) == 0:
        one = Grid(grid.crs, grid.transform, 1, 1)
        return vacuum_zones(np.full((1, 1), np.nan), one, threshold=params.zone_threshold,
                            min_area_km2=params.zone_min_area_km2)

    # batches: the zones whose first cell lies in a tile of at most 1024 cells, on the box holding them
    fr = zt["first"].to_numpy() // width
    fc = zt["first"].to_numpy() % width
    bi, bj = Blocks(grid.shape, min(blocks.size, 1024)).block_of(fr, fc)
    ev_rc = grid.rowcol(events.geometry.x.to_numpy(), events.geometry.y.to_numpy()) if len(events) else None
    bases_d = dask.delayed(bases.drop(columns="geometry").copy() if "geometry" in bases else bases)
    jobs = []
    for key in sorted(set(zip(bi.tolist(), bj.tolist(), strict=True))):
        rows = zt[(bi == key[0]) & (bj == key[1])]
        w = Block(key[0], key[1], int(rows["r0"].min()), int(rows["r1"].max()),
                  int(rows["c0"].min()), int(rows["c1"].max()))
        zl = [(int(z.first), z.ids, Block(0, 0, int(z.r0), int(z.r1), int(z.c0), int(z.c1)))
              for z in rows.itertuples(index=False)]
        ev = None
        if ev_rc is not None:
            er, ec, eok = ev_rc
            m = eok & (er >= w.r0) & (er < w.r1) & (ec >= w.c0) & (ec < w.c1)
            ev = events.iloc[np.flatnonzero(m)]
        sl = w.slices()
        jobs.append(dask.delayed(tasks.zones_batch, pure=True)(
            w, surf.gap[sl], surf.population[sl], surf.nearest_base[sl], surf.nearest_hours[sl], labels[sl], zl, grid,
            params.zone_threshold, params.zone_min_area_km2, params.class_breaks, ev, bases_d))
    results = client.compute(jobs, sync=True)
    parts = sorted((p for res in results for p in res), key=lambda p: p[0])
    out = pd.concat([z for _, z in parts], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=grid.crs)
    # as vacuum_zones: by population then area, descending; ties keep first-cell order
    out = out.sort_values(["population", "area_km2"], ascending=False, kind="stable").reset_index(drop=True)
    out["zone_id"] = np.arange(1, len(out) + 1, dtype=np.int64)
    return out


def _admin(client, grid: Grid, admin: gpd.GeoDataFrame, gap: da.Array, population: da.Array, params: Params,
           npartitions: int) -> pd.DataFrame:
    """``admin_summary`` per spatially compact group of admin units, on the window that holds them."""
    import dask_geopandas

    a = admin.copy()
    a["_row"] = np.arange(len(a))
    n = max(1, min(int(npartitions), len(a)))
    # spatially compact partitions: units in Hilbert order (computed by dask-geopandas), cut evenly
    dg = dask_geopandas.from_geopandas(a, npartitions=n)
    order = np.argsort(dg.hilbert_distance().compute(scheduler="sync").to_numpy(), kind="stable")
    jobs = []
    for rows in np.array_split(order, n):
        part = a.iloc[np.sort(rows)]
        if len(part) == 0:
            continue
        w = _window_of(grid, part.total_bounds)
        sl = w.slices()
        jobs.append(dask.delayed(tasks.admin_part, pure=True)(part, sub_grid(grid, w), gap[sl], population[sl],
                                                           params.class_breaks))
    tabs = client.compute(jobs, sync=True)
    return pd.concat(tabs).sort_index().reset_index(drop=True)


def _window_of(grid: Grid, bounds) -> Block:
    """Rows and columns of the grid holding ``bounds`` (minx, miny, maxx, maxy), one cell more."""
    w, s, e, n = (float(v) for v in bounds)
    res = grid.resolution
    c0 = int(np.floor((w - grid.transform.c) / res)) - 1
    c1 = int(np.ceil((e - grid.transform.c) / res)) + 1
    r0 = int(np.floor((grid.transform.f - n) / res)) - 1
    r1 = int(np.ceil((grid.transform.f - s) / res)) + 1
    r0, r1 = min(max(r0, 0), grid.height - 1), max(min(r1, grid.height), 1)
    c0, c1 = min(max(c0, 0), grid.width - 1), max(min(c1, grid.width), 1)
    return Block(0, 0, r0, max(r1, r0 + 1), c0, max(c1, c0 + 1))
