"""Rivers and lakes: water that forces cross only where a road does (bridges, ferries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd

from ..errors import ConfigError
from ..readers import layer_source, read_vector
from .common import as_text, columns_by_lower, finish_layer, row_numbers

__all__ = ["WATER_COLUMNS", "load_water"]

WATER_COLUMNS = ("water_id", "name", "kind", "geometry")
_KINDS = ("river", "lake")


def load_water(path: str | Path, *, kind: Literal["river", "lake"] = "river", crs: Any = None,
               repair: bool = False) -> gpd.GeoDataFrame:
    """Rivers (lines or polygons) or lakes (polygons), e.g. Natural Earth 10m rivers and
    lake centerlines, or lakes.

    Columns: ``water_id`` (``kind:`` + the 1-based feature number), ``name`` (the file's
    ``name`` column, else ""), ``kind`` (``river`` or ``lake``), ``geometry``. Rivers may
    be LineString, MultiLineString, Polygon or MultiPolygon; lakes Polygon or MultiPolygon.
    """
    if kind not in _KINDS:
        raise ConfigError(f"kind={kind!r}; must be one of {', '.join(_KINDS)}")
    gdf = read_vector(path, crs=crs)
    col = columns_by_lower(gdf)
    names = as_text(gdf[col["name"]]) if "name" in col else pd.Series("", index=gdf.index, dtype=object)
    ids = pd.Series([f"{kind}:{r}" for r in row_numbers(gdf.index)], index=gdf.index, dtype=object)
    allowed = {"Polygon", "MultiPolygon"} | ({"LineString", "MultiLineString"} if kind == "river" else set())
    return finish_layer(
        gdf, {"water_id": ids, "name": names, "kind": pd.Series(kind, index=gdf.index, dtype=object)},
        WATER_COLUMNS, what=f"{kind}s ({layer_source(gdf)})", id_column="water_id", allowed=allowed,
        repair=repair, attrs={"schema": "water"},
    )  # fmt: skip
