"""Zarr and OME-Zarr inputs (napari_mmtseg.ngff): the full-resolution level is read, lazily,
and the labels of a zarr input are written as OME-Zarr with the input's axes and scale."""

import numpy as np
import pytest

from napari_mmtseg.cli import main
from napari_mmtseg.io import read_image_meta
from napari_mmtseg.ngff import new_array

zarr = pytest.importorskip("zarr")


def _two_halves(shape=(40, 48)):
    img = np.full(shape, 100, np.uint16)
    img[..., shape[-1] // 2 :] = 900
    return img


def _group(path):
    kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    return zarr.open_group(str(path), mode="w", **kw)


def _write(group, name, data):
    new_array(group, name, data.shape, data.shape, data.dtype)[...] = data


def _ome_pyramid(path):
    img = _two_halves()
    group = _group(path)
    _write(group, "0", img)
    _write(group, "1", img[::2, ::2])
    axes = [{"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"}]  # fmt: skip
    datasets = [{"path": str(i), "coordinateTransformations": [
        {"type": "scale", "scale": [0.5 * 2**i, 0.5 * 2**i]}]} for i in range(2)]  # fmt: skip
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    return img


def _napari_pyramid(path):  # a plain group of levels, as napari's zarr reader opens one
    img = _two_halves()
    group = _group(path)
    _write(group, "1", img[::2, ::2])
    _write(group, "0", img)
    return img


def _single_array(path):
    img = _two_halves()
    kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    array = zarr.open_array(str(path), mode="w", shape=img.shape, dtype=img.dtype, **kw)
    array[...] = img
    return img


@pytest.mark.parametrize(
    "name, make",
    [("x.ome.zarr", _ome_pyramid), ("p.zarr", _napari_pyramid), ("a.zarr", _single_array)],
)
def test_a_zarr_input_is_segmented_at_full_resolution_into_ome_zarr(tmp_path, name, make):
    img = make(tmp_path / name)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / name), "-o", str(out), "--method", "kmeans",
                 "--set", "k=2"]) == 0  # fmt: skip
    stem = name[: -len(".ome.zarr")] if name.endswith(".ome.zarr") else name[:-5]
    labels, meta = read_image_meta(out / f"{stem}_labels.ome.zarr")
    labels = np.asarray(labels)
    assert labels.shape == img.shape and labels.max() == 2
    assert (labels[:, :20] == labels[0, 0]).all() and (labels[:, 28:] != labels[0, 0]).all()
    assert meta.axes == "YX"
    if name == "x.ome.zarr":
        assert meta.scale == {"Y": 0.5, "X": 0.5} and meta.units == {"Y": "µm", "X": "µm"}


def test_a_folder_of_zarr_stores_is_one_task_per_store_and_a_rerun_skips(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    _ome_pyramid(tmp_path / "in" / "a.ome.zarr")
    _single_array(tmp_path / "in" / "b.zarr")
    out = tmp_path / "out"
    args = ["-o", str(out), "--method", "kmeans"]
    assert main(["segment", str(tmp_path / "in")] + args) == 0
    assert {p.name for p in out.iterdir()} >= {"a_labels.ome.zarr", "b_labels.ome.zarr"}
    capsys.readouterr()
    assert (
        main(["segment", str(tmp_path / "in"), str(out)] + args) == 0
    )  # the outputs among the inputs are left out
    assert capsys.readouterr().out.count("skipped") == 2


def test_a_level_of_a_pyramid_is_an_input_with_that_levels_pixel_size(tmp_path):
    img = _ome_pyramid(tmp_path / "x.ome.zarr")
    out = tmp_path / "out"
    args = ["-o", str(out), "--method", "kmeans", "--set", "k=2"]
    assert main(["segment", str(tmp_path / "x.ome.zarr" / "1")] + args) == 0
    labels, meta = read_image_meta(out / "x_1_labels.ome.zarr")
    assert np.asarray(labels).shape == img[::2, ::2].shape
    assert meta.scale == {"Y": 1.0, "X": 1.0} and meta.units == {"Y": "µm", "X": "µm"}
    image, meta = read_image_meta(tmp_path / "x.ome.zarr" / "1")
    assert image.shape == (20, 24) and meta.axes == "YX" and meta.scale["X"] == 1.0


def test_a_missing_level_is_named_with_the_levels_there_are(tmp_path, capsys):
    _ome_pyramid(tmp_path / "x.ome.zarr")
    with pytest.raises(ValueError, match=r"no array or group '5'.*x.ome.zarr/1 \(20 x 24\)"):
        read_image_meta(tmp_path / "x.ome.zarr" / "5")


def test_too_big_for_memory_names_the_smaller_levels(tmp_path, monkeypatch):
    import csv

    from napari_mmtseg import memory

    _ome_pyramid(tmp_path / "x.ome.zarr")
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1000)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "x.ome.zarr"), "-o", str(out)]) == 1
    row = next(csv.DictReader(open(out / "mmtseg_summary.csv")))
    assert "smaller levels" in row["error"] and "x.ome.zarr/1 (20 x 24)" in row["error"]


