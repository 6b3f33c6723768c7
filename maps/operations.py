"""The operations map: where the gap is, over a basemap, with bases, events, admin areas and zones.

Standalone (``tiles=None``) the gap surface is a PNG embedded in the page, so the saved
HTML opens from a file; served, it is the service's XYZ tile layer.
"""

from __future__ import annotations

import html
import os

import folium

from geo.legend import STYLES

from .areas import ADMIN_MEASURES, AdminMeasure, add_admin_layers, add_sites, add_zones
from .basemaps import PLAIN_BASEMAP, add_basemaps
from .bases import AIR_COLOR, add_air_reach, add_bases
from .controls import (
    Legend,
    LegendEntry,
    TitleBox,
    add_standard_controls,
    surface_section,
    symbol_circle,
    symbol_dot,
    symbol_outline,
    symbol_swatch,
)
from .coords import bounds_latlon, center_latlon
from .events import DEFAULT_MAX_EVENTS, HEAT_GRADIENT, add_event_clusters, add_event_heat
from .folder import AnalysisFolder, open_analysis
from .remote import add_remote_geojson
from .style import (
    ADMIN_EDGE,
    BASE_COLOR,
    BASE_EDGE,
    EVENT_COLORS,
    EVENT_LABELS,
    OTHER_EVENT_COLOR,
    SITE_COLOR,
    ZONE_COLOR,
    PageStyle,
    add_panes,
)
from .surfaces import add_surface
from .tiles import TileSource
from .vectors import fmt_number, fmt_people

__all__ = ["operations_map", "new_map", "title_for", "cell_km", "GAP_LAYER_NAME", "downloads_footer", "HOW_TO_READ",
           "MAX_ZOOM"]

GAP_LAYER_NAME = "Coverage gap (0-100)"

MAX_ZOOM = 18
"""The map's own zoom limit: with the plain background no tile layer sets one, and marker
clustering needs it."""

HOW_TO_READ = {
    "operations": "red is where forecast violence meets people that no base reaches in time, green is covered "
                  "or quiet; purple outlines are vacuum zones; click a base or hover an area for its figures.",
    "criticality": "the darker a base, the more vacuum its closure alone would open; the panel ranks them.",
    "scenario": "left is today, right the plan; choose a phase on the right to see the gap after it, the new "
                "vacuum zones (dashed pink) and the bases closed so far (grey).",
}
"""The one line under each map's title that says how to read it."""

# (property, tooltip label, decimals) for layers the browser fetches from the service
REMOTE_ADMIN_FIELDS = (("name", "Admin area", 0), ("mean_gap", "Mean gap", 1), ("max_gap", "Max gap", 1),
                       ("pop_weighted_gap", "Population-weighted gap", 1), ("population", "Population", 0),
                       ("pop_high", "People at high gap", 0), ("pop_critical", "People at critical gap", 0))
REMOTE_ZONE_FIELDS = (("zone_id", "Vacuum zone", 0), ("gap_class", "Class", 0), ("area_km2", "Area (km²)", 0),
                      ("population", "Population", 0), ("recent_events", "Recent events", 0),
                      ("fatalities", "Fatalities", 0), ("max_gap", "Max gap", 1),
                      ("nearest_base_name", "Nearest base", 0), ("travel_time_h", "Travel time (h)", 1),
                      ("presence_site_name", "Nearer presence site (presence only, 0 troops)", 0))
PUBLIC_ZONE_FIELDS = (("gap_class", "Block gap class", 0), ("block_gap", "Block gap", 1),
                      ("zone_area_km2", "Zone area in block (km²)", 0), ("zone_population", "People in zones", 0))
"""Tooltip of the viewers' zones: the public blocks a zone touches (geo.public)."""


def new_map(folder: AnalysisFolder, *, basemap: str | None = None, carto_api_key: str | None = None,
            padding_left: int = 10, **map_kwargs) -> folium.Map:
    """A map framed on the analysis grid, with basemaps, panes and the page CSS.

    The first view keeps the area clear of the title (top), the layer switcher and
    legend (right, 300 px) and ``padding_left`` pixels on the left.
    """
    bbox = folder.summary.get("grid", {}).get("bounds_lonlat")
    m = folium.Map(location=center_latlon(bbox) if bbox else (0.0, 0.0), zoom_start=6, tiles=None, maxZoom=MAX_ZOOM,
                   control_scale=True, zoom_snap=0.25, zoom_delta=0.5, **map_kwargs)
    add_basemaps(m, default=basemap, carto_api_key=carto_api_key)
    add_panes(m)
    PageStyle().add_to(m)
    if bbox:
        m.fit_bounds(bounds_latlon(bbox), padding_top_left=(padding_left, 70), padding_bottom_right=(300, 10))
    return m


