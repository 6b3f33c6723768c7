"""Title box and legend: Leaflet controls inside the map (so they stay in full-screen mode).

The legend's surface classes and colours come from :mod:`geo.legend`, the table the
tile server colours from, so the legend always matches the tiles. It also lists every
layer of the layer switcher with its symbol.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import folium
from branca.element import Figure, MacroElement
from folium import plugins
from jinja2 import Template

from geo.legend import SurfaceStyle, class_ranges

from .style import RawHTML

__all__ = [
    "LegendEntry",
    "Legend",
    "TitleBox",
    "InfoPanel",
    "PhaseChoice",
    "surface_rows",
    "surface_section",
    "symbol_swatch",
    "symbol_circle",
    "symbol_outline",
    "symbol_dot",
    "add_standard_controls",
]


@dataclass(frozen=True)
class LegendEntry:
    """One layer of the layer switcher: its name (as shown there), a symbol, a note."""

    name: str
    symbol: str = ""
    note: str = ""
    detail_html: str = ""  # trusted markup shown under the name (e.g. symbol classes)


def symbol_swatch(fill: str, edge: str = "rgba(0,0,0,0.35)", opacity: float = 1.0) -> str:
    return (f'<span class="vl-swatch" style="background:{fill};opacity:{opacity:g};'
            f'border-color:{edge}"></span>')


def symbol_circle(fill: str, edge: str, size: int = 12, opacity: float = 0.85) -> str:
    return (f'<span class="vl-symbol"><span style="display:inline-block;width:{size}px;height:{size}px;'
            f'border-radius:50%;background:{fill};opacity:{opacity:g};border:2px solid {edge}"></span></span>')


def symbol_dot(fill: str, size: int = 9) -> str:
    return (f'<span class="vl-symbol"><span class="vacuum-event" style="display:inline-block;'
            f'width:{size}px;height:{size}px;background:{fill}"></span></span>')


def symbol_outline(edge: str, width: int = 2, dash: str = "solid", fill: str = "transparent") -> str:
    return (f'<span class="vl-swatch" style="background:{fill};border:{width}px {dash} {edge}"></span>')


def _class_ranges(style: SurfaceStyle) -> list[str]:
    """Escaped value ranges of the classes (:func:`geo.legend.class_ranges`: one precision, "≥ 50")."""
    return [html.escape(r).replace("≥", "&ge;") for r in class_ranges(style)]


def surface_rows(style: SurfaceStyle) -> str:
    """One row per class: colour swatch, label and (for named classes) the value range."""
    rows = []
    for color, label, rng in zip(style.colors, style.labels, _class_ranges(style), strict=True):
        named = not any(ch.isdigit() for ch in label)
        rows.append(f'<div class="vl-row" data-class="{html.escape(label)}">{symbol_swatch(color)}'
                    f'<span class="vl-label">{html.escape(label)}</span>'
                    + (f'<span class="vl-range">{rng}</span>' if named else "") + "</div>")
    return "".join(rows)


def surface_section(style: SurfaceStyle, title: str | None = None, *, collapsed: bool = False) -> str:
    """A legend block for one surface; ``collapsed`` shows only its title until clicked."""
    head = html.escape(title or f"{style.title} ({style.unit})")
    return (f'<details class="vl-surface" data-surface="{style.name}"{"" if collapsed else " open"}>'
            f'<summary><b>{head}</b></summary>{surface_rows(style)}</details>')


class _Control(MacroElement):
    """A Leaflet control holding fixed HTML."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, html_: str, position: str, css_class: str):
        super().__init__()
        self._name = "VacuumControl"
        self.html = html_
        self.position = position
        self.css_class = css_class


class Legend(_Control):
    """Legend control: surface sections (from geo.legend) and the list of layers.

    ``html`` holds the markup (tests read it); the page renders it into a Leaflet
    control at ``position``.
    """

    def __init__(self, sections: Sequence[str], layers: Sequence[LegendEntry] = (),
                 footer: str = "", position: str = "bottomright", layers_open: bool = True):
        self.sections = list(sections)
        self.layers = list(layers)
        parts = list(self.sections)
        if self.layers:
            parts.append(f'<details class="vl-layers"{" open" if layers_open else ""}><summary><b>Layers</b>'
                         '</summary>')
            for e in self.layers:
                note = f' <span class="vl-note">{html.escape(e.note)}</span>' if e.note else ""
                sym = e.symbol or '<span class="vl-symbol"></span>'
                parts.append(f'<div class="vl-row vl-layer">{sym}<span><span class="vl-layer-name">'
                             f'{html.escape(e.name)}</span>{note}</span></div>')
                if e.detail_html:
                    parts.append(f'<div class="vl-detail" style="margin-left:16px">{e.detail_html}</div>')
            parts.append("</details>")
        if footer:
            parts.append(f'<div class="vl-note" style="margin-top:6px">{footer}</div>')
        super().__init__("".join(parts), position, "vacuum-legend leaflet-control")
        self._name = "Legend"


