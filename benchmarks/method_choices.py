"""Measure the choices the paper leaves open (docs/method.md) on BSDS500.

    python benchmarks/method_choices.py --root ../shared/data/bsds500 --split train \
        --limit 12 --seeds 0,1 --preset fast --jobs 2 --out bench_results/choices.csv

Each variant is the preset plus the overrides listed in VARIANTS; every run is
scored with napari_mmtseg.metrics.score against all human annotations. Runs are
spread over --jobs processes of one torch thread each; the CSV resumes.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

VARIANTS = {
    "base": {},
    "n_conv=2": {"n_conv": 2},
    "beta=0.3": {"beta": 0.3},
    "beta=3": {"beta": 3.0},
    "no_ema_warmup": {"ema_warmup": False},
    "noise=0.05": {"noise": 0.05},
    "soft=0.5": {"soft_weight": 0.5},
    "final=student": {"final_net": "student"},
    "padding=reflect": {"padding": "reflect"},
    "no_tol": {"tol": 0.0},
    "padding=zeros": {"padding": "zeros"},
    "q=24+train_size=128": {"q": 24, "train_size": 128},
    "train_size=128": {"train_size": 128},
    "bf16": {"bf16": True},
    "train_size=160": {"train_size": 160},
    "q=24": {"q": 24},
    "n_conv=3": {"n_conv": 3},
    "max_iter=150": {"max_iter": 150},
}
COLS = [
    "accuracy_mean",
    "miou_mean",
    "miou_kim_mean",
    "pri_mean",
    "voi_mean",
    "n_segments",
    "seconds",
]


def _one(job):
    import torch

    torch.set_num_threads(1)
    from napari_mmtseg import segment
    from napari_mmtseg.bench.datasets import load_sample
    from napari_mmtseg.metrics import score

    root, split, image_id, variant, seed, preset, method = job
    s = load_sample("bsds", root, split, image_id)
    r = segment(s.image, method=method, preset=preset, seed=seed, device="cpu", **VARIANTS[variant])
    sc = score(r.labels, s.gts)
    return {
        "image": image_id,
        "variant": variant,
        "seed": seed,
        "seconds": r.seconds,
        "iterations": len(r.history),
        **{k: sc[k] for k in COLS if k in sc},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--method", default="mmt")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from napari_mmtseg.bench.datasets import dataset_ids

    ids = dataset_ids("bsds", a.root, a.split, a.limit)
    done = set()
    if os.path.exists(a.out):
        with open(a.out) as fh:
            done = {(r["image"], r["variant"], int(r["seed"])) for r in csv.DictReader(fh)}
    jobs = [
        (a.root, a.split, i, v, int(s), a.preset, a.method)
        for v in a.variants.split(",")
        for s in a.seeds.split(",")
        for i in ids
        if (i, v, int(s)) not in done
    ]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    new = not os.path.exists(a.out)
    with open(a.out, "a", newline="") as fh, ProcessPoolExecutor(a.jobs) as ex:
        w = None
        for k, row in enumerate(ex.map(_one, jobs)):
            if w is None:
                w = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    w.writeheader()
            w.writerow(row)
            fh.flush()
            print(
                f"[{k + 1}/{len(jobs)}] {row['variant']} {row['image']} s{row['seed']} "
                f"acc={row['accuracy_mean']:.3f} segs={row['n_segments']}",
                file=sys.stderr,
                flush=True,
            )
    summarize(a.out)


def summarize(path):
    """Mean per variant over the (image, seed) pairs that every variant ran,
    and how many of those pairs each variant wins against "base"."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    keys = [{(r["image"], r["seed"]) for r in rows if r["variant"] == v} for v in variants]
    common = set.intersection(*keys)
    by = {(r["variant"], r["image"], r["seed"]): r for r in rows}
    print(f"{len(common)} image/seed pairs run by all {len(variants)} variants")
    print("| variant | " + " | ".join(COLS) + " | PRI better than base on |")
    print("|---|" + "---|" * (len(COLS) + 1))
    for v in variants:
        rs = [by[(v,) + k] for k in sorted(common)]
        vals = [f"{np.mean([float(r[c]) for r in rs]):.4g}" for c in COLS]
        wins = (
            sum(
                float(by[(v,) + k]["pri_mean"]) > float(by[("base",) + k]["pri_mean"])
                for k in common
            )
            if ("base",) + next(iter(common)) in by
            else 0
        )
        print(f"| {v} | " + " | ".join(vals) + f" | {wins}/{len(common)} |")


if __name__ == "__main__":
    main()
