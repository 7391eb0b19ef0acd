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
