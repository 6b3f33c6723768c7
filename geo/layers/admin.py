"""Administrative units and the population raster check."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    LayerError,
    MissingColumnError,
    MissingCRSError,
)
from ..readers import layer_source, read_vector
from .common import (
    ADMIN_COLUMNS,
    as_text,
    bad_values_error,
    columns_by_lower,
    finish_layer,
    has_columns,
    parse_integers,
    required_text,
)

__all__ = ["load_admin", "check_population_raster", "MAX_RASTER_PIXELS", "MAX_DENSITY_PER_KM2"]

# ============================================================================== admin

_NAME_COLUMNS = ("name", "shapename")
_ID_COLUMNS = ("admin_id", "shapeid")


def load_admin(
    path: str | Path,
    *,
    name_column: str | None = None,
    id_column: str | None = None,
    level: int | None = None,
    level_column: str | None = None,
    crs: Any = None,
    repair: bool = False,
) -> gpd.GeoDataFrame:
    """Administrative units.

    Columns: ``admin_id`` (str, unique), ``name`` (str), ``level`` (int), ``parent``
    (str or None), ``geometry`` (Polygon or MultiPolygon).

    * Natural Earth admin-1 (adm1_code, name, iso3): level 1, admin_id = adm1_code,
      parent = iso3.
    * Natural Earth admin-0 (ADM0_A3 or ISO_A3, and NAME): level 0, admin_id = ISO_A3
      when it is a three-letter code (NE writes ``-99`` for some units), else ADM0_A3
      (so South Sudan is ``SSD``, matching admin-1 ``iso3``); parent None.
    * Generic: the level is ``level``, or per row from ``level_column``, or detected
      from geoBoundaries ``shapeType`` (``ADM2``), OCHA COD-AB ``ADM<n>_PCODE`` or GADM
      ``GID_<n>`` columns (highest n); otherwise an error. Name column: ``name_column``,
      else ``name``, ``shapeName``, ``ADM<n>_EN``, ``NAME_<n>``; id column: ``id_column``,
      else ``admin_id``, ``shapeID``, ``ADM<n>_PCODE``, ``GID_<n>``; parent from
      ``parent``, ``ADM<n-1>_PCODE`` or ``GID_<n-1>`` when present, else None.

    ``name_column``/``id_column`` override the detected columns in every schema; a
    ``level`` that contradicts the detected one is an error. Duplicate admin_id values
    raise :class:`LayerError` naming them.
    """
    gdf = read_vector(path, crs=crs)
    source = layer_source(gdf)
    col = columns_by_lower(gdf)
    others = [c for c in gdf.columns if c != gdf.geometry.name]
    if level is not None and level_column is not None:
        raise ConfigError("pass level= or level_column=, not both")
    for given in (name_column, id_column, level_column):
        if given is not None and given not in gdf.columns:
            raise MissingColumnError(f"{source}: column {given!r} not found; columns present: {', '.join(others)}")
    detected, schema, id_col, name_col, parent = _admin_schema(gdf, col)
    levels, n = _admin_levels(gdf, source, detected, schema, level=level, level_column=level_column)
    if schema == "custom":
        id_col, name_col, parent = _custom_columns(gdf, col, n)
    name_col = _name_column(source, name_column or name_col, others)
    ids = _admin_ids(gdf, col, source, schema, id_column or id_col, others)
    data = {
        "admin_id": ids,
        "name": required_text(gdf[name_col], source=source, column=name_col),
        "level": pd.Series(levels, index=gdf.index, dtype="int64"),
        "parent": _parents(parent, gdf.index),
    }
    return finish_layer(
        gdf, data, ADMIN_COLUMNS, what="admin units", id_column="admin_id",
        allowed={"Polygon", "MultiPolygon"}, repair=repair, attrs={"schema": schema},
    )  # fmt: skip


def _admin_schema(
    gdf: gpd.GeoDataFrame, col: Mapping[str, str]
) -> tuple[int | None, str, str | None, str | None, pd.Series | None]:
    """Detected level, schema name, id and name columns and parents (Natural Earth; None for custom)."""
    if has_columns(gdf, ("adm1_code", "name", "iso3")):
        return 1, "natural_earth_admin1", col["adm1_code"], col["name"], as_text(gdf[col["iso3"]])
    if ("adm0_a3" in col or "iso_a3" in col) and "name" in col:
        return 0, "natural_earth_admin0", None, col["name"], None
    return _detect_level(gdf), "custom", None, None, None


def _admin_levels(
    gdf: gpd.GeoDataFrame, source: str, detected: int | None, schema: str, *,
    level: int | None, level_column: str | None,
) -> tuple[np.ndarray, int | None]:
    """Level of every row, and the file's single level (None when read per row from ``level_column``)."""
    if level_column is not None:
        return parse_integers(gdf[level_column], source=source, column=level_column, lo=0, hi=9), None
    n = detected if level is None else level
    if level is not None and detected is not None and level != detected:
        raise ConfigError(
            f"{source}: level={level} but the file looks like admin level {detected} ({schema}); "
            "drop level= or pass the right file"
        )
    if n is None:
        raise ConfigError(
            f"{source}: cannot tell the admin level of this file; pass level=1 (CLI: "
            "--admin-level 1) or level_column='your_column'"
        )
    return np.full(len(gdf), n, dtype="int64"), n


