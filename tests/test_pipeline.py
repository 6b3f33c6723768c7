"""The pipeline on small hand-made layers: forces, national handover, missing terms."""

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.errors import CRSMismatchError, GridError, LayerError
from geo.grid import equal_area_crs
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze

CRS = equal_area_crs(20.0, 6.0)
AREA = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["Area"], "level": [1], "parent": [None]},
                        geometry=[box(-30_000, -30_000, 30_000, 30_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)


def _bases(rows):
    return gpd.GeoDataFrame(
        {"base_id": [r[0] for r in rows], "name": [r[0] for r in rows], "strength": [r[1] for r in rows],
         "unit_type": ["infantry"] * len(rows), "mission": ["M"] * len(rows)},
        geometry=[Point(r[2], r[3]) for r in rows], crs=CRS)


def _events(pts, date="2020-06-01", deaths=3):
    return gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))], "date": pd.to_datetime([date] * len(pts)),
                             "event_type": ["one_sided"] * len(pts), "fatalities": [deaths] * len(pts)},
                            geometry=[Point(*p) for p in pts], crs=CRS)


def test_one_base_coverage_matches_the_formula():
    a = analyze(AnalysisInputs(bases=_bases([("b", 650, 500, 500)]), admin=AREA), P, pd.Timestamp("2020-07-01").date())
    g = a.grid
    r, c, _ = g.rowcol(np.array([500.0]), np.array([500.0]))
    cov = a.surfaces["coverage"]
    assert cov[r[0], c[0]] == pytest.approx(0.9, rel=1e-6)
    # 15 cells east = 1.5 h at 10 km/h: half-way between 1 h and 2 h -> p = 0.5 -> 1 - 10**-0.5
    assert cov[r[0], c[0] + 15] == pytest.approx(1 - 10**-0.5, rel=1e-5)
    assert cov[r[0], c[0] + 25] == 0  # beyond 2 h
    assert a.surfaces["travel_time"][r[0], c[0] + 15] == pytest.approx(1.5, rel=1e-5)
    # no events: threat 0 and the summary says so
    assert np.nanmax(a.surfaces["gap"]) == 0
    assert any("threat" in t for t in a.summary["terms_left_out"])


def test_national_forces_add_with_readiness():
    bases = _bases([("b", 650, 500, 500)])
    nat = _bases([("army", 650, 500, 500)])
    nat["readiness"] = [1.0]
    a = analyze(AnalysisInputs(bases=bases, national=nat, admin=AREA), P, pd.Timestamp("2020-07-01").date())
    r, c, _ = a.grid.rowcol(np.array([500.0]), np.array([500.0]))
    # two equal terms: 1 - 0.1**2
    assert a.surfaces["coverage"][r[0], c[0]] == pytest.approx(0.99, rel=1e-6)
    assert "national:army" in a.coverage_model.ids
    nat["readiness"] = [0.5]
    a2 = analyze(AnalysisInputs(bases=bases, national=nat, admin=AREA), P, pd.Timestamp("2020-07-01").date())
    assert a2.surfaces["coverage"][r[0], c[0]] == pytest.approx(1 - math.exp(-1.5 * math.log(10)), rel=1e-6)


def test_event_far_from_base_scores_higher_than_near_it():
    bases = _bases([("b", 650, -20_000, 0)])
    ev = _events([(-20_000, 0), (20_000, 0)])
    a = analyze(AnalysisInputs(bases=bases, events=ev, admin=AREA), P, pd.Timestamp("2020-07-01").date())
    g = a.grid
    r, c, _ = g.rowcol(np.array([-20_000.0, 20_000.0]), np.array([0.0, 0.0]))
    gap = a.surfaces["gap"]
    # by hand: w = 1.5 (one-sided) * (1 + ln 4) * 0.5**(30/180); peak density w / (2 pi 15²) per km²;
    # threat 1 - exp(-d / 0.0015); no population: exposure = floor 0.3; gap = 100 (T² 0.3)^(1/3)
    w = 1.5 * (1 + math.log(4)) * 0.5 ** (30 / 180)
    t = 1 - math.exp(-(w / (2 * math.pi * 15**2)) / 0.0015)
    assert gap[r[1], c[1]] == pytest.approx(100 * (t**2 * 0.3) ** (1 / 3), rel=0.01)
    assert gap[r[0], c[0]] < 0.2 * gap[r[1], c[1]]  # the battalion covers 90% of the other
    # two events are too little history to fit: the risk is the named past-events kernel
    assert a.summary["forecast"]["method"] == "past_events_kernel" and "warnings" in a.summary
    assert len(a.zones) == 1 and a.zones.iloc[0]["recent_events"] == 1  # 57 >= zone_threshold 35
    a60 = analyze(AnalysisInputs(bases=bases, events=ev, admin=AREA), P.updated(zone_threshold=60),
                  pd.Timestamp("2020-07-01").date())
    assert len(a60.zones) == 0


