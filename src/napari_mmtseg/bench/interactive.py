"""The simulated-user protocol of interactive segmentation (issue 23).

Starting from the default result (MMT, regions output, ``keep_model=True``), each round
paints one stroke of napari's default brush (:data:`BRUSH` px wide) into the largest
remaining error region of the Refine arm against the ground truth, with the id the ground
truth says there (the id of the predicted region matched one-to-one to that ground-truth
segment, or a new id for a segment no region matches), then:

- ``refine``: :func:`napari_mmtseg.refine.refine` from the current labels and networks,
  with every stroke so far (a corrected pixel stays a stroke, as in the widget);
- ``paint``: the strokes written into the labels, no learning;
- ``trainable``: scikit-image's trainable segmenter (``method="trainable"``) on the
  strokes as classes.

All three get the same strokes. Scores: nucleus F1 and foreground IoU on microscopy
masks; covering and mIoU (one-to-one matching) on BSDS500, against the first annotation
(the one the strokes follow). No Qt, no napari.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "ARMS",
    "BRUSH",
    "METRICS",
    "bench_from_args",
    "bench_interactive",
    "error_stroke",
    "lowered_per_round",
    "round_table",
    "run_interactive",
    "simulate",
    "target_ids",
]

#: napari's default brush size, in pixels (the stroke's width)
BRUSH = 10
#: the compared arms
ARMS = ("paint", "trainable", "refine")
#: the score columns of each kind of data set
METRICS = {"bsds": ("covering", "miou"), "masks": ("f1", "f1_ids", "fg_iou")}


def target_ids(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The id the ground truth says each pixel should have, in ``pred``'s ids.

    Parameters
    ----------
    pred : numpy.ndarray of shape (H, W), int
        The current labels.
    gt : numpy.ndarray of shape (H, W), int
        The ground truth (any ids; 0 is a segment like any other).

    Returns
    -------
    numpy.ndarray of shape (H, W), int64
        Per pixel: the predicted id matched one-to-one (Hungarian, on the overlap) to its
        ground-truth segment, or a new id (above ``pred``'s) for a segment left unmatched.
    """
    from scipy.optimize import linear_sum_assignment

    g_ids, g_inv = np.unique(gt, return_inverse=True)
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    overlap = np.zeros((g_ids.size, p_ids.size), np.int64)
    np.add.at(overlap, (g_inv.ravel(), p_inv.ravel()), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    to = int(pred.max()) + 1 + np.arange(g_ids.size)
    hit = overlap[rows, cols] > 0
    to[rows[hit]] = p_ids[cols[hit]]
    return to[g_inv].reshape(gt.shape).astype(np.int64)


def error_stroke(pred: np.ndarray, gt: np.ndarray, brush: int = BRUSH) -> np.ndarray:
    """One brush stroke into the largest error region of ``pred``.

    The error regions are the connected pieces of the pixels whose id differs from
    :func:`target_ids`, one target id each. The stroke is a straight line through the
    piece's deepest pixel along its longer axis, ``brush`` px wide, kept inside the piece.

    Parameters
    ----------
    pred : numpy.ndarray of shape (H, W), int
        The current labels.
    gt : numpy.ndarray of shape (H, W), int
        The ground truth.
    brush : int, optional
        The brush width, pixels.

    Returns
    -------
    numpy.ndarray of shape (H, W), int64
        The stroke's pixels carry the target id, 0 elsewhere (all 0 when nothing is wrong).
    """
    want = target_ids(pred, gt)
    wrong = want != pred
    out = np.zeros(pred.shape, np.int64)
    if not wrong.any():
        return out
    # pieces of one target id each: components of the wrong pixels, split where ids change
    pieces, _ = ndi.label(wrong & ~_id_edges(want, wrong))
    sizes = np.bincount(pieces.ravel())
    sizes[0] = 0
    if not sizes.any():  # only one-pixel slivers between ids: take them whole
        pieces, _ = ndi.label(wrong)
        sizes = np.bincount(pieces.ravel())
        sizes[0] = 0
    piece = pieces == sizes.argmax()
    depth = ndi.distance_transform_edt(np.pad(piece, 1))[1:-1, 1:-1]
    cy, cx = np.unravel_index(depth.argmax(), depth.shape)
    ys, xs = np.nonzero(piece)
    cov = np.cov(np.stack([ys, xs])) if ys.size > 2 else np.eye(2)
    vals, vecs = np.linalg.eigh(cov)
    dy, dx = vecs[:, -1]
    half = min(2 * np.sqrt(max(vals[-1], 1.0)), 30.0)
    t = np.linspace(-half, half, int(2 * half) + 1)
    line = np.zeros(piece.shape, bool)
    ry = np.clip(np.round(cy + t * dy).astype(int), 0, piece.shape[0] - 1)
    rx = np.clip(np.round(cx + t * dx).astype(int), 0, piece.shape[1] - 1)
    line[ry, rx] = True
    disk = np.hypot(*np.mgrid[-brush // 2 : brush // 2 + 1, -brush // 2 : brush // 2 + 1])
    painted = ndi.binary_dilation(line, structure=disk <= brush / 2) & piece
    out[painted] = want[cy, cx]
    return out


def _id_edges(ids: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Pixels of ``inside`` with a 4-neighbour in ``inside`` of another id (so that
    touching pieces of two ids come apart)."""
    edge = np.zeros(ids.shape, bool)
    v = (ids[1:] != ids[:-1]) & inside[1:] & inside[:-1]
    h = (ids[:, 1:] != ids[:, :-1]) & inside[:, 1:] & inside[:, :-1]
    edge[1:] |= v
    edge[:-1] |= v
    edge[:, 1:] |= h
    edge[:, :-1] |= h
    return edge


def _score(kind: str, pred: np.ndarray, gt: np.ndarray) -> dict:
    """The set's scores of one label map."""
    if kind == "bsds":
        from ..metrics import covering, miou

        return {"covering": covering(gt, pred), "miou": miou(gt, pred)}
    from ..metrics import score_instances
    from ..metrics.instances import instance_f1

    s = score_instances(pred, gt)
    return {"f1": s["f1"], "f1_ids": instance_f1(gt, pred, by_id=True)["f1"], "fg_iou": s["fg_iou"]}


def simulate(image, gt, kind: str, rounds: int = 5, device="auto", **kwargs) -> list:
    """Run the protocol on one image.

    Parameters
    ----------
    image : array_like
        The image.
    gt : array_like of int
        The ground truth (its spatial shape).
    kind : str
        ``"bsds"`` (covering, mIoU) or ``"masks"`` (nucleus F1, the same by id, foreground IoU).
    rounds : int, optional
        Rounds of stroke + correction.
    device : str, optional
        Where the networks run.
    **kwargs
        Passed to the first run (:func:`napari_mmtseg.segment`), e.g. ``preset``.

    Returns
    -------
    list of dict
        Per round (0 = the default result) and arm: ``round``, ``arm``, the scores and
        ``seconds`` (that arm's time in that round).
    """
    import time

    from ..engine import segment
    from ..refine import refine

    gt = np.asarray(gt).astype(np.int64)
    t = time.perf_counter()
    run = segment(image, keep_model=True, device=device, **kwargs)
    first = time.perf_counter() - t
    labels = {arm: run.labels.astype(np.int64) for arm in ARMS}
    model = run.model
    rows = [{"round": 0, "arm": a, **_score(kind, labels[a], gt), "seconds": first} for a in ARMS]
    strokes = np.zeros(gt.shape, np.int64)
    for r in range(1, rounds + 1):
        new = error_stroke(labels["refine"], gt)
        if not new.any():
            break
        strokes = np.where(new > 0, new, strokes)
        t0 = time.perf_counter()
        labels["paint"] = np.where(new > 0, new, labels["paint"])
        t1 = time.perf_counter()
        labels["trainable"] = segment(
            image, method="trainable", scribbles=strokes, output="regions", device=device
        ).labels.astype(np.int64)
        t2 = time.perf_counter()
        res = refine(image, labels["refine"], strokes, model, device=device)
        labels["refine"], model = res.labels.astype(np.int64), res.model
        t3 = time.perf_counter()
        spent = {"paint": t1 - t0, "trainable": t2 - t1, "refine": t3 - t2}
        for a in ARMS:
            rows.append({"round": r, "arm": a, **_score(kind, labels[a], gt), "seconds": spent[a]})
    return rows


def run_interactive(dataset: str, root, limit: int | None = None, rounds: int = 5, **kwargs):
    """The protocol over a data set's images (``mmtseg bench``'s entry point).

    Parameters
    ----------
    dataset : str
        ``"bsds"`` (BSDS500 val) or ``"masks"`` (microscopy masks, e.g. bbbc039_dev).
    root : str or path
        The data set's folder (as for :func:`napari_mmtseg.bench.datasets.dataset_ids`).
    limit : int, optional
        The first this many images.
    rounds : int, optional
        Rounds per image.
    **kwargs
        Passed to :func:`simulate` (``device``, ``preset``, ...).

    Yields
    ------
    dict
        One row per image, round and arm, with the image's ``id``.
    """
    from .datasets import dataset_ids, load_sample

    for image_id in dataset_ids(dataset, root, "val", limit):
        s = load_sample(dataset, root, "val", image_id)
        for row in simulate(s.image, s.gts[0], dataset, rounds, **kwargs):
            yield {"id": image_id, **row}


def round_table(rows: list, metrics: tuple, rounds=(0, 1, 3, 5)) -> str:
    """A markdown table: the mean of each metric per arm and round, and Refine's drops.

    Parameters
    ----------
    rows : list of dict
        :func:`run_interactive`'s rows of one set.
    metrics : tuple of str
        The set's score columns (:data:`METRICS`).
    rounds : tuple of int, optional
        The rounds shown (0: the default result).

    Returns
    -------
    str
        The table, then a line per metric: on how many images some round lowered Refine's
        score, and how many rounds did in all; then, per round, on how many images it lowered
        Refine's and painting's scores (:func:`lowered_per_round`). An image whose strokes
        stopped early (nothing left wrong) keeps its last score in the later rounds, so every
        round averages the same images.
    """
    ids = sorted({r["id"] for r in rows})
    lines = [
        "| arm | round | " + " | ".join(metrics) + " | images |",
        "|---|---|" + "---|" * (len(metrics) + 1),
    ]
    for arm in ARMS:
        for k in rounds:
            got = _at_round(rows, ids, arm, k)
            if got:
                means = " | ".join(f"{np.mean([float(r[m]) for r in got]):.3f}" for m in metrics)
                lines.append(f"| {arm} | {k} | {means} | {len(got)} |")
    drops = []
    for m in metrics:
        per_image = [_drops(rows, i, m) for i in ids]
        drops.append(
            f"{m}: {sum(d > 0 for d in per_image)} of {len(ids)} images "
            f"({sum(per_image)} rounds of {sum(_rounds(rows, i) for i in ids)})"
        )
    lines += ["", "Rounds that lowered Refine's score: " + "; ".join(drops) + "."]
    per_round = []
    for arm in ("refine", "paint"):
        for m in metrics:
            counts = " ".join(f"{n}/{t}" for n, t in lowered_per_round(rows, arm, m))
            per_round.append(f"{arm} {m}: {counts}")
    lines += ["", "Images each round (1, 2, ...) lowered: " + "; ".join(per_round) + "."]
    return "\n".join(lines)


def lowered_per_round(rows: list, arm: str, metric: str) -> list:
    """Per round, on how many images ``arm``'s ``metric`` fell below the round before's.

    Parameters
    ----------
    rows : list of dict
        :func:`run_interactive`'s rows of one set.
    arm : str
        One of :data:`ARMS`.
    metric : str
        A score column.

    Returns
    -------
    list of (int, int)
        For rounds 1, 2, ...: (images lowered, images that had that round).
    """
    seq: dict = {}
    for r in rows:
        if r["arm"] == arm:
            seq.setdefault(r["id"], {})[int(r["round"])] = float(r[metric])
    last = max((k for s in seq.values() for k in s), default=0)
    out = []
    for k in range(1, last + 1):
        had = [s for s in seq.values() if k in s and k - 1 in s]
        out.append((sum(s[k] < s[k - 1] - 1e-9 for s in had), len(had)))
    return out


def _at_round(rows: list, ids: list, arm: str, k: int) -> list:
    """Per image, ``arm``'s row of round ``k`` or, where the image stopped before, its last."""
    got = []
    for i in ids:
        mine = [r for r in rows if r["id"] == i and r["arm"] == arm and int(r["round"]) <= k]
        if mine:
            got.append(max(mine, key=lambda r: int(r["round"])))
    return got


def _drops(rows: list, image_id, metric: str) -> int:
    """How many rounds lowered Refine's ``metric`` on one image."""
    seq = sorted(
        (r["round"], float(r[metric])) for r in rows if r["id"] == image_id and r["arm"] == "refine"
    )
    return sum(b < a - 1e-9 for (_, a), (_, b) in zip(seq, seq[1:]))


def _rounds(rows: list, image_id) -> int:
    """How many rounds an image had (strokes stop when nothing is wrong)."""
    return sum(1 for r in rows if r["id"] == image_id and r["arm"] == "refine" and int(r["round"]))


def bench_interactive(dataset: str, root, out, rounds=(1, 3, 5), limit=None, **kwargs) -> str:
    """``mmtseg bench --protocol interactive``: the protocol, its rows and its table.

    Parameters
    ----------
    dataset : str
        ``"bsds"`` or ``"masks"``.
    root : str or path
        The data set's folder.
    out : str or path
        The folder for ``interactive.csv`` (every row, written as they come) and
        ``interactive.md`` (the table).
    rounds : sequence of int, optional
        The rounds shown; the protocol runs up to the largest.
    limit : int, optional
        The first this many images.
    **kwargs
        Passed to :func:`simulate` (``device``, ``preset``, ...).

    Returns
    -------
    str
        The table (:func:`round_table`).
    """
    import csv
    from pathlib import Path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = METRICS[dataset]
    fields = ["id", "round", "arm", *metrics, "seconds"]
    rows = []
    with (out / "interactive.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for row in run_interactive(dataset, root, limit, max(rounds), **kwargs):
            rows.append(row)
            w.writerow(row)
            f.flush()
    text = round_table(rows, metrics, (0, *sorted(set(rounds))))
    (out / "interactive.md").write_text(text + "\n")
    return text


def bench_from_args(args) -> int:
    """Run ``mmtseg bench --protocol interactive`` from its parsed options; print the table.

    Parameters
    ----------
    args : argparse.Namespace
        ``mmtseg bench``'s options (``dataset``, ``root``, ``out``, ``rounds``, ``limit``,
        ``preset``, ``device``, ``split``).

    Returns
    -------
    int
        0.

    Raises
    ------
    ValueError
        For ``--rounds`` that are not positive integers, or a split other than val.
    """
    try:
        rounds = sorted({int(r) for r in str(args.rounds).split(",") if r.strip()})
    except ValueError:
        rounds = []
    if not rounds or rounds[0] < 1:
        raise ValueError(f"--rounds must be positive integers, e.g. 1,3,5 (got {args.rounds!r})")
    if args.split != "val":
        raise ValueError("the interactive protocol runs on the val split only")
    text = bench_interactive(
        args.dataset,
        args.root,
        args.out,
        rounds,
        args.limit,
        preset=args.preset,
        device=args.device,
    )
    print(f"{args.dataset} ({args.root}), interactive protocol:\n{text}")
    return 0
