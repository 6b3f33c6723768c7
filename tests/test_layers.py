"""geo.layers: the real data sets in ../shared/data and hand-made bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from conftest import SHARED_DATA, real_data
from shapely.geometry import LineString, MultiLineString, Polygon

from geo.errors import (
    ConfigError,
    DateParseError,
    EmptyLayerError,
    InvalidGeometryError,
    LayerError,
    MissingColumnError,
    MissingCRSError,
)
from geo.layers import (
    ADMIN_COLUMNS,
    BASE_COLUMNS,
    EVENT_COLUMNS,
    ROAD_COLUMNS,
    SITE_COLUMNS,
    UNIT_TYPES,
    check_population_raster,
    load_admin,
    load_bases,
    load_events,
    load_roads,
    load_sites,
)

DATA = SHARED_DATA
GEOPKO21 = DATA / "geo_pko" / "geo_pko_v2.1_mli_cod_caf_ssd.csv"
GEOPKO23 = DATA / "geo_pko" / "geo_pko_v2.3_dashboard_frontmap_yearly_mli_cod_caf_ssd.csv"
GED_CAF = DATA / "ucdp_ged" / "ged_v23_1_caf_events.csv"
GED_DRC_YEAR = DATA / "ucdp_ged" / "ged_drc_2023_2025_events_year_only.csv"
GED_AGG = DATA / "ucdp_ged" / "ged_v20_1_location_year_aggregate_mli_cod_caf_ssd.csv"
GEONAMES = DATA / "places" / "geonames_cities500_mli_cod_caf_ssd.csv"
OURAIRPORTS = DATA / "airports" / "ourairports_africa_2021snapshot_mli_cod_caf_ssd.csv"
AIRPORTSDATA = DATA / "airports" / "airportsdata_20260905_mli_cod_caf_ssd.csv"
NE_ADMIN1 = DATA / "boundaries" / "ne_admin1_mli_cod_caf_ssd.geojson"
NE_ADMIN0 = DATA / "boundaries" / "ne10m_admin0_focus_and_neighbours.geojson"
TAH = DATA / "roads" / "trans_african_highway_network_afrilearndata.geojson"
WORLDPOP = DATA / "population" / "worldpop2020_africa_20km_mean_density_afrilearndata.tif"


BOWTIE = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])


# ------------------------------------------------------------------ factories


@pytest.fixture
def write_csv(tmp_path: Path):
    def make(frame: pd.DataFrame | str, name: str = "layer.csv") -> Path:
        path = tmp_path / name
        if isinstance(frame, str):
            path.write_text(frame, encoding="utf-8")
        else:
            frame.to_csv(path, index=False)
        return path

    return make


def geopko_rows(*rows: dict) -> pd.DataFrame:
    """Minimal Geo-PKO v2.1 table: every needed column, dummies default "0"."""
    base = {
        "source": "Map no. 1 Rev. 1", "mission": "TESTMIS", "year": "2020", "month": "6",
        "location": "Alpha", "latitude": "5.0", "longitude": "20.0", "no.troops": "0",
        "battalion": "0", "company": "0", "platoon": "0", "rpf": "NA", "inf": "0", "fpu": "0",
        "res": "0", "sf": "0", "avia": "0", "he.sup": "0", "he.sup.lw": "NA", "hq": "0",
        "unmo.dummy": "0", "unpol.dummy": "0", "comments": "",
    }  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows])


def write_geojson(path: Path, features: list[tuple[dict, dict]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": props, "geometry": geom}
                    for props, geom in features
                ],
            }
        )
    )
    return path


# ====================================================================== bases


@real_data
def test_geopko21_minusca_latest_map():
    bases = load_bases(GEOPKO21, mission="MINUSCA")
    assert list(bases.columns) == list(BASE_COLUMNS)
    assert bases.attrs["maps"] == {"MINUSCA": {"source": "Map no. 4522 Rev. 19", "map_date": "2020-10"}}
    assert len(bases) == 20
    assert bases["base_id"].is_unique
    by_name = bases.set_index("name")
    assert by_name.loc["Bangui", "strength"] == 3135
    assert by_name.loc["Bangui", "hq"] == 3
    assert by_name.loc["Bambari", "strength"] == 1450
    assert by_name.loc["Bambari", "strength_source"] == "reported"
    assert by_name.loc["Bambari", "unit_type"] == "infantry"
    # no.troops == 0: presence only (here military observers)
    assert by_name.loc["Batangafo", "strength"] == 0
    assert by_name.loc["Batangafo", "strength_source"] == "presence_only"
    assert by_name.loc["Batangafo", "unit_type"] == "observer"
    assert (bases["map_date"] == pd.Timestamp("2020-10-01")).all()
    assert bases["map_date"].dtype == "datetime64[ns]"
    assert set(bases["unit_type"]) <= set(UNIT_TYPES)
    assert bases.crs.to_epsg() == 4326
    assert bases.geom_type.eq("Point").all()


@real_data
def test_geopko21_as_of_picks_an_earlier_map():
    bases = load_bases(GEOPKO21, mission="minusca", as_of="2017-01-01")
    assert bases.attrs["maps"]["MINUSCA"] == {"source": "Map no. 4522 Rev. 7", "map_date": "2016-09"}
    assert len(bases) == 17
    assert (bases["map_date"] == pd.Timestamp("2016-09-01")).all()


@real_data
def test_geopko21_read_once_gives_each_dates_own_map_and_fresh_copies():
    # a monitor reads the bases at every date inside reading_once: the maps are built once,
    # yet each date must still get its own map (the two the tests above name) and a copy
    from geo.readers import reading_once

    with reading_once():
        early = load_bases(GEOPKO21, mission="MINUSCA", as_of="2017-01-01")
        late = load_bases(GEOPKO21, mission="MINUSCA")
        early.loc[early.index[0], "strength"] = -1.0  # the caller's copy only
        early.attrs["maps"]["MINUSCA"]["source"] = "changed"
        again = load_bases(GEOPKO21, mission="MINUSCA", as_of="2017-01-01")
    assert again.attrs["maps"]["MINUSCA"] == {"source": "Map no. 4522 Rev. 7", "map_date": "2016-09"}
    assert late.attrs["maps"]["MINUSCA"] == {"source": "Map no. 4522 Rev. 19", "map_date": "2020-10"}
    assert (len(again), len(late)) == (17, 20)
    assert (again["strength"] >= 0).all()


@real_data
def test_geopko21_unknown_strength_is_one_company():
    bases = load_bases(GEOPKO21, mission="MONUSCO", as_of="2014-09-30")
    site = bases.set_index("name").loc["Mbuji-Mayi"]
    assert site["strength"] == 150
    assert site["strength_source"] == "imputed_unknown"


@real_data
def test_geopko21_unknown_mission_lists_missions():
    with pytest.raises(LayerError, match=r"no mission 'MINUSTAH'; missions in this file: MINURCA, .*MINUSCA.*UNMISS"):
        load_bases(GEOPKO21, mission="MINUSTAH")


@real_data
def test_geopko21_as_of_before_the_mission():
    with pytest.raises(EmptyLayerError, match=r"no Geo-PKO map of mission 'MINUSCA' on or before 2010-01-01"):
        load_bases(GEOPKO21, mission="MINUSCA", as_of="2010-01-01")


@real_data
def test_geopko23_minusma_2024_withdrawal():
    bases = load_bases(GEOPKO23, mission="MINUSMA", as_of="2024-12-31")
    assert list(bases.columns) == list(BASE_COLUMNS)
    assert sorted(bases["name"]) == ["Bamako", "Gao"]
    assert bases.attrs["schema"] == "geo_pko_v2.3"
    assert (bases["map_date"] == pd.Timestamp("2024-07-01")).all()
    # default: the latest year per mission, so also 2024
    assert sorted(load_bases(GEOPKO23, mission="MINUSMA")["name"]) == ["Bamako", "Gao"]


@real_data
def test_geopko23_one_base_per_location_year():
    bases = load_bases(GEOPKO23, mission="MINUSMA", as_of="2024-01-01")  # 2023 complete (issue 12: no look-ahead)
    assert len(bases) == 12  # 21 rows for 12 locations in 2023
    gao = bases.set_index("name").loc["Gao"]
    assert gao["strength"] == 4892
    assert gao["hq"] == 2


def test_geopko21_unit_type_rule(write_csv):
    rows = geopko_rows(
        {"location": "QRF", "no.troops": "800", "battalion": "1", "inf": "1", "sf": "1"},
        {"location": "Inf", "no.troops": "650", "battalion": "1", "inf": "1"},
        {"location": "Coy", "no.troops": "150", "company": "1"},
        {"location": "FPU", "no.troops": "0", "fpu": "1"},
        {"location": "HQ", "no.troops": "0", "hq": "3", "unmo.dummy": "1"},
        {"location": "Obs", "no.troops": "0", "unmo.dummy": "1"},
        {"location": "Eng", "no.troops": "unknown"},
        {"location": "Empty", "no.troops": "0"},
        {"location": "Heli", "no.troops": "0", "he.sup": "1"},  # quick flag without troops
    )
    bases = load_bases(write_csv(rows)).set_index("name")
    assert bases["unit_type"].to_dict() == {
        "QRF": "quick_reaction",
        "Inf": "infantry",
        "Coy": "infantry",
        "FPU": "police",
        "HQ": "headquarters",
        "Obs": "observer",
        "Eng": "support",
        "Empty": "support",
        "Heli": "support",
    }
    assert bases.loc["Eng", "strength"] == 150
    assert bases.loc["Eng", "strength_source"] == "imputed_unknown"
    assert bases.loc["HQ", "strength_source"] == "presence_only"


def test_geopko21_picks_latest_map_and_revision(write_csv):
    rows = geopko_rows(
        {"source": "Map no. 1 Rev. 3", "month": "2", "location": "Old"},
        {"source": "Map no. 1 Rev. 4", "month": "10", "location": "Late"},
        {"source": "Map no. 1 Rev. 5 (republished as 5.1)", "month": "10", "location": "Tie"},
        {"source": "Map no. 1 Rev. 5.1", "month": "10", "location": "Newest"},
        {"source": "Map no. 1 Rev. 5.1", "month": "10", "location": "Newest"},
    )
    bases = load_bases(write_csv(rows))
    assert bases["base_id"].tolist() == ["TESTMIS:newest", "TESTMIS:newest-2"]
    assert load_bases(write_csv(rows), as_of="2020-09-30")["name"].tolist() == ["Old"]


def test_geopko21_bad_troops_value(write_csv):
    rows = geopko_rows({"location": "A", "no.troops": "650"}, {"location": "B", "no.troops": "many"})
    with pytest.raises(LayerError, match=r"layer\.csv: field 'no\.troops' must be a number >= 0 or 'unknown'.*row\(s\) 2 \('many'\)"):
        load_bases(write_csv(rows))


def test_geopko21_missing_dummy_column(write_csv):
    rows = geopko_rows({"location": "A"}).drop(columns=["fpu"])
    with pytest.raises(MissingColumnError, match=r"looks like Geo-PKO v2\.1 but lacks column\(s\) 'fpu'"):
        load_bases(write_csv(rows))


def test_generic_bases(write_csv):
    path = write_csv(
        "id,troops,type,lon,lat\n"
        "fob-1,400,Quick Reaction,20.1,5.2\n"
        "cop-2,0,observer,21.3,6.1\n"
    )
    bases = load_bases(path, mapping={"base_id": "id", "strength": "troops", "unit_type": "type"})
    assert list(bases.columns) == list(BASE_COLUMNS)
    assert bases["unit_type"].tolist() == ["quick_reaction", "observer"]
    assert bases["strength_source"].tolist() == ["reported", "presence_only"]
    assert bases["name"].tolist() == ["fob-1", "cop-2"]
    assert bases["map_date"].isna().all()
    assert bases.attrs["schema"] == "custom"


def test_generic_bases_default_unit_type_is_recorded(write_csv):
    bases = load_bases(write_csv("base_id,strength,longitude,latitude\nb1,650,20,5\n"))
    assert bases["unit_type"].tolist() == ["infantry"]
    assert bases.attrs["unit_type_source"] == "default"


def test_bases_missing_column_names_field_and_fix(write_csv):
    path = write_csv("base_id,troops,longitude,latitude\nb1,650,20,5\n")
    with pytest.raises(
        MissingColumnError,
        match=r"layer\.csv: bases.*'strength'.*columns present: base_id, troops, longitude, latitude.*mapping=\{'strength': 'your_column'\}.*--map LAYER\.strength=your_column",
    ):
        load_bases(path)


def test_bases_mapping_to_absent_column(write_csv):
    path = write_csv("base_id,troops,longitude,latitude\nb1,650,20,5\n")
    with pytest.raises(MissingColumnError, match=r"'strength' -> 'men'"):
        load_bases(path, mapping={"strength": "men"})


def test_bases_negative_strength(write_csv):
    path = write_csv("base_id,strength,longitude,latitude\nb1,650,20,5\nb2,-5,21,5\nb3,x,22,5\n")
    with pytest.raises(LayerError, match=r"field 'strength' must be a number >= 0; 2 bad value\(s\) in row\(s\) 2 \('-5'\), 3 \('x'\)"):
        load_bases(path)


def test_bases_bad_unit_type_lists_allowed(write_csv):
    path = write_csv("base_id,strength,unit_type,longitude,latitude\nb1,650,tanks,20,5\n")
    with pytest.raises(LayerError, match=r"'unit_type' must be one of infantry, quick_reaction, police.*row\(s\) 1 \('tanks'\)"):
        load_bases(path)


def test_bases_duplicate_ids(write_csv):
    path = write_csv("base_id,strength,longitude,latitude\nb1,650,20,5\nb1,150,21,5\n")
    with pytest.raises(LayerError, match=r"'base_id' must be unique; duplicated: b1 \(rows 1, 2\)"):
        load_bases(path)


def test_bases_wrong_geometry_type(tmp_path):
    path = write_geojson(
        tmp_path / "bases.geojson",
        [
            ({"base_id": "b1", "strength": 650}, {"type": "Point", "coordinates": [20, 5]}),
            ({"base_id": "b2", "strength": 150}, {"type": "LineString", "coordinates": [[20, 5], [21, 5]]}),
        ],
    )
    with pytest.raises(InvalidGeometryError, match=r"bases must have geometry type Point; found LineString x1 for 1 feature\(s\): b2"):
        load_bases(path)


def test_bases_generic_as_of_filters_dated_rows_only(write_csv):
    undated = load_bases(write_csv("base_id,strength,longitude,latitude\nb1,650,20,5\n"), as_of="2020-01-01")
    assert undated["base_id"].tolist() == ["b1"]
    dated = write_csv("base_id,strength,map_date,longitude,latitude\nb1,650,2019-05-01,20,5\nb2,150,2021-01-01,21,5\n")
    assert load_bases(dated, as_of="2020-01-01")["base_id"].tolist() == ["b1"]
    with pytest.raises(EmptyLayerError, match="no base has map_date on or before 2018-01-01"):
        load_bases(dated, as_of="2018-01-01")


# ===================================================================== events


@real_data
def test_ged_caf_events():
    events = load_events(GED_CAF)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert len(events) == 1848
    assert events["fatalities"].sum() == 14948
    assert events["event_type"].value_counts().to_dict() == {
        "one_sided": 1076,
        "state_based": 401,
        "non_state": 371,
    }
    assert events["date"].dtype == "datetime64[ns]"
    assert events["date"].min() == pd.Timestamp("1991-08-08")
    assert events["date"].max() == pd.Timestamp("2022-12-30")
    assert (events["schema"] == "ged").all()
    assert events["event_id"].is_unique
    assert events["actors"].iloc[0] == "Government of Central African Republic vs Civilians"


@real_data
def test_ged_year_only_file_needs_the_flag():
    with pytest.raises(DateParseError, match=r"ged_drc_2023_2025_events_year_only\.csv: .*only a year column.*year_only=True \(CLI: --year-only\)"):
        load_events(GED_DRC_YEAR)
    events = load_events(GED_DRC_YEAR, year_only=True)
    assert len(events) == 1943
    assert events["date"].value_counts().to_dict() == {
        pd.Timestamp("2025-07-01"): 1002,
        pd.Timestamp("2023-07-01"): 553,
        pd.Timestamp("2024-07-01"): 388,
    }
    assert events["fatalities"].sum() == 13673


@real_data
def test_ged_aggregate_with_year_only():
    with pytest.raises(DateParseError, match="year_only=True"):
        load_events(GED_AGG)
    events = load_events(GED_AGG, year_only=True)
    assert len(events) == 4305
    assert set(events["event_type"]) == {"aggregate"}
    assert events["date"].min() == pd.Timestamp("1995-07-01")
    assert events.attrs["schema"] == "ged_aggregate"


@real_data
def test_year_only_on_a_dated_file_is_refused():
    with pytest.raises(ConfigError, match=r"day dates in 'date_start'.*drop year_only"):
        load_events(GED_CAF, year_only=True)


GED_HEADER = "id,type_of_violence,best,date_start,side_a,side_b,longitude,latitude\n"


def test_ged_unparseable_date(write_csv):
    path = write_csv(
        GED_HEADER
        + "1,1,3,2020-01-05T00:00:00,Gov,Rebels,20,5\n"
        + "2,3,1,2020-13-45,Gov,Civilians,20,5\n"
        + "3,2,0,,A,B,20,5\n"
    )
    with pytest.raises(DateParseError, match=r"layer\.csv: field 'date_start' must be a date.*row\(s\) 2 \('2020-13-45'\), 3 \(''\)"):
        load_events(path)


def test_ged_negative_fatalities(write_csv):
    path = write_csv(GED_HEADER + "1,1,3,2020-01-05,Gov,Rebels,20,5\n2,1,-2,2020-01-05,Gov,Rebels,20,5\n")
    with pytest.raises(LayerError, match=r"field 'best' must be a number >= 0; 1 bad value\(s\) in row\(s\) 2 \('-2'\)"):
        load_events(path)


def test_ged_bad_violence_type(write_csv):
    path = write_csv(GED_HEADER + "1,4,3,2020-01-05,Gov,Rebels,20,5\n")
    with pytest.raises(LayerError, match=r"'type_of_violence' must be 1, 2 or 3.*row\(s\) 1 \('4'\)"):
        load_events(path)


def test_acled_events(write_csv):
    path = write_csv(
        "event_id_cnty,event_date,event_type,actor1,actor2,fatalities,latitude,longitude\n"
        "MLI1,2020-07-31,Battles,JNIM,Military Forces of Mali,4,16.27,-0.04\n"
        "MLI2,31 July 2020,Violence against civilians,Unidentified Armed Group,,1,14.5,-4.1\n"
        'MLI3,1 Aug 2020,Explosions/Remote violence,ISGS,"MINUSMA: United Nations",0,18.4,1.4\n'
    )
    events = load_events(path)
    assert events["date"].tolist() == [pd.Timestamp("2020-07-31")] * 2 + [pd.Timestamp("2020-08-01")]
    assert events["event_type"].tolist() == ["battles", "violence_against_civilians", "explosions_remote_violence"]
    assert events["actors"].tolist() == [
        "JNIM vs Military Forces of Mali",
        "Unidentified Armed Group",
        "ISGS vs MINUSMA: United Nations",
    ]
    assert events["schema"].tolist() == ["acled"] * 3


def test_acled_ambiguous_numeric_date_is_refused(write_csv):
    path = write_csv(
        "event_id_cnty,event_date,event_type,actor1,fatalities,latitude,longitude\n"
        "MLI1,07/08/2020,Battles,JNIM,4,16.27,-0.04\n"
    )
    with pytest.raises(DateParseError, match=r"'event_date'.*row\(s\) 1 \('07/08/2020'\)"):
        load_events(path)


def test_custom_events_need_mapping(write_csv):
    path = write_csv("when,killed,lon,lat\n2021-03-01,2,20,5\n")
    with pytest.raises(MissingColumnError, match=r"'date', 'fatalities'.*--map LAYER\.date=your_column --map LAYER\.fatalities=your_column"):
        load_events(path)
    events = load_events(path, mapping={"date": "when", "fatalities": "killed"})
    assert events["event_id"].tolist() == ["1"]
    assert events["event_type"].tolist() == ["unspecified"]
    assert events.attrs["schema"] == "custom"


def test_events_empty_layer(write_csv):
    with pytest.raises(EmptyLayerError, match="no data rows"):
        load_events(write_csv(GED_HEADER))


# ====================================================================== roads


@real_data
def test_trans_african_highway_is_all_corridor():
    roads = load_roads(TAH)
    assert list(roads.columns) == list(ROAD_COLUMNS)
    assert len(roads) == 100
    assert set(roads["road_class"]) == {"corridor"}
    assert roads.attrs["road_class_source"] == "default"
    assert not roads.has_z.any()  # the KML-derived lines carry Z = 0
    assert roads["road_id"].is_unique


def test_osm_style_roads(tmp_path):
    path = write_geojson(
        tmp_path / "osm.geojson",
        [
            ({"osm_id": 11, "highway": "Primary"}, LineString([(20, 5), (20.5, 5.2)]).__geo_interface__),
            ({"osm_id": 12, "highway": "track"}, MultiLineString([[(21, 5), (21, 6)], [(21, 6), (22, 6)]]).__geo_interface__),
        ],
    )
    roads = load_roads(path)
    assert roads["road_id"].tolist() == ["11", "12.1", "12.2"]
    assert roads["road_class"].tolist() == ["primary", "track", "track"]
    assert roads.geom_type.eq("LineString").all()
    assert roads.attrs["road_class_source"] == "highway"


def test_roads_class_column_override_and_missing(tmp_path):
    path = write_geojson(
        tmp_path / "r.geojson",
        [({"highway": "primary", "surface": "Unpaved"}, {"type": "LineString", "coordinates": [[20, 5], [21, 5]]})],
    )
    assert load_roads(path, class_column="surface")["road_class"].tolist() == ["unpaved"]
    with pytest.raises(MissingColumnError, match=r"class_column 'kind' not found; columns present: highway, surface"):
        load_roads(path, class_column="kind")


def test_roads_empty_class_value(tmp_path):
    path = write_geojson(
        tmp_path / "r.geojson",
        [
            ({"highway": "primary"}, {"type": "LineString", "coordinates": [[20, 5], [21, 5]]}),
            ({"highway": None}, {"type": "LineString", "coordinates": [[21, 5], [22, 5]]}),
        ],
    )
    with pytest.raises(LayerError, match=r"field 'highway' must be non-empty.*row\(s\) 2"):
        load_roads(path)


# ====================================================================== sites


@real_data
def test_geonames_towns():
    towns = load_sites(GEONAMES, kind="town")
    assert list(towns.columns) == list(SITE_COLUMNS)
    assert len(towns) == 286
    assert towns.set_index("name").loc["Kinshasa", "population"] == 16_000_000
    assert (towns["kind"] == "town").all()


@real_data
def test_ourairports():
    airports = load_sites(OURAIRPORTS, kind="airport")
    assert len(airports) == 404
    assert airports["population"].isna().all()
    assert set(airports["subtype"]) == {"small_airport", "medium_airport", "large_airport"}
    assert airports.set_index("site_id").loc["FZAA", "name"] == "Ndjili International Airport"


@real_data
def test_airportsdata():
    airports = load_sites(AIRPORTSDATA, kind="airport")
    assert len(airports) == 349
    assert airports["site_id"].is_unique


@real_data
def test_site_kind_must_match_the_schema():
    with pytest.raises(LayerError, match=r"looks like OurAirports airports but kind='town'.*kind='airport'"):
        load_sites(OURAIRPORTS, kind="town")


def test_generic_sites(write_csv):
    path = write_csv("label,people,lon,lat\nClinic A,,20,5\nMarket,1200,21,5\n")
    with pytest.raises(MissingColumnError, match=r"'name'.*mapping=\{'name': 'your_column'\}"):
        load_sites(path, kind="critical")
    sites = load_sites(path, kind="critical", mapping={"name": "label", "population": "people"})
    assert sites["site_id"].tolist() == ["1", "2"]
    assert np.isnan(sites["population"].iloc[0])
    assert sites["population"].iloc[1] == 1200
    assert sites["subtype"].tolist() == ["", ""]


def test_sites_bad_population(write_csv):
    path = write_csv("name,population,lon,lat\nA,lots,20,5\n")
    with pytest.raises(LayerError, match=r"'population' must be a number >= 0 or empty.*row\(s\) 1 \('lots'\)"):
        load_sites(path, kind="town")


# ====================================================================== admin


@real_data
def test_natural_earth_admin1():
    admin = load_admin(NE_ADMIN1)
    assert list(admin.columns) == list(ADMIN_COLUMNS)
    assert len(admin) == 47
    assert (admin["parent"] == "CAF").sum() == 17
    assert (admin["level"] == 1).all()
    assert admin["admin_id"].is_unique


@real_data
def test_natural_earth_admin0():
    admin = load_admin(NE_ADMIN0)
    assert len(admin) == 23
    assert {"MLI", "COD", "CAF", "SSD"} <= set(admin["admin_id"])
    assert (admin["level"] == 0).all()
    assert admin["parent"].isna().all()


@real_data
def test_admin_level_contradiction():
    with pytest.raises(ConfigError, match=r"level=2 but the file looks like admin level 1"):
        load_admin(NE_ADMIN1, level=2)


def admin_file(tmp_path: Path, rows: list[tuple[dict, Polygon]]) -> Path:
    path = tmp_path / "admin.geojson"
    return write_geojson(path, [(props, geom.__geo_interface__) for props, geom in rows])


SQUARE = Polygon([(20, 5), (21, 5), (21, 6), (20, 6)])


def test_admin_invalid_polygon_rejected_then_repaired(tmp_path):
    bowtie = Polygon([(x + 20, y + 5) for x, y in BOWTIE.exterior.coords])
    path = admin_file(tmp_path, [({"shapeID": "A1", "shapeName": "Good", "shapeType": "ADM1"}, SQUARE),
                                 ({"shapeID": "A2", "shapeName": "Bow", "shapeType": "ADM1"}, bowtie)])  # fmt: skip
    with pytest.raises(InvalidGeometryError, match=r"admin\.geojson: admin units with invalid geometry: 1 feature\(s\): A2.*--repair"):
        load_admin(path)
    admin = load_admin(path, repair=True)
    assert admin.is_valid.all()
    assert admin["level"].tolist() == [1, 1]  # from geoBoundaries shapeType
    assert admin.set_index("admin_id").loc["A2", "geometry"].area == pytest.approx(2.0)


def test_admin_duplicate_ids(tmp_path):
    path = admin_file(tmp_path, [({"admin_id": "X", "name": "One"}, SQUARE), ({"admin_id": "X", "name": "Two"}, SQUARE)])
    with pytest.raises(LayerError, match=r"'admin_id' must be unique; duplicated: X"):
        load_admin(path, level=2)


def test_admin_level_is_required_when_not_detectable(tmp_path):
    path = admin_file(tmp_path, [({"admin_id": "X", "name": "One"}, SQUARE)])
    with pytest.raises(ConfigError, match=r"cannot tell the admin level.*level=1"):
        load_admin(path)
    assert load_admin(path, level=2)["level"].tolist() == [2]


def test_admin_cod_ab_columns(tmp_path):
    path = admin_file(
        tmp_path,
        [({"ADM0_PCODE": "CF", "ADM1_PCODE": "CF11", "ADM2_PCODE": "CF111", "ADM2_FR": "x", "ADM2_EN": "Bimbo"}, SQUARE)],
    )
    admin = load_admin(path)
    assert admin.iloc[0][["admin_id", "name", "level", "parent"]].tolist() == ["CF111", "Bimbo", 2, "CF11"]


def test_admin_wrong_geometry_type(tmp_path):
    path = write_geojson(tmp_path / "admin.geojson", [({"admin_id": "P", "name": "Pt"}, {"type": "Point", "coordinates": [20, 5]})])
    with pytest.raises(InvalidGeometryError, match=r"MultiPolygon or Polygon; found Point x1 for 1 feature\(s\): P"):
        load_admin(path, level=1)


# ================================================================= population


@real_data
def test_worldpop_raster_passes():
    check_population_raster(WORLDPOP)


def write_tif(path: Path, *, bands: int = 1, crs: str | None = "EPSG:4326") -> Path:
    profile = {
        "driver": "GTiff", "width": 4, "height": 3, "count": bands, "dtype": "float32",
        "transform": Affine(0.5, 0, 20, 0, -0.5, 6),
    }  # fmt: skip
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((bands, 3, 4), dtype="float32"))
    return path


def test_population_raster_checks(tmp_path):
    check_population_raster(write_tif(tmp_path / "ok.tif"))
    with pytest.raises(LayerError, match=r"two\.tif: population raster must have one band, this has 2"):
        check_population_raster(write_tif(tmp_path / "two.tif", bands=2))
    with pytest.raises(MissingCRSError, match=r"nocrs\.tif: the population raster has no CRS.*a_srs"):
        check_population_raster(write_tif(tmp_path / "nocrs.tif", crs=None))
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(LayerError, match=r"junk\.tif: rasterio cannot read this file"):
        check_population_raster(junk)
    with pytest.raises(LayerError, match="no such file"):
        check_population_raster(tmp_path / "missing.tif")


def test_geodataframes_are_returned(write_csv):
    bases = load_bases(write_csv("base_id,strength,longitude,latitude\nb1,650,20,5\n"))
    assert isinstance(bases, gpd.GeoDataFrame)
    assert bases.attrs["source"].endswith("layer.csv")