def test_bases_outside_the_grid_are_listed_not_used():
    bases = _bases([("in", 650, 0, 0), ("far", 650, 900_000, 0)])
    a = analyze(AnalysisInputs(bases=bases, admin=AREA), P, pd.Timestamp("2020-07-01").date())
    assert a.summary["layers"]["bases_outside_grid"] == ["far"]
    assert a.coverage_model.ids == ["in"]


def test_pipeline_refuses_bad_inputs():
    d = pd.Timestamp("2020-07-01").date()
    with pytest.raises(GridError, match="no area of interest"):
        analyze(AnalysisInputs(bases=_bases([("b", 1, 0, 0)])), P, d)
    with pytest.raises(LayerError, match="bases layer is empty"):
        analyze(AnalysisInputs(bases=_bases([]), admin=AREA), P, d)
    naive = _bases([("b", 1, 0, 0)])
    naive = gpd.GeoDataFrame(naive.drop(columns="geometry"), geometry=list(naive.geometry))
    with pytest.raises(CRSMismatchError, match="bases layer has no CRS"):
        analyze(AnalysisInputs(bases=naive, admin=AREA), P, d)
    odd = _bases([("b", 650, 0, 0)])
    odd["unit_type"] = ["marines"]
    with pytest.raises(LayerError, match="unit_type 'marines'; known types"):
        analyze(AnalysisInputs(bases=odd, admin=AREA), P, d)


def test_coverage_terms_round_trip_through_the_analysis_folder(tmp_path):
    from geo.products import load_coverage_model, write_analysis

    bases = _bases([("a", 650, -10_000, 0), ("b", 150, 10_000, 0)])
    a = analyze(AnalysisInputs(bases=bases, events=_events([(0, 0)]), admin=AREA), P, pd.Timestamp("2020-07-01").date())
    write_analysis(a, tmp_path)
    model, grid = load_coverage_model(tmp_path / "model")
    assert grid.shape == a.grid.shape and grid.crs.equals(a.grid.crs)
    np.testing.assert_array_equal(model.intensity, a.coverage_model.intensity)
    # closing b from the stored terms: cells only b reached lose all cover
    only_b = (a.coverage_model.term("b").values() > 0)
    idx_b = a.coverage_model.term("b").reach.index[only_b]
    without = model.intensity_without({"b"}).ravel()
    a_idx = set(model.term("a").reach.index.tolist())
    lost = [i for i in idx_b if i not in a_idx]
    assert lost and (without[lost] == 0).all()


def _fail(message: str) -> None:
    raise LookupError(message)


def test_forked_returns_the_value_raises_the_error_and_ends_an_unwanted_child():
    import os
    import time

    from geo.pipeline import Forked

    f = Forked(np.add, np.arange(3), 10)
    assert f.result().tolist() == [10, 11, 12] and f.result().tolist() == [10, 11, 12]  # taken once, kept
    with pytest.raises(LookupError, match="no such base"):
        Forked(_fail, "no such base").result()
    slow = Forked(time.sleep, 60)
    t0 = time.perf_counter()
    slow.close()
    assert time.perf_counter() - t0 < 10 and slow._proc.exitcode is not None and slow._proc.exitcode < 0
    assert Forked(os.getpid).result() != os.getpid()  # ran in another process
