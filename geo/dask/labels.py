"""Join zone labels found block by block into the grid's connected zones. Pure; no Dask.

Each block is labelled on its own (:func:`geo.zones.label_zones`, 8-connected); two
block labels belong to one zone when a cell of one touches a cell of the other
across a block edge (through an edge or a corner). The rows on either side of every
block edge are enough to find those contacts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["contacts", "merge_labels"]


def contacts(strip: np.ndarray) -> np.ndarray:
    """Pairs (a, b) of labels > 0 touching across the middle of a 2-row ``strip``
    (row 0 on one side of a block edge, row 1 on the other), including diagonals."""
    s = np.asarray(strip)
    if s.ndim != 2 or s.shape[0] != 2:
        raise ValueError(f"a contact strip has 2 rows, got shape {s.shape}")
    a, b = s[0], s[1]
    n = len(a)
    out = []
    for d in (-1, 0, 1):
        lo, hi = max(0, -d), n - max(0, d)
        x, y = a[lo:hi], b[lo + d:hi + d]
        m = (x > 0) & (y > 0)
        out.append(np.column_stack([x[m], y[m]]))
    pairs = np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2).astype(np.int64)


def merge_labels(stats: pd.DataFrame, pairs: np.ndarray, min_cells: int = 1) -> pd.DataFrame:
    """Zones from block labels.

    ``stats`` has one row per block label: ``id`` (unique over the grid), ``cells``,
    ``first`` (grid flat index of its first cell in row-major order) and its box
    ``r0, r1, c0, c1``. ``pairs`` lists labels that touch. Returns one row per zone
    of at least ``min_cells`` cells, ordered by first cell (the order
    :func:`~geo.zones.label_zones` numbers zones in), with ``ids`` (array of block
    labels), ``cells``, ``first`` and the zone's box.
    """
    cols = ["ids", "cells", "first", "r0", "r1", "c0", "c1"]
    if len(stats) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "ids" else "int64") for c in cols})
    st = stats.sort_values("id").reset_index(drop=True)
    ids = st["id"].to_numpy(np.int64)
    n = len(ids)
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    i = np.searchsorted(ids, p[:, 0])
    j = np.searchsorted(ids, p[:, 1])
    if len(p) and (np.any(i >= n) or np.any(j >= n) or np.any(ids[np.minimum(i, n - 1)] != p[:, 0])
                   or np.any(ids[np.minimum(j, n - 1)] != p[:, 1])):
        raise ValueError("a contact names a label that no block reported")
    g = sp.csr_matrix((np.ones(len(p)), (i, j)), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    st["zone"] = comp
    agg = st.groupby("zone").agg(cells=("cells", "sum"), first=("first", "min"), r0=("r0", "min"),
                                 r1=("r1", "max"), c0=("c0", "min"), c1=("c1", "max"))
    members = st.groupby("zone")["id"].apply(lambda s: np.sort(s.to_numpy(np.int64)))
    agg["ids"] = members
    agg = agg[agg["cells"] >= int(min_cells)].sort_values("first").reset_index(drop=True)
    return agg[cols]
