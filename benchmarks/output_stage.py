"""Measure training choices and output-stage settings on the same runs.

Each (method, training variant, image, seed) is trained once through the
public API with the output stage switched off (``output="clusters",
min_region_size=1, merge_threshold=0, refine=False``: the network's own
cluster map) and cached; every output-stage variant is then applied to that
cached map with :func:`napari_mmtseg.output_stage.finish_labels`, exactly as the
engine does (a stage variant may also set the fields of
``output_stage.experiments.StepSettings``, e.g. ``small_by_colour=0``). Prints one
Markdown row per (method, training, stage): the means over images and seeds, and the
mean / worst per-image seed-pair ARI.

    python benchmarks/output_stage.py --root ../shared/data/bsds500 --split train --n 30 \\
        --stride 6 --seeds 0,1,2 --methods mmt,kim2020,kanezaki2018 \\
        --train "default:" --train "beta=3:beta=3" \\
        --stage "t3:merge_threshold=3,refine=1" --cache bench_results/stage_cache

``--dataset masks --root ../shared/data/microscopy/bbbc039_dev`` scores
foreground IoU and object F1 (``metrics.score_instances``) instead.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from napari_mmtseg import segment
from napari_mmtseg.bench import datasets
from napari_mmtseg.image import prepare_image
from napari_mmtseg.metrics import ari, score, score_instances
from napari_mmtseg.output_stage.experiments import finish_labels_ablated
from napari_mmtseg.params import parse_overrides

#: the score columns of results.csv that benchmarks/paired_compare.py reads
CSV_COLUMNS = (
    "accuracy_mean",
    "miou_mean",
    "miou_kim_mean",
    "pri_mean",
    "voi_mean",
    "fg_iou",
    "f1",
)
RAW = dict(output="clusters", min_region_size=1, merge_threshold=0.0, refine=False)


def _named(items) -> dict:
    """['tag:k=v,k=v', ...] -> {tag: {k: v}}."""
    out = {}
    for item in items:
        tag, _, kv = item.partition(":")
        out[tag] = parse_overrides([s for s in kv.split(",") if s])
    return out


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--dataset", default="bsds", choices=["bsds", "masks"])
    a.add_argument("--root", required=True)
    a.add_argument("--split", default="train")
    a.add_argument("--n", type=int, default=30, help="images: every STRIDE-th, N of them")
    a.add_argument("--stride", type=int, default=1)
    a.add_argument("--offset", type=int, default=0, help="skip this many images first")
    a.add_argument("--seeds", default="0,1,2")
    a.add_argument("--methods", default="mmt")
    a.add_argument("--train", action="append", default=[], help="TAG:KEY=VALUE,... (repeatable)")
    a.add_argument("--stage", action="append", default=[], help="TAG:KEY=VALUE,... (repeatable)")
    a.add_argument("--cache", required=True, help="folder for the raw cluster maps")
    a.add_argument(
        "--csv",
        help="also write one row per (method, training/stage, image, seed) here, "
        "in results.csv's columns, for benchmarks/paired_compare.py",
    )
    args = a.parse_args(argv)
    torch.set_num_threads(1)
    trains = _named(args.train or ["default:"])
    stages = _named(args.stage or ["t3:merge_threshold=3,refine=1"])
    seeds = [int(s) for s in args.seeds.split(",")]
    ids = datasets.dataset_ids(args.dataset, args.root, args.split)[args.offset :: args.stride][
        : args.n
    ]
    cache = Path(args.cache)
    rows, table = [], []
    for img_id in ids:
        sample = datasets.load_sample(args.dataset, args.root, args.split, img_id)
        prep = prepare_image(sample.image)
        x = prep.slice(0)
        for method in args.methods.split(","):
            for ttag, tov in trains.items():
                for seed in seeds:
                    f = cache / method / ttag / f"{img_id.replace('/', '_')}_s{seed}.npz"
                    if f.exists():
                        raw = np.load(f)["labels"]
                    else:
                        r = segment(
                            sample.image,
                            method=method,
                            preset="fast",
                            device="cpu",
                            seed=seed,
                            **{**tov, **RAW},
                        )
                        raw = r.labels
                        f.parent.mkdir(parents=True, exist_ok=True)
                        np.savez_compressed(f, labels=raw)
                    for stag, sov in stages.items():
                        lab, info = finish_labels_ablated(raw, x, colour=prep.rgb, **sov)
                        if args.dataset == "bsds":
                            sc = score(lab, sample.gts)
                            m = [
                                sc["accuracy_mean"],
                                sc["miou_mean"],
                                sc["pri_mean"],
                                sc["voi_mean"],
                            ]
                        else:
                            sc = score_instances(lab, sample.gts[0])
                            m = [sc["fg_iou"], sc["f1"], sc["precision"], sc["recall"]]
                        table.append(
                            {
                                "image": img_id,
                                "method": method,
                                "setting": f"{ttag}/{stag}",
                                "seed": seed,
                                **{k: sc.get(k, "") for k in CSV_COLUMNS},
                            }
                        )
                        rows.append(
                            (
                                (method, ttag, stag),
                                img_id,
                                seed,
                                m,
                                info.n_regions,
                                info.n_classes,
                                lab,
                            )
                        )
        print(f"{img_id} done", file=sys.stderr, flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["image", "method", "setting", "seed", *CSV_COLUMNS])
            w.writeheader()
            w.writerows(table)
    heads = (
        ["Acc", "mIoU 1:1", "PRI", "VoI"]
        if args.dataset == "bsds"
        else ["fg IoU", "F1 @0.5", "precision", "recall"]
    )
    print(f"\n{len(ids)} images, seeds {args.seeds}, fast preset, 1 thread\n")
    print(
        "| method | training | output stage | "
        + " | ".join(heads)
        + " | regions | regions (median) | classes | ARI mean | ARI worst |"
    )
    print("|" + "---|" * (8 + len(heads)))
    groups = defaultdict(list)
    for r in rows:
        groups[r[0]].append(r)
    for key, rs in groups.items():
        mean = np.mean([r[3] for r in rs], axis=0)
        per = defaultdict(dict)
        for r in rs:
            per[r[1]][r[2]] = r[6]
        aris = [
            np.mean([ari(d[i], d[j]) for i, j in itertools.combinations(sorted(d), 2)])
            for d in per.values()
            if len(d) > 1
        ]
        stab = f"{np.mean(aris):.3f} | {np.min(aris):.2f}" if aris else "- | -"
        print(
            f"| {key[0]} | {key[1]} | {key[2]} | "
            + " | ".join(f"{v:.4f}" for v in mean)
            + f" | {np.mean([r[4] for r in rs]):.1f} | {np.median([r[4] for r in rs]):.0f}"
            + f" | {np.mean([r[5] for r in rs]):.1f} | {stab} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
