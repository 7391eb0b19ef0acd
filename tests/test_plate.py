"""One model for many images (issue 22 item 3): ``mmtseg train``, ``mmtseg segment
--model`` and ``--train-on``, and ``segment_many(model=...)`` on a dask cluster."""

import csv
import hashlib
import json
import re

import numpy as np
import pytest
import tifffile

from napari_mmtseg import load_model, segment
from napari_mmtseg.batch import SUMMARY_NAME, segment_many
from napari_mmtseg.batch.train import MODEL_NAME, sample_evenly
from napari_mmtseg.cli import main

FAST = ["--preset", "fast", "--seed", "1", "--device", "cpu", "--set", "max_iter=15",
        "--set", "q=8"]  # fmt: skip


def _images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:36, :40]
    for i in range(n):
        rng = np.random.default_rng(i)
        img = 300 + 2500 * ((yy - 12 - i) ** 2 + (xx - 18 - 2 * i) ** 2 < 60) + 1200 * (xx > 30 - i)
        tifffile.imwrite(
            folder / f"f{i}.tif", (img + rng.normal(0, 60, img.shape)).astype(np.uint16)
        )
    return sorted(folder.glob("f*.tif"))


def _rows(folder):
    with open(folder / SUMMARY_NAME) as fh:
        return list(csv.DictReader(fh))


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_then_segment_with_the_model_gives_the_python_ids(tmp_path, capsys):
    files = _images(tmp_path / "in", 2)
    model_path = tmp_path / "model.pt"
    assert main(["train", *map(str, files), "-o", str(model_path), *FAST]) == 0
    out = tmp_path / "out"
    argv = ["segment", *map(str, files), "-o", str(out), "--model", str(model_path)]
    capsys.readouterr()
    assert main(argv + ["--device", "cpu", "--output-mode", "clusters"]) == 0
    err = capsys.readouterr().err  # the model's parameters apply: no preset to announce
    assert "mmtseg: device cpu" in err and "preset" not in err
    model = load_model(model_path)
    assert model.method == "mmt" and model.params.q == 8
    for f in files:
        expected = segment(tifffile.imread(f), model=model, device="cpu", output="clusters")
        got = tifffile.imread(out / f"{f.stem}_labels.tif")
        np.testing.assert_array_equal(got, expected.labels)  # id for id
        info = json.loads(tifffile.TiffFile(out / f"{f.stem}_labels.tif").pages[0].description)
        assert info["model_sha256"] == _sha(model_path)
    rows = _rows(out)
    assert {r["model"] for r in rows} == {str(model_path)}
    assert {r["model_sha256"] for r in rows} == {_sha(model_path)}


def test_train_takes_n_classes_and_output_mode_as_segment_does(tmp_path, capsys):
    """``mmtseg train ... --n-classes 2 --output-mode clusters`` said "unrecognized
    arguments" (only ``--set n_classes=2 --set output=clusters`` did it); the model it
    writes gives 2 ids on every field."""
    files = _images(tmp_path / "in", 3)
    model_path = tmp_path / "model.pt"
    argv = ["train", *map(str, files[:2]), "-o", str(model_path), *FAST]
    assert main(argv + ["--n-classes", "2", "--output-mode", "clusters"]) == 0
    model = load_model(model_path)
    assert model.params.n_classes == 2 and model.params.output == "clusters"
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["segment", str(tmp_path / "in"), "-o", str(out), "--model", str(model_path),
                 "--device", "cpu"]) == 0  # fmt: skip
    assert "trained with n_classes" not in capsys.readouterr().err
    ids = {model.channel_ids[c] for c in model.class_channels}
    for f in files:
        assert set(np.unique(tifffile.imread(out / f"{f.stem}_labels.tif")).tolist()) <= ids
    assert len(ids) == 2


def test_train_on_writes_one_model_applied_to_all_and_named_in_the_summary(tmp_path):
    _images(tmp_path / "plate", 3)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "plate"), "-o", str(out), "--train-on", "2", *FAST]) == 0
    model_path = out / MODEL_NAME
    assert model_path.is_file() and load_model(model_path).method == "mmt"
    rows = _rows(out)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"done"}
    assert {r["model_sha256"] for r in rows} == {_sha(model_path)}
    assert all((out / f"f{i}_labels.tif").is_file() for i in range(3))


