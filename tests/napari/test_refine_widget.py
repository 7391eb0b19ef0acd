"""Correct a few pixels, press Refine (issue 12, the widget side): the user's
edits of a result are the scribbles, the refined labels are one undoable
step that leaves the user's pixels alone, and a refine starts from the
previous result's networks.

Run headless with ``xvfb-run -a python -m pytest tests/napari``. Images are
tiny and runs short ('fast' preset, few iterations).
"""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

from napari_mmtseg._napari import _job, _worker  # noqa: E402
from napari_mmtseg._napari._edits import EditRecord  # noqa: E402
from napari_mmtseg._napari._widget import MMTSegWidget  # noqa: E402
from napari_mmtseg.refine import ERASED  # noqa: E402

TIMEOUT = 60_000  # ms
FAST = dict(preset="fast", device="cpu", live_preview=False)


def look_alike(seed=0, n=1):
    """Left (0.48) and middle (0.52) look alike under noise; right (0.95) differs.
    A (48, 64) image, or a stack of ``n`` of them (the odd ones mirrored)."""
    rng = np.random.default_rng(seed)
    img = np.full((48, 64), 0.48)
    img[:, 22:44] = 0.52
    img[:, 44:] = 0.95
    if n == 1:
        return (img + rng.normal(0, 0.04, img.shape)).astype(np.float32)
    planes = [img if i % 2 == 0 else img[:, ::-1] for i in range(n)]
    return np.stack([p + rng.normal(0, 0.04, p.shape) for p in planes]).astype(np.float32)


def _box(shape, y, x):
    """Indices of a (4, 10) box at (y, x) in the last two axes of ``shape`` (other axes 0)."""
    yy, xx = np.mgrid[y : y + 4, x : x + 10]
    lead = [np.zeros(yy.size, np.intp)] * (len(shape) - 2)
    return (*lead, yy.ravel(), xx.ravel())


def _finish(qtbot, widget, start, outcome="done"):
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        start()
    assert blocker.args == [outcome]


def _errors():
    return [
        n.message for n in notification_manager.records if n.severity == NotificationSeverity.ERROR
    ]


@pytest.fixture
def engine_calls(monkeypatch):
    """Every engine run or refine the widget starts: (its keyword arguments, its result).

    A refine of a result (:func:`napari_mmtseg.refine.iter_refine`) records its labels,
    strokes and model as ``labels``, ``strokes`` and ``init_model``."""
    calls = []
    real, real_refine = _job.iter_segment, _worker.iter_refine

    def record(kw, gen):
        entry = [kw, None]
        calls.append(entry)
        for ev in gen:
            entry[1] = ev
            yield ev

    def spy(image, **kw):
        yield from record(kw, real(image, **kw))

    def spy_refine(image, labels, strokes, model, **kw):
        info = dict(kw, labels=labels, strokes=strokes, init_model=model)
        yield from record(info, real_refine(image, labels, strokes, model, **kw))

    monkeypatch.setattr(_job, "iter_segment", spy)
    monkeypatch.setattr(_worker, "iter_refine", spy_refine)
    return calls


LEFT, MID = 30, 70  # the ids the user paints: no result here has that many labels


def _paint_corrections(lab):
    """The user's corrections of a result of ``look_alike``: the middle is
    painted MID, the left LEFT (new ids), one pixel erased. Each is an
    undoable edit, as with napari's brush."""
    assert LEFT not in lab.data and MID not in lab.data
    lab.data_setitem(_box(lab.data.shape, 20, 28), MID)
    lab.data_setitem(_box(lab.data.shape, 20, 5), LEFT)
    lab.data_setitem((np.array([40]), np.array([60])), 0)


# ---------------------------------------------------------------- the round trip


