"""The napari dock widget, the manifest and the sample data.

Run headless with ``xvfb-run -a python -m pytest tests/napari``. Images are
tiny and runs short: the whole file takes well under a minute on 2 cores.
"""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.layers import Image, Labels  # noqa: E402
from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

from napari_mmtseg._napari import _fields, _sample_data  # noqa: E402
from napari_mmtseg._napari._widget import MMTSegWidget  # noqa: E402

TIMEOUT = 60_000  # ms; generous for a busy 2-core machine


def _image(shape=(24, 24), seed=0):
    """Two flat regions plus noise: any method finds them."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    img[..., : shape[-1] // 2] = 1.0
    return img + 0.05 * rng.standard_normal(shape).astype(np.float32)


def _run(qtbot, widget, outcome="done", **values):
    """One run to its end: ``widget(**values)`` if values are given, else a click on Run."""
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        if values:
            widget(**values)
        else:
            widget.run_button.native.click()
    assert blocker.args == [outcome]


def _errors():
    return [
        n.message for n in notification_manager.records if n.severity == NotificationSeverity.ERROR
    ]


# ---------------------------------------------------------------- manifest, samples


def test_manifest_is_valid():
    import npe2

    pm = npe2.PluginManifest.from_distribution("napari-mmtseg")
    assert pm.name == "napari-mmtseg"
    assert pm.display_name == "MMT segmentation"
    assert [w.display_name for w in pm.contributions.widgets] == ["MMT segmentation"]
    assert len(pm.contributions.sample_data) >= 2
    assert "napari/layers/segment" in pm.contributions.menus
    pm.validate_imports()  # every python_name resolves


@pytest.mark.parametrize("name", ["astronaut", "immunohistochemistry", "cell", "blobs_timelapse"])
def test_sample_data_loads_offline(name):
    [(data, kwargs, kind)] = getattr(_sample_data, name)()
    assert kind == "image" and isinstance(data, np.ndarray) and data.ndim >= 2
    assert data.size > 0 and "name" in kwargs


# ---------------------------------------------------------------- widget


def test_widget_defaults_and_selection(viewer_widget):
    viewer, widget = viewer_widget
    assert widget.preset.value == "fast"  # no GPU on the test machine
    assert "cpu" in widget.device_info.value and "'fast' preset" in widget.device_info.value
    viewer.add_image(_image(), name="a")
    viewer.add_image(_image(), name="b")
    assert widget.image.value.name == "b"  # the newly added layer is selected
    viewer.layers.selection.active = viewer.layers["a"]
    assert widget.image.value.name == "a" and widget.image.current_choice == "a"
    ctl = widget.param_widgets
    assert ctl["alpha"].enabled and not ctl["scale"].enabled  # mmt uses alpha, not scale
    widget.method.value = "kmeans"
    assert widget.clusters.label == "clusters (k)" and not ctl["max_iter"].enabled
    assert widget.clusters.value == 8 and not ctl["alpha"].enabled
    widget.method.value = "felzenszwalb"
    assert not widget.clusters.enabled and ctl["scale"].enabled
    assert widget.advanced.native.isHidden()  # collapsed until asked for
    widget.show_advanced.value = True
    assert not widget.advanced.native.isHidden()


def test_advanced_is_made_on_first_need_with_the_same_params(viewer_widget):
    from napari_mmtseg import METHODS, make_params

    _, widget = viewer_widget
    assert len(widget.advanced) == 0  # not made when the widget opens

    def runs():
        out = {}
        for method in METHODS:
            widget.method.value = method
            out[method] = make_params(method, widget.preset.value, **widget.params())
        return out

    before = runs()
    widget.show_advanced.value = True
    assert len(widget.advanced) == len(_fields.ADVANCED) + 1  # and CPU threads
    assert runs() == before


def test_every_params_field_is_shown_or_listed():
    """A new Params field must get a row in _fields.MAIN / ADVANCED (or a reason in NOT_SHOWN)."""
    assert _fields.unlisted() == []
    assert all(name in _fields.TIPS for name in [f.name for f in _fields.MAIN + _fields.ADVANCED])


def test_zero_stands_for_none_or_auto(viewer_widget):
    _, widget = viewer_widget
    f = next(f for f in _fields.ADVANCED if f.name == "train_size")
    assert "0: full size" in widget.param_widgets["train_size"].label
    widget.param_widgets["train_size"].value = 0
    assert widget.params()["train_size"] is None
    widget.preset.value = "fast"
    widget.preset.value = "paper"  # paper trains at full size: train_size None shows as 0
    assert widget.param_widgets["train_size"].value == 0 and widget.params()["train_size"] is None
    assert _fields.to_param(f, 96) == 96 and _fields.from_param(f, 96) == 96
    auto = _fields.Field("tile", zero="auto", zero_text="auto")  # e.g. a future class count
    assert _fields.to_param(auto, 0) == "auto" and _fields.from_param(auto, "auto") == 0
    assert _fields.to_param(auto, 5) == 5 and auto.text == "tile (0: auto)"
    # the texture weight: 0 is a value of its own (off), as in Python; the lowest value, shown as
    # "auto", is the default rule (None: 0.5 on colour images, off on grey data)
    tex = widget.param_widgets["texture_weight"]
    assert tex.native.specialValueText() == "auto" and tex.native.text() == "auto"
    assert tex.value == tex.min and widget.params()["texture_weight"] is None
    tex.value = 0.25
    assert widget.params()["texture_weight"] == 0.25
    assert "(lowest: auto)" in tex.label
    for given, expected in ((0, 0.0), (-0.0, 0.0), (None, None), ("auto", None), (1.5, 1.5)):
        widget.set_fields(None, {"texture_weight": given})  # what widget(texture_weight=...) does
        got = widget.params()["texture_weight"]
        assert got == expected and str(got) == str(expected), given
    for bad in (-0.005, -0.01, -1):  # not silently auto or off: segment() refuses them too
        with pytest.raises(ValueError, match="texture_weight must be >= 0"):
            widget.set_fields(None, {"texture_weight": bad})


def test_call_sets_fields_and_refuses_unknown_ones(viewer_widget):
    viewer, widget = viewer_widget
    with pytest.raises(TypeError, match="no field"):
        widget(mehtod="mmt")
    with pytest.raises(ValueError, match="k is not used"):
        widget(method="mmt", k=3)
    with pytest.raises(ValueError):
        widget(method="unknown")
    assert widget._run is None and not any(isinstance(lay, Labels) for lay in viewer.layers)
    assert widget() is None  # no image layer: nothing starts, a notification says why


def test_source_renamed_during_a_run_names_the_result(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    layer = viewer.add_image(_image(), name="before")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(method="kmeans")  # the result reaches the GUI thread only after this
        layer.name = "after"
    assert [lay.name for lay in viewer.layers] == ["after", "after kmeans"]
    assert widget.result_layer.metadata["source_layer"] == "after"


def test_run_adds_labels_with_scale_and_metadata(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image((20, 28)), name="im", scale=(2.0, 0.5), translate=(5.0, -3.0))
    widget.param_widgets["max_iter"].value = 4
    _run(qtbot, widget)  # the Run button
    assert [lay.name for lay in viewer.layers] == ["im", "im mmt"]  # no preview left
    lab = viewer.layers["im mmt"]
    assert lab is widget.result_layer
    assert isinstance(lab, Labels) and lab.data.shape == (20, 28) and lab.data.min() >= 1
    np.testing.assert_allclose(lab.scale, (2.0, 0.5))
    np.testing.assert_allclose(lab.translate, (5.0, -3.0))
    md = lab.metadata
    assert md["method"] == "mmt" and md["preset"] == "fast" and md["source_layer"] == "im"
    assert md["params"]["max_iter"] == 4 and md["seed"] == 0 and "napari_mmtseg_version" in md
    assert widget.progress_bar.value == widget.progress_bar.max  # full even when it stops early


def test_rgb_and_current_slice(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    rgb = (np.stack([_image()] * 3, axis=-1).clip(0, 1) * 255).astype(np.uint8)
    viewer.add_image(rgb, name="rgb", rgb=True, scale=(3.0, 3.0))
    assert (
        widget.channel_axis.current_choice == "RGB (last axis)" and not widget.channel_axis.enabled
    )
    _run(qtbot, widget, method="kmeans")
    lab = viewer.layers["rgb kmeans"]
    assert lab.data.shape == (24, 24) and tuple(lab.scale) == (3.0, 3.0)

    viewer.add_image(_image((3, 16, 16)), name="stack")
    assert widget.current_slice_only.enabled
    viewer.dims.set_current_step(0, 1)
    _run(qtbot, widget, current_slice_only=True)
    lab = viewer.layers["stack kmeans"]
    assert lab.data.shape == (3, 16, 16) and lab.metadata["slice"] == (1,)
    assert lab.data.dtype == np.int32  # a partial result too
    assert lab.data[1].min() >= 1 and not lab.data[0].any() and not lab.data[2].any()


def test_cancel_leaves_no_layer(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image((32, 32)), name="im")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(max_iter=100000, tol=0.0, min_labels=1)
        qtbot.waitUntil(
            lambda: widget.progress_bar.value >= 12, timeout=TIMEOUT
        )  # a preview is shown
        assert "im mmt (preview)" in viewer.layers and not widget.run_button.enabled
        widget.cancel_button.native.click()
    assert blocker.args == ["cancelled"]
    assert [lay.name for lay in viewer.layers] == ["im"]
    assert widget.run_button.enabled and widget.worker is None and widget.progress_bar.value == 0


def test_closing_the_panel_cancels_its_run(qtbot, viewer_widget):
    """napari's close button unparents the dock's widget and keeps it alive: a run went on,
    then added its layer, and a new panel refused to run with no Cancel to press."""
    viewer, widget = viewer_widget
    viewer.add_image(_image((32, 32)), name="im")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(max_iter=100000, tol=0.0, min_labels=1)
        qtbot.waitUntil(lambda: widget.progress_bar.value >= 12, timeout=TIMEOUT)
        viewer.window.remove_dock_widget(widget.native)  # what the dock's close button does
    assert blocker.args == ["cancelled"]
    assert [lay.name for lay in viewer.layers] == ["im"]


def test_an_image_given_other_data_during_a_run_gets_its_old_labels_in_a_new_layer(
    qtbot, viewer_widget
):
    """A (96, 96) image given (64, 80) data while a run went got a (96, 96) result over it,
    with no word; a run that updates the previous result wrote over it."""
    from napari.utils.notifications import notification_manager

    viewer, widget = viewer_widget
    im = viewer.add_image(_image((48, 64)), name="im")
    _run(qtbot, widget, method="kmeans", k=2)
    first = viewer.layers["im kmeans"]
    before = first.data.copy()
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(method="mmt", max_iter=40, tol=0.0, min_labels=1, update_previous=True)
        qtbot.waitUntil(lambda: widget.progress_bar.value >= 2, timeout=TIMEOUT)
        im.data = _image((30, 40))
    assert blocker.args == ["done"]
    said = [n.message for n in notification_manager.records if "another shape" in n.message]
    assert said and "(48, 64) then, (30, 40) now" in said[-1]
    np.testing.assert_array_equal(first.data, before)  # the previous result stays as it was
    assert widget.result_layer is not first and widget.result_layer.data.shape == (48, 64)


@pytest.mark.parametrize("change", ["paint", "undo"])
def test_an_update_of_a_result_changed_while_it_ran_goes_to_a_new_layer(
    qtbot, viewer_widget, change
):
    """A run that updates the previous result wrote over the pixels the user painted there
    while it trained (one Ctrl+Z brought them back, with the run's labels gone too); a
    Ctrl+Z there meanwhile must not be taken for painting either. The layer is left as the
    user left it, and the result is a new layer."""
    viewer, widget = viewer_widget
    viewer.add_image(_image((32, 40)), name="im")
    _run(qtbot, widget, method="kmeans", k=2)
    lab = viewer.layers["im kmeans"]
    index = np.nonzero(np.pad(np.ones((6, 8), bool), ((4, 22), (4, 28))))
    if change == "undo":
        lab.data_setitem(index, 9)  # a stroke before the run, undone while it goes
    n_before = len(notification_manager.records)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(method="mmt", max_iter=40, tol=0.0, min_labels=1, update_previous=True)
        qtbot.waitUntil(lambda: widget.progress_bar.value >= 2, timeout=TIMEOUT)
        if change == "paint":
            lab.data_setitem(index, 9)  # a brush stroke while it trains
        else:
            lab.undo()
        left = lab.data.copy()
        metadata = dict(lab.metadata)
    assert blocker.args == ["done"]
    np.testing.assert_array_equal(lab.data, left)
    assert lab.metadata == metadata and lab.metadata["method"] == "kmeans"
    assert widget.result_layer is not lab and widget.result_layer.metadata["method"] == "mmt"
    said = [n.message for n in notification_manager.records[n_before:]]
    assert any("was changed while the run went" in m for m in said)


def test_an_update_of_a_result_left_alone_is_written_into_it(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image((32, 40)), name="im")
    _run(qtbot, widget, method="kmeans", k=2)
    lab = viewer.layers["im kmeans"]
    _run(qtbot, widget, method="mmt", max_iter=10, update_previous=True)
    assert widget.result_layer is lab and lab.metadata["method"] == "mmt"


def test_paint_undo_and_update_previous_result(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image(), name="im")
    _run(qtbot, widget, method="kmeans", k=2)
    lab = viewer.layers["im kmeans"]
    first = lab.data.copy()

    lab.paint((3, 3), 7, refresh=True)  # a user edit
    assert lab.data[3, 3] == 7
    lab.undo()
    np.testing.assert_array_equal(lab.data, first)
    lab.paint((3, 3), 7, refresh=True)
    edited = lab.data.copy()

    # without "update previous result": a new layer, the edit survives
    _run(qtbot, widget)
    assert "im kmeans [1]" in viewer.layers and lab.data[3, 3] == 7

    # with it: written into the newest result, one undoable step, even after both
    # the image and that result were renamed
    target = viewer.layers["im kmeans [1]"]
    target.name = "my labels"
    viewer.layers["im"].name = "renamed image"
    n_layers = len(viewer.layers)
    before = target.data.copy()
    _run(qtbot, widget, update_previous=True, method="felzenszwalb")
    assert len(viewer.layers) == n_layers
    assert target.metadata["method"] == "felzenszwalb"
    assert target.metadata["source_layer"] == "renamed image"
    assert not np.array_equal(target.data, before)
    target.undo()
    np.testing.assert_array_equal(target.data, before)
    np.testing.assert_array_equal(lab.data, edited)  # the edited layer was not touched


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.where(_image() > 0.5, np.nan, _image()), "NaN"),
        (np.ones((1, 1, 5), np.float32), "2x2"),
    ],
)
def test_bad_image_shows_engine_message(qtbot, viewer_widget, bad, words):
    viewer, widget = viewer_widget
    viewer.add_image(bad, name="bad")
    n_before = len(_errors())
    _run(qtbot, widget, outcome="error")
    new = _errors()[n_before:]
    assert len(new) == 1 and words in new[0]
    assert [lay.name for lay in viewer.layers] == ["bad"]


def test_removing_source_or_closing_viewer_mid_run(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(_image(), name="im")
    worker = widget(max_iter=100000, tol=0.0, min_labels=1)
    qtbot.waitUntil(lambda: widget.progress_bar.value >= 2, timeout=TIMEOUT)
    viewer.layers.remove("im")  # the run goes on with its copy
    assert len(widget.image.choices) == 0 and widget.image.value is None
    qtbot.wait(100)
    viewer.close()  # quits the worker
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT)
    qtbot.wait(50)


def test_dask_and_multiscale_layers_are_read_in_the_worker(qtbot, viewer_widget):
    da = pytest.importorskip("dask.array")
    from napari_mmtseg._napari._job import make_job

    viewer, widget = viewer_widget
    stack = np.stack([_image((16, 16), seed=s) for s in range(3)])
    layer = viewer.add_image(da.from_array(stack, chunks=(1, 16, 16)), name="lazy")
    assert not isinstance(make_job(layer).image, np.ndarray)  # nothing computed in the GUI thread
    _run(qtbot, widget, method="kmeans")
    lab = viewer.layers["lazy kmeans"]
    assert lab.data.shape == (3, 16, 16) and lab.data.min() >= 1

    full = _image((32, 32))
    pyramid = viewer.add_image([full, full[::2, ::2]], multiscale=True, name="pyramid")
    viewer.layers.selection.active = layer
    _run(qtbot, widget, image=pyramid)
    assert viewer.layers["pyramid kmeans"].data.shape == (32, 32)  # small: full resolution


def test_big_pyramid_is_segmented_at_a_level_that_fits(qtbot, viewer_widget, monkeypatch):
    from napari_mmtseg._napari import _job

    viewer, widget = viewer_widget
    monkeypatch.setattr(_job, "MAX_PYRAMID_PIXELS", 20 * 20)  # level 0 (40x40) is "too big"
    full = _image((3, 40, 40))
    viewer.add_image(
        [full, full[:, ::2, ::2], full[:, ::4, ::4]],
        multiscale=True,
        name="pyr",
        scale=(1.0, 0.5, 0.5),
        translate=(0.0, 10.0, 20.0),
    )
    viewer.dims.set_current_step(0, 2)
    _run(qtbot, widget, method="kmeans", current_slice_only=True)
    lab = viewer.layers["pyr kmeans"]
    assert lab.data.shape == (3, 20, 20) and lab.metadata["pyramid_level"] == 1
    assert lab.metadata["slice"] == (2,) and lab.data[2].min() >= 1 and not lab.data[0].any()
    np.testing.assert_allclose(lab.scale, (1.0, 1.0, 1.0))  # level-1 pixels are twice as large
    np.testing.assert_allclose(lab.translate, (0.0, 10.25, 20.25))  # and their centres shift


# ---------------------------------------------------------------- field-reported faults
# Each failed with the hand-built Qt widget this one replaced (issue 10).


def test_renamed_layer_stays_chosen_and_runs(qtbot, make_napari_viewer):
    """Fault 1: a layer renamed after the widget opened kept its old name in the
    chooser, and Run said "add or select an image layer first"."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(_image(), name="old")
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget)
    layer.name = "new"
    viewer.layers.selection.active = layer
    assert widget.image.current_choice == "new" and widget.image.value is layer
    _run(qtbot, widget, method="kmeans")
    assert "new kmeans" in viewer.layers

    # the whole kind: renaming the chosen layer keeps it chosen (magicgui alone would
    # jump to the first layer), with the channel axis chosen for it
    stack = viewer.add_image(_image((2, 24, 24)), name="stack")
    widget.channel_axis.value = 0

    def images():
        return [lay for lay in viewer.layers if isinstance(lay, Image)]

    viewer.layers.move(viewer.layers.index(stack), 0)  # reordered: still chosen
    assert widget.image.value is stack and list(widget.image.choices) == images()
    viewer.layers.move(0, len(viewer.layers))  # back on top: "new" is the first image
    assert images()[0] is layer and widget.image.value is stack
    stack.name = "renamed stack"
    assert widget.image.value is stack and widget.image.current_choice == "renamed stack"
    assert widget.channel_axis.value == 0 and list(widget.image.choices) == images()


