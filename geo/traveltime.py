"""Travel time over a friction surface, with SciPy's compiled Dijkstra.

The grid becomes a graph of 8-connected cells; moving between neighbours costs
the mean of their crossing times times the step length (1 or sqrt 2 cells), the
same rule as scikit-image's ``MCP_Geometric``. Only passable cells are nodes
(outside the area of interest nothing is), and each base is searched only up to
its maximum reach (``limit``), so the work is proportional to the area a base
can reach, not to the grid.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

__all__ = ["CellGraph", "build_graph", "graph_of", "Reach", "reach_from", "reach_many", "nearest_source", "nearest_sources",
           "NearestSources"]

_STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class CellGraph:
    """The passable cells of a grid as a directed CSR graph.

    ``cell_of_node[i]`` is the flat cell index of node ``i``; ``node_of_cell`` is
    the inverse (-1 for impassable cells).
    """

    graph: sp.csr_matrix
    cell_of_node: np.ndarray
    node_of_cell: np.ndarray
    shape: tuple[int, int]


def build_graph(cost_h: np.ndarray) -> CellGraph:
    """Directed 8-neighbour graph of a grid of cell crossing times (hours).

    Cells with infinite or NaN cost are not nodes. Built directly in CSR form:
    8 slots per node; slots without a passable neighbour hold a zero-cost
    self-loop, which Dijkstra never relaxes.
    """
    cost = np.asarray(cost_h, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be 2-D, got shape {cost.shape}")
    ok = np.isfinite(cost)
    if np.any(cost[ok] < 0):
        raise ValueError("cell crossing times must be >= 0")
    h, w = cost.shape
    if h * w >= 2**31:
        raise ValueError(f"grid of {h * w} cells is too large for 32-bit cell indices")
    cell_of_node = np.flatnonzero(ok).astype(np.int32)
    n = len(cell_of_node)
    node_of_cell = np.full(h * w, -1, dtype=np.int32)
    node_of_cell[cell_of_node] = np.arange(n, dtype=np.int32)
    pad_cost = np.full((h + 2, w + 2), np.inf)
    pad_cost[1:-1, 1:-1] = cost
    pad_node = np.full((h + 2, w + 2), -1, dtype=np.int32)
    pad_node[1:-1, 1:-1] = node_of_cell.reshape(h, w)
    rows, cols = np.divmod(cell_of_node, w)
    own = cost.ravel()[cell_of_node]
    self_node = np.arange(n, dtype=np.int32)
    nbr = np.empty((n, 8), dtype=np.int32)
    wt = np.empty((n, 8), dtype=np.float64)
    for k, (dr, dc) in enumerate(_STEPS):
        step = np.sqrt(2.0) if dr and dc else 1.0
        other_node = pad_node[rows + 1 + dr, cols + 1 + dc]
        valid = other_node >= 0
        other_cost = pad_cost[rows + 1 + dr, cols + 1 + dc]
        wt[:, k] = np.where(valid, (own + other_cost) * (0.5 * step), 0.0)
        nbr[:, k] = np.where(valid, other_node, self_node)
    indptr = np.arange(0, 8 * n + 1, 8, dtype=np.int64)
    g = sp.csr_matrix((wt.reshape(-1), nbr.reshape(-1), indptr), shape=(n, n))
    return CellGraph(g, cell_of_node, node_of_cell, (h, w))


_HELD_GRAPH: tuple[weakref.ref, CellGraph] | None = None


def graph_of(cost_h: np.ndarray) -> CellGraph:
    """:func:`build_graph` of ``cost_h``; for a read-only array (a monitor's cost surface,
    kept across dates) the last graph is kept while that array lives, so the travel times
    of a new map and the nearest-base-with-troops search do not build it again."""
    global _HELD_GRAPH
    held = _HELD_GRAPH
    if held is not None and held[0]() is cost_h:
        return held[1]
    graph = build_graph(cost_h)
    if isinstance(cost_h, np.ndarray) and not cost_h.flags.writeable:
        _HELD_GRAPH = (weakref.ref(cost_h, _forget_graph), graph)
    return graph


def _forget_graph(ref: weakref.ref) -> None:
    global _HELD_GRAPH
    if _HELD_GRAPH is not None and _HELD_GRAPH[0] is ref:
        _HELD_GRAPH = None


@dataclass(frozen=True)
class Reach:
    """Cells a source reaches within its limit: flat cell indices and hours."""

    index: np.ndarray  # int32 flat cell indices, unique
    hours: np.ndarray  # float32

    def dense(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.full(shape[0] * shape[1], np.inf, dtype=np.float32)
        out[self.index] = self.hours
        return out.reshape(shape)


def reach_from(cg: CellGraph, source_cell: int, limit_h: float) -> Reach:
    """Travel time from one source cell to every cell within ``limit_h`` hours.

    A source on an impassable cell reaches only its own cell.
    """
    node = int(cg.node_of_cell[int(source_cell)])
    if node < 0:
        return Reach(np.array([source_cell], dtype=np.int32), np.zeros(1, dtype=np.float32))
    d = dijkstra(cg.graph, directed=True, indices=node, limit=float(limit_h))
    sel = np.flatnonzero(np.isfinite(d))
    return Reach(cg.cell_of_node[sel], d[sel].astype(np.float32))


_GRAPH: CellGraph | None = None


def _worker(args: tuple[int, float]) -> Reach:
    if _GRAPH is None:  # pragma: no cover - set before the fork
        raise RuntimeError("worker started without a graph")
    return reach_from(_GRAPH, *args)


def reach_many(
    cg: CellGraph,
    sources: Sequence[int],
    limits_h: Sequence[float],
    *,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Reach]:
    """:func:`reach_from` for many source cells, on ``n_jobs`` forked processes.

    The graph is shared copy-on-write with the workers; results come back in
    the order of ``sources``.
    """
    global _GRAPH
    jobs = list(zip((int(s) for s in sources), (float(x) for x in limits_h), strict=True))
    n_jobs = n_jobs or min(os.cpu_count() or 1, 4)
    if n_jobs <= 1 or len(jobs) < 4 or "fork" not in mp.get_all_start_methods():
        out = []
        for i, j in enumerate(jobs):
            out.append(reach_from(cg, *j))
            if progress:
                progress(i + 1, len(jobs))
        return out
    _GRAPH = cg
    try:
        ctx = mp.get_context("fork")
        with ctx.Pool(n_jobs) as pool:
            out = []
            for i, r in enumerate(pool.imap(_worker, jobs, chunksize=1)):
                out.append(r)
                if progress:
                    progress(i + 1, len(jobs))
        return out
    finally:
        _GRAPH = None


def nearest_source(
    cg: CellGraph, sources: Sequence[int], limit_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Hours to the nearest source cell and which source (position in ``sources``, -1 if none).

    Sources on impassable cells reach only their own cell.
    """
    return nearest_sources(cg, sources, limit_h).on_grid(cg)


