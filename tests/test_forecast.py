"""Forecast core (geo/forecast): every expected value below is worked out by hand in the
comment beside it, except the synthetic test, which checks a stated property."""

import math

import numpy as np
import pytest
from affine import Affine

from geo.errors import VacuumError
from geo.forecast.errors import ForecastError, InsufficientHistoryError, TrainTestOverlapError
from geo.forecast.evaluate import (
    bootstrap_difference,
    brier_skill,
    reliability_table,
    score_forecast,
    superblocks,
)
from geo.forecast.features import (
    DAYS_PER_MONTH,
    UnitEvents,
    feature_matrix,
    horizon_end,
    labels,
)
from geo.forecast.model import (
    ForecastModel,
    HistoryBaseline,
    PersistenceBaseline,
    build_origin_set,
    check_no_overlap,
    closed_origins,
    origin_splits,
    quarterly_origins,
)
from geo.forecast.units import (
    distance_to_nearest,
    point_units,
    ring_kernel,
    ring_sum,
    smooth,
    unit_grid,
    unit_mask,
)
from geo.grid import Grid, equal_area_crs

D = np.datetime64


def _grid(width: int = 25, height: int = 15, res: float = 1000.0) -> Grid:
    return Grid(equal_area_crs(20.0, 5.0), Affine(res, 0, 0.0, 0, -res, height * res), width, height)


# ================================================================== units


def test_unit_grid_shape_and_point_units():
    ug = unit_grid(_grid(), 10.0)  # 25 x 15 km of 1 km cells -> ceil(15/10) x ceil(25/10) = 2 x 3 units
    assert ug.shape == (2, 3)
    assert ug.size == 10_000.0
    x = np.array([0.0, 9_999.0, 10_000.0, 29_999.0, -1.0, 5_000.0, 5_000.0])
    y = np.array([15_000.0, 5_001.0, 15_000.0, 1.0, 10_000.0, 15_001.0, -5_000.0])
    # NW corner -> unit 0; still unit 0; west edge of column 1 -> 1; row 1 col 2 -> 1*3+2 = 5;
    # west of the lattice, north of it, south of it -> -1
    assert point_units(ug, x, y).tolist() == [0, 0, 1, 5, -1, -1, -1]
    xc, yc = ug.centres()
    assert xc.tolist() == [5_000.0, 15_000.0, 25_000.0]
    assert yc.tolist() == [10_000.0, 0.0]


def test_unit_grid_refuses_a_block_that_is_not_whole_cells():
    with pytest.raises(ForecastError, match=r"block_km=2.5 is not a whole multiple.*\(2000 m\)"):
        unit_grid(_grid(res=2000.0), 2.5)


def test_ring_kernel_counts():
    assert ring_kernel(0, 0).tolist() == [[1.0]]
    assert ring_kernel(1, 1).sum() == 8  # the 8 neighbours
    assert ring_kernel(2, 3).sum() == 49 - 9  # 7x7 minus the inner 3x3
    assert ring_kernel(1, 1)[1, 1] == 0


def test_ring_sum_by_hand():
    v = np.zeros((4, 5))
    v[0, 0], v[0, 1], v[3, 4] = 1, 2, 5
    r1 = ring_sum(v, 1, 1)
    assert r1[1, 1] == 3  # both (0,0) and (0,1) are neighbours
    assert r1[0, 0] == 2  # itself excluded, (0,1) counted; off-lattice counts 0
    assert r1[2, 3] == 5
    assert r1[3, 4] == 0
    assert ring_sum(v, 0, 0).tolist() == v.tolist()


def test_ring_sum_rings_2_3_exact():
    v = np.zeros((4, 5))
    v[0, 0], v[0, 1], v[3, 4] = 1, 2, 5
    r23 = ring_sum(v, 2, 3)
    # (3,1): to (0,0) max(3,1)=3, to (0,1) 3, to (3,4) 3 -> 1 + 2 + 5
    assert r23[3, 1] == 8
    # (2,2): to (0,0) 2, to (0,1) 2, to (3,4) max(1,2)=2 -> 8
    assert r23[2, 2] == 8
    # (1,1): to (0,0) 1, (0,1) 1 (ring 1, not 2-3), to (3,4) max(2,3)=3 -> 5
    assert r23[1, 1] == 5


