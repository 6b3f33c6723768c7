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

__all__ = ["load_admin", "check_population_raster"]

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


def check_population_raster(path: str | Path) -> None:
    """Check that ``path`` is a single-band GeoTIFF with a CRS, readable by rasterio.

    Raises :class:`LayerError` naming the path and the fix, or :class:`MissingCRSError`
    when the raster has no CRS.
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
                driver, count, crs = src.driver, src.count, src.crs
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
