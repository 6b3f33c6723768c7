"""The backtest result follows its schema (geo.backtest_types), and its counts match a hand count."""

from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo.backtest import SCORES, run_backtest
from geo.backtest_types import BacktestCounts, BacktestResult, ScaleResult, ScoreMetrics, TopShares
from geo.params import load_params
from geo.pipeline import AnalysisInputs

AS_OF = date(2020, 6, 30)  # horizon 12 months: events after it through 2021-06-30 are predicted
AREA = gpd.GeoDataFrame({"admin_id": ["A"], "name": ["Area"], "level": [1], "parent": [None]},
                        geometry=[box(0.0, 0.0, 2.0, 1.0)], crs=4326)  # the grid adds a 20 km margin around it
HOT = (1.8, 0.5)  # far east of the base
OTHER = (0.9, 0.3)  # another place inside the area, ~100 km from HOT
MARGIN = (2.09, 0.5)  # ~10 km east of the area: on the grid, in the margin
OUTSIDE = (5.0, 5.0)  # far off the grid

# (date, place, fatalities)
EVENTS = [
    ("2017-01-01", HOT, 9.0),      # past, older than the 730-day look-back
    ("2020-01-15", HOT, 1.0),      # past, in the look-back, in the area
    ("2020-06-30", HOT, 2.0),      # past: the as-of day itself is known
    ("2020-03-01", MARGIN, 4.0),   # past, in the look-back, in the margin
    ("2020-07-01", HOT, 3.0),      # later, in the area
    ("2020-12-31", HOT, 5.0),      # later, in the area, same cell
    ("2021-06-30", OTHER, 7.0),    # later (the horizon's last day), in the area, another cell
    ("2021-02-01", MARGIN, 11.0),  # later, in the margin
    ("2021-03-01", OUTSIDE, 13.0), # later, outside the grid
    ("2021-07-01", HOT, 17.0),     # after the horizon: ignored
]
PARAMS = load_params(resolution_m=5000.0, margin_km=20.0)


def _bases():
    return gpd.GeoDataFrame(
        {"base_id": ["B1"], "name": ["B1"], "mission": ["X"], "strength": [650.0], "unit_type": ["infantry"],
         "strength_source": ["reported"], "map_date": pd.to_datetime(["2020-06-01"]), "hq": [0]},
        geometry=gpd.points_from_xy([0.1], [0.5]), crs=4326,
    )


def _events():
    n = len(EVENTS)
    return gpd.GeoDataFrame(
        {"event_id": [f"e{i}" for i in range(n)], "date": pd.to_datetime([d for d, _, _ in EVENTS]),
         "event_type": ["state_based"] * n, "fatalities": [f for _, _, f in EVENTS], "actors": [""] * n,
         "schema": ["custom"] * n},
        geometry=gpd.points_from_xy([p[0] for _, p, _ in EVENTS], [p[1] for _, p, _ in EVENTS]), crs=4326,
    )


@pytest.fixture(scope="module")
def result():
    inputs = AnalysisInputs(bases=_bases(), events=_events(), admin=AREA)
    return run_backtest(inputs, AS_OF, 12, PARAMS, block_km=10.0, fracs=(0.1, 0.5), n_jobs=1)


def test_result_keys_are_the_schema(result):
    assert set(result) == set(BacktestResult.__required_keys__)
    assert BacktestResult.__optional_keys__ == {"case", "layers", "options"}  # added by the CLI
    assert set(result["counts"]) == set(BacktestCounts.__annotations__)
    assert set(result["window"]) == {"after", "through"}
    assert set(result["scales"]) == {"cell", "block"}
    assert set(result["scales"]["cell"]) == set(ScaleResult.__required_keys__)
    assert set(result["scales"]["block"]) == set(ScaleResult.__annotations__)  # with cells_per_block
    for sc in result["scales"].values():
        assert set(sc["scores"]) == set(SCORES)
        for m in sc["scores"].values():
            assert set(m) == set(ScoreMetrics.__annotations__)
            assert set(m["top"]) == {"10%", "50%"}
            for t in m["top"].values():
                assert set(t) == set(TopShares.__annotations__)


def test_result_header_by_hand(result):
    assert result["as_of"] == "2020-06-30" and result["horizon_months"] == 12
    assert result["window"] == {"after": "2020-06-30", "through": "2021-06-30"}
    assert result["resolution_m"] == 5000.0 and result["block_km"] == 10.0
    assert result["fractions"] == [0.1, 0.5]
    assert result["scores"] == dict(SCORES)
    assert result["params"]["margin_km"] == 20.0


def test_counts_match_a_hand_count_of_the_events(result):
    c = result["counts"]
    assert c["bases"] == 1 and c["bases_outside_grid"] == 0
    # look-back (730 days): 2020-01-15 and 2020-06-30 at HOT, 2020-03-01 in the margin; 2017 is too old
    assert c["past_events_in_lookback"] == 3
    assert c["past_events_in_area"] == 2
    # the window: 3 in the area, 1 in the margin, 1 off the grid; 2021-07-01 is after it
    assert c["later_events"] == 5
    assert c["later_events_in_area"] == 3
    assert c["later_events_in_margin"] == 1
    assert c["later_events_outside_grid"] == 1
    assert c["later_fatalities_in_area"] == 3.0 + 5.0 + 7.0
    # HOT and OTHER are ~100 km apart: two 5 km cells, two 10 km blocks
    assert c["cells_with_later_event"] == 2
    assert c["blocks_with_later_event"] == 2
    # the counts and the scales describe the same units
    cell, block = result["scales"]["cell"], result["scales"]["block"]
    assert cell["units"] == c["cells"] and block["units"] == c["blocks"]
    assert cell["positives"] == 2 and block["positives"] == 2
    assert cell["events"] == block["events"] == 3
    assert cell["fatalities"] == block["fatalities"] == 15.0
    assert block["cells_per_block"] == 4 and block["units"] < cell["units"]