def test_unit_mask_and_distance():
    g = _grid(width=4, height=4)
    ug = unit_grid(g, 2.0)
    inside = np.zeros((4, 4), bool)
    inside[3, 0] = True  # south-west cell -> unit (1, 0)
    assert unit_mask(inside, g, ug).tolist() == [[False, False], [True, False]]
    m = np.zeros((3, 4), bool)
    m[0, 0] = True
    d = distance_to_nearest(m, cap=50)
    assert d[0, 0] == 0 and d[0, 3] == 3 and d[2, 3] == pytest.approx(math.sqrt(4 + 9))
    assert distance_to_nearest(m, cap=2.0)[2, 3] == 2.0
    assert (distance_to_nearest(np.zeros((2, 2), bool), cap=7) == 7).all()


def test_smooth_is_a_normalised_gaussian_cut_at_4_sigma():
    v = np.zeros((11, 11))
    v[5, 5] = 1.0
    w = np.exp(-np.arange(-4, 5) ** 2 / 2.0)
    w /= w.sum()  # 1-D weights for sigma = 1, |d| <= 4
    s = smooth(v, 1.0)
    assert s[5, 5] == pytest.approx(w[4] ** 2)
    assert s[5, 7] == pytest.approx(w[4] * w[6])
    assert s[0, 0] == 0.0  # 5 steps away > 4 sigma
    assert s.sum() == pytest.approx(1.0)
    with pytest.raises(ForecastError, match="sigma must be > 0"):
        smooth(v, 0)


# ================================================================== features

T = D("2020-01-01")


def _hand_events(extra_after_t: bool = False) -> UnitEvents:
    """5 x 5 units; the centre unit is 12 = (2, 2)."""
    rows = [
        # unit, days before T, fatalities
        (12, 10, 3.0),  # A: 0.33 months -> window 0-1
        (12, 45, 0.0),  # B: 1.48 months -> 1-3
        (13, 100, 1.0),  # C: (2,3), 3.29 months -> 3-6; ring 1 of unit 12
        (0, 400, 2.0),  # D: (0,0), 13.1 months -> 12-24; 2 away from unit 12 -> ring 2-3
        (12, 0, 4.0),  # E: on T itself: known at T, age 0 -> 0-1
        (24, 1826, 0.0),  # G: (4,4), 59.99 months -> 24-60
        (24, 1827, 0.0),  # G2: 60.02 months -> beyond every window
        (-1, 5, 9.0),  # H: outside the lattice: ignored
    ]
    unit = [r[0] for r in rows]
    day = [T - np.timedelta64(r[1], "D") for r in rows]
    fat = [r[2] for r in rows]
    if extra_after_t:  # one later event in every unit and a heavy one in unit 12
        unit += list(range(25)) + [12]
        day += [T + np.timedelta64(1, "D")] * 25 + [T + np.timedelta64(200, "D")]
        fat += [1.0] * 25 + [100.0]
    return UnitEvents.from_arrays(unit, day, fat, (5, 5))


