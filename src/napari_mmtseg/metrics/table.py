"""Scores from the contingency table of two label maps.

Every partition metric in :mod:`napari_mmtseg.metrics` is computed from the contingency table
``C[i, j]`` = pixels in segment ``i`` of the first map and segment ``j`` of the second, so the
cost is one ``bincount`` over the pixels plus work on a ``K_1 x K_2`` matrix, never on pixel
pairs. The functions named ``table_*`` take that table.
"""

from __future__ import annotations

import math

import numpy as np

from ..align import match_from_overlap, overlap_matrix

__all__ = [
    "check_pair",
    "contingency",
    "iou_table",
    "matching",
    "table_accuracy",
    "table_covering",
    "table_covering_counts",
    "table_miou",
    "table_rand_index",
    "table_voi",
]

#: the units :func:`table_voi` can give, and the base of each one's logarithm
VOI_UNITS = {"bits": 2.0, "nats": math.e}


def check_pair(gt, pred) -> tuple[np.ndarray, np.ndarray]:
    """Check that two label maps can be compared.

    Parameters
    ----------
    gt : array_like of int or bool
        The first label map (ground truth), any shape.
    pred : array_like of int or bool
        The second label map, the shape of ``gt``.

    Returns
    -------
    gt, pred : ndarray
        The two maps as arrays.

    Raises
    ------
    ValueError
        If the shapes differ or the maps are empty.
    TypeError
        If either map does not hold integer (or bool) labels.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"Label maps differ in shape: {gt.shape} (ground truth) vs {pred.shape}")
    if gt.size == 0:
        raise ValueError("Label maps are empty.")
    for name, a in (("ground truth", gt), ("prediction", pred)):
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise TypeError(f"The {name} must hold integer labels, not {a.dtype}.")
    return gt, pred


def contingency(gt, pred) -> np.ndarray:
    """Count the pixels of every (ground-truth segment, predicted segment) pair.

    Parameters
    ----------
    gt : array_like of int
        Ground-truth label map, any ids.
    pred : array_like of int
        Predicted label map, the shape of ``gt``, any ids.

    Returns
    -------
    ndarray of int64, shape (K_gt, K_pred)
        ``C[i, j]`` = pixels in GT segment ``i`` and predicted segment ``j``, segments indexed
        by their sorted distinct ids (no empty row or column).
    """
    gt, pred = check_pair(gt, pred)
    _, gi = np.unique(gt, return_inverse=True)
    _, pj = np.unique(pred, return_inverse=True)
    n_g = int(gi.max()) + 1
    n_p = int(pj.max()) + 1
    return overlap_matrix(gi, pj, n_g, n_p)


def matching(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair rows with columns one-to-one, maximising the total overlap (Hungarian).

    Parameters
    ----------
    C : ndarray, shape (K_gt, K_pred)
        A contingency table, ground truth (rows) by prediction (columns).

    Returns
    -------
    rows, cols : ndarray of int
        The matched (GT segment, predicted segment) pairs.
    """
    # match_from_overlap maps each column (pred segment) to a row (GT segment);
    # ids >= n_rows mean "no partner".
    mapping = match_from_overlap(C)
    cols = np.flatnonzero(mapping < C.shape[0])
    return mapping[cols], cols


def iou_table(C: np.ndarray) -> np.ndarray:
    """Give the intersection over union of every (row, column) pair.

    Parameters
    ----------
    C : ndarray, shape (K_1, K_2)
        A contingency table of two partitions; rows and columns play symmetric roles.

    Returns
    -------
    ndarray of float64, shape (K_1, K_2)
        ``|R_i & R'_j| / |R_i | R'_j|``.
    """
    g = C.sum(1, keepdims=True)
    p = C.sum(0, keepdims=True)
    return C / (g + p - C)


def table_accuracy(C: np.ndarray) -> float:
    """Pixel accuracy under the one-to-one matching (:func:`matching`).

    Parameters
    ----------
    C : ndarray, shape (K_gt, K_pred)
        A contingency table; the matched cells' counts are the correct pixels.

    Returns
    -------
    float
        Matched pixels / all pixels, in [0, 1].
    """
    rows, cols = matching(C)
    return float(C[rows, cols].sum() / C.sum())


