"""Travel time: hand-computed 5x5 cases, and cross-checks against networkx and scikit-image."""

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.graph import MCP_Geometric

from geo.friction import hours_per_cell
from geo.traveltime import build_graph, nearest_source, nearest_sources, reach_from, reach_many

R2 = math.sqrt(2)


def test_uniform_5x5_from_centre_by_hand():
    # 1 h per cell: orthogonal step 1 h, diagonal sqrt(2) h; corners are two diagonals
    g = build_graph(np.ones((5, 5)))
    t = reach_from(g, 12, 100).dense((5, 5))
    assert t[2, 2] == 0
    assert t[2, 3] == pytest.approx(1)
    assert t[1, 1] == pytest.approx(R2)
    assert t[0, 0] == pytest.approx(2 * R2)
    assert t[0, 1] == pytest.approx(1 + R2)  # one diagonal, one straight
    assert t[0, 2] == pytest.approx(2)


def test_road_row_is_fast_by_hand():
    # row 0 is a road at 0.1 h/cell, the rest 1 h/cell; from (0,0) to (0,4) along the road:
    # 4 steps * (0.1 + 0.1)/2 = 0.4 h; to (1,4): road to (0,4) then down: 0.4 + (0.1+1)/2 = 0.95
    cost = np.ones((5, 5))
    cost[0, :] = 0.1
    t = reach_from(build_graph(cost), 0, 100).dense((5, 5))
    assert t[0, 4] == pytest.approx(0.4)
    # diagonal from (0,3) to (1,4): 0.3 + sqrt2*(0.1+1)/2 = 1.0778 > 0.95
    assert t[1, 4] == pytest.approx(0.95)


def test_impassable_wall_with_gap_by_hand():
    cost = np.ones((5, 5))
    cost[2, :] = np.inf
    cost[2, 4] = 1.0  # the only gap, at the east end
    t = reach_from(build_graph(cost), 0, 100).dense((5, 5))
    assert np.isinf(t[2, 0])
    # (0,0) diag to (1,1) sqrt2, east to (1,3) 2, diag through the gap to (2,4) sqrt2, down to (3,4) 1
    assert t[3, 4] == pytest.approx(3 + 2 * R2)
    assert np.isinf(t[2, 3])


def test_limit_bounds_the_search():
    g = build_graph(np.ones((5, 5)))
    r = reach_from(g, 12, 1.0)
    assert set(r.index.tolist()) == {7, 11, 12, 13, 17}
    assert r.hours.max() <= 1.0


def test_speeds_to_hours():
    h = hours_per_cell(np.array([10.0, 0.0, 50.0]), 1.0)
    assert h[0] == pytest.approx(0.1) and np.isinf(h[1]) and h[2] == pytest.approx(0.02)


def _nx_times(cost: np.ndarray, src: tuple[int, int]) -> np.ndarray:
    h, w = cost.shape
    G = nx.DiGraph()
    for r in range(h):
        for c in range(w):
            if not np.isfinite(cost[r, c]):
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < h and 0 <= cc < w and np.isfinite(cost[rr, cc]):
                        G.add_edge((r, c), (rr, cc), weight=(cost[r, c] + cost[rr, cc]) / 2 * math.hypot(dr, dc))
    out = np.full(cost.shape, np.inf)
    if src in G:
        for node, d in nx.single_source_dijkstra_path_length(G, src).items():
            out[node] = d
    else:
        out[src] = 0.0
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_matches_networkx_dijkstra_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(2, 12, size=2)
    cost = rng.uniform(0.05, 2.0, size=(h, w))
    cost[rng.random((h, w)) < 0.15] = np.inf
    sr, sc = int(rng.integers(h)), int(rng.integers(w))
    cost[sr, sc] = 1.0
    ours = reach_from(build_graph(cost), sr * w + sc, 1e9).dense((h, w))
    np.testing.assert_allclose(ours, _nx_times(cost, (sr, sc)), rtol=1e-5)


def test_matches_scikit_image_mcp_geometric():
    rng = np.random.default_rng(7)
    cost = rng.uniform(0.1, 1.0, size=(40, 50))
    ours = reach_from(build_graph(cost), 20 * 50 + 25, 1e9).dense(cost.shape)
    mcp, _ = MCP_Geometric(cost, fully_connected=True).find_costs([(20, 25)])
    np.testing.assert_allclose(ours, mcp, rtol=1e-5)


