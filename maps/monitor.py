"""The monitoring map: a time slider over the dates of a monitor folder (``vacuum monitor``).

For each finished date the gap (or, with ``public=True``, the viewers' block gap of
:mod:`geo.public`) and the forecast risk are embedded as Web Mercator images, with that
date's vacuum zones; a slider (and the arrow keys) steps through the dates, a radio
switches gap and risk. The admin units open their chart (``charts/unit_<id>.png``) and
their figures at the shown date; the alerts are listed beside the map, each linked to
its unit and date. No base is drawn, so the map is the same for every role except the
gap surface (the full gap for planners, the block gap for viewers). The page is
standalone: everything is in the one HTML file, Leaflet inlined (:mod:`maps.assets`).

The folder format is documented in ``docs/monitoring.md``.
"""

from __future__ import annotations

import base64
import html
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement, Template
from folium.raster_layers import ImageOverlay

from geo.legend import style_for
from geo.public import block_cells, public_gap
from geo.rasters import read_surface

from .basemaps import add_basemaps
from .controls import Legend, TitleBox, surface_section
from .coords import bounds_latlon
from .errors import MissingProductError
from .overlay import render_surface
from .style import PageStyle, add_panes

__all__ = ["monitor_map", "MONITOR_MAX_PIXELS", "monitor_dates"]

MONITOR_MAX_PIXELS = 600_000
"""Pixels per date and surface: dozens of dates share one page, so each image stays light."""

_UNIT_FIELDS = (("risk_mean", "Forecast risk (mean)", "pct"), ("gap_mean", "Gap (mean)", 1),
                ("gap_max", "Gap (max)", 1), ("people_high", "People at high gap", 0),
                ("people_critical", "People at critical gap", 0), ("events_in_window", "Events in the window", 0))
_PUBLIC_UNIT_FIELDS = (("risk_mean", "Forecast risk (mean)", "pct"), ("events_in_window", "Events in the window", 0))


def monitor_dates(folder: Path) -> list[str]:
    """The finished dates of a monitor folder, in order (``monitor.json``)."""
    meta = folder / "monitor.json"
    if not meta.is_file():
        raise MissingProductError(f"{folder}: no monitor.json; is this a `vacuum monitor` folder?")
    finished = json.loads(meta.read_text(encoding="utf-8")).get("finished") or []
    if not finished:
        raise MissingProductError(f"{folder}: the monitor has no finished date yet")
    return [str(d) for d in finished]


def _image(path: Path, surface: str, public: bool) -> tuple[str, list[list[float]]]:
    values, grid = read_surface(path)
    if public:
        values = public_gap(values, block_cells(grid.resolution))
    img = render_surface(values, grid, style_for("gap_public" if public else surface),
                         max_pixels=MONITOR_MAX_PIXELS, optimize=False)  # 48 images a page: encode fast
    return img.data_url, img.bounds


def _zones_json(path: Path) -> str | None:
    """A date's vacuum zones as GeoJSON text; None when the date has none (or no file)."""
    if not path.is_file():
        return None
    zones = gpd.read_file(path)
    return zones.to_json(default=str) if len(zones) else None