def table_miou(C: np.ndarray) -> float:
    """Mean IoU over the rows under the one-to-one matching; an unmatched row scores 0.

    Parameters
    ----------
    C : ndarray, shape (K_gt, K_pred)
        A contingency table; each row (GT segment) is scored by its matched column.

    Returns
    -------
    float
        Mean IoU, in [0, 1].
    """
    rows, cols = matching(C)
    g = C.sum(1)
    p = C.sum(0)
    inter = C[rows, cols].astype(np.float64)
    ious = np.zeros(C.shape[0])
    ious[rows] = inter / (g[rows] + p[cols] - inter)
    return float(ious.mean())


def table_rand_index(C: np.ndarray) -> float:
    """Rand index: the share of unordered pixel pairs on which both maps agree.

    Parameters
    ----------
    C : ndarray, shape (K_1, K_2)
        A contingency table; only its cell, row and column counts are used.

    Returns
    -------
    float
        Pairs together in both or apart in both / all pairs, in [0, 1] (1 for one pixel).
    """
    n = float(C.sum())
    if n < 2:
        return 1.0
    C = C.astype(np.float64)
    pairs = n * (n - 1) / 2
    same_both = (C * (C - 1)).sum() / 2
    same_gt = (C.sum(1) * (C.sum(1) - 1)).sum() / 2
    same_pred = (C.sum(0) * (C.sum(0) - 1)).sum() / 2
    # pairs that agree = together in both + apart in both
    agree = pairs + 2 * same_both - same_gt - same_pred
    return float(agree / pairs)


def table_voi(C: np.ndarray, unit: str = "bits") -> float:
    """Variation of information ``H(G|P) + H(P|G)`` (Meila 2007).

    Parameters
    ----------
    C : ndarray, shape (K_1, K_2)
        A contingency table; it is normalised into the joint distribution ``P``.
    unit : {"bits", "nats"}, optional
        ``"bits"`` (log base 2, as the BSDS benchmark and :mod:`skimage.metrics` report it) or
        ``"nats"`` (natural log).

    Returns
    -------
    float
        VoI >= 0; 0 iff the partitions are identical up to renaming.

    Raises
    ------
    ValueError
        If ``unit`` is neither ``"bits"`` nor ``"nats"``.
    """
    if unit not in VOI_UNITS:
        raise ValueError(f"unit must be 'bits' or 'nats', got {unit!r}")
    P = C.astype(np.float64) / C.sum()
    pg = P.sum(1, keepdims=True)
    pp = P.sum(0, keepdims=True)
    nz = P > 0
    # VoI = H(G|S) + H(S|G) = -sum P log(P/pp) - sum P log(P/pg)
    logs = np.log(P[nz] / np.broadcast_to(pp, P.shape)[nz]) + np.log(
        P[nz] / np.broadcast_to(pg, P.shape)[nz]
    )
    nats = float(max(0.0, -(P[nz] * logs).sum()))
    return nats if unit == "nats" else nats / math.log(VOI_UNITS[unit])


def table_covering_counts(C: np.ndarray) -> tuple[float, float]:
    """Give the two sums of the segmentation covering, as the BSDS code accumulates them.

    Parameters
    ----------
    C : ndarray, shape (K_gt, K_pred)
        A contingency table (rows: ground truth, columns: segmentation).

    Returns
    -------
    hit : float
        ``sum_{R in S} |R| max_{R' in S'} O(R, R')`` (the BSDS code's ``cntR``).
    area : float
        ``sum_{R in S} |R|``, the pixels (its ``sumR``).
    """
    size = C.sum(1).astype(np.float64)
    return float((size * iou_table(C).max(1)).sum()), float(size.sum())


def table_covering(C: np.ndarray) -> float:
    """Segmentation covering of the rows' segmentation by the columns' (Arbelaez et al. 2011).

    ``C(S' -> S) = 1/N sum_{R in S} |R| max_{R' in S'} O(R, R')`` with ``O`` the intersection
    over union: each row segment is scored by its best-overlapping column
    segment, weighted by its size. Rows: the ground truth ``S``; columns: the segmentation
    ``S'``.

    Parameters
    ----------
    C : ndarray, shape (K_gt, K_pred)
        A contingency table (rows: ground truth ``S``, columns: segmentation ``S'``).

    Returns
    -------
    float
        Covering, in [0, 1]; 1 iff every row segment is exactly one column segment.
    """
    hit, area = table_covering_counts(C)
    return hit / area