def test_channel_axis_survives_layer_list_changes(qtbot, make_napari_viewer):
    """Fault 2: adding any layer (the result too) reset the channel axis to
    "none", so a second run segmented the channels as time."""
    viewer = make_napari_viewer()
    data = np.stack([_image((3, 32, 40), seed=0), 1.0 - _image((3, 32, 40), seed=1)])
    layer = viewer.add_image(
        data, name="ch", scale=(1.0, 4.0, 0.5, 0.25), translate=(0.0, 2.0, 3.0, 4.0)
    )
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.channel_axis.value = 0
    _run(qtbot, widget, method="kmeans", live_preview=False)  # adds the result layer
    assert widget.channel_axis.value == 0
    viewer.add_points([[0, 0, 0]], name="pts")
    assert widget.channel_axis.value == 0
    _run(qtbot, widget)
    for name in ("ch kmeans", "ch kmeans [1]"):
        lab = viewer.layers[name]
        assert lab.data.shape == (3, 32, 40) and lab.metadata["channel_axis"] == 0
        np.testing.assert_allclose(lab.scale, (4.0, 0.5, 0.25))
        np.testing.assert_allclose(lab.translate, (2.0, 3.0, 4.0))

    # the whole kind: another image chosen and back, the axis chosen for this one returns;
    # a change of the layer's data re-reads its axes
    other = viewer.add_image(_image((5, 8, 8)), name="other")
    assert widget.image.value is other and widget.channel_axis.value is None
    assert widget.channel_axis.current_choice == "none" and widget.current_slice_only.enabled
    viewer.layers.selection.active = layer
    assert (
        widget.channel_axis.value == 0 and widget.channel_axis.current_choice == "axis 0 (size 2)"
    )
    assert widget.current_slice_only.enabled  # (3, 32, 40) without channels: a stack
    layer.data = _image((2, 32, 40))
    assert widget.channel_axis.current_choice == "axis 0 (size 2)"
    assert not widget.current_slice_only.enabled  # (32, 40) with axis 0 as channels
    layer.data = _image((32, 40))
    assert widget.channel_axis.choices == (None,) and not widget.channel_axis.enabled