class InfoPanel(_Control):
    """A small panel of fixed HTML (e.g. a ranking table)."""

    def __init__(self, html_: str, position: str = "bottomleft"):
        super().__init__(html_, position, "vacuum-panel leaflet-control")
        self._name = "InfoPanel"


class TitleBox(MacroElement):
    """A title centred at the top of the map, inside its container, with an optional
    "how to read this map" line; it also gives the page its ``<title>`` (``page_title``,
    default the title; ``""`` for none, e.g. the left map of a pair)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var div = L.DomUtil.create('div', 'vacuum-title', {{ this._parent.get_name() }}.getContainer());
            div.innerHTML = {{ this.html|tojson }};
        })();
        {% endmacro %}
    """)

    def __init__(self, title: str, subtitle: str = "", *, how_to_read: str = "", page_title: str | None = None):
        super().__init__()
        self._name = "TitleBox"
        self.title = title
        self.subtitle = subtitle
        self.how_to_read = how_to_read
        self.page_title = title if page_title is None else page_title
        self.html = f'<div class="vt-main">{html.escape(title)}</div>' + (
            f'<div class="vt-sub">{html.escape(subtitle)}</div>' if subtitle else "") + (
            f'<div class="vt-how"><b>How to read this map:</b> {html.escape(how_to_read)}</div>' if how_to_read else "")

    def render(self, **kwargs):
        figure = self.get_root()
        if self.page_title and isinstance(figure, Figure):
            figure.header.add_child(RawHTML(f"<title>{html.escape(self.page_title)}</title>"), name="vacuum_title")
        return super().render(**kwargs)


class PhaseChoice(MacroElement):
    """Radio buttons that show one phase's layer group at a time (the others off the map).

    The groups are kept out of the layer switcher (``control=False``); ``selected`` is the
    index shown first. ``html`` holds the markup (tests read it)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var groups = [{% for g in this.groups %}{{ g.get_name() }}{{ "," if not loop.last }}{% endfor %}];
            var ctl = L.control({position: {{ this.position|tojson }}});
            ctl.onAdd = function () {
                var div = L.DomUtil.create('div', 'vacuum-phases leaflet-control');
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                div.querySelectorAll('input[type=radio]').forEach(function (input) {
                    input.addEventListener('change', function () {
                        var k = parseInt(input.value, 10);
                        groups.forEach(function (g, i) {
                            if (i === k) { if (!map.hasLayer(g)) { map.addLayer(g); } }
                            else if (map.hasLayer(g)) { map.removeLayer(g); }
                        });
                    });
                });
                return div;
            };
            ctl.addTo(map);
        })();
        {% endmacro %}
    """)

    def __init__(self, groups: Sequence[folium.FeatureGroup], labels: Sequence[str], *, selected: int = -1,
                 heading: str = "Phase shown", position: str = "topright"):
        super().__init__()
        if len(groups) != len(labels) or not groups:
            raise ValueError(f"need one label per phase group, got {len(groups)} groups and {len(labels)} labels")
        self._name = "PhaseChoice"
        self.groups = list(groups)
        self.position = position
        self.selected = selected % len(groups)
        name = f"vacuum-phase-{id(self):x}"
        rows = "".join(f'<label class="vp-row"><input type="radio" name="{name}" value="{i}"'
                       f'{" checked" if i == self.selected else ""}> {html.escape(lab)}</label>'
                       for i, lab in enumerate(labels))
        self.html = f"<b>{html.escape(heading)}</b>{rows}"


def add_standard_controls(m: folium.Map, *, collapsed: bool = True) -> None:
    """Layer switcher (collapsed: a button that opens on hover, so it never covers the
    legend), full-screen button and distance/area measuring (the scale bar is a Map option)."""
    plugins.Fullscreen(position="topleft", title="Full screen", title_cancel="Exit full screen").add_to(m)
    plugins.MeasureControl(position="topleft", primary_length_unit="kilometers",
                                  secondary_length_unit="miles", primary_area_unit="sqkilometers",
                                  secondary_area_unit=None).add_to(m)
    folium.LayerControl(position="topright", collapsed=collapsed).add_to(m)