def test_a_missing_level_on_the_command_line_is_named_with_the_levels(tmp_path, capsys):
    _ome_pyramid(tmp_path / "x.ome.zarr")
    assert main(["segment", str(tmp_path / "x.ome.zarr" / "7"), "-o", str(tmp_path)]) == 2
    assert "x.ome.zarr/1 (20 x 24)" in capsys.readouterr().err


def test_an_image_group_inside_a_store_is_an_input(tmp_path):
    _group(tmp_path / "plate.ome.zarr")  # an HCS plate's field: plate.ome.zarr/B/3/0
    img = _ome_pyramid(tmp_path / "plate.ome.zarr" / "B" / "3" / "0")
    out = tmp_path / "out"
    args = ["-o", str(out), "--method", "kmeans", "--set", "k=2"]
    assert main(["segment", str(tmp_path / "plate.ome.zarr" / "B" / "3" / "0")] + args) == 0
    labels, meta = read_image_meta(out / "plate_B_3_0_labels.ome.zarr")
    assert np.asarray(labels).shape == img.shape and meta.scale["Y"] == 0.5


@pytest.mark.parametrize(
    "path, store, node",
    [
        ("a/x.ome.zarr", "a/x.ome.zarr", ""),
        ("a/x.ome.zarr/", "a/x.ome.zarr", ""),
        ("/d/x.OME.ZARR/2", "/d/x.OME.ZARR", "2"),
        ("s3://lab/plate.zarr/B/3/0", "s3://lab/plate.zarr", "B/3/0"),
        ("C:\\data\\x.zarr\\1", "C:\\data\\x.zarr", "1"),
        ("a/b.tif", "a/b.tif", ""),
    ],
)
def test_split_store(path, store, node):
    from napari_mmtseg.ngff import in_zarr, split_store

    assert split_store(path) == (store, node)
    assert in_zarr(path) == store.lower().endswith(".zarr")


def test_a_level_is_never_written_over_the_store_that_holds_it(tmp_path, capsys):
    _ome_pyramid(tmp_path / "x.ome.zarr")
    store = str(tmp_path / "x.ome.zarr")
    for out in (store, store + "/"):
        assert main(["segment", store + "/1", "-o", out, "--overwrite", "--method", "kmeans"]) == 2
        assert "holds the input" in capsys.readouterr().err
    assert read_image_meta(store + "/1")[0].shape == (20, 24)  # the store is whole


def test_an_image_file_in_a_folder_named_like_a_store_is_that_file(tmp_path):
    import tifffile

    from napari_mmtseg.batch.plan import plan

    (tmp_path / "imgs.zarr").mkdir()
    tifffile.imwrite(tmp_path / "imgs.zarr" / "a.tif", _two_halves())
    src = str(tmp_path / "imgs.zarr" / "a.tif")
    assert plan([src], tmp_path / "out") == [(src, str(tmp_path / "out" / "a_labels.tif"))]
    assert read_image_meta(src)[1].kind == "tiff"
    assert plan([src], tmp_path / "results.zarr" / "labels")  # an output folder in one


def test_a_node_under_an_array_store_and_a_missing_field_level_are_clear(tmp_path):
    kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    zarr.open_array(str(tmp_path / "arr.zarr"), mode="w", shape=(16, 16), dtype="u1", **kw)
    with pytest.raises(ValueError, match="no array or group '0'"):
        read_image_meta(tmp_path / "arr.zarr" / "0")
    _group(tmp_path / "plate.ome.zarr")
    _ome_pyramid(tmp_path / "plate.ome.zarr" / "A" / "1" / "0")
    with pytest.raises(ValueError, match=r"its levels: .*A/1/0/1 \(20 x 24\)"):
        read_image_meta(tmp_path / "plate.ome.zarr" / "A" / "1" / "0" / "5")