def test_feature_windows_by_hand():
    fm = feature_matrix(_hand_events(), T)
    row = {n: fm.X[12, i] for i, n in enumerate(fm.names)}
    assert fm.units.tolist() == list(range(25))
    assert row["n_unit_0_1m"] == 2  # A, E
    assert row["n_unit_1_3m"] == 1  # B
    assert row["n_unit_3_6m"] == 0
    assert row["n_ring1_3_6m"] == 1  # C
    assert row["n_ring2_3_12_24m"] == 1  # D
    assert row["n_ring1_0_1m"] == 0
    assert row["log1p_fatalities_unit_0_12m"] == pytest.approx(math.log1p(3 + 0 + 4))
    assert row["months_since_last_unit"] == 0  # E is on T
    # country: aged < 6 months A, B, C, E (H is outside) = 4; 6-12 months none
    assert row["country_trend_6m"] == pytest.approx(math.log(5 / 1))
    assert (fm.column("country_trend_6m") == row["country_trend_6m"]).all()
    assert row["units_to_event_0_12m"] == 0
    u13 = {n: fm.X[13, i] for i, n in enumerate(fm.names)}
    assert u13["n_unit_3_6m"] == 1 and u13["n_ring1_0_1m"] == 2 and u13["n_ring1_1_3m"] == 1
    assert u13["months_since_last_unit"] == pytest.approx(100 / DAYS_PER_MONTH)
    u24 = {n: fm.X[24, i] for i, n in enumerate(fm.names)}
    assert u24["n_unit_24_60m"] == 1  # G only, G2 is 60.02 months old
    assert u24["months_since_last_unit"] == pytest.approx(1826 / DAYS_PER_MONTH)  # 59.99 < cap
    # nearest event under 12 months: unit 13 = (2,3) -> from (4,4): sqrt(2^2 + 1^2)
    assert u24["units_to_event_0_12m"] == pytest.approx(math.sqrt(5))
    assert u24["units_to_event_ever"] == 0
    u0 = {n: fm.X[0, i] for i, n in enumerate(fm.names)}
    assert u0["n_ring4_7_12_60m"] == 1  # G at (4,4), 4 away from (0,0); G2 too old
    assert fm.X[20, fm.names.index("months_since_last_unit")] == 60  # no event: the cap
    # density, sigma 1 unit, events under 3 months: A, B, E, all in unit (2,2) (H is outside)
    w = np.exp(-np.arange(-4, 5) ** 2 / 2.0)
    w /= w.sum()
    dens = fm.column("density_s1_0_3m")
    assert dens[12] == pytest.approx(3 * w[4] ** 2)
    assert dens[14] == pytest.approx(3 * w[4] * w[6])  # (2,4): two steps east


def test_an_event_after_t_never_changes_the_features_at_t():
    before = feature_matrix(_hand_events(), T)
    after = feature_matrix(_hand_events(extra_after_t=True), T)
    assert before.names == after.names
    np.testing.assert_array_equal(before.X, after.X)


def test_features_for_chosen_units_and_static_columns():
    ev = _hand_events()
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = mask[4, 4] = True
    pop = np.arange(25, dtype=float).reshape(5, 5) * 10
    fm = feature_matrix(ev, T, units=mask, static={"population": pop})
    assert fm.units.tolist() == [12, 24]
    assert fm.names[-1] == "population"
    assert fm.column("population").tolist() == [120.0, 240.0]
    assert fm.column("n_unit_0_1m").tolist() == [2.0, 0.0]
    with pytest.raises(ForecastError, match=r"'roads' has 3 values; give one per unit of the lattice \(5, 5\) \(25\)"):
        feature_matrix(ev, T, static={"roads": np.ones(3)})


def test_labels_window_is_open_at_t_closed_at_the_end():
    # h = 1 month from 2020-01-01: window (2020-01-01, 2020-02-01]
    day = ["2020-01-01", "2020-01-02", "2020-02-01", "2020-02-02", "2019-12-31", "2020-01-15"]
    ev = UnitEvents.from_arrays([0, 0, 1, 1, 2, 1], day, np.zeros(6), (1, 3))
    lab = labels(ev, "2020-01-01", 1)
    assert lab.end == D("2020-02-01")
    assert lab.count.tolist() == [1, 2, 0]  # unit 0: 01-02; unit 1: 02-01 and 01-15
    assert lab.any.tolist() == [True, True, False]


def test_horizon_end_keeps_month_ends():
    assert horizon_end("2017-06-30", 12) == D("2018-06-30")
    assert horizon_end("2016-02-29", 12) == D("2017-02-28")
    assert horizon_end("2017-09-30", 3) == D("2017-12-31")
    assert horizon_end("2017-01-15", 1) == D("2017-02-15")
    with pytest.raises(ForecastError, match="whole number > 0"):
        horizon_end("2017-01-15", 0)


