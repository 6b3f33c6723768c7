"""The forecast in a series of dates (geo.risk.forecast_risk with ``fitted``): when a model
is fitted again and when the last one is used again (``forecast_refit_months``), on the
demo's real GED events. The expected dates follow from the parameters by hand."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.forecast.features import horizon_end
from geo.friction import area_mask
from geo.grid import grid_for_area
from geo.layers import load_admin, load_events
from geo.params import Params, load_params
from geo.risk import FittedModels, forecast_risk

DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"


@pytest.fixture(scope="module")
def demo():
    admin = load_admin(DEMO / "admin1_naturalearth.geojson")
    grid = grid_for_area(admin, resolution_m=20_000.0)
    events = load_events(DEMO / "events_ged_v23.1.csv").to_crs(grid.crs)
    return grid, area_mask(grid, admin.to_crs(grid.crs)), events


def _at(demo, params: Params, day: date, fitted: dict):
    grid, inside, events = demo
    known = events[pd.to_datetime(events["date"]) <= pd.Timestamp(day)]
    return forecast_risk(known, grid, inside, params, day, fitted=fitted)


def test_the_last_model_serves_until_refit_months_have_passed(demo):
    params = load_params(None, forecast_model="logistic", forecast_refit_months=12)
    fitted = FittedModels()
    first = _at(demo, params, date(2019, 6, 30), fitted)
    assert first.method == "forecast" and first.fitted_as_of == "2019-06-30"
    # 2019-12-31: two more quarterly origins have closed (a new training set), but only 6 months
    # have passed since the fit: the same model, fitted on what was known on 2019-06-30
    later = _at(demo, params, date(2019, 12, 31), fitted)
    assert later.model is first.model and later.fitted_as_of == "2019-06-30"
    assert "fitted as of 2019-06-30" in later.note and "forecast_refit_months=12" in later.note
    assert later.train_origins == first.train_origins
    assert all(horizon_end(np.datetime64(o), 12) <= np.datetime64("2019-06-30") for o in later.train_origins)
    # yet it forecasts from the later date's history: the probabilities differ
    assert not np.allclose(np.nan_to_num(later.probability), np.nan_to_num(first.probability))
    # 2020-06-30: 12 months after the fit, refitted on what is known then
    again = _at(demo, params, date(2020, 6, 30), fitted)
    assert again.model is not first.model and again.fitted_as_of == "2020-06-30"
    assert max(again.train_origins) > max(first.train_origins)


def test_refit_months_zero_refits_when_the_training_set_changes(demo):
    params = load_params(None, forecast_model="logistic", forecast_refit_months=0)
    fitted = FittedModels()
    first = _at(demo, params, date(2019, 6, 30), fitted)
    # 2019-07-31 closes no new quarterly origin (the 12-month windows of 2018-06-30 closed on
    # 2019-06-30, the next on 2019-09-30): the same training set, the same model
    same = _at(demo, params, date(2019, 7, 31), fitted)
    assert same.model is first.model and same.fitted_as_of == "2019-06-30"
    # 2019-09-30: the origin 2018-09-30 closes: refitted
    new = _at(demo, params, date(2019, 9, 30), fitted)
    assert new.model is not first.model and new.fitted_as_of == "2019-09-30"


def test_a_model_is_never_used_before_its_fit_date(demo):
    params = load_params(None, forecast_model="logistic", forecast_refit_months=12)
    fitted = FittedModels()
    late = _at(demo, params, date(2020, 6, 30), fitted)
    early = _at(demo, params, date(2019, 12, 31), fitted)  # a date before the held fit
    assert early.model is not late.model and early.fitted_as_of == "2019-12-31"


def test_refit_months_out_of_range_names_the_parameter():
    from geo.errors import ConfigError

    with pytest.raises(ConfigError, match="forecast_refit_months must be a whole number of months in 0..120"):
        load_params(None, forecast_refit_months=-1)


def test_a_refit_keeps_the_family_cross_validation_chose_at_the_first_fit(demo):
    params = load_params(None, forecast_model="auto", forecast_refit_months=12)
    fitted = FittedModels()
    first = _at(demo, params, date(2019, 6, 30), fitted)
    assert set(first.model.cv_results_) == {"logistic", "hgb"}  # the first fit chooses
    again = _at(demo, params, date(2020, 6, 30), fitted)  # 12 months on: refitted
    assert again.model is not first.model and again.fitted_as_of == "2020-06-30"
    assert list(again.model.cv_results_) == [first.model.model_name_]
    assert len(again.model.cv_results_[first.model.model_name_]["folds"]) == 2  # the calibration folds
    assert f"refitted as {first.model.model_name_}" in again.note and "at 2019-06-30" in again.note
