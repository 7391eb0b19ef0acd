"""Greedy region merging (output_stage.greedy_merge) against scikit-image's."""

import numpy as np
import pytest
from skimage import graph, segmentation

from napari_mmtseg.output_stage.greedy_merge import merge_greedily


def _case(seed):
    """Superpixels of a noisy image (one hub region around many small ones) and its edges."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 1, (60, 60))
    img[::7, ::7] += 8  # small spots in a wide background
    pieces = segmentation.felzenszwalb(img, scale=2, min_size=2) + 1
    return pieces, rng.uniform(0, 1, pieces.shape)


def _size_weighted(sizes):
    """A strength that depends on both regions (their sizes), as the product's does."""

    def strength(a, b, boundary):
        return boundary * np.sqrt(np.minimum(sizes[a], sizes[b]))

    return strength


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.4, np.inf])
def test_the_same_merges_in_the_same_order_as_scikit_image(seed, threshold):
    pieces, edges = _case(seed)
    sizes = np.bincount(pieces.ravel()).astype(float)

    rag = graph.rag_boundary(pieces, edges, connectivity=1)
    ours_sizes = sizes.copy()
    strength = _size_weighted(ours_sizes)
    theirs_log, ours_log = [], []
    for u, v, d in rag.edges(data=True):
        d["boundary"] = d["weight"]
        d["weight"] = float(strength(u, np.array([v]), np.array([d["weight"]]))[0])

    def weight(g, src, dst, nb):
        none = {"boundary": 0.0, "count": 0}
        a, b = g[src].get(nb, none), g[dst].get(nb, none)
        count = a["count"] + b["count"]
        mean = (a["count"] * a["boundary"] + b["count"] * b["boundary"]) / count
        w = float(_size_weighted(g.graph["sizes"])(dst, np.array([nb]), np.array([mean]))[0])
        return {"count": count, "boundary": mean, "weight": w}

    def merge(g, src, dst):
        theirs_log.append((src, dst, g[src][dst]["weight"]))
        g.graph["sizes"][dst] += g.graph["sizes"][src]

    rag.graph["sizes"] = sizes.copy()
    nodes = np.fromiter(rag.nodes, np.int64)
    pairs = [(u, v, d["count"], d["boundary"]) for u, v, d in rag.edges(data=True)]
    theirs = graph.merge_hierarchical(
        pieces, rag, threshold, False, True, merge_func=merge, weight_func=weight
    )

    def on_merge(src, dst, w):
        ours_log.append((src, dst, w))
        ours_sizes[dst] += ours_sizes[src]

    ours = merge_greedily(
        pieces,
        nodes,
        np.array([p[:2] for p in pairs]),
        np.array([p[2] for p in pairs]),
        np.array([p[3] for p in pairs]),
        threshold,
        strength,
        on_merge,
    )
    assert len(ours_log) > 20
    assert ours_log == theirs_log
    np.testing.assert_array_equal(ours, theirs)


def test_nothing_below_the_threshold_leaves_the_regions_numbered_by_node_order():
    pieces = np.repeat(np.array([[3, 1, 2]]), 4, axis=0)
    nodes = np.array([3, 1, 2])
    out = merge_greedily(
        pieces,
        nodes,
        np.array([[3, 1], [1, 2]]),
        np.array([4, 4]),
        np.array([1.0, 1.0]),
        0.5,
        lambda a, b, boundary: boundary,
        lambda *merge: None,
    )
    np.testing.assert_array_equal(out[0], [0, 1, 2])
