"""The widget's Model section (issue 22 item 4): keep a run's model, save and load it,
apply it to another image layer; a model saved by the CLI gives, in napari, the labels
``segment(image, model=...)`` gives."""

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


def test_a_cli_model_loaded_in_the_widget_labels_a_new_layer_as_segment_does(
    make_napari_viewer, tmp_path
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
    layer = panel.apply(new, output="clusters")
    assert isinstance(layer, Labels) and layer in viewer.layers
    expected = segment(new.data, model=load_model(model_path), output="clusters")
    np.testing.assert_array_equal(layer.data, expected.labels)  # id for id
    assert layer.metadata["model"] == str(model_path)


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
    a = panel.apply(other, output="clusters").data
    b = segment(other.data, model=load_model(saved), output="clusters").labels
    np.testing.assert_array_equal(a, b)
    assert panel.load(tmp_path / "missing.pt") is None  # an error notification, no raise
