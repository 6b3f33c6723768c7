"""Backtest: metric functions by hand, synthetic cases with a known answer (the gap, the forecast,
persistence, the uncovered label, several origins), real CAR runs."""

import itertools
import json
import math
import re
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import SHARED_DATA, real_data
from pyproj import Transformer
from scipy.stats import mannwhitneyu
from sklearn.metrics import roc_auc_score

import cli.backtest as clibt
import geo.backtest
from cli.main import CLIError, main
from geo.backtest import (
    PROBABILISTIC,
    SCORES,
    BacktestError,
    block_aggregate,
    horizon_end,
    metrics_table,
    nearest_distance,
    roc_auc,
    run_backtest,
    run_backtests,
    top_share,
    top_sum,
    uncovered_cells,
)
from geo.backtest_forecast import (
    CountPlatt,
    average_precision,
    brier,
    brier_skill_score,
    recent_counts,
)
from geo.errors import ConfigError
from geo.params import load_params
from geo.pipeline import AnalysisInputs, analyze

GED_CAF = SHARED_DATA / "ucdp_ged" / "ged_v23_1_caf_events.csv"
ADMIN1 = SHARED_DATA / "boundaries" / "ne_admin1_mli_cod_caf_ssd.geojson"


# ================================================================== ROC AUC


def test_auc_hand_example():
    # positives 0.35, 0.8; negatives 0.1, 0.4: pairs won 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3/4
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_auc_ties_count_half():
    # positives 1, 3; negatives 1, 2: (1 vs 1) 0.5, (1 vs 2) 0, (3 vs 1) 1, (3 vs 2) 1 -> 2.5/4
    assert roc_auc([1, 1, 2, 3], [0, 1, 0, 1]) == pytest.approx(0.625)
    assert roc_auc([5, 5, 5, 5], [1, 0, 1, 0]) == pytest.approx(0.5)
    # ranks with ties: scores 2,2,1,1,3 labels 1,0,0,1,1 -> pos {2,1,3} neg {2,1}
    # pairs: 2v2 .5, 2v1 1, 1v2 0, 1v1 .5, 3v2 1, 3v1 1 -> 4/6
    assert roc_auc([2, 2, 1, 1, 3], [1, 0, 0, 1, 1]) == pytest.approx(4 / 6)


def test_auc_perfect_and_reversed():
    assert roc_auc([0.1, 0.2, 0.9, 0.95], [False, False, True, True]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9, 0.95], [True, True, False, False]) == 0.0


def test_auc_matches_pairwise_count_and_mann_whitney():
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        s = rng.integers(0, 6, size=n).astype(float)  # many ties
        y = rng.random(n) < 0.3
        if y.all() or not y.any():
            continue
        pos, neg = s[y], s[~y]
        pairs = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
        expected = pairs / (len(pos) * len(neg))
        assert roc_auc(s, y) == pytest.approx(expected)
        u = mannwhitneyu(pos, neg, alternative="two-sided").statistic
        assert roc_auc(s, y) == pytest.approx(u / (len(pos) * len(neg)))


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        ([1, 2, 3], [0, 0, 0], "needs both classes"),
        ([1, 2, 3], [1, 1, 1], "needs both classes"),
        ([1, np.nan, 3], [0, 1, 0], "NaN"),
        ([1, 2], [0, 1, 0], "differ in length"),
    ],
)
def test_auc_refuses_undefined_input(scores, labels, match):
    with pytest.raises(BacktestError, match=match):
        roc_auc(scores, labels)


# ================================================================== top share


def test_top_share_by_hand():
    s, w = [4, 3, 2, 1], [1, 0, 2, 1]
    assert top_share(s, w, 0.5) == pytest.approx(1 / 4)   # cells 4, 3
    assert top_share(s, w, 0.75) == pytest.approx(3 / 4)  # cells 4, 3, 2
    assert top_share(s, w, 1.0) == pytest.approx(1.0)
    # k = 0.1 * 4 = 0.4 cells: 0.4 of the top cell's weight
    assert top_share(s, [1, 1, 1, 1], 0.1) == pytest.approx(0.1)


