"""Measure output-stage levers that read the trained networks' own response.

The output stage (``output_stage.finish_labels``) sees only the cluster map and
the image. These levers also use the final networks' softmax: for MMT the two
teachers' vote (the mean of their softmax maps after aligning their channels,
what the engine takes the argmax of), for Kim 2020 and Kanezaki 2018 their
one network's softmax. Three ways to use it, each with one threshold:

- ``region`` TAU: after the default stage, adjacent regions whose mean
  softmax vectors differ by less than TAU (total-variation distance, 0..1)
  merge, closest first (``skimage.graph.merge_hierarchical``): regions the
  networks barely tell apart become one.
- ``cluster`` TAU: before the stage, the clusters are grouped by
  average-linkage on the same distance between their mean softmax vectors
  (``scipy.cluster.hierarchy``, cut at TAU): hierarchical merging of
  clusters on the teachers' output.
- ``cores`` C: pixels whose largest class probability is below C are cleared
  and flooded again from the confident ones over the image's gradient
  (``skimage.segmentation.watershed``), then the default stage: a region
  needs a confident core.

Each (method, image, seed) is trained once with the output stage off and
``keep_model=True``; the softmax is recomputed from the kept networks (its
argmax is checked against the run's cluster map). BSDS500 scores as in
``output_stage.py``; one row per (method, variant).

    python benchmarks/network_merge.py --root ../shared/data/bsds500 --split train --n 15 \\
        --stride 12 --methods mmt,kim2020 --variant none:0 --variant region:0.5 \\
        --variant cluster:0.7 --variant cores:0.5
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from skimage import graph
from skimage.segmentation import watershed

from napari_mmtseg import make_params, segment
from napari_mmtseg.bench import datasets
from napari_mmtseg.features import edge_strength, image_features
from napari_mmtseg.image import prepare_image
from napari_mmtseg.infer import freeze_bn_to_image_stats
from napari_mmtseg.metrics import ari, score
from napari_mmtseg.output_stage import finish_labels
from napari_mmtseg.train import teachers_alignment, train_view

RAW = dict(output="clusters", min_region_size=1, merge_threshold=0.0, refine=False)
STAGE = dict(merge_threshold=3.0, refine=True, texture=None)  # the engine's default stage


@torch.no_grad()
def softmax_map(result, method: str, x: np.ndarray) -> np.ndarray:
    """(q, H, W) float32: the final networks' softmax on the full slice, as the
    engine computes it for its argmax (MMT: both teachers' mean)."""
    p = make_params(method, "fast", **RAW)
    student, teacher = result.model.networks(torch.device("cpu"))
    net = teacher if method == "mmt" else student
    xt = torch.from_numpy(train_view(x, p.train_size))[None]
    full = torch.from_numpy(np.ascontiguousarray(x))[None]
    if method == "mmt":
        other = teachers_alignment(net, xt, p.q)
        freeze_bn_to_image_stats(net, xt)
        y, perm = net(full)[0], torch.from_numpy(np.argsort(other))
        # the two teachers' vote: teacher 0's softmax plus teacher 1's, its channel perm[k]
        # being teacher 0's cluster k (what infer.frozen_labels takes the argmax of)
        prob = (y[0].softmax(0) + y[1][perm].softmax(0)) / 2
    else:
        freeze_bn_to_image_stats(net, xt)
        prob = net(full)[0, 0].softmax(0)
    return prob.numpy()


def _tv(u, v) -> float:
    return 0.5 * float(np.abs(u - v).sum())


def merge_regions_by_response(regions: np.ndarray, prob: np.ndarray, tau: float) -> np.ndarray:
    lab = regions.astype(np.int64)
    k = int(lab.max()) + 1
    n = np.bincount(lab.ravel(), minlength=k).astype(float)
    sums = np.stack([np.bincount(lab.ravel(), c.ravel(), minlength=k) for c in prob], 1)
    rag = graph.RAG(lab)
    for i in rag.nodes:
        rag.nodes[i].update(s=sums[i], n=n[i], labels=[i])

    def dist(g, a, b):
        return _tv(g.nodes[a]["s"] / g.nodes[a]["n"], g.nodes[b]["s"] / g.nodes[b]["n"])

    for a, b in rag.edges:
        rag.edges[a, b]["weight"] = dist(rag, a, b)

    def merge(g, src, dst):
        g.nodes[dst]["s"] = g.nodes[dst]["s"] + g.nodes[src]["s"]
        g.nodes[dst]["n"] += g.nodes[src]["n"]

    return graph.merge_hierarchical(
        lab,
        rag,
        tau,
        rag_copy=False,
        in_place_merge=True,
        merge_func=merge,
        weight_func=lambda g, src, dst, nb: {"weight": dist(g, dst, nb)},
    )


def group_clusters_by_response(clusters: np.ndarray, prob: np.ndarray, tau: float) -> np.ndarray:
    ids = np.unique(clusters)
    if len(ids) < 2:
        return clusters
    means = np.stack([prob[:, clusters == k].mean(1) for k in ids])
    groups = fcluster(linkage(pdist(means, _tv), "average"), tau, "distance")
    lut = np.zeros(int(clusters.max()) + 1, dtype=np.int64)
    lut[ids] = groups
    return lut[clusters]


def confident_cores(prob: np.ndarray, x: np.ndarray, colour: bool, c: float) -> np.ndarray:
    markers = np.where(prob.max(0) >= c, prob.argmax(0) + 1, 0)
    return watershed(edge_strength(image_features(x, colour=colour), 1.0), markers=markers)


def apply(kind: str, value: float, clusters, prob, x, colour):
    if kind == "cluster":
        clusters = group_clusters_by_response(clusters, prob, value)
    elif kind == "cores":
        clusters = confident_cores(prob, x, colour, value)
    lab, _ = finish_labels(clusters, x, colour=colour, **STAGE)
    if kind == "region":
        lab = merge_regions_by_response(lab, prob, value)
    return lab


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--root", required=True)
    a.add_argument("--split", default="train")
    a.add_argument("--n", type=int, default=15)
    a.add_argument("--stride", type=int, default=12)
    a.add_argument("--seeds", default="0,1,2")
    a.add_argument("--methods", default="mmt,kim2020")
    a.add_argument(
        "--variant",
        action="append",
        default=[],
        help="none:0, region:TAU, cluster:TAU or cores:C (repeatable)",
    )
    args = a.parse_args(argv)
    torch.set_num_threads(1)
    variants = [(k, float(v)) for k, v in (s.split(":") for s in (args.variant or ["none:0"]))]
    for kind, _ in variants:
        if kind not in ("none", "region", "cluster", "cores"):
            a.error(f"unknown variant {kind!r}")
    seeds = [int(s) for s in args.seeds.split(",")]
    ids = datasets.dataset_ids("bsds", args.root, args.split)[:: args.stride][: args.n]
    rows = defaultdict(list)
    maps = defaultdict(lambda: defaultdict(dict))
    for img_id in ids:
        sample = datasets.load_sample("bsds", args.root, args.split, img_id)
        prep = prepare_image(sample.image)
        x = prep.slice(0)
        for method, seed in itertools.product(args.methods.split(","), seeds):
            r = segment(
                sample.image,
                method=method,
                preset="fast",
                device="cpu",
                seed=seed,
                keep_model=True,
                **RAW,
            )
            prob = softmax_map(r, method, x)
            clusters = prob.argmax(0)
            pairs = np.unique(np.stack([clusters.ravel(), r.labels.ravel()]), axis=1).shape[1]
            if not pairs == len(np.unique(r.labels)) == len(np.unique(clusters)):  # one-to-one
                raise RuntimeError(
                    f"{img_id} {method} seed {seed}: "
                    "the recomputed softmax does not give the run's map"
                )
            for kind, value in variants:
                lab = apply(kind, value, clusters, prob, x, prep.rgb)
                sc = score(lab, sample.gts)
                rows[method, kind, value].append(
                    [
                        sc["accuracy_mean"],
                        sc["miou_mean"],
                        sc["pri_mean"],
                        sc["voi_mean"],
                        len(np.unique(lab)),
                    ]
                )
                maps[method, kind, value][img_id][seed] = lab
        print(f"{img_id} done", file=sys.stderr, flush=True)
    print(f"\n{len(ids)} {args.split} images, seeds {args.seeds}, fast preset, 1 thread\n")
    print("| method | variant | Acc | mIoU 1:1 | PRI | VoI | regions | ARI mean | ARI worst |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, rs in rows.items():
        mean = np.mean(rs, axis=0)
        aris = [
            np.mean([ari(d[i], d[j]) for i, j in itertools.combinations(sorted(d), 2)])
            for d in maps[key].values()
            if len(d) > 1
        ]
        stab = f"{np.mean(aris):.3f} | {np.min(aris):.2f}" if aris else "- | -"
        name = "default stage" if key[1] == "none" else f"{key[1]} {key[2]:g}"
        print(
            f"| {key[0]} | {name} | "
            + " | ".join(f"{v:.4f}" for v in mean[:4])
            + f" | {mean[4]:.1f} | {stab} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
