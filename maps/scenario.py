"""The scenario map: before and after a withdrawal plan, side by side and synchronised.

Left, the analysis as it stands; right, one layer group per phase (gap after the
phase, the vacuum zones it opens, the bases open then and, in grey, those closed so
far, each popup naming its phase), the change in gap per
phase (``geo.legend`` style ``gap_delta``) and the bases still open at the end. The
two maps pan and zoom together (folium's DualMap, Leaflet.Sync).

:func:`scenario_map` returns the right-hand ("after") map, a ``folium.Map``; its page
(``m.get_root()``) holds both maps, so saving it writes the pair. :func:`before_map`
gives the left one.
"""

from __future__ import annotations

import os

import folium
import pandas as pd
from folium import plugins

from geo.legend import STYLES

from .areas import add_admin_layers, add_zones
from .basemaps import add_basemaps
from .bases import add_bases
from .controls import (
    Legend,
    LegendEntry,
    PhaseChoice,
    TitleBox,
    surface_section,
    symbol_circle,
    symbol_outline,
    symbol_swatch,
)
from .coords import bounds_latlon, center_latlon
from .elements import walk
from .folder import open_analysis, read_layer
from .operations import HOW_TO_READ, MAX_ZOOM, cell_km, title_for
from .scenario_folder import Scenario, read_scenario
from .style import (
    ADMIN_EDGE,
    BASE_COLOR,
    BASE_EDGE,
    CLOSED_COLOR,
    HANDOVER_COLOR,
    NEW_ZONE_COLOR,
    ZONE_COLOR,
    PageStyle,
    add_panes,
)
from .surfaces import add_surface

__all__ = ["scenario_map", "before_map"]


def _frame(m: folium.Map, bbox, basemap: str | None, carto_api_key: str | None) -> None:
    add_basemaps(m, default=basemap, carto_api_key=carto_api_key)
    add_panes(m)
    PageStyle().add_to(m)
    if bbox:
        m.fit_bounds(bounds_latlon(bbox))