def test_reach_many_parallel_equals_serial():
    rng = np.random.default_rng(3)
    cost = rng.uniform(0.1, 1.0, size=(30, 30))
    g = build_graph(cost)
    srcs, lims = [0, 100, 455, 899, 300], [3.0, 5.0, 2.0, 4.0, 6.0]
    par = reach_many(g, srcs, lims, n_jobs=2)
    ser = reach_many(g, srcs, lims, n_jobs=1)
    for a, b in zip(par, ser, strict=True):
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.hours, b.hours)


def test_nearest_source_picks_the_closer_base():
    g = build_graph(np.ones((1, 7)))
    t, which = nearest_source(g, [0, 6], 100)
    np.testing.assert_allclose(t[0], [0, 1, 2, 3, 2, 1, 0])
    assert which[0, 1] == 0 and which[0, 5] == 1


def test_source_on_impassable_cell_holds_only_its_cell():
    cost = np.ones((3, 3))
    cost[1, 1] = np.inf
    g = build_graph(cost)
    r = reach_from(g, 4, 10)
    assert r.index.tolist() == [4] and r.hours.tolist() == [0.0]
    t, which = nearest_source(g, [4, 0], 10)
    assert t[1, 1] == 0 and which[1, 1] == 0 and which[2, 2] == 1 and t[2, 2] == pytest.approx(2 + R2)  # around the centre


def test_bad_cost_rejected():
    with pytest.raises(ValueError, match="must be 2-D"):
        build_graph(np.ones(5))
    with pytest.raises(ValueError, match=">= 0"):
        build_graph(-np.ones((2, 2)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_without_some_sources_equals_a_new_search_without_them(seed):
    """Dropping sources redoes the search only where a dropped source was the nearest (or, past a
    third of the graph, anew): the hours and the winning source are those of a search over the
    remaining sources alone, bit for bit."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0.05, 1.0, (40, 50))
    cost[rng.random(cost.shape) < 0.1] = np.inf  # impassable cells
    g = build_graph(cost)
    cells = rng.choice(cost.size, 9, replace=False).tolist()
    cells.append(cells[0])  # two sources on one cell: the first position wins it
    cells.append(int(np.flatnonzero(np.isinf(cost.ravel()))[0]))  # a source on an impassable cell
    full = nearest_sources(g, cells, 6.0)
    np.testing.assert_array_equal(full.on_grid(g)[0], nearest_source(g, cells, 6.0)[0])
    for drop in ([0], [3], [0, 9], [1, 2, 4], [10], list(range(8)), list(range(11)), []):
        keep = [i for i in range(len(cells)) if i not in drop]
        t, which = full.without(g, drop).on_grid(g)
        t_ref, which_ref = nearest_source(g, [cells[i] for i in keep], 6.0)
        np.testing.assert_array_equal(t, t_ref)
        np.testing.assert_array_equal(which, np.where(which_ref >= 0, np.array(keep + [-1])[which_ref], -1))
    # dropping in two goes is dropping at once
    a, b = full.without(g, [1]).without(g, [2, 5]), full.without(g, [1, 2, 5])
    np.testing.assert_array_equal(a.hours, b.hours)
    np.testing.assert_array_equal(a.which, b.which)


def test_nearest_without_rejects_unknown_positions():
    g = build_graph(np.ones((3, 3)))
    with pytest.raises(ValueError, match="out of 0..1"):
        nearest_sources(g, [0, 8], 10).without(g, [2])


def test_the_graph_of_a_read_only_cost_surface_is_kept_while_it_lives():
    import gc
    import weakref

    from geo.traveltime import build_graph, graph_of

    cost = np.ones((4, 5))
    assert graph_of(cost) is not graph_of(cost)  # writeable: it may change, built each time
    cost.setflags(write=False)
    first = graph_of(cost)
    assert graph_of(cost) is first
    # the same graph as a fresh build: 20 nodes, 8 slots each
    fresh = build_graph(cost)
    assert (first.graph != fresh.graph).nnz == 0 and first.graph.shape == (20, 20)
    kept = weakref.ref(first)
    del cost, first
    gc.collect()
    assert kept() is None  # released with its cost surface: nothing else holds it
