"""napari_mmtseg.io: image files in, label files out with the input's axes,
pixel size and unit; the same metadata for a napari result layer."""

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_mmtseg import segment
from napari_mmtseg.io import ImageMeta, read_image_meta, result_metadata, write_labels


def _ij(path, shape=(3, 48, 48), axes="TYX"):
    img = np.full(shape, 100, np.uint16)
    img[..., shape[-1] // 2 :] = 900
    tifffile.imwrite(
        path,
        img,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": axes, "unit": "um", "finterval": 2.0},
    )
    return img


def test_imagej_meta_read_and_carried_to_labels(tmp_path):
    img = _ij(tmp_path / "a.tif")
    data, meta = read_image_meta(tmp_path / "a.tif")
    np.testing.assert_array_equal(data, img)
    assert meta.kind == "imagej" and meta.axes == "TYX"
    assert meta.scale == pytest.approx({"X": 0.25, "Y": 0.25, "T": 2.0})
    assert meta.units == {"X": "µm", "Y": "µm", "T": "s"}
    labels = np.ones((3, 48, 48), np.uint16)
    assert write_labels(tmp_path / "l.tif", labels, meta, {"method": "x"}) == "imagej"
    back, bmeta = read_image_meta(tmp_path / "l.tif")
    np.testing.assert_array_equal(back, labels)
    assert (bmeta.axes, bmeta.units) == (meta.axes, meta.units)
    assert bmeta.scale == pytest.approx(meta.scale)


def test_labels_that_need_32_bits_go_to_ome_with_the_same_meta(tmp_path):
    _ij(tmp_path / "a.tif")
    _, meta = read_image_meta(tmp_path / "a.tif")
    labels = np.arange(3 * 48 * 48, dtype=np.uint32).reshape(3, 48, 48) + 70000
    assert write_labels(tmp_path / "l.tif", labels, meta) == "ome"
    back, bmeta = read_image_meta(tmp_path / "l.tif")
    np.testing.assert_array_equal(back, labels)
    assert bmeta.axes == "TYX" and bmeta.scale == pytest.approx(meta.scale)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import napari_mmtseg.io as io

    out = tmp_path / "l.tif"
    write_labels(out, np.ones((8, 8), np.uint8))
    before = out.read_bytes()

    def broken(path, data, **kw):
        with open(path, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError, match="disk full"):
        io.write_labels(out, np.full((8, 8), 2, np.uint8))
    assert out.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["l.tif"]


def test_result_metadata_for_a_napari_layer():
    img = np.zeros((2, 32, 32), np.float32)
    img[:, :, 16:] = 1
    r = segment(img, method="kmeans", k=2, preset="fast", device="cpu")
    layer = SimpleNamespace(
        scale=(2.0, 0.5, 0.5), units=("s", "micrometer", "micrometer"), axis_labels=("t", "y", "x")
    )
    meta = ImageMeta.from_layer(layer)
    assert meta.axes == "TYX" and meta.units == {"T": "s", "Y": "µm", "X": "µm"}
    md = result_metadata(r, meta.for_labels(None, 3), source_layer="movie")
    assert md["method"] == "kmeans" and md["axes"] == "TYX" and md["source_layer"] == "movie"
    assert md["pixel_size"] == {"T": 2.0, "Y": 0.5, "X": 0.5}
    plain = ImageMeta.from_layer(
        SimpleNamespace(scale=(1.0, 1.0), units=("pixel", "pixel"), axis_labels=("-2", "-1"))
    )
    assert plain.axes == "YX" and plain.scale == {}