def _custom_columns(
    gdf: gpd.GeoDataFrame, col: Mapping[str, str], n: int | None
) -> tuple[str | None, str | None, pd.Series | None]:
    """Id and name columns and parents of a generic (geoBoundaries, COD-AB, GADM) file of level ``n``."""
    id_col = _first(col, [*_ID_COLUMNS, *(
        [f"adm{n}_pcode", f"gid_{n}"] if n is not None else [])])  # fmt: skip
    name_col = _first(col, [*_NAME_COLUMNS, *([f"adm{n}_en", f"name_{n}"] if n is not None else [])])
    parent_col = _first(col, ["parent", *([f"adm{n - 1}_pcode", f"gid_{n - 1}"] if n else [])])
    return id_col, name_col, (as_text(gdf[parent_col]) if parent_col is not None else None)


def _name_column(source: str, name_col: str | None, others: list[str]) -> str:
    if name_col is None:
        raise MissingColumnError(
            f"{source}: no name column found (looked for name, shapeName, ADM<n>_EN, NAME_<n>); "
            f"columns present: {', '.join(others)}. Pass name_column='your_column' (CLI: --admin-name-column)"
        )
    return name_col


def _admin_ids(
    gdf: gpd.GeoDataFrame, col: Mapping[str, str], source: str, schema: str, id_col: str | None, others: list[str]
) -> pd.Series:
    if id_col is None and schema == "natural_earth_admin0":
        return _ne_admin0_ids(gdf, col)
    if id_col is None:
        raise MissingColumnError(
            f"{source}: no id column found (looked for admin_id, shapeID, ADM<n>_PCODE, GID_<n>); "
            f"columns present: {', '.join(others)}. Pass id_column='your_column' (CLI: --admin-id-column)"
        )
    return required_text(gdf[id_col], source=source, column=id_col)


def _parents(parent: pd.Series | None, index: pd.Index) -> pd.Series:
    return pd.Series(
        [None if parent is None or parent[i] == "" else parent[i] for i in index],
        index=index, dtype=object,
    )  # fmt: skip


def _first(col: Mapping[str, str], names: Sequence[str]) -> str | None:
    return next((col[n] for n in names if n in col), None)


def _detect_level(gdf: pd.DataFrame) -> int | None:
    col = columns_by_lower(gdf)
    if "shapetype" in col:
        values = set(as_text(gdf[col["shapetype"]]).str.upper())
        if len(values) == 1 and re.fullmatch(r"ADM\d", next(iter(values))):
            return int(next(iter(values))[3])
    for pattern in (r"adm(\d)_pcode", r"gid_(\d)"):
        found = [int(m.group(1)) for c in col if (m := re.fullmatch(pattern, c))]
        if found:
            return max(found)
    return None


def _ne_admin0_ids(gdf: pd.DataFrame, col: Mapping[str, str]) -> pd.Series:
    source = layer_source(gdf)
    iso = as_text(gdf[col["iso_a3"]]) if "iso_a3" in col else pd.Series("", index=gdf.index, dtype=object)
    adm = as_text(gdf[col["adm0_a3"]]) if "adm0_a3" in col else pd.Series("", index=gdf.index, dtype=object)
    good_iso = np.array([re.fullmatch(r"[A-Z]{3}", v) is not None for v in iso], dtype=bool)
    ids = iso.where(good_iso, adm)
    empty = (ids == "").to_numpy()
    if empty.any():
        raise bad_values_error(LayerError, source, "ISO_A3/ADM0_A3", ids, empty, "a three-letter code")
    return ids


# ========================================================================= population


MAX_RASTER_PIXELS = 400_000_000
"""The largest population raster (width x height): the service's ``VACUUM_MAX_RASTER_PIXELS``
default; 20000 x 20000 float32 is 1.5 GiB to read."""

MAX_DENSITY_PER_KM2 = 1_000_000.0
"""More people per km² than this anywhere is not a population (the densest city districts
hold ~100,000): an undeclared nodata value such as 3.4e38, or the wrong units."""


