"""Load the input layers into fixed schemas.

Each loader reads a file with :func:`geo.readers.read_vector`, recognises a known schema
by its columns (Geo-PKO, UCDP GED, ACLED, GeoNames, OurAirports, airportsdata, Natural
Earth, OpenStreetMap-style roads) or takes a ``mapping`` from our field names to the
file's columns, and returns a GeoDataFrame with a fixed set of columns in the file's CRS
(reprojection happens elsewhere). Schema detection is explicit: columns are matched by
name (case-insensitively) and a file that matches nothing needs ``mapping``; passing
``mapping`` always selects the generic schema.

Errors name the file, the 1-based row (data row for a CSV, feature for other formats),
the field, and the fix. Every loader raises :class:`EmptyLayerError` when nothing is
left, and none of them guesses silently: defaults that are applied are listed in the
docstrings and recorded in ``attrs``.
"""

from __future__ import annotations

from .admin import MAX_DENSITY_PER_KM2, MAX_RASTER_PIXELS, check_population_raster, load_admin
from .bases import load_bases
from .common import (
    ADMIN_COLUMNS,
    BASE_COLUMNS,
    EVENT_COLUMNS,
    GEOPKO_COMPANY_SIZE,
    ROAD_COLUMNS,
    SITE_COLUMNS,
    STRENGTH_SOURCES,
    UNIT_TYPES,
)
from .events import load_events
from .hydro import WATER_COLUMNS, load_water
from .infrastructure import load_roads, load_sites

__all__ = [
    "UNIT_TYPES",
    "STRENGTH_SOURCES",
    "GEOPKO_COMPANY_SIZE",
    "BASE_COLUMNS",
    "EVENT_COLUMNS",
    "ROAD_COLUMNS",
    "SITE_COLUMNS",
    "ADMIN_COLUMNS",
    "load_bases",
    "load_events",
    "load_roads",
    "load_water",
    "WATER_COLUMNS",
    "load_sites",
    "load_admin",
    "check_population_raster",
    "MAX_RASTER_PIXELS",
    "MAX_DENSITY_PER_KM2",
]
