"""How fluid does napari stay while the plugin trains in its worker thread?

A QTimer asks to fire every 10 ms on the GUI thread; the gaps between its
firings measure how long the Qt event loop was blocked. First a short idle
baseline, then a run of the dock widget (mmt, 'fast' preset, 256x256 image,
live preview on) from the Run click to the result layer.

    xvfb-run -a python benchmarks/gui_responsiveness.py [--threads N] [--size 256]

--threads 0 (default) uses the widget's default: all cores but one.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np


def _stats(gaps_ms: np.ndarray) -> str:
    if gaps_ms.size == 0:
        return "no ticks"
    return (
        f"ticks {gaps_ms.size:5d}  max gap {gaps_ms.max():6.1f} ms  "
        f"p99 {np.percentile(gaps_ms, 99):6.1f} ms  p95 {np.percentile(gaps_ms, 95):5.1f} ms  "
        f"median {np.median(gaps_ms):5.1f} ms  gaps > 100 ms: {(gaps_ms > 100).sum()}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: widget default)")
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    ap.add_argument("--method", default="mmt")
    ap.add_argument("--max-iter", type=int, default=0, help="0: the preset's")
    ap.add_argument("--verbose", action="store_true", help="list the gaps over 50 ms")
    args = ap.parse_args(argv)

    from qtpy.QtCore import QElapsedTimer, QTimer
    from qtpy.QtWidgets import QApplication
    from skimage import data
    from skimage.transform import resize

    import napari

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    clock = QElapsedTimer()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))

    def measure(seconds=None, until=None, action=None):
        ticks.clear()
        clock.start()
        timer.start()
        t0 = time.monotonic()
        if action is not None:
            QTimer.singleShot(200, action)
        while True:
            app.processEvents()
            time.sleep(0.001)
            if seconds is not None and time.monotonic() - t0 >= seconds:
                break
            if until is not None and until():
                break
        timer.stop()
        return np.diff(np.asarray(ticks)), time.monotonic() - t0

    img = resize(
        data.immunohistochemistry(), (args.size, args.size), preserve_range=True, anti_aliasing=True
    ).astype(np.uint8)
    viewer.add_image(img, name="ihc", rgb=True)
    for _ in range(100):  # let the window settle
        app.processEvents()
        time.sleep(0.01)
    idle, _ = measure(seconds=2.0)
    opened = {}

    def open_widget():
        t = time.perf_counter()  # as napari opens it: the plugin's npe2 manifest
        _, opened["widget"] = viewer.window.add_plugin_dock_widget(
            "napari-mmtseg", "MMT segmentation"
        )
        opened["ms"] = 1e3 * (time.perf_counter() - t)

    def warming_up() -> bool:
        """Whether the widget's background warm-up (a thread of that name) still runs."""
        return any(t.name == "mmtseg-warm-up" for t in threading.enumerate())

    # opening the widget starts a background warm-up (imports): measure until it is
    # over (at least 4 s), so that its imports are not counted in the run
    t_open = time.monotonic()
    after_open, open_s = measure(
        until=lambda: time.monotonic() - t_open >= 4.2 and not warming_up(),
        action=open_widget,
    )
    widget = opened["widget"]
    widget.method.value = args.method
    widget.preset.value = "fast"
    widget.threads.value = args.threads
    if args.max_iter:
        widget.param_widgets["max_iter"].value = args.max_iter
    done = []
    widget.run_finished.connect(done.append)
    events = []

    def count(ev):  # connected after the widget's handler: runs once it has handled ev
        events.append((clock.nsecsElapsed() / 1e6, ev))

    clicked = {}

    def click():
        t = time.perf_counter()
        widget.run_button.native.click()  # creates the preview layer, starts the worker
        clicked["ms"] = 1e3 * (time.perf_counter() - t)
        widget.worker.yielded.connect(count)

    run, seconds = measure(until=lambda: bool(done), action=click)
    res = widget.result_layer
    iters = max((getattr(e, "iteration", 0) for _, e in events), default=0)

    print(
        f"napari {napari.__version__}, {os.cpu_count()} CPU cores, {widget.device_info.value}; "
        f"{args.method} on {args.size}x{args.size} RGB, live preview every >= 0.3 s"
    )
    print(f"idle baseline (2 s):     {_stats(idle)}")
    print(
        f"opening the widget took {opened['ms']:.0f} ms on the GUI thread; the {open_s:.1f} s "
        f"after it (background warm-up, until done):\n                         {_stats(after_open)}"
    )
    print(f"Run click handler (adds the preview layer, starts the worker): {clicked['ms']:.0f} ms")
    print(
        f"during the run ({seconds:4.1f} s, {iters} iterations, outcome {done[0]}, "
        f"result '{res.name}' with {res.metadata.get('n_labels')} labels):"
    )
    print(f"                         {_stats(run)}")
    if args.verbose:
        t_ticks = np.asarray(ticks)[1:]
        for t_end, gap in zip(t_ticks[run > 50], run[run > 50]):
            before = [(t, e) for t, e in events if t <= t_end]
            t, e = before[-1] if before else (0.0, None)
            what = type(e).__name__ + (f" it {e.iteration}" if hasattr(e, "iteration") else "")
            what += " +preview" if getattr(e, "preview", None) is not None else ""
            print(
                f"  gap {gap:6.1f} ms ending at {t_end / 1e3:6.2f} s; last event handled by "
                f"{t / 1e3:6.2f} s ({what})"
            )
    viewer.close()


if __name__ == "__main__":
    main()
