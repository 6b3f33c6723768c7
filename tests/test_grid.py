"""Grid and reprojection invariants (property tests) and grid errors."""

import math

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer
from shapely.geometry import box

from geo.errors import CRSMismatchError, GridError
from geo.grid import Grid, cell_index, check_crs, equal_area_crs, grid_for_area
from geo.types import BBox

lon = st.floats(-170, 170)
lat = st.floats(-60, 60)


@settings(max_examples=50, deadline=None)
@given(lon, lat, st.floats(0.5, 8), st.floats(0.5, 8), st.sampled_from([500.0, 1000.0, 2000.0]))
@example(20.0, 6.0, 10.0, 7.0, 1000.0)  # the Central African Republic
def test_grid_covers_area_plus_margin_snapped(w, s, dw, dh, res):
    bbox = BBox(w, s, min(w + dw, 180), min(s + dh, 85))
    g = grid_for_area(bbox, resolution_m=res, margin_m=10_000)
    gw, gs, ge, gn = g.bounds
    # bounds snapped to whole cells
    for v in (gw, gs, ge, gn):
        assert abs(v / res - round(v / res)) < 1e-6
    # every corner of the bbox lies inside the grid by at least the margin
    t = Transformer.from_crs(4326, g.crs, always_xy=True)
    xs, ys = t.transform([bbox.west, bbox.east, bbox.west, bbox.east], [bbox.south, bbox.south, bbox.north, bbox.north])
    assert min(xs) - gw >= 10_000 - 1e-6 and ge - max(xs) >= 10_000 - 1e-6
    assert min(ys) - gs >= 10_000 - 1e-6 and gn - max(ys) >= 10_000 - 1e-6
    assert g.width == round((ge - gw) / res) and g.height == round((gn - gs) / res)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 50), st.integers(1, 50), st.floats(1, 5000), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_cell_centres_map_back_to_their_cells(h, w, res, west, north):
    from affine import Affine

    g = Grid(CRS.from_epsg(3857), Affine(res, 0, west, 0, -res, north), w, h)
    xs, ys = g.cell_centres()
    X, Y = np.meshgrid(xs, ys)
    r, c, ok = g.rowcol(X.ravel(), Y.ravel())
    assert ok.all()
    np.testing.assert_array_equal(r, np.repeat(np.arange(h), w))
    np.testing.assert_array_equal(c, np.tile(np.arange(w), h))


@settings(max_examples=50, deadline=None)
@given(lon, lat)
def test_equal_area_crs_round_trip_and_area(lo, la):
    crs = equal_area_crs(lo, la)
    fwd = Transformer.from_crs(4326, crs, always_xy=True)
    inv = Transformer.from_crs(crs, 4326, always_xy=True)
    x, y = fwd.transform(lo + 0.3, la + 0.2)
    lo2, la2 = inv.transform(x, y)
    assert lo2 == pytest.approx(lo + 0.3, abs=1e-7) and la2 == pytest.approx(la + 0.2, abs=1e-7)
    # the centre maps to the origin
    x0, y0 = fwd.transform(lo, la)
    assert abs(x0) < 1e-3 and abs(y0) < 1e-3


def test_equal_area_cells_are_true_area():
    # a 1x1 degree box near the equator: planar area in the LAEA CRS equals the geodesic area
    from pyproj import Geod

    poly = box(20, 5, 21, 6)
    crs = equal_area_crs(20.5, 5.5)
    planar = gpd.GeoSeries([poly], crs=4326).to_crs(crs).area.iloc[0]
    geodesic, _ = Geod(ellps="WGS84").geometry_area_perimeter(poly)
    assert planar == pytest.approx(abs(geodesic), rel=1e-4)


def test_cell_index_edges():
    r, c, ok = cell_index(np.array([0.0, 10.0, -0.1, 5.0]), np.array([10.0, 5.0, 5.0, 0.0]), 0.0, 10.0, 1.0, 10, 10)
    assert (r[0], c[0], ok[0]) == (0, 0, True)  # north-west corner belongs to cell (0,0)
    assert not ok[1]  # east edge is outside
    assert not ok[2]
    assert not ok[3]  # south edge is outside


def test_grid_errors():
    with pytest.raises(GridError, match="resolution must be a positive"):
        grid_for_area(BBox(0, 0, 1, 1), resolution_m=0)
    with pytest.raises(GridError, match=r"not \(west, south, east, north\)"):
        grid_for_area(BBox(2, 0, 1, 1))
    with pytest.raises(GridError, match="west < east"):
        grid_for_area(BBox(500_000, 0, 400_000, 1), area_crs=CRS.from_epsg(3857))
    with pytest.raises(GridError, match="lon/lat degrees"):
        grid_for_area(BBox(500000, 0, 600000, 1))
    with pytest.raises(GridError, match="exceeds"):
        grid_for_area(BBox(-20, -30, 50, 35), resolution_m=100)
    with pytest.raises(GridError, match="must be projected"):
        grid_for_area(BBox(0, 0, 1, 1), crs=CRS.from_epsg(4326))
    with pytest.raises(CRSMismatchError, match="no CRS"):
        grid_for_area(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))


def test_check_crs_names_both_and_the_fix():
    g = grid_for_area(BBox(20, 5, 21, 6))
    gdf = gpd.GeoDataFrame(geometry=[box(20, 5, 21, 6)], crs=4326)
    with pytest.raises(CRSMismatchError, match=r"WGS 84.*to_crs"):
        check_crs(gdf, g.crs, "roads layer")


def test_grid_dict_round_trip():
    g = grid_for_area(BBox(20, 5, 21, 6), resolution_m=2000)
    g2 = Grid.from_dict(g.to_dict())
    assert g2.crs.equals(g.crs) and g2.transform == g.transform and g2.shape == g.shape
    assert math.isclose(g2.cell_area_km2, 4.0)
