"""Spurious regions on a flat two-region image: seeds x methods, regions and clusters output.

Builds a flat two-region image (left half one grey level, right half another, mild Gaussian
noise; ``--rgb`` for a coloured version), segments it with each method and seed through the
public API, and prints per run the number of regions, the sizes of regions wholly inside one
flat half, and any region under the minimum region size (docs/benchmarks.md, "One run, every
level of detail", has the figures). Run:
``PYTHONPATH=src python benchmarks/flat_regions.py --seeds 12``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import napari_mmtseg
from napari_mmtseg.output_stage import auto_min_region_size


def flat_image(h: int = 96, w: int = 128, rgb: bool = False, noise: float = 4.0, seed: int = 0):
    """Return a flat two-region uint8 image, (H, W) or (H, W, 3), with Gaussian noise."""
    rng = np.random.default_rng(seed)
    left, right = (np.array([70.0, 120, 60]), np.array([170.0, 90, 150])) if rgb else (80, 170)
    shape = (h, w, 3) if rgb else (h, w)
    img = np.empty(shape, np.float64)
    img[:, : w // 2] = left
    img[:, w // 2 :] = right
    img += rng.normal(0, noise, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def inside_one_half(labels: np.ndarray) -> list[int]:
    """Sizes of regions that lie wholly inside one half and touch neither image side."""
    w = labels.shape[1]
    out = []
    for r in np.unique(labels):
        m = labels == r
        cols = np.nonzero(m.any(0))[0]
        one_half = cols.max() < w // 2 or cols.min() >= w // 2
        touches_side = cols.min() == 0 or cols.max() == w - 1
        if one_half and not touches_side:
            out.append(int(m.sum()))
    return out


def under_minimum(labels: np.ndarray, min_size: int) -> list[int]:
    """Sizes of connected regions under ``min_size`` pixels."""
    from skimage.measure import label

    lab = label(labels + 1, connectivity=1, background=0)
    sizes = np.bincount(lab.ravel())[1:]
    return [int(s) for s in sizes if s < min_size]


def main(argv=None) -> int:
    """Run the sweep and print the table; return the number of faulty runs."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--methods", default="mmt,kim2020,kanezaki2018")
    ap.add_argument("--rgb", action="store_true")
    ap.add_argument("--size", default="96x128")
    ap.add_argument("--max-iter", type=int, default=None)
    ap.add_argument("--levels", default="", help="comma list of detail levels for result.at")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.split("x"))
    img = flat_image(h, w, args.rgb)
    min_size = auto_min_region_size(h * w)
    print(f"image {h}x{w} rgb={args.rgb}  minimum region size {min_size} px")
    print(
        f"{'method':<12} {'seed':>4} {'output':<8} {'n':>3} {'inside a half':<18} "
        f"{'under min':<12} {'s':>5}"
    )
    bad = 0
    levels = [float(v) for v in args.levels.split(",") if v]
    extra = {} if args.max_iter is None else {"max_iter": args.max_iter}
    for method in args.methods.split(","):
        for seed in range(args.seeds):
            t = time.perf_counter()
            res = napari_mmtseg.segment(
                img, method=method, seed=seed, preset="fast", device="cpu", num_threads=1, **extra
            )
            dt = time.perf_counter() - t
            rows = [("regions", np.asarray(res.labels))]
            rows += [(f"at {v:g}", np.asarray(res.at(v))) for v in levels]
            for name, lab in rows:
                inside, small = inside_one_half(lab), under_minimum(lab, min_size)
                bad += bool(inside or small)
                print(
                    f"{method:<12} {seed:>4} {name:<8} {np.unique(lab).size:>3} "
                    f"{str(inside):<18} {str(small):<12} {dt:>5.1f}"
                )
    print(f"faulty rows: {bad}")
    return bad


if __name__ == "__main__":
    main()
