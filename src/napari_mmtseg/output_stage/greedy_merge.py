"""Greedy region merging: the weakest boundary first, every boundary of a merged region weighed
again in one vectorised call.

The order and bookkeeping are those of :func:`skimage.graph.merge_hierarchical` (a heap of
boundaries, ties broken by the two node ids, the merged region keeping the id of the second
node, every boundary of the merged region weighed again and the old ones invalidated). The
difference is the cost of a merge: scikit-image calls the weight function once per neighbour of
the merged region, in Python, so a region with thousands of neighbours (the background around
many small spots) makes every merge into it cost thousands of calls; here the strengths of all
its boundaries are one array operation. Plain NumPy; no Qt, no napari, no torch.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

__all__ = ["merge_greedily"]

#: boundaries weighed per call at the start (bounds the memory of the region terms)
_CHUNK = 1 << 14


def merge_greedily(
    labels: np.ndarray,
    nodes: np.ndarray,
    edges: np.ndarray,
    count: np.ndarray,
    boundary: np.ndarray,
    threshold: float,
    strengths: Callable[[object, np.ndarray, np.ndarray], np.ndarray],
    on_merge: Callable[[int, int, float], None],
) -> np.ndarray:
    """Merge adjacent regions, weakest boundary first, while the weakest is below ``threshold``.

    A merged boundary's mean is the length-weighted mean of its two parts (the mean of the
    edge map along it, as :func:`skimage.graph.rag_boundary` defines it).

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Region ids >= 0.
    nodes : ndarray of int, shape (N,)
        The ids of the graph's regions, in the order that numbers the output (the node order
        of :func:`skimage.graph.rag_boundary`).
    edges : ndarray of int, shape (E, 2)
        Adjacent pairs ``(n1, n2)``, each once, oriented as the graph lists them (the
        orientation breaks ties).
    count : ndarray of int, shape (E,)
        Each boundary's length (pixel count).
    boundary : ndarray of float, shape (E,)
        Each boundary's mean edge strength.
    threshold : float
        Regions merge while their boundary's strength is below this.
    strengths : callable
        ``strengths(a, b, boundary)``: the strengths of the boundaries between regions ``a``
        (an id, or ids) and ``b`` (ids, shape (k,)) whose mean edge strengths are
        ``boundary`` (shape (k,)); called with the regions' state as of the call.
    on_merge : callable
        ``on_merge(src, dst, strength)``: region ``src`` joins ``dst`` across a boundary of
        that strength; called before the merged region's boundaries are weighed (update the
        region's state there).

    Returns
    -------
    ndarray of int64, shape (H, W)
        Ids 0..R-1, numbered by the order of each union's surviving node in ``nodes``; ids of
        ``labels`` that are not nodes keep their value.
    """
    count = np.asarray(count, np.int64)
    boundary = np.asarray(boundary, np.float64)
    adj: dict[int, dict[int, list]] = {int(v): {} for v in nodes}
    heap = []
    chunks = [slice(i, i + _CHUNK) for i in range(0, len(edges), _CHUNK)]
    weights = [strengths(edges[c, 0], edges[c, 1], boundary[c]) for c in chunks]
    weights = np.concatenate(weights, dtype=np.float64) if weights else np.zeros(0)
    for (a, b), c, mean, w in zip(
        edges.tolist(), count.tolist(), boundary.tolist(), weights.tolist()
    ):
        item = [w, a, b, True]
        record = [c, mean, item]  # length, mean strength, heap item: one list for both ends
        adj[a][b] = record
        adj[b][a] = record
        heap.append(item)
    heapq.heapify(heap)
    merged: list[tuple[int, int]] = []
    n_edges = len(edges)  # one valid heap item each
    while heap and heap[0][0] < threshold:
        w, src, dst, valid = heapq.heappop(heap)
        if not valid:
            continue
        for record in adj[src].values():
            record[2][3] = False
        for record in adj[dst].values():
            record[2][3] = False
        on_merge(src, dst, w)
        merged.append((src, dst))
        n_edges -= len(adj[src]) + len(adj[dst]) - 1
        n_edges += _merge_nodes(adj, src, dst, strengths, heap)
        if len(heap) > 4 * n_edges + 1024:  # mostly stale items: drop them (same pop order)
            heap = [item for item in heap if item[3]]
            heapq.heapify(heap)
    return _relabel(labels, nodes, merged)


def _merge_nodes(adj, src, dst, strengths, heap):
    """``src``'s boundaries join ``dst``'s; every boundary of ``dst`` weighed again and pushed.

    Returns the number of ``dst``'s boundaries.
    """
    s_adj = adj.pop(src)
    d_adj = adj[dst]
    del d_adj[src]
    del s_adj[dst]
    nbrs = list(s_adj.keys() | d_adj.keys())
    if not nbrs:
        return 0
    none = (0, 0.0)
    cs, ms = np.array([s_adj.get(n, none)[:2] for n in nbrs], np.float64).reshape(-1, 2).T
    cd, md = np.array([d_adj.get(n, none)[:2] for n in nbrs], np.float64).reshape(-1, 2).T
    cs, cd = cs.astype(np.int64), cd.astype(np.int64)
    total = cs + cd
    mean = (cs * ms + cd * md) / total
    weights = np.asarray(strengths(dst, np.asarray(nbrs, np.int64), mean), np.float64)
    for n, c, m, w in zip(nbrs, total.tolist(), mean.tolist(), weights.tolist()):
        if n in s_adj:
            del adj[n][src]
        item = [w, dst, n, True]
        record = d_adj.get(n)
        if record is None:
            record = d_adj[n] = adj[n][dst] = [c, m, item]
        else:
            record[0], record[1], record[2] = c, m, item
        heapq.heappush(heap, item)
    return len(nbrs)


def _relabel(labels, nodes, merged):
    """Ids 0..R-1 by the order of each union's surviving node in ``nodes``."""
    nodes = np.asarray(nodes, np.int64)
    top = max(int(labels.max()), int(nodes.max()) if nodes.size else 0) + 1
    root = np.arange(top)
    for src, dst in reversed(merged):
        root[src] = root[dst]
    alive = root[nodes] == nodes
    position = np.zeros(top, np.int64)
    position[nodes[alive]] = np.arange(int(alive.sum()))
    label_map = np.arange(top)
    label_map[nodes] = position[root[nodes]]
    return label_map[labels]
