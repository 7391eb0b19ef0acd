"""The quality steps of benchmarks/gpu_check.py: paper against fast on BSDS500 val images.

MMT, Kim 2020 and Kanezaki 2018, seeds 0 and 1, default output; scored with the package's
public metrics (Acc, mIoU one-to-one, PRI, VoI against the annotations; ARI between seeds),
the images read with its BSDS500 reader after ``--pack-data`` copied them into the repository.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np

from gpu_check_speed import speed_row
from gpu_check_steps import Plan

METHODS = ("mmt", "kim2020", "kanezaki2018")
PRESETS = ("paper", "fast")
SEEDS = (0, 1)


def pack_data(dest, bsds_root, n: int = 20) -> list:
    """Copy the first ``n`` BSDS500 val images and their ground truth under ``dest/bsds500``.

    Parameters
    ----------
    dest : str or pathlib.Path
        Folder inside the repository (ignored by git) that travels with the device call.
    bsds_root : str or pathlib.Path
        BSDS500 root holding ``images/val`` and ``groundTruth/val``.
    n : int
        Images to copy, the first in sorted id order.

    Returns
    -------
    list of str
        The image ids copied.
    """
    from napari_mmtseg.bench.datasets import bsds_ids

    ids = bsds_ids(bsds_root, "val")[:n]
    for sub, ext in (("images", ".jpg"), ("groundTruth", ".mat")):
        folder = Path(dest) / "bsds500" / sub / "val"
        folder.mkdir(parents=True, exist_ok=True)
        for i in ids:
            shutil.copy2(Path(bsds_root) / sub / "val" / f"{i}{ext}", folder)
    return ids


def load_samples(data, n: int, tiny: bool) -> list:
    """The quality step's images: packed BSDS500 val images, or synthetic ones in tiny mode.

    Parameters
    ----------
    data : str or pathlib.Path or None
        The folder given to ``--pack-data``; None in tiny mode gives synthetic images.
    n : int
        Images to read.
    tiny : bool
        Subsample the images (and their ground truth) to at most 64 pixels a side.

    Returns
    -------
    list of napari_mmtseg.bench.datasets.Sample
        Id, image and ground-truth label maps of each image.

    Raises
    ------
    FileNotFoundError
        Without data outside tiny mode, or when the folder holds no packed images.
    """
    from napari_mmtseg.bench.datasets import Sample, iter_bsds

    if data is None:
        if not tiny:
            raise FileNotFoundError("no data: run --pack-data DIR first, then pass --data DIR")
        colours = np.array([[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.3, 0.9], [0.9, 0.9, 0.2]])
        rng, out = np.random.default_rng(0), []
        yy, xx = np.mgrid[:40, :56]
        for k in range(n):
            gt = np.zeros((40, 56), np.int32)
            gt[:20, 28:], gt[20:, : 16 + 4 * k] = 1, 2
            gt[(yy - 28) ** 2 + (xx - 38) ** 2 < 64] = 3
            img = np.clip(colours[gt] + rng.normal(0, 0.05, gt.shape + (3,)), 0, 1)
            out.append(Sample(f"synthetic{k}", (img * 255).astype(np.uint8), [gt]))
        return out
    out = list(iter_bsds(Path(data) / "bsds500", "val", limit=n))
    if tiny:
        s = max(1, math.ceil(max(out[0].image.shape[:2]) / 64))
        out = [
            Sample(
                x.id,
                np.ascontiguousarray(x.image[::s, ::s]),
                [np.ascontiguousarray(g[::s, ::s]) for g in x.gts],
            )
            for x in out
        ]
    return out


def quality_image(sample, device: str, over: dict, plan: Plan, q: dict) -> None:
    """Segment one image with every method, preset and seed; score each run.

    Parameters
    ----------
    sample : napari_mmtseg.bench.datasets.Sample
        The image and its human annotations.
    device : str
        Torch device.
    over : dict
        Parameter overrides of every run (tiny mode), empty for the presets' own.
    plan : Plan
        The check's plan: runs stop once its budget is spent.
    q : dict
        The quality results: ``runs`` (one row per run: Acc, mIoU 1:1, PRI, VoI against the
        annotations, means over them) and ``ari`` (seed 0 against seed 1) are appended to.
    """
    from napari_mmtseg import segment
    from napari_mmtseg.metrics import ari, score

    for method in METHODS:
        for preset in PRESETS:
            labels = []
            for seed in SEEDS:
                if plan.left() < 0:
                    q["cut"].append(f"{sample.id}: stopped before {method} {preset} seed {seed}")
                    return
                t = time.perf_counter()
                res = segment(sample.image, method, preset, seed=seed, device=device, **over)
                sc = score(res.labels, sample.gts)
                q["runs"].append(
                    {
                        "image": sample.id,
                        "method": method,
                        "preset": preset,
                        "seed": seed,
                        "accuracy": sc["accuracy_mean"],
                        "miou": sc["miou_mean"],
                        "pri": sc["pri_mean"],
                        "voi": sc["voi_mean"],
                        "n_segments": sc["n_segments"],
                        "iterations": len(res.history),
                        "seconds": time.perf_counter() - t,
                    }
                )
                labels.append(res.labels)
            q["ari"].append(
                {"image": sample.id, "method": method, "preset": preset, "ari": ari(*labels)}
            )


def quality_estimate(r: dict, mode: dict) -> float:
    """Estimated seconds of one quality image (12 runs), from what was measured so far.

    Parameters
    ----------
    r : dict
        The check's results.
    mode : dict
        One of :data:`MODES`.

    Returns
    -------
    float
        Mean seconds of the images done; before any, from the speed rows (a single-network
        method taken as 0.6 of MMT); before those, the mode's cap.
    """
    per: dict = {}
    for x in r["quality"]["runs"]:
        per[x["image"]] = per.get(x["image"], 0.0) + x["seconds"]
    if per:
        return float(np.mean(list(per.values())))
    rows = [speed_row(r, c, 0) for c in PRESETS]
    if all(x is not None and x.get("end_to_end_T_s") for x in rows):
        return len(SEEDS) * 2.2 * sum(x["end_to_end_T_s"] for x in rows) + 1.0
    return mode["caps"]["image"]