def test_edits_of_the_result_are_the_scribbles_and_refine_starts_from_its_networks(
    qtbot, viewer_widget, engine_calls
):
    viewer, widget = viewer_widget
    viewer.add_image(look_alike(), name="im")
    _finish(qtbot, widget, lambda: widget(method="mmt", max_iter=40, **FAST))
    lab = widget.result_layer
    first_kw, first = engine_calls[0]
    assert first_kw["keep_model"] is True and first.model is not None
    assert widget.scribbles.value is lab  # ready for: correct, press Refine
    _paint_corrections(lab)

    _finish(qtbot, widget, widget.refine)
    kw, _ = engine_calls[1]
    expected = np.zeros(lab.data.shape, np.int32)
    expected[_box(expected.shape, 20, 28)] = MID
    expected[_box(expected.shape, 20, 5)] = LEFT
    expected[40, 60] = ERASED  # "not this region"
    np.testing.assert_array_equal(kw["strokes"], expected)
    np.testing.assert_array_equal(kw["labels"], first.labels)  # the result as the run left it
    assert kw["init_model"] is first.model  # warm start from the previous result's networks
    assert kw["output"] == "regions"  # the result's output mode is kept
    assert len(viewer.layers) == 2 and widget.result_layer is lab  # written into the result
    md = lab.metadata["scribbles"]
    assert md == {"layer": "im mmt", "pixels": 81, "init_model": True, "kept_edits": 81}
    assert lab.metadata["output"]["refine"]["new_ids"] == [LEFT, MID]
    assert lab.metadata["params"]["output"] == "regions"


def test_refined_labels_take_the_scribble_ids(qtbot, viewer_widget):
    """Two regions that look alike, one class after Run, split by the corrections."""
    viewer, widget = viewer_widget
    viewer.add_image(look_alike(), name="im")
    _finish(qtbot, widget, lambda: widget(method="mmt", max_iter=40, output="clusters", **FAST))
    lab = widget.result_layer
    left, mid = lab.data[:, :20], lab.data[:, 24:42]
    assert np.bincount(left.ravel()).argmax() == np.bincount(mid.ravel()).argmax()
    _paint_corrections(lab)
    _finish(qtbot, widget, widget.refine)
    assert (lab.data[:, 24:42] == MID).mean() > 0.95  # the whole middle, not just the strokes
    assert (lab.data[:, :20] == LEFT).mean() > 0.95
    assert not np.isin(lab.data[:, 46:], [LEFT, MID]).any()  # the bright part is neither


def test_refine_is_one_undo_step_and_leaves_the_users_pixels_alone(
    qtbot, viewer_widget, engine_calls
):
    viewer, widget = viewer_widget
    viewer.add_image(look_alike(), name="im")
    _finish(qtbot, widget, lambda: widget(method="kim2020", max_iter=40, **FAST))
    lab = widget.result_layer
    _paint_corrections(lab)
    corrected = lab.data.copy()

    def refine_and_paint():
        widget.refine()
        lab.data_setitem((np.array([2]), np.array([60])), 42)  # painted while it trains

    _finish(qtbot, widget, refine_and_paint)
    painted = corrected.copy()
    painted[2, 60] = 42
    assert lab.data[2, 60] == 42 and lab.data[40, 60] == 0  # painted and erased pixels kept
    assert (lab.data[_box(lab.data.shape, 20, 28)] == MID).all()
    assert not np.array_equal(lab.data, painted)  # it did rewrite the rest

    lab.undo()  # one Ctrl+Z: the labels as they were before the refined ones came
    np.testing.assert_array_equal(lab.data, painted)
    # the next Refine follows the undo: the labels it had written are no edits of the user's
    _finish(qtbot, widget, widget.refine)
    scribbles = engine_calls[-1][0]["strokes"]
    expected = np.where(painted != engine_calls[0][1].labels, painted, 0)
    np.testing.assert_array_equal(scribbles, np.where(painted == 0, ERASED, expected))
    assert set(np.unique(scribbles)) == {ERASED, 0, LEFT, MID, 42}
    # ... and so does it after an undo and a redo; earlier corrections stay scribbles
    after = lab.data.copy()
    lab.undo()
    lab.redo()
    np.testing.assert_array_equal(lab.data, after)
    lab.data_setitem((np.array([45]), np.array([50])), 9)
    _finish(qtbot, widget, widget.refine)
    np.testing.assert_array_equal(
        engine_calls[-1][0]["strokes"] > 0,
        (scribbles > 0) | (np.arange(48)[:, None] == 45) & (np.arange(64) == 50),
    )


# ---------------------------------------------------------------- other scribbles layers, trainable


