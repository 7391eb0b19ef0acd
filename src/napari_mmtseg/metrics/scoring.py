"""One prediction against every human annotation of an image: the benchmark's score row."""

from __future__ import annotations

import numpy as np

from ..align import overlap_matrix
from .partition import connected_components, n_segments
from .table import (
    check_pair,
    iou_table,
    table_accuracy,
    table_miou,
    table_rand_index,
    table_voi,
)

__all__ = ["HIGHER_IS_BETTER", "METRICS", "score"]

#: metrics reported per annotation by :func:`score` (mean and best over annotations)
METRICS = ("accuracy", "miou", "miou_kim", "pri", "voi")
#: direction of each metric ("best" = max when True, min when False)
HIGHER_IS_BETTER = {"accuracy": True, "miou": True, "miou_kim": True, "pri": True, "voi": False}


def as_annotations(pred: np.ndarray, gts) -> list:
    """Give the annotations of an image as a list.

    Parameters
    ----------
    pred : ndarray
        The prediction (its number of dimensions tells one annotation from a stack of them).
    gts : ndarray or sequence of ndarray
        One annotation, or several.

    Returns
    -------
    list of ndarray
        The annotations.

    Raises
    ------
    ValueError
        If there is none.
    """
    if isinstance(gts, np.ndarray) and gts.ndim == pred.ndim:
        gts = [gts]
    gts = list(gts)
    if not gts:
        raise ValueError("score needs at least one ground-truth label map.")
    return gts


def score(pred, gts, connectivity: int | None = None) -> dict:
    """Score ``pred`` against each annotation in ``gts``.

    Parameters
    ----------
    pred : array_like of int
        Predicted label map.
    gts : ndarray or list of ndarray
        One annotation (same shape as ``pred``) or a list of them; see Returns for how they combine.
    connectivity : int, optional
        Connectivity of the components for ``miou_kim`` (default full).

    Returns
    -------
    dict
        For each metric in :data:`METRICS` the value ``<m>_mean`` (mean over annotations) and
        ``<m>_best`` (max over annotations; min for ``voi``, which is in nats); ``pri_mean`` is
        the probabilistic Rand index against all annotations. Also ``miou_kim_pooled`` (Kim's
        average over all GT segments of all annotations together), ``n_segments`` (of
        ``pred``), ``n_gt_segments`` (mean over annotations) and ``n_annotations``.

    Raises
    ------
    ValueError
        If ``gts`` is empty or a map's shape differs from ``pred``'s.
    """
    pred = np.asarray(pred)
    gts = as_annotations(pred, gts)
    cc = connected_components(pred, connectivity)
    _, p_inv = np.unique(pred, return_inverse=True)
    n_p = int(p_inv.max()) + 1
    n_cc = int(cc.max())
    cc0 = cc.ravel() - 1
    per = {m: [] for m in METRICS}
    kim_all = []
    n_gt = []
    for g in gts:
        g, _ = check_pair(g, pred)
        _, g_inv = np.unique(g, return_inverse=True)
        n_g = int(g_inv.max()) + 1
        C = overlap_matrix(g_inv, p_inv, n_g, n_p)
        per["accuracy"].append(table_accuracy(C))
        per["miou"].append(table_miou(C))
        per["pri"].append(table_rand_index(C))
        per["voi"].append(table_voi(C, unit="nats"))
        kim = iou_table(overlap_matrix(g_inv, cc0, n_g, n_cc)).max(1)
        per["miou_kim"].append(float(kim.mean()))
        kim_all.append(kim)
        n_gt.append(C.shape[0])
    out = {}
    for m in METRICS:
        v = np.asarray(per[m])
        out[f"{m}_mean"] = float(v.mean())
        out[f"{m}_best"] = float(v.max() if HIGHER_IS_BETTER[m] else v.min())
    out["miou_kim_pooled"] = float(np.concatenate(kim_all).mean())
    out["n_segments"] = n_segments(pred)
    out["n_gt_segments"] = float(np.mean(n_gt))
    out["n_annotations"] = len(gts)
    return out