# ================================================================== origins, splits, errors


def test_quarterly_and_closed_origins():
    o = quarterly_origins("2014-01-01", "2014-12-31")
    assert [str(x) for x in o] == ["2014-03-31", "2014-06-30", "2014-09-30", "2014-12-31"]
    # as of 2015-06-30, h = 12: windows of 2014-03-31 and 2014-06-30 have closed
    assert [str(x) for x in closed_origins(o, "2015-06-30", 12)] == ["2014-03-31", "2014-06-30"]


def test_origin_splits_are_time_ordered_with_a_horizon_gap():
    o = quarterly_origins("2014-01-01", "2016-12-31")  # 12 quarter ends
    folds = origin_splits(o, 12, n_splits=3, min_train_origins=2)
    assert [str(t) for _, t in folds] == ["2016-06-30", "2016-09-30", "2016-12-31"]
    train, test = folds[0]
    # labels of a training origin must end by the test origin: origins <= 2015-06-30
    assert [str(x) for x in train] == ["2014-03-31", "2014-06-30", "2014-09-30", "2014-12-31",
                                       "2015-03-31", "2015-06-30"]
    for tr, te in folds:
        assert all(horizon_end(x, 12) <= te for x in tr)


def test_overlap_between_train_and_test_is_refused_naming_the_dates():
    o = quarterly_origins("2018-01-01", "2018-12-31")
    with pytest.raises(TrainTestOverlapError, match=r"2 training origin\(s\).*as-of date 2019-06-30: "
                       r"2018-09-30 \(labels to 2019-09-30\), 2018-12-31 \(labels to 2019-12-31\).*"
                       r"on or before 2018-06-30"):
        check_no_overlap(o, 12, "2019-06-30")
    ev = _hand_events()
    data = build_origin_set(ev, o, 12)
    with pytest.raises(TrainTestOverlapError, match="2018-12-31"):
        ForecastModel(12).fit(data, "2019-06-30")
    with pytest.raises(TrainTestOverlapError):
        PersistenceBaseline(12).fit(data, "2019-06-30")
    assert issubclass(TrainTestOverlapError, VacuumError) and issubclass(TrainTestOverlapError, ValueError)


def test_insufficient_history_names_the_counts_and_the_fallback():
    # events in 2017 only; origins 2017-03-31 .. 2017-12-31, h = 3: labels hold few positives
    day = ["2017-02-01", "2017-05-01", "2017-05-02", "2017-08-01", "2017-11-01"]
    ev = UnitEvents.from_arrays([0, 1, 2, 3, 4], day, np.zeros(5), (3, 3))
    o = quarterly_origins("2017-01-01", "2017-12-31")
    data = build_origin_set(ev, o, 3)
    assert int(data.y.sum()) == 4  # 2017-03-31 -> units 1, 2; 06-30 -> 3; 09-30 -> 4; 12-31 -> none
    with pytest.raises(InsufficientHistoryError, match=r"4 positive unit-origin\(s\) over 4 origin\(s\).*"
                       r">= 20 positives.*PersistenceBaseline"):
        ForecastModel(3).fit(data, "2018-03-31")
    with pytest.raises(ValueError):
        ForecastModel(3).fit(data, "2018-03-31")
    assert issubclass(InsufficientHistoryError, VacuumError)
    # the fallback fits on the same data
    pb = PersistenceBaseline(3).fit(data, "2018-03-31")
    p = pb.predict_proba(feature_matrix(ev, "2018-03-31"))
    assert p.shape == (9, 2) and np.allclose(p.sum(axis=1), 1)


def test_unfitted_model_says_so():
    with pytest.raises(ForecastError, match="not fitted yet"):
        ForecastModel().predict_proba(np.zeros((1, 3)))