@pytest.mark.parametrize("preview", [False, True])
def test_result_labels_take_any_new_label_id(qtbot, viewer_widget, preview):
    """Fault 3: without live preview the result was uint8 and painting label
    300 raised; with it, int32. The dtype must not depend on the checkbox."""
    viewer, widget = viewer_widget
    viewer.add_image(_image((48, 48)), name="im")
    _run(qtbot, widget, method="kmeans", k=2, live_preview=preview)
    lab = viewer.layers["im kmeans"]
    assert lab.data.dtype == np.int32
    for new_id in (300, 70_000, 2**31 - 1):
        lab.selected_label = new_id
        lab.paint((3, 3), new_id, refresh=True)
        assert lab.data[3, 3] == new_id


# ------------------------------------------------ inputs as microscopists have them (issue 11)


def _halves(shape, x_axis, seed=0):
    """Two noisy halves split along ``x_axis``: any method finds them."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    idx = [slice(None)] * len(shape)
    idx[x_axis] = slice(shape[x_axis] // 2, None)
    img[tuple(idx)] = 1.0
    return img + 0.05 * rng.standard_normal(shape).astype(np.float32)


def _record_previews(monkeypatch):
    """Every preview the widget shows: (slice index, preview layer's data right after)."""
    from napari_mmtseg._napari import _job, _widget, _worker

    # no throttling: every preview of the run reaches the GUI thread
    monkeypatch.setattr(
        _worker, "run_job", lambda job, kw: _job.run_job(job, kw, preview_every_s=0.0)
    )
    seen = []
    real = _widget.show_preview

    def spy(viewer, layer, job, ev):
        real(viewer, layer, job, ev)
        seen.append((ev.slice_index, np.array(layer.data)))

    monkeypatch.setattr(_widget, "show_preview", spy)
    return seen


@pytest.mark.parametrize("shape, x_axis", [((24, 24, 1), 1), ((1, 24, 24), 2)])
def test_singleton_axis_segments_as_2d_and_overlays_the_image(
    qtbot, viewer_widget, monkeypatch, shape, x_axis
):
    """A grey image saved with a length-1 axis is a plain 2D image: the preview and
    the result have the layer's shape and lie over it; no stack to choose."""
    viewer, widget = viewer_widget
    seen = _record_previews(monkeypatch)
    img = viewer.add_image(
        _halves(shape, x_axis), name="im", scale=(0.5, 0.25, 2.0), translate=(1.0, 2.0, 3.0)
    )
    assert not widget.current_slice_only.enabled  # one 2D slice: nothing to choose
    _run(qtbot, widget, method="kmeans", k=2)
    lab = viewer.layers["im kmeans"]
    assert lab.data.shape == shape and lab.data.min() >= 1
    np.testing.assert_allclose(lab.scale, img.scale)
    np.testing.assert_allclose(lab.translate, img.translate)
    np.testing.assert_allclose(lab.extent.world, img.extent.world)
    plane = lab.data.reshape(24, 24)
    assert len(np.unique(plane[:, :12])) == 1 and len(np.unique(plane[:, 12:])) == 1
    assert plane[0, 0] != plane[0, -1]
    assert len(seen) == 1 and seen[0][1].reshape(24, 24).min() >= 1  # the preview filled it
    axes = lab.metadata.get("axes")
    if axes:  # if recorded, Y and X are the two long axes
        assert sorted(axes.index(a) for a in "YX") == [i for i, n in enumerate(shape) if n > 1]


@pytest.mark.parametrize("shape", [(3, 1, 16, 16), (3, 16, 16, 1)])
def test_stack_with_singleton_axis_previews_and_current_slice(
    qtbot, viewer_widget, monkeypatch, shape
):
    """A time-lapse with a length-1 Z (or channel-like last) axis: whole stack, the
    preview of slice t lands on frame t; current slice only fills the frame on screen."""
    viewer, widget = viewer_widget
    seen = _record_previews(monkeypatch)
    x_axis = 3 if shape[-1] > 1 else 2
    data = np.stack([_halves(shape[1:], x_axis - 1, seed=s) for s in range(3)])
    viewer.add_image(data, name="tl")
    assert widget.current_slice_only.enabled
    _run(qtbot, widget, method="kmeans", k=2, current_slice_only=False)
    lab = viewer.layers["tl kmeans"]
    assert lab.data.shape == shape and lab.data.min() >= 1
    assert [i for i, _ in seen] == [0, 1, 2]
    for i, prev in seen:  # frames 0..i filled, the later ones still empty
        filled = [bool(prev[t].all()) for t in range(3)]
        assert filled == [t <= i for t in range(3)] and not prev[i + 1 :].any()

    seen.clear()
    viewer.dims.set_current_step(0, 2)
    _run(qtbot, widget, current_slice_only=True)
    lab = viewer.layers["tl kmeans [1]"]
    assert lab.data.shape == shape and lab.metadata["slice"] == (2,)
    assert lab.data[2].min() >= 1 and not lab.data[:2].any()
    assert len(seen) == 1 and seen[0][1][2].min() >= 1 and not seen[0][1][:2].any()


def test_result_metadata_has_axes_pixel_size_and_units(qtbot, viewer_widget):
    """The result layer carries the run's details plus the labels' axes, pixel
    sizes and units, and napari's units and axis labels of the image."""
    viewer, widget = viewer_widget
    img = viewer.add_image(
        np.stack([_image((16, 16), seed=s) for s in range(2)]),
        name="tl",
        scale=(2.0, 0.25, 0.25),
        units=("s", "µm", "µm"),
        axis_labels=("t", "y", "x"),
    )
    _run(qtbot, widget, method="kmeans", k=2)
    lab = viewer.layers["tl kmeans"]
    md = lab.metadata
    assert md["method"] == "kmeans" and md["source_layer"] == "tl" and "napari_mmtseg_version" in md
    assert md["axes"] == "TYX"
    assert md["pixel_size"] == {"T": 2.0, "Y": 0.25, "X": 0.25}
    assert md["units"] == {"T": "s", "Y": "µm", "X": "µm"}
    assert tuple(lab.axis_labels) == tuple(img.axis_labels)
    assert [str(u) for u in lab.units] == [str(u) for u in img.units]

    # a chosen channel axis is not among the labels' axes; updating a result rewrites them
    ch = viewer.add_image(
        np.stack([_image(), 1 - _image()]),
        name="ch",
        scale=(1.0, 0.5, 0.5),
        units=("pixel", "nm", "nm"),
        axis_labels=("c", "y", "x"),
    )
    _run(qtbot, widget, image=ch, channel_axis=0, method="kmeans", k=2)
    lab = viewer.layers["ch kmeans"]
    assert lab.metadata["axes"] == "YX" and lab.metadata["pixel_size"] == {"Y": 0.5, "X": 0.5}
    ch.scale = (1.0, 0.4, 0.4)  # the pixel size set after the first run
    _run(qtbot, widget, update_previous=True, method="felzenszwalb")
    assert lab.metadata["method"] == "felzenszwalb" and lab.metadata["axes"] == "YX"
    assert lab.metadata["pixel_size"] == {"Y": 0.4, "X": 0.4}
    assert lab.metadata["units"] == {"Y": "nm", "X": "nm"}
    np.testing.assert_allclose(lab.scale, (0.4, 0.4))  # and the layer follows the image


def _warnings():
    return [
        n.message
        for n in notification_manager.records
        if n.severity == NotificationSeverity.WARNING
    ]


def test_fourth_channel_warning_is_shown_and_the_channel_can_be_kept(qtbot, viewer_widget):
    """(48, 48, 4) data napari shows as RGBA, its structure only in the 4th channel:
    the run says the channel is dropped and how to keep it, and that advice works."""
    viewer, widget = viewer_widget
    data = np.full((48, 48, 4), 1000, np.uint16)
    data[:, 24:, 3] = 60000
    layer = viewer.add_image(data, name="rgba")
    assert layer.rgb and widget.channel_axis.value is None  # napari's rule: RGBA
    n_before = len(_warnings())
    _run(qtbot, widget, method="kmeans", k=2)
    new = [m for m in _warnings()[n_before:] if "4th channel" in m]
    assert len(new) == 1 and "channel axis" in new[0]

    assert widget.channel_axis.enabled
    n_before = len(_warnings())
    _run(qtbot, widget, channel_axis=-1)  # the advice, as the warning gives it
    assert widget.channel_axis.value == 2  # the last axis
    assert not [m for m in _warnings()[n_before:] if "4th channel" in m]
    lab = viewer.layers["rgba kmeans [1]"]
    assert lab.data.shape == (48, 48) and lab.metadata["channel_axis"] == 2
    assert len(np.unique(lab.data[:, :24])) == 1 and len(np.unique(lab.data[:, 24:])) == 1
    assert lab.data[0, 0] != lab.data[0, -1]  # the 4th channel's halves, kept
    widget.channel_axis.value = None  # back to RGBA
    assert widget.channel_axis.current_choice.startswith("RGB")


# ---------------------------------------------------------------- events handled nested


def test_events_queued_before_the_gui_handles_them(qtbot, viewer_widget, monkeypatch):
    """napari's activity panel processes pending Qt events while it adds or moves
    a progress bar, so the widget's handlers run nested. With every event of a run
    queued before the GUI thread handles the first: the run still ends "done" with
    a full progress bar, every preview went to the preview layer, and napari's
    progress bar is closed (one, not one per nesting)."""
    import threading
    import time

    from napari.utils import progress

    from napari_mmtseg._napari import _job, _worker

    viewer, widget = viewer_widget
    seen = _record_previews(monkeypatch)
    ended = threading.Event()

    def run_job(job, kw):
        try:
            yield from _job.run_job(job, kw, preview_every_s=0.0)
        finally:
            ended.set()

    monkeypatch.setattr(_worker, "run_job", run_job)
    viewer.add_image(np.stack([_image((16, 16), seed=s) for s in range(3)]), name="st")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        worker = widget(method="kmeans", k=2)
        assert ended.wait(TIMEOUT / 1000)  # the GUI thread handles nothing meanwhile
        while worker.is_running:
            time.sleep(0.01)
    assert blocker.args == ["done"]
    qtbot.wait(50)
    assert widget.status.value == "done" and widget.progress_bar.value == widget.progress_bar.max
    assert [i for i, _ in seen] == [0, 1, 2]
    assert [lay.name for lay in viewer.layers] == ["st", "st kmeans"]
    assert not [p for p in progress._all_instances if "MMT" in str(p)]


def test_undoing_an_update_of_the_result_puts_its_metadata_back(qtbot, viewer_widget):
    """An update of an mmt result by a kmeans run, undone: the mmt labels came back with
    the kmeans run's metadata (a widget trial)."""
    viewer, widget = viewer_widget
    viewer.add_image(_image((32, 40)), name="im")
    _run(qtbot, widget, method="mmt", max_iter=10)
    lab = widget.result_layer
    before = lab.data.copy()
    _run(qtbot, widget, method="kmeans", k=3, update_previous=True)
    assert widget.result_layer is lab and lab.metadata["method"] == "kmeans"
    lab.undo()
    np.testing.assert_array_equal(lab.data, before)
    assert lab.metadata["method"] == "mmt"
    lab.redo()
    assert lab.metadata["method"] == "kmeans"
