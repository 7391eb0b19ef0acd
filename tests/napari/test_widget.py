"""The napari dock widget, the manifest and the sample data.

Run headless with ``xvfb-run -a python -m pytest tests/napari``. Images are
tiny and runs short: the whole file takes well under a minute on 2 cores.
"""
import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.layers import Labels  # noqa: E402
from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

from napari_mmtseg._napari import _sample_data  # noqa: E402
from napari_mmtseg._napari._widget import MMTSegWidget  # noqa: E402

TIMEOUT = 60_000  # ms; generous for a busy 2-core machine


def _image(shape=(24, 24), seed=0):
    """Two flat regions plus noise: any method finds them."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    img[..., : shape[-1] // 2] = 1.0
    return img + 0.05 * rng.standard_normal(shape).astype(np.float32)


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MMT segmentation")
    return viewer, widget


def _run(qtbot, widget, outcome="done"):
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget.run_btn.click()
    assert blocker.args == [outcome]


def _errors():
    return [n.message for n in notification_manager.records
            if n.severity == NotificationSeverity.ERROR]


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
    assert widget.preset.currentText() == "fast"  # no GPU on the test machine
    assert "cpu" in widget.device_label.text() and "'fast' preset" in widget.device_label.text()
    viewer.add_image(_image(), name="a")
    viewer.add_image(_image(), name="b")
    assert widget.image.currentText() == "b"  # the newly added layer is selected
    viewer.layers.selection.active = viewer.layers["a"]
    assert widget.image.currentText() == "a"
    widget.method.setCurrentText("kmeans")
    assert widget.clusters_label.text() == "clusters (k)" and not widget.max_iter.isEnabled()


def test_run_adds_labels_with_scale_and_metadata(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image((20, 28)), name="im", scale=(2.0, 0.5), translate=(5.0, -3.0))
    widget.max_iter.setValue(4)
    _run(qtbot, widget)
    assert [lay.name for lay in viewer.layers] == ["im", "im mmt"]  # no preview left
    lab = viewer.layers["im mmt"]
    assert isinstance(lab, Labels) and lab.data.shape == (20, 28) and lab.data.min() >= 1
    np.testing.assert_allclose(lab.scale, (2.0, 0.5))
    np.testing.assert_allclose(lab.translate, (5.0, -3.0))
    md = lab.metadata
    assert md["method"] == "mmt" and md["preset"] == "fast" and md["source_layer"] == "im"
    assert md["params"]["max_iter"] == 4 and md["seed"] == 0 and "napari_mmtseg_version" in md
    assert widget.bar.value() == widget.bar.maximum()  # full even when it stops early


def test_rgb_and_current_slice(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    widget.method.setCurrentText("kmeans")
    rgb = (np.stack([_image()] * 3, axis=-1).clip(0, 1) * 255).astype(np.uint8)
    viewer.add_image(rgb, name="rgb", rgb=True, scale=(3.0, 3.0))
    _run(qtbot, widget)
    lab = viewer.layers["rgb kmeans"]
    assert lab.data.shape == (24, 24) and tuple(lab.scale) == (3.0, 3.0)

    viewer.add_image(_image((3, 16, 16)), name="stack")
    assert widget.stack.isEnabled()
    widget.stack.setCurrentText("current slice only")
    viewer.dims.set_current_step(0, 1)
    _run(qtbot, widget)
    lab = viewer.layers["stack kmeans"]
    assert lab.data.shape == (3, 16, 16) and lab.metadata["slice"] == (1,)
    assert lab.data[1].min() >= 1 and not lab.data[0].any() and not lab.data[2].any()


def test_cancel_leaves_no_layer(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image((32, 32)), name="im")
    widget.max_iter.setValue(100000)
    widget.adv["tol"].setValue(0.0)
    widget.adv["min_labels"].setValue(1)
    with qtbot.waitSignal(widget.run_finished, timeout=TIMEOUT) as blocker:
        widget.run_btn.click()
        qtbot.waitUntil(lambda: widget.bar.value() >= 12, timeout=TIMEOUT)  # a preview is shown
        assert "im mmt (preview)" in viewer.layers
        widget.cancel_btn.click()
    assert blocker.args == ["cancelled"]
    assert [lay.name for lay in viewer.layers] == ["im"]
    assert widget.run_btn.isEnabled() and widget.worker is None


def test_paint_undo_and_update_previous_result(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    viewer.add_image(_image(), name="im")
    widget.method.setCurrentText("kmeans")
    widget.clusters.setValue(2)
    _run(qtbot, widget)
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

    # with it: written into the newest result, one undoable step
    widget.update_prev.setChecked(True)
    widget.method.setCurrentText("felzenszwalb")
    n_layers = len(viewer.layers)
    target = viewer.layers["im kmeans [1]"]
    before = target.data.copy()
    _run(qtbot, widget)
    assert len(viewer.layers) == n_layers
    assert target.metadata["method"] == "felzenszwalb"
    assert not np.array_equal(target.data, before)
    target.undo()
    np.testing.assert_array_equal(target.data, before)
    np.testing.assert_array_equal(lab.data, edited)  # the edited layer was not touched


@pytest.mark.parametrize("bad, words", [
    (np.where(_image() > 0.5, np.nan, _image()), "NaN"),
    (np.ones((1, 1, 5), np.float32), "2x2"),
])
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
    widget.max_iter.setValue(100000)
    widget.adv["tol"].setValue(0.0)
    widget.adv["min_labels"].setValue(1)
    widget.run_btn.click()
    worker = widget.worker
    qtbot.waitUntil(lambda: widget.bar.value() >= 2, timeout=TIMEOUT)
    viewer.layers.remove("im")  # the run goes on with its copy
    assert widget.image.count() == 0
    qtbot.wait(100)
    viewer.close()  # quits the worker
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT)
    qtbot.wait(50)


def test_dask_and_multiscale_layers_are_read_in_the_worker(qtbot, viewer_widget):
    da = pytest.importorskip("dask.array")
    from napari_mmtseg._napari._job import make_job

    viewer, widget = viewer_widget
    widget.method.setCurrentText("kmeans")
    stack = np.stack([_image((16, 16), seed=s) for s in range(3)])
    layer = viewer.add_image(da.from_array(stack, chunks=(1, 16, 16)), name="lazy")
    assert not isinstance(make_job(layer).image, np.ndarray)  # nothing computed in the GUI thread
    _run(qtbot, widget)
    lab = viewer.layers["lazy kmeans"]
    assert lab.data.shape == (3, 16, 16) and lab.data.min() >= 1

    full = _image((32, 32))
    viewer.add_image([full, full[::2, ::2]], multiscale=True, name="pyramid")
    widget.image.setCurrentText("pyramid")
    _run(qtbot, widget)
    assert viewer.layers["pyramid kmeans"].data.shape == (32, 32)  # small: full resolution


def test_big_pyramid_is_segmented_at_a_level_that_fits(qtbot, viewer_widget, monkeypatch):
    from napari_mmtseg._napari import _job

    viewer, widget = viewer_widget
    widget.method.setCurrentText("kmeans")
    monkeypatch.setattr(_job, "MAX_PYRAMID_PIXELS", 20 * 20)  # level 0 (40x40) is "too big"
    full = _image((3, 40, 40))
    viewer.add_image([full, full[:, ::2, ::2], full[:, ::4, ::4]], multiscale=True, name="pyr",
                     scale=(1.0, 0.5, 0.5), translate=(0.0, 10.0, 20.0))
    widget.stack.setCurrentText("current slice only")
    viewer.dims.set_current_step(0, 2)
    _run(qtbot, widget)
    lab = viewer.layers["pyr kmeans"]
    assert lab.data.shape == (3, 20, 20) and lab.metadata["pyramid_level"] == 1
    assert lab.metadata["slice"] == (2,) and lab.data[2].min() >= 1 and not lab.data[0].any()
    np.testing.assert_allclose(lab.scale, (1.0, 1.0, 1.0))  # level-1 pixels are twice as large
    np.testing.assert_allclose(lab.translate, (0.0, 10.25, 20.25))  # and their centres shift
