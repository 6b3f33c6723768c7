"""The one place where coordinates become Folium's ``(lat, lon)``.

Everything the engine writes is lon/lat (RFC 7946) or a projected CRS with x first;
Leaflet and Folium want latitude first. Builders never index a coordinate pair
themselves: they call these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geo.errors import CRSMismatchError, MissingCRSError
from geo.types import BBox

__all__ = [
    "WGS84",
    "WEB_MERCATOR",
    "latlon",
    "point_latlon",
    "points_latlon",
    "bounds_latlon",
    "center_latlon",
    "to_wgs84",
    "lonlat_to_mercator",
    "MAX_MERCATOR_LAT",
]

WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = CRS.from_epsg(3857)
MAX_MERCATOR_LAT = 85.0511287798066
"""Web Mercator stops here; a lon/lat box is clipped to it before projecting."""

_TO_MERCATOR = Transformer.from_crs(WGS84, WEB_MERCATOR, always_xy=True)


def latlon(lon: float, lat: float) -> tuple[float, float]:
    """``(lat, lon)`` from a lon/lat pair, as plain floats."""
    return (float(lat), float(lon))


def point_latlon(geom: BaseGeometry) -> tuple[float, float]:
    """``(lat, lon)`` of a WGS84 point (or of a geometry's representative point)."""
    if geom.geom_type != "Point":
        geom = geom.representative_point()
    return latlon(geom.x, geom.y)


def points_latlon(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """``(n, 2)`` array of ``[lat, lon]`` rows for the points of a WGS84 layer."""
    _require_wgs84(gdf)
    geoms = gdf.geometry
    if len(geoms) and not (geoms.geom_type == "Point").all():
        geoms = geoms.representative_point()
    return np.column_stack([geoms.y.to_numpy(float), geoms.x.to_numpy(float)]) if len(geoms) \
        else np.zeros((0, 2))


def bounds_latlon(bbox: BBox | Iterable[float]) -> list[list[float]]:
    """Leaflet bounds ``[[south, west], [north, east]]`` from a lon/lat (W, S, E, N) box."""
    w, s, e, n = (float(v) for v in bbox)
    return [[s, w], [n, e]]


def center_latlon(bbox: BBox | Iterable[float]) -> tuple[float, float]:
    w, s, e, n = (float(v) for v in bbox)
    return latlon((w + e) / 2.0, (s + n) / 2.0)


def to_wgs84(gdf: gpd.GeoDataFrame, what: str = "layer") -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 (a copy); raise if it declares no CRS."""
    if gdf.crs is None:
        raise MissingCRSError(f"{what} has no CRS, so it cannot be placed on a map; set one with .set_crs(...)")
    if CRS.from_user_input(gdf.crs).equals(WGS84):
        return gdf.copy()
    return gdf.to_crs(WGS84)


def lonlat_to_mercator(bbox: BBox | Iterable[float]) -> BBox:
    """A lon/lat box (clipped to Web Mercator's latitude limit) in EPSG:3857 metres."""
    w, s, e, n = (float(v) for v in bbox)
    s, n = max(s, -MAX_MERCATOR_LAT), min(n, MAX_MERCATOR_LAT)
    x0, y0 = _TO_MERCATOR.transform(w, s)
    x1, y1 = _TO_MERCATOR.transform(e, n)
    return BBox(x0, y0, x1, y1)


def _require_wgs84(gdf: gpd.GeoDataFrame) -> None:
    if gdf.crs is None or not CRS.from_user_input(gdf.crs).equals(WGS84):
        raise CRSMismatchError(
            f"layer CRS is {gdf.crs}, not EPSG:4326; reproject it first with maps.coords.to_wgs84"
        )