# ================================================================== synthetic: model vs persistence


def _synthetic(seed: int = 11):
    """40 x 40 units; a static covariate z ~ N(0, 1) sets each unit's monthly event rate
    exp(-5.5 + 1.6 z), constant in time; 2010-2019, one event day drawn per event."""
    rng = np.random.default_rng(seed)
    shape = (40, 40)
    z = rng.normal(size=shape[0] * shape[1])
    rate = np.exp(-5.5 + 1.6 * z)
    months = np.arange("2010-01", "2020-01", dtype="datetime64[M]")
    unit, day = [], []
    for m in months:
        n = rng.poisson(rate)
        u = np.repeat(np.arange(rate.size), n)
        unit.append(u)
        day.append(m.astype("datetime64[D]") + rng.integers(0, 28, size=u.size))
    ev = UnitEvents.from_arrays(np.concatenate(unit), np.concatenate(day),
                                np.ones(sum(map(len, unit))), shape)
    return ev, {"z": z}


def test_model_beats_persistence_when_risk_follows_a_known_feature():
    """Risk depends on a known per-unit feature z only (seeded): the fitted model, which is
    given z, must rank the next year's units better than last year's count does."""
    ev, static = _synthetic()
    as_of = "2018-12-31"
    origins = closed_origins(quarterly_origins("2014-01-01", "2018-12-31"), as_of, 12)
    data = build_origin_set(ev, origins, 12, static=static)
    model = ForecastModel(12, n_splits=3, hgb_params={"max_iter": 30}, random_state=0).fit(data, as_of)
    pers = PersistenceBaseline(12).fit(data, as_of)
    hist = HistoryBaseline(12).fit(data, as_of)
    X = feature_matrix(ev, as_of, static=static)
    y = labels(ev, as_of, 12).any
    p = model.predict_proba(X)
    assert p.shape == (1600, 2) and np.allclose(p.sum(axis=1), 1)
    s_model = score_forecast(y, p[:, 1])
    s_pers = score_forecast(y, pers.predict_proba(X)[:, 1])
    s_hist = score_forecast(y, hist.predict_proba(X)[:, 1])
    assert s_model.auc > s_pers.auc + 0.03
    assert s_model.brier_skill > s_pers.brier_skill
    assert s_model.auc > s_hist.auc
    # calibrated: mean forecast within 3 points of the observed rate
    assert abs(p[:, 1].mean() - y.mean()) < 0.03
    # the candidate chosen is the one with the best time-ordered CV score
    assert model.model_name_ == max(model.cv_results_, key=lambda c: model.cv_results_[c]["mean"])
    assert model.feature_names_in_[-1] == "z"
    # persistence is a monotone map of last year's count in the unit
    count12 = sum(X.column(f"n_unit_{a}_{b}m") for a, b in ((0, 1), (1, 3), (3, 6), (6, 12)))
    p_pers = pers.predict_proba(X)[:, 1]
    order = np.argsort(count12, kind="stable")
    assert (np.diff(p_pers[order]) >= -1e-12).all()
    # X without the static column is refused, naming the column
    with pytest.raises(ForecastError, match="fitted with 'z'"):
        model.predict_proba(feature_matrix(ev, as_of))


# ================================================================== evaluation

Y5 = np.array([0, 0, 1, 1, 0], bool)
P5 = np.array([0.1, 0.4, 0.35, 0.8, 0.2])


def test_metrics_by_hand():
    s = score_forecast(Y5, P5)
    # pairs (pos, neg): 0.35 beats 0.1 and 0.2, not 0.4; 0.8 beats all three -> 5/6
    assert s.auc == pytest.approx(5 / 6)
    # ranked: 0.8 (+), 0.4 (-), 0.35 (+): AP = 0.5 * 1 + 0.5 * 2/3
    assert s.average_precision == pytest.approx(0.5 + 1 / 3)
    # (0.01 + 0.16 + 0.4225 + 0.04 + 0.04) / 5
    assert s.brier == pytest.approx(0.1345)
    assert s.base_rate == pytest.approx(0.4)
    assert s.brier_reference == pytest.approx(0.24)  # 0.4 * 0.6
    assert s.brier_skill == pytest.approx(1 - 0.1345 / 0.24)
    # against a stated rate of 0.5 the reference Brier is 0.25
    assert brier_skill(Y5, P5, reference_rate=0.5) == pytest.approx(1 - 0.1345 / 0.25)
    assert math.isnan(score_forecast([0, 0], [0.1, 0.2]).auc)


