"""Time ``segment(..., preset="fast")`` of this tree against an earlier git
revision, on the same images, in the same run, alternating the two so that a
change in the machine's load hits both.

Each (tree, image) pair runs in a fresh Python process (imports are not
timed; the call to ``segment`` is). Prints one row per image and the ratio of
the medians (this tree / the revision).

    python benchmarks/speed_vs_revision.py --rev 287b582 \\
        --images ../shared/data/bsds500/images/val --n 10 --threads 1 --method mmt

``--apply``: time instead applying the model kept by that run to the same image
again (``segment(image, model=...)``: inference and output stage only), as a plate
applies one model to every field.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from napari_mmtseg import segment
from napari_mmtseg.io import read_image
img = read_image(sys.argv[1])
t0 = time.perf_counter()
apply = sys.argv[4] == "apply"
r = segment(img, method=sys.argv[2], preset="fast", device="cpu", seed=0, keep_model=apply)
dt = time.perf_counter() - t0
if apply:
    t0 = time.perf_counter()
    r = segment(img, device="cpu", model=r.model)
    dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "steps": len(r.history), "labels": int(r.n_labels)}))
"""
CHILD_OLD = CHILD.replace(
    "from napari_mmtseg.io import read_image", "from napari_mmtseg.bench.datasets import read_image"
)


def export(rev: str, dest: Path) -> Path:
    """``git archive`` of ``rev``'s src/ into ``dest``; returns the src folder."""
    repo = Path(__file__).resolve().parents[1]
    data = subprocess.run(
        ["git", "-C", str(repo), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    tar = dest / "src.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as t:
        t.extractall(dest)
    return dest / "src"


def run(src: Path, code: str, image: Path, method: str, threads: int, apply: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(image), method, str(threads), "apply" * apply],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--rev", required=True, help="the earlier revision (git commit)")
    a.add_argument("--images", required=True, help="a folder of images")
    a.add_argument("--n", type=int, default=10, help="first N images (sorted)")
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--method", default="mmt")
    a.add_argument("--apply", action="store_true", help="time applying the kept model")
    args = a.parse_args(argv)
    images = sorted(
        p
        for p in Path(args.images).iterdir()
        if p.suffix.lower() in (".jpg", ".png", ".tif", ".tiff")
    )[: args.n]
    here = Path(__file__).resolve().parents[1] / "src"
    with tempfile.TemporaryDirectory() as tmp:
        old = export(args.rev, Path(tmp))
        rows = []
        print(
            f"| image | {args.rev} s | steps | this tree s | steps | ratio |\n"
            "|---|---|---|---|---|---|"
        )
        for i, img in enumerate(images):
            order = [("old", old, CHILD_OLD), ("new", here, CHILD)]
            if i % 2:
                order.reverse()
            res = {
                name: run(src, code, img, args.method, args.threads, args.apply)
                for name, src, code in order
            }
            rows.append(res)
            print(
                f"| {img.name} | {res['old']['seconds']:.2f} | {res['old']['steps']} | "
                f"{res['new']['seconds']:.2f} | {res['new']['steps']} | "
                f"{res['new']['seconds'] / res['old']['seconds']:.2f} |",
                flush=True,
            )
    mo = statistics.median(r["old"]["seconds"] for r in rows)
    mn = statistics.median(r["new"]["seconds"] for r in rows)
    print(
        f"\nmedian s/image: {args.rev} {mo:.2f}, this tree {mn:.2f}, ratio {mn / mo:.2f} "
        f"({args.method}, fast preset, {'model applied, ' * args.apply}{args.threads} thread(s), "
        f"{len(rows)} images)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
