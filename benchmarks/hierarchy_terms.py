"""The region terms of the hierarchy's merge order, on and off, on the same BSDS500 runs.

For each image: one default MMT run (``segment(img)``, seed 0) whose output-stage inputs to
:func:`napari_mmtseg.output_stage.hierarchy.build_hierarchy` (finest regions, default regions,
edges, features and settings) are stored in ``--store``; then the hierarchy is built from them
twice, with the region terms (:class:`napari_mmtseg.output_stage.merge.RegionTerms`, the
shipped ``HISTOGRAM_WEIGHT``, ``SMALL_FRACTION`` and ``SPECTRAL_WEIGHT``) and without (all
0: the boundary strength alone), and each is scored at the levels of ``mmtseg bench``
(:data:`LEVELS`) as the BSDS benchmark scores regions, pooled into ODS and OIS. A paired
comparison: the same runs, only the merge order above the default level differs.
docs/benchmarks.md ("Region terms in the merge order", "A spectral term in the merge order")
has the tables and the commands that made them::

    PYTHONPATH=src python benchmarks/hierarchy_terms.py --root ../shared/data/bsds500 \\
        --split val --store /tmp/terms_val

``--set NAME=VALUE`` (repeatable) overrides a constant of the hierarchy module for the "with"
build (``HISTOGRAM_WEIGHT``, ``HISTOGRAM_BINS``, ``SMALL_FRACTION``, ``SPECTRAL_WEIGHT``,
``SPECTRAL_VECTORS``, ``SPECTRAL_SCALE``) or of the thin-ridge step (``RIDGE_HIGH``,
``RIDGE_LOW``, ``RIDGE_ELONGATION``), to try other settings on stored runs without training
again. ``--against NAME=VALUE`` (repeatable) makes the first row the shipped constants with
those overrides instead of the boundary strength alone (``--against RIDGE_LOW=0``: without
the thin ridges).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_mmtseg.bench.ods import LEVELS

#: the weights that turn the region terms off when 0
_TERMS = ("HISTOGRAM_WEIGHT", "SMALL_FRACTION", "SPECTRAL_WEIGHT")
#: the hierarchy module's constants that ``--set`` may change
_CONSTANTS = (*_TERMS, "HISTOGRAM_BINS", "SPECTRAL_VECTORS", "SPECTRAL_SCALE")
#: the thin-ridge step's constants that ``--set`` may change
_RIDGE_CONSTANTS = ("RIDGE_HIGH", "RIDGE_LOW", "RIDGE_ELONGATION")
#: build_hierarchy's keyword arguments that are stored beside its three arrays
_SETTINGS = ("threshold", "texture", "min_size", "line_width", "line_contrast")


def capture(sample, path: Path, seed: int, threads: int) -> None:
    """Run MMT on one image and store what the output stage gave ``build_hierarchy``."""
    import napari_mmtseg.output_stage.finish as finish
    from napari_mmtseg import segment

    seen = {}
    original = finish.build_hierarchy

    def keep(fine, default, edges, **kw):
        seen.update(fine=fine, default=default, edges=edges, **kw)
        return original(fine, default, edges, **kw)

    finish.build_hierarchy = keep
    try:
        t = time.perf_counter()
        segment(sample.image, method="mmt", seed=seed, num_threads=threads)
        seconds = time.perf_counter() - t
    finally:
        finish.build_hierarchy = original
    gts = np.stack([np.asarray(g) for g in sample.gts])
    wanted = {"fine", "default", "edges", "features", *_SETTINGS}
    arrays = {k: np.asarray(v) for k, v in seen.items() if k in wanted}
    np.savez_compressed(path, gts=gts, seconds=seconds, **arrays)


def build(stored) -> object:
    """The hierarchy of one stored run, with the hierarchy module's current constants."""
    from napari_mmtseg.output_stage.hierarchy import build_hierarchy

    kw = {k: stored[k].item() for k in _SETTINGS}
    return build_hierarchy(
        stored["fine"], stored["default"], stored["edges"], features=stored["features"], **kw
    )


def scores(h, gts) -> list:
    """BSDS region scores of one hierarchy at every level of :data:`LEVELS`."""
    from napari_mmtseg.metrics import bsds_region_scores

    cache = {}
    out = []
    for t in LEVELS:
        k = h.cut_at_level(t)
        if k not in cache:
            cache[k] = bsds_region_scores(h.labels(k), list(gts))
        out.append(cache[k])
    return out


def main(argv=None) -> int:
    """Capture the runs not stored yet, build both ways, print the paired table."""
    import napari_mmtseg.output_stage.hierarchy as hierarchy
    import napari_mmtseg.output_stage.ridges as ridges
    from napari_mmtseg.bench.datasets import bsds_ids, load_bsds_sample
    from napari_mmtseg.metrics import bsds_ods_ois

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="BSDS500 folder (images/, groundTruth/)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--stride", type=int, default=1, help="every Nth image (sorted ids)")
    ap.add_argument("--limit", type=int, default=None, help="at most N images")
    ap.add_argument("--store", required=True, help="folder of the stored runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE for the 'with' build")
    ap.add_argument(
        "--against", action="append", default=[], help="NAME=VALUE: the first row's overrides"
    )
    a = ap.parse_args(argv)
    store = Path(a.store)
    store.mkdir(parents=True, exist_ok=True)
    ids = bsds_ids(a.root, a.split)[:: a.stride][: a.limit]
    for image_id in ids:
        path = store / f"{image_id}.npz"
        if not path.exists():
            capture(load_bsds_sample(a.root, a.split, image_id), path, a.seed, a.threads)
            print(f"{image_id}: run stored", flush=True)
    home = {k: hierarchy for k in _CONSTANTS} | {k: ridges for k in _RIDGE_CONSTANTS}
    shipped = {k: getattr(home[k], k) for k in home}

    def parsed(pairs):
        return {k: type(shipped[k])(v) for k, v in (s.split("=") for s in pairs)}

    first = ("shipped, " + ", ".join(a.against), shipped | parsed(a.against))
    if not a.against:
        first = ("boundary strength alone", {k: 0.0 for k in _TERMS})
    ways = dict([first, ("with the region terms" + "".join(", " + s for s in a.set),
                         shipped | parsed(a.set))])  # fmt: skip
    rows = ["| | covering ODS | OIS | PRI ODS | OIS | VoI (bits) ODS | OIS |", "|---" * 7 + "|"]
    for name, constants in ways.items():
        for k, v in constants.items():
            setattr(home[k], k, v)
        per_image = []
        for image_id in ids:
            with np.load(store / f"{image_id}.npz") as stored:
                per_image.append(scores(build(stored), stored["gts"]))
        r = bsds_ods_ois(per_image)
        rows.append(
            f"| {name} | {r['covering_ods']:.3f} | {r['covering_ois']:.3f} | {r['pri_ods']:.3f}"
            f" | {r['pri_ois']:.3f} | {r['voi_bits_ods']:.3f} | {r['voi_bits_ois']:.3f} |"
        )
    for k, v in shipped.items():
        setattr(home[k], k, v)
    print(f"{len(ids)} images, {a.split}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
