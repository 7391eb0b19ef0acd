"""The "detail" slider under the result (_napari/_detail.py).

Run headless with ``xvfb-run -a python -m pytest tests/napari/test_detail.py``.
"""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari_mmtseg import segment  # noqa: E402
from napari_mmtseg._napari._detail import DetailControl  # noqa: E402
from napari_mmtseg._napari._edits import EditRecord  # noqa: E402
from napari_mmtseg._napari._widget import MMTSegWidget  # noqa: E402

TIMEOUT = 60_000


def _cells(n=72, seed=0):
    """Bright blobs of two brightnesses on a dark background, a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    img = np.full((n, n), 0.1)
    for i, (y, x) in enumerate(rng.integers(10, n - 10, size=(8, 2))):
        img[(yy - y) ** 2 + (xx - x) ** 2 < 30] = 0.5 + 0.3 * (i % 2)
    return (img + 0.02 * rng.standard_normal((n, n))).astype(np.float32)


@pytest.fixture
def result():
    return segment(_cells(), method="kmeans", k=4, output="regions", merge_threshold=3)


@pytest.fixture
def control(make_napari_viewer, result):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(result.labels.copy(), name="result")
    records = {str(layer.unique_id): EditRecord(layer.data, "img", "kmeans")}
    c = DetailControl(records)
    c.show_result(layer, (slice(None), slice(None)), result)
    return c, layer


def _slider(c):
    from napari_mmtseg._napari._detail import _qslider

    return _qslider(c.slider)


def test_shown_at_the_runs_own_level_and_hidden_without_a_hierarchy(control, result):
    c, layer = control
    assert c.visible and result.hierarchy is not None
    assert c.slider.value == pytest.approx(result.detail, abs=0.01)
    clusters = segment(_cells(), method="kmeans", k=4)  # clusters output: no hierarchy
    c.show_result(layer, (slice(None), slice(None)), clusters)
    assert not c.visible


def test_a_click_rewrites_the_layer_as_one_undo_step(control, result):
    c, layer = control
    before = layer.data.copy()
    c.slider.value = 1.0
    assert np.array_equal(layer.data, result.at(1.0, stable_ids=True))
    assert not np.array_equal(layer.data, before)
    layer.undo()
    assert np.array_equal(layer.data, before)


def test_a_drag_updates_live_and_its_release_is_one_undo_step(control, result):
    c, layer = control
    before = layer.data.copy()
    q = _slider(c)
    q.setSliderDown(True)  # emits sliderPressed, as a mouse press does
    for v in (0.9, 0.6, 0.0):
        c.slider.value = v
        assert np.array_equal(layer.data, result.at(v, stable_ids=True))  # live, while dragging
    q.setSliderDown(False)  # sliderReleased
    assert np.array_equal(layer.data, result.at(0.0, stable_ids=True))
    layer.undo()  # the whole drag, at once
    assert np.array_equal(layer.data, before)


def test_the_users_edits_survive_a_change_of_detail(control, result):
    c, layer = control
    painted = (slice(2, 6), slice(2, 6))
    index = np.nonzero(np.zeros(layer.data.shape, bool) | _mask(layer.data.shape, painted))
    layer.data_setitem(index, 99)
    c.slider.value = 1.0
    assert (layer.data[painted] == 99).all()
    outside = ~_mask(layer.data.shape, painted)
    assert np.array_equal(layer.data[outside], result.at(1.0, stable_ids=True)[outside])


def _mask(shape, where):
    m = np.zeros(shape, bool)
    m[where] = True
    return m


def test_the_widget_shows_the_slider_after_a_run(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(_cells(), name="cells")
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.detail.native.isHidden()
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(image=layer, method="kmeans", k=4, output="regions", merge_threshold=3)
    assert blocker.args == ["done"]
    assert not widget.detail.native.isHidden()
    widget.detail.slider.value = 1.0
    n_fine = widget.detail._target[2].hierarchy.n_fine
    assert np.unique(widget.result_layer.data).size == n_fine


def test_a_drag_keeps_the_users_edits_and_redo_brings_its_level_back(control, result):
    c, layer = control
    painted = (slice(2, 6), slice(2, 6))
    layer.data_setitem(np.nonzero(_mask(layer.data.shape, painted)), 99)
    before = layer.data.copy()
    q = _slider(c)
    q.setSliderDown(True)
    for v in (0.9, 0.0):
        c.slider.value = v
    q.setSliderDown(False)
    outside = ~_mask(layer.data.shape, painted)
    after = layer.data.copy()
    assert (after[painted] == 99).all() and np.array_equal(
        after[outside], result.at(0.0, stable_ids=True)[outside]
    )
    layer.undo()
    assert np.array_equal(layer.data, before)
    layer.redo()
    assert np.array_equal(layer.data, after)


def test_moving_one_level_keeps_the_ids_and_colours_of_the_regions_it_does_not_merge(
    control, result
):
    """Each level was numbered 1..R in raster order, so one merge renumbered (recoloured)
    most regions of the layer."""
    c, layer = control
    h = result.hierarchy
    grid = np.linspace(1.0, 0.0, 4001)
    cuts = np.array([h.cut(d) for d in grid])
    k = h.default + 2  # two levels coarser than the run's: each a single merge apart
    assert (cuts == k).any() and (cuts == k + 1).any() and h.n_fine - k > 6
    c.commit(grid[cuts == k][0])
    before = np.asarray(layer.data).copy()
    c.commit(grid[cuts == k + 1][0])
    after = np.asarray(layer.data)
    changed = np.unique(before[before != after])
    assert changed.size == 1  # the one region the merge absorbed, nothing else


def test_two_slider_steps_undone_leave_no_edits_and_redone_come_back(control, result):
    """Two releases of the slider, then two Ctrl+Z: the layer is the run's labels again,
    and the record of the widget's writes follows both undos (the pixels both steps changed
    hold the first step's old values), so a Refine sees no edits; it took every pixel the
    two steps changed for a brush stroke (19,311 px in a newcomer's trial). The ids of the
    finest level (up to 431 here) do not fit the run's uint8 labels: the layer is widened
    and so is the record."""
    c, layer = control
    rec = next(iter(c._records.values()))
    q = _slider(c)
    for v in (0.3, 1.0):
        q.setSliderDown(True)
        c.slider.value = v
        q.setSliderDown(False)
    assert np.array_equal(layer.data, result.at(1.0, stable_ids=True))
    assert not rec.edits(layer.data)[1].any()
    layer.undo()
    assert c.slider.value == pytest.approx(0.3)  # the slider follows the undo
    layer.undo()
    assert np.array_equal(layer.data, result.labels)
    assert c.slider.value == pytest.approx(round(result.detail, 2))
    scribbles, edited = rec.edits(layer.data)
    assert not edited.any() and not scribbles.any()
    layer.redo()
    layer.redo()
    assert np.array_equal(layer.data, result.at(1.0, stable_ids=True))
    assert not rec.edits(layer.data)[1].any()
    assert c.slider.value == pytest.approx(1.0) and layer.metadata["detail"] == 1.0


def test_the_record_follows_several_undos_and_redos_in_a_row():
    """Two widget writes that change some pixels twice, undone together, then redone."""
    data = np.zeros((4, 4), np.int32)
    rec = EditRecord(data, "img", "mmt")
    full = (slice(None), slice(None))
    levels = [data.copy()]
    for v, rows in ((1, slice(0, 3)), (2, slice(1, 4))):  # rows 1-2 written by both
        new = levels[-1].copy()
        new[rows] = v
        index = np.nonzero(new != levels[-1])
        rec.wrote(new, full, (index, levels[-1][index]), np.zeros((4, 4), bool), None, "mmt")
        levels.append(new)
    assert not rec.edits(levels[0])[1].any()  # both undone
    assert not rec.edits(levels[2])[1].any()  # both redone
    assert not rec.edits(levels[1])[1].any()  # one undone
    painted = levels[0].copy()
    painted[0, 0] = 7  # both undone, then a brush stroke: one edit
    assert rec.edits(painted)[1].sum() == 1


def test_painting_part_of_a_write_back_is_an_edit_not_an_undo():
    """A Refine's write added a 4 x 4 object; the user erases 12 of its 16 px back to the
    background: those are edits (the widget's write stands), not an undo of the write."""
    data = np.ones((8, 8), np.int32)
    rec = EditRecord(data, "img", "mmt")
    new = data.copy()
    new[2:6, 2:6] = 5
    index = np.nonzero(new != data)
    rec.wrote(new, (slice(None), slice(None)), (index, data[index]), np.zeros((8, 8), bool),
              None, "mmt")  # fmt: skip
    erased = new.copy()
    erased[2:5, 2:6] = 1  # 12 of the 16 px back to their old value
    assert rec.edits(erased)[1].sum() == 12 and len(rec.states) == 2


def test_clicks_and_keys_keep_the_slider_where_they_set_it_and_undo_follows(control, result):
    """A click or key (not a drag) wrote the level, and the layer's own data event during the
    write set the slider back to the level before; a step there and back then undone left
    the slider and the metadata at the wrong level (a review)."""
    c, layer = control
    for v in (0.0, 1.0, 0.0):
        c.slider.value = v
        assert c.slider.value == pytest.approx(v)
        assert np.array_equal(layer.data, result.at(v, stable_ids=True))
    layer.undo()
    assert np.array_equal(layer.data, result.at(1.0, stable_ids=True))
    assert c.slider.value == pytest.approx(1.0) and layer.metadata["detail"] == 1.0


def test_a_drag_back_to_an_earlier_level_then_undone_follows(control, result):
    c, layer = control
    q = _slider(c)
    for v in (0.0, 1.0, 0.0):
        q.setSliderDown(True)
        c.slider.value = v
        q.setSliderDown(False)
    layer.undo()
    assert np.array_equal(layer.data, result.at(1.0, stable_ids=True))
    assert c.slider.value == pytest.approx(1.0)


def test_the_slider_hides_when_the_run_it_shows_is_undone(control, result):
    """A second result written into the same layer, then undone: the slider drove the undone
    run's levels into the first run's labels (a review)."""
    from napari_mmtseg._napari._job import write_undoable

    c, layer = control
    rec = next(iter(c._records.values()))
    second = segment(_cells(seed=1), method="kmeans", k=3, output="regions", merge_threshold=3)
    region = (slice(None), slice(None))
    write = write_undoable(layer, region, second.labels.astype(layer.data.dtype))
    rec.wrote(layer.data, region, write, np.zeros(layer.data.shape, bool), None, "kmeans")
    c.show_result(layer, region, second)
    assert c.visible
    layer.undo()
    assert np.array_equal(layer.data, result.labels) and not c.visible
    layer.redo()
    assert c.visible


def test_the_slider_follows_undo_while_the_panel_is_hidden(make_napari_viewer, qtbot):
    """The slider read its own visibility back, False under a hidden panel, and stopped
    following undo there: shown again, it named a level the layer no longer held."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(_cells(), name="cells")
    widget = MMTSegWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=layer, method="kmeans", k=4, output="regions", merge_threshold=3)
    result, slider = widget.result_layer, widget.detail.slider
    auto = slider.value
    slider.value = 1.0
    dock.hide()
    result.undo()
    assert slider.value == pytest.approx(auto)
    result.redo()
    assert slider.value == pytest.approx(1.0)
    dock.show()
    assert not widget.detail.native.isHidden()
