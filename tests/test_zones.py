from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import Point, box

from geo.errors import ConfigError, CRSMismatchError, GridError, InvalidGeometryError
from geo.grid import Grid, equal_area_crs
from geo.zones import ZONE_COLUMNS, label_zones, vacuum_zones

CRS = equal_area_crs(20, 6)
nan = np.nan


# --- label_zones -----------------------------------------------------------------

MASK = np.array(
    [
        [1, 1, 0, 0, 0],
        [0, 1, 0, 0, 1],
        [0, 0, 1, 0, 1],  # (2, 2) joins the first blob only through a corner
        [0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],
    ],
    dtype=bool,
)


def test_label_zones_is_8_connected_in_row_major_order():
    labels, n = label_zones(MASK)
    assert n == 3
    assert labels.dtype == np.int32
    expect = np.array(
        [
            [1, 1, 0, 0, 0],
            [0, 1, 0, 0, 2],
            [0, 0, 1, 0, 2],
            [0, 0, 0, 0, 0],
            [3, 0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(labels, expect)


def test_label_zones_drops_small_components_and_renumbers():
    labels, n = label_zones(MASK, min_cells=2)
    assert n == 2
    assert labels[4, 0] == 0
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2]
    labels, n = label_zones(MASK, min_cells=3)
    assert n == 1
    assert (labels > 0).sum() == 4
    labels, n = label_zones(MASK, min_cells=5)
    assert n == 0 and not labels.any()


def test_label_zones_rejects_bad_input():
    with pytest.raises(GridError, match="boolean"):
        label_zones(MASK.astype(int))
    with pytest.raises(GridError, match="2-D"):
        label_zones(np.ones(3, dtype=bool))
    with pytest.raises(ConfigError, match="min_cells"):
        label_zones(MASK, min_cells=0)


# --- vacuum_zones on a hand-made 10x10 grid of 1 km cells --------------------------


def make_grid() -> Grid:
    """10x10 cells of 1 km: x 0..10 000, y 0..10 000 (row 0 at the top)."""
    return Grid(CRS, Affine(1000, 0, 0, 0, -1000, 10_000), 10, 10)


def centre(row: int, col: int) -> Point:
    return Point(col * 1000 + 500, 10_000 - row * 1000 - 500)


def scene():
    """Three blobs above 60 on a background of 10; row 0 has no data.

    - north: rows 1-3 x cols 1-4, 12 cells, gap 70 with one 85; population 10 per cell
    - east:  rows 5-9 x cols 7-9, 15 cells, gap 65; population 2 per cell
    - diag:  (7,0), (8,1), (9,2), 3 cells touching at corners, gap 95; population 1 per cell
    """
    gap = np.full((10, 10), 10.0)
    gap[0, :] = nan
    pop = np.zeros((10, 10))
    gap[1:4, 1:5] = 70.0
    gap[2, 3] = 85.0
    pop[1:4, 1:5] = 10.0
    gap[5:10, 7:10] = 65.0
    pop[5:10, 7:10] = 2.0
    for r, c in [(7, 0), (8, 1), (9, 2)]:
        gap[r, c] = 95.0
        pop[r, c] = 1.0
    return gap, pop


def events_layer(crs=CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]),
            "fatalities": [3, 4, 1, 100, nan],
        },
        geometry=[centre(1, 1), centre(3, 4), centre(9, 9), centre(5, 1), centre(6, 8)],
        crs=CRS,
    ).to_crs(crs)


def bases_layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"base_id": ["B-N", "B-S"], "name": ["North", "South"]},
        geometry=[Point(0, 10_000), Point(10_000, 0)],
        crs=CRS,
    )


def nearest_arrays():
    """Base 0 serves cols 0-4, base 1 cols 5-9.

    Hours: base 0 is 1 + 0.5 * col (least at col 1 in the north blob -> 1.5 h);
    base 1 is 2 + 0.25 * (9 - row) (least at row 9 in the east blob -> 2.0 h).
    """
    rows, cols = np.indices((10, 10))
    nearest_base = np.where(cols < 5, 0, 1)
    nearest_time = np.where(cols < 5, 1 + 0.5 * cols, 2 + 0.25 * (9 - rows)).astype(float)
    return nearest_base, nearest_time


def test_vacuum_zones_by_hand():
    grid = make_grid()
    gap, pop = scene()
    nearest_base, nearest_time = nearest_arrays()
    gap0 = gap.copy()
    zones = vacuum_zones(
        gap, grid, threshold=60, breaks=(20.0, 40.0, 60.0, 80.0), population=pop, events=events_layer(),
        bases=bases_layer(), nearest_base=nearest_base, nearest_time=nearest_time,
    )
    np.testing.assert_array_equal(gap, gap0)
    assert list(zones.columns) == [*ZONE_COLUMNS, "geometry"]
    assert zones.crs.equals(CRS)
    assert len(zones) == 2  # the 3-cell diagonal blob is under the default 10 km²

    north, east = zones.iloc[0], zones.iloc[1]  # by population: 120 before 30
    assert zones["zone_id"].tolist() == [1, 2]
    assert (north.cells, north.area_km2, north.population) == (12, 12.0, 120.0)
    assert (east.cells, east.area_km2, east.population) == (15, 15.0, 30.0)
    assert north.mean_gap == pytest.approx((11 * 70 + 85) / 12)
    assert (north.max_gap, north.gap_class) == (85.0, "critical")
    assert (east.mean_gap, east.max_gap, east.gap_class) == (65.0, 65.0, "high")
    # events: two in the north blob (3 + 4 dead), two in the east (1 + missing), one outside
    assert (north.recent_events, north.fatalities) == (2, 7)
    assert (east.recent_events, east.fatalities) == (2, 1)
    assert (north.nearest_base_id, north.nearest_base_name, north.travel_time_h) == ("B-N", "North", 1.5)
    assert (east.nearest_base_id, east.nearest_base_name, east.travel_time_h) == ("B-S", "South", 2.0)

    assert north.geometry.geom_type == "Polygon"
    assert north.geometry.area == pytest.approx(12e6)
    assert north.geometry.bounds == (1000, 6000, 5000, 9000)
    assert east.geometry.equals(box(7000, 0, 10_000, 5000))


