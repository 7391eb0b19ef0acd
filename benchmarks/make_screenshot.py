"""Remake docs/images/screenshot.png: the napari window with the dock widget
and an MMT result over a sample image.

    xvfb-run -a python benchmarks/make_screenshot.py [--out docs/images/screenshot.png]

Takes about a minute on 2 CPU cores (mmt, 'fast' preset, at most 120 iterations).
The helpers here (a window, waiting for a run, saving the window) are also
used by ``make_refine_screenshots.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs/images"


def open_viewer(sample: str = "immunohistochemistry"):
    """A shown 1280x800 napari window with a bundled sample and the dock widget.

    Both as a user opens them: the sample from File > Open Sample, the widget from the
    Plugins menu (the plugin's npe2 manifest, ``napari.yaml``).
    """
    import napari

    viewer = napari.Viewer(show=True, title="napari — MMT segmentation")
    viewer.window.resize(1280, 800)
    viewer.open_sample("napari-mmtseg", sample)
    _, widget = viewer.window.add_plugin_dock_widget("napari-mmtseg", "MMT segmentation")
    return viewer, widget


def settle(n: int = 50) -> None:
    """Let Qt handle pending events (redraws) for about n x 10 ms."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    for _ in range(n):
        app.processEvents()
        time.sleep(0.01)


def wait_for(widget, start, timeout_s: float = 900) -> str:
    """Call ``start()`` (which starts a run of ``widget``) and wait for its outcome."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    done = []
    widget.run_finished.connect(done.append)
    start()
    t0 = time.monotonic()
    while not done and time.monotonic() - t0 < timeout_s:
        app.processEvents()
        time.sleep(0.01)
    widget.run_finished.disconnect(done.append)
    assert done == ["done"], done
    return done[0]


def save_window(viewer, out) -> Path:
    """Grab the whole window (toasts closed) into ``out`` as a 256-colour PNG."""
    from PIL import Image as PILImage
    from qtpy.QtWidgets import QApplication

    for toast in QApplication.allWidgets():  # napari's notification toasts, by class name
        if type(toast).__name__ == "NapariQtNotification" and toast.isVisible():
            toast.close()  # e.g. napari's PyQt5 deprecation notice over the canvas
    settle()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(out), canvas_only=False, flash=False)  # the whole window
    # a 256-colour palette keeps the PNG small enough for a repository
    PILImage.open(out).convert("RGB").quantize(colors=256).save(out, optimize=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DOCS_IMAGES / "screenshot.png"))
    ap.add_argument("--max-iter", type=int, default=120)
    args = ap.parse_args(argv)

    viewer, widget = open_viewer()
    wait_for(widget, lambda: widget(max_iter=args.max_iter))
    result = widget.result_layer
    result.opacity = 0.55
    viewer.reset_view()
    out = save_window(viewer, args.out)
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB), result: {result.name}, "
        f"{result.metadata['n_labels']} labels"
    )
    viewer.close()


if __name__ == "__main__":
    main()
