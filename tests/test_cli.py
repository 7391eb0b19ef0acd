"""The ``mmtseg segment`` command line: files, folders, samples, metadata, errors."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

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


def test_axes_says_what_a_plain_tiff_stack_does_not(tmp_path, capsys):
    """A plain TIFF says nothing of its axes (tifffile: QYX), so a Z stack was segmented as
    frames, a new set of ids on every slice, and the CLI had no way to say Z."""
    yy, xx = np.mgrid[:32, :32]
    ball = np.stack([((yy - 16) ** 2 + (xx - 16) ** 2 < 40 + 20 * z) for z in range(3)])
    rng = np.random.default_rng(0)
    stack = (60 + 150 * ball + rng.normal(0, 6, ball.shape)).clip(0, 255).astype(np.uint8)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, stack)
    opts = ["--device", "cpu", "--preset", "fast", "--set", "max_iter=10", "--seed", "0"]
    assert main(["segment", str(src), "-o", str(tmp_path / "z.tif"), "--axes", "zyx", *opts]) == 0
    got = tifffile.imread(tmp_path / "z.tif")
    want = segment(stack, axes="ZYX", preset="fast", max_iter=10, seed=0, device="cpu").labels
    np.testing.assert_array_equal(got, want)
    ball_ids = {int(np.bincount(got[z][ball[z]]).argmax()) for z in range(3)}
    assert len(ball_ids) == 1  # one object through Z, one id
    capsys.readouterr()
    assert main(["segment", str(src), "-o", str(tmp_path / "b.tif"), "--axes", "ZXY", *opts]) == 2
    assert "ending in YX" in capsys.readouterr().err
    assert main(["segment", str(src), "-o", str(tmp_path / "c.tif"), "--axes", "YX", *opts]) == 1
    assert "--axes YX has 2 letters; this input has 3 axes" in capsys.readouterr().err