def test_a_plain_folder_named_like_a_store_is_a_folder_in_and_out(tmp_path, capsys):
    """A folder named x.zarr that is no zarr store: as the output, --overwrite deleted what
    it held (an earlier run's labels) and an empty one was 'skipped'; as an input, it was
    opened as a store ('damaged'). It is a folder both ways now."""
    import tifffile

    _ome_pyramid(tmp_path / "x.ome.zarr")
    out = tmp_path / "results.zarr"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "notes.txt").write_text("important")
    args = ["--method", "kmeans", "--overwrite"]
    assert main(["segment", str(tmp_path / "x.ome.zarr" / "1"), "-o", str(out), *args]) == 0
    assert (out / "keep" / "notes.txt").read_text() == "important"
    assert (out / "x_1_labels.ome.zarr").is_dir()
    (tmp_path / "imgs.zarr").mkdir()
    tifffile.imwrite(tmp_path / "imgs.zarr" / "a.tif", _two_halves())
    assert main(["segment", str(tmp_path / "imgs.zarr"), "-o", str(tmp_path / "o"), *args]) == 0
    assert (tmp_path / "o" / "a_labels.tif").is_file()


@pytest.mark.parametrize("name", ["single.tif", "single.ome.tif"])
def test_an_ome_zarr_input_written_to_a_tiff_keeps_its_pixel_size(tmp_path, name):
    """The labels TIFF of a level had no pixel size (resolution 1, no unit) although the
    summary line said 1 µm."""
    _ome_pyramid(tmp_path / "x.ome.zarr")
    out = tmp_path / name
    assert main(["segment", str(tmp_path / "x.ome.zarr" / "1"), "-o", str(out), "--method",
                 "kmeans"]) == 0  # fmt: skip
    _, meta = read_image_meta(out)
    assert meta.scale == {"Y": 1.0, "X": 1.0} and meta.units == {"Y": "µm", "X": "µm"}


def test_a_plate_or_well_group_says_how_to_name_a_field(tmp_path, capsys):
    plate = _group(tmp_path / "plate.ome.zarr")
    plate.attrs["plate"] = {"wells": [{"path": "A/1"}], "version": "0.4"}
    _ome_pyramid(tmp_path / "plate.ome.zarr" / "A" / "1" / "0")
    kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    zarr.open_group(str(tmp_path / "plate.ome.zarr" / "A"), mode="a", **kw)
    well = zarr.open_group(str(tmp_path / "plate.ome.zarr" / "A" / "1"), mode="a", **kw)
    well.attrs["well"] = {"images": [{"path": "0"}], "version": "0.4"}
    import csv

    for node, what in (("", "plate"), ("/A/1", "well")):
        src = str(tmp_path / "plate.ome.zarr") + node
        out = tmp_path / f"o{what}"
        assert main(["segment", src, "-o", str(out), "--method", "kmeans"]) == 1
        error = next(csv.DictReader(open(out / "mmtseg_summary.csv")))["error"]
        assert f"HCS {what}; give one field, e.g. {tmp_path / 'plate.ome.zarr'}/A/1/0" in error
        assert "damaged" not in error


def test_a_plain_folder_is_never_replaced_by_labels(tmp_path):
    """As a file:// output, and as a folder in the way of a labels store (a review)."""
    import csv

    _ome_pyramid(tmp_path / "x.ome.zarr")
    plain = tmp_path / "plain.zarr"
    plain.mkdir()
    (plain / "keep.txt").write_text("mine")
    src = str(tmp_path / "x.ome.zarr" / "1")
    args = ["--method", "kmeans", "--overwrite"]
    assert main(["segment", src, "-o", f"file://{plain}", *args]) == 0
    assert (plain / "keep.txt").read_text() == "mine"
    out = tmp_path / "out"
    (out / "x_1_labels.ome.zarr").mkdir(parents=True)
    (out / "x_1_labels.ome.zarr" / "mywork.tif").write_text("mine")
    assert main(["segment", src, "-o", str(out), *args]) == 1
    assert (out / "x_1_labels.ome.zarr" / "mywork.tif").read_text() == "mine"
    row = next(csv.DictReader(open(out / "mmtseg_summary.csv")))
    assert "not a zarr store" in row["error"]
