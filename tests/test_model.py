"""The model's pure functions, against answers computed by hand."""

import math

import numpy as np
import pytest
from scipy import ndimage

from geo.coverage import BaseTerm, CoverageModel, base_weight, decay
from geo.exposure import disaggregate, exposure_index, site_proximity
from geo.score import gap_score
from geo.threat import (
    event_weights,
    gaussian_kernel,
    gaussian_of_points,
    kernel_density,
    threat_index,
)
from geo.traveltime import Reach


def test_decay_curve_by_hand():
    # full within 2 h, none beyond 6 h, linear between: at 3 h 0.75, at 5 h 0.25
    p = decay(np.array([0, 2, 3, 4, 5, 6, 7, np.inf]), 2.0, 6.0)
    np.testing.assert_allclose(p, [1, 1, 0.75, 0.5, 0.25, 0, 0, 0])


def test_decay_rejects_bad_thresholds():
    with pytest.raises(ValueError, match="t_resp < t_max"):
        decay(np.array([1.0]), 6.0, 2.0)


def test_base_weight_by_hand():
    # a reference battalion gives -ln(1-0.9) = ln 10; alone at full reach: coverage 0.9
    w = base_weight(650, reference_strength=650, coverage_at_reference=0.9, presence_strength=35)
    assert w == pytest.approx(math.log(10))
    assert 1 - math.exp(-w) == pytest.approx(0.9)
    # four battalions: sqrt(4) = 2 x the weight -> coverage 1 - 0.1^2 = 0.99
    w4 = base_weight(2600, reference_strength=650, coverage_at_reference=0.9, presence_strength=35)
    assert 1 - math.exp(-w4) == pytest.approx(0.99)
    # a presence-only site counts as 35 troops
    w0 = base_weight(0, reference_strength=650, coverage_at_reference=0.9, presence_strength=35)
    assert w0 == pytest.approx(math.log(10) * math.sqrt(35 / 650))
    # readiness scales linearly
    assert base_weight(650, reference_strength=650, coverage_at_reference=0.9, presence_strength=35,
                       readiness=0.5) == pytest.approx(0.5 * math.log(10))


def _term(bid, w, idx, hours):
    return BaseTerm(bid, w, 2.0, 6.0, Reach(np.array(idx, dtype=np.int32), np.array(hours, dtype=np.float32)))


def test_two_bases_combine_with_diminishing_returns():
    a = _term("a", math.log(10), [0, 1, 2], [0, 2, 4])
    b = _term("b", math.log(10), [1, 2, 3], [4, 0, 0])
    m = CoverageModel((1, 4), [a, b])
    # cell 0: a full -> 0.9; cell 1: a full + b half -> 1 - 0.1 * 0.1**0.5; cell 2: a half + b full
    c = m.coverage()[0]
    assert c[0] == pytest.approx(0.9)
    assert c[1] == pytest.approx(1 - 0.1 * 0.1**0.5)
    assert c[2] == pytest.approx(1 - 0.1 * 0.1**0.5)
    assert c[3] == pytest.approx(0.9)
    # closing b: exactly the cell only b reached (3) loses all cover
    cw = 1 - np.exp(-m.intensity_without({"b"}))[0]
    assert cw[3] == 0 and cw[0] == pytest.approx(0.9)
    np.testing.assert_allclose(m.nearest_time()[0], [0, 2, 0, 0])


def test_duplicate_base_ids_rejected():
    with pytest.raises(ValueError, match="duplicate base ids"):
        CoverageModel((1, 2), [_term("a", 1, [0], [0]), _term("a", 1, [1], [0])])


def test_event_weights_by_hand():
    # type 1.5, 0 deaths -> 1.5; one half-life old -> halved; 10 deaths -> (1 + ln 11)
    w = event_weights(np.array([1.5, 1.0, 1.0, 1.0, 1.0]), np.array([0, 0, 10, 0, 0]),
                      np.array([0, 180, 0, -1, 800]), half_life_days=180, lookback_days=730)
    np.testing.assert_allclose(w, [1.5, 0.5, 1 + math.log(11), 0, 0])


