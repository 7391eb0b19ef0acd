"""Segmentation metrics (Qt-free): how a label map compares with human
annotations, and how two runs compare with each other.

Every metric is computed from the contingency table of the two label maps
(``overlap_matrix``), so the cost is one ``bincount`` over the pixels plus
work on a ``K_gt x K_pred`` matrix, never on pixel pairs.

Against ground truth (``gt`` first, ``pred`` second, any integer ids):

- :func:`accuracy` -- the paper's metric: best one-to-one (Hungarian) mapping
  between predicted clusters and GT segments, matched pixels / all pixels.
- :func:`miou` -- mean IoU under that same one-to-one matching, averaged over
  GT segments (a GT segment left without a partner scores 0).
- :func:`miou_kim` -- Kim et al. 2020's protocol: the prediction is split
  into connected components, each GT segment takes its best IoU over them,
  averaged over GT segments.
- :func:`rand_index` -- Rand index by pair counting; the probabilistic Rand
  index against several annotations (:func:`pri`) is its mean over them.
- :func:`voi` -- variation of information, natural log (lower is better).

Against a foreground/instance mask (microscopy: nuclei, cells; 0 = background):

- :func:`foreground_mask` -- each predicted segment goes to the foreground when
  most of its pixels are foreground in the mask (majority mapping);
- :func:`foreground_iou` -- IoU of that foreground with the mask's;
- :func:`instance_f1` -- objects = connected components of that foreground,
  matched one-to-one to the mask's objects at IoU > 0.5; F1, precision, recall.

Between two runs: :func:`agreement` (pixel agreement after Hungarian
alignment) and :func:`ari` (adjusted Rand index).

:func:`score` scores one prediction against each human annotation and
reports the mean and the best over annotations.
"""
from __future__ import annotations

import numpy as np

from .align import match_from_overlap, overlap_matrix

__all__ = [
    "contingency", "accuracy", "miou", "miou_kim", "rand_index", "pri", "voi",
    "n_segments", "n_pieces", "agreement", "ari", "stability", "score", "METRICS", "HIGHER_IS_BETTER",
    "gt_instances", "foreground_mask", "foreground_iou", "instance_f1", "score_instances",
]

#: metrics reported per annotation by :func:`score` (mean and best over annotations)
METRICS = ("accuracy", "miou", "miou_kim", "pri", "voi")
#: direction of each metric ("best" = max when True, min when False)
HIGHER_IS_BETTER = {"accuracy": True, "miou": True, "miou_kim": True, "pri": True, "voi": False}


def _check_pair(gt, pred):
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
    """``C[i, j]`` = pixels in GT segment ``i`` and predicted segment ``j``
    (segments indexed by their sorted distinct ids; empty rows/columns never occur)."""
    gt, pred = _check_pair(gt, pred)
    _, gi = np.unique(gt, return_inverse=True)
    _, pj = np.unique(pred, return_inverse=True)
    n_g = int(gi.max()) + 1
    n_p = int(pj.max()) + 1
    return overlap_matrix(gi, pj, n_g, n_p)


def _matching(C: np.ndarray):
    """One-to-one GT<->pred pairs maximising total overlap: (gt_rows, pred_cols)."""
    # match_from_overlap maps each column (pred segment) to a row (GT segment);
    # ids >= n_rows mean "no partner".
    mapping = match_from_overlap(C)
    cols = np.flatnonzero(mapping < C.shape[0])
    return mapping[cols], cols


def _accuracy_c(C: np.ndarray) -> float:
    rows, cols = _matching(C)
    return float(C[rows, cols].sum() / C.sum())


def _iou_table(C: np.ndarray) -> np.ndarray:
    g = C.sum(1, keepdims=True)
    p = C.sum(0, keepdims=True)
    return C / (g + p - C)


def _miou_c(C: np.ndarray) -> float:
    rows, cols = _matching(C)
    g = C.sum(1)
    p = C.sum(0)
    inter = C[rows, cols].astype(np.float64)
    ious = np.zeros(C.shape[0])
    ious[rows] = inter / (g[rows] + p[cols] - inter)
    return float(ious.mean())


def _ri_c(C: np.ndarray) -> float:
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


def _voi_c(C: np.ndarray) -> float:
    P = C.astype(np.float64) / C.sum()
    pg = P.sum(1, keepdims=True)
    pp = P.sum(0, keepdims=True)
    nz = P > 0
    # VoI = H(G|S) + H(S|G) = -sum P log(P/pp) - sum P log(P/pg)
    logs = np.log(P[nz] / np.broadcast_to(pp, P.shape)[nz]) + np.log(P[nz] / np.broadcast_to(pg, P.shape)[nz])
    return float(max(0.0, -(P[nz] * logs).sum()))


def accuracy(gt, pred) -> float:
    """Pixel accuracy after the best one-to-one mapping of predicted clusters
    to GT segments (Hungarian, maximum total overlap). Extra clusters on
    either side stay unmatched and count as errors."""
    return _accuracy_c(contingency(gt, pred))


