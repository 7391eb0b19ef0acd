"""The form's stack controls: one model or each slice, and a 3D layer as a Z stack (regions
joined in 3D) or a time-lapse (regions per frame), from its axis labels or the form."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_mmtseg._napari._stack import stack_axes  # noqa: E402
from napari_mmtseg.layout import slice_layout  # noqa: E402

TIMEOUT = 60_000  # ms


def _column(n=4, size=24):
    """A bright square through every slice of a dark stack (one nucleus spanning Z)."""
    rng = np.random.default_rng(0)
    img = np.full((n, size, size), 0.1) + rng.normal(0, 0.02, (n, size, size))
    img[:, 6:18, 6:18] = 0.9
    return img.astype(np.float32)


def _run(qtbot, widget, **values):
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(**values)
    assert blocker.args == ["done"]


def _square_ids(labels):
    return {int(np.bincount(s[6:18, 6:18].ravel()).argmax()) for s in labels}


@pytest.mark.parametrize(
    "axis_labels, choice, joined",
    [
        (("z", "y", "x"), "auto", True),  # labelled depth: one id through the stack
        (None, "auto", False),  # napari's default labels: frames, as the engine's rule
        (None, "z", True),  # the form says Z
        (("z", "y", "x"), "t", False),  # the form says time, whatever the labels
    ],
)
def test_a_3d_layer_is_a_z_stack_by_its_axis_labels_or_the_form(
    qtbot, viewer_widget, axis_labels, choice, joined
):
    viewer, widget = viewer_widget
    kw = {} if axis_labels is None else {"axis_labels": axis_labels}
    viewer.add_image(_column(), name="st", **kw)
    _run(qtbot, widget, method="kmeans", k=2, output="regions", stack_axis=choice)
    ids = _square_ids(viewer.layers["st kmeans"].data)
    assert (len(ids) == 1) == joined, ids


def test_the_stack_control_reaches_the_engine(qtbot, viewer_widget, monkeypatch):
    from napari_mmtseg._napari import _job

    seen = []
    real = _job.iter_segment

    def recording(image, **kw):
        seen.append((kw.get("stack"), kw.get("axes")))
        return real(image, **kw)

    monkeypatch.setattr(_job, "iter_segment", recording)
    viewer, widget = viewer_widget
    viewer.add_image(_column(n=2), name="st", axis_labels=("z", "y", "x"))
    assert widget.params()["stack"] == "one_model"
    _run(qtbot, widget, method="kmeans", k=2, stack="per_slice")
    assert seen == [("per_slice", "ZYX")]


def test_stack_axes_letters():
    tzyx = slice_layout((2, 3, 8, 8), None)
    assert stack_axes(tzyx, ("t", "z", "y", "x"), "auto") == "TZYX"
    assert stack_axes(tzyx, ("0", "1", "2", "3"), "auto") is None
    assert stack_axes(tzyx, None, "z") == "TZYX"
    assert stack_axes(tzyx, None, "t") == "TTYX"
    assert stack_axes(slice_layout((8, 8), None), ("z", "x"), "z") is None
    ch = slice_layout((5, 8, 8, 3), -1)  # channels last: letters for the labels' axes
    assert stack_axes(ch, ("depth", "y", "x"), "auto") == "ZYX"
    # an axis of length 1 is neither Y nor a stack axis (the engine refuses two Ys)
    assert stack_axes(slice_layout((1, 3, 8, 8), None), None, "z") == "QZYX"
