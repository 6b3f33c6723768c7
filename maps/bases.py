"""Peacekeeping bases as circle markers: area proportional to troop strength, popup with details."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd

from geo.zones import PRESENCE_LABEL

from .coords import point_latlon
from .folder import CRITICALITY_COLUMNS
from .style import BASE_COLOR, BASE_EDGE
from .vectors import fmt_number

__all__ = [
    "base_radius", "base_popup_html", "add_bases", "add_air_reach", "air_popup_rows", "AIR_COLOR", "popup_table",
    "STRENGTH_SOURCES", "BASE_PANE", "CRITICALITY_LABELS", "WHOLE_NUMBER_COLUMNS", "column_digits", "strength_text",
]

BASE_PANE = "vacuumBases"
AIR_COLOR = "#33a02c"

STRENGTH_SOURCES = {
    "reported": "reported on the UN deployment map (Geo-PKO)",
    "imputed_unknown": "imputed: one company (Geo-PKO 'unknown')",
    "presence_only": "presence only: HQ staff, observers or police",
}

CRITICALITY_LABELS = {
    "criticality": "Criticality",
    "added_exposure_weighted_gap": "Vacuum its closure opens (exposure-weighted gap)",
    "added_vacuum": "Vacuum its closure opens (exposure-weighted gap)",
    "population_losing_cover": "People losing cover if it closes",
    "new_high_critical_km2": "New high/critical area if it closes (km²)",
    "people_into_high_critical": "People into high/critical gap if it closes",
    "rank": "Criticality rank",
}


WHOLE_NUMBER_COLUMNS = frozenset({"rank", "population_losing_cover", "people_into_high_critical",
                                  "new_high_critical_km2", "population", "strength"})
"""Columns shown as whole numbers (people, troops, km², ranks): never "1,173,592.77" people."""


def column_digits(column: str) -> int:
    """Decimals a criticality column is shown with: 0 for counts of people, troops and km², else 2."""
    return 0 if column in WHOLE_NUMBER_COLUMNS else 2


def base_radius(strength: Any, presence: float = 35.0) -> float:
    """Marker radius in pixels; the circle's area grows with troop strength (square root)."""
    try:
        s = float(strength)
    except (TypeError, ValueError):
        s = 0.0
    if not math.isfinite(s):
        s = 0.0
    return round(3.0 + 0.32 * math.sqrt(max(s, presence)), 1)


def strength_text(row: Mapping[str, Any]) -> str:
    """``"650 troops"``, or ``"presence only, 0 troops"`` for a site with no troops (HQ, observers,
    police; the engine models them as a small presence, see ``presence_strength``)."""
    if row.get("strength_source") == "presence_only" or (_is_number(row.get("strength"))
                                                          and float(row["strength"]) == 0):
        return PRESENCE_LABEL
    return fmt_number(row.get("strength"), 0, "troops")


