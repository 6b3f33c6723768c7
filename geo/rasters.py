"""Surfaces on disk: Cloud-Optimized GeoTIFF out, (array, Grid) back in.

A surface is a 2-D array on a :class:`~geo.grid.Grid`; NaN marks "no value"
in memory and the nodata value marks it on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import CRS
from rasterio.dtypes import in_dtype_range
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy

from .errors import ConfigError, GridError, MissingCRSError
from .export import atomic_path
from .grid import Grid

__all__ = ["write_cog", "read_surface", "COG_OPTIONS", "BackgroundWriter"]

COG_OPTIONS: dict[str, str] = {
    "COMPRESS": "DEFLATE",
    "BLOCKSIZE": "512",
    "OVERVIEWS": "AUTO",  # halve until the smaller side fits in one block
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "RESAMPLING": "AVERAGE",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",  # compress tiles on every core
    # horizontal differencing for every dtype, floats too (lossless; GDAL, so QGIS, reads it):
    # on 22 float surfaces of the CAR and DRC analyses and scenarios at 1 km, 6 % smaller files
    # than the floating-point predictor (3) for about 25 % less CPU (bench/RESULTS.md, issue 14)
    "PREDICTOR": "2",
}
"""Creation options of GDAL's COG driver."""


def write_cog(
    path: str | os.PathLike[str],
    array: np.ndarray,
    grid: Grid,
    *,
    nodata: float = -9999.0,
    dtype: str = "float32",
    description: str | None = None,
    unit: str | None = None,
    tags: dict[str, Any] | None = None,
    threads: int | None = None,
) -> Path:
    """Write one band as a Cloud-Optimized GeoTIFF; return the path.

    GDAL's COG driver (:data:`COG_OPTIONS`): DEFLATE with horizontal differencing,
    512x512 tiles, internal overviews averaged
    (none when the grid fits in one tile). NaN in ``array`` is written as
    ``nodata``; ±inf is kept as is. ``description`` becomes the band
    description, ``unit`` the band's unit type (GDAL ``GetUnitType``: QGIS shows it) and
    ``tags`` dataset metadata (values as strings). ``threads``: GDAL's compression threads
    (default every core, :data:`COG_OPTIONS`); 1 where several COGs are written at once
    (:class:`BackgroundWriter`: its threads are the parallelism).

    The file is written under a temporary name in the same folder and moved
    into place, so a crash never leaves a half-written COG. ``array`` is not
    modified.
    """
    arr = np.asarray(array)
    if arr.shape != grid.shape:
        raise GridError(
            f"array shape {arr.shape} does not match grid shape {grid.shape} (rows, cols); "
            "compute the surface on this grid"
        )
    dt = np.dtype(dtype)
    if not in_dtype_range(nodata, dt.name):
        raise ConfigError(f"nodata {nodata} cannot be stored as {dt.name}; choose another nodata")
    data = np.where(np.isnan(arr), nodata, arr) if arr.dtype.kind in "fc" else arr
    data = data.astype(dt, copy=False)
    options = dict(COG_OPTIONS, **({"NUM_THREADS": str(int(threads))} if threads else {}))

    profile = grid.profile(dtype=dt.name, nodata=nodata)
    with MemoryFile() as mem:
        with mem.open(**profile) as src:
            src.write(data, 1)
            if description is not None:
                src.set_band_description(1, description)
            if unit is not None:
                src.set_band_unit(1, unit)
            if tags:
                src.update_tags(**{str(k): str(v) for k, v in tags.items()})
        with mem.open() as src, atomic_path(path) as tmp:
            rio_copy(src, tmp, driver="COG", **options)
    return Path(path)


def read_surface(path: str | os.PathLike[str]) -> tuple[np.ndarray, Grid]:
    """Band 1 of a raster as float32 with NaN where nodata, and its :class:`Grid`.

    The raster must have a CRS and a north-up transform with square cells.
    """
    with rasterio.open(path) as ds:
        if ds.crs is None:
            raise MissingCRSError(f"raster {os.fspath(path)} has no CRS; assign one with gdal_edit -a_srs")
        grid = Grid(CRS.from_wkt(ds.crs.to_wkt()), ds.transform, ds.width, ds.height)
        array = ds.read(1, out_dtype="float32")
        nodata = ds.nodata
    if nodata is not None and not np.isnan(nodata):
        array[array == np.float32(nodata)] = np.nan
    return array, grid


class BackgroundWriter:
    """File writes on worker threads, so that the caller computes the next product meanwhile:
    GDAL releases the GIL while it builds overviews and compresses a COG.

    ``with BackgroundWriter() as bw: bw.submit(write_cog, path, array, grid)``; leaving the
    block waits for every write and raises the first one's error, if any. The arrays handed to
    a write must not change until it is done. ``workers`` defaults to the number of cores
    (at most 4); ``waited_s`` is how long leaving the block waited.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or max(1, min(os.cpu_count() or 1, 4))
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self.waited_s = 0.0

    def __enter__(self) -> BackgroundWriter:
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vacuum-write")
        return self

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._pool is None:
            raise RuntimeError("BackgroundWriter.submit outside its with block")
        fut = self._pool.submit(fn, *args, **kwargs)
        self._futures.append(fut)
        return fut

    def __exit__(self, exc_type, exc, tb) -> None:
        t0 = time.perf_counter()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.waited_s = time.perf_counter() - t0
        if exc_type is None:
            for fut in self._futures:
                fut.result()  # the first failed write raises here
