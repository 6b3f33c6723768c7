"""Recent conflict events: clustered markers and a heat layer weighted by recency.

A page must stay light with thousands of events: the markers are the ``max_events``
most recent, sent as compact rows to one FastMarkerCluster (a marker is built in the
browser per row); the heat layer sums recency weights on a grid of ``cell_deg``
degrees, so its size is bounded by the area, not the number of events.
"""

from __future__ import annotations

import html
import json
from datetime import date

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium import plugins
from jinja2 import Template

from .coords import points_latlon
from .style import EVENT_COLORS, EVENT_LABELS, OTHER_EVENT_COLOR

__all__ = [
    "recency_weights",
    "add_event_clusters",
    "add_event_heat",
    "heat_points",
    "DEFAULT_MAX_EVENTS",
    "HEAT_GRADIENT",
]

DEFAULT_MAX_EVENTS = 2000
HEAT_GRADIENT = {0.1: "#fde0ef", 0.3: "#f1b6da", 0.5: "#de77ae", 0.75: "#c51b7d", 1.0: "#8e0152"}


def recency_weights(dates: pd.Series, as_of: date | str, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life)``; 0 for events after ``as_of`` or without a date."""
    d = pd.to_datetime(dates, errors="coerce")
    age = (pd.Timestamp(as_of) - d).dt.days.to_numpy(dtype=float)
    w = np.power(0.5, age / float(half_life_days))
    w[~np.isfinite(age) | (age < 0)] = 0.0
    return w


_CALLBACK = """function (row) {
    var colors = %(colors)s;
    var c = colors[row[3]] || %(other)s;
    var icon = L.divIcon({className: 'vacuum-event-icon', iconSize: [11, 11],
        html: '<div class="vacuum-event" style="width:11px;height:11px;box-sizing:border-box;background:' + c + '"></div>'});
    var marker = L.marker(new L.LatLng(row[0], row[1]), {icon: icon});
    marker.bindPopup('<div class="vacuum-popup"><h4>' + row[4] + '</h4><table>' +
        '<tr><th>Date</th><td>' + row[2] + '</td></tr>' +
        '<tr><th>Fatalities</th><td>' + row[5] + '</td></tr>' +
        '<tr><th>Actors</th><td>' + row[6] + '</td></tr></table></div>');
    return marker;
}"""

_CLUSTER_ICON = """function (cluster) {
    var n = cluster.getChildCount();
    var s = n < 10 ? 28 : (n < 100 ? 34 : 42);
    return L.divIcon({html: '<div style="width:' + (s - 8) + 'px;height:' + (s - 8) + 'px;line-height:' +
                      (s - 8) + 'px">' + n + '</div>', className: 'vacuum-cluster', iconSize: L.point(s, s)});
}"""


def _event_rows(events: gpd.GeoDataFrame) -> list[list]:
    latlon = np.round(points_latlon(events), 4)
    dates = events["date"].astype(str).str.slice(0, 10) if "date" in events else pd.Series([""] * len(events))
    types = events["event_type"].astype(str) if "event_type" in events else pd.Series(["event"] * len(events))
    fat = pd.to_numeric(events.get("fatalities", pd.Series([np.nan] * len(events))), errors="coerce")
    actors = events["actors"].fillna("").astype(str) if "actors" in events else pd.Series([""] * len(events))
    rows = []
    for (lat, lon), d, t, f, a in zip(latlon, dates, types, fat, actors, strict=True):
        rows.append([float(lat), float(lon), html.escape(d), t,
                     html.escape(EVENT_LABELS.get(t, t.replace("_", " "))),
                     "–" if not np.isfinite(f) else f"{f:.0f}", html.escape(a)])
    return rows


def add_event_clusters(
    m: folium.Map,
    events: gpd.GeoDataFrame,
    *,
    name: str | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
    show: bool = True,
) -> plugins.FastMarkerCluster:
    """The ``max_events`` most recent events (WGS84 points) as one marker cluster layer."""
    ev = events
    total = len(ev)
    if "date" in ev and total > max_events:
        ev = ev.assign(_d=pd.to_datetime(ev["date"], errors="coerce")).sort_values("_d", ascending=False)
        ev = ev.head(max_events).drop(columns="_d")
    elif total > max_events:
        ev = ev.head(max_events)
    if name is None:
        name = (f"Recent events ({total:,})" if len(ev) == total
                else f"Recent events ({len(ev):,} most recent of {total:,})")
    callback = _CALLBACK % {"colors": json.dumps(EVENT_COLORS), "other": json.dumps(OTHER_EVENT_COLOR)}
    layer = plugins.FastMarkerCluster(
        _event_rows(ev), callback=callback, name=name, show=show,
        icon_create_function=_CLUSTER_ICON, showCoverageOnHover=False, maxClusterRadius=45,
    )
    layer.add_to(m)
    if not show:  # FastMarkerCluster's template adds itself to the map whatever ``show`` says
        _Hide(layer).add_to(m)
    return layer


class _Hide(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.layer.get_name() }}.remove();
        {% endmacro %}
    """)

    def __init__(self, layer: folium.map.Layer):
        super().__init__()
        self._name = "Hide"
        self.layer = layer


def heat_points(events: gpd.GeoDataFrame, weights: np.ndarray, cell_deg: float = 0.05) -> list[list[float]]:
    """``[lat, lon, intensity]`` per occupied cell of a ``cell_deg`` grid: the cell's weights
    summed, then square-rooted and scaled to a maximum of 1; placed at their weighted centre."""
    keep = weights > 0
    if not keep.any():
        return []
    ll = points_latlon(events)[keep]
    w = weights[keep]
    cells = np.floor(ll / cell_deg).astype(np.int64)
    df = pd.DataFrame({"i": cells[:, 0], "j": cells[:, 1], "lat": ll[:, 0] * w, "lon": ll[:, 1] * w, "w": w})
    g = df.groupby(["i", "j"], sort=False).sum()
    lat = g["lat"] / g["w"]  # weighted centre of the events in the cell
    lon = g["lon"] / g["w"]
    wn = np.sqrt(g["w"] / g["w"].max())  # square root: a lone recent event stays visible beside a hotspot
    return [[round(float(a), 4), round(float(b), 4), round(float(c), 4)] for a, b, c in zip(lat, lon, wn, strict=True)]


def add_event_heat(
    m: folium.Map,
    events: gpd.GeoDataFrame,
    *,
    as_of: date | str,
    half_life_days: float = 180.0,
    name: str = "Event heat (weighted by recency)",
    cell_deg: float = 0.05,
    show: bool = False,
) -> plugins.HeatMap:
    """A heat layer of events weighted by ``0.5 ** (age / half_life_days)``."""
    if "date" in events:
        w = recency_weights(events["date"], as_of, half_life_days)
    else:
        w = np.ones(len(events))
    layer = plugins.HeatMap(heat_points(events, w, cell_deg), name=name, show=show, radius=24, blur=18,
                            min_opacity=0.4, max_zoom=8, gradient=HEAT_GRADIENT)
    layer.add_to(m)
    return layer