def popup_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """HTML of a popup: a heading and a two-column table (values already formatted)."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<div class="vacuum-popup"><h4>{html.escape(title)}</h4><table>{body}</table></div>'


def base_popup_html(row: Mapping[str, Any], extra: Sequence[tuple[str, str]] = (),
                    criticality_columns: Sequence[str] = ()) -> str:
    """Name, strength, unit type, strength source, criticality when known, then ``extra`` rows."""
    rows: list[tuple[str, str]] = []
    if row.get("base_id") is not None:
        rows.append(("Base id", str(row["base_id"])))
    if row.get("mission"):
        rows.append(("Mission", str(row["mission"])))
    rows.append(("Strength", strength_text(row)))
    if row.get("unit_type"):
        rows.append(("Unit type", str(row["unit_type"]).replace("_", " ")))
    src = row.get("strength_source")
    if src:
        rows.append(("Strength source", STRENGTH_SOURCES.get(str(src), str(src))))
    if row.get("map_date") is not None and str(row["map_date"]) not in ("", "NaT", "None"):
        rows.append(("Deployment map", str(row["map_date"])[:10]))  # a date, whatever type the reader gave
    crit_cols = list(dict.fromkeys([*(c for c in CRITICALITY_COLUMNS if c in row), *criticality_columns]))
    for col in crit_cols:
        if col in row:
            v = row[col]
            rows.append((CRITICALITY_LABELS.get(col, col.replace("_", " ")),
                         fmt_number(v, column_digits(col)) if _is_number(v) else ("–" if v is None else str(v))))
    rows.extend(extra)
    return popup_table(str(row.get("name") or row.get("base_id") or "base"), rows)


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def add_bases(
    parent: folium.Map | folium.FeatureGroup,
    bases: gpd.GeoDataFrame,
    *,
    name: str | None = None,
    fill: str | Mapping[Any, str] = BASE_COLOR,
    edge: str = BASE_EDGE,
    fill_opacity: float = 0.8,
    extra_rows: Mapping[Any, Sequence[tuple[str, str]]] | None = None,
    show: bool = True,
) -> folium.FeatureGroup:
    """One CircleMarker per base (WGS84 points) in a new FeatureGroup added to ``parent``.

    ``fill`` is one colour or a mapping ``base_id -> colour``; ``extra_rows`` adds popup
    rows per ``base_id`` (e.g. the phase a base closes in).
    """
    group = folium.FeatureGroup(name=name or f"Peacekeeping bases ({len(bases)})", show=show)
    crit_cols = list(bases.attrs.get("criticality_columns", ()))
    for row, geom in zip(bases.drop(columns=bases.geometry.name).to_dict("records"), bases.geometry, strict=True):
        bid = row.get("base_id")
        color = fill.get(bid, BASE_COLOR) if isinstance(fill, Mapping) else fill
        popup = base_popup_html(row, (extra_rows or {}).get(bid, ()), crit_cols)
        marker = folium.CircleMarker(
            location=point_latlon(geom),
            radius=base_radius(row.get("strength")),
            color=edge,
            weight=1.5,
            fill=True,
            fill_color=color,
            fill_opacity=fill_opacity,
            popup=folium.Popup(popup, max_width=360),
            tooltip=html.escape(f"{row.get('name') or bid}: {strength_text(row)}"),
        )
        marker.options["pane"] = BASE_PANE  # folium's path_options drops it
        marker.add_to(group)
    group.add_to(parent)
    return group


def air_popup_rows(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Popup rows of one airfield flown from (a row of ``air.geojson``)."""
    radius, speed, react = (float(row.get(k) or 0.0) for k in ("radius_km", "speed_kmh", "reaction_h"))
    edge = react + radius / speed if speed > 0 else float("nan")
    rows = [("Base", str(row.get("base_id", ""))), ("Airfield", str(row.get("airfield_name", ""))),
            ("Base to airfield", fmt_number(row.get("base_to_airfield_km"), 1, "km")),
            ("Radius", fmt_number(radius, 0, "km")), ("Cruise speed", fmt_number(speed, 0, "km/h")),
            ("Reaction time", fmt_number(react, 2, "h")), ("At the edge of the radius", fmt_number(edge, 2, "h"))]
    if row.get("daylight_only"):
        rows.append(("Flies", "by day only (expected wait for daylight added)"))
    return rows


def add_air_reach(parent: folium.Map | folium.FeatureGroup, air: gpd.GeoDataFrame, *,
                  name: str | None = None, show: bool = True) -> folium.FeatureGroup:
    """The reach of air assets: per flying base, its airfield and a circle of its radius
    (``air.geojson``, WGS84). As sensitive as the bases: drawn only where they are."""
    group = folium.FeatureGroup(name=name or f"Air reach ({len(air)} airfields)", show=show)
    for row, geom in zip(air.drop(columns=air.geometry.name).to_dict("records"), air.geometry, strict=True):
        popup = folium.Popup(popup_table(f"Air reach: {row.get('base_id', '')}", air_popup_rows(row)), max_width=360)
        tip = html.escape(f"{row.get('airfield_name', '')}: {fmt_number(row.get('radius_km'), 0, 'km')} by helicopter")
        folium.Circle(location=point_latlon(geom), radius=float(row.get("radius_km") or 0.0) * 1000.0,
                      color=AIR_COLOR, weight=1.5, dash_array="6 4", fill=True, fill_color=AIR_COLOR,
                      fill_opacity=0.05, popup=popup, tooltip=tip).add_to(group)
        folium.CircleMarker(location=point_latlon(geom), radius=4, color=AIR_COLOR, weight=2, fill=True,
                            fill_color="#ffffff", fill_opacity=1.0, popup=popup, tooltip=tip).add_to(group)
    group.add_to(parent)
    return group