def test_kernel_mass_is_preserved():
    # two events of weight 2 and 3 in the middle of a 101x101 grid of 1 km cells, sigma 5 km:
    # the density integrates to 5 weighted events
    d = kernel_density(np.array([50, 40]), np.array([50, 60]), np.array([2.0, 3.0]), (101, 101), 5.0, 1.0)
    assert d.sum() * 1.0 == pytest.approx(5.0, rel=1e-6)
    # with 2 km cells (area 4 km²) the density per km² is a quarter, mass the same
    d2 = kernel_density(np.array([50]), np.array([50]), np.array([4.0]), (101, 101), 2.5, 4.0)
    assert (d2.sum() * 4.0) == pytest.approx(4.0, rel=1e-6)
    # peak of a Gaussian with sigma s cells: w / (2 pi s^2) per cell
    d3 = kernel_density(np.array([50]), np.array([50]), np.array([1.0]), (101, 101), 5.0, 1.0)
    assert d3[50, 50] == pytest.approx(1 / (2 * math.pi * 25), rel=0.02)


def test_threat_index_by_hand():
    np.testing.assert_allclose(threat_index(np.array([0.0, 0.01, 0.02]), 0.01), [0, 1 - math.exp(-1), 1 - math.exp(-2)])


def test_gap_formula_by_hand():
    # threat 0.8 (weight 2), exposure 0.5 (weight 1): need = (0.64*0.5)^(1/3) = 0.32^(1/3) = 0.6840
    g = gap_score(np.array([0.8, 0.8, 1.0, 0.0]), np.array([0.5, 0.5, 1.0, 1.0]), np.array([0.0, 0.5, 0.0, 0.0]))
    np.testing.assert_allclose(g, [100 * 0.32 ** (1 / 3), 50 * 0.32 ** (1 / 3), 100, 0], rtol=1e-9)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (2.0, 2.0), (1.5, 0.5), (3.0, 1.0)])
def test_gap_formula_by_hand_for_other_weights(a, b):
    # threat 0.8, exposure 0.5, coverage 0.25: gap = 75 (0.8^a 0.5^b)^(1/(a+b)); each weight
    # pair takes another path (multiplication, sqrt, cbrt or the general power)
    expected = 75.0 * (0.8**a * 0.5**b) ** (1.0 / (a + b))
    got = gap_score(np.array([0.8]), np.array([0.5]), np.array([0.25]), threat_weight=a, exposure_weight=b)
    assert got[0] == pytest.approx(expected, rel=1e-12)


def test_gap_propagates_nan():
    assert np.isnan(gap_score(np.array([np.nan]), np.array([1.0]), np.array([0.0])))[0]


def test_exposure_index_by_hand():
    # 0 people -> floor 0.2; 100/km² with reference 100 -> 1; 9/km² -> 0.2 + 0.8 * ln10/ln101
    e = exposure_index(np.array([0.0, 100.0, 9.0, 0.0]), 1.0, 100.0, 0.2,
                       near_site=np.array([False, False, False, True]), site_exposure=0.5)
    np.testing.assert_allclose(e, [0.2, 1.0, 0.2 + 0.8 * math.log(10) / math.log(101), 0.2 + 0.8 * 0.5])


def test_site_proximity_radius():
    m = site_proximity(np.array([2]), np.array([2]), (5, 5), 1.0)
    assert m.sum() == 5 and m[2, 2] and m[1, 2] and not m[1, 1]


def test_disaggregate_preserves_totals_by_hand():
    # source 2x2 counts; target cells map: src (0,0) has 4 targets, (0,1) 2, (1,0) none, (1,1) 1 partial
    src = np.array([[100.0, 50.0], [30.0, 8.0]])
    rows = np.array([0, 0, 0, 0, 0, 0, 1, -1])
    cols = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    full = np.array([[True, True], [True, False]])
    out = disaggregate(src, rows, cols, full, target_per_src=np.full((2, 2), 4.0))
    np.testing.assert_allclose(out, [25, 25, 25, 25, 25, 25, 2, 0])
    # whole cells: all of their count lands; the partial cell gives 1/4 per target cell
    assert out[:6].sum() == 150