def test_min_area_filter_and_corner_joined_zone():
    grid = make_grid()
    gap, pop = scene()
    everything = vacuum_zones(gap, grid, population=pop, min_area_km2=0)
    assert everything["cells"].tolist() == [12, 15, 3]
    diag = everything.iloc[2]
    assert diag.geometry.geom_type == "MultiPolygon"  # cells meet only at corners
    assert len(diag.geometry.geoms) == 3
    assert diag.geometry.area == pytest.approx(3e6)

    big = vacuum_zones(gap, grid, population=pop, min_area_km2=13)
    assert big["cells"].tolist() == [15]
    assert big["zone_id"].tolist() == [1]
    # exactly at the limit is kept
    assert vacuum_zones(gap, grid, population=pop, min_area_km2=12)["cells"].tolist() == [12, 15]


def test_without_population_sorts_by_area_and_leaves_base_columns_empty():
    grid = make_grid()
    gap, _ = scene()
    zones = vacuum_zones(gap, grid)
    assert zones["cells"].tolist() == [15, 12]
    assert zones["population"].tolist() == [0, 0]
    assert zones["recent_events"].tolist() == [0, 0]
    assert zones["nearest_base_id"].isna().all()
    assert zones["travel_time_h"].isna().all()


def test_unreachable_zone_has_no_base():
    grid = make_grid()
    gap, pop = scene()
    nearest_base, nearest_time = nearest_arrays()
    nearest_base[:, 5:] = -1
    nearest_time[:, 5:] = np.inf
    zones = vacuum_zones(gap, grid, population=pop, bases=bases_layer(),
                         nearest_base=nearest_base, nearest_time=nearest_time)
    east = zones.iloc[1]
    assert east.nearest_base_id is None and east.nearest_base_name is None
    assert np.isnan(east.travel_time_h)
    assert zones.iloc[0].nearest_base_id == "B-N"


def test_all_nan_gap_gives_empty_frame_with_same_columns():
    grid = make_grid()
    gap, pop = scene()
    full = vacuum_zones(gap, grid, population=pop, events=events_layer())
    empty = vacuum_zones(np.full((10, 10), nan), grid, population=pop, events=events_layer())
    assert isinstance(empty, gpd.GeoDataFrame)
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    assert empty.crs.equals(CRS)
    assert empty.geometry.name == "geometry"
    assert empty.dtypes.drop("geometry").to_dict() == full.dtypes.drop("geometry").to_dict()


def test_errors():
    grid = make_grid()
    gap, _ = scene()
    with pytest.raises(CRSMismatchError, match="events"):
        vacuum_zones(gap, grid, events=events_layer(crs=4326))
    with pytest.raises(GridError, match=r"\(9, 10\)"):
        vacuum_zones(gap[:9], grid)
    with pytest.raises(GridError, match="population"):
        vacuum_zones(gap, grid, population=np.ones((10, 9)))
    nearest_base, nearest_time = nearest_arrays()
    with pytest.raises(ConfigError, match="all three"):
        vacuum_zones(gap, grid, bases=bases_layer(), nearest_base=nearest_base)
    with pytest.raises(GridError, match="2 bases"):
        vacuum_zones(gap, grid, bases=bases_layer(), nearest_base=nearest_base + 1,
                     nearest_time=nearest_time)
    areas = events_layer()
    areas["geometry"] = areas.buffer(10)
    with pytest.raises(InvalidGeometryError, match="POLYGON"):
        vacuum_zones(gap, grid, events=areas)


def test_a_zones_least_time_and_its_base_by_hand_and_as_ndimage_picks_it():
    from scipy import ndimage

    from geo.zones import least_time_base

    labels = np.array([[1, 1, 0, 2],
                       [1, 1, 0, 2],
                       [0, 0, 0, 2]], dtype=np.int32)
    t = np.array([[3.0, 2.0, 0.5, 4.0],
                  [2.0, 5.0, 0.1, np.inf],
                  [0.0, 0.0, 0.0, 4.0]])
    nb = np.array([[7, 7, 9, 1],
                   [7, 7, 9, -1],
                   [9, 9, 9, 2]])
    # zone 1: least 2.0 on two cells that both name base 7; zone 2: least 4.0 on cells naming 1 and 2
    least, base = least_time_base(labels, 2, t, nb)
    assert least[0] == 2.0 and base[0] == 7
    assert least[1] == 4.0
    r, c = ndimage.minimum_position(t, labels=labels, index=[2])[0]  # the tie: the cell ndimage takes
    assert base[1] == nb[r, c]
    # a zone no base reaches: infinite time, whichever cell
    least, base = least_time_base(np.where(labels == 2, 1, 0).astype(np.int32), 1, np.full((3, 4), np.inf), nb)
    assert np.isinf(least[0])
