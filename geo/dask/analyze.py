"""The whole analysis on a Dask cluster, block by block, with the engine's own functions.

:func:`analyze_dask` returns the same :class:`~geo.pipeline.Analysis` as
:func:`geo.pipeline.analyze` (surfaces equal to floating-point rounding, the same
zones and admin table). What runs where:

====================  =====================================================  ==========
stage                 how                                                    where
====================  =====================================================  ==========
grid, reproject       as in ``analyze`` (events: dask-geopandas)             client
friction              ``area_mask`` + ``speed_surface`` per block            workers
travel_time           per block: ``build_graph`` on the block and a halo of  workers
                      ``halo_cells(t_max, cheapest cell)``, ``reach_from``
                      for the forces of the block; coverage intensity per
                      block from the reaches; nearest base: ``nearest_source``
                      on windows with a halo of ``halo_cells(travel_time_cap_h)``
threat                events -> weighted counts per block (dask-geopandas),  workers
                      ``map_overlap`` of ``kernel_density`` (halo 4 sigma + 1)
exposure              ``population_on_grid`` as one task; ``site_proximity``  workers
                      by ``map_overlap``; ``exposure_index`` per block
gap                   ``gap_score`` per block                                workers
zones                 ``label_zones`` per block, labels joined across block   workers +
                      edges (client), ``vacuum_zones`` per zone on its box   client
admin_summary         ``admin_summary`` per partition of admin units on the  workers
                      window that holds them
====================  =====================================================  ==========

The client then holds the surfaces as numpy arrays (as ``analyze`` returns them),
so :func:`geo.products.write_analysis` writes the products unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ..coverage import BaseTerm, CoverageModel
from ..errors import ConfigError, GridError
from ..grid import Grid
from ..params import Params
from ..pipeline import (
    Analysis,
    AnalysisInputs,
    Stages,
    analysis_summary,
    place_forces,
    prepare_layers,
)
from ..score import gap_score
from ..threat import event_weights, events_in_window, threat_index
from ..traveltime import Reach
from ..zones import vacuum_zones
from . import tasks as T
from .blocks import Block, Blocks, gaussian_radius, halo_cells, sub_grid
from .labels import contacts, merge_labels

__all__ = ["DaskOptions", "analyze_dask"]


@dataclass(frozen=True)
class DaskOptions:
    """How the grid is cut. The results do not depend on these, only time and memory do.

    ``block_size``: cells per block edge (a block of 2048 x 2048 float64 is 32 MB). The
    forces of a block are searched on the block grown by their halo, so the graph work
    is about ``(1 + 2 halo / block_size)**2`` times the grid's: larger blocks do less
    work, but in fewer tasks (see docs/scaling.md).
    ``max_window_cells``: largest window (block + halo) for the nearest-base search;
    a grid at most this size is searched as one task, a larger one in tiles.
    ``event_partitions``: dask-geopandas partitions of the events (default: one per
    50,000 events). ``admin_partitions``: partitions of the admin units (default:
    2 per worker).
    """

    block_size: int = 2048
    max_window_cells: int = 40_000_000
    event_partitions: int | None = None
    admin_partitions: int | None = None

    def __post_init__(self) -> None:
        if int(self.block_size) < 16:
            raise ConfigError(f"block_size must be at least 16 cells, got {self.block_size}")
        if int(self.max_window_cells) < 1:
            raise ConfigError(f"max_window_cells must be >= 1, got {self.max_window_cells}")


def analyze_dask(
    inputs: AnalysisInputs,
    params: Params,
    as_of: date,
    client,
    *,
    crs: CRS | None = None,
    options: DaskOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Analysis:
    """:func:`geo.pipeline.analyze` on the Dask cluster of ``client`` (a ``distributed.Client``).

    Layers are GeoDataFrames held by the client, as for ``analyze``; the population
    raster (``inputs.population_path``) is opened by a worker, so it must be
    readable there (a shared filesystem, or a GDAL path such as ``/vsis3/...``).
    """
    opt = options or DaskOptions()
    st = Stages(progress)
    t_start = time.perf_counter()
    # events stay in their CRS: dask-geopandas reprojects and assigns them on the workers
    grid, L, top = prepare_layers(inputs, params, st, crs=crs, keep_crs=("events",))
    if grid.size >= 2**31:
        raise GridError(f"grid of {grid.size} cells is too large for 32-bit cell indices")
    blocks = Blocks(grid.shape, opt.block_size)
    n_workers = max(len(client.scheduler_info().get("workers", {})), 1)

    # --- friction, per block
    def friction():
        parts = {}
        for b in blocks:
            g = sub_grid(grid, b)
            parts[b] = dask.delayed(T.friction_block, nout=2, pure=True)(
                g, params, _clip(top, g), _clip(L["roads"], g), _clip(L["impassable"], g))
        inside = _assemble(blocks, {b: p[0] for b, p in parts.items()}, bool)
        cost = _assemble(blocks, {b: p[1] for b, p in parts.items()}, np.float64)
        inside, cost = client.persist([inside, cost])
        finite = da.where(da.isfinite(cost), cost, np.inf)
        min_cost = float(client.compute(finite.min()).result())
        return inside, cost, min_cost

    inside, cost, min_cost = st.run("friction", friction)

    # --- forces, reaches, coverage, nearest base
    bases = L["bases"].reset_index(drop=True)
    forces, dropped = place_forces(bases, L["national"], grid, params, inputs.bases)
    halos: dict[str, int] = {}

    def halo(hours: float) -> int:  # no passable cell at all: every force holds its own cell
        return halo_cells(hours, min_cost) if math.isfinite(min_cost) else 0

    def travel_time():
        W = grid.width
        tiles: dict[Block, tuple] = {}
        if forces:
            cells = np.array([f["cell"] for f in forces], dtype=np.int64)
            bi, bj = blocks.block_of(*np.divmod(cells, W))
            for key in sorted(set(zip(bi.tolist(), bj.tolist(), strict=True))):
                b = blocks.block(*key)
                sel = np.flatnonzero((bi == key[0]) & (bj == key[1]))
                h = max(halo(forces[k]["t_max"]) for k in sel)
                w = blocks.window(b, h)
                res = dask.delayed(T.reach_tile, pure=True)(
                    cost[w.slices()], w, W, np.column_stack([sel, cells[sel]]),
                    np.array([forces[k]["t_max"] for k in sel]))
                tiles[b] = (h, res)
            halos["reach_max"] = max(h for h, _ in tiles.values())
        terms = {k: (f["weight"], f["t_resp"], f["t_max"]) for k, f in enumerate(forces)}
        terms_d = dask.delayed(terms)
        parts = {}
        for b in blocks:
            deps = [res for tb, (h, res) in tiles.items() if b in blocks.near(tb, h)]
            parts[b] = dask.delayed(T.intensity_block, pure=True)(b, W, terms_d, *deps) if deps else None
        intensity = _assemble(blocks, parts, np.float64, fill=0.0)
        coverage = intensity.map_blocks(T.coverage_block, dtype=np.float64)

        # nearest base, up to the travel-time cap
        base_cells = np.array([f["cell"] for f in forces if not f["national"]], dtype=np.int64)
        base_rows = np.array([f["row"] for f in forces if not f["national"]], dtype=np.int32)
        if len(base_cells):
            h = halo(params.travel_time_cap_h)
            halos["travel_time"] = h
            tb = _nearest_tiling(grid.shape, blocks.size, h, opt.max_window_cells)
            t_parts, w_parts = {}, {}
            for b in tb:
                w = tb.window(b, h)
                t_parts[b], w_parts[b] = dask.delayed(T.nearest_tile, nout=2, pure=True)(
                    cost[w.slices()], w, b, W, base_cells, params.travel_time_cap_h)
            t_near = _assemble(tb, t_parts, np.float32).rechunk(blocks.chunks)
            which = _assemble(tb, w_parts, np.int32).rechunk(blocks.chunks)
        else:
            t_near = da.full(grid.shape, np.inf, dtype=np.float32, chunks=blocks.chunks)
            which = da.full(grid.shape, -1, dtype=np.int32, chunks=blocks.chunks)
        nearest_base = which.map_blocks(T.nearest_base_block, base_rows, dtype=np.int32)
        reach_results = [res for _, res in tiles.values()]
        coverage, t_near, nearest_base, *reach_results = client.persist(
            [coverage, t_near, nearest_base, *reach_results])
        _wait([coverage, t_near, nearest_base, *reach_results])
        return coverage, t_near, nearest_base, reach_results

    coverage, t_near, nearest_base, reach_results = st.run("travel_time", travel_time)

    # --- threat
    def threat():
        if inputs.events is None:
            ev = gpd.GeoDataFrame({"date": pd.Series(dtype="datetime64[ns]"), "fatalities": pd.Series(dtype=float)},
                                  geometry=gpd.GeoSeries([], crs=grid.crs))
            return ev, da.zeros(grid.shape, chunks=blocks.chunks)
        ev, cells = _events_on_grid(client, inputs.events, grid, params, as_of, opt.event_partitions)
        if len(ev) == 0:
            return ev, da.zeros(grid.shape, chunks=blocks.chunks)
        counts = _points(blocks, cells["row"].to_numpy(), cells["col"].to_numpy(), cells["weight"].to_numpy())
        sigma = params.bandwidth_km / grid.resolution_km
        depth = gaussian_radius(sigma) + 1
        halos["threat"] = depth
        dens = counts.map_overlap(T.kde_window, depth=depth, boundary=0.0, trim=True, dtype=np.float64,
                                  bandwidth_cells=sigma, cell_area_km2=grid.cell_area_km2).rechunk(blocks.chunks)
        thr = dens.map_blocks(threat_index, params.threat_reference, dtype=np.float64)
        (thr,) = client.persist([thr])
        _wait([thr])
        return ev, thr

    events, threat_da = st.run("threat", threat)

    # --- exposure
    def exposure():
        towns = None
        path = str(inputs.population_path) if inputs.population_path is not None else None
        if path is None and L["sites"] is not None and "population" in L["sites"] and L["sites"]["population"].notna().any():
            towns = L["sites"][L["sites"]["kind"] == "town"]
        pop1 = dask.delayed(T.population_task, pure=True)(grid, path, inputs.population_units, towns)
        pop = da.from_delayed(pop1, grid.shape, dtype=np.float64).rechunk(blocks.chunks)
        near = None
        if L["sites"] is not None and len(L["sites"]):
            s = L["sites"]
            r, c, ok = grid.rowcol(s.geometry.x.to_numpy(), s.geometry.y.to_numpy())
            radius = params.critical_site_radius_km / grid.resolution_km
            depth = int(math.ceil(radius)) + 1
            halos["sites"] = depth
            near = _points(blocks, r[ok], c[ok], np.ones(int(ok.sum()))).map_overlap(
                T.proximity_window, depth=depth, boundary=0.0, trim=True, dtype=bool, radius_cells=radius,
            ).rechunk(blocks.chunks)
        args = (params.population_reference, params.exposure_floor, params.critical_site_exposure)
        if near is None:
            expo = pop.map_blocks(T.exposure_block, None, grid.cell_area_km2, *args, dtype=np.float64)
        else:
            expo = da.map_blocks(T.exposure_block, pop, near, grid.cell_area_km2, *args, dtype=np.float64)
        pop, expo = client.persist([pop, expo])
        _wait([pop, expo])
        return pop, expo

    population, expo = st.run("exposure", exposure)

    # --- gap and the surfaces as analyze returns them
    def gap():
        g = da.map_blocks(gap_score, threat_da, expo, coverage, params.threat_weight, params.exposure_weight,
                          dtype=np.float64)
        raw = {"gap": g, "coverage": coverage, "threat": threat_da, "exposure": expo,
               "travel_time": t_near.map_blocks(T.travel_time_block, dtype=np.float64), "population": population}
        surf = {k: da.map_blocks(T.finish_block, v, inside, dtype=np.float32) for k, v in raw.items()}
        keys = list(surf)
        persisted = client.persist([surf[k] for k in keys])
        _wait(persisted)
        return dict(zip(keys, persisted, strict=True))

    surf_da = st.run("gap", gap)

    def gather():
        keys = list(surf_da)
        arrays = client.compute([surf_da[k] for k in keys] + [inside, nearest_base, t_near, cost.astype(np.float32)])
        vals = [f.result() for f in arrays]
        return dict(zip(keys, vals[:len(keys)], strict=True)), *vals[len(keys):]

    surfaces, inside_np, nearest_np, t_near_np, cost_np = st.run("gather", gather)

    zones = st.run("zones", _zones, client, grid, blocks, params, surf_da, population_da=surf_da["population"],
                   nearest_base=nearest_base, t_near=t_near, events=events, bases=bases)
    admin_table = None
    if L["admin"] is not None:
        admin_table = st.run("admin_summary", _admin, client, grid, L["admin"], surf_da["gap"],
                             surf_da["population"], params, opt.admin_partitions or 2 * n_workers)

    def model():
        got = client.compute(reach_results, sync=True) if reach_results else []
        reach: dict[int, Reach] = {pos: r for res in got for pos, r in res}
        terms = [BaseTerm(f["base_id"], f["weight"], f["t_resp"], f["t_max"], reach[k], f["national"])
                 for k, f in enumerate(forces)]
        return CoverageModel(grid.shape, terms)

    cov_model = st.run("coverage_model", model)

    timings = st.timings
    timings["total"] = round(time.perf_counter() - t_start, 3)
    summary = analysis_summary(grid, params, as_of, surfaces, bases, events, zones, admin_table, dropped, inputs, timings)
    terms = cov_model.terms
    summary["layers"]["mean_cells_reached_per_force"] = (
        round(float(np.mean([len(t.reach.index) for t in terms])), 0) if terms else 0)
    summary["dask"] = {"workers": n_workers, "block_size": blocks.size, "blocks": list(blocks.nblocks),
                       "halo_cells": halos, "cheapest_cell_h": min_cost if math.isfinite(min_cost) else None}
    return Analysis(grid, params, as_of, surfaces, inside_np, cov_model, bases, events, zones, admin_table,
                    L["admin"], nearest_np.astype(np.int32), summary, timings, sites=L["sites"],
                    cost_h=cost_np)


# --- helpers ----------------------------------------------------------------------

def _wait(collections) -> None:
    from distributed import wait

    wait(collections)


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
        parts[b] = dask.delayed(T.points_block, pure=True)(b.shape, rows[sel] - b.r0, cols[sel] - b.c0, weights[sel])
    return _assemble(blocks, parts, np.float64, fill=0.0)


def _nearest_tiling(shape: tuple[int, int], block: int, halo: int, max_window_cells: int) -> Blocks:
    """One tile if the grid fits in ``max_window_cells``, else the largest multiple of
    ``block`` whose window (tile + 2 halo) fits, at least one block."""
    if shape[0] * shape[1] <= max_window_cells:
        return Blocks(shape, max(shape))
    edge = int(math.isqrt(int(max_window_cells))) - 2 * halo
    size = max(block, (edge // block) * block)
    return Blocks(shape, size)


def _event_cells(ev: gpd.GeoDataFrame, grid: Grid, params: Params, as_of: date) -> pd.DataFrame:
    """Each event's cell and weight, as ``threat_surface`` computes them."""
    if len(ev) == 0:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "col": pd.Series(dtype="int64"),
                             "weight": pd.Series(dtype="float64"), "inside": pd.Series(dtype=bool)})
    age = (pd.Timestamp(as_of) - pd.to_datetime(ev["date"])).dt.days.to_numpy(float)
    tw = ev["event_type"].astype(str).map(params.event_type_weights).fillna(params.unknown_event_weight)
    w = event_weights(tw.to_numpy(float), ev["fatalities"].to_numpy(float), age,
                      params.half_life_days, params.lookback_days)
    r, c, inside = grid.rowcol(ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy())
    return pd.DataFrame({"row": r, "col": c, "weight": w, "inside": inside}, index=ev.index)


