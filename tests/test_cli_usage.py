"""``mmtseg`` usage errors: no abbreviated option, a usage error before any work (exit 2),
an output that cannot be written, the options of ``bench``; and the seed's promise."""

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_mmtseg import segment
from napari_mmtseg.cli import main


def _image(path):
    img = np.full((40, 48), 200, np.uint16)
    img[:, 24:] = 900
    img = img + np.random.default_rng(0).integers(0, 40, img.shape).astype(np.uint16)
    tifffile.imwrite(path, img)
    return img


@pytest.mark.parametrize(
    "option, meant",
    [
        (["--output", "clusters"], ["--output-dir", "--output-mode"]),
        (["--output-m", "clusters"], ["--output-mode"]),
        (["--meth", "kmeans"], ["--method"]),
    ],
)
def test_no_option_is_abbreviated_or_taken_for_another(
    tmp_path, monkeypatch, capsys, option, meant
):
    monkeypatch.chdir(tmp_path)
    _image(tmp_path / "img.tif")
    try:
        rc = main(["segment", "img.tif", "-o", "out", "--method", "kmeans"] + option)
    except SystemExit as exit_:  # argparse's usage errors
        rc = exit_.code
    assert rc == 2
    err = capsys.readouterr().err
    assert all(m in err for m in meant), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tif"]  # nothing written


def test_no_option_is_abbreviated_anywhere(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--data", "bsds", "--out", "x"])
    assert exit_.value.code == 2 and "--dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "speed", "--dev", "cpu"])
    assert exit_.value.code == 2 and "--device" in capsys.readouterr().err


def test_trainable_without_scribbles_is_a_usage_error_naming_the_option(tmp_path, capsys):
    _image(tmp_path / "img.tif")
    assert main(["segment", str(tmp_path / "img.tif"), "-o", str(tmp_path / "out"),
                 "--method", "trainable"]) == 2  # fmt: skip
    assert "--scribbles" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _unwritable_folders(tmp_path):
    yield tmp_path / "a_file" / "out"  # a file in the way
    if Path("/sys").is_dir():
        yield Path("/sys")  # read-only for root too
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        yield ro


def test_an_output_that_cannot_be_written_stops_before_any_work(tmp_path, capsys):
    _image(tmp_path / "img.tif")
    (tmp_path / "a_file").write_text("")
    for out in _unwritable_folders(tmp_path):
        rc = main(["segment", str(tmp_path / "img.tif"), "-o", str(out), "--method", "kmeans"])
        captured = capsys.readouterr()
        assert rc == 2, out
        assert "cannot write to the output folder" in captured.err and str(out) in captured.err
        assert "->" not in captured.out  # no image was segmented
        rc = main(["segment", "--sample", "cell", "-o", str(out), "--method", "kmeans"])
        assert rc == 2 and "cannot write to the output folder" in capsys.readouterr().err


def test_bench_help_names_speed_and_merge_needs_no_dataset(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = capsys.readouterr().out
    assert "bench speed" in text and "mmt" in text.split("--methods")[1].split("--")[0]
    rc = main(["bench", "--report-only", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "results.csv" in err and "--dataset" not in err
    rc = main(["bench", "--out", str(tmp_path / "x")])
    assert rc == 2 and "--dataset and --root required" in capsys.readouterr().err


def test_train_help_lists_only_the_learned_methods(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "{mmt,kim2020,kanezaki2018}" in text
    assert not any(m in text for m in ("kmeans", "felzenszwalb", "multiotsu", "trainable"))


def test_an_unknown_option_is_matched_against_its_own_command_only(capsys):
    """'mmtseg train --workers' is no abbreviation of segment's --workers: the hint names
    only the options of the command given."""
    with pytest.raises(SystemExit):
        main(["train", "x.tif", "-o", "m.pt", "--workers", "2"])
    err = capsys.readouterr().err
    assert "unrecognized argument --workers" in err and "did you mean" not in err
    assert "abbreviated" not in err  # nothing was abbreviated: the option is not train's
    with pytest.raises(SystemExit):
        main(["train", "x.tif", "-o", "m.pt", "--thread", "1"])
    assert "did you mean --threads?" in capsys.readouterr().err  # train has --threads


@pytest.mark.parametrize("command", ["segment", "train"])
def test_threads_must_be_a_positive_count(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "x.tif", "-o", "out.pt", "--threads", "-1"])
    assert "--threads: expects an integer of at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_the_same_seed_and_threads_give_the_same_labels_everywhere(tmp_path):
    """CLI, API and two local workers, each with one torch thread (docs/usage.md)."""
    pytest.importorskip("distributed")
    img = _image(tmp_path / "in" / "a.tif") if (tmp_path / "in").mkdir() is None else None
    _image(tmp_path / "in" / "b.tif")
    kw = {"max_iter": 15, "q": 8}
    api = segment(img, method="mmt", preset="fast", seed=4, device="cpu", num_threads=1, **kw)
    sets = ["--set", "max_iter=15", "--set", "q=8"]
    base = ["--method", "mmt", "--preset", "fast", "--seed", "4", "--device", "cpu"] + sets
    assert main(["segment", str(tmp_path / "in"), "-o", str(tmp_path / "one"), "--threads", "1"]
                + base) == 0  # fmt: skip
    assert main(["segment", str(tmp_path / "in"), "-o", str(tmp_path / "two"), "--threads", "1",
                 "--workers", "2"] + base) == 0  # fmt: skip
    for folder in ("one", "two"):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / folder / "a_labels.tif"),
                                      api.labels)  # fmt: skip
