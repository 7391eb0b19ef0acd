"""Remake the round-trip screenshots of docs/usage.md (Run, correct, Refine) from
the real napari window:

    xvfb-run -a python benchmarks/make_refine_screenshots.py [--out-dir docs/images]

writes ``refine_1_run.png`` (the window after Run), ``refine_2_corrections.png``
(the corrections painted into the result, zoomed in), ``refine_3_refined.png``
(the same view after Refine) and ``refine_4_refined_all.png`` (all of it). Several minutes
on 2 CPU cores (two 'fast' mmt runs on the 512x512 immunohistochemistry sample).

The corrections are painted by the script, as a user would with napari's brush
(``Labels.data_setitem``, undoable; each stroke a change of label, so each is a
scribble):

- five stroma nuclei, which the run put into the stroma's class: the connected
  pieces, eroded by 1 px, of that class's pixels whose hematoxylin stain
  (``skimage.color.rgb2hed``) is in its top 10%, the five largest; a new label
  (twice the run's largest id, plus 1);
- a short stroke with a new label (the class's id plus the run's largest id)
  in each class of the run, so that Refine keeps them: 3 px wide, 12 px long
  (30 px in the stroma, six strokes there, away from the nuclei), at random
  interior points (seed 0).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from make_screenshot import DOCS_IMAGES, open_viewer, save_window, settle, wait_for

#: the part of the image the zoomed views show (rows, columns): stroma between three glands
ZOOM = ((180, 480), (150, 345))


def _strokes(mask: np.ndarray, n: int, length: int, rng, width: int = 3) -> np.ndarray:
    """``n`` horizontal strokes (``width`` x ``length`` px, clipped to ``mask``)
    centred on random pixels at least ``width`` + 1 px inside ``mask``."""
    from scipy import ndimage as ndi

    out = np.zeros(mask.shape, bool)
    depth = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    ys, xs = np.nonzero(depth >= width + 1)
    for k in rng.choice(ys.size, n, replace=False):
        y, x = ys[k], xs[k]
        out[
            max(0, y - width // 2) : y + width // 2 + 1, max(0, x - length // 2) : x + length // 2
        ] = True
    return out & mask


def corrections(image: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """The labels the script paints (0 = not painted); see the module docstring."""
    from scipy import ndimage as ndi
    from skimage.color import rgb2hed
    from skimage.measure import label
    from skimage.morphology import disk, erosion

    rng = np.random.default_rng(seed)
    stroma = int(np.bincount(labels.ravel()).argmax())  # the largest class
    h = rgb2hed(image)[..., 0]
    in_stroma = labels == stroma
    nuclei = in_stroma & (h > np.percentile(h[in_stroma], 90))
    top = int(labels.max())
    out = np.zeros(labels.shape, np.int32)
    for c in np.unique(labels):
        if c == stroma:
            free = in_stroma & ~ndi.binary_dilation(nuclei, iterations=2)
            out[_strokes(free, 6, 30, rng)] = c + top
        else:
            out[_strokes(labels == c, 4, 12, rng)] = c + top
    pieces = label(erosion(nuclei, disk(1)))
    sizes = np.bincount(pieces.ravel())
    sizes[0] = 0
    for p in np.argsort(sizes)[::-1][:5]:
        out[pieces == p] = 2 * top + 1
    return out


def zoom(viewer) -> None:
    """Show :data:`ZOOM` in the canvas."""
    (y0, y1), (x0, x1) = ZOOM
    viewer.camera.center = ((y0 + y1) / 2, (x0 + x1) / 2)
    h, w = viewer.window._qt_viewer.canvas.size
    viewer.camera.zoom = 0.95 * min(h / (y1 - y0), w / (x1 - x0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(DOCS_IMAGES))
    ap.add_argument(
        "--max-iter", type=int, default=None, help="(to try the script) fewer iterations"
    )
    args = ap.parse_args(argv)
    out = Path(args.out_dir)

    viewer, widget = open_viewer("immunohistochemistry")
    image = viewer.layers["immunohistochemistry"].data
    t0 = time.monotonic()
    its = {} if args.max_iter is None else {"max_iter": args.max_iter}
    wait_for(widget, lambda: widget(method="mmt", preset="fast", output="clusters", **its))
    lab = widget.result_layer
    print(
        f"run: {time.monotonic() - t0:.0f} s, {lab.metadata['n_labels']} classes "
        f"{np.unique(lab.data).tolist()}"
    )
    lab.opacity = 0.6
    viewer.reset_view()
    viewer.status = "Ready"
    save_window(viewer, out / "refine_1_run.png")

    paint = corrections(image, np.asarray(lab.data))
    nuclei = int(paint.max())
    for value in np.unique(paint[paint > 0]):  # one undoable edit per label, as brush strokes are
        lab.data_setitem(np.nonzero(paint == value), int(value))
    lab.mode = "paint"
    lab.selected_label = nuclei
    viewer.status = "Ready"
    zoom(viewer)
    settle()
    print("painted:", {int(v): int((paint == v).sum()) for v in np.unique(paint[paint > 0])})
    save_window(viewer, out / "refine_2_corrections.png")

    t0 = time.monotonic()
    wait_for(widget, widget.refine)
    md = lab.metadata
    print(
        f"refine: {time.monotonic() - t0:.0f} s, labels {np.unique(lab.data).tolist()}, "
        f"scribbles {md['scribbles']}"
    )
    found = (lab.data == nuclei) & (paint != nuclei)
    print(f"pixels labelled {nuclei} beyond the painted ones: {int(found.sum())}")
    lab.mode = "pan_zoom"
    viewer.status = "Ready"
    save_window(viewer, out / "refine_3_refined.png")
    viewer.reset_view()
    save_window(viewer, out / "refine_4_refined_all.png")
    viewer.close()


if __name__ == "__main__":
    main()
