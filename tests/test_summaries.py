from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import box

from geo.errors import ConfigError, CRSMismatchError, GridError, MissingColumnError
from geo.grid import Grid, equal_area_crs
from geo.summaries import (
    ADMIN_COLUMNS,
    GAP_CLASS_NAMES,
    STAT_COLUMNS,
    admin_cells,
    admin_summary,
    class_index,
    zonal_stats,
)

CRS = equal_area_crs(20, 6)
OLD = (20.0, 40.0, 60.0, 80.0)  # breaks these hand computations were worked out with
nan = np.nan


def test_class_index_edges_and_nan():
    v = np.array([nan, -5, 0, 19.999, 20, 39.9, 40, 60, 79.9, 80, 100, np.inf])
    expect = [-1, 0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4]
    got = class_index(v, breaks=OLD)
    assert got.dtype == np.int8
    assert got.tolist() == expect
    assert GAP_CLASS_NAMES[class_index(np.array([65.0]), breaks=OLD)[0]] == "high"
    # the defaults are the model's (Params.class_breaks): 10, 20, 35, 50
    assert class_index(np.array([9.9, 10.0, 34.9, 35.0, 50.0])).tolist() == [0, 1, 2, 3, 4]
    assert class_index(np.array([[10.0, 50.0]]), breaks=(5, 10, 50, 90)).tolist() == [[2, 3]]


@pytest.mark.parametrize("breaks", [(20, 40, 60), (20, 40, 40, 80), (20, nan, 60, 80), (80, 60, 40, 20)])
def test_class_index_rejects_bad_breaks(breaks):
    with pytest.raises(ConfigError, match="increasing"):
        class_index(np.array([1.0]), breaks=breaks)


def test_zonal_stats_by_hand():
    zone = np.array([[0, 0, 1], [0, 1, 1], [-1, -1, 1]])
    gap = np.array([[10, 70, 85], [nan, 50, 90], [99, 99, 20]], dtype=float)
    pop = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=float)
    gap0, pop0 = gap.copy(), pop.copy()
    df = zonal_stats(zone, 3, gap, pop, breaks=OLD)
    np.testing.assert_array_equal(gap, gap0)
    np.testing.assert_array_equal(pop, pop0)
    assert list(df.columns) == list(STAT_COLUMNS)
    assert list(df.index) == [0, 1, 2]

    # zone 0: gap 10 (pop 1, low), 70 (pop 2, high); the NaN cell has pop 4
    z0 = df.loc[0]
    assert z0.cells == 2
    assert z0.mean_gap == 40
    assert z0.max_gap == 70
    assert z0.pop_weighted_gap == pytest.approx((10 * 1 + 70 * 2) / 3)
    assert z0.population == 7  # every cell of the zone
    assert (z0.pop_high, z0.pop_critical, z0.pop_high_or_critical) == (2, 0, 2)
    assert z0.share_area_high_or_critical == 0.5

    # zone 1: 85 (pop 3, critical), 50 (5, elevated), 90 (6, critical), 20 (9, moderate)
    z1 = df.loc[1]
    assert z1.cells == 4
    assert z1.mean_gap == pytest.approx(61.25)
    assert z1.max_gap == 90
    assert z1.pop_weighted_gap == pytest.approx((85 * 3 + 50 * 5 + 90 * 6 + 20 * 9) / 23)
    assert z1.population == 23
    assert (z1.pop_high, z1.pop_critical, z1.pop_high_or_critical) == (0, 9, 9)
    assert z1.share_area_high_or_critical == 0.5

    # zone 2 has no cells
    z2 = df.loc[2]
    assert z2.cells == 0 and z2.population == 0 and z2.pop_high_or_critical == 0
    assert np.isnan([z2.mean_gap, z2.max_gap, z2.pop_weighted_gap, z2.share_area_high_or_critical]).all()
    assert df["cells"].dtype == np.int64


def test_zonal_stats_without_population_and_with_zero_population():
    zone = np.array([[0, 1]])
    gap = np.array([[70.0, 90.0]])
    df = zonal_stats(zone, 2, gap, None)
    assert df["population"].tolist() == [0, 0]
    assert df["pop_weighted_gap"].isna().all()
    assert df["max_gap"].tolist() == [70, 90]
    df = zonal_stats(zone, 2, gap, np.array([[0.0, nan]]))  # NaN population counts as 0
    assert df["population"].tolist() == [0, 0]
    assert df["pop_weighted_gap"].isna().all()


def test_zonal_stats_rejects_bad_inputs():
    with pytest.raises(GridError, match=r"-1\.\.1 for 2 zones"):
        zonal_stats(np.array([[0, 2]]), 2, np.zeros((1, 2)), None)
    with pytest.raises(GridError, match="gap has shape"):
        zonal_stats(np.array([[0, 1]]), 2, np.zeros((2, 1)), None)
    with pytest.raises(GridError, match="integers"):
        zonal_stats(np.array([[0.0, 1.0]]), 2, np.zeros((1, 2)), None)