def miou(gt, pred) -> float:
    """Mean IoU over GT segments under the one-to-one matching of :func:`accuracy`;
    a GT segment with no predicted partner scores 0."""
    return _miou_c(contingency(gt, pred))


def connected_components(pred, connectivity: int | None = None) -> np.ndarray:
    """Split every predicted segment into its spatially connected pieces
    (``skimage.measure.label``; default full connectivity, i.e. 8-neighbours in 2D).
    Every pixel gets an id >= 1: no value is treated as background."""
    from skimage.measure import label

    pred = np.asarray(pred)
    _, inv = np.unique(pred, return_inverse=True)
    return label(inv.reshape(pred.shape) + 1, background=0, connectivity=connectivity)


def _miou_kim_parts(gt, pred, connectivity=None):
    C = contingency(gt, connected_components(pred, connectivity))
    return _iou_table(C).max(1)


def miou_kim(gt, pred, connectivity: int | None = None) -> float:
    """Kim et al. 2020's mIoU: the prediction is relabelled into connected
    components; each GT segment takes its best IoU over those components
    (not one-to-one: one component may serve several GT segments); mean over
    GT segments."""
    gt, pred = _check_pair(gt, pred)
    return float(_miou_kim_parts(gt, pred, connectivity).mean())


def rand_index(gt, pred) -> float:
    """Rand index: fraction of unordered pixel pairs on which both maps agree
    (together in both or apart in both), counted from the contingency table."""
    return _ri_c(contingency(gt, pred))


def pri(pred, gts) -> float:
    """Probabilistic Rand index of ``pred`` against one or several annotations.

    PRI = mean over pixel pairs of ``c*p + (1-c)*(1-p)`` with ``c`` = "together
    in pred" and ``p`` = fraction of annotations that put them together; being
    linear in ``p`` it equals the mean of the Rand indices against each annotation.
    """
    if isinstance(gts, np.ndarray) and gts.ndim == np.asarray(pred).ndim:
        gts = [gts]
    return float(np.mean([rand_index(g, pred) for g in gts]))


def voi(gt, pred) -> float:
    """Variation of information H(G|P) + H(P|G), natural log; 0 iff the
    partitions are identical up to renaming."""
    return _voi_c(contingency(gt, pred))


def n_segments(labels) -> int:
    """Number of distinct ids in a label map."""
    return int(np.unique(np.asarray(labels)).size)


def n_pieces(labels) -> int:
    """Number of 4-connected pieces of a label map (each id split into its
    connected parts): how many areas a person would have to correct."""
    from skimage.measure import label

    lab = np.asarray(labels)
    _, inv = np.unique(lab, return_inverse=True)
    return int(label(inv.reshape(lab.shape) + 1, background=0, connectivity=1).max())


def agreement(a, b) -> float:
    """Pixel agreement of two runs after aligning their ids one-to-one
    (Hungarian on the overlap matrix): 1.0 iff identical up to renaming."""
    return _accuracy_c(contingency(a, b))


def ari(a, b) -> float:
    """Adjusted Rand index of two label maps (sklearn)."""
    from sklearn.metrics import adjusted_rand_score

    a, b = _check_pair(a, b)
    return float(adjusted_rand_score(a.ravel(), b.ravel()))


def stability(runs) -> dict:
    """Pairwise comparison of several runs (e.g. different seeds) of one image:
    ``{"pairs": [(i, j, agreement, ari), ...], "agreement_mean", "agreement_worst",
    "ari_mean", "ari_worst"}``."""
    runs = [np.asarray(r) for r in runs]
    pairs = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            pairs.append((i, j, agreement(runs[i], runs[j]), ari(runs[i], runs[j])))
    if not pairs:
        nan = float("nan")
        return {"pairs": [], "agreement_mean": nan, "agreement_worst": nan,
                "ari_mean": nan, "ari_worst": nan}
    ag = np.array([p[2] for p in pairs])
    ar = np.array([p[3] for p in pairs])
    return {"pairs": pairs, "agreement_mean": float(ag.mean()), "agreement_worst": float(ag.min()),
            "ari_mean": float(ar.mean()), "ari_worst": float(ar.min())}


