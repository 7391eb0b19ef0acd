"""Time the hierarchy's greedy region merge against scikit-image's, on many-region inputs.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/region_merge.py

Superpixels (``skimage.segmentation.felzenszwalb`` at several scales) of a 300 x 300 crop of
scikit-image's ``hubble_deep_field`` (hundreds of small sources in a dark sky: one background
region with thousands of neighbours) are merged to one region, weakest boundary first, with a
strength that depends on both regions (their boundary's mean edge strength times the square
root of the smaller region's size), by ``skimage.graph.merge_hierarchical`` and by
``napari_mmtseg.output_stage.greedy_merge.merge_greedily``. Prints the superpixel count, both
times, their ratio, and whether the label maps are equal. Both in the same process, one
after the other.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from skimage import data, filters, graph, segmentation

from napari_mmtseg.output_stage.greedy_merge import merge_greedily


def _strength(sizes):
    def strength(a, b, boundary):
        return boundary * np.sqrt(np.minimum(sizes[a], sizes[b]))

    return strength


def _skimage(pieces, edges, sizes):
    rag = graph.rag_boundary(pieces, edges, connectivity=1)
    rule = _strength(sizes)
    for u, v, d in rag.edges(data=True):
        d["boundary"] = d["weight"]
        d["weight"] = float(rule(u, np.array([v]), np.array([d["weight"]]))[0])

    def weight(g, src, dst, nb):
        none = {"boundary": 0.0, "count": 0}
        a, b = g[src].get(nb, none), g[dst].get(nb, none)
        count = a["count"] + b["count"]
        mean = (a["count"] * a["boundary"] + b["count"] * b["boundary"]) / count
        return {"count": count, "boundary": mean, "weight": float(rule(dst, nb, mean))}

    def merge(g, src, dst):
        sizes[dst] += sizes[src]

    return graph.merge_hierarchical(pieces, rag, np.inf, False, True, merge, weight)


def _ours(pieces, edges, sizes):
    rag = graph.rag_boundary(pieces, edges, connectivity=1)
    nodes = np.fromiter(rag.nodes, np.int64)
    pairs = [(u, v, d["count"], d["weight"]) for u, v, d in rag.edges(data=True)]

    def merge(src, dst, w):
        sizes[dst] += sizes[src]

    return merge_greedily(
        pieces,
        nodes,
        np.array([p[:2] for p in pairs]),
        np.array([p[2] for p in pairs]),
        np.array([p[3] for p in pairs], float),
        np.inf,
        _strength(sizes),
        merge,
    )


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--scales", type=float, nargs="+", default=[100.0, 30.0, 10.0])
    a.add_argument("--side", type=int, default=300)
    args = a.parse_args(argv)
    img = data.hubble_deep_field()[: args.side, : args.side]
    edges = filters.sobel(img.mean(axis=-1) / 255.0)
    print("scale | superpixels | scikit-image s | ours s | ratio | equal")
    for scale in args.scales:
        pieces = segmentation.felzenszwalb(img, scale=scale, min_size=3, channel_axis=-1) + 1
        sizes = np.bincount(pieces.ravel()).astype(float)
        t = time.perf_counter()
        theirs = _skimage(pieces, edges, sizes.copy())
        t_theirs = time.perf_counter() - t
        t = time.perf_counter()
        ours = _ours(pieces, edges, sizes.copy())
        t_ours = time.perf_counter() - t
        equal = bool(np.array_equal(theirs, ours))
        n = int(pieces.max())
        print(
            f"{scale:g} | {n} | {t_theirs:.2f} | {t_ours:.2f} | {t_ours / t_theirs:.3f} | {equal}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
