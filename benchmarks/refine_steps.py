"""Training steps of a refinement against a fresh scribbled run.

On ``napari_mmtseg.samples.make_look_alike`` (three vertical bands, the
first two 0.48 and 0.52 grey under noise 0.04, scribbled 3, 7 and 9), for
each learned method and seed: the steps of a fresh run with all scribbles,
of a refinement that adds the third scribble to a run that had the first two
(``init_model``), and of a refinement of the method's own unsupervised run,
with the share of each band that ends with its scribble's id.

    python benchmarks/refine_steps.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from napari_mmtseg import LEARNED_METHODS, segment
from napari_mmtseg.samples import make_look_alike


def bands(lab) -> str:
    return "/".join(
        f"{(lab[:, a:b] == k).mean():.2f}" for a, b, k in ((0, 20, 3), (24, 42, 7), (46, 64, 9))
    )


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--seeds", default="0,1,2")
    args = a.parse_args(argv)
    torch.set_num_threads(1)
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