def test_train_on_does_not_reuse_a_model_of_another_method(tmp_path, capsys):
    """A second ``--train-on`` run into the same folder reuses its model file only when it
    was trained with the method asked for; otherwise a usage error says what is there."""
    _images(tmp_path / "plate", 2)
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "plate"), "-o", str(out), "--train-on", "1", *FAST]
    assert main(argv + ["--method", "kim2020"]) == 0
    assert main(argv + ["--method", "mmt", "--overwrite"]) == 0  # trains again: allowed
    capsys.readouterr()
    assert main(argv + ["--method", "kim2020"]) == 2
    assert "--method mmt, not kim2020" in capsys.readouterr().err


def test_train_on_reuses_its_model_only_when_trained_as_asked(tmp_path, capsys):
    """A second ``--train-on`` run into the same folder (a resumed batch) reuses the model
    file only when its seed, sample of fields and training parameters are the ones asked
    for; the parameters of labelling (output mode, merging) may change, except for a model
    trained on one image, whose class ids come from labelling it."""
    _images(tmp_path / "plate", 3)
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "plate"), "-o", str(out), *FAST]
    assert main(argv + ["--train-on", "2"]) == 0
    sha = _sha(out / MODEL_NAME)
    capsys.readouterr()
    assert main(argv + ["--train-on", "2", "--output-mode", "clusters"]) == 0
    assert "reusing the model" in capsys.readouterr().err
    fields = sorted(str(p) for p in (tmp_path / "plate").iterdir())
    for changed, phrase in [
        # both samples whole (the model's two fields, this run's three); a difference alone
        # read as a swap ("files b, not a") where the run asked for both
        (["--train-on", "3"], f"files {fields[0]}, {fields[2]}, not {', '.join(fields)}"),
        (["--train-on", "2", "--set", "max_iter=9"], "max_iter=15, not 9"),
        (["--train-on", "2", "--preset", "paper"], "--preset fast, not paper"),
        (["--train-on", "2", "--n-classes", "2"], "n_classes='auto', not 2"),  # stops training
        (["--train-on", "2", "--channel-axis", "none"], "--channel-axis None, not none"),
    ]:
        assert main(argv + changed) == 2, changed
        err = capsys.readouterr().err
        assert "holds a model trained otherwise" in err and phrase in err and "--overwrite" in err
    seed = [a if a != "1" else "2" for a in argv]  # --seed 2
    assert main(seed + ["--train-on", "2"]) == 2
    assert "--seed 1, not 2" in capsys.readouterr().err
    assert main(argv + ["--train-on", "2", "--set", "k=5"]) == 0  # k-means' own: not read
    assert _sha(out / MODEL_NAME) == sha  # never replaced without --overwrite
    one = ["segment", str(tmp_path / "plate"), "-o", str(tmp_path / "one"), *FAST]
    assert main(one + ["--train-on", "1"]) == 0
    assert main(one + ["--train-on", "1", "--output-mode", "clusters"]) == 2
    assert "output='regions', not 'clusters'" in capsys.readouterr().err


def test_train_on_names_its_files_by_path_whatever_form_the_inputs_take(
    tmp_path, capsys, monkeypatch
):
    """The same fields given as a folder, a glob, absolute or relative paths are the same
    sample; a model file without a record of its training is not reused, and the message
    names --model to apply it as it is."""
    files = _images(tmp_path / "plate", 2)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["-o", str(out), "--train-on", "2", *FAST]
    assert main(["segment", "plate", *argv]) == 0
    model = load_model(out / MODEL_NAME)
    assert model.training["files"] == [str(f.resolve()) for f in files]
    for given in ([str(tmp_path / "plate")], ["./plate/*.tif"], [str(f) for f in files]):
        (out / "f0_labels.tif").unlink()
        assert main(["segment", *given, *argv]) == 0, given
        assert "1 done, 1 skipped" in capsys.readouterr().err
    model.training = None  # as a file written before the record existed
    model.save(out / MODEL_NAME)
    assert main(["segment", "plate", *argv]) == 2
    err = capsys.readouterr().err
    assert "no record of how it was trained" in err and f"--model {out / MODEL_NAME}" in err


def test_train_rejects_a_method_that_trains_nothing_or_none_at_all(tmp_path, capsys):
    files = _images(tmp_path / "in", 1)
    for method in ("felzenszwalb", "nonesuch"):
        argv = ["train", str(files[0]), "-o", str(tmp_path / "m.pt"), "--method", method]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "mmt, kim2020, kanezaki2018" in err and "multiotsu" not in err


