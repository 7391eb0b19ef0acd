"""Time the output stage alone, with and without the colour join and the
thin-line rule, on cached cluster maps (``benchmarks/output_stage.py
--cache``) and on one large synthetic slice made of 16 of them side by side.

    python benchmarks/stage_timing.py --val-cache bench_results/stage_cache_val \\
        --root ../shared/data/bsds500 --isbi-cache bench_results/stage_cache_isbi

Prints the mean seconds per call of ``output_stage.finish_labels`` (default
output stage: refine, merge threshold 3, texture 0.5) for the first 10
BSDS500 val images (MMT, seed 0), and for the 2048 x 2048 map tiled from
the first 16 ISBI sections' MMT maps (seed 0) over a random image; for
that map also the small-piece step alone. One process, the threads torch
and NumPy are given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from skimage.measure import label

from napari_mmtseg.bench import datasets
from napari_mmtseg.features import image_features
from napari_mmtseg.image import prepare_image
from napari_mmtseg.output_stage import auto_min_region_size, finish_labels, remove_small_pieces
from napari_mmtseg.output_stage.experiments import finish_labels_ablated

STAGE = dict(refine=True, merge_threshold=3.0, texture=0.5)
BEFORE = dict(small_by_colour=False, line_width=0.0)


def _timed(fn, *args, **kwargs):
    """Seconds one call of ``fn(*args, **kwargs)`` takes."""
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--val-cache", required=True)
    a.add_argument("--root", required=True, help="BSDS500 root")
    a.add_argument("--isbi-cache", required=True)
    a.add_argument(
        "--masks-root",
        default=None,
        help="microscopy root: also time the stage on 10 real ISBI sections (every 3rd) "
        "with texture 0.5 and with the default texture rule (0 on grey data)",
    )
    args = a.parse_args(argv)
    ids = datasets.dataset_ids("bsds", args.root, "val")[:10]
    maps = []
    for img in ids:
        x = prepare_image(datasets.load_sample("bsds", args.root, "val", img).image).slice(0)
        maps.append((np.load(Path(args.val_cache) / "mmt/default" / f"{img}_s0.npz")["labels"], x))
    for tag, kw in (("before", BEFORE), ("now", {})):
        t = sum(_timed(finish_labels_ablated, raw, x, **STAGE, **kw) for raw, x in maps) / len(maps)
        print(f"BSDS val, 10 photos, output stage {tag}: {t:.3f} s per image")
    tiles = [
        np.load(Path(args.isbi_cache) / "mmt/default" / f"isbi_{i:02d}_s0.npz")["labels"]
        for i in range(16)
    ]
    big = np.block([[tiles[4 * r + c] for c in range(4)] for r in range(4)])
    x = np.random.default_rng(0).random((1, *big.shape)).astype(np.float32)
    pieces = label(big + 1, background=0, connectivity=1)
    size = auto_min_region_size(big.size)
    h, w = big.shape
    print(f"{h} x {w} tiled ISBI map: {int(pieces.max())} pieces, min region {size} px")
    feats = image_features(x)
    for tag, f in (("before (by distance)", None), ("now (by colour)", feats)):
        t = _timed(remove_small_pieces, pieces, size, features=f)
        print(f"  small-piece step {tag}: {t:.2f} s")
    for tag, kw in (("before", BEFORE), ("now", {})):
        print(f"  output stage {tag}: {_timed(finish_labels_ablated, big, x, **STAGE, **kw):.2f} s")
    rule = {**STAGE, "texture": None}  # the default since: no texture term on this grey map
    t = _timed(finish_labels, big, x, **rule)
    print(f"  output stage now, default texture rule: {t:.2f} s")
    if args.masks_root:
        ids = datasets.dataset_ids("masks", args.masks_root, None)[0:30:3]
        sections = [
            (
                np.load(Path(args.isbi_cache) / "mmt/default" / f"{i.replace('/', '_')}_s0.npz")[
                    "labels"
                ],
                prepare_image(datasets.load_sample("masks", args.masks_root, None, i).image).slice(
                    0
                ),
            )
            for i in ids
        ]
        for tag, tex in (("texture 0.5", 0.5), ("default texture rule", None)):
            t = sum(
                _timed(finish_labels, raw, x, **{**STAGE, "texture": tex}) for raw, x in sections
            )
            print(
                f"ISBI, 10 sections, output stage now, {tag}: {t / len(sections):.3f} s per section"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
