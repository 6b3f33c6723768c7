"""Vacuum zones: connected areas where the gap score reaches a threshold.

:func:`label_zones` is the pure labelling step; :func:`vacuum_zones` labels the
gap surface of a :class:`~geo.grid.Grid`, measures each zone (area, population,
events, nearest base) and draws its polygon.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import shape

from .errors import ConfigError, GridError, InvalidGeometryError, LayerError, MissingColumnError
from .grid import Grid, check_crs
from .summaries import DEFAULT_BREAKS, GAP_CLASS_NAMES, class_index

__all__ = ["ZONE_COLUMNS", "label_zones", "least_time_base", "vacuum_zones", "zone_terms", "TERM_COLUMNS", "PRESENCE_LABEL",
           "presence_only", "TroopReach", "troop_reach", "needs_troop_reach", "nearest_with_troops"]

ZONE_COLUMNS: tuple[str, ...] = (
    "zone_id",
    "area_km2",
    "cells",
    "population",
    "mean_gap",
    "max_gap",
    "gap_class",
    "recent_events",
    "fatalities",
    "nearest_base_id",
    "nearest_base_name",
    "travel_time_h",
)
"""Attribute columns of :func:`vacuum_zones`, before ``geometry``."""

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def label_zones(mask: np.ndarray, *, min_cells: int = 1) -> tuple[np.ndarray, int]:
    """Label the 8-connected components of a boolean ``mask``.

    Components of fewer than ``min_cells`` cells are dropped; the rest are
    numbered 1..n in the order of their first cell in row-major order, 0 is
    background. Returns ``(labels as int32, n)``.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise GridError(f"mask must be 2-D, got shape {m.shape}")
    if m.dtype != bool:
        raise GridError(f"mask must be boolean, got dtype {m.dtype}; compare first, e.g. gap >= 35")
    if int(min_cells) < 1:
        raise ConfigError(f"min_cells must be >= 1, got {min_cells}")
    labels, n = ndimage.label(m, structure=EIGHT_CONNECTED)
    labels = labels.astype(np.int32, copy=False)
    if n == 0 or min_cells <= 1:
        return labels, int(n)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    keep = counts >= min_cells
    keep[0] = False
    renumber = np.zeros(n + 1, dtype=np.int32)
    renumber[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return renumber[labels], int(keep.sum())


def _check_shape(name: str, array: np.ndarray, grid: Grid) -> None:
    if array.shape != grid.shape:
        raise GridError(
            f"{name} has shape {array.shape}, the grid is {grid.shape} (rows, cols); "
            "compute it on the same grid"
        )


def _empty_zones(grid: Grid) -> gpd.GeoDataFrame:
    cols = {
        "zone_id": pd.Series([], dtype="int64"),
        "area_km2": pd.Series([], dtype="float64"),
        "cells": pd.Series([], dtype="int64"),
        "population": pd.Series([], dtype="float64"),
        "mean_gap": pd.Series([], dtype="float64"),
        "max_gap": pd.Series([], dtype="float64"),
        "gap_class": pd.Series([], dtype="str"),
        "recent_events": pd.Series([], dtype="int64"),
        "fatalities": pd.Series([], dtype="int64"),
        "nearest_base_id": pd.Series([], dtype="object"),
        "nearest_base_name": pd.Series([], dtype="object"),
        "travel_time_h": pd.Series([], dtype="float64"),
    }
    return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=grid.crs), crs=grid.crs)


