"""Training steps of a refinement against a fresh scribbled run.

On ``napari_mmtseg.samples.make_look_alike`` (three vertical bands, the
first two 0.48 and 0.52 grey under noise 0.04, scribbled 3, 7 and 9), for
each learned method and seed: the steps of a fresh run with all scribbles,
of a refinement that adds the third scribble to a run that had the first two
(``init_model``), and of a refinement of the method's own unsupervised run,
with the share of each band that ends with its scribble's id.

    python benchmarks/refine_steps.py --seeds 0,1,2

``--ratio N``: instead, the speed of a refine after one stroke against a fresh run
(issue 23: at most 1/3), on scikit-image's coins (default MMT, regions output): N
rounds of a fresh run then a refine that paints one fragment beside a coin (up to
120 px) with the coin's id, timed in turn so that the machine's load falls on both;
prints each pair and the median ratio.

    python benchmarks/refine_steps.py --ratio 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from napari_mmtseg import LEARNED_METHODS, segment
from napari_mmtseg.refine import refine
from napari_mmtseg.samples import make_look_alike


def coins_stroke(labels) -> np.ndarray:
    """Up to 120 px of a small region beside a coin, painted with the coin's id."""
    from scipy import ndimage as ndi

    ids, n = np.unique(labels, return_counts=True)
    coins = ids[(n >= 800) & (n < n.max())]
    for rid in ids[(n >= 40) & (n < 300)]:
        m = labels == rid
        ring = labels[ndi.binary_dilation(m) & ~m]
        coin = np.bincount(ring).argmax()
        if coin in coins:
            strokes = np.zeros(labels.shape, np.int64)
            ys, xs = np.nonzero(m)
            strokes[ys[:120], xs[:120]] = coin
            return strokes
    raise SystemExit("no fragment beside a coin")


def ratio(rounds: int) -> int:
    """Time ``rounds`` pairs (fresh run, refine after one stroke) on coins; print the ratio."""
    from skimage.data import coins

    img = coins()
    segment(img, device="cpu", max_iter=5)  # imports and first-call costs out of the timing
    pairs = []
    for k in range(rounds):
        t = time.perf_counter()
        run = segment(img, device="cpu", keep_model=True)
        fresh = time.perf_counter() - t
        strokes = coins_stroke(run.labels.astype(np.int64))
        t = time.perf_counter()
        ref = refine(img, run.labels, strokes, run.model, device="cpu")
        spent = time.perf_counter() - t
        pairs.append(spent / fresh)
        print(
            f"round {k}: fresh {fresh:.2f} s ({len(run.history)} steps), refine {spent:.2f} s "
            f"({len(ref.history)} steps), ratio {spent / fresh:.2f}",
            flush=True,
        )
    print(f"median ratio refine / fresh run: {statistics.median(pairs):.2f}")
    return 0


def bands(lab) -> str:
    return "/".join(
        f"{(lab[:, a:b] == k).mean():.2f}" for a, b, k in ((0, 20, 3), (24, 42, 7), (46, 64, 9))
    )


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--seeds", default="0,1,2")
    a.add_argument("--ratio", type=int, default=0, help="rounds of the speed ratio (0: off)")
    args = a.parse_args(argv)
    torch.set_num_threads(1)
    if args.ratio:
        return ratio(args.ratio)
    img, s = make_look_alike()
    kw = dict(preset="fast", device="cpu")
    print(
        "| method | seed | fresh steps | refine (+1 scribble) steps "
        "| refine (own unsupervised run) steps | bands right: fresh, +1, unsupervised |"
    )
    print("|---|---|---|---|---|---|")
    for m in LEARNED_METHODS:
        for seed in (int(v) for v in args.seeds.split(",")):
            fresh = segment(img, method=m, seed=seed, scribbles=s, **kw)
            part = segment(
                img, method=m, seed=seed, scribbles=np.where(s == 9, 0, s), keep_model=True, **kw
            )
            plus = segment(img, method=m, seed=seed, scribbles=s, init_model=part.model, **kw)
            unsup = segment(img, method=m, seed=seed, keep_model=True, **kw)
            again = segment(img, method=m, seed=seed, scribbles=s, init_model=unsup.model, **kw)
            print(
                f"| {m} | {seed} | {len(fresh.history)} | {len(plus.history)} "
                f"| {len(again.history)} | {bands(fresh.labels)}, {bands(plus.labels)}, "
                f"{bands(again.labels)} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
