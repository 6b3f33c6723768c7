"""The Dask path computes what the single-machine path computes.

Block geometry, halos and label joining are checked by hand; the whole analysis of
the real demo (MINUSCA, CAR, October 2020) runs on a 2-worker LocalCluster and is
compared with the local executor, surface by surface and table by table; so does a
hand-made case with events and bases off the grid and admin units across blocks.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import layers as L
from geo.dask import Block, Blocks, DaskExecutor, DaskOptions, connect, halo_cells, sub_grid
from geo.dask.cluster import parse_scheduler
from geo.dask.labels import contacts, merge_labels
from geo.errors import ConfigError
from geo.params import load_params
from geo.pipeline import AnalysisInputs, analyze
from geo.traveltime import build_graph, nearest_source, reach_from
from geo.zones import label_zones

DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"
AS_OF = date(2020, 10, 31)


# --- by hand ----------------------------------------------------------------------

def test_blocks_cut_the_grid_and_windows_clip_at_its_edge():
    b = Blocks((10, 7), 4)
    assert b.chunks == ((4, 4, 2), (4, 3))
    assert b.nblocks == (3, 2)
    assert [(x.r0, x.r1, x.c0, x.c1) for x in b][:3] == [(0, 4, 0, 4), (0, 4, 4, 7), (4, 8, 0, 4)]
    w = b.window(b.block(1, 0), 3)
    assert (w.r0, w.r1, w.c0, w.c1) == (1, 10, 0, 7)
    assert {(x.i, x.j) for x in b.near(b.block(0, 0), 1)} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert {(x.i, x.j) for x in b.near(b.block(2, 0), 0)} == {(2, 0)}
    with pytest.raises(ConfigError, match="block size"):
        Blocks((10, 7), 0)


def test_sub_grid_shares_the_cells_of_the_grid():
    from affine import Affine
    from pyproj import CRS

    from geo.grid import Grid

    g = Grid(CRS.from_epsg(3857), Affine(1000, 0, 5000, 0, -1000, 9000), 7, 10)
    s = sub_grid(g, Block(0, 0, 2, 5, 3, 7))
    assert s.shape == (3, 4)
    x, y = s.cell_centres()
    gx, gy = g.cell_centres()
    assert np.array_equal(x, gx[3:7]) and np.array_equal(y, gy[2:5])


def test_halo_is_the_farthest_a_path_of_t_hours_can_go():
    # cheapest cell 0.25 h: 1 h moves at most 4 steps; one cell more against rounding
    assert halo_cells(1.0, 0.25) == 5
    assert halo_cells(0.0, 0.25) == 1
    with pytest.raises(ConfigError, match="cheapest cell"):
        halo_cells(1.0, 0.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), limit=st.floats(0.5, 6.0), block=st.integers(4, 12))
def test_reach_on_a_window_with_the_halo_equals_reach_on_the_whole_grid(seed, limit, block):
    rng = np.random.default_rng(seed)
    cost = rng.choice([0.1, 0.3, 1.0, np.inf], size=(30, 34), p=[0.2, 0.4, 0.3, 0.1])
    cg = build_graph(cost)
    src = int(rng.integers(cost.size))
    full = reach_from(cg, src, limit)
    blocks = Blocks(cost.shape, block)
    h = halo_cells(limit, float(cost[np.isfinite(cost)].min()))
    b = blocks.block(*blocks.block_of(*divmod(src, cost.shape[1])))
    w = blocks.window(b, h)
    wc = cost[w.slices()]
    ww = w.c1 - w.c0
    r, c = divmod(src, cost.shape[1])
    part = reach_from(build_graph(wc), (r - w.r0) * ww + (c - w.c0), limit)
    lr, lc = np.divmod(part.index, ww)
    assert np.array_equal((lr + w.r0) * cost.shape[1] + lc + w.c0, full.index)
    np.testing.assert_allclose(part.hours, full.hours, rtol=1e-6)
    # and the nearest-source time on the block, from the sources in the window
    t_full, _ = nearest_source(cg, [src], limit)
    t_win, _ = nearest_source(build_graph(wc), [(r - w.r0) * ww + (c - w.c0)], limit)
    sl = (slice(b.r0 - w.r0, b.r1 - w.r0), slice(b.c0 - w.c0, b.c1 - w.c0))
    np.testing.assert_allclose(t_win[sl], t_full[b.slices()], rtol=1e-6)


def test_contacts_across_a_block_edge_include_corners():
    strip = np.array([[5, 0, 0, 7],
                      [0, 9, 0, 0]])
    assert contacts(strip).tolist() == [[5, 9]]
    strip = np.array([[5, 5, 0, 7],
                      [0, 0, 8, 0]])
    assert sorted(map(tuple, contacts(strip).tolist())) == [(5, 8), (7, 8)]
    with pytest.raises(ValueError, match="2 rows"):
        contacts(np.zeros((3, 3)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(2, 9), min_cells=st.integers(1, 4))
def test_labels_joined_across_blocks_equal_labels_of_the_whole_mask(seed, size, min_cells):
    from geo.dask.tasks import label_block

    rng = np.random.default_rng(seed)
    mask = rng.random((17, 23)) < 0.45
    gap = np.where(mask, 70.0, 10.0)
    whole, n = label_zones(mask, min_cells=min_cells)
    blocks = Blocks(mask.shape, size)
    lab = np.zeros(mask.shape, dtype=np.int64)
    stats = []
    for b in blocks:
        lb, s = label_block(gap[b.slices()], b, mask.shape[1], 60.0, (b.i * 100 + b.j) * 10_000)
        lab[b.slices()] = lb
        stats.append(s)
    pairs = [contacts(lab[e - 1:e + 1, :]) for e in blocks.edges(0)[1:-1]]
    pairs += [contacts(lab[:, e - 1:e + 1].T) for e in blocks.edges(1)[1:-1]]
    pairs = np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)
    zones = merge_labels(pd.concat(stats, ignore_index=True), pairs, min_cells)
    assert len(zones) == n
    for k, z in enumerate(zones.itertuples(index=False), start=1):
        cells = np.isin(lab, z.ids)
        assert np.array_equal(cells, whole == k)
        rr, cc = np.nonzero(cells)
        assert (z.r0, z.r1, z.c0, z.c1) == (rr.min(), rr.max() + 1, cc.min(), cc.max() + 1)
        assert z.first == np.flatnonzero(cells.ravel())[0] and z.cells == cells.sum()


def test_scheduler_specs():
    assert parse_scheduler("local") == ("local", None)
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    for bad in ("locale", "local:0", "tcp://host", "10.0.0.5:8786"):
        with pytest.raises(ConfigError, match="--dask"):
            parse_scheduler(bad)


def test_cli_rejects_a_bad_scheduler(capsys):
    from cli.main import main

    assert main(["analyze", "--config", str(DEMO / "demo.toml"), "--dask", "nowhere", "--out", "unused"]) == 2
    assert "scheduler address" in capsys.readouterr().err


# --- the demo on a LocalCluster -----------------------------------------------------

def _demo_inputs() -> AnalysisInputs:
    towns = L.load_sites(DEMO / "towns_geonames.csv", kind="town")
    airports = L.load_sites(DEMO / "airports_ourairports.csv", kind="airport")
    return AnalysisInputs(
        bases=L.load_bases(DEMO / "bases_geopko_v2.1.csv", as_of=AS_OF),
        events=L.load_events(DEMO / "events_ged_v23.1.csv"),
        roads=L.load_roads(DEMO / "roads_trans_african_highway.geojson"),
        sites=pd.concat([towns, airports.to_crs(towns.crs)], ignore_index=True),
        admin=L.load_admin(DEMO / "admin1_naturalearth.geojson"),
        population_path=DEMO / "population_worldpop2020_density.tif", population_units="density",
    )


@pytest.fixture(scope="module")
def client():
    with connect("local:2") as c:
        yield c


def _assert_same(a, b):
    for name, x in a.surfaces.items():
        y = b.surfaces[name]
        assert y.dtype == x.dtype and y.shape == x.shape, name
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=name)
        np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=name)
    np.testing.assert_array_equal(a.inside, b.inside)
    np.testing.assert_array_equal(a.nearest_base, b.nearest_base)
    np.testing.assert_allclose(b.cost_h, a.cost_h, rtol=1e-6)
    # zones: the same table, the same polygons
    assert len(a.zones) == len(b.zones) > 0
    pd.testing.assert_frame_equal(a.zones.drop(columns="geometry"), b.zones.drop(columns="geometry"),
                                  check_exact=False, rtol=1e-6)
    for ga, gb in zip(a.zones.geometry, b.zones.geometry, strict=True):
        assert ga.symmetric_difference(gb).area < 1.0  # m², the cells are 1 km²
    pd.testing.assert_frame_equal(a.admin_table, b.admin_table, check_exact=False, rtol=1e-6)
    # the what-if model: the same terms, reach by reach
    assert a.coverage_model.ids == b.coverage_model.ids
    for ta, tb in zip(a.coverage_model.terms, b.coverage_model.terms, strict=True):
        np.testing.assert_array_equal(ta.reach.index, tb.reach.index)
        np.testing.assert_allclose(tb.reach.hours, ta.reach.hours, rtol=1e-6)
        assert ta.weight == tb.weight
    for key in ("grid", "layers", "gap", "zones", "population_total", "coverage_mean", "terms_left_out"):
        assert a.summary[key] == b.summary[key], key
    assert (a.summary["executor"], b.summary["executor"]) == ("local", "dask")


@pytest.mark.slow
def test_demo_on_dask_equals_the_single_machine_analysis(client):
    inputs = _demo_inputs()
    params = load_params(DEMO / "demo.toml")
    a = analyze(inputs, params, AS_OF, n_jobs=1)
    b = analyze(inputs, params, AS_OF, executor=DaskExecutor(client, DaskOptions(block_size=384)))
    info = b.summary["dask"]
    assert info["workers"] == 2 and info["blocks"] == [3, 5]
    # roads are corridors at 40 km/h: a 9 h quick-reaction force moves at most 360 cells
    assert info["halo_cells"]["reach_max"] == 361 and info["halo_cells"]["threat"] == 61
    _assert_same(a, b)


@pytest.mark.slow
def test_demo_on_dask_with_the_nearest_base_search_in_tiles(client):
    inputs = _demo_inputs()
    params = load_params(DEMO / "demo.toml", travel_time_cap_h=8.0, bandwidth_km=8.0)
    a = analyze(inputs, params, AS_OF, n_jobs=1)
    b = analyze(inputs, params, AS_OF,
                executor=DaskExecutor(client, DaskOptions(block_size=256, max_window_cells=1)))
    assert b.summary["dask"]["halo_cells"]["travel_time"] == 321
    _assert_same(a, b)


# --- a hand-made case: events and bases off the grid, admin units across blocks --------

def _off_grid_case():
    """Two admin units of 90 x 60 km side by side (cut by 16-cell blocks many times); three
    bases inside, one 500 km away; events: 7 inside and in the window, 2 inside but older
    than the look-back, 1 inside after the as-of date, 3 far off the grid."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    from geo.grid import equal_area_crs
    from geo.params import Params

    crs = equal_area_crs(20.0, 6.0)
    admin = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1],
                              "parent": [None, None]},
                             geometry=[box(-90_000, -30_000, 0, 30_000), box(0, -30_000, 90_000, 30_000)], crs=crs)
    pts = [("b1", 650, -60_000, 0), ("b2", 120, 5_000, 10_000), ("b3", 35, 70_000, -20_000),
           ("far", 650, 500_000, 500_000)]
    bases = gpd.GeoDataFrame({"base_id": [p[0] for p in pts], "name": [p[0] for p in pts],
                              "strength": [p[1] for p in pts], "unit_type": ["infantry"] * 4,
                              "mission": ["M"] * 4}, geometry=[Point(p[2], p[3]) for p in pts], crs=crs)
    inside = [(-80_000, 20_000), (-40_000, -25_000), (-1_000, 0), (1_000, 500), (30_000, 29_000),
              (60_000, 0), (85_000, -5_000)]
    when = ["2020-06-01"] * 7 + ["2010-01-01", "2011-05-05", "2021-03-01"] + ["2020-06-01"] * 3
    xy = inside + [(10_000, 10_000), (20_000, -10_000), (-50_000, 5_000)] + [(400_000, 0), (0, -600_000),
                                                                              (-900_000, 900_000)]
    events = gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(xy))], "date": pd.to_datetime(when),
                               "event_type": ["one_sided"] * len(xy), "fatalities": [2] * len(xy)},
                              geometry=[Point(*p) for p in xy], crs=crs)
    params = Params(resolution_m=1000, margin_km=5, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=3,
                    bandwidth_km=4, zone_threshold=1.0, zone_min_area_km2=1.0)
    return AnalysisInputs(bases=bases, events=events, admin=admin), params


