"""Served mode: surfaces as XYZ tile layers from URL templates the service gives.

The builders know nothing about routes. A :class:`TileSource` carries templates such
as ``/analyses/{id}/tiles/{surface}/{z}/{x}/{y}.png`` with the analysis id already
filled in; ``{surface}`` (when present) is filled per layer here, ``{z}/{x}/{y}`` are
left to Leaflet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

from .errors import MapError

__all__ = ["TileSource", "tile_layer", "TileJSONBounds"]

_XYZ = ("{z}", "{x}", "{y}")


@dataclass(frozen=True)
class TileSource:
    """Where a service serves an analysis.

    ``url_template``: XYZ PNG tiles, with ``{z}``, ``{x}``, ``{y}`` and optionally
    ``{surface}``. ``tilejson_url``: TileJSON of the gap surface (its ``bounds`` and
    zoom range are applied in the browser, so no tile is asked for outside the
    grid). ``geojson_urls``: product name (``zones``, ``bases``, ``admin_summary``,
    ...) to the URL serving it; listed as downloads in the legend. ``brief_url``: the
    briefing (``?format=pdf|html`` added), linked in the legend too.
    """

    url_template: str
    tilejson_url: str | None = None
    geojson_urls: Mapping[str, str] = field(default_factory=dict)
    brief_url: str | None = None

    def __post_init__(self) -> None:
        missing = [p for p in _XYZ if p not in self.url_template]
        if missing:
            raise MapError(f"tile URL template {self.url_template!r} lacks {', '.join(missing)}; "
                           "use e.g. /analyses/ID/tiles/{surface}/{z}/{x}/{y}.png")

    def url_for(self, surface: str) -> str:
        """The template with ``{surface}`` filled in (``{z}/{x}/{y}`` kept)."""
        return self.url_template.replace("{surface}", surface)

    def tilejson_for(self, surface: str) -> str | None:
        return self.tilejson_url.replace("{surface}", surface) if self.tilejson_url else None


class TileJSONBounds(MacroElement):
    """Fetch a TileJSON in the browser and restrict a tile layer to its bounds and zooms."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        fetch({{ this.url|tojson }}).then(function (r) { return r.ok ? r.json() : null; })
          .then(function (tj) {
            if (!tj) { return; }
            var layer = {{ this.layer.get_name() }};
            if (tj.bounds) {
              layer.options.bounds = L.latLngBounds([[tj.bounds[1], tj.bounds[0]], [tj.bounds[3], tj.bounds[2]]]);
            }
            if (tj.minzoom !== undefined) { layer.options.minNativeZoom = tj.minzoom; }
            if (tj.maxzoom !== undefined) { layer.options.maxNativeZoom = tj.maxzoom; }
            // not layer.redraw(): Leaflet 1.9's redraw() skips rounding the map's fractional
            // zoom (zoomSnap 0.25) and would ask for tiles at z=6.5; re-adding goes through _setView
            var m = layer._map;
            if (m) { m.removeLayer(layer); m.addLayer(layer); }
          }).catch(function () {});
        {% endmacro %}
    """)

    def __init__(self, layer: folium.TileLayer, url: str):
        super().__init__()
        self._name = "TileJSONBounds"
        self.layer = layer
        self.url = url


def tile_layer(
    source: TileSource,
    surface: str,
    *,
    name: str,
    pane: str | None = None,
    opacity: float = 1.0,
    show: bool = True,
    bounds_latlon: list[list[float]] | None = None,
) -> folium.TileLayer:
    """An overlay tile layer for ``surface``, in ``pane`` (see :func:`maps.surfaces.add_surface`).

    ``bounds_latlon`` (the surface's extent, known from the analysis) keeps Leaflet from
    asking for tiles outside it before the TileJSON has arrived.
    """
    extra: dict[str, Any] = {"bounds": bounds_latlon} if bounds_latlon is not None else {}
    return folium.TileLayer(
        tiles=source.url_for(surface),
        attr="Vacuum coverage-gap analysis",
        name=name,
        overlay=True,
        control=True,
        show=show,
        opacity=opacity,
        pane=pane,
        max_zoom=18,
        **extra,
    )
