"""What a Dask worker runs on one block: thin adapters around the engine's own functions.

Every function here takes numpy arrays (a block, or a block's window with its halo)
and small tables, calls the same pure functions as the local executor (``build_graph``,
``reach_from``, ``nearest_source``, ``label_zones``, ``vacuum_zones``,
``admin_summary``) and translates between window-local and grid cell indices. No model arithmetic lives here.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from ..grid import Grid
from ..summaries import admin_summary
from ..traveltime import Reach, build_graph, nearest_source, reach_from
from ..zones import label_zones, vacuum_zones
from .blocks import Block, sub_grid

__all__ = ["reach_tile", "nearest_tile", "label_block", "zones_batch", "admin_part"]


# --- travel time ------------------------------------------------------------

def _to_grid(local: np.ndarray, window: Block, width: int) -> np.ndarray:
    """Window-local flat cell indices -> grid flat indices (row-major order is kept)."""
    lr, lc = np.divmod(np.asarray(local, dtype=np.int64), window.c1 - window.c0)
    return ((lr + window.r0) * width + lc + window.c0).astype(np.int32)


def _to_local(cells: np.ndarray, window: Block, width: int) -> np.ndarray:
    r, c = np.divmod(np.asarray(cells, dtype=np.int64), width)
    return (r - window.r0) * (window.c1 - window.c0) + (c - window.c0)


def reach_tile(
    cost_window: np.ndarray, window: Block, width: int, forces: np.ndarray, limits: np.ndarray,
) -> list[tuple[int, Reach]]:
    """:func:`reach_from` for the forces of one block over the block's window.

    ``forces`` holds (position in the force list, grid flat cell) rows; ``limits``
    each force's maximum reach in hours. The window must hold every cell a force
    can reach within its limit and every path to it (see ``halo_cells``), so the
    result equals ``reach_from`` on the whole grid. Reaches come back in grid
    flat indices, ascending like the whole-grid ones.
    """
    cg = build_graph(cost_window)
    local = _to_local(forces[:, 1], window, width)
    out = []
    for k, (pos, cell) in enumerate(zip(forces[:, 0], local, strict=True)):
        r = reach_from(cg, int(cell), float(limits[k]))
        out.append((int(pos), Reach(_to_grid(r.index, window, width), r.hours)))
    return out


def nearest_tile(
    cost_window: np.ndarray, window: Block, block: Block, width: int, base_cells: np.ndarray, cap_h: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_source` from the bases inside ``window``; (hours, base position) on ``block``.

    Base positions are indices into ``base_cells`` (the whole list), -1 for none.
    """
    r, c = np.divmod(np.asarray(base_cells, dtype=np.int64), width)
    pos = np.flatnonzero((r >= window.r0) & (r < window.r1) & (c >= window.c0) & (c < window.c1))
    sl = (slice(block.r0 - window.r0, block.r1 - window.r0), slice(block.c0 - window.c0, block.c1 - window.c0))
    if len(pos) == 0:
        return np.full(block.shape, np.inf, dtype=np.float32), np.full(block.shape, -1, dtype=np.int32)
    cg = build_graph(cost_window)
    t, which = nearest_source(cg, _to_local(base_cells[pos], window, width).tolist(), cap_h)
    t, which = t[sl], which[sl]
    return t, np.where(which >= 0, pos[np.clip(which, 0, None)], -1).astype(np.int32)


# --- zones --------------------------------------------------------------------

def label_block(gap: np.ndarray, block: Block, width: int, threshold: float, offset: int) -> tuple[np.ndarray, pd.DataFrame]:
    """:func:`label_zones` on one block; labels made unique by ``offset``, and per label its
    cell count, first cell (grid flat index, row-major) and bounding box (grid rows/cols)."""
    with np.errstate(invalid="ignore"):
        mask = np.asarray(gap, dtype=np.float64) >= threshold
    lab, n = label_zones(mask, min_cells=1)
    ids = np.arange(1, n + 1, dtype=np.int64)
    counts = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    u, first = np.unique(lab.ravel(), return_index=True)  # first cell of each label, labels sorted
    fr, fc = np.divmod(first[u > 0].astype(np.int64), block.c1 - block.c0)
    boxes = ndimage.find_objects(lab)
    stats = pd.DataFrame({
        "id": ids + offset,
        "cells": counts.astype(np.int64),
        "first": ((fr + block.r0) * width + fc + block.c0).astype(np.int64),
        "r0": np.array([b[0].start + block.r0 for b in boxes], dtype=np.int64),
        "r1": np.array([b[0].stop + block.r0 for b in boxes], dtype=np.int64),
        "c0": np.array([b[1].start + block.c0 for b in boxes], dtype=np.int64),
        "c1": np.array([b[1].stop + block.c0 for b in boxes], dtype=np.int64),
    })
    labels = np.where(lab > 0, lab.astype(np.int64) + offset, 0)
    return labels, stats


def zones_batch(
    window: Block, gap: np.ndarray, population: np.ndarray, nearest_base: np.ndarray,
    nearest_time: np.ndarray, labels: np.ndarray, zones: Sequence[tuple[int, np.ndarray, Block]],
    grid: Grid, threshold: float, min_area_km2: float, breaks: Sequence[float],
    events: gpd.GeoDataFrame | None, bases: pd.DataFrame,
) -> list[tuple[int, gpd.GeoDataFrame]]:
    """:func:`vacuum_zones` for each zone of a batch, on the zone's bounding box.

    ``zones`` holds (order key, the block labels that make up the zone, bounding
    box in grid rows/cols); cells of other zones in the box are blanked (NaN), so
    each call finds exactly one zone.
    """
    out = []
    if events is not None and len(events):
        er, ec, eok = grid.rowcol(events.geometry.x.to_numpy(), events.geometry.y.to_numpy())
    for key, ids, box in zones:
        sl = (slice(box.r0 - window.r0, box.r1 - window.r0), slice(box.c0 - window.c0, box.c1 - window.c0))
        g = np.where(np.isin(labels[sl], ids), gap[sl], np.nan)
        ev = events
        if events is not None and len(events):  # only the events in the zone's box can count
            ev = events.iloc[np.flatnonzero(eok & (er >= box.r0) & (er < box.r1) & (ec >= box.c0) & (ec < box.c1))]
        z = vacuum_zones(g, sub_grid(grid, box), threshold=threshold, min_area_km2=min_area_km2,
                         population=population[sl], events=ev, bases=bases,
                         nearest_base=nearest_base[sl], nearest_time=nearest_time[sl], breaks=breaks)
        out.append((key, z))
    return out


# --- admin --------------------------------------------------------------------

def admin_part(
    part: gpd.GeoDataFrame, grid: Grid, gap: np.ndarray, population: np.ndarray, breaks: Sequence[float],
) -> pd.DataFrame:
    """:func:`admin_summary` for some admin units on the window that holds them; keeps ``_row``."""
    tab = admin_summary(part.drop(columns="_row"), grid, gap, population, breaks=breaks)
    tab.index = part["_row"].to_numpy()
    return tab
