"""Time the "detail" slider on a 1024 x 1024 result: live updates while dragging, and a release.

A Felzenszwalb run (regions output, with the default merge, so the result has a region
hierarchy) of scikit-image's ``astronaut`` resized to 1024 x 1024 goes into a Labels layer of
a (hidden) napari viewer; the slider is dragged over a sweep of levels and released, and each
step's time (labels looked up, written into the layer, layer redrawn; Qt events processed) is
printed. Goal: each live update under 100 ms. docs/performance.md has the figures::

    QT_QPA_PLATFORM=offscreen PYTHONPATH=src python benchmarks/detail_slider.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np


def _result(size: int):
    from skimage import data
    from skimage.transform import resize

    from napari_mmtseg import segment

    img = (resize(data.astronaut(), (size, size), anti_aliasing=True) * 255).astype(np.uint8)
    return segment(img, method="felzenszwalb", output="regions", merge_threshold=3)


def main(size: int = 1024) -> int:
    """Print the live-update and release times of the slider on a ``size`` x ``size`` result."""
    from qtpy.QtWidgets import QApplication, QSlider

    import napari

    t = time.perf_counter()
    result = _result(size)
    print(f"run: {time.perf_counter() - t:.1f} s, {result.hierarchy.n_fine} finest regions")
    viewer = napari.Viewer(show=False)
    layer = viewer.add_labels(result.labels.copy(), name="result")
    # the dock widget as napari opens it (its npe2 manifest); its detail control shows the result
    _, widget = viewer.window.add_plugin_dock_widget("napari-mmtseg", "MMT segmentation")
    control = widget.detail
    control.show_result(layer, (slice(None), slice(None)), result)
    q = control.slider.native.findChildren(QSlider)[0]
    app = QApplication.instance()
    live = []
    q.setSliderDown(True)
    for v in np.round(np.linspace(0.0, 1.0, 21), 2):
        t = time.perf_counter()
        control.slider.value = float(v)
        app.processEvents()
        live.append(time.perf_counter() - t)
    t = time.perf_counter()
    q.setSliderDown(False)
    app.processEvents()
    release = time.perf_counter() - t
    t = time.perf_counter()
    lut = result.hierarchy.labels(result.hierarchy.cut(0.5))
    lookup = time.perf_counter() - t
    del lut
    ms = [1000 * s for s in live]
    print(
        f"{size} x {size}: live update median {statistics.median(ms):.0f} ms, max {max(ms):.0f}"
        f" ms over {len(ms)} levels; release (one undo step) {1000 * release:.0f} ms;"
        f" labels lookup alone {1000 * lookup:.0f} ms"
    )
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
