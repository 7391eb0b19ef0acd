"""Plate: one model trained on N fields (``mmtseg segment --train-on N``) against one
training per field, on the same machine in one run: seconds, their ratio, and nucleus F1 /
foreground IoU against the masks (issue 22). Writes ``plate_model_<configs>.csv`` in
``--out`` (one file per set of configs, so a later run of other configs keeps it) and prints
a table. The configs
``model_w1`` and ``model_w2`` apply the ``train_on`` run's saved model to every field with
``--workers 1`` and ``--workers 2`` (torch threads: the machine's cores shared among the
workers), for the workers' speed-up on inference-only tasks.

::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/plate_model.py \\
        --root ../shared/data/microscopy/bbbc039_dev --train-on 4 --out /tmp/plate \\
        --configs train_on,per_image,model_w1,model_w2
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import tifffile


def _score(out: Path, root: str) -> dict:
    """Mean F1 and fg IoU of the labels in ``out`` against the masks."""
    from napari_mmtseg.bench.masks import load_masks_sample, masks_ids
    from napari_mmtseg.metrics.instances import score_instances

    f1, iou = [], []
    for image_id in [i for i in masks_ids(root) if i.startswith("bbbc039/")]:
        sample = load_masks_sample(root, image_id)
        stem = Path(image_id).name
        pred = tifffile.imread(out / f"{stem}_labels.tif")
        s = score_instances(pred, sample.gts[0])
        f1.append(s["f1"])
        iou.append(s["fg_iou"])
    return {"f1": float(np.mean(f1)), "fg_iou": float(np.mean(iou)), "n": len(f1)}


def main(argv=None) -> None:
    """Run both configurations and print the table.

    Parameters
    ----------
    argv : list of str, optional
        The command line's arguments.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--train-on", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--configs", default="train_on,per_image")
    args = ap.parse_args(argv)
    from napari_mmtseg.cli import main as mmtseg

    images = str(Path(args.root) / "images")
    rows = []
    for config in args.configs.split(","):
        out = Path(args.out) / config
        argv = ["segment", images, "-o", str(out), "--device", "cpu", "--seed", str(args.seed),
                "--overwrite"]  # fmt: skip
        if config == "train_on":
            argv += ["--preset", "fast", "--train-on", str(args.train_on), "--threads", "1"]
        elif config.startswith("model_w"):  # the train_on run's model, applied by N workers
            model = Path(args.out) / "train_on" / "mmtseg_model.pt"
            argv += ["--model", str(model), "--workers", config[len("model_w") :]]
        else:
            argv += ["--preset", "fast", "--threads", "1"]
        t0 = time.perf_counter()
        assert mmtseg(argv) == 0
        row = {"config": config, "seconds": round(time.perf_counter() - t0, 1)}
        row.update(_score(out, args.root))
        rows.append(row)
        print(row, flush=True)
    name = "plate_model_" + args.configs.replace(",", "_") + ".csv"
    with open(Path(args.out) / name, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