@pytest.mark.slow
def test_off_grid_events_and_bases_count_the_same_on_both_executors(client):
    inputs, params = _off_grid_case()
    as_of = date(2020, 10, 31)
    a = analyze(inputs, params, as_of, n_jobs=1)
    b = analyze(inputs, params, as_of, executor=DaskExecutor(client, DaskOptions(block_size=16)))
    # by hand: 7 events are on the grid and in the look-back window; "far" is off the grid
    assert a.summary["layers"]["events_in_window"] == b.summary["layers"]["events_in_window"] == 7
    assert a.summary["layers"]["bases_outside_grid"] == b.summary["layers"]["bases_outside_grid"] == ["far"]
    assert b.summary["dask"]["blocks"] == [5, 12]  # 70 x 190 cells (60 + 90 + 2 x 5 km margins)
    assert len(b.events) == 7
    _assert_same(a, b)


def test_no_event_on_the_grid_is_an_error_on_both_executors(client):
    import geopandas as gpd

    from geo.errors import LayerError

    inputs, params = _off_grid_case()
    far = inputs.events.iloc[-3:]
    inputs.events = gpd.GeoDataFrame(far, crs=far.crs)
    for ex in (None, DaskExecutor(client, DaskOptions(block_size=16))):
        with pytest.raises(LayerError, match="none of the 3 events lies on the analysis grid"):
            analyze(inputs, params, date(2020, 10, 31), executor=ex)