def test_trainable_needs_scribbles_from_any_labels_layer(qtbot, viewer_widget, engine_calls):
    viewer, widget = viewer_widget
    viewer.add_image(look_alike(), name="im")
    n_errors = len(_errors())
    assert widget(method="trainable") is None  # Run: nothing to learn from
    [message] = _errors()[n_errors:]
    assert "scribbles" in message and "Refine" in message and not engine_calls

    viewer.add_labels(np.zeros((10, 10), np.int32), name="other shape")
    marks = viewer.add_labels(np.zeros((48, 64), np.int32), name="marks")
    assert list(widget.scribbles.choices) == [None, marks]  # Labels layers of the image's shape
    marks.data_setitem(_box((48, 64), 20, 5), 3)
    marks.data_setitem(_box((48, 64), 20, 28), 7)
    marks.data_setitem(_box((48, 64), 20, 50), 9)
    _finish(qtbot, widget, lambda: widget.refine(scribbles=marks))
    lab = widget.result_layer
    assert lab is not marks and lab.name == "im trainable"  # no result to refine: a new layer
    assert set(np.unique(lab.data)) == {3, 7, 9} and (lab.data[:, 24:42] == 7).mean() > 0.95
    np.testing.assert_array_equal(engine_calls[0][0]["scribbles"], marks.data)
    assert engine_calls[0][0]["init_model"] is None

    # a result of a learned method, then the same marks refine it (written into it, undoable)
    _finish(qtbot, widget, lambda: widget(method="mmt", max_iter=30, **FAST))
    result = widget.result_layer
    before = result.data.copy()
    widget.scribbles.value = marks
    _finish(qtbot, widget, lambda: widget.refine(output="regions"))
    kw = engine_calls[-1][0]
    assert kw["init_model"] is engine_calls[-2][1].model and kw["output"] == "regions"
    np.testing.assert_array_equal(kw["strokes"], marks.data)  # painted ids, as painted
    assert widget.result_layer is result
    # the painted pixels take their ids; regions that no stroke touched keep theirs
    assert all((result.data[marks.data == v] == v).all() for v in (3, 7, 9))
    assert set(np.unique(result.data)) >= {3, 7, 9}
    result.undo()
    np.testing.assert_array_equal(result.data, before)


def test_refine_needs_scribbles_and_a_method_that_learns(qtbot, viewer_widget, engine_calls):
    viewer, widget = viewer_widget
    viewer.add_image(look_alike(), name="im")
    n_errors = len(_errors())
    _finish(qtbot, widget, widget.refine, outcome="error")  # no scribbles layer chosen
    _finish(qtbot, widget, lambda: widget(method="kmeans", k=2, **FAST))
    _finish(qtbot, widget, widget.refine, outcome="error")  # kmeans learns nothing
    widget.method.value = "kim2020"
    _finish(qtbot, widget, widget.refine, outcome="error")  # the result is unchanged: no scribbles
    new = _errors()[n_errors:]
    assert len(new) == 3 and len(engine_calls) == 1
    assert "choose a Labels layer" in new[0] and "cannot take scribbles" in new[1]
    assert "no scribbles" in new[2]
    with pytest.raises(ValueError, match="shape"):
        widget.refine(scribbles=viewer.add_labels(np.zeros((5, 5), np.int32)))
    # a result another widget wrote (the dock closed and opened again): its edits are unknown,
    # and taking all its labels as scribbles would not be what the user meant
    other = MMTSegWidget(viewer)
    assert other.refine(scribbles=widget.result_layer) is None
    assert "did not write" in _errors()[-1] and len(engine_calls) == 1
    other.close()

    # a kmeans result refined by kim2020: trained from scratch (nothing to start from), said so
    widget.result_layer.data_setitem(_box((48, 64), 20, 28), 7)
    _finish(qtbot, widget, widget.refine)
    assert engine_calls[-1][0]["init_model"] is None
    assert widget.result_layer.metadata["scribbles"]["init_model"] is False
    said = [n.message for n in notification_manager.records if "made with kmeans" in n.message]
    assert said and "has no networks to start from" in said[-1]
    assert "choose kmeans" not in said[-1]  # advice to refine with a method Refine refuses


# ---------------------------------------------------------------- stacks


