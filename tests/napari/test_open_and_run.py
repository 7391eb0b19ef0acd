"""The widget as users meet it (issues 23 and 25): opened by napari's menus or a
script, every Run request answered once, the idle progress bar, the threads.

Run headless with ``xvfb-run -a python -m pytest tests/napari``.
"""

import threading

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

from napari_mmtseg._napari import _worker  # noqa: E402
from napari_mmtseg._napari._widget import MMTSegWidget  # noqa: E402

TIMEOUT = 60_000  # ms
FAST = dict(preset="fast", device="cpu", live_preview=False)
NAME = "MMT segmentation"  # the widget's display name in the manifest


def _image(shape=(32, 48), seed=0):
    rng = np.random.default_rng(seed)
    img = np.full(shape, 0.2, np.float32)
    img[:, shape[1] // 2 :] = 0.8
    return img + 0.05 * rng.standard_normal(shape).astype(np.float32)


def _messages(severity, start=0):
    return [str(n.message) for n in notification_manager.records[start:] if n.severity == severity]


def _finish(qtbot, widget, start, outcome="done"):
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        start()
    assert blocker.args == [outcome]


# ---------------------------------------------------------------- open paths


def _from_plugins_menu(viewer):
    """What Plugins > MMT segmentation does: napari's dock of the npe2 widget contribution."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-mmtseg", NAME)
    return widget


def _from_layers_segment_menu(viewer):
    """What Layers > Segment > MMT segmentation does: run the menu item's command."""
    from napari._app_model import get_app_model

    app = get_app_model()
    widget, _ = app.commands.execute_command("napari-mmtseg.make_widget").result()
    return widget


def _from_script(viewer):
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget, name=NAME)
    return widget


@pytest.mark.parametrize(
    "open_widget", [_from_plugins_menu, _from_layers_segment_menu, _from_script]
)
def test_every_open_path_preselects_the_result_for_corrections(
    qtbot, make_napari_viewer, open_widget
):
    """Issue 23: opened from the Plugins menu, "scribbles" stayed at "none" after a
    run (napari hands menu-opened widgets a proxy of the viewer), so the first
    Refine after painting failed."""
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    assert isinstance(widget, MMTSegWidget)
    viewer.add_image(_image(), name="im")
    _finish(qtbot, widget, lambda: widget(method="kim2020", max_iter=20, **FAST))
    lab = widget.result_layer
    assert lab is viewer.layers["im kim2020"] and widget.scribbles.value is lab
    lab.data_setitem((np.arange(10, 14), np.arange(20, 24)), 9)  # the user paints a correction
    n_errors = len(_messages(NotificationSeverity.ERROR))
    _finish(qtbot, widget, widget.refine_button.native.click)  # Refine, as the user presses it
    assert _messages(NotificationSeverity.ERROR, 0)[n_errors:] == []
    assert widget.result_layer is lab and lab.metadata["scribbles"]["pixels"] == 4


def test_each_result_method_writes_a_layer_named_after_it(qtbot, viewer_widget):
    """Issue 23: Refine with 'trainable' wrote into the MMT result, which kept its name."""
    viewer, widget = viewer_widget
    viewer.add_image(_image(), name="im")
    _finish(qtbot, widget, lambda: widget(method="mmt", max_iter=20, **FAST))
    mmt = widget.result_layer
    mmt.data_setitem((np.arange(4, 8), np.arange(4, 8)), 31)  # strokes of two new classes
    mmt.data_setitem((np.arange(4, 8), np.arange(36, 40)), 32)
    painted = mmt.data.copy()
    _finish(qtbot, widget, lambda: widget.refine(method="trainable"))
    trainable = widget.result_layer
    assert trainable is not mmt and trainable.name == "im trainable"
    assert mmt.name == "im mmt" and mmt.metadata["method"] == "mmt"
    np.testing.assert_array_equal(mmt.data, painted)  # the MMT result keeps the user's strokes
    assert trainable.metadata["method"] == "trainable" and set(np.unique(trainable.data)) == {
        31,
        32,
    }
    assert widget.scribbles.value is mmt  # the strokes stay the scribbles
    mmt.data_setitem((np.arange(20, 24), np.arange(36, 40)), 31)  # one more stroke, refine again
    _finish(qtbot, widget, widget.refine)
    assert widget.result_layer is trainable and trainable.name == "im trainable"
    assert [lay.name for lay in viewer.layers] == ["im", "im mmt", "im trainable"]


