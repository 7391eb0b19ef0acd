"""What the segments of each method look like, from a benchmark folder's label maps.

Per method (seed 0 of every image): the share of the image taken by the
largest segment, the entropy of the segment sizes (nats), and the number of
connected pieces (4-connectivity, summed over segments), as mean / median
over images. Explains why two methods with the same number of segments score
differently on one-to-one accuracy and VoI.

    python benchmarks/segment_shape.py bench_results/bsds_val100_all [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage


def shape_stats(labels: np.ndarray) -> tuple:
    sizes = np.bincount(labels.ravel())
    share = sizes[sizes > 0] / labels.size
    pieces = sum(ndimage.label(labels == k)[1] for k in np.flatnonzero(sizes))
    return float(share.max()), float(-(share * np.log(share)).sum()), int(pieces)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    root = Path(args.folder) / "labels"
    print(
        "| method [setting] | images | largest segment (share, mean) | "
        "size entropy (nats, mean) | connected pieces (median) |"
    )
    print("|---|---|---|---|---|")
    for method_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for setting_dir in sorted(p for p in method_dir.iterdir() if p.is_dir()):
            files = sorted(setting_dir.glob(f"*_seed{args.seed}.npz"))
            if not files:
                continue
            stats = np.array([shape_stats(np.load(f)["labels"]) for f in files])
            print(
                f"| {method_dir.name} [{setting_dir.name}] | {len(files)} | "
                f"{stats[:, 0].mean():.3f} | "
                f"{stats[:, 1].mean():.3f} | {np.median(stats[:, 2]):.0f} |"
            )


if __name__ == "__main__":
    main()