def test_refine_a_stack_slice_by_slice_or_whole(qtbot, viewer_widget, engine_calls):
    viewer, widget = viewer_widget
    viewer.add_image(look_alike(n=2), name="st")
    _finish(
        qtbot,
        widget,
        lambda: widget(method="kim2020", max_iter=30, current_slice_only=False, **FAST),
    )
    lab = widget.result_layer
    first = lab.data.copy()
    # corrections on slice 1 only (mirrored: its middle is at x 20..41, its left at 44..)
    assert LEFT not in lab.data and MID not in lab.data
    lab.data_setitem((np.full(40, 1), *_box((48, 64), 20, 28)[-2:]), MID)
    lab.data_setitem((np.full(40, 1), *_box((48, 64), 20, 50)[-2:]), LEFT)

    viewer.dims.set_current_step(0, 1)
    _finish(qtbot, widget, lambda: widget.refine(current_slice_only=True))
    kw = engine_calls[-1][0]
    assert kw["strokes"].shape == (48, 64) and set(np.unique(kw["strokes"])) == {0, LEFT, MID}
    np.testing.assert_array_equal(lab.data[0], first[0])  # the other slice untouched
    assert (lab.data[1, :, 24:40] == MID).mean() > 0.9 and lab.metadata["slice"] == (1,)

    _finish(qtbot, widget, lambda: widget.refine(current_slice_only=False))
    kw = engine_calls[-1][0]
    assert kw["strokes"].shape == (2, 48, 64) and not kw["strokes"][0].any()
    assert kw["init_model"] is engine_calls[-2][1].model  # from the slice's refine
    # slice 0 learned from slice 1's strokes: its middle and left are regions apart now
    mid0, left0 = lab.data[0, :, 24:40], lab.data[0, :, :20]
    m, lf = np.bincount(mid0.ravel()).argmax(), np.bincount(left0.ravel()).argmax()
    assert m != lf and (mid0 == m).mean() > 0.9 and (left0 == lf).mean() > 0.9

    # trainable fits one classifier on the scribbled slices and labels every slice with it
    _finish(qtbot, widget, lambda: widget.refine(method="trainable"))
    assert engine_calls[-1][0]["init_model"] is None
    tl = widget.result_layer
    assert tl is not lab and tl.name == "st trainable"
    assert (tl.data[0, :, 24:40] == MID).mean() > 0.9
    assert (tl.data[1, :, 24:40] == MID).mean() > 0.9 and (tl.data[1, :, 46:] == LEFT).mean() > 0.9


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


def test_after_undoing_an_update_of_the_result_refine_starts_from_the_run_it_returns_to(
    make_napari_viewer, qtbot
):
    """An MMT result of a stack, one slice updated by a k-means run ("current slice only",
    "update previous result"), then Ctrl+Z: the pixels were the MMT result's again but the
    record still named k-means and the metadata too, so a Refine of that slice took no MMT
    networks (a newcomer's trial: a 20 px new-id stroke in the background renamed 13,354
    px). The record follows the undo and the layer's metadata is put back."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(look_alike(n=3), name="img")
    widget = MMTSegWidget(viewer)
    _finish(qtbot, widget, lambda: widget(image=layer, method="mmt", max_iter=30,
                                          current_slice_only=False, **FAST))  # fmt: skip
    result = widget.result_layer
    mmt_labels = np.array(result.data)
    viewer.dims.set_current_step(0, 1)
    _finish(qtbot, widget, lambda: widget(method="kmeans", k=3, update_previous=True,
                                          output="clusters", current_slice_only=True,
                                          **FAST))  # fmt: skip
    assert result.metadata["method"] == "kmeans"
    result.undo()
    assert np.array_equal(result.data, mmt_labels)
    new_id = int(mmt_labels.max()) + 7
    box = _box(result.data.shape, 20, 5)
    box = (np.ones_like(box[0]), *box[1:])  # on slice 1
    result.data_setitem(box, new_id)
    painted = np.array(result.data)
    _finish(qtbot, widget, lambda: widget.refine(scribbles=result, method="mmt",
                                                 current_slice_only=True, **FAST))  # fmt: skip
    assert result.metadata["scribbles"]["init_model"]  # from the MMT run's networks
    assert result.metadata["method"] == "mmt"
    # the MMT result's regions output kept: a new id in the background marks an object
    assert (result.data != painted).sum() < 0.1 * painted[1].size


def test_after_undoing_a_clusters_update_refine_keeps_the_regions_shown(make_napari_viewer, qtbot):
    """A regions run, an "update previous result" run with clusters chosen, Ctrl+Z: the
    regions are back, but the form's clusters (chosen for the undone run) still replaced
    them in the next Refine, so a new id painted on one disc took three others."""
    from conftest import sixteen_discs

    img, centres = sixteen_discs()
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    layer = viewer.add_image(img)
    _finish(qtbot, widget, lambda: widget(image=layer, method="mmt", **FAST))
    result = widget.result_layer
    regions = np.array(result.data)
    _finish(qtbot, widget, lambda: widget(image=layer, output="clusters", update_previous=True,
                                          method="mmt", **FAST))  # fmt: skip
    result.undo()
    np.testing.assert_array_equal(result.data, regions)
    widget.set_field("update_previous", False)
    y, x = centres[0]
    result.data_setitem((np.full(7, y), np.arange(x - 3, x + 4)), 99)
    _finish(qtbot, widget, lambda: widget.refine(scribbles=result))
    assert sum(int(result.data[c] == 99) for c in centres) == 1


def test_the_model_section_says_a_refine_replaced_the_kept_model(make_napari_viewer, qtbot):
    """After a Refine the Model section keeps the refined networks (Save and Apply use
    them) but read as before, so nothing said the model had changed."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    layer = viewer.add_image(look_alike())
    _finish(qtbot, widget, lambda: widget(image=layer, method="mmt", max_iter=10, **FAST))
    before = widget.model_panel.model
    assert "strokes" not in widget.model_panel.info.value
    result = widget.result_layer
    result.data_setitem(_box(result.data.shape, 20, 48), int(result.data.max()) + 1)
    _finish(qtbot, widget, lambda: widget.refine(scribbles=result))
    assert widget.model_panel.model is not before
    assert "trained with strokes" in widget.model_panel.info.value