# ---------------------------------------------------------------- one answer per request


def test_every_run_request_ends_with_one_run_finished(qtbot, viewer_widget):
    """Issue 25: Run with no image never emitted run_finished (a script waiting for it
    hung), and a second Run while one was starting returned None without a word."""
    viewer, widget = viewer_widget
    said = []
    widget.run_finished.connect(said.append)
    n_errors = len(_messages(NotificationSeverity.ERROR))
    assert widget() is None  # no image layer
    assert said == ["error"]
    assert "image layer" in _messages(NotificationSeverity.ERROR)[n_errors:][0]

    viewer.add_image(_image(), name="im")
    n_info = len(_messages(NotificationSeverity.INFO))
    assert widget(max_iter=100_000, tol=0.0, min_labels=1) is not None
    assert widget.run() is None  # while the first is starting
    assert said == ["error", "busy"]
    qtbot.waitUntil(lambda: widget.progress_bar.value >= 2, timeout=TIMEOUT)
    assert widget.refine() is None  # while it runs
    assert said == ["error", "busy", "busy"]
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: len(said) == 4, timeout=TIMEOUT)
    qtbot.wait(100)
    assert said == ["error", "busy", "busy", "cancelled"]  # the run's own end, once
    busy = _messages(NotificationSeverity.INFO)[n_info:]
    assert len(busy) == 2 and all("in progress" in m for m in busy)
    _finish(qtbot, widget, lambda: widget(method="kmeans"))  # and the widget still runs
    assert said[-1] == "done" and len(said) == 5


# ---------------------------------------------------------------- progress bar


def test_idle_progress_bar_says_what_happened(qtbot, viewer_widget):
    """Issue 25: the idle bar read "0 / 1 iterations"."""
    viewer, widget = viewer_widget
    bar = widget.progress_bar.native
    assert "iteration" not in bar.text() and bar.text() == "no run yet"
    viewer.add_image(_image(), name="im")
    _finish(qtbot, widget, lambda: widget(method="kim2020", max_iter=15, min_labels=1, **FAST))
    assert bar.value() == bar.maximum()
    assert bar.text().startswith("done in ") and bar.text().endswith(" iterations")
    _finish(qtbot, widget, lambda: widget(method="kmeans"))  # no training iterations
    assert bar.text() == "done" and bar.value() == bar.maximum()
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(method="mmt", max_iter=100_000, tol=0.0, min_labels=1)
        qtbot.waitUntil(lambda: widget.progress_bar.value >= 2, timeout=TIMEOUT)
        assert bar.text().endswith(" / 100000 iterations")
        widget.cancel()
    assert bar.text() == "cancelled" and bar.value() == 0


# ---------------------------------------------------------------- threads


def test_no_napari_object_is_touched_off_the_main_thread(qtbot, make_napari_viewer, monkeypatch):
    """Issue 25: the warm-up thread made a napari Labels layer while the GUI thread
    added the user's image; with torch already imported, 2 to 4 of 4 fresh viewers
    failed to open that image ("'pixel' is not defined in the unit registry",
    napari#2681). Here: opening the widget (its warm-up thread) and a run with live
    preview make no napari layer and emit no napari event outside the main thread."""
    from napari.layers import Layer
    from napari.utils.events import EventEmitter

    main = threading.main_thread()
    off_main = []

    def watch(cls, name):
        real = getattr(cls, name)

        def spy(self, *args, **kwargs):
            if threading.current_thread() is not main:
                off_main.append(f"{cls.__name__}.{name} in {threading.current_thread().name}")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, spy)

    watch(Layer, "__init__")
    watch(EventEmitter, "__call__")
    monkeypatch.setattr(_worker, "_WARM", [])  # as in a fresh process: the warm-up runs again
    viewer = make_napari_viewer()
    widget = _from_script(viewer)
    viewer.add_image(_image(), name="im")
    _worker._WARM[0].join(timeout=60)
    assert not _worker._WARM[0].is_alive()
    _finish(qtbot, widget, lambda: widget(method="mmt", max_iter=20, preset="fast", device="cpu"))
    assert off_main == []