def cell_km(folder: AnalysisFolder) -> float:
    return float(folder.summary.get("grid", {}).get("resolution_m", 1000.0)) / 1000.0


def title_for(folder: AnalysisFolder, what: str = "Coverage gap") -> str:
    missions = folder.missions()
    head = f"{', '.join(missions)}: " if missions else ""
    return f"{head}{what} as of {folder.as_of}"


def _cluster_symbol() -> str:
    return ('<span class="vl-symbol"><span style="display:inline-block;width:16px;height:16px;border-radius:50%;'
            'background:rgba(63,0,125,0.85);color:#fff;font-size:9px;line-height:16px">3</span></span>')


def downloads_footer(tiles: TileSource | None) -> str:
    """Links to the service's GeoJSON products and the briefing (served mode)."""
    if tiles is None or not (tiles.geojson_urls or tiles.brief_url):
        return ""
    links = " · ".join(f'<a href="{html.escape(u, quote=True)}" target="_blank">{html.escape(k.replace("_", " "))}</a>'
                       for k, u in tiles.geojson_urls.items())
    out = f"GeoJSON: {links}" if links else ""
    if tiles.brief_url:
        u = html.escape(tiles.brief_url, quote=True)
        out += ("<br>" if out else "") + (f'Briefing: <a href="{u}?format=pdf" target="_blank">PDF</a> · '
                                          f'<a href="{u}?format=html" target="_blank">HTML</a>')
    return out


