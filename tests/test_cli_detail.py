"""``mmtseg segment --detail``: the level of the region hierarchy written."""

import csv
import json

import numpy as np
import pytest
import tifffile
from skimage import data
from skimage.transform import resize

from napari_mmtseg import segment
from napari_mmtseg.cli import main


def _photo(tmp_path):
    img = resize(data.astronaut()[:256, 128:384], (64, 64), anti_aliasing=True) * 255
    src = tmp_path / "photo.tif"
    tifffile.imwrite(src, img.astype(np.uint8))
    return img.astype(np.uint8), src


def test_detail_writes_that_level_of_the_same_run(tmp_path):
    img, src = _photo(tmp_path)
    opts = ["--preset", "fast", "--set", "max_iter=10", "--device", "cpu"]
    for d in ("auto", "1", "0"):
        assert main(["segment", str(src), "-o", str(tmp_path / d), "--detail", d] + opts) == 0
    res = segment(img, preset="fast", max_iter=10, device="cpu")
    for d, level in (("auto", "auto"), ("1", 1.0), ("0", 0.0)):
        written = tifffile.imread(tmp_path / d / "photo_labels.tif")
        np.testing.assert_array_equal(written, res.at(level))
        # the summary and the file's record count the level written, not the default one
        with tifffile.TiffFile(tmp_path / d / "photo_labels.tif") as tif:
            record = json.loads(tif.pages[0].description)
        row = next(csv.DictReader(open(tmp_path / d / "mmtseg_summary.csv")))
        assert int(row["labels"]) == record["n_labels"] == int(written.max())
        assert record["output"].get("detail", "auto") == level
        assert record["output"]["n_regions"] == int(written.max())
        if level != "auto":  # a level's regions have no classes; the default level's kept apart
            assert record["output"]["n_classes"] is None
            assert record["output"]["default_level"]["n_regions"] == res.output["n_regions"]
            assert record["output"]["default_level"]["n_classes"] == res.output["n_classes"]
    assert res.hierarchy.n_regions(1.0) > res.hierarchy.n_regions(0.0)


@pytest.mark.parametrize(
    "args",
    [
        ["--detail", "1.5"],
        ["--detail", "fine"],
        ["--detail", "0.5", "--n-classes", "2"],
        ["--detail", "0.5"],  # k-means gives classes unless told otherwise
        ["--detail", "0.5", "--method", "multiotsu"],
        ["--detail", "0.5", "--train-on", "1"],  # a model applied keeps no hierarchy
        ["--detail", "0.5", "--scribbles", "marks.tif"],  # nor does a scribbled run
    ],
)
def test_a_bad_detail_is_a_usage_error(tmp_path, args):
    _, src = _photo(tmp_path)
    try:
        rc = main(["segment", str(src), "-o", str(tmp_path / "o"), "--method", "kmeans"] + args)
    except SystemExit as exit_:  # argparse's usage errors
        rc = exit_.code
    assert rc == 2 and not (tmp_path / "o").exists()


def test_a_stack_with_a_detail_fails_before_training_and_the_2d_input_is_written(
    tmp_path, monkeypatch
):
    """A stack keeps no hierarchy: with ``--detail`` its row fails before any training
    (the engine is never called for it), saying why; a 2D input beside it is written."""
    import napari_mmtseg.batch.task as task

    img, src = _photo(tmp_path)
    tifffile.imwrite(tmp_path / "zstack.tif", np.stack([img[..., 0]] * 3), imagej=True,
                     metadata={"axes": "ZYX"})  # fmt: skip
    calls = []
    real = task._segment
    monkeypatch.setattr(
        task, "_segment", lambda image, *a: calls.append(image.shape) or real(image, *a)
    )
    out = tmp_path / "out"
    argv = ["segment", str(src), str(tmp_path / "zstack.tif"), "-o", str(out), "--detail", "0.5",
            "--preset", "fast", "--set", "max_iter=5", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 1  # one failed
    rows = {r["input"].split("/")[-1]: r for r in csv.DictReader(open(out / "mmtseg_summary.csv"))}
    assert rows["photo.tif"]["status"] == "done" and rows["zstack.tif"]["status"] == "failed"
    assert "3 slices" in rows["zstack.tif"]["error"] and "--detail" in rows["zstack.tif"]["error"]
    assert calls == [img.shape]  # the stack was never segmented
