"""Folium maps built from the real demo analysis: structure, legend, coordinates, offline assets."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from conftest import DEMO, DEMO_AS_OF, events_in_window_by_hand, zones_by_hand
from folium import plugins
from folium.elements import JSCSSMixin
from folium.raster_layers import ImageOverlay
from PIL import Image
from shapely.geometry import Point

from cli.main import main
from geo.errors import MissingCRSError, VacuumError
from geo.grid import Grid, equal_area_crs
from geo.legend import STYLES
from geo.params import Params
from geo.rasters import read_surface, write_cog
from maps import (
    MapAssetError,
    MapError,
    MissingProductError,
    TileSource,
    before_map,
    criticality_map,
    operations_map,
    render_html,
    save_html,
    scenario_map,
)
from maps.assets import ASSETS, STATIC_DIR, localize_assets
from maps.controls import Legend, TitleBox
from maps.coords import bounds_latlon, latlon, to_wgs84
from maps.elements import find_all
from maps.events import add_event_clusters, heat_points, recency_weights
from maps.operations import GAP_LAYER_NAME
from maps.overlay import render_surface
from maps.scenario_folder import read_scenario

MB = 1024 * 1024
CDNS = ("cdn.jsdelivr", "cdnjs.cloudflare", "code.jquery.com", "netdna.bootstrapcdn", "unpkg.com")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(demo_analysis) -> Path:
    return demo_analysis  # tests/conftest.py: the demo, run once per session


@pytest.fixture(scope="module")
def expected(demo) -> dict[str, int]:
    """What a planner counts without the engine: the GED rows of the two years before the
    as-of date on the grid, and the 8-connected areas of gap >= zone_threshold of at least
    zone_min_area_km2."""
    p = Params()
    events = events_in_window_by_hand(DEMO / "events_ged_v23.1.csv", DEMO_AS_OF, p.lookback_days, demo / "gap.tif")
    zones = zones_by_hand(demo / "gap.tif", p.zone_threshold, p.zone_min_area_km2)
    bases = pd.read_csv(DEMO / "bases_geopko_v2.1.csv")
    return {"events": len(events), "zones": len(zones), "bases": len(bases)}


@pytest.fixture(scope="module")
def ops(demo) -> folium.Map:
    return operations_map(demo)


@pytest.fixture(scope="module")
def ops_html(ops) -> str:
    return render_html(ops)


@pytest.fixture(scope="module")
def fake_scenario(demo, tmp_path_factory) -> Path:
    """Two phases from the demo's own products: phase 1 in the simple layout (closed in the
    phase), phase 2 as the scenario engine writes it (steps, cumulative closed list)."""
    d = tmp_path_factory.mktemp("scenario") / "plan"
    gap, grid = read_surface(demo / "gap.tif")
    zones = gpd.read_file(demo / "zones.geojson")
    for k in (1, 2):
        p = d / f"phase_{k}"
        p.mkdir(parents=True)
        shutil.copy(demo / "gap.tif", p / "gap.tif")
        write_cog(p / "gap_delta.tif", np.where(np.isnan(gap), np.nan, 5.0 * k).astype(np.float32), grid)
        write_cog(p / "coverage_delta.tif", np.where(np.isnan(gap), np.nan, -0.2).astype(np.float32), grid)
        zones.iloc[k - 1:k].to_file(p / "new_zones.geojson", driver="GeoJSON")
    summary = {"name": "Fake drawdown", "phases": [
        {"name": "West", "date": "2021-03-31", "closed": ["MINUSCA:bouar", "MINUSCA:berberati"]},
        {"phase": 2, "name": "Centre", "date": "2021-09-30",
         "closed": ["MINUSCA:bouar", "MINUSCA:berberati", "MINUSCA:sibut"],
         "steps": [{"kind": "close", "base_id": "MINUSCA:sibut"},
                   {"kind": "handover", "base_id": "MINUSCA:bambari", "readiness": 0.5},
                   {"kind": "reduce", "base_id": "MINUSCA:bria", "strength": 650}]},
    ]}
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def _layers(m: folium.Map) -> dict[str, folium.map.Layer]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.map.Layer)}


def _popup_html(marker: folium.CircleMarker) -> str:
    popups = find_all(marker, folium.Popup)
    return "".join(el.render() for p in popups for el in p.html._children.values())


# ---------------------------------------------------------------- operations map


def test_operations_map_has_every_layer_and_control(ops, expected):
    # events and bases as data/minusca/SOURCE.md lists them; zones as counted by hand on the gap
    assert expected["events"] == 116 and expected["bases"] == 20 and expected["zones"] >= 1
    zones, events, bases = (f"Vacuum zones ({expected['zones']})", f"Recent events ({expected['events']})",
                            f"Peacekeeping bases ({expected['bases']})")
    names = set(_layers(ops))
    for name in (GAP_LAYER_NAME, "Admin areas: population-weighted gap", "Admin outlines", zones,
                 "Towns and airports", events, "Event heat (weighted by recency)",
                 bases, "OpenStreetMap", "Esri World Imagery", "Plain background (offline)"):
        assert name in names, name
    assert ops.control_scale
    assert find_all(ops, plugins.Fullscreen) and find_all(ops, plugins.MeasureControl)
    assert find_all(ops, folium.LayerControl)
    assert isinstance(_layers(ops)[events], plugins.FastMarkerCluster)
    assert len(_layers(ops)[events].data) == expected["events"]
    assert isinstance(_layers(ops)["Event heat (weighted by recency)"], plugins.HeatMap)


def test_legend_matches_the_gap_classes_and_lists_the_layers(ops, ops_html):
    (legend,) = find_all(ops, Legend)
    style = STYLES["gap"]
    assert len(style.labels) == 5
    for label, color in zip(style.labels, style.colors, strict=True):
        assert re.search(rf'data-class="{label}"><span class="vl-swatch" style="background:{color};', legend.html), label
        assert color in ops_html
    for name, layer in _layers(ops).items():
        if layer.overlay:
            assert html.escape(name) in legend.html, name
    assert "&lt; 10" in legend.html and "&ge; 50" in legend.html


def test_one_marker_per_base_at_lat_lon(ops, demo):
    bases = gpd.read_file(demo / "bases.geojson")
    group = _layers(ops)["Peacekeeping bases (20)"]
    markers = find_all(group, folium.CircleMarker)
    assert len(markers) == len(bases) == 20
    for marker, (_, row) in zip(markers, bases.iterrows(), strict=True):
        assert marker.location == pytest.approx([row.geometry.y, row.geometry.x])
        assert 1.5 < marker.location[0] < 12 and 13 < marker.location[1] < 29  # CAR: lat, then lon
        assert marker.options["pane"] == "vacuumBases"
    bangui = markers[bases.index[bases["name"] == "Bangui"][0]]
    alindao = markers[bases.index[bases["name"] == "Alindao"][0]]
    assert bangui.options["radius"] > alindao.options["radius"]  # 3135 vs 650 troops
    popup = _popup_html(bangui)
    for text in ("Bangui", "3,135 troops", "Unit type", "Strength source"):
        assert text in popup, text
    assert "Criticality" not in popup  # no criticality file in this folder


def test_zones_admin_tooltips_and_light_geometry(ops, demo, expected):
    zones = gpd.read_file(demo / "zones.geojson")
    layer = _layers(ops)[f"Vacuum zones ({expected['zones']})"]
    feats = layer.data["features"]
    assert len(feats) == len(zones) == expected["zones"]
    assert {"area", "population", "events", "nearest", "travel"} <= set(feats[0]["properties"])
    assert feats[0]["properties"]["nearest"] == zones["nearest_base_name"].iloc[0]
    tip = find_all(layer, folium.GeoJsonTooltip)[0]
    assert "Travel time from it" in tip.aliases and "Nearest base" in tip.aliases

    admin = _layers(ops)["Admin outlines"]
    props = admin.data["features"][0]["properties"]
    assert {"name", "mean_gap", "max_gap", "pop_weighted_gap", "population", "pop_high", "pop_critical"} <= set(props)
    coords = json.dumps(admin.data["features"][1]["geometry"]["coordinates"])
    decimals = [len(x.split(".")[1]) for x in re.findall(r"-?\d+\.\d+", coords)]
    assert max(decimals) <= 4
    raw = gpd.read_file(demo / "admin_summary.geojson")
    web = gpd.GeoDataFrame.from_features(admin.data["features"], crs="EPSG:4326")
    n_raw, n_web = shapely.get_num_coordinates(raw.geometry.values).sum(), shapely.get_num_coordinates(web.geometry.values).sum()
    assert n_web < 0.8 * n_raw  # Natural Earth is coarse already: 500 m takes off about a quarter
    assert web.union_all().symmetric_difference(raw.union_all()).area < 0.01 * raw.union_all().area


def test_title_carries_the_as_of_date(ops, ops_html):
    (title,) = find_all(ops, TitleBox)
    assert "2020-10-31" in title.title and "MINUSCA" in title.title
    assert "2020-10-31" in ops_html


def test_image_overlay_covers_the_grid_in_lat_lon(ops, demo):
    overlay = _layers(ops)[GAP_LAYER_NAME]
    assert isinstance(overlay, ImageOverlay)
    _, grid = read_surface(demo / "gap.tif")
    w, s, e, n = grid.bounds_lonlat()
    assert np.allclose(overlay.bounds, [[s, w], [n, e]])
    assert overlay.url.startswith("data:image/png;base64,")
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(overlay.url.split(",", 1)[1]))))
    assert img.shape[2] == 4
    opaque = {tuple(int(v) for v in px) for px in np.unique(img[img[..., 3] > 0].reshape(-1, 4), axis=0)}
    assert opaque <= {tuple(int(v) for v in c) for c in STYLES["gap"].rgba_table()}
    assert img[0, 0, 3] == 0  # a corner is outside the country: transparent


def test_standalone_html_is_light_and_offline(ops_html):
    assert len(ops_html.encode()) < 5 * MB
    for cdn in CDNS:
        assert cdn not in ops_html, cdn
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', ops_html)
    assert "Leaflet 1.9.4" in ops_html and "L.markerClusterGroup" in ops_html


def test_served_mode_uses_the_tile_url_template(demo):
    ts = TileSource("/analyses/a1/tiles/{surface}/{z}/{x}/{y}.png",
                    tilejson_url="/analyses/a1/tiles/{surface}/tilejson.json",
                    geojson_urls={"zones": "/analyses/a1/zones.geojson"})
    m = operations_map(demo, tiles=ts)
    layer = _layers(m)[GAP_LAYER_NAME]
    assert isinstance(layer, folium.TileLayer) and not find_all(m, ImageOverlay)
    page = render_html(m, "url", base_url="/static/maps")
    assert "/analyses/a1/tiles/gap/{z}/{x}/{y}.png" in page
    assert "/analyses/a1/tiles/gap/tilejson.json" in page
    assert "/analyses/a1/zones.geojson" in find_all(m, Legend)[0].html
    assert '<script src="/static/maps/leaflet/leaflet.js">' in page
    assert len(page.encode()) < MB


def test_tile_source_needs_xyz_placeholders():
    with pytest.raises(MapError, match=r"lacks \{z\}"):
        TileSource("/tiles/{x}/{y}.png")


def test_criticality_file_shows_in_base_popups(demo, tmp_path):
    d = tmp_path / "a"
    shutil.copytree(demo, d)
    bases = gpd.read_file(d / "bases.geojson")
    crit = bases[["base_id", "geometry"]].assign(criticality=np.arange(len(bases), dtype=float))
    crit.to_file(d / "base_criticality.geojson", driver="GeoJSON")
    m = operations_map(d)
    popup = _popup_html(find_all(_layers(m)["Peacekeeping bases (20)"], folium.CircleMarker)[3])
    assert "Criticality" in popup and "3.00" in popup


# ---------------------------------------------------------------- pieces


def test_latlon_is_the_one_conversion():
    assert latlon(20.5, 6.25) == (6.25, 20.5)
    assert bounds_latlon((13.0, 2.0, 28.0, 11.0)) == [[2.0, 13.0], [11.0, 28.0]]
    with pytest.raises(MissingCRSError, match="no CRS"):
        to_wgs84(gpd.GeoDataFrame(geometry=[Point(0, 0)]))


def test_render_surface_colours_classes_and_keeps_nan_transparent():
    crs = equal_area_crs(20.0, 5.0)
    grid = Grid(crs, Affine(1000.0, 0, -3000.0, 0, -1000.0, 3000.0), 6, 6)
    # one value inside each gap class (breaks 10, 20, 35, 50) and a NaN
    values = np.repeat(np.array([[np.nan, 5, 15, 30, 45, 90]], dtype=np.float32), 6, axis=0)
    img = render_surface(values, grid, STYLES["gap"])
    assert img.bounds_lonlat == pytest.approx(tuple(grid.bounds_lonlat()))
    px = np.asarray(Image.open(io.BytesIO(img.png)))
    row = px[px.shape[0] // 2]
    table = STYLES["gap"].rgba_table()
    assert row[0, 3] == 0
    found = {tuple(int(v) for v in p) for p in row if p[3] > 0}
    assert found == {tuple(int(v) for v in c) for c in table}


def test_recency_weights_by_hand():
    w = recency_weights(pd.Series(["2020-10-31", "2020-05-04", "2020-11-05", None]), "2020-10-31", 180.0)
    assert w == pytest.approx([1.0, 0.5, 0.0, 0.0])


def test_events_are_limited_and_heat_is_aggregated():
    n = 5000
    dates = pd.date_range("2015-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    ev = gpd.GeoDataFrame({"date": dates, "event_type": "one_sided", "fatalities": 1.0, "actors": "A <b>"},
                          geometry=[Point(20 + (i % 50) * 0.1, 5 + (i // 50) * 0.05) for i in range(n)],
                          crs="EPSG:4326")
    m = folium.Map()
    layer = add_event_clusters(m, ev, max_events=100)
    assert len(layer.data) == 100 and layer.layer_name == "Recent events (100 most recent of 5,000)"
    assert min(r[2] for r in layer.data) == dates[-100]
    assert layer.data[0][:2] == [ev.geometry.iloc[-1].y, ev.geometry.iloc[-1].x]  # lat, lon
    assert "&lt;b&gt;" in layer.data[0][6]  # escaped for the popup
    hidden = add_event_clusters(m, ev.head(3), show=False, name="hidden events")
    assert f"{hidden.get_name()}.remove();" in m.get_root().render()
    two = gpd.GeoDataFrame(geometry=[Point(20.001, 5.001), Point(20.002, 5.002), Point(25, 7)], crs="EPSG:4326")
    pts = heat_points(two, np.array([1.0, 1.0, 0.5]), cell_deg=0.05)
    assert len(pts) == 2 and max(p[2] for p in pts) == 1.0 and min(p[2] for p in pts) == 0.5  # sqrt(0.5 / 2)


def test_vendored_assets_are_complete_small_and_licensed():
    for a in ASSETS.values():
        assert a.file.is_file(), a.path
    for folder in {a.folder for a in ASSETS.values()}:
        assert any(p.name.upper().startswith(("LICENSE", "MIT-LICEN")) for p in (STATIC_DIR / folder).iterdir()), folder
    total = sum(p.stat().st_size for p in STATIC_DIR.rglob("*") if p.is_file())
    assert total < 2 * MB


def test_a_resource_with_no_local_copy_is_an_error():
    class Gadget(JSCSSMixin):
        default_js = [("gadget_js", "https://cdn.example.org/gadget.js")]

    m = folium.Map(tiles=None)
    Gadget().add_to(m)
    with pytest.raises(MapAssetError, match="gadget_js"):
        localize_assets(m)
    assert folium.Map.default_js[0][1].startswith("https://")  # folium's class lists untouched


# ---------------------------------------------------------------- scenario and criticality


def test_scenario_reader_takes_both_layouts(fake_scenario):
    sc = read_scenario(fake_scenario)
    p1, p2 = sc.phases
    assert p1.closed == ("MINUSCA:bouar", "MINUSCA:berberati")
    assert p2.closed == ("MINUSCA:sibut",) and p2.handed_over == ("MINUSCA:bambari",)
    assert p2.reduced == {"MINUSCA:bria": 650}
    assert sc.closed_by_phase()["MINUSCA:bambari"] is p2


def test_scenario_map_before_after(demo, fake_scenario):
    after = scenario_map(demo, fake_scenario)
    assert isinstance(after, folium.Map)
    before = before_map(after)
    assert isinstance(before, folium.Map) and before is not after
    assert find_all(after.get_root(), plugins.DualMap)
    b_layers, a_layers = _layers(before), _layers(after)
    assert "Gap before the plan" in b_layers and "Bases before the plan (20)" in b_layers
    p1, p2 = "Phase 1: West (2021-03-31)", "Phase 2: Centre (2021-09-30)"
    assert isinstance(a_layers[p1], folium.FeatureGroup) and isinstance(a_layers[p2], folium.FeatureGroup)
    assert not a_layers[p1].show and a_layers[p2].show  # the last phase shows first
    assert f"{p2}: change in gap" in a_layers and f"{p1}: change in coverage" in a_layers
    # phase 2: every base drawn once, the ones gone greyed with their phase in the popup
    groups = [c for c in a_layers[p2]._children.values() if isinstance(c, folium.FeatureGroup)]
    markers = [mk for g in groups for mk in find_all(g, folium.CircleMarker)]
    assert len(markers) == 20
    grey = [mk for mk in markers if mk.options["fillColor"] == "#9e9e9e"]
    assert len(grey) == 3
    popups = " ".join(_popup_html(mk) for mk in grey)
    assert "closed in Phase 1: West" in popups and "closed in Phase 2: Centre" in popups
    assert any("handed to national forces in Phase 2" in _popup_html(mk) for mk in markers)
    assert len(find_all(a_layers[p2], ImageOverlay)) == 1 and len(find_all(a_layers[p2], folium.GeoJson)) == 1
    legend = find_all(after, Legend)[0]
    for label, color in zip(STYLES["gap_delta"].labels, STYLES["gap_delta"].colors, strict=True):
        assert f'data-class="{html.escape(label)}"><span class="vl-swatch" style="background:{color};' in legend.html
    page = render_html(after)
    assert len(page.encode()) < 5 * MB and "L.Sync = function" in page and "2020-10-31" in page
    assert not any(cdn in page for cdn in CDNS)


def test_scenario_errors_name_the_missing_piece(demo, fake_scenario, tmp_path):
    with pytest.raises(MissingProductError, match="not a scenario folder"):
        scenario_map(demo, tmp_path)
    broken = tmp_path / "s"
    shutil.copytree(fake_scenario, broken)
    (broken / "phase_2" / "gap.tif").unlink()
    with pytest.raises(MissingProductError, match=r"phase_2/gap\.tif"):
        scenario_map(demo, broken)
    (broken / "summary.json").write_text(json.dumps({"phases": []}))
    with pytest.raises(MapError, match="no 'phases' list"):
        scenario_map(demo, broken)


def test_criticality_map_colours_by_the_chosen_column(demo):
    bases = gpd.read_file(demo / "bases.geojson")
    table = pd.DataFrame({"base_id": bases["base_id"], "added_exposure_weighted_gap": bases["strength"].to_numpy()})
    m = criticality_map(demo, table)
    group = next(v for k, v in _layers(m).items() if k.startswith("Bases by"))
    markers = find_all(group, folium.CircleMarker)
    assert len(markers) == 20
    last = markers[-1]  # drawn last, on top: the most critical
    assert "Bangui" in _popup_html(last) and last.options["fillColor"] == "#54278f"
    assert "Bangui" in find_all(m, folium.MacroElement)[0].get_root().render()
    with pytest.raises(MapError, match="no column 'nope'"):
        criticality_map(demo, table, column="nope")
    with pytest.raises(MapError, match="none of criticality"):
        criticality_map(demo, table.rename(columns={"added_exposure_weighted_gap": "x"}))


# ---------------------------------------------------------------- command line


def test_cli_writes_standalone_maps(demo, fake_scenario, tmp_path, capsys):
    out = tmp_path / "ops.html"
    assert main(["map", str(demo), "--out", str(out)]) == 0
    assert 0 < out.stat().st_size < 5 * MB and "wrote operations map" in capsys.readouterr().out
    assert main(["map", str(demo), "--kind", "scenario", "--scenario", str(fake_scenario),
                 "--out", str(tmp_path / "s.html")]) == 0
    csv = tmp_path / "crit.csv"
    bases = gpd.read_file(demo / "bases.geojson")
    pd.DataFrame({"base_id": bases["base_id"], "criticality": bases["strength"]}).to_csv(csv, index=False)
    assert main(["map", str(demo), "--kind", "criticality", "--criticality", str(csv),
                 "--out", str(tmp_path / "c.html"), "--assets", "folder"]) == 0
    assert (tmp_path / "map_assets" / "leaflet" / "leaflet.js").is_file()
    assert (tmp_path / "map_assets" / "leaflet" / "LICENSE").is_file()
    assert 'src="map_assets/leaflet/leaflet.js"' in (tmp_path / "c.html").read_text()


@pytest.mark.parametrize("extra, match", [
    (["--kind", "scenario"], "needs --scenario DIR"),
    (["--kind", "criticality"], "no criticality table"),
    (["--kind", "criticality", "--criticality", "{demo}/bases.geojson"], "none of criticality"),
])
def test_cli_errors_are_one_line(demo, tmp_path, capsys, extra, match):
    argv = ["map", str(demo), "--out", str(tmp_path / "m.html"), *[x.format(demo=demo) for x in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vacuum: error:") and re.search(match, err[0]), err


def test_cli_missing_analysis_folder(tmp_path, capsys):
    assert main(["map", str(tmp_path / "nope"), "--out", str(tmp_path / "m.html")]) == 2
    assert "no such analysis folder" in capsys.readouterr().err


def test_map_errors_are_vacuum_errors():
    assert issubclass(MapError, VacuumError) and issubclass(MissingProductError, VacuumError)
    assert issubclass(MissingProductError, FileNotFoundError) and issubclass(MapAssetError, MapError)


def test_save_html_refuses_a_missing_folder(ops, tmp_path):
    with pytest.raises(MapError, match="does not exist"):
        save_html(ops, tmp_path / "no" / "m.html")


def test_a_folder_without_events_sites_admin_or_zones_still_maps(demo, tmp_path):
    d = tmp_path / "sparse"
    shutil.copytree(demo, d)
    for name in ("events", "sites", "admin_summary"):
        (d / f"{name}.geojson").unlink()
    gpd.read_file(d / "zones.geojson").iloc[0:0].to_file(d / "zones.geojson", driver="GeoJSON")
    (d / "bases.geojson").write_text('{"type": "FeatureCollection", "features": []}')  # as a viewer's copy has
    m = operations_map(d)
    names = set(_layers(m))
    assert {GAP_LAYER_NAME, "Vacuum zones (0)"} <= names
    assert not any(n.startswith(("Recent events", "Admin", "Towns", "Peacekeeping")) for n in names)
    assert "no base positions" in find_all(m, Legend)[0].html
    assert "2020-10-31" in render_html(m)