def test_reliability_table_by_hand():
    t = reliability_table([0, 1, 0, 1, 1], [0.05, 0.15, 0.12, 0.95, 1.0], n_bins=10)
    assert t["bin"].tolist() == [0, 1, 9]
    assert t["count"].tolist() == [1, 2, 2]
    assert t["mean_predicted"].tolist() == pytest.approx([0.05, 0.135, 0.975])
    assert t["observed_rate"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert t["low"].tolist() == pytest.approx([0.0, 0.1, 0.9])
    with pytest.raises(ForecastError, match=r"probabilities in \[0, 1\]"):
        reliability_table([0, 1], [0.5, 1.5])


def test_superblocks_by_hand():
    # lattice 7 x 12, 5 x 5 super-blocks -> 2 x 3 of them
    assert superblocks([0, 4, 5, 60, 83], (7, 12), 5).tolist() == [0, 0, 1, 3, 5]


def _bootstrap_case():
    rng = np.random.default_rng(3)
    n = 400
    y = rng.random(n) < 0.2
    a = (y * 0.5 + rng.random(n)) / 1.5  # informative, in [0, 1]
    b = rng.random(n)  # noise
    groups = np.arange(n) // 10
    return y, a, b, groups


def test_bootstrap_is_reproducible_by_seed():
    y, a, b, g = _bootstrap_case()
    one = bootstrap_difference(y, a, b, g, metric="auc", n_boot=200, random_state=5)
    two = bootstrap_difference(y, a, b, g, metric="auc", n_boot=200, random_state=5)
    assert one == two
    other = bootstrap_difference(y, a, b, g, metric="auc", n_boot=200, random_state=6)
    assert (other.low, other.high) != (one.low, one.high)
    assert one.low < one.estimate < one.high
    assert one.low > 0  # a carries the signal; b is noise
    assert one.estimate == pytest.approx(score_forecast(y, a).auc - score_forecast(y, b).auc)


def test_identical_scores_give_a_zero_width_interval_at_zero():
    y, a, _, g = _bootstrap_case()
    for metric in ("auc", "average_precision", "brier", "brier_skill"):
        iv = bootstrap_difference(y, a / a.max(), a / a.max(), g, metric=metric, n_boot=100, random_state=1)
        assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)


def test_bootstrap_refuses_one_class_and_unknown_metric():
    with pytest.raises(ForecastError, match="needs both classes"):
        bootstrap_difference([0, 0, 0], [1, 2, 3], [1, 2, 3], [0, 1, 2])
    with pytest.raises(ForecastError, match="unknown metric 'crps'"):
        bootstrap_difference(Y5, P5, P5, np.arange(5), metric="crps")


def test_negative_sample_keeps_every_positive_and_weights_negatives_by_the_inverse_rate():
    from geo.forecast.model import negative_sample

    y = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0], dtype=bool)  # 2 positives, 7 negatives
    rows, w = negative_sample(y, 3, random_state=1)
    assert rows is not None and w is not None
    assert {0, 5} <= set(rows.tolist())               # both positives
    assert (~y[rows]).sum() == 3                      # three of the seven negatives
    assert list(rows) == sorted(rows)
    assert np.allclose(w[y[rows]], 1.0) and np.allclose(w[~y[rows]], 7 / 3)
    assert negative_sample(y, 7) == (None, None)      # no more negatives than the bound: every row
    assert negative_sample(y, None) == (None, None)


