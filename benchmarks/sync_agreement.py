"""Do the GPU loop's settings keep the labels? Each against the CPU default, on BSDS500 photos.

Runs ``segment`` (preset ``fast`` unless ``--preset``, seed 0, one torch thread, CPU) on the
first ``--n`` BSDS500 val images, once per configuration: ``base`` (the CPU default: every
step read, the Hungarian assignment every step), ``seed1`` (the same with seed 1: how much
two equally good runs differ, the yardstick), ``sync5`` / ``sync10`` / ``sync20``
(``sync_every``), ``bf16`` (bfloat16 autocast) and ``fused`` (both students in one grouped
network; its weights are drawn in another order, so it is a different run like ``seed1``).
For each: the adjusted Rand index (ARI) of its label map against ``base``'s, whether the two
are pixel-identical, the steps trained, the mean accuracy over the annotators and PRI.

    PYTHONPATH=src python benchmarks/sync_agreement.py --root ../shared/data/bsds500 --n 6
    PYTHONPATH=src python benchmarks/sync_agreement.py --root ../shared/data/bsds500 --n 4 \
        --preset paper --over train_size=128,max_iter=200 --configs base,seed1,sync10

``--over`` takes integer overrides only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

CONFIGS = {
    "base": {},
    "seed1": {"seed": 1},
    "sync5": {"sync_every": 5},
    "sync10": {"sync_every": 10},
    "sync20": {"sync_every": 20},
    "bf16": {"bf16": True},
    "fused": {"fused": True},
}


def run_one(image, method, preset, config, over=None):
    """Segment one image with one configuration; labels, steps, seconds."""
    from napari_mmtseg import segment

    kw = {**(over or {}), **CONFIGS[config]}
    seed = kw.pop("seed", 0)
    t = time.perf_counter()
    res = segment(image, method=method, preset=preset, seed=seed, device="cpu", **kw)
    return np.asarray(res.labels), len(res.history), time.perf_counter() - t


def main(argv=None) -> int:
    """Run every configuration on every image and print the per-config summary table."""
    import torch
    from sklearn.metrics import adjusted_rand_score

    from napari_mmtseg.bench.datasets import bsds_ids, load_bsds_sample
    from napari_mmtseg.metrics.partition import accuracy, pri

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/bsds500")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--method", default="mmt")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument(
        "--over", default="", help="overrides of every run, e.g. train_size=128,max_iter=200"
    )
    a = ap.parse_args(argv)
    over = {k: int(v) for k, v in (kv.split("=") for kv in a.over.split(",") if kv)}
    torch.set_num_threads(1)
    configs = a.configs.split(",")
    rows = {c: [] for c in configs}
    for image_id in bsds_ids(a.root, "val")[: a.n]:
        s = load_bsds_sample(a.root, "val", image_id)
        base = None
        for c in ["base"] + [c for c in configs if c != "base"]:
            lab, steps, secs = run_one(s.image, a.method, a.preset, c, over)
            base = lab if c == "base" else base
            row = dict(
                ari=adjusted_rand_score(base.ravel(), lab.ravel()),
                same=bool(np.array_equal(base, lab)),
                steps=steps,
                acc=float(np.mean([accuracy(g, lab) for g in s.gts])),
                pri=pri(lab, s.gts),
                s=secs,
            )
            if c in rows:
                rows[c].append(row)
            print(image_id, c, {k: round(v, 4) for k, v in row.items()}, flush=True)
    n = len(rows[configs[0]])
    print(
        f"\n{a.method}, preset {a.preset} {over or ''}, {n} BSDS500 val images, seed 0, "
        "1 thread, CPU\n"
    )
    print("| config | ARI vs base: median (min) | identical | steps: median | Acc | PRI | s |")
    print("|---|---|---|---|---|---|---|")
    for c in configs:
        r = rows[c]
        aris = [x["ari"] for x in r]
        print(
            f"| {c} | {statistics.median(aris):.3f} ({min(aris):.3f}) "
            f"| {sum(x['same'] for x in r)}/{len(r)} "
            f"| {statistics.median(x['steps'] for x in r):.0f} "
            f"| {np.mean([x['acc'] for x in r]):.3f} | {np.mean([x['pri'] for x in r]):.3f} "
            f"| {np.mean([x['s'] for x in r]):.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