def _raster(path, data, west=20.0, north=6.4, res=0.1, crs="EPSG:4326"):
    import rasterio
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, transform=Affine(res, 0, west, 0, -res, north), nodata=-1) as ds:
        ds.write(data.astype("float32"), 1)
    return path


def test_population_on_grid_preserves_the_total(tmp_path):
    from geo.exposure import population_on_grid
    from geo.grid import grid_for_area
    from geo.types import BBox

    counts = np.arange(1, 17, dtype=float).reshape(4, 4) * 1000  # people per 0.1° cell
    counts[0, 0] = -1  # nodata counts as nobody
    p = _raster(tmp_path / "pop.tif", counts)
    grid = grid_for_area(BBox(20.0, 6.0, 20.4, 6.4), resolution_m=1000, margin_m=20_000)
    pop = population_on_grid(p, grid, "count")
    assert pop.sum() == pytest.approx(counts[counts > 0].sum(), rel=1e-9)
    # density: people per km² times each cell's geodesic area (~122 km² at 6°N for 0.1°)
    dens = _raster(tmp_path / "dens.tif", np.full((4, 4), 10.0))
    total = population_on_grid(dens, grid, "density").sum()
    assert total == pytest.approx(10 * 16 * 11.132 * 11.06, rel=0.01)


def test_population_on_a_grid_cutting_the_raster_counts_the_inside_share(tmp_path):
    from geo.exposure import population_on_grid
    from geo.grid import grid_for_area
    from geo.types import BBox

    p = _raster(tmp_path / "pop.tif", np.full((4, 4), 1000.0))
    import geopandas as gpd
    from shapely.geometry import box

    # a grid over the western half of the raster (no margin, snapped outward to whole km):
    # expected = each source cell's 1000 people times the share of its area inside the grid
    grid = grid_for_area(BBox(20.0, 6.0, 20.2, 6.4), resolution_m=1000, margin_m=0)
    cells = gpd.GeoSeries([box(20 + 0.1 * c, 6.3 - 0.1 * r, 20.1 + 0.1 * c, 6.4 - 0.1 * r)
                           for r in range(4) for c in range(4)], crs=4326).to_crs(grid.crs)
    expected = float((cells.intersection(box(*grid.bounds)).area / cells.area).sum() * 1000)
    assert 8000 < expected < 9000
    assert population_on_grid(p, grid, "count").sum() == pytest.approx(expected, rel=0.02)


def test_population_units_must_be_stated(tmp_path):
    from geo.errors import LayerError
    from geo.exposure import population_on_grid
    from geo.grid import grid_for_area
    from geo.types import BBox

    p = _raster(tmp_path / "pop.tif", np.ones((2, 2)))
    with pytest.raises(LayerError, match="must be 'count' or 'density'"):
        population_on_grid(p, grid_for_area(BBox(20.0, 6.0, 20.2, 6.2)), "people")


@pytest.mark.parametrize("n_points", [1, 7, 60])
def test_stamped_kernel_equals_scipys_gaussian_filter(n_points):
    # the stamped path must give scipy's separable filter (mode constant: mass off the grid lost),
    # points placed on the edges and corners as well as inside
    rng = np.random.default_rng(n_points)
    counts = np.zeros((90, 130))
    rows = np.r_[0, 89, rng.integers(0, 90, n_points)]
    cols = np.r_[0, 129, rng.integers(0, 130, n_points)]
    np.add.at(counts, (rows, cols), rng.random(rows.size) * 4 + 0.5)
    expected = ndimage.gaussian_filter(counts, sigma=6.0, mode="constant", truncate=4.0)
    got = gaussian_of_points(counts, 6.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_dense_counts_take_scipys_filter_and_match():
    # every cell non-zero: the separable filter is cheaper and is the path taken; same values
    counts = np.random.default_rng(3).random((40, 50))
    np.testing.assert_allclose(gaussian_of_points(counts, 3.0),
                               ndimage.gaussian_filter(counts, sigma=3.0, mode="constant", truncate=4.0), rtol=1e-12)


def test_gaussian_kernel_is_scipys_by_hand():
    # sigma 1, radius 1: weights exp(-1/2), 1, exp(-1/2) over their sum
    e = np.exp(-0.5)
    np.testing.assert_allclose(gaussian_kernel(1.0, 1), [e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)])