def test_a_case_control_fit_keeps_the_probability_scale():
    """Known logistic truth: P(y) = sigmoid(-3 + 1.5 x). Fitting every row and fitting all
    positives with a tenth of the negatives (weighted 10x) give nearly the same probabilities;
    unweighted, the sample would inflate them about tenfold at low risk."""
    from sklearn.linear_model import LogisticRegression

    from geo.forecast.model import negative_sample

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60_000, 1))
    y = rng.random(60_000) < 1 / (1 + np.exp(-(-3 + 1.5 * x[:, 0])))
    n_neg = int((~y).sum())
    rows, w = negative_sample(y, n_neg // 10, random_state=0)
    full = LogisticRegression(C=1e6).fit(x, y)
    samp = LogisticRegression(C=1e6).fit(x[rows], y[rows], sample_weight=w)
    grid = np.linspace(-2, 2, 9)[:, None]
    p_full, p_samp = full.predict_proba(grid)[:, 1], samp.predict_proba(grid)[:, 1]
    truth = 1 / (1 + np.exp(-(-3 + 1.5 * grid[:, 0])))
    assert np.allclose(p_full, truth, rtol=0.15)
    assert np.allclose(p_samp, p_full, rtol=0.15)


def test_logistic_does_not_extrapolate_beyond_the_training_range():
    """A count of 50 when training saw at most 3 gets the probability of 3 (clip), not a
    log-odds extrapolated along the fitted slope (clip=False)."""
    from geo.forecast.model import ForecastModel

    rng = np.random.default_rng(3)
    m = ForecastModel(12, candidates=("logistic",))
    X = rng.integers(0, 4, size=(4000, 1)).astype(float)  # counts 0..3
    y = rng.random(4000) < 0.02 * (1 + X[:, 0])  # more events, more risk
    clipped = m._fit_one("logistic", X, y)
    free = ForecastModel(12, candidates=("logistic",), clip=False)._fit_one("logistic", X, y)
    at = np.array([[3.0], [50.0]])
    p_clip, p_free = clipped.predict_proba(at)[:, 1], free.predict_proba(at)[:, 1]
    assert p_clip[1] == pytest.approx(p_clip[0])  # 50 is treated as 3
    assert p_free[1] > p_free[0] + 0.05  # the unclipped slope goes on rising


def test_threads_and_the_calibration_folds_alone_give_the_same_model():
    """The fits on a thread pool (finals included, the loser's thrown away) must equal the
    sequential fit; a refit of one family on only the folds its calibrator uses (cv_folds=2,
    calibration_origins=2) must equal that family fitted with every fold."""
    ev, static = _synthetic(5)
    as_of = "2018-12-31"
    origins = closed_origins(quarterly_origins("2014-01-01", "2018-12-31"), as_of, 12)
    data = build_origin_set(ev, origins, 12, static=static)
    X = feature_matrix(ev, as_of, static=static)
    kw = {"n_splits": 3, "hgb_params": {"max_iter": 20}, "random_state": 0}
    seq = ForecastModel(12, n_jobs=1, **kw).fit(data, as_of)
    pooled = ForecastModel(12, n_jobs=2, **kw).fit(data, as_of)
    assert pooled.model_name_ == seq.model_name_
    np.testing.assert_array_equal(pooled.predict_proba(X), seq.predict_proba(X))
    for family in ("logistic", "hgb"):
        every = ForecastModel(12, candidates=(family,), n_jobs=1, **kw).fit(data, as_of)
        two = ForecastModel(12, candidates=(family,), cv_folds=2, n_jobs=2, **kw).fit(data, as_of)
        np.testing.assert_array_equal(two.predict_proba(X), every.predict_proba(X))
        assert [f["test_origin"] for f in two.cv_results_[family]["folds"]] == \
            [f["test_origin"] for f in every.cv_results_[family]["folds"]][-2:]
    with pytest.raises(ForecastError, match="cv_folds must be at least 1"):
        ForecastModel(12, cv_folds=0, **kw).fit(data, as_of)
