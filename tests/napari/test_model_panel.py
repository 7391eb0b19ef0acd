"""The widget's Model section (issue 22 item 4): keep a run's model, save and load it,
apply it to another image layer as a run of the widget (stacks, channels, pyramids, a result
ready for Refine); a model saved by the CLI gives, in napari, the labels
``segment(image, model=...)`` gives."""

import hashlib

import numpy as np
import pytest
import tifffile

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.layers import Labels  # noqa: E402

from napari_mmtseg import load_model, segment  # noqa: E402
from napari_mmtseg._napari._widget import MMTSegWidget  # noqa: E402
from napari_mmtseg.cli import main  # noqa: E402

TIMEOUT = 60_000


def _image(seed, shift=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :36]
    img = 0.2 + 0.6 * ((yy - 14) ** 2 + (xx - 16 - shift) ** 2 < 50) + 0.2 * (xx > 27)
    return (img + 0.04 * rng.standard_normal(img.shape)).astype(np.float32)


def _apply(qtbot, widget, layer, output="clusters"):
    """Apply the kept model to ``layer`` as "Apply to image" does; the result layer."""
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        assert widget.model_panel.apply(layer, output=output) is not None
    assert blocker.args == ["done"]
    return widget.result_layer


def test_a_cli_model_loaded_in_the_widget_labels_a_new_layer_as_segment_does(
    make_napari_viewer, qtbot, tmp_path
):
    src = tmp_path / "train.tif"
    tifffile.imwrite(src, _image(0))
    model_path = tmp_path / "model.pt"
    argv = ["train", str(src), "-o", str(model_path), "--preset", "fast", "--device", "cpu",
            "--set", "max_iter=10", "--set", "q=6"]  # fmt: skip
    assert main(argv) == 0
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    panel = widget.model_panel
    assert not panel.apply_button.enabled  # nothing kept yet
    assert panel.load(model_path) is not None and panel.apply_button.enabled
    new = viewer.add_image(_image(5, shift=3), name="new field")
    layer = _apply(qtbot, widget, new)
    assert isinstance(layer, Labels) and layer in viewer.layers
    assert layer.name == "new field mmt (model)" and layer.data.dtype == np.int32
    expected = segment(new.data, model=load_model(model_path), output="clusters")
    np.testing.assert_array_equal(layer.data, expected.labels)  # id for id
    assert layer.metadata["model"] == str(model_path)
    sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert layer.metadata["model_sha256"] == sha  # as a batch names it (was absent)
    # a file of an older version (no intensity range): the file's hash, not the model's now
    import torch

    blob = torch.load(model_path, weights_only=True)
    del blob["metadata"]["intensity_range"]
    old = tmp_path / "old.pt"
    torch.save(blob, old)
    assert panel.load(old) is not None
    layer = _apply(qtbot, widget, new)
    assert layer.metadata["model_sha256"] == hashlib.sha256(old.read_bytes()).hexdigest()


