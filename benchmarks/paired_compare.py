"""Paired comparison of two methods in a benchmark folder's results.csv.

Per image, each method's score is its mean over seeds; the table gives the
mean difference A - B over images, a 95% bootstrap interval (resampling
images, 10,000 draws, fixed seed) and on how many images A is better. If a
stability.csv lies beside it, the same for the ARI between seeds (per image:
mean over seed pairs), plus how many images have a seed pair with ARI < 0.3.

    python benchmarks/paired_compare.py bench_results/bsds_val100_all/results.csv mmt kim2020

CSV may name several files, comma-separated (e.g. output_stage.py's --csv
and a bench folder's results.csv): their rows are read together.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

METRICS = [
    ("accuracy_mean", "Acc", 1),
    ("miou_mean", "mIoU 1:1", 1),
    ("miou_kim_mean", "mIoU Kim", 1),
    ("pri_mean", "PRI", 1),
    ("voi_mean", "VoI", -1),
]
#: on microscopy masks (columns present and filled): foreground IoU and object F1
MASK_METRICS = [("fg_iou", "fg IoU", 1), ("f1", "F1 @0.5", 1)]


def per_image(rows, method, setting=None, metrics=METRICS):
    acc = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["method"] == method and (setting is None or r["setting"] == setting):
            for key, _, _ in metrics:
                acc[r["image"]][key].append(float(r[key]))
    return {img: {k: float(np.mean(v)) for k, v in d.items()} for img, d in acc.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--setting-a", default=None)
    ap.add_argument("--setting-b", default=None)
    args = ap.parse_args(argv)
    rows = []
    for path in args.csv.split(","):  # several files: their rows together (stability: the first's)
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    metrics = [m for m in METRICS + MASK_METRICS if rows and rows[0].get(m[0]) not in (None, "")]
    A = per_image(rows, args.a, args.setting_a, metrics)
    B = per_image(rows, args.b, args.setting_b, metrics)
    images = sorted(set(A) & set(B))
    rng = np.random.default_rng(0)
    boot = rng.integers(0, len(images), size=(10_000, len(images)))
    print(f"{args.a} vs {args.b} on {len(images)} images (per-image mean over seeds)")
    print(f"| metric | {args.a} | {args.b} | difference | 95% interval | {args.a} better on |")
    print("|---|---|---|---|---|---|")
    for key, name, sign in metrics:
        a = np.array([A[i][key] for i in images])
        b = np.array([B[i][key] for i in images])
        d = a - b
        lo, hi = np.percentile(d[boot].mean(1), [2.5, 97.5])
        better = int((sign * d > 0).sum())
        print(
            f"| {name} | {a.mean():.4f} | {b.mean():.4f} | {d.mean():+.4f} | "
            f"[{lo:+.4f}, {hi:+.4f}] | "
            f"{better}/{len(images)} |"
        )
    stab = Path(args.csv.split(",")[0]).with_name("stability.csv")
    if stab.exists():
        ka, kb = (args.a, args.setting_a), (args.b, args.setting_b)
        ari = {ka: defaultdict(list), kb: defaultdict(list)}
        with open(stab, newline="") as f:
            for r in csv.DictReader(f):
                for k in (ka, kb):
                    if r["method"] == k[0] and k[1] in (None, r["setting"]):
                        ari[k][r["image"]].append(float(r["ari"]))
        ims = sorted(set(ari[ka]) & set(ari[kb]))
        if ims:
            a = np.array([np.mean(ari[ka][i]) for i in ims])
            b = np.array([np.mean(ari[kb][i]) for i in ims])
            d = a - b
            boot = rng.integers(0, len(ims), size=(10_000, len(ims)))
            lo, hi = np.percentile(d[boot].mean(1), [2.5, 97.5])
            wa = sum(min(ari[ka][i]) < 0.3 for i in ims)
            wb = sum(min(ari[kb][i]) < 0.3 for i in ims)
            print(
                f"| ARI between seeds | {a.mean():.4f} | {b.mean():.4f} | {d.mean():+.4f} | "
                f"[{lo:+.4f}, {hi:+.4f}] | {int((d > 0).sum())}/{len(ims)} |"
            )
            print(
                f"\nimages with a seed pair at ARI < 0.3: {args.a} {wa}/{len(ims)}, "
                f"{args.b} {wb}/{len(ims)}"
            )


if __name__ == "__main__":
    main()