@dataclass(frozen=True)
class NearestSources:
    """The nearest of a set of sources for every node of a graph (:func:`nearest_sources`), kept
    so that the search can be redone without some of them (:meth:`without`)."""

    sources: np.ndarray  # int64 source cells, in the order given
    active: np.ndarray  # bool per source: still a source
    hours: np.ndarray  # float64 per node: hours to the nearest active source, inf beyond the limit
    which: np.ndarray  # int32 per node: position of that source in ``sources``, -1 none
    limit_h: float

    def on_grid(self, cg: CellGraph) -> tuple[np.ndarray, np.ndarray]:
        """``(hours, which)`` on the grid (float32 hours, inf where none; -1 where none); an active
        source on an impassable cell holds its own cell."""
        h, w = cg.shape
        t = np.full(h * w, np.inf, dtype=np.float32)
        which = np.full(h * w, -1, dtype=np.int32)
        t[cg.cell_of_node] = self.hours.astype(np.float32)
        which[cg.cell_of_node] = self.which
        nodes = cg.node_of_cell[self.sources] if len(self.sources) else np.zeros(0, dtype=np.int32)
        for p in np.flatnonzero((nodes < 0) & self.active):  # stranded sources hold their own cell
            if t[self.sources[p]] > 0:
                t[self.sources[p]] = 0.0
                which[self.sources[p]] = p
        return t.reshape(cg.shape), which.reshape(cg.shape)

    def without(self, cg: CellGraph, drop: Sequence[int]) -> NearestSources:
        """The same search with the sources at positions ``drop`` removed, redone only on the
        nodes whose nearest source was one of them. Such a node's new nearest path enters that
        region last from a node outside it, whose nearest source (and hours) did not change:
        those boundary nodes, at their hours, and any remaining source inside the region, at 0,
        seed a multi-source Dijkstra restricted to the region. Positions keep their meaning."""
        pos = np.unique(np.asarray(drop, dtype=np.int64))
        if len(pos) and (pos.min() < 0 or pos.max() >= len(self.sources)):
            raise ValueError(f"source positions {pos.tolist()} out of 0..{len(self.sources) - 1}")
        active = self.active.copy()
        active[pos] = False
        gone = np.zeros(len(self.sources) + 1, dtype=bool)  # index -1 (no source) -> last, False
        gone[pos] = True
        region = np.flatnonzero(gone[self.which])
        hours, which = self.hours.copy(), self.which.copy()
        if len(region) == 0:
            return NearestSources(self.sources, active, hours, which, self.limit_h)
        n = len(self.hours)
        if len(region) > n // 3:  # most of the graph: a new search is cheaper, and gives the same
            keep = np.flatnonzero(active)
            again = nearest_sources(cg, self.sources[keep], self.limit_h)
            which = (np.where(again.which >= 0, keep[np.clip(again.which, 0, None)], -1).astype(np.int32)
                     if len(keep) else again.which)
            return NearestSources(self.sources, active, again.hours, which, self.limit_h)
        local = np.full(n, -1, dtype=np.int64)
        local[region] = np.arange(len(region))
        rows = cg.graph[region].tocoo()  # edges out of the region (row = position in the region)
        nbr = rows.col
        outside = local[nbr] < 0
        within = ~outside & (nbr != region[rows.row])  # self-loops (no neighbour there) are no edges
        boundary = np.unique(nbr[outside])
        boundary = boundary[np.isfinite(hours[boundary])]
        into = cg.graph[boundary].tocoo()  # edges from the boundary into the region
        keep = local[into.col] >= 0
        nr, nb = len(region), len(boundary)
        # seeds: per remaining source one virtual node, linked to its boundary nodes (at their
        # hours) and, if it lies in the region, to its own node (at 0)
        src_nodes = cg.node_of_cell[self.sources] if len(self.sources) else np.zeros(0, dtype=np.int32)
        inside_src = np.flatnonzero(active & (src_nodes >= 0))
        inside_src = inside_src[local[src_nodes[inside_src]] >= 0]
        firsts: dict[int, int] = {}
        for p in inside_src[::-1]:  # the first position wins a shared cell, as in a full search
            firsts[int(src_nodes[p])] = int(p)
        seed_pos = np.concatenate([which[boundary], np.array(list(firsts.values()), dtype=np.int64)])
        seed_node = np.concatenate([nr + np.arange(nb), local[np.array(list(firsts.keys()), dtype=np.int64)]])
        seed_w = np.concatenate([hours[boundary], np.zeros(len(firsts))])
        vpos, vidx = np.unique(seed_pos, return_inverse=True)
        nv = len(vpos)
        r = np.concatenate([rows.row[within], nr + into.row[keep], nr + nb + vidx.ravel()])
        c = np.concatenate([local[nbr[within]], local[into.col[keep]], seed_node])
        wt = np.concatenate([rows.data[within], into.data[keep], seed_w])
        sub = sp.csr_matrix((wt, (r, c)), shape=(nr + nb + nv, nr + nb + nv))
        if nv:
            d, _, origin = dijkstra(sub, directed=True, indices=nr + nb + np.arange(nv), limit=float(self.limit_h),
                                    min_only=True, return_predecessors=True)
            d_r, o_r = d[:nr], origin[:nr]
            reached = np.isfinite(d_r) & (o_r >= 0)
            hours[region] = np.where(reached, d_r, np.inf)
            which[region] = np.where(reached, vpos[np.clip(o_r - nr - nb, 0, None)], -1).astype(np.int32)
        else:
            hours[region], which[region] = np.inf, -1
        return NearestSources(self.sources, active, hours, which, self.limit_h)


