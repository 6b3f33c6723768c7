"""Friction: how fast a force moves through each cell.

Pure part: :func:`hours_per_cell` turns speeds into crossing times, :func:`water_speed`
puts rivers under the roads. The wrapper :func:`speed_surface` rasterises roads by class
over an off-road speed, then rivers and lakes (``water``: off-road cells of water move at
``river_speed_kmh``, 0 = impassable, while road cells keep their road speed, so a road
crosses a river at its bridge or ferry), then ``impassable`` areas (no crossing at all).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from affine import Affine
from rasterio import features

from .grid import Grid, check_crs
from .params import Params

__all__ = ["hours_per_cell", "water_speed", "water_mask", "four_connected", "speed_surface", "area_mask", "friction"]


def hours_per_cell(speed_kmh: np.ndarray, cell_km: float) -> np.ndarray:
    """Hours to cross one cell edge-to-edge at each speed; ``inf`` where speed is 0."""
    speed = np.asarray(speed_kmh, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.where(speed > 0, cell_km / np.where(speed > 0, speed, 1.0), np.inf)
    return out


def water_speed(speed_kmh: np.ndarray, on_road: np.ndarray, water: np.ndarray, river_speed_kmh: float) -> np.ndarray:
    """Speeds with water cells off the road network at ``river_speed_kmh`` (road cells kept)."""
    out = np.array(speed_kmh, dtype=np.float32, copy=True)
    out[np.asarray(water, bool) & ~np.asarray(on_road, bool)] = river_speed_kmh
    return out


def four_connected(mask: np.ndarray) -> np.ndarray:
    """``mask`` with a cell added beside every diagonal-only step (two cells touching at a
    corner, both orthogonal neighbours free), so a line of cells has no gap an 8-neighbour
    move slips through."""
    m = np.asarray(mask, dtype=bool)
    out = m.copy()
    out[:-1, 1:] |= m[:-1, :-1] & m[1:, 1:] & ~m[:-1, 1:] & ~m[1:, :-1]  # down-right steps: fill the upper right
    out[:-1, :-1] |= m[:-1, 1:] & m[1:, :-1] & ~m[:-1, :-1] & ~m[1:, 1:]  # down-left steps: fill the upper left
    return out


def water_mask(grid: Grid, water: gpd.GeoDataFrame) -> np.ndarray:
    """Cells of rivers and lakes: every cell a river line touches and cells whose centre lies
    in a lake or river polygon, made :func:`four_connected`. Drawn on the grid grown by one
    cell and cut back, so a block of a larger grid gets the same cells as the whole grid."""
    lines = [(g, 1) for g in water.geometry if g is not None and not g.is_empty and "Line" in g.geom_type]
    polys = [(g, 1) for g in water.geometry if g is not None and not g.is_empty and "Polygon" in g.geom_type]
    shape = (grid.height + 2, grid.width + 2)
    transform = grid.transform @ Affine.translation(-1, -1)
    out = np.zeros(shape, dtype=bool)
    for shapes, touched in ((lines, True), (polys, False)):
        if shapes:
            out |= features.rasterize(shapes, out_shape=shape, transform=transform, fill=0,
                                      all_touched=touched, dtype="uint8").astype(bool)
    return four_connected(out)[1:-1, 1:-1]


def area_mask(grid: Grid, area: gpd.GeoDataFrame | None) -> np.ndarray:
    """True for cells whose centre is inside the area of interest (all cells if none)."""
    if area is None:
        return np.ones(grid.shape, dtype=bool)
    check_crs(area, grid.crs, "area of interest")
    shapes = [(g, 1) for g in area.geometry if g is not None and not g.is_empty]
    return features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8").astype(bool)


def speed_surface(
    grid: Grid,
    params: Params,
    roads: gpd.GeoDataFrame | None = None,
    inside: np.ndarray | None = None,
    impassable: gpd.GeoDataFrame | None = None,
    water: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Speed in km/h per cell: fastest road touching the cell, else off-road speed.

    Cells outside the area of interest (``inside`` False) move at
    ``outside_area_speed_kmh`` (0 = impassable) even where a road crosses them;
    cells of ``water`` (rivers and lakes) off the roads move at ``river_speed_kmh``;
    cells of ``impassable`` polygons (no-go areas: no road crosses them) are 0.
    """
    speed = np.full(grid.shape, params.offroad_speed_kmh, dtype=np.float32)
    on_road = np.zeros(grid.shape, dtype=bool)
    if roads is not None and len(roads):
        check_crs(roads, grid.crs, "roads layer")
        classes = roads["road_class"].astype(str).str.lower()
        speeds = classes.map(params.road_speeds_kmh).fillna(params.unknown_road_speed_kmh).to_numpy(float)
        order = np.argsort(speeds, kind="stable")  # fastest drawn last wins
        geoms = roads.geometry.to_numpy()  # once: each .geometry builds a GeoSeries
        shapes = [(geoms[i], float(speeds[i])) for i in order if geoms[i] is not None]
        road_speed = features.rasterize(
            shapes, out_shape=grid.shape, transform=grid.transform, fill=0, all_touched=True, dtype="float32"
        )
        np.maximum(speed, road_speed, out=speed)
        on_road = road_speed > 0
    if water is not None and len(water):
        check_crs(water, grid.crs, "rivers and lakes layer")
        speed = water_speed(speed, on_road, water_mask(grid, water), params.river_speed_kmh)
    if impassable is not None and len(impassable):
        check_crs(impassable, grid.crs, "impassable layer")
        blocked = features.rasterize(
            [(g, 1) for g in impassable.geometry if g is not None], out_shape=grid.shape,
            transform=grid.transform, fill=0, dtype="uint8",
        ).astype(bool)
        speed[blocked] = 0.0
    if inside is not None:
        speed[~inside] = params.outside_area_speed_kmh
    return speed


def friction(
    grid: Grid, params: Params, top: gpd.GeoDataFrame | None, roads: gpd.GeoDataFrame | None,
    impassable: gpd.GeoDataFrame | None, water: gpd.GeoDataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(inside the area, hours to cross each cell) on ``grid``; everything inside when
    there are no admin units (``top``). Layers in the grid CRS."""
    inside = area_mask(grid, top) if top is not None else np.ones(grid.shape, dtype=bool)
    speed = speed_surface(grid, params, roads, inside, impassable, water)
    return inside, hours_per_cell(speed, grid.resolution_km)