def _fmt(v: Any, how: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if how == "pct":
        return f"{100 * float(v):.1f} %"
    return f"{float(v):,.{int(how)}f}"


def _unit_popups(folder: Path, series: pd.DataFrame, dates: list[str], public: bool) -> dict[str, dict[str, str]]:
    """Per unit: its chart (data URI, if drawn) and, per date, a small table of its figures."""
    fields = _PUBLIC_UNIT_FIELDS if public else _UNIT_FIELDS
    out: dict[str, dict[str, str]] = {}
    for uid, rows in series.groupby("unit_id", sort=False):
        doc: dict[str, str] = {}
        chart = folder / "charts" / f"unit_{uid}.png"
        if chart.is_file() and not public:  # the charts plot the gap: planners
            doc["chart"] = "data:image/png;base64," + base64.b64encode(chart.read_bytes()).decode("ascii")
        for r in rows.to_dict("records"):  # plain values: much faster than iterrows
            d = str(r["date"])[:10]
            if d in dates:
                doc[d] = "".join(f"<tr><th>{html.escape(label)}</th><td>{_fmt(r.get(col), how)}</td></tr>"
                                 for col, label, how in fields if col in r)
        out[str(uid)] = doc
    return out


def _page_parts(folder: Path, dates: list[str], units: gpd.GeoDataFrame, series: pd.DataFrame,
                public: bool) -> tuple[dict[tuple[str, str], tuple[str, list[list[float]]]], dict[str, str | None],
                                       str, dict[str, dict[str, str]]]:
    """The page's heavy parts: the images by (date, surface), on two threads, and meanwhile
    on this one the zones' GeoJSON by date, the units' GeoJSON and the unit popups."""
    keys = [(d, surface) for d in dates for surface in ("gap", "risk")]
    with ThreadPoolExecutor(2) as pool:  # reading, colouring and PNG encoding release the GIL
        pending = [pool.submit(_image, folder / "dates" / d / f"{surface}.tif", surface, public and surface == "gap")
                   for d, surface in keys]
        try:
            zones = {d: None if public else _zones_json(folder / "dates" / d / "zones.geojson") for d in dates}
            units_json = units.to_json(default=str)
            popups = _unit_popups(folder, series, dates, public)
        except BaseException:
            for f in pending:
                f.cancel()
            raise
        images = dict(zip(keys, (f.result() for f in pending), strict=True))
    return images, zones, units_json, popups


class _TimeSlider(MacroElement):
    """The date slider, the gap/risk choice, the unit popups and the alert list."""

    _template = Template("""
        {% macro html(this, kwargs) %}
        <div id="vm-panel" class="vacuum-panel" style="width:420px;background:#fff;padding:6px 10px;border-radius:4px;box-shadow:0 1px 5px rgba(0,0,0,.4)">
          <div class="vm-date"><b id="vm-date-label"></b></div>
          <input id="vm-slider" type="range" min="0" max="{{ this.n - 1 }}" value="{{ this.n - 1 }}"
                 aria-label="as-of date" style="width:100%">
          <label><input type="radio" name="vm-surface" value="gap" checked> {{ this.gap_label }}</label>
          <label><input type="radio" name="vm-surface" value="risk"> forecast risk</label>
          <h4>Alerts ({{ this.alerts|length }})</h4>
          <ol id="vm-alerts" style="max-height:220px;overflow-y:auto;margin:0;padding-left:22px;font-size:12px">{% for a in this.alerts %}<li><a href="#" data-date="{{ a.date }}"
            data-unit="{{ a.unit_id }}">{{ a.date }} · {{ a.unit_name }}: {{ a.message }}</a></li>{% endfor %}</ol>
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
          var map = {{ this._parent.get_name() }};
          var dates = {{ this.dates|tojson }};
          var layers = { gap: [{% for n in this.gap %}{{ n }},{% endfor %}],
                         risk: [{% for n in this.risk %}{{ n }},{% endfor %}],
                         zones: [{% for n in this.zones %}{{ n }},{% endfor %}] };
          var units = {{ this.units_layer }};
          var popups = {{ this.popups|tojson }};
          var state = { i: dates.length - 1, surface: "gap" };
          var panel = document.getElementById("vm-panel");
          var ctl = L.control({position: "bottomleft"});
          ctl.onAdd = function () { L.DomEvent.disableClickPropagation(panel); L.DomEvent.disableScrollPropagation(panel); return panel; };
          ctl.addTo(map);
          function show() {
            ["gap", "risk", "zones"].forEach(function (k) {
              layers[k].forEach(function (l, j) {
                var on = j === state.i && (k === "zones" || k === state.surface);
                if (on && !map.hasLayer(l)) map.addLayer(l);
                if (!on && map.hasLayer(l)) map.removeLayer(l);
              });
            });
            document.getElementById("vm-date-label").textContent = "as of " + dates[state.i];
            document.getElementById("vm-slider").value = String(state.i);
            document.body.dataset.monitorDate = dates[state.i];
            units.bringToFront();
          }
          document.getElementById("vm-slider").addEventListener("input", function (e) { state.i = Number(e.target.value); show(); });
          document.querySelectorAll("input[name=vm-surface]").forEach(function (r) {
            r.addEventListener("change", function (e) { state.surface = e.target.value; show(); }); });
          document.addEventListener("keydown", function (e) {
            if (e.key === "ArrowLeft" && state.i > 0) { state.i -= 1; show(); }
            if (e.key === "ArrowRight" && state.i < dates.length - 1) { state.i += 1; show(); }
          });
          units.eachLayer(function (l) {
            l.on("click", function () {
              var p = l.feature.properties, doc = popups[String(p.unit_id)] || {};
              var body = "<b>" + p.name + "</b> as of " + dates[state.i] + "<table>" + (doc[dates[state.i]] || "") + "</table>";
              if (doc.chart) body += '<img src="' + doc.chart + '" style="width:360px" alt="chart of ' + p.name + '">';
              l.bindPopup(body, {maxWidth: 400}).openPopup();
            });
          });
          document.querySelectorAll("#vm-alerts a").forEach(function (a) {
            a.addEventListener("click", function (e) {
              e.preventDefault();
              var j = dates.indexOf(a.dataset.date); if (j >= 0) { state.i = j; show(); }
              units.eachLayer(function (l) { if (String(l.feature.properties.unit_id) === a.dataset.unit) map.fitBounds(l.getBounds()); });
            });
          });
          show();
        })();
        {% endmacro %}
    """)

    def __init__(self, dates, gap, risk, zones, units_layer, popups, alerts, gap_label):
        super().__init__()
        self._name = "MonitorSlider"
        self.dates, self.n = dates, len(dates)
        self.gap = [g.get_name() for g in gap]
        self.risk = [r.get_name() for r in risk]
        self.zones = [z.get_name() for z in zones]
        self.units_layer = units_layer.get_name()
        self.popups, self.alerts, self.gap_label = popups, alerts, gap_label


def monitor_map(folder: str | Path, *, public: bool = False, basemap: str | None = None) -> folium.Map:
    """The map of a monitor folder. ``public``: the viewers' variant (block gap, risk, no
    gap figures in the unit popups, only the alerts a viewer may see: forecast risk and
    new zones)."""
    folder = Path(folder)
    dates = monitor_dates(folder)
    units = gpd.read_file(folder / "units.geojson")
    series = pd.read_csv(folder / "series" / "admin.csv", dtype={"unit_id": str})
    alerts = json.loads((folder / "alerts.json").read_text(encoding="utf-8")).get("alerts", []) \
        if (folder / "alerts.json").is_file() else []
    if public:
        alerts = [a for a in alerts if a.get("metric") in ("risk_mean", "risk_max") or a.get("rule") == "new_zone"]
    alerts = [{k: ("" if a.get(k) is None else a.get(k)) for k in ("date", "unit_id", "unit_name", "message")}
              for a in alerts]
    images, zones, units_json, popups = _page_parts(folder, dates, units, series, public)
    m = folium.Map(location=(0.0, 0.0), zoom_start=6, tiles=None, control_scale=True, zoom_snap=0.25)
    add_basemaps(m, default=basemap)
    add_panes(m)
    PageStyle().add_to(m)
    w, s, e, n = units.total_bounds
    m.fit_bounds(bounds_latlon((w, s, e, n)))
    gap_layers, risk_layers, zone_layers = [], [], []
    for d in dates:
        for surface, bucket in (("gap", gap_layers), ("risk", risk_layers)):
            url, bounds = images[d, surface]
            layer = ImageOverlay(image=url, bounds=bounds, name=f"{surface} {d}", interactive=False,
                                 show=False, control=False, pane="vacuumSurface")
            layer.add_to(m)
            bucket.append(layer)
        fg = folium.GeoJson(zones[d] or {"type": "FeatureCollection", "features": []}, name=f"zones {d}", show=False,
                            control=False, style_function=lambda _f: {"color": "#3f007d", "weight": 2, "fill": False})
        fg.add_to(m)
        zone_layers.append(fg)
    units_layer = folium.GeoJson(units_json, name="Admin units",
                                 style_function=lambda _f: {"color": "#444", "weight": 1, "fillOpacity": 0.0},
                                 highlight_function=lambda _f: {"weight": 3},
                                 tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False))
    units_layer.add_to(m)
    gap_label = "coverage gap (150 km blocks)" if public else "coverage gap"
    _TimeSlider(dates, gap_layers, risk_layers, zone_layers, units_layer, popups, alerts, gap_label).add_to(m)
    Legend([surface_section(style_for("gap_public" if public else "gap")), surface_section(style_for("risk"))],
           position="bottomright").add_to(m)
    TitleBox(f"Monitoring: {dates[0]} to {dates[-1]}",
             "Slide through the dates; click a unit for its figures and chart, an alert to go to it").add_to(m)
    m.get_root().header.add_child(folium.Element(
        f"<title>Vacuum monitoring {html.escape(dates[0])} to {html.escape(dates[-1])}</title>"))
    return m
