"""Admin units (choropleth + outlines with a summary tooltip), vacuum zones, towns and airports."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
from pyproj import CRS

from geo.legend import STYLES, SurfaceStyle
from geo.zones import PRESENCE_LABEL

from .coords import points_latlon
from .style import ADMIN_EDGE, NEW_ZONE_COLOR, SITE_COLOR, ZONE_COLOR
from .vectors import DEFAULT_TOLERANCE_M, feature_collection, fmt_number, simplify_for_web

__all__ = [
    "AdminMeasure",
    "ADMIN_MEASURES",
    "class_color",
    "add_admin_layers",
    "add_zones",
    "add_sites",
    "ZONE_FIELDS",
    "NEW_ZONE_FIELDS",
    "NO_BASE_IN_REACH",
    "is_missing",
    "first_text",
    "ADMIN_FIELDS",
]

AdminMeasure = Literal["pop_weighted_gap", "mean_gap"]
ADMIN_MEASURES: dict[str, str] = {
    "pop_weighted_gap": "population-weighted gap",
    "mean_gap": "mean gap",
}

Row = Mapping[str, Any]

ADMIN_FIELDS: dict[str, tuple[str, Callable[[Row], Any]]] = {
    # property: (tooltip label, value from the admin_summary row)
    "name": ("Admin area", lambda r: first_text(r, "name", "admin_id", missing="")),
    "mean_gap": ("Mean gap", lambda r: fmt_number(r.get("mean_gap"), 1)),
    "max_gap": ("Max gap", lambda r: fmt_number(r.get("max_gap"), 1)),
    "pop_weighted_gap": ("Population-weighted gap", lambda r: fmt_number(r.get("pop_weighted_gap"), 1)),
    "population": ("Population", lambda r: fmt_number(r.get("population"), 0)),
    "pop_high": ("People at high gap", lambda r: fmt_number(r.get("pop_high"), 0)),
    "pop_critical": ("People at critical gap", lambda r: fmt_number(r.get("pop_critical"), 0)),
}

NO_BASE_IN_REACH = "none within reach"
"""What a zone's tooltip says when no base reaches it (the nearest-base columns are empty or NaN)."""


def is_missing(v: Any) -> bool:
    """None, NaN (a float NaN is truthy, so ``v or default`` keeps it), NaT or blank text."""
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return not np.isfinite(v)
    if isinstance(v, str):
        return not v.strip() or v.strip().lower() in ("nan", "none", "nat")
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def first_text(r: Row, *keys: str, missing: str = "–") -> str:
    """The first of ``keys`` that has a value in ``r``, as text; ``missing`` if none has."""
    for k in keys:
        v = r.get(k)
        if not is_missing(v):
            return str(v)
    return missing


ZONE_FIELDS: dict[str, tuple[str, Callable[[Row], Any]]] = {
    "zone": ("Vacuum zone", lambda r: f"{r.get('zone_id', '')} ({r.get('gap_class', '')})"),
    "area": ("Area", lambda r: fmt_number(r.get("area_km2"), 0, "km²")),
    "population": ("Population", lambda r: fmt_number(r.get("population"), 0)),
    "events": ("Recent events", lambda r: f"{fmt_number(r.get('recent_events'), 0)} "
                                          f"({fmt_number(r.get('fatalities'), 0)} fatalities)"),
    "gap": ("Gap mean / max", lambda r: f"{fmt_number(r.get('mean_gap'), 1)} / {fmt_number(r.get('max_gap'), 1)}"),
    "nearest": ("Nearest base", lambda r: first_text(r, "nearest_base_name", "nearest_base_id",
                                                     "nearest_remaining_base_name", "nearest_remaining_base_id",
                                                     missing=NO_BASE_IN_REACH)),
    "travel": ("Travel time from it", lambda r: _hours(r.get("travel_time_h"))),
    "presence": ("Nearer presence site", lambda r: _presence(r)),
}
NEW_ZONE_FIELDS: dict[str, tuple[str, Callable[[Row], Any]]] = {
    **ZONE_FIELDS,
    "nearest": ("Nearest remaining base", ZONE_FIELDS["nearest"][1]),
    "opened_by": ("Opened by closing", lambda r: first_text(r, "opened_by")),
}


def _presence(r: Row) -> str:
    """A presence-only site nearer than the nearest base with troops: ``"Ndélé (presence only, 0 troops), 0.0 h"``."""
    name = r.get("presence_site_name")
    if not name or (isinstance(name, float) and not np.isfinite(name)):
        return "–"
    return f"{name} ({PRESENCE_LABEL}), {_hours(r.get('presence_site_travel_time_h'))}"


def _hours(v: Any) -> str:
    try:
        h = float(v)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(h):
        return "beyond reach"
    return f"{h:.1f} h"