def scenario_map(
    analysis_dir: str | os.PathLike[str],
    scenario_dir: str | os.PathLike[str],
    *,
    basemap: str | None = None,
    carto_api_key: str | None = None,
) -> folium.Map:
    """Before/after maps of a withdrawal plan; returns the "after" map (see module doc)."""
    folder = open_analysis(analysis_dir)
    sc: Scenario = read_scenario(scenario_dir)
    crs = folder.grid_crs
    bbox = folder.summary.get("grid", {}).get("bounds_lonlat")
    dual = plugins.DualMap(location=center_latlon(bbox) if bbox else (0.0, 0.0), layout="horizontal",
                           tiles=None, zoom_start=6, maxZoom=MAX_ZOOM, control_scale=True, zoom_snap=0.25,
                           zoom_delta=0.5)
    before, after = dual.m1, dual.m2
    for m in (before, after):
        _frame(m, bbox, basemap, carto_api_key)

    bases = folder.bases()
    closed = sc.closed_by_phase()
    plan_rows = {b: [("Plan", f"{'handed to national forces' if b in ph.handed_over else 'closes'} in {ph.label}")]
                 for b, ph in closed.items()}
    admin = folder.layer("admin_summary", required=False)
    zones = folder.layer("zones", required=False)

    # ---- before
    b_entries = [LegendEntry("Gap before the plan", symbol_swatch(STYLES["gap"].colors[3]), f"{cell_km(folder):g} km cells")]
    add_surface(before, "gap", name="Gap before the plan", path=folder.surface("gap"))
    if admin is not None and len(admin):
        _, outl = add_admin_layers(before, admin, metric_crs=crs, choropleth=False)
        b_entries.append(LegendEntry(outl.layer_name, symbol_outline(ADMIN_EDGE, 1)))
    if zones is not None:
        z = add_zones(before, zones, metric_crs=crs, name=f"Vacuum zones before ({len(zones)})")
        b_entries.append(LegendEntry(z.layer_name, symbol_outline(ZONE_COLOR, 2, fill="rgba(63,0,125,0.1)")))
    g = add_bases(before, bases, name=f"Bases before the plan ({len(bases)})", extra_rows=plan_rows)
    b_entries.append(LegendEntry(g.layer_name, symbol_circle(BASE_COLOR, BASE_EDGE), "circle area ~ strength"))
    Legend([surface_section(STYLES["gap"])], b_entries, position="bottomleft").add_to(before)
    TitleBox(f"Before · {title_for(folder)}", f"{len(bases)} bases open", page_title="").add_to(before)

    # ---- after: one layer group per phase, deltas, remaining bases
    a_entries: list[LegendEntry] = []
    if admin is not None and len(admin):
        _, outl = add_admin_layers(after, admin, metric_crs=crs, choropleth=False)
        a_entries.append(LegendEntry(outl.layer_name, symbol_outline(ADMIN_EDGE, 1)))
    last = sc.phases[-1]
    has_cov_delta = False
    gone_so_far: dict[str, str] = {}  # base -> popup line (closed / handed over, in which phase)
    handed: set[str] = set()
    phase_groups: list[folium.FeatureGroup] = []
    strength = dict(zip(bases["base_id"].astype(str), bases["strength"], strict=True)) if "strength" in bases else {}
    for ph in sc.phases:
        for b in ph.closed:
            gone_so_far.setdefault(b, f"closed in {ph.label}")
        for b in ph.handed_over:
            gone_so_far.setdefault(b, f"handed to national forces in {ph.label}")
            handed.add(b)
        for b, troops in ph.reduced.items():
            if troops is not None:
                strength[b] = troops
        group = folium.FeatureGroup(name=ph.label, show=ph is last, control=False)  # chosen by PhaseChoice
        phase_groups.append(group)
        add_surface(after, "gap", name=f"{ph.label}: gap after", path=ph.require("gap.tif"), parent=group)
        nz_path = ph.path("new_zones.geojson")
        n_new = 0
        if nz_path is not None:
            nz = read_layer(nz_path)
            n_new = len(nz)
            if n_new:
                add_zones(group, nz, metric_crs=crs, new=True, name=f"{ph.label}: new vacuum zones")
        # the whole picture of the bases at this phase: open ones, and grey the ones gone so far
        now = bases.assign(strength=bases["base_id"].astype(str).map(strength)) if strength else bases
        ids = now["base_id"].astype(str)
        is_gone = ids.isin(pd.Index(list(gone_so_far)))
        add_bases(group, now[~is_gone], name=f"{ph.label}: open bases",
                  extra_rows={b: [("Plan", f"reduced to {strength[b]:,.0f} troops")]
                              for b in ids[~is_gone] if b in reduced_ids(sc, ph)})
        add_bases(group, now[is_gone], name=f"{ph.label}: closed bases",
                  fill={b: HANDOVER_COLOR if b in handed else CLOSED_COLOR for b in ids[is_gone]},
                  edge="#424242", fill_opacity=0.9,
                  extra_rows={b: [("Plan", gone_so_far[b])] for b in ids[is_gone]})
        group.add_to(after)
        a_entries.append(LegendEntry(ph.label, symbol_swatch(STYLES["gap"].colors[3]),
                                     f"gap after it; {len(ph.gone)} bases leave; {n_new} new zones; "
                                     f"{int((~is_gone).sum())} bases open"))
    for ph in sc.phases:
        layer = add_surface(after, "gap_delta", name=f"{ph.label}: change in gap",
                            path=ph.require("gap_delta.tif"), show=False)
        a_entries.append(LegendEntry(layer.layer_name, symbol_swatch(STYLES["gap_delta"].colors[-1])))
        cov = ph.path("coverage_delta.tif")
        if cov is not None:
            has_cov_delta = True
            layer = add_surface(after, "coverage_delta", name=f"{ph.label}: change in coverage", path=cov,
                                show=False)
            a_entries.append(LegendEntry(layer.layer_name, symbol_swatch(STYLES["coverage_delta"].colors[0])))
    a_entries.append(LegendEntry("Open bases", symbol_circle(BASE_COLOR, BASE_EDGE), "in each phase's group"))
    a_entries.append(LegendEntry("Closed bases", symbol_circle(CLOSED_COLOR, "#424242"),
                                 "grey; the popup names the phase"))
    if handed:
        a_entries.append(LegendEntry("Handed to national forces", symbol_circle(HANDOVER_COLOR, "#424242")))
    a_entries.append(LegendEntry("New vacuum zones", symbol_outline(NEW_ZONE_COLOR, 3, "dashed",
                                                                    "rgba(231,41,138,0.18)"), "in their phase's group"))
    sections = [surface_section(STYLES["gap"]), surface_section(STYLES["gap_delta"], collapsed=True)]
    if has_cov_delta:
        sections.append(surface_section(STYLES["coverage_delta"], collapsed=True))
    Legend(sections, a_entries, position="bottomright", layers_open=False).add_to(after)
    TitleBox(f"After · {sc.name}", f"{len(sc.phases)} phases · {len(closed)} bases closed or handed over",
             how_to_read=HOW_TO_READ["scenario"],
             page_title=f"{sc.name}: before and after · {title_for(folder)}").add_to(after)
    PhaseChoice(phase_groups, [ph.label for ph in sc.phases], selected=len(phase_groups) - 1).add_to(after)
    for m in (before, after):
        plugins.MeasureControl(position="topleft", primary_length_unit="kilometers",
                               primary_area_unit="sqkilometers").add_to(m)
        folium.LayerControl(position="topright", collapsed=True).add_to(m)
    return after


def reduced_ids(sc: Scenario, upto) -> set[str]:
    """Bases reduced in ``upto`` or an earlier phase."""
    out: set[str] = set()
    for ph in sc.phases:
        out.update(ph.reduced)
        if ph is upto:
            break
    return out


def before_map(after: folium.Map) -> folium.Map | None:
    """The left-hand map paired with a map returned by :func:`scenario_map`."""
    for el in walk(after.get_root()):
        if isinstance(el, plugins.DualMap) and el.m2 is after:
            return el.m1
    return None