def test_train_refuses_a_folder_as_the_model_file_before_training(tmp_path, capsys):
    files = _images(tmp_path / "in", 1)
    argv = ["train", str(files[0]), "-o", str(tmp_path), "--overwrite", *FAST]
    assert main(argv) == 2
    assert "is a folder: name the model file" in capsys.readouterr().err


def test_a_classical_method_trains_no_model(tmp_path, capsys):
    files = _images(tmp_path / "in", 1)
    assert main(["train", str(files[0]), "-o", str(tmp_path / "m.pt"), "--method", "kmeans"]) == 2
    assert "learned method" in capsys.readouterr().err


def test_sample_evenly_spreads_and_is_seeded():
    items = list(range(24))
    picked = sample_evenly(items, 4, seed=0)
    assert len(picked) == 4 and picked == sorted(set(picked))
    assert all(6 * i <= p < 6 * (i + 1) for i, p in enumerate(picked))
    assert picked == sample_evenly(items, 4, seed=0)
    assert sample_evenly(items, 30) == items


def test_segment_many_sends_the_model_to_the_workers_and_applies_it(tmp_path):
    pytest.importorskip("distributed")
    from distributed import Client

    from napari_mmtseg.batch import local_cluster

    files = _images(tmp_path / "in", 2)
    trained = segment(tifffile.imread(files[0]), method="kim2020", preset="fast", seed=0,
                      device="cpu", max_iter=10, q=6, keep_model=True).model  # fmt: skip
    cluster = local_cluster(2)
    try:
        with Client(cluster) as client:
            report = segment_many(
                [str(tmp_path / "in")], str(tmp_path / "out"), client=client, model=trained,
                device="cpu", overrides={"output": "clusters"}, num_threads=1,
                model_info={"model": "in-memory", "model_sha256": "x"},
            )  # fmt: skip
    finally:
        cluster.close()
    assert report.ok and report.count("done") == 2
    for f in files:
        expected = segment(tifffile.imread(f), model=trained, device="cpu", output="clusters")
        got = tifffile.imread(tmp_path / "out" / f"{f.stem}_labels.tif")
        np.testing.assert_array_equal(got, expected.labels)
    assert {r["model"] for r in _rows(tmp_path / "out")} == {"in-memory"}


