"""The widget's worker: the one-run-at-a-time guard (``_napari/_worker.py``)."""

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.layers import Image  # noqa: E402

from napari_mmtseg._napari import _worker  # noqa: E402
from napari_mmtseg._napari._job import make_job  # noqa: E402


def test_a_run_ending_while_the_widget_closes_frees_the_guard(qtbot, monkeypatch):
    """The guard leaked when the run ended between :func:`stop` seeing the worker
    running and connecting to its end: every later Run of the session was refused
    as "busy"."""
    image = np.zeros((16, 16), np.float32)
    image[:, 8:] = 1.0
    run = _worker.Run(job=make_job(Image(image)), method="kmeans", update=False)
    worker = _worker.make_worker(run, dict(method="kmeans", preview_every=0))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        _worker.start(worker)
    # stop() looks at the worker in the moment before its last line marks it done
    monkeypatch.setattr(type(worker), "is_running", property(lambda self: True))
    _worker.stop(run)
    qtbot.wait(20)
    assert id(run) not in _worker.RUNNING
