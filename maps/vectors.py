"""Vector layers made light for a web page: simplified, rounded, plain-JSON properties.

Geometries are simplified in a projected CRS (metres), so the tolerance means the
same on the ground everywhere, then rounded in lon/lat. Admin units form a coverage
(shared borders): they are simplified as one, so neighbours keep a common edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from .coords import WGS84, to_wgs84

__all__ = ["simplify_for_web", "feature_collection", "fmt_number", "fmt_people", "DEFAULT_TOLERANCE_M", "DEFAULT_DIGITS"]

DEFAULT_TOLERANCE_M = 500.0
"""Half a 1 km cell: finer than the surface the outlines are drawn over."""
DEFAULT_DIGITS = 4
"""Decimal degrees kept: 1e-4° is about 11 m, far below the simplification tolerance."""


def simplify_for_web(
    gdf: gpd.GeoDataFrame,
    *,
    metric_crs: CRS | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    digits: int = DEFAULT_DIGITS,
    coverage: bool = False,
) -> gpd.GeoDataFrame:
    """``gdf`` in WGS84 with geometries simplified by ``tolerance_m`` metres and rounded.

    ``metric_crs`` is the projected CRS to simplify in (the analysis grid's; a UTM zone
    estimated from the data when not given). With ``coverage`` the polygons are
    simplified together (``shapely.coverage_simplify``), keeping shared borders shared.
    Empty geometries are dropped.
    """
    out = to_wgs84(gdf)
    if len(out) == 0:
        return out
    if tolerance_m > 0:
        crs = metric_crs if metric_crs is not None and metric_crs.is_projected else out.estimate_utm_crs()
        proj = out.geometry.to_crs(crs)
        geoms = proj.to_numpy()
        if coverage and bool(shapely.coverage_is_valid(geoms)):
            simple = shapely.coverage_simplify(geoms, tolerance_m)
        else:
            simple = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
        out = out.set_geometry(gpd.GeoSeries(simple, index=out.index, crs=crs).to_crs(WGS84))
    rounded = shapely.transform(out.geometry.to_numpy(), lambda c: np.round(c, digits))
    out = out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=WGS84))
    return out[~out.geometry.is_empty & out.geometry.notna()]


def fmt_number(value: Any, digits: int = 0, unit: str = "") -> str:
    """A number for a tooltip: thousands separators, fixed decimals, '–' for missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–" if value is None else str(value)
    if not math.isfinite(v):
        return "–"
    s = f"{v:,.{digits}f}"
    return f"{s} {unit}".rstrip() if unit else s


def fmt_people(value: Any) -> str:
    """People as a whole number with thousands separators: 1173592.77 -> '1,173,593'."""
    return fmt_number(value, 0)


def feature_collection(
    gdf: gpd.GeoDataFrame,
    properties: Mapping[str, Callable[[Mapping[str, Any]], Any]],
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection whose properties are computed per row.

    ``properties`` maps each output property to a function of the row (a dict), so
    tooltips get formatted strings and nothing non-JSON (NaN, numpy types) leaks out.
    """
    features = []
    geom_col = gdf.geometry.name
    rows = gdf.drop(columns=geom_col).to_dict("records")
    for i, (row, geom) in enumerate(zip(rows, gdf.geometry, strict=True)):
        features.append({
            "type": "Feature",
            "id": i,
            "properties": {k: _plain(f(row)) for k, f in properties.items()},
            "geometry": shapely.geometry.mapping(geom),
        })
    return {"type": "FeatureCollection", "features": features}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
