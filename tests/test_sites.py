"""Protected sites: kinds from the OSM health and displacement extracts, weights per kind,
and the people a raster misses at a camp, computed by hand."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from conftest import SHARED_DATA
from shapely.geometry import Point, box

from geo.errors import LayerError
from geo.exposure import site_people, site_people_missed, site_weighted_extra
from geo.grid import equal_area_crs
from geo.layers import load_sites
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.plan import parse_plan
from geo.products import write_analysis
from geo.scenario import load_baseline
from geo.scenario_products import run_scenario

HEALTH = SHARED_DATA / "health/healthsites_io_osm_2020-03_mli_cod_caf_ssd.csv"
CAMPS = SHARED_DATA / "displacement/osm_refugee_idp_shelter_sites_ssd_2023-01-09.geojson"


def test_people_the_raster_misses_by_hand():
    raster = np.array([200.0, 0.0, 5_000.0, 0.0])
    # a camp of 15,000 on a cell of 200; a camp of unknown size; a town of 3,000 the raster holds
    # (5,000 there); two sites of 400 and 700 on an empty cell
    cells = np.array([0, 1, 2, 3, 3])
    pop = np.array([15_000.0, np.nan, 3_000.0, 400.0, 700.0])
    np.testing.assert_allclose(site_people_missed(raster, cells, pop), [14_800.0, 0.0, 0.0, 1_100.0])
    # weights 2 (camp), 1.5, 1, 1.25, 1: the extra is (w - 1) x people per cell
    extra = site_weighted_extra(cells, pop, np.array([2.0, 1.5, 1.0, 1.25, 1.0]), 4)
    np.testing.assert_allclose(extra, [15_000.0, 0.0, 0.0, 100.0])


def test_healthsites_kinds_come_from_the_osm_amenity():
    raw = pd.read_csv(HEALTH, dtype=str)
    raw = raw[~(raw["osm_type"] + "/" + raw["osm_id"]).duplicated()]
    s = load_sites(HEALTH, kind="critical")
    assert len(s) == len(raw) and s.attrs["duplicate_ids_dropped"] == 84  # SOURCE.md: 4,590 rows
    counts = s["subtype"].value_counts().to_dict()
    am = raw["amenity"].value_counts()
    assert counts["hospital"] == am["hospital"]
    assert counts["clinic"] == am["clinic"] + am["doctors"]
    # pharmacies, dentists and the rows with no amenity
    assert counts["other"] == len(raw) - am["hospital"] - am["clinic"] - am["doctors"] >= am["pharmacy"] + am["dentist"]
    assert s["population"].isna().all() and (s["kind"] == "critical").all()


def test_osm_displacement_sites_are_camps_refugee_sites_or_shelters():
    s = load_sites(CAMPS, kind="critical").set_index("name")
    assert len(s) == 44 and set(s.geom_type) == {"Point"}  # 23 polygons became points
    # named in SOURCE.md: refugee camps, and IDP / PoC sites
    for n in ("Doro Refugee Camp", "Gendrassa", "Yusuf Batil", "Kaya", "Ajuong Thok", "Pamir", "Yida"):
        assert s.loc[n, "subtype"] == "refugee_site"
    for n in ("Juba UN House PoC1", "Juba UN House PoC2", "Juba UN House PoC3", "Bentiu PoC",
              "Don Bosco IDP Site", "Mangateen IDP Site"):
        assert s.loc[n, "subtype"] == "idp_camp"
    raw = gpd.read_file(CAMPS)
    assert (s["subtype"] == "shelter").sum() <= (raw["amenity"] != "refugee_site").sum()


def test_a_kind_that_is_not_a_protected_kind_names_the_row(tmp_path):
    f = tmp_path / "sites.csv"
    f.write_text("name,subtype,latitude,longitude\nCamp A,idp_camp,6.0,20.0\nClinic B,clinc,6.1,20.1\n")
    with pytest.raises(LayerError, match=r"row 2, subtype 'clinc' is not a protected-site kind; use one of idp_camp"):
        load_sites(f, kind="critical")
    f.write_text("name,site_kind,population,latitude,longitude\nCamp A,idp_camp,15000,6.0,20.0\n")
    s = load_sites(f, kind="critical")
    assert s["subtype"].tolist() == ["idp_camp"] and s["population"].tolist() == [15_000.0]


def test_kind_weights_are_parameters_and_must_not_be_negative():
    assert Params().site_kind_weights["idp_camp"] == 2.0
    from geo.errors import ConfigError

    with pytest.raises(ConfigError, match=r"site_kind_weights\['hospital'\] must be a weight >= 0"):
        Params(site_kind_weights={"hospital": -1.0})


# ------------------------------------------------------------------ a camp in an analysis with a raster

CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["W"], "name": ["W"], "level": [1], "parent": [None]},
                        geometry=[box(-20_000, -10_000, 20_000, 10_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)


def _sites(rows):
    return gpd.GeoDataFrame({"site_id": [r[0] for r in rows], "name": [r[0] for r in rows],
                             "kind": ["critical"] * len(rows), "population": [r[1] for r in rows],
                             "subtype": [r[2] for r in rows]},
                            geometry=[Point(r[3], r[4]) for r in rows], crs=CRS)


@pytest.fixture(scope="module")
def camp_analysis(tmp_path_factory):
    """10 people per km² everywhere (a count raster of 10 per 1 km cell), a camp of 15,000 and a
    hospital of unknown size, one base that reaches the camp and one far away."""
    d = tmp_path_factory.mktemp("camp")
    tif = d / "pop.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=40, height=20, count=1, dtype="float32", crs=CRS,
                       transform=Affine(1000, 0, -20_000, 0, -1000, 10_000)) as ds:
        ds.write(np.full((1, 20, 40), 10.0, dtype="float32"))
    bases = gpd.GeoDataFrame({"base_id": ["near", "far"], "name": ["near", "far"], "strength": [650.0, 650.0],
                              "unit_type": ["infantry"] * 2, "mission": ["M"] * 2},
                             geometry=[Point(10_500, 500), Point(-15_500, 500)], crs=CRS)
    events = gpd.GeoDataFrame({"event_id": ["1"], "date": pd.to_datetime(["2020-06-01"]), "event_type": ["one_sided"],
                               "fatalities": [3.0]}, geometry=[Point(12_000, 0)], crs=CRS)
    sites = _sites([("Camp", 15_000.0, "idp_camp", 12_500, 500), ("Hospital", np.nan, "hospital", -10_500, 500)])
    a = analyze(AnalysisInputs(bases=bases, events=events, admin=AREA, sites=sites, population_path=tif,
                               population_units="count"), P, pd.Timestamp("2020-07-01").date())
    write_analysis(a, d / "analysis")
    return d, a


def test_a_camp_the_raster_misses_adds_its_people(camp_analysis):
    _, a = camp_analysis
    pop = np.nan_to_num(a.surfaces["population"])
    r, c, _ = a.grid.rowcol(np.array([12_500.0]), np.array([500.0]))
    # the raster gives 10 on every cell; the camp's cell gets its 15,000 (10 from the raster + 14,990 missed)
    assert pop[r[0], c[0]] == pytest.approx(15_000.0)
    inside = np.isfinite(a.surfaces["population"])
    assert pop.sum() == pytest.approx(10.0 * (inside.sum() - 1) + 15_000.0, rel=1e-6)


def test_weighted_people_count_the_camp_twice(camp_analysis):
    d, a = camp_analysis
    bl = load_baseline(d / "analysis")
    people, weighted = site_people(bl.sites, bl.grid, bl.population, bl.params.site_kind_weights)
    # the stored population already holds the camp: nothing more is missed; weight 2 adds 15,000 once more
    np.testing.assert_allclose(people, bl.population)
    assert weighted.sum() - people.sum() == pytest.approx(15_000.0)


def test_the_scenario_lists_the_camp_losing_cover_with_kind_and_people(camp_analysis, tmp_path):
    d, _ = camp_analysis
    bl = load_baseline(d / "analysis")
    plan = parse_plan({"name": "t", "phases": [{"name": "p1", "date": "2021-01-01", "actions": [{"close": ["near"]}]}]})
    run_scenario(bl, plan, tmp_path, closing_phases=None)
    s = json.loads((tmp_path / "summary.json").read_text())
    lost = s["phases"][0]["sites_losing_cover"]
    assert {"name": "Camp", "kind": "critical", "site_kind": "idp_camp", "people": 15_000.0} in lost
    assert all(x["name"] != "Hospital" for x in lost)  # the far base still covers the hospital
