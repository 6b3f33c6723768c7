"""Writers for the vector and table products: GeoJSON, GeoPackage, CSV, JSON.

Every writer is atomic: it writes a hidden temporary file in the destination
folder and moves it into place with :func:`os.replace`, so a crash or an error
never leaves a half-written file under the final name (an older file of that
name stays as it was).

Vector products leave the engine in WGS84 lon/lat (EPSG:4326), the CRS GIS users
and web maps expect; the analysis CRS stays inside the engine and its rasters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from .errors import MissingCRSError

__all__ = [
    "atomic_path",
    "to_wgs84",
    "write_geojson",
    "write_gpkg_layer",
    "write_csv",
    "write_json",
    "json_safe",
]

WGS84 = CRS.from_epsg(4326)
GEOJSON_PRECISION = 6
"""Decimal places of lon/lat in GeoJSON: 1e-6 degree is about 0.1 m."""
CSV_FLOAT_FORMAT = "%.10g"
"""Ten significant digits: exact for counts and areas, no 0.30000000000000004 noise."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary name keeps the final suffix (GDAL drivers look at it) and is
    not created here, so drivers that refuse to overwrite a file work. With
    ``copy_existing`` an existing ``path`` is copied to the temporary name first
    (for formats updated in place, such as a GeoPackage getting one more layer).
    On any error the temporary file is removed and the error re-raised.
    """
    final = Path(path)
    tmp = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:12]}{final.suffix}")
    try:
        if copy_existing and final.exists():
            shutil.copy2(final, tmp)
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def to_wgs84(gdf: gpd.GeoDataFrame, what: str = "layer") -> gpd.GeoDataFrame:
    """``gdf`` reprojected to EPSG:4326; raise if it has no CRS to reproject from."""
    if gdf.crs is None:
        raise MissingCRSError(
            f"{what} has no CRS, so it cannot be written as lon/lat; set one with .set_crs(...)"
        )
    if CRS.from_user_input(gdf.crs).equals(WGS84):
        return gdf.copy()
    return gdf.to_crs(WGS84)


def _nulls_for_non_finite(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Float columns as nullable ``Float64`` so NaN and ±inf are written as null.

    GDAL skips a non-finite property with a warning; JSON has no NaN or Infinity.
    """
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.ArrowDtype):
            values = s.to_numpy(dtype="float64", na_value=np.nan)
            values = np.where(np.isfinite(values), values, np.nan)
            out[col] = pd.array(values, dtype="Float64")  # NaN -> <NA>
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON in WGS84 lon/lat; return the path.

    The layer is reprojected to EPSG:4326; GDAL's GeoJSON driver runs with
    ``RFC7946=YES`` (no ``crs`` member, counter-clockwise outer rings, geometries
    cut at the antimeridian) and 6 decimal places. NaN and ±inf properties are
    written as ``null``. The index is not written: keep ids in columns.
    Raises :class:`MissingCRSError` if ``gdf`` has no CRS.
    """
    out = _nulls_for_non_finite(to_wgs84(gdf))
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            out,
            tmp,
            driver="GeoJSON",
            layer=Path(path).stem,
            layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": GEOJSON_PRECISION},
        )
    return Path(path)


def write_gpkg_layer(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], layer: str) -> Path:
    """Add ``layer`` to the GeoPackage at ``path``, replacing a layer of that name.

    Other layers in the file are kept, so calling this once per product builds a
    multi-layer GeoPackage. Geometries are written in EPSG:4326 (lon/lat), like
    the GeoJSON, so every layer opens in a GIS without a reprojection prompt;
    areas and distances in the attribute columns were computed in the
    equal-area analysis CRS before export. The existing file is copied, the
    layer written into the copy and the copy moved into place, so a failure
    leaves the old file whole (two processes writing the same file at once
    would lose one of the layers: write one GeoPackage per job).
    Raises :class:`MissingCRSError` if ``gdf`` has no CRS.
    """
    if not layer or not isinstance(layer, str):
        raise ValueError(f"layer name must be a non-empty string, got {layer!r}")
    out = _nulls_for_non_finite(to_wgs84(gdf))
    with atomic_path(path, copy_existing=True) as tmp:
        pyogrio.write_dataframe(out, tmp, driver="GPKG", layer=layer)
    return Path(path)


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table as UTF-8 CSV without its geometry column(s); return the path.

    The index is not written (keep ids in columns). Floats carry ten significant
    digits; missing values are empty fields.
    """
    table = pd.DataFrame(df)
    geom_cols = [c for c in table.columns if isinstance(table[c].dtype, gpd.array.GeometryDtype)]
    table = table.drop(columns=geom_cols)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n", encoding="utf-8")
    return Path(path)


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN/±inf as None, numpy scalars and arrays as Python values,
    dates as ISO 8601 strings, paths as strings; dict keys as strings.

    Raises ``TypeError`` for anything else JSON cannot hold.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (dt.datetime, dt.date)):  # pd.Timestamp is a datetime
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        return json_safe(pd.Timestamp(obj)) if not np.isnat(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as UTF-8 JSON with 2-space indent; NaN/inf become null.

    See :func:`json_safe` for the conversions. Returns the path.
    """
    text = json.dumps(json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)