def check_population_raster(
    path: str | Path, units: str | None = None, *, max_pixels: int | None = MAX_RASTER_PIXELS
) -> list[str]:
    """Check that ``path`` is a single-band GeoTIFF with a CRS, readable by rasterio, of at
    most ``max_pixels`` pixels, whose values are a plausible population in ``units``.

    Raises :class:`LayerError` naming the path and the fix, or :class:`MissingCRSError`
    when the raster has no CRS. Refused: no positive value (all negative, NaN or nodata),
    a cell over :data:`MAX_DENSITY_PER_KM2` people per km² (with ``units``). Returned as
    warnings: values that look like the other units (a ``count`` raster of large cells
    averaging under 0.5 people per km², or a ``density`` one whose median populated cell
    is over 20,000 per km²), with the total each reading gives.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise LayerError(f"{path}: no such file (FileNotFoundError); check the path")
    try:
        with warnings.catch_warnings():
            # handled below: a raster without CRS raises MissingCRSError
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                driver, count, crs, width, height = src.driver, src.count, src.crs, src.width, src.height
    except RasterioIOError as exc:
        raise LayerError(
            f"{path}: rasterio cannot read this file ({exc}); convert it to a GeoTIFF "
            "(gdal_translate -of GTiff in.ext out.tif)"
        ) from exc
    if driver != "GTiff":
        raise LayerError(
            f"{path}: population raster must be a GeoTIFF, this is {driver}; convert it with "
            "gdal_translate -of GTiff"
        )
    if count != 1:
        raise LayerError(
            f"{path}: population raster must have one band, this has {count}; extract the "
            "population band (gdal_translate -b N in.tif out.tif)"
        )
    if crs is None:
        raise MissingCRSError(
            f"{path}: the population raster has no CRS; assign one (gdal_edit.py -a_srs "
            "EPSG:4326 file.tif) with the CRS of its grid"
        )
    if max_pixels is not None and width * height > max_pixels:
        raise LayerError(
            f"{path}: the population raster has {width} x {height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,} (the service's VACUUM_MAX_RASTER_PIXELS); clip it to the area of interest "
            "(gdalwarp -te W S E N in.tif out.tif) or aggregate it (gdalwarp -tr ...)")
    return _population_plausible(path, units)


_SAMPLE = 1000  # plausibility is judged on at most _SAMPLE x _SAMPLE cells (a decimated read)


def _population_plausible(path: Path, units: str | None) -> list[str]:
    import rasterio
    from affine import Affine
    from pyproj import CRS

    from ..exposure import cell_areas_km2

    with rasterio.open(path) as src:
        h, w = min(src.height, _SAMPLE), min(src.width, _SAMPLE)
        data = src.read(1, out_shape=(h, w), masked=True).astype(np.float64).filled(np.nan)
        scale = (src.height / h) * (src.width / w)
        st = src.transform
        t = Affine(st.a * src.width / w, st.b, st.c, st.d, st.e * src.height / h, st.f)
        area = np.broadcast_to(cell_areas_km2(t, h, w, CRS.from_user_input(src.crs)), (h, w)) / scale  # km² of one source cell, per sampled cell
        nodata = src.nodata
    finite = np.isfinite(data)
    positive = finite & (data > 0)
    if not positive.any():
        what = "NaN or nodata" if not finite.any() else "zero or negative" if (data[finite] <= 0).all() else "?"
        raise LayerError(
            f"{path}: the population raster has no positive value (all {what}): it holds no population; "
            "check the file and its nodata value (gdalinfo -stats)")
    per_km2 = data / area if units == "count" else data
    top = float(np.nanmax(np.where(positive, per_km2, np.nan)))
    if units in ("count", "density") and top > MAX_DENSITY_PER_KM2:
        raise LayerError(
            f"{path}: a cell holds {top:.3g} people per km² (read as {units}), over {MAX_DENSITY_PER_KM2:,.0f}: "
            f"not a population; an undeclared nodata value (the file declares nodata={nodata})? "
            "Declare it (gdal_edit.py -a_nodata VALUE file.tif), or check population_units")
    if units not in ("count", "density"):
        return []
    vals, cells = data[positive], area[positive]
    as_count = float(vals.sum() * scale)
    as_density = float((vals * cells).sum() * scale)
    mean_density_if_count = as_count / float(cells.sum() * scale)
    median_cell_km2 = float(np.median(cells))
    if units == "count" and median_cell_km2 > 1.0 and mean_density_if_count < 0.5:
        return [f"{path}: read as counts (people per cell) the raster holds {as_count:,.0f} people, "
                f"{mean_density_if_count:.2g} per km² over its populated cells of ~{median_cell_km2:,.0f} km²: "
                f"implausibly few. If the values are people per km², pass population_units='density' "
                f"(CLI: --population-units density; {as_density:,.0f} people)"]
    if units == "density" and float(np.median(vals)) > 20_000:
        return [f"{path}: read as density the median populated cell holds {np.median(vals):,.0f} people per km², "
                f"{as_density:,.0f} in all: implausibly many. If the values are people per cell, pass "
                f"population_units='count' (CLI: --population-units count; {as_count:,.0f} people)"]
    return []