def _event_counts(
    events: gpd.GeoDataFrame, grid: Grid, labels: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Number of events and sum of their fatalities per label 1..n (index 0..n-1)."""
    check_crs(events, grid.crs, "events")
    if "fatalities" not in events.columns:
        raise MissingColumnError(
            f"events lack a 'fatalities' column; they have {', '.join(map(str, events.columns))}"
        )
    geoms = events.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    types = shapely.get_type_id(geoms[present])
    if np.any(types != shapely.GeometryType.POINT):
        bad = sorted(shapely.GeometryType(int(t)).name for t in np.unique(types) if t != shapely.GeometryType.POINT)
        raise InvalidGeometryError(f"events must be points, found {', '.join(bad)}; use .representative_point() for areas")
    fat = pd.to_numeric(events["fatalities"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    fat = np.where(np.isnan(fat), 0.0, fat)
    if np.any(fat < 0) or np.any(fat != np.round(fat)):
        raise LayerError("event fatalities must be whole numbers >= 0")
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[present] = shapely.get_x(geoms[present])
    y[present] = shapely.get_y(geoms[present])
    row, col, inside = grid.rowcol(x, y)
    lab = np.zeros(len(geoms), dtype=np.int64)
    lab[inside] = labels[row[inside], col[inside]]
    hit = lab > 0
    counts = np.bincount(lab[hit] - 1, minlength=n)[:n].astype(np.int64)
    fatalities = np.bincount(lab[hit] - 1, weights=fat[hit], minlength=n)[:n]
    return counts, np.rint(fatalities).astype(np.int64)


def _nearest_bases(
    labels: np.ndarray,
    n: int,
    bases: pd.DataFrame,
    nearest_base: np.ndarray,
    nearest_time: np.ndarray,
) -> tuple[list[object], list[object], np.ndarray]:
    """Base id, name and travel time (h) at each zone's best-reached cell."""
    missing = [c for c in ("base_id", "name") if c not in bases.columns]
    if missing:
        raise MissingColumnError(
            f"bases lack column(s) {', '.join(missing)}; they have {', '.join(map(str, bases.columns))}"
        )
    nb = np.asarray(nearest_base)
    if nb.dtype.kind not in "iu":
        raise GridError(f"nearest_base must hold integer base positions, got dtype {nb.dtype}")
    if nb.size and (nb.min() < -1 or nb.max() >= len(bases)):
        raise GridError(
            f"nearest_base holds {nb.min()}..{nb.max()}, but there are {len(bases)} bases "
            "(-1 = none): pass the bases the travel times were computed for"
        )
    # each zone's least travel time (NaN: unreachable, as inf) and the base at that cell
    least, base = least_time_base(labels, n, np.asarray(nearest_time), nb)
    ids: list[object] = []
    names: list[object] = []
    hours = np.full(n, np.nan)
    base_ids = bases["base_id"].to_numpy()
    base_names = bases["name"].to_numpy()
    for k in range(n):
        b = int(base[k])
        if math.isfinite(least[k]) and b >= 0:
            hours[k] = least[k]
            ids.append(base_ids[b])
            names.append(base_names[b])
        else:
            ids.append(None)
            names.append(None)
    return ids, names, hours


def least_time_base(labels: np.ndarray, n: int, t: np.ndarray, nb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pure: (least ``t``, ``nb`` at that cell) of each label 1..n, as ``ndimage.minimum_position``
    picks the cell: when a zone's least time is reached on several cells, ndimage takes the
    first in the order of numpy's (unstable) argsort of the whole grid. That order is needed
    only when those cells name different bases: then, and for a label without cells, the
    whole-grid search runs; otherwise the base is the one they share, found on the zone cells.
    NaN in ``t`` counts as inf (unreachable); only the zone cells are converted."""
    flat = labels.ravel()
    cells = np.flatnonzero(flat > 0)
    lab0 = flat[cells].astype(np.int64) - 1
    tv = np.asarray(t).ravel()[cells].astype(np.float64)
    tv[np.isnan(tv)] = np.inf
    least = np.full(n, np.inf)
    np.minimum.at(least, lab0, tv)
    at_least = tv == least[lab0]
    bv = nb.ravel()[cells][at_least].astype(np.int64)
    lz = lab0[at_least]
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(lo, lz, bv)
    np.maximum.at(hi, lz, bv)
    has_cells = np.bincount(lab0, minlength=n)[:n] > 0
    if has_cells.all() and not np.any(np.isfinite(least) & (lo != hi)):
        return least, lo
    t = np.asarray(t, dtype=np.float64)
    t = np.where(np.isnan(t), np.inf, t)
    positions = ndimage.minimum_position(t, labels=labels, index=np.arange(1, n + 1))
    rc = np.array(positions, dtype=np.int64).reshape(n, 2)
    return t[rc[:, 0], rc[:, 1]], np.asarray(nb)[rc[:, 0], rc[:, 1]].astype(np.int64)


def vacuum_zones(
    gap: np.ndarray,
    grid: Grid,
    *,
    threshold: float = 60.0,
    min_area_km2: float = 10.0,
    population: np.ndarray | None = None,
    events: gpd.GeoDataFrame | None = None,
    bases: pd.DataFrame | None = None,
    nearest_base: np.ndarray | None = None,
    nearest_time: np.ndarray | None = None,
    breaks: Sequence[float] = DEFAULT_BREAKS,
) -> gpd.GeoDataFrame:
    """Polygons of the connected areas where ``gap >= threshold``, in ``grid.crs``.

    Cells join a zone through edges or corners (8-connected); NaN cells are in
    no zone. Zones under ``min_area_km2`` are dropped. Rows are sorted by
    population, then area, both descending, and ``zone_id`` runs 1..n in that
    order (zone 1 is the most populous).

    Columns (see :data:`ZONE_COLUMNS`), then ``geometry`` ((Multi)Polygon of the
    zone's cells, holes where enclosed cells are below the threshold):

    - ``area_km2`` = ``cells`` x cell area; ``population``: sum of ``population``
      over the zone (NaN counts as 0; 0 when no population is given);
    - ``mean_gap``, ``max_gap``; ``gap_class``: class name of ``max_gap``
      under ``breaks``;
    - ``recent_events``, ``fatalities``: count of the ``events`` points in the
      zone's cells and the sum of their ``fatalities`` (missing = 0). Every row
      of ``events`` counts: filter it to the recent window first. 0 without events;
    - ``nearest_base_id``, ``nearest_base_name``, ``travel_time_h``: at the zone
      cell with the least ``nearest_time``, the base ``bases.iloc[nearest_base]``
      and that time in hours. None/None/NaN where no base reaches the zone
      or when the three base arguments are not given.

    ``events`` must be points in the grid CRS with a ``fatalities`` column.
    ``bases`` needs ``base_id`` and ``name`` and the row order ``nearest_base``
    indexes; its geometry is not used, so its CRS is not checked.
    ``nearest_base`` (int, -1 = none) and ``nearest_time`` (hours, inf or NaN =
    unreachable) are grid-shaped and come with ``bases``: give all three or none.
    """
    g = np.asarray(gap, dtype="float64")
    pop = _check_zone_args(g, grid, threshold=threshold, min_area_km2=min_area_km2, population=population,
                           events=events, bases=bases, nearest_base=nearest_base, nearest_time=nearest_time,
                           breaks=breaks)
    labels, n = _label_gap(g, grid, threshold, min_area_km2)
    if n == 0:
        return _empty_zones(grid)
    columns = _zone_columns(g, grid, labels, n, pop=pop, events=events, bases=bases,
                            nearest_base=nearest_base, nearest_time=nearest_time, breaks=breaks)
    out = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(_zone_polygons(labels, n, grid), crs=grid.crs),
                           crs=grid.crs)
    # stable sort keeps row-major label order among ties
    out = out.sort_values(["population", "area_km2"], ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    out["zone_id"] = np.arange(1, n + 1, dtype=np.int64)
    return out


def _label_gap(g: np.ndarray, grid: Grid, threshold: float, min_area_km2: float) -> tuple[np.ndarray, int]:
    """Zones of ``g >= threshold`` of at least ``min_area_km2``, labelled 1..n."""
    # smallest whole number of cells whose area reaches min_area_km2 (tolerant of float noise)
    min_cells = max(1, math.ceil(min_area_km2 / grid.cell_area_km2 - 1e-9))
    with np.errstate(invalid="ignore"):
        mask = g >= threshold  # NaN compares False
    return label_zones(mask, min_cells=min_cells)


def _check_zone_args(
    g: np.ndarray,
    grid: Grid,
    *,
    threshold: float,
    min_area_km2: float,
    population: np.ndarray | None,
    events: gpd.GeoDataFrame | None,
    bases: pd.DataFrame | None,
    nearest_base: np.ndarray | None,
    nearest_time: np.ndarray | None,
    breaks: Sequence[float],
) -> np.ndarray | None:
    """Refuse bad arguments of :func:`vacuum_zones`; the population with NaN as 0 (None if not given)."""
    _check_shape("gap", g, grid)
    if not math.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite gap score, got {threshold}")
    if not (min_area_km2 >= 0 and math.isfinite(min_area_km2)):
        raise ConfigError(f"min_area_km2 must be a finite number >= 0, got {min_area_km2}")
    class_index(np.array([]), breaks)  # validate breaks before any work
    base_args = (bases is not None, nearest_base is not None, nearest_time is not None)
    if any(base_args) and not all(base_args):
        raise ConfigError(
            "bases, nearest_base and nearest_time go together: give all three or none"
        )
    pop = None
    if population is not None:
        pop = np.asarray(population, dtype="float64")
        _check_shape("population", pop, grid)
        pop = np.where(np.isnan(pop), 0.0, pop)
    if nearest_base is not None:
        _check_shape("nearest_base", np.asarray(nearest_base), grid)
    if nearest_time is not None:
        _check_shape("nearest_time", np.asarray(nearest_time), grid)
    if events is not None:
        check_crs(events, grid.crs, "events")
    return pop


def _zone_columns(
    g: np.ndarray,
    grid: Grid,
    labels: np.ndarray,
    n: int,
    *,
    pop: np.ndarray | None,
    events: gpd.GeoDataFrame | None,
    bases: pd.DataFrame | None,
    nearest_base: np.ndarray | None,
    nearest_time: np.ndarray | None,
    breaks: Sequence[float],
) -> dict[str, object]:
    """The attribute columns (:data:`ZONE_COLUMNS`) of zones 1..n, in label order."""
    flat = labels.ravel()
    zone_cells = flat > 0
    lab0 = flat[zone_cells] - 1  # 0..n-1
    gv = g.ravel()[zone_cells]
    cells = np.bincount(lab0, minlength=n)
    mean_gap = np.bincount(lab0, weights=gv, minlength=n) / cells
    max_gap = np.full(n, -np.inf)
    np.maximum.at(max_gap, lab0, gv)  # every label 1..n has cells, none of them NaN (gap >= threshold)
    population_sum = (
        np.bincount(lab0, weights=pop.ravel()[zone_cells], minlength=n)
        if pop is not None
        else np.zeros(n)
    )
    if events is not None:
        n_events, fatalities = _event_counts(events, grid, labels, n)
    else:
        n_events = np.zeros(n, dtype=np.int64)
        fatalities = np.zeros(n, dtype=np.int64)
    if bases is not None and nearest_base is not None and nearest_time is not None:
        base_ids, base_names, hours = _nearest_bases(labels, n, bases, nearest_base, nearest_time)
    else:
        base_ids, base_names, hours = [None] * n, [None] * n, np.full(n, np.nan)
    names = np.array(GAP_CLASS_NAMES, dtype=object)
    return {
        "zone_id": np.arange(1, n + 1, dtype=np.int64),
        "area_km2": cells * grid.cell_area_km2,
        "cells": cells.astype(np.int64),
        "population": population_sum.astype("float64"),
        "mean_gap": mean_gap,
        "max_gap": max_gap,
        "gap_class": pd.Series(names[class_index(max_gap, breaks)], dtype="str"),
        "recent_events": n_events,
        "fatalities": fatalities,
        "nearest_base_id": pd.Series(base_ids, dtype="object"),
        "nearest_base_name": pd.Series(base_names, dtype="object"),
        "travel_time_h": hours,
    }


def _zone_polygons(labels: np.ndarray, n: int, grid: Grid) -> list[shapely.Geometry]:
    """(Multi)Polygon of each zone 1..n: the union of its cells."""
    parts: list[list[shapely.Geometry]] = [[] for _ in range(n)]
    for geom, value in shapes(labels, mask=labels > 0, connectivity=4, transform=grid.transform):
        parts[int(value) - 1].append(shape(geom))
    return [shapely.union_all(p) for p in parts]


TERM_COLUMNS = {"risk": "mean_risk", "exposure": "mean_exposure", "coverage": "mean_coverage"}
"""The gap's terms, read zone by zone: surface -> column of the mean over the zone's cells."""


def zone_terms(zones: gpd.GeoDataFrame, grid: Grid, surfaces: dict[str, np.ndarray]) -> gpd.GeoDataFrame:
    """``zones`` with the mean of each term of the gap (:data:`TERM_COLUMNS`) over its cells.

    Zones are unions of whole cells, so rasterising each polygon onto the grid finds exactly
    its cells; the same for every executor (it runs on the client, on the gathered surfaces).
    """
    from rasterio import features

    out = zones.copy()
    if len(zones) == 0:
        for col in TERM_COLUMNS.values():
            out[col] = pd.Series(dtype=float)
        return out
    ids = features.rasterize(((g, i + 1) for i, g in enumerate(zones.geometry)), out_shape=grid.shape,
                             transform=grid.transform, fill=0, dtype="int32")
    cells = np.flatnonzero(ids)  # the zones' cells only (the same sums: the rest added 0)
    z = ids.ravel()[cells]
    n = np.bincount(z, minlength=len(zones) + 1)[1:]
    for name, col in TERM_COLUMNS.items():
        v = np.nan_to_num(np.asarray(surfaces[name]).ravel()[cells].astype(np.float64), nan=0.0)
        s = np.bincount(z, weights=v, minlength=len(zones) + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[col] = np.round(np.where(n > 0, s / n, np.nan), 4)
    return out


PRESENCE_LABEL = "presence only, 0 troops"
"""How a site with no troops (HQ, observers, police: Geo-PKO 0 troops) is flagged in tables and tooltips."""


def presence_only(bases: pd.DataFrame) -> np.ndarray:
    """True for the bases that hold no troops: ``strength`` 0 or ``strength_source`` ``presence_only``."""
    strength = np.nan_to_num(pd.to_numeric(bases["strength"], errors="coerce").to_numpy(dtype=float), nan=0.0)
    flag = strength <= 0
    if "strength_source" in bases:
        flag |= bases["strength_source"].astype(str).to_numpy() == "presence_only"
    return flag


@dataclass(frozen=True)
class TroopReach:
    """Per cell of the grid, the hours to the nearest base with troops (inf: none within the
    cap) and that base's row in the bases layer (-1: none)."""

    hours: np.ndarray  # float32, grid shape
    base_row: np.ndarray  # int32, grid shape


def troop_reach(grid: Grid, bases: pd.DataFrame, cost_h: np.ndarray | None, cap_h: float) -> TroopReach | None:
    """The nearest base with troops of every cell: one multi-source search over ``cost_h``
    from the bases that are not presence-only, up to ``cap_h`` hours; None without a cost
    surface or a base with troops. ``bases`` (grid CRS) in the row order of the analysis."""
    from .traveltime import graph_of, nearest_source

    troop_rows = np.flatnonzero(~presence_only(bases)) if len(bases) else np.zeros(0, dtype=np.int64)
    if cost_h is None or len(troop_rows) == 0:
        return None
    xy = bases.geometry.iloc[troop_rows]
    r, c, ok = grid.rowcol(xy.x.to_numpy(), xy.y.to_numpy())
    cells = (r[ok] * grid.width + c[ok]).astype(np.int64)
    rows = troop_rows[ok]
    hours, which = nearest_source(graph_of(cost_h), [int(x) for x in cells], cap_h)
    near = np.where(which >= 0, rows[np.clip(which, 0, None)] if len(rows) else -1, -1).astype(np.int32)
    return TroopReach(hours, near)


def needs_troop_reach(bases: pd.DataFrame) -> bool:
    """Whether :func:`nearest_with_troops` can need :func:`troop_reach` for these bases: some
    are presence-only and some hold troops."""
    if len(bases) == 0:
        return False
    pres = presence_only(bases)
    return bool(pres.any() and not pres.all())


def nearest_with_troops(
    zones: gpd.GeoDataFrame, grid: Grid, bases: pd.DataFrame, nearest_base: np.ndarray, cost_h: np.ndarray | None,
    cap_h: float, *, troops: Callable[[], TroopReach | None] | None = None,
) -> gpd.GeoDataFrame:
    """``zones`` whose nearest base is a presence-only site get, as their nearest base, the
    nearest base **with troops** (within ``cap_h`` hours over ``cost_h``), and the presence
    site beside it: ``presence_site_id``, ``presence_site_name``, ``presence_site_travel_time_h``
    (None / NaN where the nearest base has troops). ``nearest_base`` is the grid of nearest
    base rows (-1 none) the zones were measured with; ``bases`` is in that row order.
    ``troops``: returns :func:`troop_reach` of these arguments, computed elsewhere (e.g. in
    the background while the forecast runs); called only when a zone needs it.
    """
    out = zones.copy()
    n = len(out)
    out["presence_site_id"] = pd.Series([None] * n, dtype="object", index=out.index)
    out["presence_site_name"] = pd.Series([None] * n, dtype="object", index=out.index)
    out["presence_site_travel_time_h"] = np.full(n, np.nan)
    if n == 0 or "nearest_base_id" not in out or len(bases) == 0:
        return out
    pres = presence_only(bases)
    pres_ids = set(bases["base_id"][pres])
    hit = out["nearest_base_id"].isin(pres_ids).to_numpy()
    if not hit.any():
        return out
    out.loc[hit, "presence_site_id"] = out.loc[hit, "nearest_base_id"]
    out.loc[hit, "presence_site_name"] = out.loc[hit, "nearest_base_name"]
    out.loc[hit, "presence_site_travel_time_h"] = out.loc[hit, "travel_time_h"]
    reach = troops() if troops is not None else troop_reach(grid, bases, cost_h, cap_h)
    ids, names, hours = _troop_nearest(out[hit], grid, bases, reach)
    out.loc[hit, "nearest_base_id"] = pd.Series(ids, index=out.index[hit], dtype="object")
    out.loc[hit, "nearest_base_name"] = pd.Series(names, index=out.index[hit], dtype="object")
    out.loc[hit, "travel_time_h"] = hours
    return out


def _troop_nearest(zones: gpd.GeoDataFrame, grid: Grid, bases: pd.DataFrame,
                   reach: TroopReach | None) -> tuple[list[object], list[object], np.ndarray]:
    """Nearest base with troops (id, name, hours) of each zone: :func:`_nearest_bases` on the
    zones' cells over the troop search."""
    from rasterio import features

    k = len(zones)
    if reach is None:
        return [None] * k, [None] * k, np.full(k, np.nan)
    labels = features.rasterize(((g, i + 1) for i, g in enumerate(zones.geometry)), out_shape=grid.shape,
                                transform=grid.transform, fill=0, dtype="int32")
    return _nearest_bases(labels, k, bases, reach.base_row, reach.hours)