def operations_map(
    analysis_dir: str | os.PathLike[str],
    *,
    tiles: TileSource | None = None,
    admin_measure: AdminMeasure = "pop_weighted_gap",
    max_events: int = DEFAULT_MAX_EVENTS,
    basemap: str | None = None,
    carto_api_key: str | None = None,
    title: str | None = None,
) -> folium.Map:
    """The operations map of an analysis folder.

    Layers: the gap surface (embedded PNG, or tiles from ``tiles``), admin areas
    (choropleth of ``admin_measure`` and outlines, with a summary tooltip), vacuum
    zones, towns and airports, bases (circle area ~ strength; criticality in the popup
    when ``base_criticality.geojson`` exists), the air reach of air-capable bases
    (``air.geojson``: airfield and radius; only beside the bases), recent events (clusters of at most
    ``max_events``) and a recency-weighted event heat layer. Legend, title with the
    as-of date, layer switcher, scale, full screen and measuring tools. Basemaps:
    OpenStreetMap (default), Esri imagery, CARTO positron with ``carto_api_key``, and a
    plain background; none is needed to read the map.
    """
    folder = open_analysis(analysis_dir)
    s = folder.summary
    crs = folder.grid_crs
    m = new_map(folder, basemap=basemap, carto_api_key=carto_api_key)
    entries: list[LegendEntry] = []

    add_surface(m, "gap", name=GAP_LAYER_NAME, path=None if tiles else folder.surface("gap"), tiles=tiles,
                bounds_lonlat=folder.summary.get("grid", {}).get("bounds_lonlat"))
    entries.append(LegendEntry(GAP_LAYER_NAME, symbol_swatch(STYLES["gap"].colors[3]),
                               "served tiles" if tiles else f"{cell_km(folder):g} km cells"))

    remote = dict(tiles.geojson_urls) if tiles is not None else {}
    admin = folder.layer("admin_summary", required=False)
    if "admin_summary" in remote:
        # served: the browser fetches the admin table from the service
        rchor = add_remote_geojson(
            m, remote["admin_summary"], name=f"Admin areas: {ADMIN_MEASURES[admin_measure]}",
            style={"fillOpacity": 0.7, "color": ADMIN_EDGE, "weight": 1.2}, fields=REMOTE_ADMIN_FIELDS,
            pane="vacuumAreas", fill_property=admin_measure, fill_style=STYLES["gap"], show=False)
        entries.append(LegendEntry(rchor.layer_name, symbol_swatch(STYLES["gap"].colors[1], ADMIN_EDGE, 0.7),
                                   "gap classes; hover for the table"))
        routl = add_remote_geojson(
            m, remote["admin_summary"], name="Admin outlines",
            style={"fill": True, "fillOpacity": 0.0, "color": ADMIN_EDGE, "weight": 1.2, "opacity": 0.9},
            fields=REMOTE_ADMIN_FIELDS, pane="vacuumAreas")
        entries.append(LegendEntry(routl.layer_name, symbol_outline(ADMIN_EDGE, 1)))
    elif admin is not None and len(admin):
        chor, outl = add_admin_layers(m, admin, metric_crs=crs, measure=admin_measure)
        if chor is not None:
            entries.append(LegendEntry(chor.layer_name, symbol_swatch(STYLES["gap"].colors[1], ADMIN_EDGE, 0.7),
                                       "gap classes; hover for the table"))
        entries.append(LegendEntry(outl.layer_name, symbol_outline(ADMIN_EDGE, 1)))

    zones = folder.layer("zones", required=False)
    p = s.get("params", {})
    zone_note = f"gap ≥ {p.get('zone_threshold', 60):g}, ≥ {p.get('zone_min_area_km2', 25):g} km²"
    public = zones is not None and "block_row" in zones.columns  # a viewer's folder (geo.public)
    if public:
        zone_note = "blocks a vacuum zone touches (public, 150 km)"
    if "zones" in remote:
        n_zones = s.get("zones", {}).get("count")
        zl = add_remote_geojson(
            m, remote["zones"], name="Vacuum zones" + (f" ({n_zones})" if n_zones is not None else ""),
            style={"color": ZONE_COLOR, "weight": 2.5, "fill": True, "fillColor": ZONE_COLOR, "fillOpacity": 0.08},
            fields=PUBLIC_ZONE_FIELDS if public else REMOTE_ZONE_FIELDS, pane="vacuumZones")
        entries.append(LegendEntry(zl.layer_name, symbol_outline(ZONE_COLOR, 2, fill="rgba(63,0,125,0.1)"), zone_note))
    elif zones is not None:
        z = add_zones(m, zones, metric_crs=crs)
        entries.append(LegendEntry(z.layer_name, symbol_outline(ZONE_COLOR, 2, fill="rgba(63,0,125,0.1)"), zone_note))

    sites = folder.layer("sites", required=False)
    if sites is not None and len(sites):
        g = add_sites(m, sites)
        entries.append(LegendEntry(g.layer_name, symbol_circle(SITE_COLOR, SITE_COLOR, 6, 1.0),
                                   "largest towns labelled; airports hollow"))

    events = folder.layer("events", required=False)
    if events is not None and len(events):
        cl = add_event_clusters(m, events, max_events=max_events)
        types = sorted(set(events["event_type"].astype(str))) if "event_type" in events else []
        detail = "".join(f'<div class="vl-row">{symbol_dot(EVENT_COLORS.get(t, OTHER_EVENT_COLOR))}'
                         f'<span>{html.escape(EVENT_LABELS.get(t, t.replace("_", " ")))}</span></div>'
                         for t in types)
        entries.append(LegendEntry(cl.layer_name, _cluster_symbol(), "numbers count clustered events",
                                   detail_html=detail))
        half_life = float(s.get("params", {}).get("half_life_days", 180.0))
        heat = add_event_heat(m, events, as_of=folder.as_of, half_life_days=half_life)
        entries.append(LegendEntry(heat.layer_name, symbol_swatch(
            f"linear-gradient(to right, {', '.join(HEAT_GRADIENT.values())})"), f"half-life {half_life:g} days"))

    bases = folder.bases()
    if len(bases):
        bg = add_bases(m, bases)
        entries.append(LegendEntry(bg.layer_name, symbol_circle(BASE_COLOR, BASE_EDGE),
                                   "circle area ~ troop strength; click for details"))
        air = folder.layer("air", required=False)
        if air is not None and len(air):
            ag = add_air_reach(m, air)
            entries.append(LegendEntry(ag.layer_name, symbol_outline(AIR_COLOR, 2, "dashed", "rgba(51,160,44,0.08)"),
                                       "airfield (ring) and helicopter radius of air-capable bases"))
    else:  # e.g. a viewer's copy of the folder, without base positions
        entries.append(LegendEntry("Peacekeeping bases", "", "no base positions in this copy of the analysis"))
    entries.append(LegendEntry("Basemaps", "", f"online only; '{PLAIN_BASEMAP}' needs no network"))

    legend = Legend([surface_section(STYLES["gap"])], entries, footer=downloads_footer(tiles))
    legend.add_to(m)
    gap = s.get("gap", {})
    zs = s.get("zones", {})
    lay = s.get("layers", {})
    # fmt_number: a figure missing from the summary (None, e.g. no population raster) shows as "–"
    subtitle = (f"{lay.get('bases', len(bases))} bases · {fmt_number(lay.get('events_in_window', 0))} events in the "
                f"look-back window · {fmt_number(zs.get('count', 0))} vacuum zones: "
                f"{fmt_number(zs.get('area_km2', 0))} km², {fmt_people(zs.get('population', 0))} people · "
                f"mean gap {fmt_number(gap.get('mean'), 1)} "
                f"(population-weighted {fmt_number(gap.get('population_weighted_mean'), 1)})")
    TitleBox(title or title_for(folder), subtitle, how_to_read=HOW_TO_READ["operations"]).add_to(m)
    add_standard_controls(m)
    return m