def test_an_output_chosen_while_a_run_goes_holds_for_the_next_refine(make_napari_viewer, qtbot):
    """Clearing the choice when a run ended also dropped one made while it ran: the form
    said clusters, the Refine kept the layer's regions."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    layer = viewer.add_image(look_alike())
    _finish(qtbot, widget, lambda: widget(image=layer, method="mmt", max_iter=10, **FAST))
    output = next(w for f, w in widget._main if f.name == "output")

    def run_then_choose():
        widget.run()  # the run has read the form: clusters is for what comes next
        output.value = "clusters"

    _finish(qtbot, widget, run_then_choose)
    result = widget.result_layer
    assert result.metadata["params"]["output"] == "regions"
    result.data_setitem(_box(result.data.shape, 20, 48), int(result.data.max()) + 1)
    _finish(qtbot, widget, lambda: widget.refine(scribbles=result))
    assert result.metadata["params"]["output"] == "clusters"


@pytest.mark.parametrize("docked", [True, False])
def test_removing_the_layer_being_refined_cancels_the_refine(make_napari_viewer, qtbot, docked):
    """The result layer deleted while a Refine trained came back as a new layer with none
    of its undo history. Docked, napari's layer events stop the run at once; driven by a
    script (not docked) the result is dropped when it comes."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    if docked:
        viewer.window.add_dock_widget(widget)
    layer = viewer.add_image(look_alike(), name="im")
    _finish(qtbot, widget, lambda: widget(image=layer, method="mmt", max_iter=10, **FAST))
    result = widget.result_layer
    result.data_setitem(_box(result.data.shape, 20, 48), int(result.data.max()) + 1)

    def refine_then_delete():
        assert widget.refine(scribbles=result) is not None
        viewer.layers.remove(result)

    _finish(qtbot, widget, refine_then_delete, outcome="cancelled")
    assert [lay.name for lay in viewer.layers] == ["im"]
    assert widget.result_layer is None  # it pointed at the removed layer
    assert widget.run_button.enabled and widget.refine_button.enabled


def test_the_detail_slider_stays_while_a_refine_goes(make_napari_viewer, qtbot):
    """Moved while a Refine trained, the slider wrote a level into the layer being refined,
    and the Refine's write then took that level for the user's edits."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget)
    layer = viewer.add_image(look_alike(), name="im")
    _finish(qtbot, widget, lambda: widget(image=layer, method="mmt", max_iter=10,
                                          output="regions", **FAST))  # fmt: skip
    result, slider = widget.result_layer, widget.detail.slider
    assert not widget.detail.native.isHidden() and slider.enabled
    level = slider.value
    result.data_setitem(_box(result.data.shape, 20, 48), int(result.data.max()) + 1)

    def refine_and_move():
        assert widget.refine(scribbles=result) is not None
        painted = result.data.copy()
        slider.value = 1.0 if level < 0.5 else 0.0
        assert slider.value == level and not slider.enabled
        np.testing.assert_array_equal(result.data, painted)

    _finish(qtbot, widget, refine_and_move)
    assert slider.enabled
    assert result.metadata["scribbles"]["pixels"] == 40
