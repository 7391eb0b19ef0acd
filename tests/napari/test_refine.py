"""Correct a few pixels, press Refine (issue 12, the widget side): the record
of what the widget wrote into a result layer, which tells the user's edits apart.

Run headless with ``xvfb-run -a python -m pytest tests/napari``. Images are
tiny and runs short ('fast' preset, few iterations).
"""
import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_mmtseg._napari._edits import EditRecord  # noqa: E402


# ---------------------------------------------------------------- the record of edits (no viewer)


def test_edit_record_follows_undo_and_redo_of_its_writes():
    base = np.ones((4, 5), np.int32)
    rec = EditRecord(base, "src", "mmt")
    data = base.copy()
    data[0, 0], data[1, 1] = 5, 0  # painted, erased
    scr, edited = rec.edits(data)
    assert scr[0, 0] == 5 and scr.sum() == 5 and edited.sum() == 2

    # a write of 2s everywhere but the edits (what Refine does), as data_setitem would
    keep = edited.copy()
    idx = np.nonzero(~keep & (data != 2))
    write = (idx, data[idx].copy())
    data[idx] = 2
    rec.wrote(data, (slice(None), slice(None)), write, edited, keep, "mmt", model={"q": 1})
    scr, edited = rec.edits(data)
    assert scr[0, 0] == 5 and edited.sum() == 2 and rec.state.model == {"q": 1}  # edits kept

    undone = data.copy()
    undone[idx] = write[1]  # napari's undo of the write
    scr, edited = rec.edits(undone)
    assert edited.sum() == 2 and rec.state.model is None  # the 1s it brings back are no edits
    scr, edited = rec.edits(data)  # redo
    assert edited.sum() == 2 and rec.state.model == {"q": 1}
    data[3, 4] = 8
    assert rec.edits(data)[0][3, 4] == 8 and rec.edits(data)[1].sum() == 3
