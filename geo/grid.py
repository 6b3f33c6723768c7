"""The analysis grid: one projected CRS, a north-up transform, a shape.

Everything the engine computes lives on a :class:`Grid`. The default CRS is a
Lambert azimuthal equal-area projection centred on the area of interest, so a
1 km cell is 1 km² everywhere in it and distances near the centre are true.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from .errors import CRSMismatchError, GridError, MissingCRSError
from .types import BBox

__all__ = [
    "Grid",
    "equal_area_crs",
    "equal_area_name",
    "grid_for_area",
    "cell_index",
    "check_crs",
]

MAX_CELLS = 200_000_000
"""Refuse grids above this size: 200 M float32 cells is 800 MB per surface."""


@dataclass(frozen=True)
class Grid:
    crs: CRS
    transform: Affine
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise GridError(f"grid shape must be positive, got {self.height}x{self.width}")
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.e >= 0:
            raise GridError("grid transform must be north-up with square cells (no rotation)")
        if not math.isclose(self.transform.a, -self.transform.e, rel_tol=1e-9):
            raise GridError(
                f"grid cells must be square, got {self.transform.a} x {-self.transform.e}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def size(self) -> int:
        return self.height * self.width

    @property
    def resolution(self) -> float:
        """Cell edge in CRS units (metres for the default CRS)."""
        return float(self.transform.a)

    @property
    def resolution_km(self) -> float:
        return self.resolution / 1000.0

    @property
    def cell_area_km2(self) -> float:
        return self.resolution_km**2

    @property
    def bounds(self) -> BBox:
        west, north = self.transform.c, self.transform.f
        return BBox(west, north - self.height * self.resolution, west + self.width * self.resolution, north)

    def bounds_lonlat(self) -> BBox:
        """The grid's footprint in WGS84 lon/lat (densified edges)."""
        return _bounds_lonlat(self.crs.to_wkt(), tuple(self.bounds))

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x (width,) and y (height,) of cell centres in CRS units."""
        r = self.resolution
        x = self.transform.c + (np.arange(self.width) + 0.5) * r
        y = self.transform.f - (np.arange(self.height) + 0.5) * r
        return x, y

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and an inside-the-grid mask for points in the grid CRS."""
        return cell_index(
            np.asarray(x, float), np.asarray(y, float), self.transform.c, self.transform.f,
            self.resolution, self.height, self.width,
        )

    def profile(self, dtype: str = "float32", nodata: float | None = None) -> dict:
        """A rasterio profile for writing a surface of this grid."""
        return {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": 1,
            "dtype": dtype,
            "crs": self.crs.to_wkt(),
            "transform": self.transform,
            "nodata": nodata,
        }

    def to_dict(self) -> dict:
        return {
            "crs": self.crs.to_wkt(),
            "transform": list(self.transform)[:6],
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        return cls(CRS.from_user_input(d["crs"]), Affine(*d["transform"]), int(d["width"]), int(d["height"]))


def cell_index(
    x: np.ndarray, y: np.ndarray, west: float, north: float, res: float, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pure: (row, col, inside) of points for a north-up grid.

    A point on the west or north edge of a cell belongs to that cell; the grid's
    east and south edges are outside.
    """
    col = np.floor((x - west) / res).astype(np.int64)
    row = np.floor((north - y) / res).astype(np.int64)
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width) & np.isfinite(x) & np.isfinite(y)
    return row, col, inside


def equal_area_crs(lon: float, lat: float) -> CRS:
    """Lambert azimuthal equal-area centred on (lon, lat), metres, WGS84 datum, named by
    :func:`equal_area_name` (GDAL and QGIS show that name instead of "unknown")."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GridError(f"centre ({lon}, {lat}) is not a lon/lat pair")
    proj = CRS.from_proj4(
        f"+proj=laea +lat_0={lat:.8f} +lon_0={lon:.8f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )
    doc = proj.to_json_dict()  # PROJJSON: the same CRS, given names GDAL and QGIS show
    doc["name"] = equal_area_name(lon, lat)
    doc["base_crs"]["name"] = "WGS 84"
    return CRS.from_json_dict(doc)


def equal_area_name(lon: float, lat: float) -> str:
    """Pure: the name of :func:`equal_area_crs`, e.g. ``Vacuum LAEA centred 20.9E 6.6N``
    (centre to 0.01 degree; the WKT parameters keep the exact centre)."""
    def deg(v: float, pos: str, neg: str) -> str:
        text = f"{abs(v):.2f}".rstrip("0").rstrip(".")
        return f"{text}{pos if v >= 0 else neg}"

    return f"Vacuum LAEA centred {deg(lon, 'E', 'W')} {deg(lat, 'N', 'S')}"


def grid_for_area(
    area: gpd.GeoDataFrame | gpd.GeoSeries | BBox,
    resolution_m: float = 1000.0,
    margin_m: float = 50_000.0,
    crs: CRS | None = None,
    area_crs: CRS | None = None,
) -> Grid:
    """The analysis grid covering an area of interest plus a margin.

    ``area`` is admin units (any CRS, which must be set) or a lon/lat BBox (or a
    BBox in ``area_crs``). With no ``crs`` given, an equal-area CRS centred on the
    area is chosen. Bounds are snapped outward to whole cells.
    """
    if resolution_m <= 0 or not math.isfinite(resolution_m):
        raise GridError(f"resolution must be a positive number of metres, got {resolution_m}")
    if margin_m < 0:
        raise GridError(f"margin must be >= 0 metres, got {margin_m}")
    if isinstance(area, BBox) or (isinstance(area, tuple) and len(area) == 4):
        bbox = BBox(*area)
        src = area_crs or CRS.from_epsg(4326)
        if src.is_geographic and not (-180 <= bbox.west < bbox.east <= 180 and -90 <= bbox.south < bbox.north <= 90):
            raise GridError(
                f"bbox {tuple(bbox)} is not (west, south, east, north) in lon/lat degrees"
            )
        if bbox.west >= bbox.east or bbox.south >= bbox.north:
            raise GridError(f"bbox {tuple(bbox)} must have west < east and south < north")
        geom = gpd.GeoSeries.from_xy([bbox.west, bbox.east], [bbox.south, bbox.north], crs=src).envelope
        area_gs = gpd.GeoSeries([geom.union_all().envelope], crs=src)
    else:
        if area.crs is None:
            raise MissingCRSError("area of interest has no CRS; set one with .set_crs(...)")
        if len(area) == 0:
            raise GridError("area of interest is empty")
        area_gs = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    if crs is None:
        ll = area_gs.to_crs(4326).total_bounds
        crs = equal_area_crs((ll[0] + ll[2]) / 2, (ll[1] + ll[3]) / 2)
    if crs.is_geographic:
        raise GridError(f"analysis CRS must be projected (metres), got geographic {crs.name}")
    w, s, e, n = area_gs.to_crs(crs).total_bounds
    r = resolution_m
    west = math.floor((w - margin_m) / r) * r
    south = math.floor((s - margin_m) / r) * r
    east = math.ceil((e + margin_m) / r) * r
    north = math.ceil((n + margin_m) / r) * r
    width, height = round((east - west) / r), round((north - south) / r)
    if width * height > MAX_CELLS:
        raise GridError(
            f"grid of {height}x{width} cells at {r:g} m exceeds {MAX_CELLS:,} cells; "
            "use a coarser --resolution or a smaller area"
        )
    return Grid(crs, Affine(r, 0, west, 0, -r, north), width, height)


def check_crs(gdf: gpd.GeoDataFrame, crs: CRS, what: str) -> None:
    """Raise unless ``gdf`` is in ``crs`` (naming both and the fix)."""
    if gdf.crs is None:
        raise MissingCRSError(f"{what} has no CRS; expected {crs.name}. Set one with .set_crs(...)")
    if not CRS.from_user_input(gdf.crs).equals(crs):
        raise CRSMismatchError(
            f"{what} is in {CRS.from_user_input(gdf.crs).name}, the grid is in {crs.name}; "
            "reproject with .to_crs(grid.crs)"
        )


@functools.lru_cache(maxsize=64)
def _bounds_lonlat(crs_wkt: str, bounds: tuple[float, float, float, float]) -> BBox:
    """:meth:`Grid.bounds_lonlat`, once per CRS and bounds: building the transformer costs
    about 15 ms, and a monitor's summary asks at every date."""
    t = Transformer.from_crs(CRS.from_wkt(crs_wkt), CRS.from_epsg(4326), always_xy=True)
    w, s, e, n = t.transform_bounds(*bounds, densify_pts=21)
    return BBox(w, s, e, n)
