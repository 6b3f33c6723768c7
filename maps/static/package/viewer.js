// The offline field package's map (maps/package.py writes the page and its data files).
// Works from file:// with no network: the PMTiles archives come as base64 strings in
// <script> data files (browsers refuse fetch() of file:// URLs), read through an
// in-memory pmtiles Source; the vectors come as GeoJSON in data/package.js.
(function () {
  "use strict";
  var P = window.VACUUM_PACKAGE;
  var B64 = window.VACUUM_PMTILES || {};

  // A pmtiles Source over an ArrayBuffer decoded once from base64.
  function MemorySource(key, b64) {
    this.key = key;
    this.b64 = b64;
    this.buf = null;
  }
  MemorySource.prototype.getKey = function () { return this.key; };
  MemorySource.prototype.getBytes = function (offset, length) {
    if (this.buf === null) {
      var bin = atob(this.b64);
      var u = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
      this.buf = u.buffer;
      this.b64 = null;
    }
    return Promise.resolve({ data: this.buf.slice(offset, offset + length) });
  };

  function text(tag, s) {
    var el = document.createElement(tag);
    el.textContent = s;
    return el;
  }

  function popup(props, keys) {
    var t = document.createElement("table");
    keys.forEach(function (k) {
      if (!(k in props) || props[k] === null) return;
      var tr = document.createElement("tr");
      tr.appendChild(text("th", k));
      var v = props[k];
      tr.appendChild(text("td", typeof v === "number" ? String(Math.round(v * 100) / 100) : String(v)));
      t.appendChild(tr);
    });
    return t;
  }

  var b = P.bounds; // [W, S, E, N]
  var map = L.map("map", { zoomSnap: 1, minZoom: 2, maxZoom: P.maxzoom + 3 });
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  map.attributionControl.setPrefix(false);

  var surfaces = {};
  var first = null;
  P.layers.forEach(function (l) {
    var src = new pmtiles.PMTiles(new MemorySource(l.name, B64[l.name]));
    var layer = pmtiles.leafletRasterLayer(src, {
      maxNativeZoom: l.maxzoom, minNativeZoom: l.minzoom, maxZoom: P.maxzoom + 3, opacity: 0.85,
      bounds: [[l.bounds[1], l.bounds[0]], [l.bounds[3], l.bounds[2]]], attribution: P.attribution,
      className: "surface-" + l.name,
    });
    layer._vacuumSurface = l.name;
    surfaces[l.title] = layer;
    if (first === null) first = layer;
  });

  var overlays = {};
  var zoneKeys = P.zone_columns;
  overlays["Vacuum zones"] = L.geoJSON(P.zones, {
    style: { color: "#000000", weight: 2, fill: false, className: "vacuum-zone" },
    onEachFeature: function (f, lyr) { lyr.bindPopup(popup(f.properties, zoneKeys)); },
  }).addTo(map);
  overlays["Admin units"] = L.geoJSON(P.admin, {
    style: { color: "#555555", weight: 1, fill: false, dashArray: "3", className: "admin-unit" },
    onEachFeature: function (f, lyr) { lyr.bindTooltip(String(f.properties.name || f.properties.admin_id)); },
  }).addTo(map);
  if (P.bases) {
    overlays["Bases"] = L.geoJSON(P.bases, {
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, { radius: 5, color: "#08306b", weight: 2, fillColor: "#ffffff", fillOpacity: 1 });
      },
      onEachFeature: function (f, lyr) { lyr.bindTooltip(String(f.properties.name || f.properties.base_id)); },
    }).addTo(map);
  }

  function showLegend(name) {
    var items = document.querySelectorAll(".legend");
    for (var i = 0; i < items.length; i++) {
      items[i].style.display = items[i].getAttribute("data-surface") === name ? "" : "none";
    }
  }
  map.on("baselayerchange", function (e) { showLegend(e.layer._vacuumSurface); });
  if (first !== null) {
    first.addTo(map);
    showLegend(first._vacuumSurface);
  }
  L.control.layers(surfaces, overlays, { collapsed: false }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  window.vacuumMap = map;
})();
