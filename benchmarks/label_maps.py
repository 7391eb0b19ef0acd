"""Label maps of a fixed set of 12 runs, to check that a refactor changes no label.

Every run uses the public API, seed 0 and one torch thread, on small inputs so the whole set
takes about a minute on 2 CPU cores. Write the maps of one checkout, then compare another's:

    PYTHONPATH=src python benchmarks/label_maps.py --out /tmp/after.npz
    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old/src python benchmarks/label_maps.py --out /tmp/before.npz
    python benchmarks/label_maps.py --compare /tmp/before.npz /tmp/after.npz

``--compare`` prints one line per run and exits 1 if any label map differs, bit for bit.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _inputs():
    """The fixed inputs: a photo, coins, a nuclei-like field, a stack, scribbles."""
    from skimage import data
    from skimage.transform import resize

    from napari_mmtseg.samples import make_blobs_timelapse

    photo = (resize(data.astronaut()[:256, 128:384], (96, 96), anti_aliasing=True) * 255).astype(
        np.uint8
    )
    coins = (resize(data.coins(), (76, 96), anti_aliasing=True) * 255).astype(np.uint8)
    stack = make_blobs_timelapse(t=3, size=64, seed=0)
    nuclei = stack[0]
    scribbles = np.zeros(coins.shape, dtype=np.uint8)
    scribbles[5:9, 5:30] = 1  # background
    scribbles[28:31, 20:26] = 2  # a coin
    return photo, coins, nuclei, stack, scribbles


def runs():
    """Yield (name, labels) for the 12 fixed runs."""
    import torch

    from napari_mmtseg import segment

    torch.set_num_threads(1)
    photo, coins, nuclei, stack, scribbles = _inputs()
    short = {"preset": "fast", "max_iter": 40}
    table = [
        ("photo_mmt_regions", photo, "mmt", short),
        ("photo_mmt_clusters", photo, "mmt", {**short, "output": "clusters"}),
        ("photo_kim2020", photo, "kim2020", short),
        ("photo_kanezaki2018", photo, "kanezaki2018", {**short, "n_segments": 300}),
        ("photo_felzenszwalb", photo, "felzenszwalb", {}),
        ("coins_kmeans_clusters", coins, "kmeans", {"output": "clusters", "k": 3}),
        ("coins_mmt_nclasses", coins, "mmt", {**short, "n_classes": 2}),
        ("nuclei_mmt", nuclei, "mmt", short),
        ("nuclei_multiotsu", nuclei, "multiotsu", {}),
        ("stack_mmt", stack, "mmt", {**short, "max_iter": 20}),
        ("scribbles_mmt", coins, "mmt", {**short, "scribbles": scribbles}),
        ("scribbles_trainable", coins, "trainable", {"scribbles": scribbles}),
    ]
    for name, image, method, kw in table:
        yield name, np.asarray(segment(image, method=method, seed=0, device="cpu", **kw).labels)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the 12 label maps to this .npz file")
    ap.add_argument(
        "--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two .npz files"
    )
    a = ap.parse_args(argv)
    if a.compare:
        before, after = (np.load(f) for f in a.compare)
        bad = 0
        for name in sorted(set(before.files) | set(after.files)):
            same = (
                name in before.files
                and name in after.files
                and before[name].shape == after[name].shape
                and np.array_equal(before[name], after[name])
            )
            bad += not same
            print(f"{'same' if same else 'DIFFERENT':9s} {name}")
        print(f"{bad} of {len(set(before.files) | set(after.files))} label maps differ")
        return 1 if bad else 0
    if not a.out:
        ap.error("give --out FILE or --compare BEFORE AFTER")
    maps = {}
    for name, lab in runs():
        maps[name] = lab
        print(f"{name:24s} {lab.shape} {len(np.unique(lab))} labels", flush=True)
    np.savez_compressed(a.out, **maps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