def _events_on_grid(client, events: gpd.GeoDataFrame, grid: Grid, params: Params, as_of: date,
                    npartitions: int | None) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Events of the window in the grid CRS, and their cells and weights (dask-geopandas)."""
    import dask_geopandas

    n = npartitions or max(1, math.ceil(len(events) / 50_000))
    dg = dask_geopandas.from_geopandas(events, npartitions=n)
    dg = dg.map_partitions(events_in_window, as_of, params.lookback_days, meta=dg._meta)
    dg = dg.to_crs(grid.crs)
    meta = _event_cells(dg._meta, grid, params, as_of)
    cells = dg.map_partitions(_event_cells, grid, params, as_of, meta=meta)
    ev, cells = client.compute([dg, cells], sync=True)
    cells = cells[cells["inside"].to_numpy()]
    return ev, cells


def _zones(client, grid: Grid, blocks: Blocks, params: Params, surf: dict, *, population_da, nearest_base,
           t_near, events: gpd.GeoDataFrame, bases: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Vacuum zones: ``label_zones`` per block, joined across block edges, ``vacuum_zones`` per zone."""
    W = grid.width
    min_cells = max(1, math.ceil(params.zone_min_area_km2 / grid.cell_area_km2 - 1e-9))
    gap_blocks = surf["gap"].to_delayed()
    lab_parts, stat_parts = {}, []
    cells_per_block = blocks.size * blocks.size + 1
    for b in blocks:
        lab, stats = dask.delayed(T.label_block, nout=2, pure=True)(
            gap_blocks[b.i, b.j], b, W, params.zone_threshold, (b.i * blocks.nblocks[1] + b.j) * cells_per_block)
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
    fr = zt["first"].to_numpy() // W
    fc = zt["first"].to_numpy() % W
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
        jobs.append(dask.delayed(T.zones_batch, pure=True)(
            w, surf["gap"][sl], population_da[sl], nearest_base[sl], t_near[sl], labels[sl], zl, grid,
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
        jobs.append(dask.delayed(T.admin_part, pure=True)(part, sub_grid(grid, w), gap[sl], population[sl],
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
