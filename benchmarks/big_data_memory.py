"""Peak memory and time of segmenting big inputs, for one or more checkouts.

Each case runs in a fresh subprocess (so ``ru_maxrss`` is its own) with
``PYTHONPATH`` set to a checkout's ``src`` folder, so the same cases can be
measured on an earlier commit as the baseline, in the same run:

    git worktree add /tmp/mmtseg-old <commit>
    OMP_NUM_THREADS=2 python benchmarks/big_data_memory.py --src src /tmp/mmtseg-old/src

Cases (all generated, nothing read from disk):
- rgb4k: a 4096x4096 RGB uint8 image in memory, mmt with the fast preset;
- stack16: a (40, 1024, 1024) uint16 stack in memory, kmeans (k=4);
- dask16: the same stack as a dask array with one chunk per slice, kmeans.
The image's own size is printed beside each peak: what matters is the peak
above it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASE_CODE = r"""
import json, resource, sys, time
import numpy as np
case = sys.argv[1]
rng = np.random.default_rng(0)

def blobs(h, w, t=0):
    yy, xx = np.ogrid[:h, :w]
    img = (np.sin(yy / 37.0 + t) * np.cos(xx / 53.0) > 0.2).astype(np.float32)
    return img

if case == "rgb4k":
    base = blobs(4096, 4096)
    img = np.empty((4096, 4096, 3), np.uint8)
    for c in range(3):
        img[..., c] = (base * (60 + 80 * c) + 40).astype(np.uint8)
    del base
    kw = dict(method="mmt", preset="fast", device="cpu")
elif case in ("stack16", "dask16"):
    def make(i):
        return (blobs(1024, 1024, 0.1 * i) * 3000 + 500).astype(np.uint16)
    if case == "stack16":
        img = np.stack([make(i) for i in range(40)])
    else:
        import dask
        import dask.array as da
        img = da.stack([da.from_delayed(dask.delayed(make)(i), (1024, 1024), np.uint16)
                        for i in range(40)])
    kw = dict(method="kmeans", k=4)
nbytes = int(np.prod(img.shape)) * np.dtype(img.dtype).itemsize
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
from napari_mmtseg import segment
t0 = time.perf_counter()
r = segment(img, **kw)
dt = time.perf_counter() - t0
print(json.dumps({"case": case, "shape": list(img.shape), "image_mb": nbytes / 2**20,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": dt, "n_labels": r.n_labels, "labels_dtype": str(r.labels.dtype)}))
"""

CASES = ("rgb4k", "stack16", "dask16")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", nargs="+", default=["src"], help="checkouts' src folders to compare")
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args(argv)
    rows = []
    for src in args.src:
        for case in args.cases.split(","):
            env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
            p = subprocess.run(
                [sys.executable, "-c", CASE_CODE, case], env=env, capture_output=True, text=True
            )
            if p.returncode != 0:
                last = (p.stderr.strip().splitlines() or ["?"])[-1]
                rows.append({"src": src, "case": case, "error": f"exit {p.returncode}: {last}"})
            else:
                rows.append({"src": src, **json.loads(p.stdout.strip().splitlines()[-1])})
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("| checkout | case | shape | image MB | peak RSS MB | peak / image | seconds | labels |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['src']} | {r['case']} | | | {r['error']} | | | |")
            continue
        print(
            f"| {r['src']} | {r['case']} | {'x'.join(map(str, r['shape']))} | "
            f"{r['image_mb']:.0f} | "
            f"{r['peak_mb']:.0f} | {r['peak_mb'] / r['image_mb']:.2f} | {r['seconds']:.1f} | "
            f"{r['n_labels']} ({r['labels_dtype']}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
