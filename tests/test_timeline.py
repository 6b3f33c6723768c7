"""Time-aware scenario parts, by hand: months between dates, a phase's surfaces from its need
and intensity, which forecast each phase date gets, and a phase against the one before."""

from datetime import date

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from geo.params import Params
from geo.timeline import months_between, phase_need, phase_surfaces, versus_previous


def test_months_between_counts_whole_months():
    assert months_between(date(2020, 10, 31), date(2021, 3, 31)) == 5
    assert months_between(date(2020, 10, 31), date(2021, 10, 30)) == 11  # a day short of 12
    assert months_between(date(2020, 10, 31), date(2021, 10, 31)) == 12
    assert months_between(date(2021, 3, 31), date(2020, 10, 31)) == -5


def test_a_phase_gap_is_its_need_times_the_uncovered_share():
    gap, cov = phase_surfaces(np.array([50.0, 20.0, np.nan]), np.array([0.0, np.log(2.0), 1.0]))
    assert gap[:2] == pytest.approx([50.0, 10.0]) and np.isnan(gap[2])
    assert cov == pytest.approx([0.0, 0.5, 1 - np.exp(-1.0)])


def _history(days):
    return gpd.GeoDataFrame({"date": [np.datetime64(d) for d in days]}, geometry=[Point(0, 0)] * len(days),
                            crs="EPSG:3857")


def test_each_phase_date_gets_a_refit_within_the_history_and_the_as_of_forecast_beyond():
    p = Params()
    risk = np.array([0.1, 0.2, np.nan])
    exposure = np.array([1.0, 1.0, 0.0])
    seen = []

    def refit(known, day):
        seen.append((day, len(known)))
        return np.full(3, 0.4), ""

    hist = _history(["2020-09-01", "2020-12-15", "2021-02-01", "2021-06-30"])
    out = phase_need([date(2021, 1, 31), date(2021, 6, 30), date(2022, 12, 31)], as_of=date(2020, 10, 31), risk=risk,
                     exposure=exposure, params=p, history=hist, refit=refit)
    assert [o.method for o in out] == ["refit", "refit", "as_of"]
    assert seen == [(date(2021, 1, 31), 2), (date(2021, 6, 30), 4)]  # only the events known by each date
    assert out[0].risk_mean == pytest.approx(0.4) and np.isnan(out[0].need100[2])  # the area stays the area
    assert out[2].risk_mean == pytest.approx(0.15) and out[2].months_after_as_of == 26
    assert "2021-06-30" in out[2].note and "beyond that forecast's 12-month horizon" in out[2].note
    # need with no coverage, by hand: 100 * (risk^2 * exposure)^(1/3)
    assert out[2].need100[:2] == pytest.approx(100 * (np.array([0.1, 0.2]) ** 2) ** (1 / 3))


def test_without_history_every_phase_uses_the_as_of_forecast():
    out = phase_need([date(2021, 3, 31)], as_of=date(2020, 10, 31), risk=np.array([0.1]),
                     exposure=np.array([1.0]), params=Params())
    assert out[0].method == "as_of" and "no event history after 2020-10-31" in out[0].note


def test_a_phase_against_the_one_before():
    prev_gap = np.array([10.0, 40.0, 30.0, 36.0])
    gap = np.array([40.0, 40.0, 20.0, 30.0])
    prev_cov = np.array([0.6, 0.1, 0.6, 0.4])
    cov = np.array([0.2, 0.1, 0.7, 0.6])
    pop = np.array([100.0, 200.0, 300.0, 400.0])
    d = versus_previous(prev_gap, prev_cov, gap, cov, pop, zone_threshold=35, cover_threshold=0.5, cell_area_km2=4.0)
    assert d["new_high_critical_km2"] == 4.0 and d["people_into_high_critical"] == 100.0  # cell 0 rose
    assert d["left_high_critical_km2"] == 4.0  # cell 3 fell below 35
    assert d["population_losing_cover"] == 100.0 and d["population_regaining_cover"] == 400.0
    assert d["mean_gap_change"] == pytest.approx((130 - 116) / 4)


def test_a_refit_that_cannot_fit_falls_back_and_says_why():
    hist = _history(["2020-12-01", "2021-02-01"])
    out = phase_need([date(2021, 1, 31)], as_of=date(2020, 10, 31), risk=np.array([0.1]), exposure=np.array([1.0]),
                     params=Params(), history=hist, refit=lambda known, day: (None, "3 positive unit-origins"))
    assert out[0].method == "as_of" and "could not be fitted again at 2021-01-31 (3 positive unit-origins)" in out[0].note