def small_grid() -> Grid:
    """4x4 cells of 1 km, covering x 0..4000, y 0..4000."""
    return Grid(CRS, Affine(1000, 0, 0, 0, -1000, 4000), 4, 4)


def admin_layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "admin_id": ["A", "B", "C", "D"],
            "name": ["West-north", "East", "Whole", "Tiny"],
            "level": [2, 2, 1, 2],
            "parent": ["C", "C", None, "C"],
        },
        geometry=[
            box(0, 2000, 2000, 4000),  # 2x2 cells, top left
            box(2000, 0, 4000, 4000),  # 4x2 cells, right half
            box(0, 0, 4000, 4000),  # the whole grid
            box(100, 100, 400, 400),  # holds no cell centre
        ],
        crs=CRS,
    )


def test_admin_summary_by_hand():
    grid = small_grid()
    gap = np.full(grid.shape, 10.0)
    gap[0:2, 0:2] = 90.0  # unit A is critical
    gap[3, 3] = nan  # one cell of B (and C) has no gap value
    pop = np.ones(grid.shape)
    df = admin_summary(admin_layer(), grid, gap, pop)
    assert list(df.columns) == list(ADMIN_COLUMNS)
    assert df["admin_id"].tolist() == ["A", "B", "C", "D"]
    assert df["level"].tolist() == [2, 2, 1, 2]
    assert df["parent"].tolist()[:2] + df["parent"].tolist()[3:] == ["C", "C", "C"]
    assert pd.isna(df["parent"].iloc[2])  # pandas may hold a missing string as None or NaN
    assert df["area_km2"].tolist() == [4, 8, 16, 0]
    assert df["cells"].tolist() == [4, 7, 15, 0]
    assert df["population"].tolist() == [4, 8, 16, 0]
    assert df["max_gap"].tolist()[:3] == [90, 10, 90]
    assert df["mean_gap"].tolist()[:3] == pytest.approx([90, 10, (4 * 90 + 11 * 10) / 15])
    assert df["pop_critical"].tolist() == [4, 0, 4, 0]
    assert df["pop_high"].tolist() == [0, 0, 0, 0]
    assert df["share_area_high_or_critical"].tolist()[:3] == pytest.approx([1, 0, 4 / 15])
    tiny = df.iloc[3]
    assert np.isnan([tiny.mean_gap, tiny.max_gap, tiny.pop_weighted_gap]).all()


def test_admin_summary_without_parent_or_population():
    grid = small_grid()
    admin = admin_layer().drop(columns="parent")
    df = admin_summary(admin, grid, np.full(grid.shape, 50.0))
    assert df["parent"].isna().all()
    assert df["population"].tolist() == [0, 0, 0, 0]
    assert df["mean_gap"].tolist()[:3] == [50, 50, 50]


def test_admin_summary_empty_layer_keeps_columns():
    grid = small_grid()
    df = admin_summary(admin_layer().iloc[:0], grid, np.zeros(grid.shape))
    assert list(df.columns) == list(ADMIN_COLUMNS)
    assert len(df) == 0
    assert isinstance(df, pd.DataFrame)


def test_admin_summary_checks_crs_columns_and_shape():
    grid = small_grid()
    gap = np.zeros(grid.shape)
    with pytest.raises(CRSMismatchError, match="to_crs"):
        admin_summary(admin_layer().to_crs(4326), grid, gap)
    with pytest.raises(MissingColumnError, match="level"):
        admin_summary(admin_layer().drop(columns="level"), grid, gap)
    with pytest.raises(GridError, match=r"\(3, 4\)"):
        admin_summary(admin_layer(), grid, np.zeros((3, 4)))


def test_admin_cells_rasterized_once_give_the_same_summaries():
    grid = small_grid()
    rng = np.random.default_rng(2)
    cells = admin_cells(admin_layer(), grid)
    for _ in range(3):
        gap = rng.uniform(0, 100, grid.shape)
        gap[rng.random(grid.shape) < 0.2] = nan
        pop = rng.uniform(0, 10, grid.shape)
        once = admin_summary(admin_layer(), grid, gap, pop, cells=cells)
        pd.testing.assert_frame_equal(once, admin_summary(admin_layer(), grid, gap, pop))
        # cells built with the population carry it
        with_pop = admin_summary(admin_layer(), grid, gap, None, cells=admin_cells(admin_layer(), grid, pop))
        pd.testing.assert_frame_equal(with_pop, once)
    with pytest.raises(GridError, match="admin_cells"):
        admin_summary(admin_layer().iloc[:2], grid, gap, cells=cells)


def test_zonal_stats_max_of_negative_gaps_and_empty_zones():
    zone = np.array([[0, 0, 1, -1]])
    df = zonal_stats(zone, 3, np.array([[-5.0, -2.0, nan, 7.0]]), None)
    assert df["max_gap"].iloc[0] == -2.0
    assert np.isnan(df["max_gap"].iloc[1]) and np.isnan(df["max_gap"].iloc[2])  # only NaN / no cell
    assert df["cells"].tolist() == [2, 0, 0]
