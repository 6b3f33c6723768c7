"""Viewer-safe products: what may be shown to someone who must not learn base positions.

``gap = 100 * need * (1 - coverage)`` and ``need`` is a function of the threat and
exposure surfaces, which viewers see at full resolution; so a full-resolution gap gives
``coverage`` back cell by cell, and coverage plateaus sit on the bases. The public gap is
the gap averaged over square blocks of :data:`BLOCK_KM` (block-constant on the analysis
grid); every other public product is a function of it and of public inputs only:

* ``public/gap.tif``            the block gap (COG, analysis grid, NaN outside the area)
* ``public/zones.geojson``      the blocks a vacuum zone touches, with the zone area and
                                population inside each block (no base, no travel time,
                                no zone outline)
* ``public/admin_summary.geojson`` / ``.csv``  the admin table recomputed from the block gap
* ``public/public.json``        the rule and its block size

Why 150 km: ``tests/test_viewer_inference.py`` attacks the block gap (need-vs-gap
residuals, minima, plateau centroids, zoom differences). On the demo (20 bases, chance
0.2 found by 20 random points, 95th percentile 1) the best method finds 13 bases within
10 km on the full gap, 12 on 25 km blocks (coverage is smooth at that scale, so block
means are centroided back), 6 on 50 km, 3 on 75 km and 1 on 100 km (the kernel-based gap);
on the forecast-based gap 100 km blocks let gap minima find 3 (2 from need alone), 150 km 0.
See ``docs/service.md``.

The array functions are pure; :func:`write_public` reads an analysis folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from .errors import GridError

__all__ = ["PUBLIC_RASTERS", "PUBLIC_VECTORS", "public_summary", "export_public", "BLOCK_KM", "PUBLIC_DIR", "block_cells", "block_mean", "public_gap", "block_sum", "block_ids", "public_zone_blocks",
           "write_public", "ensure_public"]

BLOCK_KM = 150.0
"""Side of the blocks the public gap is averaged over (km)."""
MIN_BLOCK_KM = 25.0
PUBLIC_DIR = "public"
PUBLIC_RASTERS = {"gap_public": "public/gap.tif", "risk": "risk.tif", "threat": "threat.tif",
                  "exposure": "exposure.tif", "population": "population.tif"}
"""Public export rasters: product -> file in the analysis folder (the forecast risk, threat,
exposure and population hold no force posture and are viewer tiles already)."""
PUBLIC_VECTORS = {"zones": "zones.geojson", "admin_summary": "admin_summary.geojson"}
"""Public export vectors: product -> file in ``public/``."""


def block_cells(resolution_m: float, block_km: float = BLOCK_KM) -> int:
    """Cells per block side: ``block_km`` in cells, rounded up (at least 25 km)."""
    if block_km < MIN_BLOCK_KM:
        raise GridError(f"public blocks must be at least {MIN_BLOCK_KM:g} km, got {block_km:g}")
    if not resolution_m > 0:
        raise GridError(f"resolution must be > 0 m, got {resolution_m}")
    return max(1, math.ceil(block_km * 1000.0 / resolution_m - 1e-9))


def _blocks(values: np.ndarray, b: int) -> np.ndarray:
    """(nby, b, nbx, b) view of ``values`` padded with NaN to whole blocks."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or b < 1:
        raise GridError(f"need a 2-D array and a block of >= 1 cell, got shape {v.shape}, block {b}")
    h, w = v.shape
    nby, nbx = -(-h // b), -(-w // b)
    pad = np.full((nby * b, nbx * b), np.nan)
    pad[:h, :w] = v
    return pad.reshape(nby, b, nbx, b)


def block_mean(values: np.ndarray, b: int, *, per_block: bool = False) -> np.ndarray:
    """Mean of the finite cells of each ``b`` x ``b`` block (blocks start at row 0, col 0).

    Returned block-constant on the input's shape, NaN where the input is NaN (so the area's
    outline is kept); ``per_block=True`` gives the (nby, nbx) block values instead.
    """
    v = np.asarray(values, dtype=np.float64)
    blk = _blocks(v, b)
    fin = np.isfinite(blk)
    n = fin.sum(axis=(1, 3))
    s = np.where(fin, blk, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    if per_block:
        return m
    out = np.repeat(np.repeat(m, b, axis=0), b, axis=1)[: v.shape[0], : v.shape[1]]
    return np.where(np.isfinite(v), out, np.nan)


def public_gap(gap: np.ndarray, b: int, *, min_fill: float = 0.5) -> np.ndarray:
    """The viewers' gap: the mean over each ``b`` x ``b`` block, block-constant, NaN outside.

    A block less than ``min_fill`` inside the area (along the area's edge) would average
    a thin strip, which locates a base near a border far better than a whole block does:
    such a block takes the mean over the inside cells of the 3 x 3 blocks around it.
    """
    g = np.asarray(gap, dtype=np.float64)
    blk = _blocks(g, b)
    fin = np.isfinite(blk)
    n = fin.sum(axis=(1, 3)).astype(np.float64)
    s = np.where(fin, blk, 0.0).sum(axis=(1, 3))
    n3 = ndimage_sum3(n)
    s3 = ndimage_sum3(s)
    small = n < min_fill * b * b
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(small, s3 / np.maximum(n3, 1), s / np.maximum(n, 1))
    m = np.where(n > 0, m, np.nan)
    out = np.repeat(np.repeat(m, b, axis=0), b, axis=1)[: g.shape[0], : g.shape[1]]
    return np.where(np.isfinite(g), out, np.nan)


def ndimage_sum3(a: np.ndarray) -> np.ndarray:
    """Sum over each element's 3 x 3 neighbourhood (zeros beyond the edge)."""
    p = np.pad(np.asarray(a, dtype=np.float64), 1)
    out = np.zeros(a.shape)
    for i in range(3):
        for j in range(3):
            out += p[i:i + a.shape[0], j:j + a.shape[1]]
    return out


def block_sum(values: np.ndarray, b: int) -> np.ndarray:
    """(nby, nbx) sums of the finite cells of each block (0 for a block of none)."""
    blk = _blocks(values, b)
    return np.where(np.isfinite(blk), blk, 0.0).sum(axis=(1, 3))


def block_ids(shape: tuple[int, int], b: int) -> np.ndarray:
    """Block number of each cell (row-major over blocks)."""
    h, w = shape
    nbx = -(-w // b)
    r = np.arange(h)[:, None] // b
    c = np.arange(w)[None, :] // b
    return (r * nbx + c).astype(np.int64)


def public_zone_blocks(zone_mask: np.ndarray, public_gap: np.ndarray, population: np.ndarray | None,
                       b: int, cell_area_km2: float) -> list[dict]:
    """The blocks a vacuum zone touches: block row/col, zone area and population in the block, block gap.

    Only block totals: the zone's outline inside the block (which follows a coverage
    contour) is not given.
    """
    z = np.asarray(zone_mask, dtype=bool)
    cells = block_sum(z.astype(np.float64), b)
    pop = block_sum(np.where(z, np.nan_to_num(np.asarray(population, dtype=np.float64)), 0.0), b) \
        if population is not None else np.zeros_like(cells)
    gap_b = block_mean(public_gap, b, per_block=True)
    out = []
    for i, j in zip(*np.nonzero(cells > 0), strict=True):
        out.append({"block_row": int(i), "block_col": int(j), "zone_area_km2": round(float(cells[i, j]) * cell_area_km2, 1),
                    "zone_population": round(float(pop[i, j])), "block_gap": round(float(gap_b[i, j]), 2)})
    return out


# ----------------------------------------------------------------------------- folders


def write_public(folder: str | os.PathLike[str], block_km: float = BLOCK_KM) -> Path:
    """Write ``public/`` of an analysis folder from its products (atomically); returns it."""
    import geopandas as gpd
    import shapely
    from rasterio import features

    from .export import write_csv, write_geojson, write_json
    from .rasters import read_surface, write_cog
    from .summaries import DEFAULT_BREAKS, admin_summary, class_index

    folder = Path(folder)
    gap, grid = read_surface(folder / "gap.tif")
    b = block_cells(grid.resolution, block_km)
    pop = read_surface(folder / "population.tif")[0] if (folder / "population.tif").is_file() else None
    params_file = folder / "model" / "params.json"
    breaks = tuple(json.loads(params_file.read_text())["params"].get("class_breaks", DEFAULT_BREAKS)) \
        if params_file.is_file() else DEFAULT_BREAKS
    pub = public_gap(gap, b).astype(np.float32)

    tmp = folder / f".public-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_cog(tmp / "gap.tif", pub, grid, description=f"coverage-gap score 0..100, mean over {block_km:g} km blocks")
        zone_mask = np.zeros(grid.shape, dtype=bool)
        if (folder / "zones.geojson").is_file():
            zones = gpd.read_file(folder / "zones.geojson")
            if len(zones):
                zones = zones.set_crs(4326, allow_override=True).to_crs(grid.crs)
                zone_mask = features.rasterize(((g, 1) for g in zones.geometry), out_shape=grid.shape,
                                               transform=grid.transform, fill=0, dtype="uint8").astype(bool)
        rows = public_zone_blocks(zone_mask, pub, pop, b, grid.cell_area_km2)
        t = grid.transform
        polys = [shapely.box(t.c + r["block_col"] * b * t.a, t.f + min((r["block_row"] + 1) * b, grid.height) * t.e,
                             t.c + min((r["block_col"] + 1) * b, grid.width) * t.a, t.f + r["block_row"] * b * t.e)
                 for r in rows]
        labels = ("low", "moderate", "elevated", "high", "critical")
        for r in rows:
            r["gap_class"] = labels[int(class_index(np.array([r["block_gap"]]), breaks)[0])]
        zg = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(polys, crs=grid.crs), crs=grid.crs) if rows else \
            gpd.GeoDataFrame({"block_row": []}, geometry=gpd.GeoSeries([], crs=grid.crs), crs=grid.crs)
        write_geojson(zg.to_crs(4326), tmp / "zones.geojson")
        if (folder / "admin_summary.geojson").is_file():
            adm = gpd.read_file(folder / "admin_summary.geojson").set_crs(4326, allow_override=True)
            keep = [c for c in ("admin_id", "name", "level", "parent") if c in adm.columns]
            tab = admin_summary(adm[[*keep, "geometry"]].to_crs(grid.crs), grid, pub, pop, breaks=breaks)
            gdf = adm[[*keep, "geometry"]].merge(tab.drop(columns=[c for c in ("name", "level", "parent")
                                                                    if c in tab.columns]), on="admin_id")
            write_geojson(gpd.GeoDataFrame(gdf, geometry="geometry", crs=4326), tmp / "admin_summary.geojson")
            write_csv(tab, tmp / "admin_summary.csv")
        write_json({"rule": "gap averaged over square blocks; zones as the blocks they touch; admin table from the "
                            "block gap; no base, coverage or travel time", "block_km": block_km, "block_cells": b,
                    "resolution_m": grid.resolution}, tmp / "public.json")
        target = folder / PUBLIC_DIR
        if target.is_dir():  # a re-run into the same folder: the old one aside, the new one in, the old one gone
            aside = folder / f".public-old-{uuid.uuid4().hex[:8]}"
            os.replace(target, aside)
            os.replace(tmp, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / PUBLIC_DIR


def ensure_public(folder: str | os.PathLike[str]) -> Path:
    """``public/`` of a folder, written first if an older analysis lacks it."""
    p = Path(folder) / PUBLIC_DIR
    if (p / "public.json").is_file():
        return p
    try:
        return write_public(folder)
    except OSError:
        if (p / "public.json").is_file():  # written meanwhile by another request
            return p
        raise


def public_summary(summary: dict) -> dict:
    """``summary.json`` for viewers: area-wide totals only (bases outside the grid as a
    count, no per-force reach figures, of the provenance only the code version)."""
    out = json.loads(json.dumps(summary))
    layers = out.get("layers", {})
    if "bases_outside_grid" in layers:
        layers["bases_outside_grid"] = len(layers["bases_outside_grid"] or [])
    layers.pop("mean_cells_reached_per_force", None)
    if "provenance" in out:  # file names, hashes and map numbers could confirm a guessed bases file
        out["provenance"] = {"code_version": out["provenance"].get("code_version")}
    return out


def export_public(folder: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the public export of an analysis folder into ``out_dir``: the vectors as GeoJSON
    and GeoPackage (and ``public.gpkg`` with both), the admin table as CSV, the rasters as
    COGs (copies), the viewer summary. Nothing else of the folder is read into it."""
    import geopandas as gpd

    from .export import write_gpkg_layer
    from .export import write_json as _write_json

    folder, out = Path(folder), Path(out_dir)
    pub = ensure_public(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    gpkg = out / "public.gpkg"
    gpkg.unlink(missing_ok=True)
    for name, f in PUBLIC_VECTORS.items():
        if (pub / f).is_file():
            shutil.copyfile(pub / f, out / f"{name}.geojson")
            gdf = gpd.read_file(pub / f)
            gdf = gdf if gdf.crs is not None else gdf.set_crs(4326)
            written += [out / f"{name}.geojson", write_gpkg_layer(gdf, out / f"{name}.gpkg", name)]
            write_gpkg_layer(gdf, gpkg, name)
    if gpkg.is_file():
        written.append(gpkg)
    if (pub / "admin_summary.csv").is_file():
        shutil.copyfile(pub / "admin_summary.csv", out / "admin_summary.csv")
        written.append(out / "admin_summary.csv")
    for name, f in PUBLIC_RASTERS.items():
        if (folder / f).is_file():
            shutil.copyfile(folder / f, out / f"{name}.tif")
            written.append(out / f"{name}.tif")
    if (folder / "summary.json").is_file():
        summary = public_summary(json.loads((folder / "summary.json").read_text(encoding="utf-8")))
        written.append(_write_json(summary, out / "summary.json"))
    return written
