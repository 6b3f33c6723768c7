"""The fixes of issue 15 in the existing maps, each with its expectation stated by hand:
no "nan" nearest base, whole people, one legend precision with "≥", the layer switcher
collapsed, phases as radio buttons, a <title> on every page, the plain background offline,
a first view on the mission area with a "how to read this map" line."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import pytest
from brief_case import AS_OF, make_small_case
from shapely.geometry import box

from geo.legend import STYLES, class_ranges
from maps.areas import NEW_ZONE_FIELDS, ZONE_FIELDS, add_zones
from maps.assets import render_html
from maps.basemaps import (
    PLAIN_BASEMAP,
    BasemapFallback,
    add_basemaps,
    default_basemap,
    network_reachable,
)
from maps.bases import base_popup_html
from maps.controls import PhaseChoice, TitleBox
from maps.criticality import criticality_map, legend_decimals
from maps.elements import find_all
from maps.operations import operations_map
from maps.scenario import before_map, scenario_map
from maps.vectors import fmt_people


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_small_case(tmp_path_factory.mktemp("fixes"))


@pytest.fixture(scope="module")
def pages(small) -> dict[str, str]:
    a, s = small / "analysis", small / "scenario"
    maps = {"operations": operations_map(a, basemap=PLAIN_BASEMAP),
            "criticality": criticality_map(a, s / "base_criticality.geojson", basemap=PLAIN_BASEMAP),
            "scenario": scenario_map(a, s, basemap=PLAIN_BASEMAP)}
    return {k: render_html(m) for k, m in maps.items()}


# ---------------------------------------------------------------- tooltips and numbers


def test_a_zone_with_no_base_in_reach_says_so_not_nan():
    row = {"zone_id": 3, "nearest_remaining_base_name": float("nan"), "nearest_remaining_base_id": None,
           "travel_time_h": float("nan"), "opened_by": float("nan")}
    assert NEW_ZONE_FIELDS["nearest"][1](row) == "none within reach"
    assert NEW_ZONE_FIELDS["travel"][1](row) == "beyond reach"
    assert NEW_ZONE_FIELDS["opened_by"][1](row) == "–"
    assert ZONE_FIELDS["nearest"][1]({"nearest_base_name": float("nan"), "nearest_base_id": "B7"}) == "B7"
    zones = gpd.GeoDataFrame({"zone_id": [1], "area_km2": [100.0], "population": [1234.6],
                              "nearest_remaining_base_name": [float("nan")], "travel_time_h": [float("nan")]},
                             geometry=[box(20.0, 5.0, 20.1, 5.1)], crs=4326)
    layer = add_zones(folium.Map(), zones, new=True)
    props = layer.data["features"][0]["properties"]
    assert props["nearest"] == "none within reach" and props["population"] == "1,235"
    assert "nan" not in json.dumps(layer.data).lower()


def test_people_are_whole_numbers_with_thousands_separators():
    assert fmt_people(1173592.77) == "1,173,593"
    assert fmt_people(float("nan")) == "–"
    popup = base_popup_html({"base_id": "MINUSCA:bangui", "name": "Bangui", "strength": 3135.0,
                             "population_losing_cover": 1173592.77, "added_vacuum": 0.07198},
                            criticality_columns=("added_vacuum", "population_losing_cover"))
    assert "1,173,593" in popup and "1,173,592.77" not in popup
    assert "0.07" in popup  # a score keeps its two decimals


def test_legend_ranges_have_one_precision_and_the_ge_sign():
    assert class_ranges(STYLES["exposure"]) == ("< 0.40", "0.40–0.55", "0.55–0.70", "0.70–0.85", "≥ 0.85")
    assert class_ranges(STYLES["gap"]) == ("< 10", "10–20", "20–35", "35–50", "≥ 50")
    assert class_ranges(STYLES["gap_delta"]) == ("< -10", "-10 to -1", "-1 to 1", "1–10", "10–30", "≥ 30")
    assert STYLES["exposure"].labels == ("< 0.40", "0.40–0.55", "0.55–0.70", "0.70–0.85", "≥ 0.85")
    assert STYLES["risk"].labels[-1] == "≥ 35 %"
    for style in STYLES.values():
        assert not any(">=" in lab or "<=" in lab for lab in style.labels), style.name
    # criticality legends: two significant digits of the smallest edge, the same for every row
    assert legend_decimals([0.0004, 0.003, 0.08]) == 5
    assert legend_decimals([0.016, 0.083]) == 3
    assert legend_decimals([11774.2, 1173592.77], whole=True) == 0


def test_criticality_legend_and_ranking_show_people_whole(small):
    m = criticality_map(small / "analysis", small / "scenario" / "base_criticality.geojson",
                        column="population_losing_cover", basemap=PLAIN_BASEMAP)
    page = render_html(m)
    crit = gpd.read_file(small / "scenario" / "base_criticality.geojson")
    for v in crit["population_losing_cover"]:
        if v > 0:
            assert f"{round(v):,}" in page
    assert not re.search(r"\d,\d{3}\.\d\d(?!\d)", page)  # no "12,345.67" people anywhere


# ---------------------------------------------------------------- controls and pages


def test_layer_switcher_is_collapsed_on_every_map(small):
    a, s = small / "analysis", small / "scenario"
    after = scenario_map(a, s, basemap=PLAIN_BASEMAP)
    for m in (operations_map(a, basemap=PLAIN_BASEMAP), after, before_map(after),
              criticality_map(a, s / "base_criticality.geojson", basemap=PLAIN_BASEMAP)):
        (ctl,) = find_all(m, folium.LayerControl)
        assert ctl.options["collapsed"] is True


def test_phases_are_radio_buttons_not_checkboxes(small, pages):
    phases = json.loads((small / "scenario" / "summary.json").read_text())["phases"]
    after = scenario_map(small / "analysis", small / "scenario", basemap=PLAIN_BASEMAP)
    (choice,) = find_all(after, PhaseChoice)
    radios = re.findall(r'<input type="radio"[^>]*>', choice.html)
    assert len(radios) == len(phases) == 2
    assert "checked" in radios[-1] and "checked" not in radios[0]  # the last phase shows first
    labels = [f"Phase {p['phase']}: {p['name']} ({p['date']})" for p in phases]
    assert all(lab in choice.html for lab in labels)
    assert all(g.control is False for g in choice.groups)  # not in the layer switcher's checkboxes
    assert [g.layer_name for g in choice.groups] == labels
    # in the page, inside the control's script (JSON-escaped); Leaflet's own radio template aside
    assert len(re.findall(r'type=\\"radio\\" name=\\"vacuum-phase-', pages["scenario"])) == 2


def test_every_page_has_one_title(pages):
    for kind, page in pages.items():
        titles = re.findall(r"<title>([^<]*)</title>", page)
        assert len(titles) == 1, kind
        assert AS_OF in titles[0], (kind, titles)
    assert "Two steps" in re.findall(r"<title>([^<]*)</title>", pages["scenario"])[0]


def test_every_page_says_how_to_read_it(pages):
    for kind, page in pages.items():
        assert "How to read this map:" in page, kind


def test_first_view_is_the_mission_area(small):
    m = operations_map(small / "analysis", basemap=PLAIN_BASEMAP)
    lon0, lat0, lon1, lat1 = json.loads((small / "analysis" / "summary.json").read_text())["grid"]["bounds_lonlat"]
    (fit,) = [c for c in m._children.values() if type(c).__name__ == "FitBounds"]
    assert fit.bounds == [[lat0, lon0], [lat1, lon1]]
    (title,) = find_all(m, TitleBox)
    assert title.how_to_read


def test_plain_background_is_the_default_offline(monkeypatch):
    assert default_basemap(online=False) == PLAIN_BASEMAP
    assert default_basemap(online=True) == "OpenStreetMap"
    assert default_basemap("key", online=True) == "CartoDB positron"
    m = folium.Map(tiles=None)
    add_basemaps(m, online=False)
    shown = {c.layer_name: c.show for c in m._children.values() if isinstance(c, folium.map.Layer)}
    assert shown[PLAIN_BASEMAP] is True and not any(v for k, v in shown.items() if k != PLAIN_BASEMAP)
    assert not find_all(m, BasemapFallback)
    online = folium.Map(tiles=None)
    add_basemaps(online, online=True)
    (fb,) = find_all(online, BasemapFallback)  # the page itself falls back when tiles fail
    assert fb.tiles.layer_name == "OpenStreetMap" and fb.plain.layer_name == PLAIN_BASEMAP
    network_reachable.cache_clear()
    monkeypatch.setenv("VACUUM_OFFLINE", "1")
    assert network_reachable() is False
    network_reachable.cache_clear()


@pytest.mark.slow
def test_standalone_pages_work_in_chromium_and_the_radio_switches_phases(small, tmp_path):
    """Saved pages opened from a file, offline: no JavaScript error (marker clusters need a
    maxZoom that no tile layer gives on the plain background); choosing phase 1 puts its gap
    image on the map in place of phase 2's."""
    import shutil

    from conftest import skip_or_fail
    from playwright.sync_api import sync_playwright

    from maps.assets import save_html

    exe = shutil.which("chromium")
    if exe is None:
        skip_or_fail("chromium is not installed (Debian package chromium)")
    a, s = small / "analysis", small / "scenario"
    after = scenario_map(a, s)
    phase_images = [find_all(g, folium.raster_layers.ImageOverlay)[0].url for g in find_all(after, PhaseChoice)[0].groups]
    pages = {"operations": save_html(operations_map(a), tmp_path / "ops.html"),
             "scenario": save_html(after, tmp_path / "scenario.html")}
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(pages["operations"].as_uri(), wait_until="load")
            page.wait_for_timeout(500)
            assert page.title() == f"M: Coverage gap as of {AS_OF}"
            page.goto(pages["scenario"].as_uri(), wait_until="load")
            page.wait_for_timeout(500)
            radios = page.locator(".vacuum-phases input[type=radio]")
            assert radios.count() == 2 and radios.nth(1).is_checked()

            def shown() -> list[bool]:
                srcs = page.eval_on_selector_all(".leaflet-image-layer", "els => els.map(e => e.src)")
                return [u in srcs for u in phase_images]

            assert shown() == [False, True]
            radios.nth(0).check()
            page.wait_for_timeout(300)
            assert shown() == [True, False]
        finally:
            browser.close()
    assert errors == []


def test_the_served_map_links_the_briefing(small):
    from maps.controls import Legend
    from maps.tiles import TileSource

    tiles = TileSource(url_template="/analyses/an_x/tiles/{surface}/{z}/{x}/{y}.png", brief_url="/analyses/an_x/brief")
    (legend,) = find_all(operations_map(small / "analysis", tiles=tiles, basemap=PLAIN_BASEMAP), Legend)
    assert 'href="/analyses/an_x/brief?format=pdf"' in legend.html
    assert 'href="/analyses/an_x/brief?format=html"' in legend.html
