"""Travel time over a friction surface, with SciPy's compiled Dijkstra.

The grid becomes a graph of 8-connected cells; moving between neighbours costs
the mean of their crossing times times the step length (1 or sqrt 2 cells), the
same rule as scikit-image's ``MCP_Geometric``. Each base is searched only up to
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

__all__ = ["build_graph", "Reach", "reach_from", "reach_many", "nearest_source"]

_STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def build_graph(cost_h: np.ndarray) -> sp.csr_matrix:
    """Directed 8-neighbour graph of a grid of cell crossing times (hours).

    Cells with infinite or NaN cost have no edges in or out. Built directly in
    CSR form: 8 slots per cell, unused slots are zero-cost self-loops, which
    Dijkstra never relaxes.
    """
    cost = np.asarray(cost_h, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be 2-D, got shape {cost.shape}")
    if np.any(cost[np.isfinite(cost)] < 0):
        raise ValueError("cell crossing times must be >= 0")
    h, w = cost.shape
    n = h * w
    ok = np.isfinite(cost)
    idx = np.arange(n, dtype=np.int64).reshape(h, w)
    nbr = np.empty((h, w, 8), dtype=np.int32)
    wt = np.empty((h, w, 8), dtype=np.float64)
    for k, (dr, dc) in enumerate(_STEPS):
        step = np.sqrt(2.0) if dr and dc else 1.0
        tgt = np.full((h, w), -1, dtype=np.int64)
        rs, re_ = max(0, -dr), h - max(0, dr)
        cs, ce = max(0, -dc), w - max(0, dc)
        tgt[rs:re_, cs:ce] = idx[rs + dr:re_ + dr, cs + dc:ce + dc]
        valid = tgt >= 0
        valid[valid] &= ok.ravel()[tgt[valid]]
        valid &= ok
        tc = np.zeros((h, w))
        tc[rs:re_, cs:ce] = cost[rs + dr:re_ + dr, cs + dc:ce + dc]
        with np.errstate(invalid="ignore"):
            edge = (cost + tc) * 0.5 * step
        nbr[:, :, k] = np.where(valid, tgt, idx)
        wt[:, :, k] = np.where(valid, edge, 0.0)
    # self-loop weights are 0 but stored explicitly; csgraph treats stored
    # entries as edges, and a 0-cost self-loop never improves a distance.
    indptr = np.arange(0, 8 * n + 1, 8, dtype=np.int64)
    g = sp.csr_matrix((wt.reshape(-1), nbr.reshape(-1), indptr), shape=(n, n))
    return g


@dataclass(frozen=True)
class Reach:
    """Cells a source reaches within its limit: flat indices and hours."""

    index: np.ndarray  # int32 flat cell indices
    hours: np.ndarray  # float32

    def dense(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.full(shape[0] * shape[1], np.inf, dtype=np.float32)
        out[self.index] = self.hours
        return out.reshape(shape)


def reach_from(graph: sp.csr_matrix, source: int, limit_h: float) -> Reach:
    """Travel time from one source cell to every cell within ``limit_h`` hours."""
    d = dijkstra(graph, directed=True, indices=int(source), limit=float(limit_h))
    sel = np.flatnonzero(np.isfinite(d))
    return Reach(sel.astype(np.int32), d[sel].astype(np.float32))


_GRAPH: sp.csr_matrix | None = None


def _worker(args: tuple[int, float]) -> Reach:
    assert _GRAPH is not None  # set before fork; internal invariant, not input checking
    return reach_from(_GRAPH, *args)


def reach_many(
    graph: sp.csr_matrix,
    sources: Sequence[int],
    limits_h: Sequence[float],
    *,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Reach]:
    """:func:`reach_from` for many sources, on ``n_jobs`` processes (fork)."""
    global _GRAPH
    jobs = list(zip((int(s) for s in sources), (float(x) for x in limits_h), strict=True))
    n_jobs = n_jobs or min(os.cpu_count() or 1, 4)
    if n_jobs <= 1 or len(jobs) < 4 or "fork" not in mp.get_all_start_methods():
        out = []
        for i, j in enumerate(jobs):
            out.append(reach_from(graph, *j))
            if progress:
                progress(i + 1, len(jobs))
        return out
    _GRAPH = graph
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
    graph: sp.csr_matrix, sources: Sequence[int], limit_h: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Hours to the nearest source and which source (position in ``sources``, -1 if none)."""
    if len(sources) == 0:
        return np.full(shape, np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int32)
    src = np.asarray(sources, dtype=np.int64)
    d, _, origin = dijkstra(
        graph, directed=True, indices=src, limit=float(limit_h), min_only=True, return_predecessors=True
    )
    pos = {int(s): i for i, s in reversed(list(enumerate(src)))}
    lut_keys = np.array(sorted(pos), dtype=np.int64)
    lut_vals = np.array([pos[k] for k in lut_keys], dtype=np.int32)
    which = np.full(origin.shape, -1, dtype=np.int32)
    hit = origin >= 0
    which[hit] = lut_vals[np.searchsorted(lut_keys, origin[hit])]
    return d.astype(np.float32).reshape(shape), which.reshape(shape)
