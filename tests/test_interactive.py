"""The simulated-user protocol of Refine (issue 23) through ``mmtseg bench --protocol
interactive``, on a tiny synthetic microscopy set; its table and its strokes."""

import csv

import numpy as np
import pytest

from napari_mmtseg.bench.interactive import ARMS, error_stroke, round_table
from napari_mmtseg.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_masks(root):
    """One 48 x 64 field with four nuclei (two touching), its instance mask."""
    import tifffile
    from skimage.draw import disk

    rng = np.random.default_rng(0)
    img = np.full((48, 64), 200.0)
    mask = np.zeros((48, 64), np.uint16)
    for k, (cy, cx) in enumerate([(12, 12), (34, 16), (14, 44), (24, 48)], 1):
        rr, cc = disk((cy, cx), 7, shape=img.shape)
        img[rr, cc] = 900 if k < 4 else 500  # the last one dimmer
        mask[rr, cc] = k
    img += rng.normal(0, 20, img.shape)
    bb = root / "bbbc039_dev"
    (bb / "images").mkdir(parents=True)
    (bb / "masks").mkdir()
    tifffile.imwrite(bb / "images" / "f1.tif", img.astype(np.uint16))
    tifffile.imwrite(bb / "masks" / "f1.tif", mask)


def test_bench_interactive_protocol_writes_rounds_and_table(tmp_path, capsys):
    _tiny_masks(tmp_path / "data")
    out = tmp_path / "out"
    args = ["bench", "--protocol", "interactive", "--dataset", "masks"]
    args += ["--root", str(tmp_path / "data"), "--out", str(out), "--rounds", "1,2"]
    assert main(args + ["--device", "cpu"]) == 0
    with open(out / "interactive.csv") as f:
        rows = list(csv.DictReader(f))
    rounds = sorted({int(r["round"]) for r in rows})
    assert rounds[0] == 0 and rounds[-1] <= 2
    assert {r["arm"] for r in rows} == set(ARMS)
    assert all(0 <= float(r["f1"]) <= 1 and 0 <= float(r["fg_iou"]) <= 1 for r in rows)
    printed = capsys.readouterr().out
    assert "| refine | 0 |" in printed and "Rounds that lowered" in printed
    assert (out / "interactive.md").read_text().strip() in printed


def test_bench_interactive_rejects_bad_rounds(tmp_path, capsys):
    _tiny_masks(tmp_path / "data")
    args = ["bench", "--protocol", "interactive", "--dataset", "masks", "--rounds", "0,x"]
    assert main(args + ["--root", str(tmp_path / "data"), "--out", str(tmp_path)]) == 2
    assert "--rounds" in capsys.readouterr().err


def test_round_table_counts_the_rounds_that_lowered_refine():
    rows = []
    for image, seq in (("a", [0.5, 0.6, 0.55, 0.7]), ("b", [0.4, 0.4, 0.5, 0.6])):
        for k, v in enumerate(seq):
            for arm in ARMS:
                rows.append({"id": image, "round": k, "arm": arm, "f1": v, "fg_iou": v})
    text = round_table(rows, ("f1", "fg_iou"), (0, 1, 3))
    assert "| refine | 3 | 0.650 | 0.650 | 2 |" in text
    assert "f1: 1 of 2 images (1 rounds of 6)" in text
    assert "| refine | 2 |" not in text
    assert "refine f1: 0/2 1/2 0/2" in text  # per round: the bound is per round
    as_read = [{k: str(v) for k, v in r.items()} for r in rows]  # the CSV's text
    assert round_table(as_read, ("f1", "fg_iou"), (0, 1, 3)) == text


def test_round_table_keeps_the_last_score_of_an_image_with_nothing_left_to_correct():
    rows = [
        {"id": "a", "round": k, "arm": arm, "f1": 0.5 + 0.1 * k} for k in range(4) for arm in ARMS
    ]
    rows += [{"id": "b", "round": 0, "arm": arm, "f1": 1.0} for arm in ARMS]  # perfect: no strokes
    text = round_table(rows, ("f1",), (0, 1, 3))
    assert "| refine | 0 | 0.750 | 2 |" in text
    assert "| refine | 3 | 0.900 | 2 |" in text


def test_error_stroke_paints_the_largest_error_with_the_ground_truths_id():
    gt = np.zeros((40, 40), np.int64)
    gt[5:35, 5:20], gt[10:20, 25:35] = 1, 2
    pred = np.zeros_like(gt)
    pred[5:35, 5:20] = 7  # region 7 is gt 1; gt 2 is missed (100 px), no other error
    s = error_stroke(pred, gt)
    assert s.any() and len(np.unique(s[s > 0])) == 1 and s.max() > pred.max()  # a new id ...
    assert (gt[s > 0] == 2).all()  # ... inside the missed object
    assert (error_stroke(gt, gt) == 0).all()