def nearest_sources(cg: CellGraph, sources: Sequence[int] | np.ndarray, limit_h: float) -> NearestSources:
    """Hours to the nearest of ``sources`` (cells) for every node, and which one, within
    ``limit_h`` hours (a multi-source Dijkstra); :meth:`NearestSources.on_grid` puts them on the grid."""
    src = np.asarray(sources, dtype=np.int64)
    n = len(cg.cell_of_node)
    hours = np.full(n, np.inf)
    which = np.full(n, -1, dtype=np.int32)
    nodes = cg.node_of_cell[src] if len(src) else np.zeros(0, dtype=np.int32)
    live = np.flatnonzero(nodes >= 0)
    if len(live):
        d, _, origin = dijkstra(
            cg.graph, directed=True, indices=nodes[live], limit=float(limit_h), min_only=True,
            return_predecessors=True,
        )
        # origin holds the node of the source that won; map back to the position in `sources`
        first_pos = {}
        for p in live[::-1]:
            first_pos[int(nodes[p])] = int(p)
        keys = np.array(sorted(first_pos), dtype=np.int64)
        vals = np.array([first_pos[k] for k in keys], dtype=np.int32)
        hit = origin >= 0
        hours = np.asarray(d, dtype=np.float64)
        which[hit] = vals[np.searchsorted(keys, origin[hit])]
    return NearestSources(src, np.ones(len(src), dtype=bool), hours, which, float(limit_h))
