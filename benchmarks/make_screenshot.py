"""Remake docs/images/screenshot.png: the napari window with the dock widget
and an MMT result over a sample image.

    xvfb-run -a python benchmarks/make_screenshot.py [--out docs/images/screenshot.png]

Takes about a minute on 2 CPU cores (mmt, 'fast' preset, at most 120 iterations).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs/images/screenshot.png"))
    ap.add_argument("--max-iter", type=int, default=120)
    args = ap.parse_args(argv)

    import napari
    from PIL import Image as PILImage
    from qtpy.QtWidgets import QApplication

    from napari_mmtseg._napari._sample_data import immunohistochemistry
    from napari_mmtseg._napari._widget import MMTSegWidget

    viewer = napari.Viewer(show=True, title="napari — MMT segmentation")
    viewer.window._qt_window.resize(1280, 800)
    [(data, kwargs, _)] = immunohistochemistry()
    viewer.add_image(data, **kwargs)
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MMT segmentation", area="right")
    app = QApplication.instance()

    done = []
    widget.run_finished.connect(done.append)
    widget(max_iter=args.max_iter)
    t0 = time.monotonic()
    while not done and time.monotonic() - t0 < 600:
        app.processEvents()
        time.sleep(0.01)
    assert done == ["done"], done
    viewer.layers[-1].opacity = 0.55
    viewer.reset_view()
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # e.g. napari's PyQt5 deprecation notice over the canvas
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.window._qt_window.grab().save(str(out))
    # a 256-colour palette keeps the PNG small enough for a repository
    PILImage.open(out).convert("RGB").quantize(colors=256).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB), result: {viewer.layers[-1].name}, "
          f"{viewer.layers[-1].metadata['n_labels']} labels")
    viewer.close()


if __name__ == "__main__":
    main()
