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


def test_a_tiff_too_big_to_decode_is_read_lazily_or_refused_from_its_header(tmp_path, monkeypatch):
    """A compressed TIFF of a few MB declaring 60416 x 60416 pixels was decoded whole (7 GB,
    98 s) before the run's memory check refused it. Its header is read first: pixels over a
    quarter of the free RAM come as a lazy zarr array (the run's check then comes first,
    and a stack that fits is read slice by slice); without zarr, over 80 % is refused."""
    import sys

    import napari_mmtseg.memory as memory

    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((300, 400), np.uint16), compression="zlib")
    monkeypatch.setattr(memory, "available_bytes", lambda device: 200_000)  # 240,000 needed
    monkeypatch.setattr(
        tifffile.TiffPageSeries, "asarray", lambda *a, **k: pytest.fail("decoded whole")
    )
    image, _ = read_image_meta(path)
    assert type(image).__module__.startswith("zarr") and image.shape == (300, 400)
    monkeypatch.setitem(sys.modules, "zarr", None)  # not installed
    with pytest.raises(MemoryError, match=r"big.tif holds 300 x 400 uint16 .* not read"):
        read_image_meta(path)


def test_a_tiff_stack_read_lazily_gives_the_labels_of_the_array(tmp_path, monkeypatch):
    import napari_mmtseg.io as io

    rng = np.random.default_rng(0)
    stack = (rng.random((3, 40, 48)) * 50).astype(np.uint16)
    stack[:, 10:25, 12:30] += 900
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "ZYX"})
    monkeypatch.setattr(io, "_read_lazily", lambda *a: True)
    image, meta = read_image_meta(path)
    assert not isinstance(image, np.ndarray) and meta.axes == "ZYX"
    kw = dict(method="kmeans", device="cpu", axes="ZYX")
    np.testing.assert_array_equal(segment(image, **kw).labels, segment(stack, **kw).labels)


def test_a_big_tiff_from_a_url_is_read_lazily_too(tmp_path, monkeypatch):
    """A URL's bytes are a stream that the header read leaves past the header: the lazy view
    said 'not a TIFF file'."""
    import napari_mmtseg.io as io

    stack = np.arange(3 * 20 * 24, dtype=np.uint16).reshape(3, 20, 24)
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "ZYX"})
    monkeypatch.setattr(io, "_read_lazily", lambda *a: True)
    image, meta = read_image_meta(path.as_uri())
    assert not isinstance(image, np.ndarray) and meta.axes == "ZYX"
    np.testing.assert_array_equal(np.asarray(image[:]), stack)


def test_zarr_2_counts_as_no_lazy_view(monkeypatch):
    """tifffile's zarr view takes zarr 3 only: with zarr 2 a big TIFF gave tifffile's
    ValueError, not the documented read or MemoryError."""
    import sys
    import types

    import napari_mmtseg.io as io
    import napari_mmtseg.memory as memory

    monkeypatch.setitem(sys.modules, "zarr", types.SimpleNamespace(__version__="2.18.3"))
    assert not io._tiff_zarr_usable()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1000)
    with pytest.raises(MemoryError, match="zarr 3"):
        io._read_lazily("x.tif", (100, 100), np.uint16)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 30_000)
    assert io._read_lazily("x.tif", (100, 100), np.uint16) is False  # read whole