def class_color(value: Any, style: SurfaceStyle) -> str:
    """The class colour of one value (the rule of :func:`geo.legend.colorize`)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "#ffffff"
    if not np.isfinite(v):
        return "#ffffff"
    return style.colors[int(np.searchsorted(np.asarray(style.breaks, float), v, side="right"))]


def _tooltip(fields: Mapping[str, tuple[str, Any]]) -> folium.GeoJsonTooltip:
    return folium.GeoJsonTooltip(fields=list(fields), aliases=[label for label, _ in fields.values()],
                                 sticky=True, localize=False, labels=True)


def add_admin_layers(
    m: folium.Map,
    admin: gpd.GeoDataFrame,
    *,
    metric_crs: CRS | None = None,
    measure: AdminMeasure = "pop_weighted_gap",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    show_choropleth: bool = False,
    choropleth: bool = True,
) -> tuple[folium.GeoJson | None, folium.GeoJson]:
    """Two layers from ``admin_summary``: a choropleth of ``measure`` in the gap classes
    (unless ``choropleth`` is false), and outlines (useful also without a basemap), both
    with the summary tooltip. Returns ``(choropleth or None, outlines)``."""
    if measure not in ADMIN_MEASURES:
        raise ValueError(f"admin measure {measure!r}: choose one of {', '.join(ADMIN_MEASURES)}")
    simple = simplify_for_web(admin, metric_crs=metric_crs, tolerance_m=tolerance_m, coverage=True)
    props = {k: f for k, (_, f) in ADMIN_FIELDS.items()}
    props["_fill"] = lambda r: class_color(r.get(measure), STYLES["gap"])
    data = feature_collection(simple, props)
    chor = None
    if choropleth:
        chor = folium.GeoJson(
            data,
            name=f"Admin areas: {ADMIN_MEASURES[measure]}",
            style_function=lambda f: {"fillColor": f["properties"]["_fill"], "fillOpacity": 0.7,
                                      "color": ADMIN_EDGE, "weight": 1.2},
            highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.85},
            tooltip=_tooltip(ADMIN_FIELDS),
            pane="vacuumAreas",
            show=show_choropleth,
        )
        chor.add_to(m)
    outlines = folium.GeoJson(
        data,
        name="Admin outlines",
        style_function=lambda f: {"fill": True, "fillOpacity": 0.0, "color": ADMIN_EDGE, "weight": 1.2,
                                  "opacity": 0.9},
        highlight_function=lambda f: {"weight": 3, "color": "#000"},
        tooltip=_tooltip(ADMIN_FIELDS),
        pane="vacuumAreas",
        show=True,
    )
    outlines.add_to(m)
    return chor, outlines


def add_zones(
    parent: folium.Map | folium.FeatureGroup,
    zones: gpd.GeoDataFrame,
    *,
    name: str | None = None,
    metric_crs: CRS | None = None,
    new: bool = False,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    show: bool = True,
) -> folium.GeoJson:
    """Vacuum zones outlined, with area, population, events, nearest base and its travel time."""
    color = NEW_ZONE_COLOR if new else ZONE_COLOR
    simple = simplify_for_web(zones, metric_crs=metric_crs, tolerance_m=tolerance_m)
    fields = NEW_ZONE_FIELDS if new else ZONE_FIELDS
    data = feature_collection(simple, {k: f for k, (_, f) in fields.items()})
    layer = folium.GeoJson(
        data,
        name=name or f"Vacuum zones ({len(zones)})",
        style_function=lambda f: {"color": color, "weight": 3 if new else 2.5, "fill": True,
                                  "fillColor": color, "fillOpacity": 0.18 if new else 0.08,
                                  "dashArray": "6 4" if new else None},
        highlight_function=lambda f: {"weight": 4.5, "fillOpacity": 0.3},
        tooltip=_tooltip(fields) if data["features"] else None,  # folium checks fields against features
        pane="vacuumZones",
        show=show,
    )
    layer.add_to(parent)
    return layer


def add_sites(
    m: folium.Map,
    sites: gpd.GeoDataFrame,
    *,
    name: str = "Towns and airports",
    labels: int = 10,
    label_spacing_deg: float = 0.5,
    show: bool = True,
) -> folium.FeatureGroup:
    """Towns and airports as small dots (name on hover); up to ``labels`` of the largest towns,
    at least ``label_spacing_deg`` apart, are named on the map."""
    group = folium.FeatureGroup(name=name, show=show)
    pop = (sites["population"].astype(float).fillna(0.0).to_numpy()
           if "population" in sites else np.zeros(len(sites)))
    kind = sites["kind"].astype(str).to_numpy() if "kind" in sites else np.array(["town"] * len(sites))
    names = sites["name"].fillna("").astype(str).to_numpy() if "name" in sites else np.array([""] * len(sites))
    ll = points_latlon(sites)
    labelled: list[int] = []
    for i in np.argsort(-pop, kind="stable"):  # biggest towns first, none crowding a labelled one
        if len(labelled) >= labels or pop[i] <= 0:
            break
        if all(np.hypot(*(ll[i] - ll[j])) > label_spacing_deg for j in labelled):
            labelled.append(int(i))
    for i, (lat, lon) in enumerate(ll):
        is_airport = kind[i] == "airport"
        tip = f"{names[i]} ({kind[i]}" + (f", {pop[i]:,.0f} people)" if pop[i] > 0 else ")")
        marker = folium.CircleMarker(
            location=(round(float(lat), 4), round(float(lon), 4)),
            radius=3.5 if is_airport else 2.5,
            color=SITE_COLOR,
            weight=1,
            fill=True,
            fill_color="#ffffff" if is_airport else SITE_COLOR,
            fill_opacity=1.0,
            tooltip=folium.Tooltip(html.escape(tip)) if i not in labelled else
            folium.Tooltip(html.escape(names[i]), permanent=True, direction="right", className="vacuum-label"),
        )
        marker.options["pane"] = "vacuumSites"  # folium's path_options drops it
        marker.add_to(group)
    group.add_to(m)
    return group
