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
    """A shown 1280x800 napari window with a bundled sample and the dock widget."""
    import napari
    from napari_mmtseg._napari import _sample_data
    from napari_mmtseg._napari._widget import MMTSegWidget

    viewer = napari.Viewer(show=True, title="napari — MMT segmentation")
    viewer.window._qt_window.resize(1280, 800)
    [(data, kwargs, _)] = getattr(_sample_data, sample)()
    viewer.add_image(data, **kwargs)
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MMT segmentation", area="right")
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
    from napari._qt.dialogs.qt_notification import NapariQtNotification
    from PIL import Image as PILImage

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # e.g. napari's PyQt5 deprecation notice over the canvas
    settle()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.window._qt_window.grab().save(str(out))
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
    viewer.layers[-1].opacity = 0.55
    viewer.reset_view()
    out = save_window(viewer, args.out)
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB), result: {viewer.layers[-1].name}, "
        f"{viewer.layers[-1].metadata['n_labels']} labels"
    )
    viewer.close()


if __name__ == "__main__":
    main()
