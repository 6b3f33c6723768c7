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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

__all__ = ["CellGraph", "build_graph", "Reach", "reach_from", "reach_many", "nearest_source"]

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
    h, w = cg.shape
    t = np.full(h * w, np.inf, dtype=np.float32)
    which = np.full(h * w, -1, dtype=np.int32)
    src = np.asarray(sources, dtype=np.int64)
    if len(src) == 0:
        return t.reshape(cg.shape), which.reshape(cg.shape)
    nodes = cg.node_of_cell[src]
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
        t[cg.cell_of_node] = d.astype(np.float32)
        w_nodes = np.full(len(d), -1, dtype=np.int32)
        w_nodes[hit] = vals[np.searchsorted(keys, origin[hit])]
        which[cg.cell_of_node] = w_nodes
    for p in np.flatnonzero(nodes < 0):  # stranded sources hold their own cell
        if t[src[p]] > 0:
            t[src[p]] = 0.0
            which[src[p]] = p
    return t.reshape(cg.shape), which.reshape(cg.shape)
