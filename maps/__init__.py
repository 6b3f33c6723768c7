"""Interactive Folium maps of Vacuum analyses: a thin shell over :mod:`geo`.

Builders return ``folium.Map`` objects (testable without a server):

- :func:`operations_map` (analysis folder; standalone or served through a :class:`TileSource`),
- :func:`scenario_map` (before/after a withdrawal plan, side by side; :func:`before_map`),
- :func:`criticality_map` (bases coloured by the vacuum their closure opens).

:func:`save_html` writes a page that works with no internet: Leaflet and plugins come
from ``maps/static`` (vendored, licences beside them), surfaces are embedded images.

Module map: ``coords`` (the one lon/lat -> (lat, lon) place), ``folder`` and
``scenario_folder`` (reading products), ``overlay`` (COG -> Web Mercator PNG),
``tiles`` (served mode), ``surfaces``, ``areas``, ``bases``, ``events``, ``basemaps``
(layers), ``controls`` and ``style`` (legend, title, CSS, panes), ``assets`` (local
JS/CSS), ``elements`` (walking a page), ``errors``.
"""

from __future__ import annotations

from .assets import STATIC_DIR, localize_assets, render_html, save_html
from .criticality import criticality_map
from .errors import MapAssetError, MapError, MissingProductError
from .operations import operations_map
from .scenario import before_map, scenario_map
from .tiles import TileSource

__all__ = [
    "operations_map",
    "scenario_map",
    "before_map",
    "criticality_map",
    "TileSource",
    "save_html",
    "render_html",
    "localize_assets",
    "STATIC_DIR",
    "MapError",
    "MissingProductError",
    "MapAssetError",
]