def test_top_share_ties_pro_rata():
    s, w = [3, 2, 2, 1], [0, 2, 0, 2]
    # k = 2: the cell scored 3 (weight 0), then half of the tied pair {2, 2} (weight 2) -> 1 of 4
    assert top_share(s, w, 0.5) == pytest.approx(0.25)
    assert top_share(s, w, 0.25) == pytest.approx(0.0)
    # all tied: any k gets its share of the total
    assert top_share([1, 1, 1, 1, 1], [5, 0, 0, 0, 0], 0.2) == pytest.approx(0.2)
    assert math.isnan(top_share([1, 2], [0, 0], 0.5))


def test_top_sum_precision_and_bounds():
    labels = np.array([1, 0, 1, 0], dtype=float)
    assert top_sum([0.9, 0.8, 0.7, 0.1], labels, 2) == pytest.approx(1.0)  # precision at 2 = 1/2
    assert top_sum([0.9, 0.8, 0.7, 0.1], labels, 0) == 0.0
    with pytest.raises(BacktestError, match="k=5"):
        top_sum([1, 2, 3, 4], labels, 5)
    with pytest.raises(BacktestError, match="frac"):
        top_share([1, 2], [1, 1], 0.0)


# ================================================================== blocks, distances, dates


def test_block_aggregate_by_hand():
    v = np.array([[1.0, 2.0, 3.0],
                  [3.0, 4.0, 5.0],
                  [6.0, 7.0, 8.0]])  # fmt: skip
    m = np.array([[True, True, True],
                  [True, False, True],
                  [False, False, False]])  # fmt: skip
    # blocks of 2: [[1,2],[3,4]] [[3],[5]] / [[6,7]] [[8]]
    np.testing.assert_allclose(block_aggregate(v, 2, how="mean"), [[2.5, 4.0], [6.5, 8.0]])
    np.testing.assert_allclose(block_aggregate(v, 2, how="mean", mask=m), [[2.0, 4.0], [np.nan, np.nan]])
    np.testing.assert_allclose(block_aggregate(v, 2, how="sum", mask=m), [[6.0, 8.0], [0.0, 0.0]])
    np.testing.assert_allclose(block_aggregate(v, 2, how="max", mask=m), [[3.0, 5.0], [np.nan, np.nan]])
    ev = np.array([[0, 0, 0], [0, 9, 0], [1, 0, 0]])
    np.testing.assert_array_equal(block_aggregate(ev, 2, how="any", mask=m), [[False, False], [False, False]])
    np.testing.assert_array_equal(block_aggregate(ev, 2, how="any"), [[True, False], [True, False]])
    np.testing.assert_allclose(block_aggregate(v, 1, how="mean"), v)
    v0 = v.copy()
    block_aggregate(v, 3, how="sum")
    np.testing.assert_array_equal(v, v0)  # input untouched
    with pytest.raises(BacktestError, match="whole number"):
        block_aggregate(v, 1.5)
    with pytest.raises(BacktestError, match="how="):
        block_aggregate(v, 2, how="median")  # type: ignore[arg-type]


