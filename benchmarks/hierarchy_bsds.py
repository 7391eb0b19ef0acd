"""BSDS500 region benchmark of the hierarchy of one run: ODS / OIS over its levels.

For each image: one default MMT run (``segment(img)``, seed 0), its region hierarchy stored
(``--store``), then segmentation covering, PRI and VoI in bits
(:func:`napari_mmtseg.metrics.bsds_region_scores`) at every level of a fixed grid of boundary
strengths (the ultrametric's thresholds, as the BSDS benchmark thresholds a UCM), at the
default level, and for Felzenszwalb over its scale grid; pooled over images into ODS and OIS
(:func:`napari_mmtseg.metrics.bsds_ods_ois`). Nothing is tuned here: the level grid is fixed,
the default level is the shipped ``merge_threshold``. docs/benchmarks.md ("One run, every
level of detail") has the table and the command that made it::

    PYTHONPATH=src python benchmarks/hierarchy_bsds.py --root ../shared/data/bsds500 \\
        --split val --limit 20 --store /tmp/hier_val --out /tmp/hier_val.json

Runs and scores already stored in ``--store`` are reused, so a run can be stopped and taken up
again, and ``--limit`` lowered to summarize the images done so far.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from napari_mmtseg.bench.ods import LEVELS  # the hierarchy's levels scored, as mmtseg bench

#: Felzenszwalb's scale grid (the bench's ``--grid``)
FELZ_SCALES = [100, 300, 500, 1000, 1500, 2000]


def run_image(sample, store: Path, seed: int, threads: int):
    """The stored hierarchy of one image (computed once), and the run's seconds."""
    from napari_mmtseg import segment
    from napari_mmtseg.output_stage.hierarchy import Hierarchy

    path = store / f"{sample.id}.npz"
    if path.exists():
        with np.load(path) as f:
            return Hierarchy.from_arrays(f), float(f["seconds"])
    t = time.perf_counter()
    res = segment(sample.image, method="mmt", seed=seed, num_threads=threads)
    seconds = time.perf_counter() - t
    np.savez_compressed(path, seconds=seconds, **res.hierarchy.to_arrays())
    return res.hierarchy, seconds


def score_image(h, gts) -> dict:
    """Scores of one hierarchy at every level of :data:`LEVELS` and at its default level."""
    from napari_mmtseg.metrics import bsds_region_scores

    levels = [bsds_region_scores(h.labels(h.cut_at_level(t)), gts) for t in LEVELS]
    return {
        "levels": levels,
        "default": bsds_region_scores(h.at("auto"), gts),
        "regions": [h.n_fine - h.cut_at_level(t) for t in LEVELS],
        "default_regions": h.n_regions("auto"),
    }


def score_felzenszwalb(sample) -> list:
    """Scores of Felzenszwalb at each scale of :data:`FELZ_SCALES`."""
    from napari_mmtseg import segment
    from napari_mmtseg.metrics import bsds_region_scores

    return [
        bsds_region_scores(segment(sample.image, method="felzenszwalb", scale=s).labels, sample.gts)
        for s in FELZ_SCALES
    ]


def summarize(per_image: list) -> dict:
    """ODS / OIS of the hierarchy, the default level and Felzenszwalb, with per-image spread."""
    from napari_mmtseg.metrics import bsds_ods_ois

    out = {
        "n_images": len(per_image),
        "hierarchy": bsds_ods_ois([p["levels"] for p in per_image]),
        "default": bsds_ods_ois([[p["default"]] for p in per_image]),
        "felzenszwalb": bsds_ods_ois([p["felz"] for p in per_image]),
    }
    for key in ("covering", "pri", "voi_bits"):
        vals = [p["default"][key] for p in per_image]
        out["default"][f"{key}_q25_q75"] = [float(np.percentile(vals, q)) for q in (25, 75)]
    out["hierarchy"]["ods_threshold"] = {
        k: float(LEVELS[out["hierarchy"][f"{k}_ods_level"]])
        for k in ("covering", "pri", "voi_bits")
    }
    out["felzenszwalb"]["ods_scale"] = {
        k: FELZ_SCALES[out["felzenszwalb"][f"{k}_ods_level"]]
        for k in ("covering", "pri", "voi_bits")
    }
    out["median_regions_default"] = float(np.median([p["default_regions"] for p in per_image]))
    out["median_seconds"] = float(np.median([p["seconds"] for p in per_image]))
    return out


def table(s: dict) -> str:
    """The summary as a markdown table (ODS and OIS; covering, PRI, VoI in bits)."""
    rows = ["| | covering ODS | OIS | PRI ODS | OIS | VoI (bits) ODS | OIS |", "|---" * 7 + "|"]
    for name, key in (("MMT hierarchy", "hierarchy"), ("MMT default level", "default")):
        r = s[key]
        rows.append(
            f"| {name} | {r['covering_ods']:.3f} | {r['covering_ois']:.3f} | {r['pri_ods']:.3f}"
            f" | {r['pri_ois']:.3f} | {r['voi_bits_ods']:.2f} | {r['voi_bits_ois']:.2f} |"
        )
    r = s["felzenszwalb"]
    rows.append(
        f"| Felzenszwalb (scale grid) | {r['covering_ods']:.3f} | {r['covering_ois']:.3f} |"
        f" {r['pri_ods']:.3f} | {r['pri_ois']:.3f} | {r['voi_bits_ods']:.2f} |"
        f" {r['voi_bits_ois']:.2f} |"
    )
    return "\n".join(rows)


def main(argv=None) -> int:
    """Run, score and print the table; write the summary as JSON with ``--out``."""
    from napari_mmtseg.bench.datasets import bsds_ids, load_bsds_sample

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="BSDS500 folder (images/, groundTruth/)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=None, help="first N images (sorted ids)")
    ap.add_argument("--store", required=True, help="folder of the stored hierarchies")
    ap.add_argument("--out", default=None, help="summary JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    a = ap.parse_args(argv)
    store = Path(a.store)
    store.mkdir(parents=True, exist_ok=True)
    per_image = []
    for i, image_id in enumerate(bsds_ids(a.root, a.split)[: a.limit]):
        scored = store / f"{image_id}.json"
        if scored.exists():
            p = json.loads(scored.read_text())
        else:
            sample = load_bsds_sample(a.root, a.split, image_id)
            h, seconds = run_image(sample, store, a.seed, a.threads)
            p = score_image(h, sample.gts)
            p |= {"felz": score_felzenszwalb(sample), "seconds": seconds}
            scored.write_text(json.dumps(p))
        per_image.append(p)
        d = p["default"]
        print(
            f"{i + 1} {image_id}: default covering {d['covering']:.3f} PRI {d['pri']:.3f}"
            f" VoI {d['voi_bits']:.2f} bits, {p['default_regions']} regions, {seconds:.0f} s",
            flush=True,
        )
    s = summarize(per_image)
    print(table(s))
    print(json.dumps({k: s[k] for k in ("n_images", "median_regions_default")}))
    if a.out:
        Path(a.out).write_text(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