def test_model_and_train_on_together_or_a_non_model_file_are_usage_errors(tmp_path, capsys):
    files = _images(tmp_path / "in", 2)
    out = str(tmp_path / "out")
    bad = tmp_path / "not_a_model.pt"
    bad.write_text("hello")
    argv = ["segment", *map(str, files), "-o", out, "--device", "cpu"]
    assert main(argv + ["--model", str(bad), "--train-on", "1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(argv + ["--model", str(bad)]) == 2
    assert "not a napari-mmtseg model" in capsys.readouterr().err


def test_options_a_model_cannot_take_are_usage_errors_before_any_input(tmp_path, capsys):
    """With --model: what only a training run reads (--preset, --scribbles), another
    method, a field of the networks or n_classes with clusters is refused up front (exit
    2, no input touched), never silently ignored nor failed input by input."""
    files = _images(tmp_path / "in", 2)
    model_path = tmp_path / "model.pt"
    assert main(["train", str(files[0]), "-o", str(model_path), *FAST]) == 0
    out = tmp_path / "out"
    argv = ["segment", *map(str, files), "-o", str(out), "--device", "cpu",
            "--model", str(model_path)]  # fmt: skip
    for extra, phrase in [
        (["--preset", "paper"], "leave --preset out"),
        (["--scribbles", str(files[0])], "inference alone"),
        (["--method", "kim2020"], "--method kim2020 does not apply"),
        (["--set", "q=16"], "q defines the model's networks"),
        (["--set", "max_iter=5", "--set", "lr=0.5"], "--set lr, max_iter: --model applies"),
        (["--output-mode", "clusters", "--n-classes", "3"], "On the command line: no --n-classes"),
    ]:
        capsys.readouterr()
        assert main(argv + extra) == 2, extra
        assert phrase in capsys.readouterr().err, extra
        assert not list(out.glob("*"))  # no summary, no labels: nothing was started
    assert main(argv + ["--method", "mmt"]) == 0  # the model's own method: fine


def test_pick_usable_replaces_a_pick_by_the_next_input():
    from napari_mmtseg.batch.train import pick_usable

    items = list("abcdef")
    assert sample_evenly(items, 3, seed=1) == ["b", "d", "f"]
    asked = []

    def why(x):
        asked.append(x)
        return "bad" if x in "bfa" else None

    # b -> c; f -> (wraps round) a, bad too -> e (c was asked already)
    picked, skipped = pick_usable(items, 3, 1, why)
    assert picked == ["c", "d", "e"] and skipped == [("b", "bad"), ("f", "bad"), ("a", "bad")]
    assert sorted(asked) == sorted(set(asked)) == items  # each asked once
    picked, skipped = pick_usable(items, 3, 1, lambda x: None if x == "d" else "bad")
    assert picked == ["d"] and len(skipped) == 5  # fewer when fewer are usable
    assert pick_usable(items, 3, 1, lambda x: None) == (["b", "d", "f"], [])


def test_train_on_skips_a_damaged_or_odd_shaped_sample_and_takes_the_next(tmp_path, capsys):
    """A --train-on sample that drew a damaged file, or one of another shape, stopped the
    whole batch with a usage error and an empty output folder; now the sample skips them,
    says so, trains on the next inputs, and every input is segmented (the damaged one fails
    in its own row). A rerun reuses the model: the same files are skipped again."""
    plate = tmp_path / "plate"
    _images(plate, 4)  # f0..f3, 36 x 40
    (plate / "f0_damaged.tif").write_bytes((plate / "f0.tif").read_bytes()[:200])
    tifffile.imwrite(plate / "g_big.tif", np.full((50, 40), 500, np.uint16))
    fields = sorted(plate.iterdir())  # f0, f0_damaged, f1, f2, f3, g_big
    assert [f.name for f in sample_evenly(fields, 3, seed=1)] == [
        "f0_damaged.tif", "f2.tif", "g_big.tif"
    ]  # fmt: skip
    out = tmp_path / "out"
    argv = ["segment", str(plate), "-o", str(out), "--train-on", "3", *FAST]
    assert main(argv) == 1  # the damaged file fails as an input
    err = capsys.readouterr().err
    skips = [line for line in err.splitlines() if "--train-on skips" in line]
    assert len(skips) == 2, err
    assert str(plate / "f0_damaged.tif") in skips[0] and "damaged, or not an image" in skips[0]
    assert (
        str(plate / "g_big.tif") in skips[1] and "(50, 40)" in skips[1] and "(36, 40)" in skips[1]
    )
    assert "model trained on 3 image(s)" in err
    training = load_model(out / MODEL_NAME).training
    assert training["files"] == [str(plate / n) for n in ("f0.tif", "f1.tif", "f2.tif")]
    assert training["skipped"] == [str(plate / n) for n in ("f0_damaged.tif", "g_big.tif")]
    status = {r["input"]: r["status"] for r in _rows(out)}
    assert len(status) == 6 and status.pop(str(plate / "f0_damaged.tif")) == "failed"
    assert set(status.values()) == {"done"}
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "reusing the model" in err and "--train-on skips" not in err


def test_train_on_with_no_usable_input_is_a_usage_error_leaving_no_folder(tmp_path, capsys):
    plate = tmp_path / "plate"
    plate.mkdir()
    (plate / "a.tif").write_bytes(b"")
    (plate / "b.tif").write_bytes(b"not a tiff at all")
    out = tmp_path / "new" / "out"
    assert main(["segment", str(plate), "-o", str(out), "--train-on", "1", *FAST]) == 2
    err = capsys.readouterr().err
    assert "no file of the 2 input(s) can be used for training" in err, err
    assert f"{plate / 'a.tif'}: the file is empty" in err and str(plate / "b.tif") in err
    assert not (tmp_path / "new").exists()  # the command made it, and leaves none behind


def test_training_names_the_file_it_cannot_use(tmp_path, capsys):
    """mmtseg train and --train-on stack their files: a damaged, empty or NaN file is a
    usage error that names it (was a traceback, or the engine's slice number)."""
    files = _images(tmp_path / "in", 2)
    bad = {
        "damaged.tif": files[0].read_bytes()[:200],
        "empty.tif": b"",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    tifffile.imwrite(tmp_path / "nan.tif", np.full((36, 40), np.nan, np.float32))
    for name in (*bad, "nan.tif"):
        argv = ["train", str(files[0]), str(tmp_path / name), "-o", str(tmp_path / "m.pt"), *FAST]
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert "Traceback" not in err and f"{tmp_path / name}:" in err, err
        assert {"damaged.tif": "damaged, or not an image", "empty.tif": "empty (0 bytes)"}.get(
            name, "NaN"
        ) in err


def test_training_on_lazy_files_names_the_file_with_nan(tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("dask")
    img = np.random.default_rng(0).random((36, 40)).astype(np.float32)
    paths = []
    for name in ("a.zarr", "b.zarr", "c.zarr"):
        kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
        z = zarr.open_array(str(tmp_path / name), mode="w", shape=img.shape, dtype="f4", **kw)
        z[...] = img
        img[3, 3] = np.nan  # b and c hold a NaN
        paths.append(str(tmp_path / name))
    assert main(["train", *paths, "-o", str(tmp_path / "m.pt"), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'b.zarr'}: " in err and "NaN" in err and "Traceback" not in err


def test_segment_many_says_a_preset_given_with_a_model_is_unused(tmp_path):
    """segment_many(model=m, preset=...) ignored the preset silently (segment warns); the
    CLI's --train-on, which trains the model with its preset, does not warn."""
    files = _images(tmp_path / "in", 1)
    img = tifffile.imread(files[0])
    model = segment(img, preset="fast", device="cpu", max_iter=5, q=6, keep_model=True).model
    with pytest.warns(UserWarning, match="preset='paper' is not used"):
        segment_many([str(files[0])], str(tmp_path / "out"), model=model, preset="paper",
                     device="cpu", log=False)  # fmt: skip
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["segment", str(files[0]), "-o", str(tmp_path / "o2"), "--train-on", "1",
                     *FAST]) == 0  # fmt: skip


def test_segment_many_refuses_a_model_path_or_a_method_before_any_work(tmp_path):
    """segment_many took a path for ``model`` to a raw AttributeError from a task, and an
    unknown method or one other than the model's to a batch run as if it were not given
    (or failed file by file); like segment(), it now says what is wrong up front."""
    files = _images(tmp_path / "in", 1)
    out = tmp_path / "out"
    with pytest.raises(TypeError, match="model must be a napari_mmtseg Model.*load_model"):
        segment_many([str(files[0])], str(out), model="model.pt", device="cpu", log=False)
    with pytest.raises(ValueError, match="Unknown method 'nope'"):
        segment_many([str(files[0])], str(out), method="nope", device="cpu", log=False)
    img = tifffile.imread(files[0])
    model = segment(img, preset="fast", device="cpu", max_iter=5, q=6, keep_model=True).model
    with pytest.raises(ValueError, match="trained with 'mmt', not 'kim2020'"):
        segment_many([str(files[0])], str(out), model=model, method="kim2020", device="cpu",
                     log=False)  # fmt: skip
    assert not out.exists()  # nothing was started
    report = segment_many([str(files[0])], str(out), model=model, method="mmt", device="cpu",
                          log=False)  # fmt: skip
    assert report.count("done") == 1  # the model's own method, given: fine


def test_a_model_record_without_a_model_is_refused_before_any_work(tmp_path):
    """model_info without model trained each input on its own yet wrote the model file
    and its hash in the summary and the labels' metadata: a false record."""
    from napari_mmtseg.batch.task import segment_file

    files = _images(tmp_path / "in", 1)
    out = tmp_path / "out"
    info = {"model": "model.pt", "model_sha256": "0" * 64}
    with pytest.raises(ValueError, match="model_info names the model file.*no model was given"):
        segment_many([str(files[0])], str(out), model_info=info, preset="fast", device="cpu",
                     log=False)  # fmt: skip
    assert not out.exists()  # nothing was started
    with pytest.raises(ValueError, match="model_info names the model file"):
        segment_file(str(files[0]), str(out / "a.tif"), model_info=info, device="cpu")
    assert not out.exists()


def test_the_usage_guide_says_how_segment_many_gives_clusters(tmp_path):
    """segment_many's second argument, ``output``, is the folder: the guide's model and
    batch sections say that clusters output is an override, and that call gives them."""
    from pathlib import Path

    guide = (Path(__file__).parents[1] / "docs" / "usage.md").read_text()
    calls = re.findall(r"segment_many\([^`]*overrides=\{\"output\":\s+\"clusters\"\}\)", guide)
    assert len(calls) >= 2, calls  # keeping and reusing a model; the batch section
    files = _images(tmp_path / "in", 1)
    report = segment_many([str(files[0])], str(tmp_path / "out"), method="kmeans",
                          overrides={"output": "clusters"}, device="cpu", log=False)  # fmt: skip
    assert report.count("done") == 1
    expected = segment(tifffile.imread(files[0]), method="kmeans", output="clusters", seed=0)
    got = tifffile.imread(tmp_path / "out" / f"{files[0].stem}_labels.tif")
    np.testing.assert_array_equal(got, expected.labels)


def test_a_model_file_that_is_an_input_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """``mmtseg train a.tif b.tif -o a.tif --overwrite`` saved the model over the image a.tif,
    and ``--train-on`` over an input named as its model file: both are usage errors now,
    --overwrite or not, before any training."""
    import napari_mmtseg.batch.train as train

    files = _images(tmp_path / "in", 2)
    before = {f: f.read_bytes() for f in files}

    def no_training(*a, **k):
        raise AssertionError("trained")

    monkeypatch.setattr(train, "train_model", no_training)
    for target in (files[0], tmp_path / "in" / ".." / "in" / files[1].name):
        for extra in ([], ["--overwrite"]):
            argv = ["train", *map(str, files), "-o", str(target), *FAST, *extra]
            assert main(argv) == 2, (target, extra)
            err = capsys.readouterr().err
            assert f"-o {target} is the input" in err and "another model file" in err, err
    out = tmp_path / "out"
    out.mkdir()
    inside = out / MODEL_NAME
    inside.write_bytes(files[0].read_bytes())  # an image named as --train-on's model file
    argv = ["segment", str(files[1]), str(inside), "-o", str(out), "--train-on", "2",
            "--overwrite", *FAST]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--train-on's model file {inside} is the input" in err, err
    assert inside.read_bytes() == files[0].read_bytes()
    assert {f: f.read_bytes() for f in files} == before
    assert sorted(p.name for p in out.iterdir()) == [MODEL_NAME]  # nothing else was started


def test_a_method_that_trains_no_model_is_named_so_with_train_on_or_model(tmp_path, capsys):
    """--train-on trains one model: --method trainable was told to give --scribbles (which
    --train-on refuses), not that only a learned method trains a model, as kmeans is, and
    kmeans was told so only after the output folder was made; with --model, the method is
    the model's and that is what is said."""
    files = _images(tmp_path / "in", 2)
    model_path = tmp_path / "model.pt"
    for method in ("trainable", "kmeans"):
        out = tmp_path / f"out_{method}"
        argv = ["segment", *map(str, files), "-o", str(out), "--train-on", "2", "--method",
                method, "--device", "cpu"]  # fmt: skip
        assert main(argv) == 2, method
        err = capsys.readouterr().err
        assert (
            f"only a learned method (mmt, kim2020, kanezaki2018) trains a model, not {method!r}"
            in err
        ), err
        assert "--scribbles" not in err and not out.exists(), method
    assert main(["train", str(files[0]), "-o", str(model_path), *FAST]) == 0
    capsys.readouterr()
    argv = ["segment", str(files[0]), "-o", str(tmp_path / "o"), "--model", str(model_path),
            "--method", "trainable", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--method trainable does not apply with --model" in err and "--scribbles" not in err


def test_train_on_with_n_classes_and_clusters_output_gives_those_classes_everywhere(
    tmp_path, capsys
):
    """``--train-on 2 --n-classes 2 --output-mode clusters`` trained and saved the model,
    then stopped before any label: the model's own n_classes was taken for a request to
    regroup its classes per image. Then it labelled with every network channel a class
    (n_classes 'auto', with a warning). The model now learns how its training run grouped
    its channels into 2 classes, and every field gets those 2 classes and their ids, as
    ``segment(model=...)`` gives them."""
    files = _images(tmp_path / "plate", 3)
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "plate"), "-o", str(out), "--train-on", "2", *FAST]
    capsys.readouterr()
    assert main(argv + ["--n-classes", "2", "--output-mode", "clusters"]) == 0
    assert "trained with n_classes" not in capsys.readouterr().err
    model = load_model(out / MODEL_NAME)
    ids = {model.channel_ids[c] for c in model.class_channels}
    assert len(ids) == 2  # the same 2 ids on every field
    for f in files:
        expected = segment(tifffile.imread(f), model=model, device="cpu")
        got = tifffile.imread(out / f"{f.stem}_labels.tif")
        np.testing.assert_array_equal(got, expected.labels)
        assert set(np.unique(got).tolist()) <= ids
    with pytest.raises(ValueError, match="would regroup them per image"):
        segment(tifffile.imread(files[0]), model=model, device="cpu", n_classes=3)


def test_segment_many_refuses_overrides_no_run_can_take_before_any_input(tmp_path):
    """``segment_many(files, out, model=m, overrides={"q": 16})`` failed once per input (the
    CLI refuses the same before reading any); now before any input, with no summary."""
    files = _images(tmp_path / "in", 2)
    model = segment(tifffile.imread(files[0]), keep_model=True, preset="fast", max_iter=5,
                    q=8, device="cpu").model  # fmt: skip
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="q defines the model's networks"):
        segment_many(files, out, model=model, overrides={"q": 16})
    with pytest.raises(ValueError, match="would regroup them per image"):
        segment_many(files, out, model=model, overrides={"output": "clusters", "n_classes": 3})
    with pytest.raises(ValueError, match="lr"):
        segment_many(files, out, overrides={"lr": -1.0})
    assert not out.exists()


def test_train_never_writes_its_model_over_an_image_that_is_not_an_input(tmp_path):
    """``mmtseg train f0.tif -o f1.tif --overwrite`` replaced the image f1.tif (not an input)
    with the model. Refused before training, --overwrite or not."""
    files = _images(tmp_path / "in", 2)
    before = files[1].read_bytes()
    argv = ["train", str(files[0]), "-o", str(files[1]), "--overwrite", *FAST]
    assert main(argv) == 2
    assert files[1].read_bytes() == before


def test_a_refused_model_option_leaves_no_empty_output_folder(tmp_path):
    """``--model m.pt --set max_iter=5 -o x9`` and ``--n-classes 2 --output-mode clusters``
    (refused with a model) left the empty folders they had created."""
    files = _images(tmp_path / "in", 1)
    model_path = tmp_path / "m.pt"
    assert main(["train", str(files[0]), "-o", str(model_path), *FAST]) == 0
    base = ["segment", str(files[0]), "--model", str(model_path), "--device", "cpu"]
    for extra in (["--set", "max_iter=5"], ["--n-classes", "2", "--output-mode", "clusters"]):
        out = tmp_path / "new" / "x"
        assert main(base + ["-o", str(out), *extra]) == 2
        assert not (tmp_path / "new").exists()


def test_segment_many_names_a_model_in_memory_by_the_hash_of_its_file(tmp_path):
    """Without ``model_info`` the summary and labels had an empty model column; an unknown
    key of ``model_info`` was taken silently."""
    from napari_mmtseg.batch.run import IN_MEMORY

    files = _images(tmp_path / "in", 2)
    model = segment(tifffile.imread(files[0]), keep_model=True, preset="fast", max_iter=5,
                    q=8, device="cpu").model  # fmt: skip
    segment_many(files, tmp_path / "out", model=model)
    sha = _sha(model.save(tmp_path / "m.pt"))
    rows = _rows(tmp_path / "out")
    assert {(r["model"], r["model_sha256"]) for r in rows} == {(IN_MEMORY, sha)}
    info = json.loads(tifffile.TiffFile(tmp_path / "out" / "f0_labels.tif").pages[0].description)
    assert info["model_sha256"] == sha
    with pytest.raises(ValueError, match="model_info takes"):
        segment_many(files, tmp_path / "other", model=model, model_info={"foo": 1})


def test_train_on_trains_no_model_when_every_output_exists(tmp_path, capsys):
    """``--train-on 2`` run again on a folder whose labels all exist trained a model, saved
    it beside labels it never made, and skipped every input."""
    _images(tmp_path / "plate", 2)
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "plate"), "-o", str(out), *FAST]
    assert main(argv) == 0  # one training per field
    capsys.readouterr()
    assert main(argv + ["--train-on", "2"]) == 0
    err = capsys.readouterr().err
    assert "no model trained" in err and "0 done, 2 skipped" in err
    assert not (out / MODEL_NAME).exists()