def test_a_learned_run_is_kept_saved_and_reloaded(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(_image(1), name="cells")
    widget = MMTSegWidget(viewer)
    panel = widget.model_panel
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget(image=image, method="kim2020", preset="fast", device="cpu", max_iter=8,
               live_preview=False)  # fmt: skip
    assert blocker.args == ["done"]
    assert panel.model is not None and panel.model.method == "kim2020"
    saved = panel.save(tmp_path / "kept.pt")
    assert saved is not None and load_model(saved).method == "kim2020"
    other = viewer.add_image(_image(2, shift=-2), name="other")
    assert other in [lay for _, lay in panel._images()]
    a = _apply(qtbot, widget, other).data
    b = segment(other.data, model=load_model(saved), output="clusters").labels
    np.testing.assert_array_equal(a, b)
    assert panel.load(tmp_path / "missing.pt") is None  # an error notification, no raise
    assert panel.save(tmp_path / "no such folder" / "m.pt") is None  # nor here


def _stack(seed, n=3):
    """(n, 32, 36) float32: the blob of :func:`_image` drifting one pixel a slice."""
    return np.stack([_image(seed + i, shift=i) for i in range(n)])


def test_applied_to_a_z_stack_a_blob_through_z_is_one_region(make_napari_viewer, qtbot):
    """The layer's axis labels say Z: the model's regions join through the slices, as
    ``segment(..., axes="ZYX")`` gives them, and the labels keep the layer's axes."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    first = viewer.add_image(_stack(0), name="z1", axis_labels=("z", "y", "x"))
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, method="mmt", preset="fast", device="cpu", max_iter=8, q=6,
               live_preview=False)  # fmt: skip
    model = widget.model_panel.model
    second = viewer.add_image(_stack(7), name="z2", axis_labels=("z", "y", "x"))
    layer = _apply(qtbot, widget, second, output="regions")
    expected = segment(second.data, model=model, output="regions", axes="ZYX").labels
    np.testing.assert_array_equal(layer.data, expected)
    assert layer.data[0, 14, 16] == layer.data[2, 14, 18]  # the blob: one id through Z
    assert layer.metadata["axes"] == "ZYX" and tuple(layer.axis_labels) == ("z", "y", "x")


def test_a_multichannel_model_applies_to_a_multichannel_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    two = np.stack([_image(0), 1 - _image(0)])
    first = viewer.add_image(two, name="c1")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, channel_axis=0, method="mmt", preset="fast", device="cpu",
               max_iter=8, q=6, live_preview=False)  # fmt: skip
    model = widget.model_panel.model
    assert model.n_channels == 2
    other = np.stack([_image(3, shift=2), 1 - _image(3, shift=2)])
    second = viewer.add_image(other, name="c2")  # no channel axis chosen for it yet
    layer = _apply(qtbot, widget, second)
    assert layer.data.shape == (32, 36)
    expected = segment(other, model=model, output="clusters", channel_axis=0).labels
    np.testing.assert_array_equal(layer.data, expected)


def test_an_applied_result_is_corrected_and_refined_from_the_model(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    first = viewer.add_image(_image(1), name="a")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, method="mmt", preset="fast", device="cpu", max_iter=8, q=6,
               live_preview=False)  # fmt: skip
    second = viewer.add_image(_image(4, shift=2), name="b")
    layer = _apply(qtbot, widget, second, output="regions")
    assert widget.scribbles.value is layer  # ready for corrections, as after a Run
    new_id = int(layer.data.max()) + 5
    layer.data_setitem((np.arange(2, 6), np.arange(2, 6)), new_id)  # a correction
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        assert widget.refine(scribbles=layer, image=second) is not None
    assert blocker.args == ["done"]
    assert widget.result_layer is layer and layer.data[3, 3] == new_id  # painted pixels kept
    assert layer.metadata["scribbles"]["init_model"]  # continued from the applied model


def test_applied_to_a_pyramid_it_labels_the_level_a_run_would(make_napari_viewer, qtbot):
    from napari_mmtseg._napari import _job

    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    first = viewer.add_image(_image(1), name="a")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, method="kim2020", preset="fast", device="cpu", max_iter=8, q=6,
               live_preview=False)  # fmt: skip
    big = np.kron(_image(2), np.ones((2, 2), np.float32))
    pyramid = viewer.add_image([big, big[::2, ::2]], multiscale=True, name="pyr")
    old = _job.MAX_PYRAMID_PIXELS
    _job.MAX_PYRAMID_PIXELS = 32 * 36  # the finest level at or under: level 1
    try:
        layer = _apply(qtbot, widget, pyramid)
    finally:
        _job.MAX_PYRAMID_PIXELS = old
    assert layer.data.shape == (32, 36) and layer.metadata["pyramid_level"] == 1
    expected = segment(big[::2, ::2], model=widget.model_panel.model, output="clusters")
    np.testing.assert_array_equal(layer.data, expected.labels)


def test_a_loaded_model_of_another_method_and_q_is_refined_from_in_its_output_mode(
    make_napari_viewer, qtbot, tmp_path
):
    """A kim2020 model with q=6 loaded into a widget whose form says mmt, q=32, applied with
    clusters ids: the form then shows the model's method and q, and a Refine of the applied
    layer continues from the model, in that layer, with clusters ids still."""
    src = tmp_path / "train.tif"
    tifffile.imwrite(src, _image(0))
    model_path = tmp_path / "kim.pt"
    argv = ["train", str(src), "-o", str(model_path), "--method", "kim2020", "--preset",
            "fast", "--device", "cpu", "--set", "max_iter=10", "--set", "q=6"]  # fmt: skip
    assert main(argv) == 0
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    widget.set_fields(None, {"method": "mmt", "preset": "fast", "device": "cpu"})
    widget.live_preview.value = False
    widget.model_panel.load(model_path)
    image = viewer.add_image(_image(4, shift=2), name="b")
    layer = _apply(qtbot, widget, image, output="clusters")
    assert layer.name == "b kim2020 (model)" and widget.method.value == "kim2020"
    assert widget.clusters.value == 6 and widget.status.value == "done"  # nothing trained
    assert "iteration" not in widget.progress_bar.native.format()
    ids = set(np.unique(layer.data).tolist())
    other = next(i for i in sorted(ids) if i != layer.data[3, 3])
    layer.data_setitem((np.arange(2, 6), np.arange(2, 6)), other)  # another class painted
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        assert widget.refine(scribbles=layer, image=image) is not None
    assert blocker.args == ["done"]
    assert widget.result_layer is layer and layer.metadata["scribbles"]["init_model"]
    assert layer.metadata["params"]["output"] == "clusters"
    assert set(np.unique(layer.data).tolist()) <= ids  # class ids of the model, as applied


def test_the_channel_axis_chosen_for_a_model_is_never_depth_and_takes_rgba(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    rgba = np.zeros((32, 36, 4), np.uint8)
    rgba[..., :3] = (np.stack([_image(0)] * 3, -1) * 255).astype(np.uint8)
    rgba[..., 1] = 255 - rgba[..., 1]
    rgba[..., 3] = (_image(1) * 255).astype(np.uint8)
    first = viewer.add_image(rgba, name="A", rgb=True)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, channel_axis=-1, method="mmt", preset="fast", device="cpu",
               max_iter=8, q=6, live_preview=False)  # fmt: skip
    model = widget.model_panel.model
    assert model.n_channels == 4 and model.layout == "channels"
    second = viewer.add_image(rgba[::-1].copy(), name="B", rgb=True)
    layer = _apply(qtbot, widget, second)  # its RGBA axis taken as the model's 4 channels
    assert layer.data.shape == (32, 36)
    z = viewer.add_image(np.stack([_image(i) for i in range(4)]), name="z",
                         axis_labels=("z", "y", "x"))  # fmt: skip
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget.model_panel.apply(z)
    assert blocker.args == ["error"]  # 4 slices of depth are no 4 channels
    assert widget.channel_axis.value is None


def test_refining_an_earlier_result_after_applying_the_model_elsewhere_takes_its_image(
    make_napari_viewer, qtbot
):
    """After "Apply to image" the other layer is the chosen image; a Refine of the first
    result (its layer given, no image) raised the form's ValueError ("not a Labels layer
    ... with the shape of the chosen image's labels"): it now refines with the image that
    result was segmented from."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    first = viewer.add_image(_image(1), name="a")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, method="mmt", preset="fast", device="cpu", max_iter=8, q=6,
               live_preview=False)  # fmt: skip
    result = widget.result_layer
    second = viewer.add_image(np.pad(_image(4), ((0, 4), (0, 4))), name="b")  # another shape
    _apply(qtbot, widget, second, output="regions")
    result.data_setitem((np.arange(2, 6), np.arange(2, 6)), int(result.data.max()) + 5)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        assert widget.refine(scribbles=result) is not None
    assert blocker.args == ["done"]
    assert widget.image.value is first and widget.result_layer is result


