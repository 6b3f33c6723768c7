"""Basemaps to choose from, and a plain background that needs no network.

Basemap tiles come from the internet. Where it is not reachable (a field office, a
laptop on a plane, the test machine) their tiles fail quietly and the map's own
background colour, the admin outlines and the towns layer still give the geography:
nothing in the map depends on them.

CARTO's basemaps now need an API key (xyzservices carries the rule): "CartoDB
positron" is offered only when one is given.
"""

from __future__ import annotations

import folium
import xyzservices.providers as xyz

__all__ = ["PLAIN_BASEMAP", "CARTO_POSITRON", "basemap_layers", "add_basemaps", "default_basemap"]

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


def default_basemap(carto_api_key: str | None = None) -> str:
    return CARTO_POSITRON if carto_api_key else "OpenStreetMap"


def add_basemaps(m: folium.Map, default: str | None = None, *, carto_api_key: str | None = None) -> list[str]:
    """Add the basemaps as exclusive base layers (``default`` shown); return their names."""
    layers = basemap_layers(carto_api_key)
    names = [*layers, PLAIN_BASEMAP]
    default = default or default_basemap(carto_api_key)
    if default not in names:
        raise ValueError(f"unknown basemap {default!r}; choose one of {', '.join(names)}"
                         + ("" if carto_api_key else f" ({CARTO_POSITRON} needs a CARTO API key)"))
    for name, layer in layers.items():
        layer.show = name == default
        layer.add_to(m)
    # an empty base layer: choosing it stops tile requests altogether
    folium.FeatureGroup(name=PLAIN_BASEMAP, overlay=False, control=True, show=(default == PLAIN_BASEMAP)).add_to(m)
    return names