def test_nearest_distance_by_hand():
    d = nearest_distance(np.array([3.0, 10.0]), np.array([4.0, 0.0]), np.array([0.0, 10.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(d, [5.0, 1.0])


def test_horizon_end_keeps_month_ends():
    assert horizon_end(date(2017, 6, 30), 12) == date(2018, 6, 30)
    assert horizon_end(date(2016, 12, 31), 12) == date(2017, 12, 31)
    assert horizon_end(date(2016, 2, 29), 12) == date(2017, 2, 28)
    assert horizon_end(date(2019, 1, 31), 1) == date(2019, 2, 28)
    assert horizon_end(date(2020, 6, 30), 6) == date(2020, 12, 31)  # as the forecast's label window
    assert horizon_end(date(2020, 6, 15), 6) == date(2020, 12, 15)
    with pytest.raises(ConfigError, match="horizon_months"):
        horizon_end(date(2017, 6, 30), 0)


# ================================================================== synthetic: a known answer

AS_OF = date(2020, 6, 30)
HOT = (1.8, 0.5)  # lon, lat of the place of past and later violence, far east of the base


def _bases(map_date="2020-06-01"):
    return gpd.GeoDataFrame(
        {"base_id": ["B1"], "name": ["B1"], "mission": ["X"], "strength": [650.0], "unit_type": ["infantry"],
         "strength_source": ["reported"], "map_date": pd.to_datetime([map_date]), "hq": [0]},
        geometry=gpd.points_from_xy([0.1], [0.5]), crs=4326,
    )


def _events(dates, where=HOT):
    n = len(dates)
    return gpd.GeoDataFrame(
        {"event_id": [f"e{i}" for i in range(n)], "date": pd.to_datetime(dates), "event_type": ["state_based"] * n,
         "fatalities": [float(i + 1) for i in range(n)], "actors": [""] * n, "schema": ["custom"] * n},
        geometry=gpd.points_from_xy([where[0]] * n, [where[1]] * n), crs=4326,
    )


def _inputs(events, bases=None):
    return AnalysisInputs(bases=_bases() if bases is None else bases, events=events, bbox=(0.0, 0.0, 2.0, 1.0))


PARAMS = load_params(resolution_m=5000.0, margin_km=0.0)


def test_synthetic_violence_where_it_was_and_uncovered_is_ranked_first():
    dates = ["2019-12-01", "2020-03-01", "2020-06-30",   # past (the as-of day itself is known)
             "2020-07-01", "2020-09-15", "2021-06-30",   # later: the horizon's last day is included
             "2021-07-01"]                               # after the horizon: ignored
    r = run_backtest(_inputs(_events(dates)), AS_OF, 12, PARAMS, block_km=10.0, n_jobs=1)
    c = r["counts"]
    assert r["window"] == {"after": "2020-06-30", "through": "2021-06-30"}
    assert c["later_events"] == 3 and c["later_events_in_area"] == 3 and c["past_events_in_lookback"] == 3
    assert c["later_fatalities_in_area"] == 4 + 5 + 6
    assert c["cells_with_later_event"] == 1 and c["blocks_with_later_event"] == 1
    for scale in ("cell", "block"):
        sc = r["scales"][scale]
        assert set(sc["scores"]) == set(SCORES)
        # the only later-event unit is the peak of past violence, out of the base's reach
        for name in ("gap", "past_events", "need", "kernel_gap"):
            assert sc["scores"][name]["auc"] == 1.0, (scale, name)
            assert sc["scores"][name]["top"]["5%"]["events"] == pytest.approx(1.0)
            assert sc["scores"][name]["top"]["5%"]["fatalities"] == pytest.approx(1.0)
        # the base is at the west edge, the violence near the east edge: far is right here
        assert sc["scores"]["distance"]["auc"] > 0.5
    assert r["scales"]["block"]["units"] < r["scales"]["cell"]["units"]


def test_synthetic_refusals():
    with pytest.raises(BacktestError, match="nothing to predict"):
        run_backtest(_inputs(_events(["2019-12-01", "2020-03-01"])), AS_OF, 12, PARAMS)
    with pytest.raises(BacktestError, match="deployment map after the as-of date"):
        run_backtest(_inputs(_events(["2020-03-01", "2020-08-01"]), bases=_bases("2020-09-01")), AS_OF, 12, PARAMS)
    with pytest.raises(BacktestError, match="falls inside the area"):
        later_far = pd.concat([_events(["2020-03-01"]), _events(["2020-08-01"], where=(5.0, 5.0))],
                              ignore_index=True)
        run_backtest(_inputs(later_far), AS_OF, 12, PARAMS)
    with pytest.raises(ConfigError, match="block_km=7"):
        run_backtest(_inputs(_events(["2020-03-01", "2020-08-01"])), AS_OF, 12, PARAMS, block_km=7)
    with pytest.raises(BacktestError, match="needs an events layer"):
        run_backtest(AnalysisInputs(bases=_bases(), bbox=(0.0, 0.0, 2.0, 1.0)), AS_OF, 12, PARAMS)


def test_inputs_factory_gets_the_as_of_date():
    seen = []

    def factory(d):
        seen.append(d)
        return _inputs(_events(["2020-03-01", "2020-08-01"]))

    r = run_backtest(factory, AS_OF, 3, PARAMS, n_jobs=1)
    assert seen == [AS_OF] and r["counts"]["later_events"] == 1


# ================================================================== CLI


def _one_line(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln]
    return code, lines


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--horizon-months", "0"], "--horizon-months must be > 0"),
        (["--horizon-months", "a year"], "not a whole number"),
        (["--as-of", "30/06/2019"], "is not a date"),
        (["--admin-iso3", "XYZ"], r"--admin-iso3 XYZ: no row .* values present: CAF, COD, MLI, SSD"),
        (["--year-only"], "year_only=True would discard them"),
        (["--as-of", "2010-01-01"], "no Geo-PKO map of mission 'MINUSCA'"),
        (["--as-of", "2022-12-31", "--max-map-age", "1000"], "nothing to predict .*no event after it"),
        (["--bases", "nope.csv"], "--bases nope.csv: no such file"),
        (["--block-km", "2.5"], "block_km=2.5 must be a whole multiple"),
    ],
)
@real_data
def test_cli_errors_are_one_line(capsys, extra, match):
    argv = ["backtest", "--case", "car", "--as-of", "2019-06-30", "--horizon-months", "12",
            "--resolution", "5000", "--quiet", "--jobs", "1"]
    for i in range(0, len(extra), 2):  # later flags win with argparse
        argv += extra[i:i + 2]
    code, lines = _one_line(capsys, argv)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("vacuum: error:"), lines
    assert re.search(match, lines[0]), lines[0]


def test_cli_without_layers_or_shared_data(capsys, monkeypatch, tmp_path):
    code, lines = _one_line(capsys, ["backtest", "--as-of", "2019-06-30", "--horizon-months", "12"])
    assert code == 2 and len(lines) == 1 and "--bases is required" in lines[0]
    monkeypatch.setattr(clibt, "SHARED_DATA", tmp_path / "nowhere")
    code, lines = _one_line(capsys, ["backtest", "--case", "car", "--as-of", "2019-06-30", "--horizon-months", "12"])
    assert code == 2 and len(lines) == 1 and "shared data folder" in lines[0] and "nowhere" in lines[0]


# ================================================================== real data: CAR, 5 km


@pytest.mark.slow
@real_data
def test_car_backtest_real_data(tmp_path, capsys, monkeypatch):
    seen = {}

    def keep(*args, **kwargs):  # the analysis the backtest scores: its gap surface, grid and bases
        seen["res"] = res = analyze(*args, **kwargs)
        return res

    monkeypatch.setattr(geo.backtest, "analyze", keep)
    out = tmp_path / "bt"
    code = main(["backtest", "--case", "car", "--as-of", "2019-06-30", "--horizon-months", "12",
                 "--resolution", "5000", "--quiet", "--jobs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "10 km blocks (headline)" in printed and "model: gap" in printed
    r = json.loads((out / "backtest.json").read_text())
    c = r["counts"]

    ged = pd.read_csv(GED_CAF, usecols=["date_start", "longitude", "latitude", "best"])
    d = pd.to_datetime(ged["date_start"])
    window = ged[(d > "2019-06-30") & (d <= "2020-06-30")]
    assert c["later_events"] == len(window) == 60
    assert c["later_events_in_area"] + c["later_events_in_margin"] + c["later_events_outside_grid"] == len(window)
    # "in the area" is by grid cell centre: it may differ from point-in-polygon at the border only
    admin = gpd.read_file(ADMIN1)
    caf = admin[admin["iso3"] == "CAF"].union_all()
    pts = gpd.points_from_xy(window["longitude"], window["latitude"], crs=4326)
    in_poly = int(pts.within(caf).sum())
    assert abs(c["later_events_in_area"] - in_poly) <= 4
    assert c["later_fatalities_in_area"] <= window["best"].sum()

    for scale in ("cell", "block"):
        sc = r["scales"][scale]
        assert sc["events"] == c["later_events_in_area"]
        assert sc["fatalities"] == pytest.approx(c["later_fatalities_in_area"])
        assert 0 < sc["positives"] <= c["later_events_in_area"]
        for m in sc["scores"].values():
            for t in m["top"].values():
                for v in t.values():
                    assert 0.0 <= v <= 1.0

    # the AUCs again, independently: labels from the GED rows, cells by hand, sklearn's AUC
    res = seen["res"]
    t, crs = res.grid.transform, res.grid.crs
    h, w = res.grid.shape
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(window["longitude"].to_numpy(),
                                                                     window["latitude"].to_numpy())
    col, row = np.floor((x - t.c) / t.a).astype(int), np.floor((y - t.f) / t.e).astype(int)
    on = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    xc, yc = t.c + (np.arange(w) + 0.5) * t.a, t.f + (np.arange(h) + 0.5) * t.e
    XC, YC = np.meshgrid(xc, yc)
    inside = shapely.contains_xy(gpd.GeoSeries([caf], crs=4326).to_crs(crs).iloc[0], XC, YC)
    assert inside.sum() == c["cells"]
    hit = np.zeros((h, w), dtype=bool)
    hit[row[on], col[on]] = True
    hit &= inside
    assert hit.sum() == r["scales"]["cell"]["positives"]
    bx, by = res.bases.geometry.x.to_numpy(), res.bases.geometry.y.to_numpy()
    dist_km = np.sqrt((XC[..., None] - bx) ** 2 + (YC[..., None] - by) ** 2).min(axis=-1) / 1000
    gap = res.surfaces["gap"].astype(np.float64)
    cell = r["scales"]["cell"]["scores"]
    assert cell["gap"]["auc"] == pytest.approx(roc_auc_score(hit[inside], gap[inside]), abs=1e-12)
    assert cell["distance"]["auc"] == pytest.approx(roc_auc_score(hit[inside], dist_km[inside]), abs=1e-9)
    # 10 km blocks = 2 x 2 cells from the top-left: score = mean gap of the block's cells in the area
    f = 2
    pad = ((0, -h % f), (0, -w % f))
    blocks = lambda a: np.pad(a, pad).reshape((h + pad[0][1]) // f, f, (w + pad[1][1]) // f, f)  # noqa: E731
    n_in = blocks(inside).sum(axis=(1, 3))
    mean_gap = blocks(np.where(inside, gap, 0.0)).sum(axis=(1, 3)) / np.maximum(n_in, 1)
    block_hit = blocks(hit).any(axis=(1, 3))
    some = n_in > 0
    assert some.sum() == c["blocks"] and block_hit.sum() == r["scales"]["block"]["positives"]
    assert r["scales"]["block"]["scores"]["gap"]["auc"] == pytest.approx(
        roc_auc_score(block_hit[some], mean_gap[some]), abs=1e-12)
    assert r["scales"]["cell"]["units"] == c["cells"]
    assert r["scales"]["block"]["positives"] <= r["scales"]["cell"]["positives"]
    assert r["bases_map"]["MINUSCA"]["map_date"] == "2019-06"
    table = pd.read_csv(out / "backtest.csv")
    assert len(table) == 2 * len(SCORES) and {"auc", "events_top10", "fatalities_top10"} <= set(table.columns)


# ================================================================== forecast as the judged model



def test_brier_and_brier_skill_by_hand():
    p = [0.1, 0.2, 0.8, 0.4, 0.5]
    y = [0, 0, 1, 1, 0]
    # squared errors .01 .04 .04 .36 .25 -> 0.70 / 5
    assert brier(p, y) == pytest.approx(0.14)
    # base rate 2/5: the constant forecast 0.4 scores 0.4 * 0.6 = 0.24
    assert brier_skill_score(p, y) == pytest.approx(1 - 0.14 / 0.24)
    assert brier_skill_score([0.4] * 5, y) == pytest.approx(0.0)
    assert brier_skill_score([0, 0, 1, 1, 0], y) == pytest.approx(1.0)
    # four units, one positive: base rate .25, reference .1875; p = .5 everywhere -> .25 -> skill -1/3
    assert brier_skill_score([0.5] * 4, [1, 0, 0, 0]) == pytest.approx(1 - 0.25 / 0.1875)


def test_average_precision_by_hand():
    # ranked 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-): recall steps of 1/2 at precision 1 and 2/3
    assert average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert math.isnan(average_precision([0.1, 0.2], [0, 0]))


def test_recent_counts_by_hand():
    day = np.array(["2020-06-30", "2019-07-05", "2019-06-25", "2020-07-01", "2020-01-01"], dtype="datetime64[D]")
    unit = np.array([0, 0, 1, 1, -1])
    # as of 2020-06-30: the day itself counts (age 0); 2019-07-05 is 361 days = 11.9 months old;
    # 2019-06-25 is 371 days = 12.2 months old (out); 2020-07-01 is after it; unit -1 is off the units
    assert recent_counts(unit, day, 3, "2020-06-30").tolist() == [2.0, 0.0, 0.0]


def test_count_platt_equals_a_fit_on_every_row():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    c = rng.poisson(0.7, size=400).astype(float)
    y = rng.random(400) < 1 / (1 + np.exp(-(-2.0 + 1.5 * np.log1p(c))))
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.log1p(c).reshape(-1, 1), y)
    grid = np.array([0.0, 1.0, 2.0, 5.0])
    want = lr.predict_proba(np.log1p(grid).reshape(-1, 1))[:, 1]
    assert CountPlatt().fit(c, y).predict(grid) == pytest.approx(want, rel=1e-4)
    assert CountPlatt().fit(c, np.zeros(400, bool)).predict(grid) == pytest.approx([0.5 / 401] * 4)


def test_uncovered_cells_by_hand():
    tt = np.array([[0.5, 2.0, 2.5], [np.inf, np.nan, 1.0]])
    inside = np.array([[True, True, True], [True, True, False]])
    # beyond 2 h (2.0 itself is covered), unreachable (inf) and unknown (NaN) count; outside never
    assert uncovered_cells(tt, inside, 2.0).tolist() == [[False, False, True], [True, True, False]]


NEAR_BASE = (0.12, 0.5)  # ~2 km east of the base: reached well within 2 h at 8 km/h off road
PLACES = [(1.8, 0.5), (1.5, 0.2), (1.2, 0.8), (0.9, 0.5), (0.6, 0.3), NEAR_BASE]


def _history_events():
    """Quarterly events 2016-2020 at five places (enough positive unit-origins for
    persistence), later events at three of them and next to the base."""
    rows = []
    for k, place in enumerate(PLACES[:5]):
        for d in pd.date_range("2016-01-15", "2020-06-15", freq="QS")[k % 2::2]:
            rows.append((d, place))
    later = [("2020-08-01", PLACES[0]), ("2020-10-01", PLACES[0]), ("2021-01-10", PLACES[2]),
             ("2021-03-01", PLACES[4]), ("2021-02-01", NEAR_BASE), ("2021-05-01", NEAR_BASE)]
    rows += [(pd.Timestamp(d), p) for d, p in later]
    n = len(rows)
    return gpd.GeoDataFrame(
        {"event_id": [f"e{i}" for i in range(n)], "date": pd.to_datetime([d for d, _ in rows]),
         "event_type": ["state_based"] * n, "fatalities": [1.0] * n, "actors": [""] * n, "schema": ["custom"] * n},
        geometry=gpd.points_from_xy([p[0] for _, p in rows], [p[1] for _, p in rows]), crs=4326,
    )


@pytest.fixture(scope="module")
def judged():
    return run_backtest(_inputs(_history_events()), AS_OF, 12, PARAMS, n_boot=200, n_jobs=1)


def test_forecast_and_persistence_are_scored_with_ap_and_brier(judged):
    assert {"forecast", "persistence"} <= set(SCORES) and set(PROBABILISTIC) == {"forecast", "persistence"}
    assert judged["probabilistic"] == ["forecast", "persistence"]
    assert judged["forecast"]["method"] == "forecast"  # the synthetic history is long enough to fit
    for scale in ("cell", "block"):
        sc = judged["scales"][scale]
        assert set(sc["scores"]) == set(SCORES)
        for name, m in sc["scores"].items():
            assert set(m) == {"auc", "ap", "brier", "brier_skill", "top"}
            assert 0.0 <= m["ap"] <= 1.0
            if name in PROBABILISTIC:
                assert 0.0 <= m["brier"] <= 1.0 and m["brier_skill"] <= 1.0
            else:
                assert m["brier"] is None and m["brier_skill"] is None, (scale, name)
        assert set(sc["reliability"]) == {"forecast", "persistence"}
        for rows in sc["reliability"].values():
            assert sum(r["count"] for r in rows) == sc["units"]


def test_uncovered_label_by_hand(judged):
    # later events in the area: 2 at PLACES[0], 1 at [2], 1 at [4], 2 next to the base; all but the
    # two next to the base lie over 2 h (16 km off road) from the only base
    c = judged["counts"]
    assert c["later_events_in_area"] == 6 and c["later_events_uncovered"] == 4
    cell = judged["scales"]["cell"]
    assert cell["positives"] == 4  # four 5 km cells with a later event
    unc = cell["labels"]["uncovered"]
    assert unc["positives"] == 3 and unc["events"] == 4 and unc["fatalities"] == 4.0
    assert unc["base_rate"] == pytest.approx(3 / cell["units"])
    assert unc["scores"]["gap"]["brier"] is None
    assert judged["scales"]["block"]["labels"]["uncovered"]["positives"] == 3


def test_bootstrap_intervals_contain_the_point_estimate(judged):
    ivs = judged["scales"]["block"]["intervals"]
    assert set(ivs) == set(SCORES) - {"forecast"}
    assert "intervals" not in judged["scales"]["cell"]
    for name, iv in ivs.items():
        for key, metric in (("auc", "auc"), ("ap", "average_precision")):
            d = iv[key]
            assert d["metric"] == metric and d["level"] == 0.95 and d["n_boot"] == 200
            assert d["low"] <= d["estimate"] <= d["high"], (name, key, d)
            sc = judged["scales"]["block"]["scores"]
            assert d["estimate"] == pytest.approx(sc["forecast"][key] - sc[name][key])


def test_several_origins_in_one_call():
    events = _history_events()
    factory = lambda d: _inputs(events, bases=_bases("2019-06-01"))  # noqa: E731
    series = run_backtests(factory, [date(2020, 6, 30), date(2019, 12, 31)], 6, PARAMS, n_boot=0, n_jobs=1)
    assert series["as_of"] == ["2019-12-31", "2020-06-30"] and series["horizon_months"] == 6
    assert [r["as_of"] for r in series["origins"]] == series["as_of"]
    assert series["origins"][1]["window"] == {"after": "2020-06-30", "through": "2020-12-31"}
    table = metrics_table(series)
    assert len(table) == 2 * 2 * len(SCORES)
    assert sorted(set(table["as_of"])) == ["2019-12-31", "2020-06-30"]
    assert {"auc", "ap", "brier", "brier_skill", "auc_uncovered", "fc_minus_auc_low"} <= set(table.columns)
    printed = clibt.summary_table(series["origins"])
    assert printed.count("model: forecast") == 2 and "2019-12-31" in printed
    with pytest.raises(ConfigError, match="given twice"):
        run_backtests(_inputs(events), [AS_OF, AS_OF], 12, PARAMS)


def test_origin_lists_from_the_cli():
    import argparse

    ns = lambda **kw: argparse.Namespace(**{"as_of": None, "date_from": None, "date_to": None,  # noqa: E731
                                            "every": None, **kw})
    assert clibt.as_of_dates(ns(as_of="2018-06-30,2017-06-30")) == [date(2017, 6, 30), date(2018, 6, 30)]
    assert clibt.as_of_dates(ns(date_from="2016-12-31", date_to="2018-12-31", every="12M")) == [
        date(2016, 12, 31), date(2017, 12, 31), date(2018, 12, 31)]
    assert clibt.as_of_dates(ns(date_from="2017-06-30", date_to="2018-06-29", every="6M")) == [
        date(2017, 6, 30), date(2017, 12, 31)]
    for kw, match in [({"as_of": "2018-06-30", "every": "12M"}, "not both"), ({"date_from": "2017-06-30"}, "go together"),
                      ({}, "--as-of is required"), ({"as_of": "2018-06-30,2018-06-30"}, "given twice"),
                      ({"date_from": "2017-06-30", "date_to": "2018-06-30", "every": "a year"}, "not a number")]:
        with pytest.raises(CLIError, match=match):
            clibt.as_of_dates(ns(**kw))


def test_blocks_must_be_the_forecast_units_and_events_not_in_the_future():
    ev = _events(["2020-03-01", "2020-08-01"])
    with pytest.raises(ConfigError, match=r"block_km=20 differs from the forecast units \(forecast_block_km=10\)"):
        run_backtest(_inputs(ev), AS_OF, 12, PARAMS, block_km=20)
    future = pd.concat([ev, _events(["2099-01-01"])], ignore_index=True)
    with pytest.raises(BacktestError, match="dated in the future"):
        run_backtest(_inputs(future), AS_OF, 12, PARAMS)


def test_bootstrap_metrics_equal_sklearn_with_weights_and_ties():
    from sklearn.metrics import average_precision_score

    from geo.forecast.evaluate import METRICS

    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(5, 300))
        p = rng.integers(0, 8, size=n) / 8.0  # many ties
        y = rng.random(n) < 0.2
        if y.all() or not y.any():
            continue
        w = rng.integers(1, 4, size=n).astype(float)
        for weights in (None, w):
            assert METRICS["auc"](y, p, weights) == pytest.approx(roc_auc_score(y, p, sample_weight=weights))
            assert METRICS["average_precision"](y, p, weights) == pytest.approx(
                average_precision_score(y, p, sample_weight=weights))


def test_reliability_rows_by_hand():
    from geo.backtest import reliability_rows

    # three distinct probabilities: one bin each
    rows = reliability_rows([0, 0, 1, 0, 1, 1], [0.1, 0.1, 0.1, 0.5, 0.5, 0.9], min_units=1)
    assert [(r["mean_predicted"], r["observed_rate"], r["count"]) for r in rows] == [
        (pytest.approx(0.1), pytest.approx(1 / 3), 3), (pytest.approx(0.5), 0.5, 2), (pytest.approx(0.9), 1.0, 1)]
    # at least 3 units a bin, merged from the top: {0.9, 0.5, 0.5} and {0.1 x 3}
    rows = reliability_rows([0, 0, 1, 0, 1, 1], [0.1, 0.1, 0.1, 0.5, 0.5, 0.9], min_units=3)
    assert [(r["low"], r["high"], r["count"]) for r in rows] == [(0.1, 0.1, 3), (0.5, 0.9, 3)]
    assert rows[1]["mean_predicted"] == pytest.approx((0.5 + 0.5 + 0.9) / 3)
    assert rows[1]["observed_rate"] == pytest.approx(2 / 3)
    # a remainder below min_units at the bottom joins the lowest full bin
    rows = reliability_rows([0, 1, 1, 1], [0.1, 0.5, 0.5, 0.9], min_units=3)
    assert [(r["low"], r["high"], r["count"]) for r in rows] == [(0.1, 0.9, 4)]
    # many distinct values: deciles
    p = np.linspace(0.0, 0.99, 100)
    rows = reliability_rows(p > 0.5, p, n_bins=10)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == 100


@pytest.mark.slow
@real_data
def test_car_backtest_several_origins_cli(tmp_path, capsys):
    out = tmp_path / "bt"
    code = main(["backtest", "--case", "car", "--as-of", "2019-06-30,2018-06-30", "--resolution", "5000",
                 "--n-boot", "50", "--quiet", "--jobs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.count("backtest as of") == 2 and "all origins, 10 km blocks" in printed
    r = json.loads((out / "backtest.json").read_text())
    assert r["as_of"] == ["2018-06-30", "2019-06-30"] and r["case"] == "car"
    assert [o["as_of"] for o in r["origins"]] == r["as_of"]
    # each origin has its own bases map and window
    assert [o["bases_map"]["MINUSCA"]["map_date"] for o in r["origins"]] == ["2018-06", "2019-06"]
    assert r["origins"][0]["window"]["through"] == "2019-06-30"
    for o in r["origins"]:
        block = o["scales"]["block"]
        assert block["size_km"] == o["forecast"]["block_km"] == 10.0
        assert block["scores"]["forecast"]["brier"] is not None and block["scores"]["gap"]["brier"] is None
        assert set(block["intervals"]["persistence"]) == {"auc", "ap"}
    table = pd.read_csv(out / "backtest.csv")
    assert len(table) == 2 * 2 * len(SCORES)
    assert (out / "reliability.png").stat().st_size > 1000
