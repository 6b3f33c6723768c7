"""Colours, panes and page CSS of the vector layers (surface colours live in :mod:`geo.legend`).

Vector colours are chosen apart from the gap palette (green to dark red): bases in
UN blue, vacuum zones in dark purple, events in blue/teal/magenta by type.
"""

from __future__ import annotations

import folium
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

__all__ = [
    "BASE_COLOR",
    "BASE_EDGE",
    "CLOSED_COLOR",
    "HANDOVER_COLOR",
    "ZONE_COLOR",
    "NEW_ZONE_COLOR",
    "ADMIN_EDGE",
    "SITE_COLOR",
    "EVENT_COLORS",
    "EVENT_LABELS",
    "OTHER_EVENT_COLOR",
    "PANES",
    "add_panes",
    "PageStyle",
    "RawHTML",
]

BASE_COLOR = "#1f78b4"
BASE_EDGE = "#08306b"
CLOSED_COLOR = "#9e9e9e"
HANDOVER_COLOR = "#bf9b30"
ZONE_COLOR = "#3f007d"
NEW_ZONE_COLOR = "#e7298a"
ADMIN_EDGE = "#4d4d4d"
SITE_COLOR = "#252525"
OTHER_EVENT_COLOR = "#525252"
EVENT_COLORS = {
    "state_based": "#253494",
    "non_state": "#1d91c0",
    "one_sided": "#c51b7d",
    "battles": "#253494",
    "violence_against_civilians": "#c51b7d",
    "explosions_remote_violence": "#1d91c0",
}
EVENT_LABELS = {
    "state_based": "state-based conflict",
    "non_state": "non-state conflict",
    "one_sided": "one-sided violence (against civilians)",
    "battles": "battles",
    "violence_against_civilians": "violence against civilians",
    "explosions_remote_violence": "explosions / remote violence",
}

PANES: dict[str, tuple[int, bool]] = {
    # name: (z-index, takes pointer events). Leaflet: tiles 200, overlays 400, markers 600, tooltips 650
    "vacuumSurface": (350, False),
    "vacuumAreas": (410, True),
    "vacuumZones": (420, True),
    "vacuumSites": (440, True),
    "vacuumBases": (590, True),  # under the event clusters (600), whose counts must stay readable
}


def add_panes(m: folium.Map) -> None:
    """Create the panes that keep layers in a fixed order whatever is toggled."""
    for name, (z, pointer) in PANES.items():
        folium.map.CustomPane(name, z_index=z, pointer_events=pointer).add_to(m)


class RawHTML(Element):
    """Markup inserted as is (no Jinja parsing of its braces)."""

    _template = Template("{{ this.markup }}")

    def __init__(self, markup: str):
        super().__init__()
        self._name = "RawHTML"
        self.markup = markup


_CSS = """
<style>
.leaflet-container { background: #e9e7e1; font-family: Arial, Helvetica, sans-serif; }
.vacuum-title { position: absolute; top: 10px; left: 50%; transform: translateX(-50%); z-index: 800;
  background: rgba(255,255,255,0.92); padding: 6px 14px; border-radius: 4px; text-align: center;
  box-shadow: 0 1px 5px rgba(0,0,0,0.4); pointer-events: none; max-width: 60%; }
.vacuum-title .vt-main { font-size: 16px; font-weight: bold; color: #222; }
.vacuum-title .vt-sub { font-size: 12px; color: #444; margin-top: 2px; }
.vacuum-title .vt-how { font-size: 11.5px; color: #333; margin-top: 3px; }
.vacuum-phases { background: rgba(255,255,255,0.94); padding: 6px 10px; border-radius: 4px; font-size: 12px;
  box-shadow: 0 1px 5px rgba(0,0,0,0.4); max-width: 280px; }
.vacuum-phases .vp-row { display: block; margin: 2px 0; cursor: pointer; }
.vacuum-legend { background: rgba(255,255,255,0.94); padding: 8px 10px; border-radius: 4px; font-size: 12px;
  line-height: 16px; color: #222; box-shadow: 0 1px 5px rgba(0,0,0,0.4); max-height: 62vh; overflow-y: auto;
  max-width: 300px; }
.vacuum-legend h4 { margin: 0 0 4px 0; font-size: 13px; }
.vacuum-legend h5 { margin: 8px 0 3px 0; font-size: 12px; border-top: 1px solid #ccc; padding-top: 5px; }
.vacuum-legend details { margin: 0 0 4px 0; }
.vacuum-legend details + details { border-top: 1px solid #ccc; padding-top: 4px; }
.vacuum-legend summary { cursor: pointer; font-size: 12.5px; margin-bottom: 2px; }
.vacuum-legend .vl-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.vacuum-legend .vl-swatch { display: inline-block; width: 22px; height: 13px; flex: none;
  border: 1px solid rgba(0,0,0,0.35); }
.vacuum-legend .vl-symbol { display: inline-block; width: 22px; flex: none; text-align: center; }
.vacuum-legend .vl-range { color: #555; margin-left: auto; padding-left: 8px; white-space: nowrap; }
.vacuum-legend .vl-note { color: #555; font-size: 11px; }
.vacuum-legend a { color: #1f4e99; }
.vacuum-panel { background: rgba(255,255,255,0.94); padding: 6px 8px; border-radius: 4px; font-size: 12px;
  box-shadow: 0 1px 5px rgba(0,0,0,0.4); max-height: 45vh; overflow-y: auto; }
.vacuum-panel table { border-collapse: collapse; }
.vacuum-panel td, .vacuum-panel th { padding: 1px 5px; text-align: left; }
.vacuum-panel td.num { text-align: right; }
.vacuum-popup table { border-collapse: collapse; font-size: 12px; }
.vacuum-popup th { text-align: left; padding: 1px 8px 1px 0; color: #555; font-weight: normal; white-space: nowrap; }
.vacuum-popup td { padding: 1px 0; }
.vacuum-popup h4 { margin: 0 0 4px 0; font-size: 13px; }
.vacuum-event { border-radius: 50%; border: 1.5px solid #fff; box-shadow: 0 0 2px rgba(0,0,0,0.6); }
.vacuum-cluster { background: rgba(63,0,125,0.28); border-radius: 50%; }
.vacuum-cluster div { background: rgba(63,0,125,0.85); color: #fff; border-radius: 50%; text-align: center;
  font: bold 11px Arial, sans-serif; margin: 4px; }
.vacuum-label { background: transparent; border: none; box-shadow: none; color: #111; font-weight: bold;
  font-size: 11px; text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; padding: 0; }
.vacuum-label::before { display: none; }
</style>
"""


class PageStyle(MacroElement):
    """The CSS of titles, legends, popups and event symbols, added once per page."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "PageStyle"

    def render(self, **kwargs):
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(RawHTML(_CSS), name="vacuum_css")
        return super().render(**kwargs)
