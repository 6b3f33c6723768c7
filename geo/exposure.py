"""Exposure: who and what is there to protect.

Population comes from a raster (resampled onto the grid preserving totals) or
from settlements with a population figure. Critical sites (airstrips, towns,
user sites) raise exposure within a radius. The index::

    e        = clip(ln(1 + density) / ln(1 + reference), 0, 1)
    e        = max(e, site_exposure) within site radius
    exposure = floor + (1 - floor) * e
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window
from scipy import ndimage

from .errors import LayerError, MissingCRSError
from .grid import Grid, check_crs

__all__ = [
    "disaggregate",
    "population_on_grid",
    "settlement_population",
    "site_proximity",
    "exposure_index",
    "proximity_of_counts",
    "exposure_of",
    "grid_population",
    "cell_areas_km2",
    "site_people_missed",
    "site_weighted_extra",
    "protected_sites_on_grid",
    "site_people",
]


def disaggregate(
    src_counts: np.ndarray, target_src_row: np.ndarray, target_src_col: np.ndarray,
    full: np.ndarray, target_per_src: np.ndarray,
) -> np.ndarray:
    """Spread each source cell's count over the target cells whose centre falls in it.

    Pure. ``target_src_row/col`` give, per target cell, the source cell holding
    its centre (-1 outside). A source cell lying wholly inside the target grid
    (``full``) gives all of its count, split equally among its target cells; one
    cut by the grid's edge gives each of its target cells the share
    ``1 / target_per_src`` (the count of target cells a whole source cell holds),
    so only the part inside the grid is counted. Totals are preserved exactly for
    whole cells.
    """
    sh, sw = src_counts.shape
    ok = (target_src_row >= 0) & (target_src_row < sh) & (target_src_col >= 0) & (target_src_col < sw)
    src_flat = np.where(ok, target_src_row * sw + target_src_col, 0)
    n_assigned = np.bincount(src_flat[ok], minlength=sh * sw).reshape(sh, sw).astype(np.float64)
    counts = np.nan_to_num(src_counts.astype(np.float64), nan=0.0)
    denom = np.where(full, n_assigned, np.maximum(n_assigned, target_per_src))
    share = np.divide(counts, denom, out=np.zeros_like(counts), where=denom > 0)
    out = np.where(ok, share.ravel()[src_flat], 0.0)
    return out


def population_on_grid(
    path: str | Path, grid: Grid, units: Literal["count", "density"] = "count"
) -> np.ndarray:
    """People per grid cell from a population raster, preserving totals.

    ``units``: ``count`` for people per source cell (WorldPop ``ppp`` files),
    ``density`` for people per km² (e.g. the aggregated WorldPop grid in the
    demo). No default guessing: the caller states it.
    """
    if units not in ("count", "density"):
        raise LayerError(f"population units must be 'count' or 'density', got {units!r}")
    path = Path(path)
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise LayerError(f"population raster {path} cannot be read: {exc}") from None
    with ds:
        if ds.crs is None:
            raise MissingCRSError(f"population raster {path} has no CRS; assign one with gdal_edit.py -a_srs EPSG:4326")
        src_crs = CRS.from_user_input(ds.crs)
        # window of the source covering the grid, plus one cell
        to_src = Transformer.from_crs(grid.crs, src_crs, always_xy=True)
        w, s, e, n = to_src.transform_bounds(*grid.bounds, densify_pts=21)
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise LayerError(f"population raster {path} is rotated; warp it north-up first (gdalwarp)")
        # the source window covering the grid, plus one cell (computed here, not with
        # rasterio.windows.from_bounds, to stay clear of affine's deprecated tuple product)
        c0 = max(int(np.floor((min(w, e) - t.c) / t.a)) - 1, 0)
        c1 = min(int(np.ceil((max(w, e) - t.c) / t.a)) + 1, ds.width)
        r0 = max(int(np.floor((max(s, n) - t.f) / t.e)) - 1, 0)
        r1 = min(int(np.ceil((min(s, n) - t.f) / t.e)) + 1, ds.height)
        if c1 <= c0 or r1 <= r0:
            return np.zeros(grid.shape)
        data = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True).astype(np.float64).filled(0.0)
        data[~np.isfinite(data) | (data < 0)] = 0.0
        wt = Affine(t.a, 0.0, t.c + c0 * t.a, 0.0, t.e, t.f + r0 * t.e)
    sh, sw = data.shape
    if units == "density":
        data = data * cell_areas_km2(wt, sh, sw, src_crs)
    # source cell holding each target cell centre: warp an index raster (nearest)
    src_index = np.arange(sh * sw, dtype=np.int32).reshape(sh, sw)
    assigned = np.full(grid.shape, -1, dtype=np.int32)
    reproject(src_index, assigned, src_transform=wt, src_crs=src_crs, src_nodata=-1,
              dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=-1, resampling=Resampling.nearest)
    flat_assigned = assigned.ravel()
    row = np.where(flat_assigned >= 0, flat_assigned // sw, -1)
    col = np.where(flat_assigned >= 0, flat_assigned % sw, -1)
    # source cells wholly inside the grid: all four corners map inside the grid bounds
    to_grid = Transformer.from_crs(src_crs, grid.crs, always_xy=True)
    cc, rr = np.meshgrid(np.arange(sw + 1), np.arange(sh + 1))
    cx = wt.c + cc * wt.a
    cy = wt.f + rr * wt.e
    gx, gy = to_grid.transform(cx.ravel(), cy.ravel())
    gb = grid.bounds
    ins = ((gx >= gb.west) & (gx <= gb.east) & (gy >= gb.south) & (gy <= gb.north)).reshape(sh + 1, sw + 1)
    full = ins[:-1, :-1] & ins[1:, :-1] & ins[:-1, 1:] & ins[1:, 1:]
    src_area = cell_areas_km2(wt, sh, sw, src_crs)
    target_per_src = src_area / grid.cell_area_km2
    out = disaggregate(data, row, col, full, target_per_src)
    return out.reshape(grid.shape)


def cell_areas_km2(transform: Affine, h: int, w: int, crs: CRS) -> np.ndarray:
    """Area of each cell of a north-up raster in km² (geodesic for lon/lat)."""
    if crs.is_geographic:
        geod = Geod(ellps="WGS84")
        lat_edges = transform.f + np.arange(h + 1) * transform.e
        dlon = abs(transform.a)
        # area of a band between two latitudes, per degree of longitude
        a = geod.a
        e2 = geod.es
        areas = np.empty(h)
        for i in range(h):
            lat1, lat2 = np.radians(sorted((lat_edges[i], lat_edges[i + 1])))
            areas[i] = _band_area(lat1, lat2, a, e2) * dlon / 360.0
        return np.repeat(areas[:, None] / 1e6, w, axis=1)
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return np.full((h, w), abs(transform.a * transform.e) * unit**2 / 1e6)


def _band_area(phi1: float, phi2: float, a: float, e2: float) -> float:
    """Area of a full 360° band of the ellipsoid between two latitudes (m²)."""
    e = np.sqrt(e2)

    def q(phi: float) -> float:
        s = np.sin(phi)
        return (1 - e2) * (s / (1 - e2 * s * s) - (1 / (2 * e)) * np.log((1 - e * s) / (1 + e * s)))

    return float(np.pi * a * a * abs(q(phi2) - q(phi1)))


def settlement_population(points: gpd.GeoDataFrame, grid: Grid) -> np.ndarray:
    """People per cell from settlement points with a ``population`` column."""
    check_crs(points, grid.crs, "settlements layer")
    pop = points["population"].to_numpy(float)
    r, c, inside = grid.rowcol(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    inside &= np.isfinite(pop) & (pop > 0)
    flat = np.bincount(r[inside] * grid.width + c[inside], weights=pop[inside], minlength=grid.size)
    return flat.reshape(grid.shape)


def site_proximity(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], radius_cells: float) -> np.ndarray:
    """True for cells within ``radius_cells`` (centre to centre) of any site cell."""
    mask = np.ones(shape, dtype=bool)
    if len(rows) == 0:
        return np.zeros(shape, dtype=bool)
    mask[rows, cols] = False
    return ndimage.distance_transform_edt(mask) <= radius_cells


def exposure_index(
    population: np.ndarray, cell_area_km2: float, reference: float, floor: float,
    near_site: np.ndarray | None = None, site_exposure: float = 0.8,
) -> np.ndarray:
    """Exposure 0..1 from people per cell and site proximity."""
    dens = np.clip(np.asarray(population, dtype=np.float64), 0, None) / cell_area_km2
    e = np.clip(np.log1p(dens) / np.log1p(reference), 0.0, 1.0)
    if near_site is not None:
        e = np.where(near_site, np.maximum(e, site_exposure), e)
    return floor + (1.0 - floor) * e


def proximity_of_counts(counts: np.ndarray, radius_cells: float) -> np.ndarray:
    """:func:`site_proximity` of a grid (or a window with a halo > radius) of site counts."""
    r, c = np.nonzero(counts)
    return site_proximity(r, c, counts.shape, radius_cells)


def exposure_of(
    population: np.ndarray, near_site: np.ndarray | None = None, *, cell_area_km2: float, reference: float,
    floor: float, site_exposure: float,
) -> np.ndarray:
    """:func:`exposure_index` with its settings by keyword (a kernel for the executors)."""
    return exposure_index(population, cell_area_km2, reference, floor, near_site, site_exposure)


def grid_population(
    grid: Grid, path: str | Path | None, units: Literal["count", "density"], towns: gpd.GeoDataFrame | None,
    sites: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """People per cell over the whole grid: from the raster if given, else from the towns'
    ``population``, else zeros; then the people of protected sites (``sites`` of kind
    ``critical`` with a population) that this misses (:func:`site_people_missed`). One task:
    GDAL's warper assigns cells differently for different output windows, so it is never
    cut into blocks."""
    if path is not None:
        out = population_on_grid(path, grid, units)
    elif towns is not None:
        out = settlement_population(towns, grid)
    else:
        out = np.zeros(grid.shape)
    s, cells = protected_sites_on_grid(sites, grid)
    if len(s) and s["population"].notna().any():
        out = out + site_people_missed(out, cells, s["population"].to_numpy(dtype=float)).reshape(grid.shape)
    return out


def site_people_missed(raster_people: np.ndarray, site_cells: np.ndarray, site_people: np.ndarray) -> np.ndarray:
    """People the raster misses at protected sites, per cell (flat).

    Pure. On each cell holding sites, ``max(0, sum of the sites' people - raster people)``:
    a camp of 15,000 on a cell the raster gives 200 adds 14,800; a town the raster already
    counts adds nothing. Sites without a population (NaN) add nothing.
    """
    flat = np.asarray(raster_people, dtype=np.float64).ravel()
    pop = np.nan_to_num(np.asarray(site_people, dtype=np.float64), nan=0.0)
    ok = pop > 0
    on_cell = np.bincount(np.asarray(site_cells)[ok], weights=pop[ok], minlength=flat.size)
    return np.maximum(on_cell - np.nan_to_num(flat), 0.0)


def site_weighted_extra(site_cells: np.ndarray, site_people: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``sum over a cell's sites of (weight - 1) * people`` (flat): what a site's kind adds to its
    people in the risk-weighted population (a camp of 1,000 at weight 2 adds 1,000). Pure."""
    pop = np.nan_to_num(np.asarray(site_people, dtype=np.float64), nan=0.0)
    extra = (np.asarray(weights, dtype=np.float64) - 1.0) * pop
    return np.bincount(np.asarray(site_cells), weights=extra, minlength=size)


def protected_sites_on_grid(sites: gpd.GeoDataFrame | None, grid: Grid) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The protected sites (``kind == "critical"``) inside the grid and their flat cells."""
    if sites is None or len(sites) == 0:
        return gpd.GeoDataFrame({"population": []}, geometry=gpd.GeoSeries([], crs=grid.crs)), np.array([], dtype=np.int64)
    check_crs(sites, grid.crs, "sites layer")
    s = sites[sites["kind"] == "critical"]
    r, c, ok = grid.rowcol(s.geometry.x.to_numpy(), s.geometry.y.to_numpy())
    return s[ok], (r[ok] * grid.width + c[ok]).astype(np.int64)


def site_people(sites: gpd.GeoDataFrame | None, grid: Grid, raster_people: np.ndarray,
                weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(people, weighted people) per cell (flat): the raster's plus what it misses at protected
    sites, then each site's people times its kind's weight (``site_kind_weights``; a kind not
    in the table weighs 1)."""
    s, cells = protected_sites_on_grid(sites, grid)
    base = np.nan_to_num(np.asarray(raster_people, dtype=np.float64).ravel())
    pop = s["population"].to_numpy(dtype=float) if len(s) else np.array([])
    people = base + site_people_missed(base, cells, pop)
    kinds = s["subtype"].astype(str).to_numpy() if "subtype" in s else np.array([""] * len(s))
    w = np.array([weights.get(k, 1.0) for k in kinds])
    return people, people + site_weighted_extra(cells, pop, w, grid.size)
