"""A label map against a foreground / instance mask (microscopy: nuclei, cells; 0 = background).

- :func:`foreground_mask`: each predicted segment goes to the foreground when most of its pixels
  are foreground in the mask (majority mapping);
- :func:`foreground_iou`: IoU of that foreground with the mask's;
- :func:`instance_f1`: objects = connected components of that foreground, matched one-to-one to
  the mask's objects at IoU > 0.5; F1, precision, recall.
"""

from __future__ import annotations

import numpy as np

from ..align import overlap_matrix
from .table import check_pair, iou_table

__all__ = ["foreground_iou", "foreground_mask", "gt_instances", "instance_f1", "score_instances"]


def gt_instances(mask) -> np.ndarray:
    """Give the objects of a ground-truth mask as an instance map (0 = background).

    Parameters
    ----------
    mask : array_like of int
        A mask with one foreground value (binary, e.g. ISBI 2012's 255 = cell interior), or an
        instance map with several ids.

    Returns
    -------
    ndarray of int
        A binary mask's 4-connected components, or the instance map as it is.
    """
    mask = np.asarray(mask)
    values = np.unique(mask)
    if values.size <= 2 and values[0] == 0:  # background and one foreground value
        from skimage.measure import label

        return label(mask > 0, connectivity=1)
    return mask


def foreground_mask(gt, pred) -> np.ndarray:
    """Give the foreground of ``pred``: every segment more than half foreground in the mask.

    This oracle mapping is the usual way to score unsupervised segmentations, which do not know
    which of their segments is background.

    Parameters
    ----------
    gt : array_like of int
        The mask (``gt > 0`` is foreground).
    pred : array_like of int
        Predicted label map, the shape of ``gt``.

    Returns
    -------
    ndarray of bool
        The predicted foreground, the shape of ``pred``.
    """
    gt, pred = check_pair(gt, pred)
    _, inv = np.unique(pred, return_inverse=True)
    inv = inv.reshape(pred.shape)
    fg = np.bincount(inv.ravel(), weights=(gt > 0).ravel().astype(np.float64))
    n = np.bincount(inv.ravel())
    return (fg / n > 0.5)[inv]


def foreground_iou(gt, pred) -> float:
    """IoU of :func:`foreground_mask` with the mask's foreground (``gt > 0``).

    Parameters
    ----------
    gt, pred : array_like of int
        The mask and a predicted label map of its shape.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both foregrounds are empty.
    """
    f = foreground_mask(gt, pred)
    g = np.asarray(gt) > 0
    union = np.count_nonzero(f | g)
    return float(np.count_nonzero(f & g) / union) if union else 1.0


def instance_f1(gt, pred, threshold: float = 0.5, by_id: bool = False) -> dict:
    """Score the prediction's objects against the mask's objects.

    Predicted objects: the 4-connected components of :func:`foreground_mask` (so a nucleus made
    of two touching segments counts once); with ``by_id``, the 4-connected pieces of each id
    inside it (two touching nuclei with two ids count twice, as an instance map means).
    Ground-truth objects: :func:`gt_instances`. A pair matches when its IoU exceeds
    ``threshold`` (above 0.5 a match is necessarily one-to-one).

    Parameters
    ----------
    gt, pred : array_like of int
        The mask and a predicted label map of its shape.
    threshold : float, optional
        IoU a match must exceed, in [0.5, 1).
    by_id : bool, optional
        Keep touching objects of different ids apart (default: merge them).

    Returns
    -------
    dict
        ``{"f1", "precision", "recall", "n_pred", "n_gt", "tp"}``; F1 = 2 TP / (2 TP + FP +
        FN), 1.0 when both sides have no objects.

    Raises
    ------
    ValueError
        If ``threshold`` is outside [0.5, 1).
    """
    from skimage.measure import label

    if not 0.5 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0.5, 1), got {threshold}")
    fg = foreground_mask(gt, pred)
    pred_ids = np.asarray(pred).astype(np.int64) + 1 if by_id else 1
    objs = label(np.where(fg, pred_ids, 0), connectivity=1)
    ref = gt_instances(gt)
    _, r_inv = np.unique(ref, return_inverse=True)
    r_ids = np.unique(ref)
    n_r, n_p = r_ids.size, int(objs.max()) + 1
    C = overlap_matrix(r_inv.ravel(), objs.ravel(), n_r, n_p).astype(np.float64)
    iou = iou_table(C)  # object sizes include their pixels in the other side's background
    iou = iou[1:, 1:] if r_ids[0] == 0 else iou[:, 1:]
    n_gt, n_pred = iou.shape
    tp = int((iou > threshold).sum()) if iou.size else 0
    denom = n_gt + n_pred
    return {
        "f1": 2 * tp / denom if denom else 1.0,
        "precision": tp / n_pred if n_pred else float(n_gt == 0),
        "recall": tp / n_gt if n_gt else float(n_pred == 0),
        "n_pred": n_pred,
        "n_gt": n_gt,
        "tp": tp,
    }


def score_instances(pred, mask) -> dict:
    """Score ``pred`` against one foreground / instance mask.

    Parameters
    ----------
    pred : array_like of int
        Predicted label map.
    mask : array_like of int
        The mask, the shape of ``pred``.

    Returns
    -------
    dict
        ``{"fg_iou", "f1", "precision", "recall", "n_objects", "n_gt_objects"}``.
    """
    f = instance_f1(mask, pred)
    return {
        "fg_iou": foreground_iou(mask, pred),
        "f1": f["f1"],
        "precision": f["precision"],
        "recall": f["recall"],
        "n_objects": f["n_pred"],
        "n_gt_objects": f["n_gt"],
    }