def score(pred, gts, connectivity: int | None = None) -> dict:
    """Score ``pred`` against each annotation in ``gts`` (a list of label maps,
    or one label map).

    Returns a flat dict: for each metric in :data:`METRICS` the value ``<m>_mean``
    (mean over annotations) and ``<m>_best`` (max over annotations; min for
    ``voi``); ``pri_mean`` is the probabilistic Rand index against all
    annotations. Also ``miou_kim_pooled`` (Kim's average over all GT segments
    of all annotations together), ``n_segments`` (of ``pred``),
    ``n_gt_segments`` (mean over annotations) and ``n_annotations``.
    """
    pred = np.asarray(pred)
    if isinstance(gts, np.ndarray) and gts.ndim == pred.ndim:
        gts = [gts]
    gts = list(gts)
    if not gts:
        raise ValueError("score needs at least one ground-truth label map.")
    cc = connected_components(pred, connectivity)
    _, p_inv = np.unique(pred, return_inverse=True)
    n_p = int(p_inv.max()) + 1
    n_cc = int(cc.max())
    cc0 = cc.ravel() - 1
    per = {m: [] for m in METRICS}
    kim_all = []
    n_gt = []
    for g in gts:
        g, _ = _check_pair(g, pred)
        _, g_inv = np.unique(g, return_inverse=True)
        n_g = int(g_inv.max()) + 1
        C = overlap_matrix(g_inv, p_inv, n_g, n_p)
        per["accuracy"].append(_accuracy_c(C))
        per["miou"].append(_miou_c(C))
        per["pri"].append(_ri_c(C))
        per["voi"].append(_voi_c(C))
        kim = _iou_table(overlap_matrix(g_inv, cc0, n_g, n_cc)).max(1)
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


# --------------------------------------------------------------------------- foreground and instances


def gt_instances(mask) -> np.ndarray:
    """Objects of a ground-truth mask as an instance map (0 = background).

    A mask with one foreground value (binary, e.g. ISBI 2012's 255 = cell
    interior) is split into its 4-connected components; a mask with several
    ids (an instance map) is returned as it is."""
    mask = np.asarray(mask)
    values = np.unique(mask)
    if values.size <= 2 and values[0] == 0:  # background and one foreground value
        from skimage.measure import label

        return label(mask > 0, connectivity=1)
    return mask


def foreground_mask(gt, pred) -> np.ndarray:
    """Boolean foreground of ``pred``: every predicted segment (id) whose
    pixels are more than half foreground (``gt > 0``) in the mask. This
    oracle mapping is the usual way to score unsupervised segmentations,
    which do not know which of their segments is background."""
    gt, pred = _check_pair(gt, pred)
    _, inv = np.unique(pred, return_inverse=True)
    inv = inv.reshape(pred.shape)
    fg = np.bincount(inv.ravel(), weights=(gt > 0).ravel().astype(np.float64))
    n = np.bincount(inv.ravel())
    return (fg / n > 0.5)[inv]


def foreground_iou(gt, pred) -> float:
    """IoU of :func:`foreground_mask` with the mask's foreground (``gt > 0``);
    1.0 when both are empty."""
    f = foreground_mask(gt, pred)
    g = np.asarray(gt) > 0
    union = np.count_nonzero(f | g)
    return float(np.count_nonzero(f & g) / union) if union else 1.0


def instance_f1(gt, pred, threshold: float = 0.5) -> dict:
    """Object detection score of ``pred`` against the mask's objects.

    Predicted objects: the 4-connected components of :func:`foreground_mask`
    (so a nucleus made of two touching segments counts once). Ground-truth
    objects: :func:`gt_instances`. A pair matches when its IoU exceeds
    ``threshold`` (above 0.5 a match is necessarily one-to-one). Returns
    ``{"f1", "precision", "recall", "n_pred", "n_gt", "tp"}``; F1 = 2 TP /
    (2 TP + FP + FN), 1.0 when both sides have no objects."""
    from skimage.measure import label

    if not 0.5 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0.5, 1), got {threshold}")
    objs = label(foreground_mask(gt, pred), connectivity=1)
    ref = gt_instances(gt)
    _, r_inv = np.unique(ref, return_inverse=True)
    r_ids = np.unique(ref)
    n_r, n_p = r_ids.size, int(objs.max()) + 1
    C = overlap_matrix(r_inv.ravel(), objs.ravel(), n_r, n_p).astype(np.float64)
    iou = _iou_table(C)  # object sizes include their pixels in the other side's background
    iou = iou[1:, 1:] if r_ids[0] == 0 else iou[:, 1:]
    n_gt, n_pred = iou.shape
    tp = int((iou > threshold).sum()) if iou.size else 0
    denom = n_gt + n_pred
    return {"f1": 2 * tp / denom if denom else 1.0,
            "precision": tp / n_pred if n_pred else float(n_gt == 0),
            "recall": tp / n_gt if n_gt else float(n_pred == 0),
            "n_pred": n_pred, "n_gt": n_gt, "tp": tp}


def score_instances(pred, mask) -> dict:
    """``{"fg_iou", "f1", "precision", "recall", "n_objects", "n_gt_objects"}``
    of ``pred`` against one foreground/instance ``mask`` (see above)."""
    f = instance_f1(mask, pred)
    return {"fg_iou": foreground_iou(mask, pred), "f1": f["f1"], "precision": f["precision"],
            "recall": f["recall"], "n_objects": f["n_pred"], "n_gt_objects": f["n_gt"]}
