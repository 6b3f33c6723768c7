"""The gap read term by term at one place: :func:`point_terms` reads each surface of an
analysis folder at a point given in lon/lat.

    gap = 100 · (risk^a · exposure^b)^(1/(a+b)) · (1 − coverage)

so the answer shows which term makes a place's gap: the forecast risk, the people there,
or the lack of cover (with the travel time to the nearest base).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer

from .errors import CoordinateError, UnknownIdError

__all__ = ["point_terms", "TERMS"]

TERMS = ("gap", "risk", "exposure", "coverage", "travel_time", "threat", "population")
"""The surfaces a point query can read, in the order of the formula."""


def point_terms(folder: str | Path, lon: float, lat: float, surfaces: tuple[str, ...] = TERMS) -> dict:
    """``{"lon", "lat", "inside", <surface>: value or None}`` at the cell holding (lon, lat).

    Raises :class:`CoordinateError` for a lon/lat that is not a place, and
    :class:`UnknownIdError` for a surface the folder does not hold.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise CoordinateError(f"lon {lon!r}, lat {lat!r}: need -180 <= lon <= 180 and -90 <= lat <= 90 (degrees)")
    folder = Path(folder)
    out: dict = {"lon": lon, "lat": lat, "inside": False}
    for name in surfaces:
        path = folder / f"{name}.tif"
        if not path.is_file():
            raise UnknownIdError(f"no surface {name!r} in this analysis; it holds "
                                 f"{', '.join(p.stem for p in sorted(folder.glob('*.tif')))}")
        with rasterio.open(path) as ds:
            x, y = Transformer.from_crs(4326, ds.crs, always_xy=True).transform(lon, lat)
            r, c = ds.index(x, y)
            v = None
            if 0 <= r < ds.height and 0 <= c < ds.width:
                a = ds.read(1, window=((r, r + 1), (c, c + 1)), masked=True)
                if not np.ma.is_masked(a[0, 0]) and np.isfinite(a[0, 0]):
                    v = round(float(a[0, 0]), 4)
        out[name] = v
        out["inside"] = out["inside"] or v is not None
    return out
