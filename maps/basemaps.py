"""Basemaps to choose from, and a plain background that needs no network.

Basemap tiles come from the internet. Where it is not reachable (a field office, a
laptop on a plane, the test machine) their tiles fail quietly and the map's own
background colour, the admin outlines and the towns layer still give the geography:
nothing in the map depends on them.

CARTO's basemaps now need an API key (xyzservices carries the rule): "CartoDB
positron" is offered only when one is given.

The default is the plain background when the tile server cannot be reached from where the
map is built (:func:`network_reachable`, checked once per process; ``VACUUM_OFFLINE=1``
says so without trying), and the page itself falls back to it when its first basemap tiles
fail to load (:class:`BasemapFallback`), e.g. a saved map opened on a laptop with no network.
"""

from __future__ import annotations

import functools
import os
import socket

import folium
import xyzservices.providers as xyz
from branca.element import MacroElement
from jinja2 import Template

__all__ = ["PLAIN_BASEMAP", "CARTO_POSITRON", "basemap_layers", "add_basemaps", "default_basemap",
           "network_reachable", "BasemapFallback", "TILE_HOST"]

TILE_HOST = ("tile.openstreetmap.org", 443)
"""Where the default basemap's tiles come from: the host tried by :func:`network_reachable`."""

PLAIN_BASEMAP = "Plain background (offline)"
CARTO_POSITRON = "CartoDB positron"


def basemap_layers(carto_api_key: str | None = None) -> dict[str, folium.TileLayer]:
    """Layer name -> a fresh base TileLayer (not yet added to a map)."""
    specs = {"OpenStreetMap": xyz.OpenStreetMap.Mapnik}
    if carto_api_key:
        specs[CARTO_POSITRON] = xyz.CartoDB.Positron(apikey=carto_api_key)
    specs["Esri World Imagery"] = xyz.Esri.WorldImagery
    return {name: folium.TileLayer(tiles=p, name=name, overlay=False, control=True, show=False)
            for name, p in specs.items()}


@functools.lru_cache(maxsize=4)
def network_reachable(host: tuple[str, int] = TILE_HOST, timeout_s: float = 1.5) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout_s`` (once per process)."""
    if os.environ.get("VACUUM_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection(host, timeout=timeout_s):
            return True
    except OSError:
        return False


def default_basemap(carto_api_key: str | None = None, *, online: bool | None = None) -> str:
    """The basemap shown first: the plain background when offline (``online`` None: find out)."""
    if online is None:
        online = network_reachable()
    if not online:
        return PLAIN_BASEMAP
    return CARTO_POSITRON if carto_api_key else "OpenStreetMap"


class BasemapFallback(MacroElement):
    """In the page: if the shown basemap's tiles fail before any has loaded, show the plain background."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }}, tiles = {{ this.tiles.get_name() }}, plain = {{ this.plain.get_name() }};
            var loaded = false;
            tiles.on('tileload', function () { loaded = true; });
            tiles.on('tileerror', function () {
                if (loaded || !map.hasLayer(tiles)) { return; }
                map.removeLayer(tiles);
                map.addLayer(plain);
            });
        })();
        {% endmacro %}
    """)

    def __init__(self, tiles: folium.TileLayer, plain: folium.FeatureGroup):
        super().__init__()
        self._name = "BasemapFallback"
        self.tiles = tiles
        self.plain = plain


def add_basemaps(m: folium.Map, default: str | None = None, *, carto_api_key: str | None = None,
                 online: bool | None = None) -> list[str]:
    """Add the basemaps as exclusive base layers (``default`` shown, else
    :func:`default_basemap`); return their names."""
    layers = basemap_layers(carto_api_key)
    names = [*layers, PLAIN_BASEMAP]
    default = default or default_basemap(carto_api_key, online=online)
    if default not in names:
        raise ValueError(f"unknown basemap {default!r}; choose one of {', '.join(names)}"
                         + ("" if carto_api_key else f" ({CARTO_POSITRON} needs a CARTO API key)"))
    for name, layer in layers.items():
        layer.show = name == default
        layer.add_to(m)
    # an empty base layer: choosing it stops tile requests altogether
    plain = folium.FeatureGroup(name=PLAIN_BASEMAP, overlay=False, control=True, show=(default == PLAIN_BASEMAP))
    plain.add_to(m)
    if default in layers:
        BasemapFallback(layers[default], plain).add_to(m)
    return names