def test_a_result_applied_as_regions_is_refined_as_regions(make_napari_viewer, qtbot):
    """The run chose clusters in the form; the model applied to another layer as regions,
    then refined: the form's clusters replaced the layer's regions, so a new id painted on
    one object took every object of its class. The form shows the applied layer's mode."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    first = viewer.add_image(_image(1), name="a")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, method="mmt", preset="fast", device="cpu", max_iter=8, q=6,
               output="clusters", live_preview=False)  # fmt: skip
    second = viewer.add_image(_image(4, shift=2), name="b")
    layer = _apply(qtbot, widget, second, output="regions")
    assert layer.metadata["params"]["output"] == "regions"
    output = next(w for f, w in widget._main if f.name == "output")
    assert output.value == "regions"  # the form shows the layer's mode
    layer.data_setitem((np.arange(12, 16), np.arange(16, 20)), int(layer.data.max()) + 5)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        assert widget.refine(scribbles=layer, image=second) is not None
    assert blocker.args == ["done"]
    assert layer.metadata["params"]["output"] == "regions"


def test_apply_to_follows_a_renamed_layer(make_napari_viewer, qtbot):
    """napari tells a docked widget of renames; the image field followed, "Apply to" kept
    the old name."""
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget)
    layer = viewer.add_image(_image(2), name="field2")
    layer.name = "renamed field"
    combo = widget.model_panel.target.native
    assert "renamed field" in [combo.itemText(i) for i in range(combo.count())]
    # the chosen layer stays chosen when it is renamed (it went to the first image)
    other = viewer.add_image(_image(3), name="field3")
    widget.model_panel.target.value = other
    other.name = "field3 renamed"
    assert widget.model_panel.target.value is other


def test_a_model_given_other_channels_names_the_widgets_channel_axis(make_napari_viewer, qtbot):
    """The refusal named channel_axis= and --channel-axis, which a napari user cannot set."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    first = viewer.add_image(_image(0), name="grey")
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT):
        widget(image=first, method="mmt", preset="fast", device="cpu", max_iter=8, q=6,
               live_preview=False)  # fmt: skip
    two = viewer.add_image(np.stack([_image(1), _image(2)]), name="two channels")
    widget.set_field("image", two)
    widget.set_field("channel_axis", 0)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget.model_panel.apply(two)
    assert blocker.args == ["error"]
    said = [
        n.message for n in notification_manager.records if n.severity == NotificationSeverity.ERROR
    ]
    assert "1-channel" in said[-1] and "under 'channel axis'" in said[-1]
