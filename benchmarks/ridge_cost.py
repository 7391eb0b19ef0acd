"""What the thin-ridge step costs: the hierarchy built with and without it, and the step alone.

For each stored BSDS500 run (``benchmarks/hierarchy_terms.py --store``) the hierarchy is built
with the shipped constants and with ``RIDGE_LOW = 0`` (no ridges), best of ``--repeat``, and the
medians are printed with their ratio; then :func:`napari_mmtseg.output_stage.ridges.thin_ridges`
alone on scikit-image's ``retina`` (1411 x 1411 RGB) and on a 2048 x 2048 grey tile of it, and
the number of ridges and their share of the pixels::

    PYTHONPATH=src python benchmarks/ridge_cost.py --store /tmp/terms_val --limit 30
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> int:
    """Time the builds on the stored runs, then the step alone on the large images."""
    import napari_mmtseg.output_stage.ridges as ridges
    from napari_mmtseg.features import image_features
    from napari_mmtseg.output_stage.hierarchy import build_hierarchy
    from napari_mmtseg.output_stage.pieces import auto_min_region_size

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, help="folder of stored runs (hierarchy_terms.py)")
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    settings = ("threshold", "texture", "min_size", "line_width", "line_contrast")
    shipped = ridges.RIDGE_LOW
    rows = {"with ridges": [], "without": []}
    for path in sorted(Path(a.store).glob("*.npz"))[: a.limit]:
        with np.load(path) as s:
            stored = {k: s[k] for k in ("fine", "default", "edges", "features", *settings)}
        kw = {k: stored[k].item() for k in settings} | {"features": stored["features"]}
        args = (stored["fine"], stored["default"], stored["edges"])
        for name, low in (("with ridges", shipped), ("without", 0.0)):
            ridges.RIDGE_LOW = low
            rows[name].append(best_of(lambda a_=args, k_=kw: build_hierarchy(*a_, **k_), a.repeat))
    ridges.RIDGE_LOW = shipped
    w, wo = np.median(rows["with ridges"]), np.median(rows["without"])
    print(f"hierarchy build, median of {len(rows['without'])} stored runs, best of {a.repeat}:")
    print(f"  with ridges {1000 * w:.0f} ms, without {1000 * wo:.0f} ms, ratio {w / wo:.2f}")

    from skimage import data

    rgb = data.retina()
    grey = np.tile(rgb[..., 1], (2, 2))[:2048, :2048]
    for name, x in (("retina 1411 x 1411 RGB", np.moveaxis(rgb, -1, 0) / 255.0),
                    ("retina green, 2048 x 2048", grey[None] / 255.0)):  # fmt: skip
        f = image_features(x.astype(np.float32))
        size = auto_min_region_size(f.shape[0] * f.shape[1])
        found = ridges.thin_ridges(f, size)
        s = best_of(lambda f=f, size=size: ridges.thin_ridges(f, size), a.repeat)
        print(
            f"thin_ridges on {name}: {s:.2f} s, {int(found.max())} ridges,"
            f" {100 * (found > 0).mean():.1f}% of the pixels"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
