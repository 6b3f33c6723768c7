"""The one input builder, the analysis-CRS check, force records and the summary's schema."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.errors import ConfigError, GridError, MissingCRSError
from geo.grid import equal_area_crs
from geo.inputs import InputSpec, analysis_crs, build_inputs, default_as_of
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.records import AnalysisSummary, Force
from geo.traveltime import Reach

DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"
CRS = equal_area_crs(20.0, 6.0)


def _bases(crs=CRS):
    return gpd.GeoDataFrame({"base_id": ["b"], "name": ["b"], "strength": [650], "unit_type": ["infantry"],
                             "mission": ["M"]}, geometry=[Point(500, 500)], crs=crs)


def test_sites_from_three_files_are_one_layer_with_their_kinds():
    inputs = build_inputs(InputSpec(bases=DEMO / "bases_geopko_v2.1.csv", towns=DEMO / "towns_geonames.csv",
                                    airports=DEMO / "airports_ourairports.csv", as_of=date(2020, 10, 31)))
    # counted from the files: one row per town and per airport
    n_towns = len(pd.read_csv(DEMO / "towns_geonames.csv"))
    n_airports = len(pd.read_csv(DEMO / "airports_ourairports.csv"))
    assert inputs.sites["kind"].value_counts().to_dict() == {"town": n_towns, "airport": n_airports}
    assert inputs.sites.crs is not None and inputs.events is None


def test_a_frame_without_crs_is_refused_naming_the_layer():
    with pytest.raises(MissingCRSError, match="roads layer has no CRS"):
        build_inputs(InputSpec(bases=_bases(), roads=gpd.GeoDataFrame(geometry=[Point(0, 0).buffer(1)])))


def test_layer_crs_applies_to_files_without_one_only(tmp_path):
    shp = tmp_path / "bases.shp"  # a shapefile without its .prj declares no CRS
    frame = gpd.GeoDataFrame({"base_id": ["x"], "name": ["x"], "strength": [100]}, geometry=[Point(18.5, 4.4)])
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        frame.to_file(shp)
    assert not shp.with_suffix(".prj").exists()
    with pytest.raises(MissingCRSError):
        build_inputs(InputSpec(bases=shp))
    from pyproj import CRS as PCRS

    got = build_inputs(InputSpec(bases=shp, layer_crs=PCRS.from_epsg(4326)))
    assert got.bases.crs.to_epsg() == 4326
    assert got.bases.geometry.x.iloc[0] == pytest.approx(18.5)


def test_population_needs_its_units():
    with pytest.raises(ConfigError, match="population_units is required"):
        build_inputs(InputSpec(bases=_bases(), population=DEMO / "population_worldpop2020_density.tif"))


@pytest.mark.parametrize("value, match", [("EPSG:4326", "must be projected"), ("EPSG:999999", "bad CRS")])
def test_analysis_crs_refuses_geographic_and_unknown(value, match):
    with pytest.raises(GridError, match=match):
        analysis_crs(value)
    assert analysis_crs(None) is None
    assert analysis_crs("EPSG:32634").to_epsg() == 32634


def test_default_as_of_is_the_latest_event():
    ev = gpd.GeoDataFrame({"date": pd.to_datetime(["2020-01-02", "2020-03-04"])},
                          geometry=[Point(0, 0), Point(1, 1)], crs=CRS)
    d, note = default_as_of(AnalysisInputs(bases=_bases(), events=ev))
    assert d == date(2020, 3, 4) and "latest event" in note


def test_a_force_makes_its_coverage_term():
    import numpy as np

    f = Force(base_id="b", row=0, cell=7, weight=2.0, t_resp=1.0, t_max=2.0)
    term = f.term(Reach(np.array([7, 8], dtype=np.int32), np.array([0.0, 1.5])))
    # decay: 1 within t_resp, 0.5 half-way to t_max (see geo.coverage.decay)
    assert term.values().tolist() == pytest.approx([2.0, 1.0])
    assert term.base_id == "b" and not term.national


def test_summary_has_exactly_the_documented_keys():
    area = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["A"], "level": [1], "parent": [None]},
                            geometry=[box(-20_000, -20_000, 20_000, 20_000)], crs=CRS)
    p = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)
    a = analyze(AnalysisInputs(bases=_bases(), admin=area), p, date(2020, 7, 1))
    keys = set(a.summary)
    assert AnalysisSummary.__required_keys__ <= keys
    assert keys - AnalysisSummary.__required_keys__ <= AnalysisSummary.__optional_keys__
    assert a.summary["executor"] == "local" and "dask" not in a.summary
    # documented in docs/model.md, field by field
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    for k in AnalysisSummary.__required_keys__ | AnalysisSummary.__optional_keys__:
        assert f"`{k}" in doc, k
