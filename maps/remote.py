"""GeoJSON layers the browser fetches from the service (served mode).

A :class:`RemoteGeoJson` is a ``folium.FeatureGroup`` (so the layer switcher lists
it) plus a script that fetches a GeoJSON endpoint of the service and adds it to the
group: the page carries no copy of the data, and shows what the service serves to
the viewer's role. Class colours come from :mod:`geo.legend`, as for the tiles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import folium
from branca.element import MacroElement
from jinja2 import Template

from geo.legend import SurfaceStyle

__all__ = ["RemoteGeoJson", "add_remote_geojson"]


class _Loader(MacroElement):
    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var group = {{ this.group.get_name() }};
  var opts = {{ this.options_json }};
  function fmt(v, digits) {
    if (v === null || v === undefined || v === '') { return '&ndash;'; }
    if (typeof v === 'number') {
      if (!isFinite(v)) { return '&ndash;'; }
      return v.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: 0});
    }
    return String(v).replace(/[&<>"]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; });
  }
  function fill(v) {
    if (!opts.fill || typeof v !== 'number' || !isFinite(v)) { return null; }
    var i = 0;
    while (i < opts.fill.breaks.length && v >= opts.fill.breaks[i]) { i++; }
    return opts.fill.colors[i];
  }
  fetch(opts.url, {credentials: 'same-origin'})
    .then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.json();
    })
    .then(function (data) {
      var layer = L.geoJSON(data, {
        pane: opts.pane,
        style: function (f) {
          var s = Object.assign({}, opts.style);
          if (opts.fill) { var c = fill(f.properties[opts.fill.property]); if (c) { s.fillColor = c; } }
          return s;
        },
        onEachFeature: function (f, l) {
          var rows = opts.fields.map(function (x) {
            return '<tr><th style="text-align:left;padding-right:8px">' + x[1] + '</th><td>' +
                   fmt(f.properties[x[0]], x[2]) + '</td></tr>';
          }).join('');
          l.bindTooltip('<table>' + rows + '</table>', {sticky: true});
        }
      });
      group.addLayer(layer);
      group.fire('vacuum:loaded', {count: (data.features || []).length});
    })
    .catch(function (e) { console.warn('Vacuum: could not load ' + opts.url + ': ' + e); });
})();
{% endmacro %}
""")

    def __init__(self, group: folium.FeatureGroup, options: dict):
        super().__init__()
        self._name = "RemoteGeoJsonLoader"
        self.group = group
        self.options_json = json.dumps(options)


class RemoteGeoJson(folium.FeatureGroup):
    """A layer filled in the browser from ``url`` (a GeoJSON FeatureCollection)."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        style: Mapping[str, object],
        fields: Sequence[tuple[str, str, int]],
        pane: str | None = None,
        fill_property: str | None = None,
        fill_style: SurfaceStyle | None = None,
        show: bool = True,
    ):
        super().__init__(name=name, show=show)
        self.url = url
        opts: dict = {"url": url, "style": dict(style), "fields": [list(f) for f in fields], "pane": pane}
        if fill_property and fill_style is not None:
            opts["fill"] = {"property": fill_property, "breaks": list(fill_style.breaks), "colors": list(fill_style.colors)}
        self.add_child(_Loader(self, opts))


def add_remote_geojson(m: folium.Map, url: str, **kwargs) -> RemoteGeoJson:
    layer = RemoteGeoJson(url, **kwargs)
    layer.add_to(m)
    return layer
