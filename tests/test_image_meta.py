"""napari_mmtseg.image_meta: what a file or a napari layer says about axes, pixel sizes and
units, and the labels' share of it."""

from types import SimpleNamespace

from napari_mmtseg.image_meta import ImageMeta, canonical_unit


def test_canonical_unit_spells_units_as_napari_does():
    assert canonical_unit("micrometer") == "µm" and canonical_unit("um") == "µm"
    assert canonical_unit("pixel") is None and canonical_unit(None) is None
    assert canonical_unit("parsec") == "parsec"


def test_for_labels_drops_the_channel_axis_and_checks_the_axes():
    meta = ImageMeta(
        axes="ZCYX",
        kind="imagej",
        scale={"X": 0.3, "Y": 0.3, "Z": 1.0, "C": 1.0},
        units={"X": "µm", "Y": "µm", "Z": "µm", "C": "?"},
    )
    lab = meta.for_labels(1, ndim=4)
    assert lab.axes == "ZYX" and "C" not in lab.scale and "C" not in lab.units
    assert meta.for_labels(None, ndim=3).axes == ""  # axes that do not fit the array are dropped
    assert lab.layer_properties(3) == {
        "scale": (1.0, 0.3, 0.3),
        "units": ("µm", "µm", "µm"),
        "axis_labels": ("z", "y", "x"),
    }
    assert lab.layer_properties(2) == {}


def test_layer_meta_places_y_x_where_the_slice_layout_says():
    layer = SimpleNamespace(scale=(0.5, 0.5, 1.0), units=("um", "um", "pixel"), axis_labels=None)
    assert ImageMeta.from_layer(layer).axes == "QYX"  # no layout: the last two
    meta = ImageMeta.from_layer(layer, yx=(0, 1))  # a (64, 64, 1) image
    assert meta.axes == "YXQ" and meta.scale == {"Y": 0.5, "X": 0.5}
