"""A label map against one ground-truth partition: accuracy, IoU, Rand index, VoI, covering."""

from __future__ import annotations

import numpy as np

from .table import (
    check_pair,
    contingency,
    iou_table,
    table_accuracy,
    table_covering,
    table_miou,
    table_rand_index,
    table_voi,
)

__all__ = [
    "accuracy",
    "connected_components",
    "covering",
    "miou",
    "miou_kim",
    "n_pieces",
    "n_segments",
    "pri",
    "rand_index",
    "variation_of_information",
    "voi",
]


def accuracy(gt, pred) -> float:
    """Pixel accuracy after the best one-to-one mapping of predicted clusters to GT segments.

    The paper's metric: Hungarian matching of maximum total overlap; extra clusters on either
    side stay unmatched and count as errors.

    Parameters
    ----------
    gt, pred : array_like of int
        Ground-truth and predicted label maps of one shape, any ids (they are matched,
        not compared).

    Returns
    -------
    float
        Matched pixels / all pixels, in [0, 1].
    """
    return table_accuracy(contingency(gt, pred))


def miou(gt, pred) -> float:
    """Mean IoU over GT segments under the one-to-one matching of :func:`accuracy`.

    Parameters
    ----------
    gt, pred : array_like of int
        Ground-truth and predicted label maps of one shape, any ids; the mean runs over the
        ids of ``gt``.

    Returns
    -------
    float
        Mean IoU in [0, 1]; a GT segment with no predicted partner scores 0.
    """
    return table_miou(contingency(gt, pred))


def connected_components(pred, connectivity: int | None = None) -> np.ndarray:
    """Split every predicted segment into its spatially connected pieces.

    Parameters
    ----------
    pred : array_like of int
        Label map, any ids, 2D or nD.
    connectivity : int, optional
        As :func:`skimage.measure.label`; default full connectivity (8 neighbours in 2D).

    Returns
    -------
    ndarray of int
        Piece ids >= 1 at every pixel (no value is treated as background).
    """
    from skimage.measure import label

    pred = np.asarray(pred)
    _, inv = np.unique(pred, return_inverse=True)
    return label(inv.reshape(pred.shape) + 1, background=0, connectivity=connectivity)


def miou_kim(gt, pred, connectivity: int | None = None) -> float:
    """Kim et al. 2020's mIoU: each GT segment's best IoU over the prediction's components.

    The prediction is relabelled into connected components (:func:`connected_components`);
    each GT segment takes its best IoU over them (not one-to-one: one component may serve
    several GT segments); the mean is over GT segments.

    Parameters
    ----------
    gt, pred : array_like of int
        Ground-truth and predicted label maps of one shape, any ids; the mean runs over the
        ids of ``gt``, the best over the pieces of ``pred``.
    connectivity : int, optional
        Connectivity of the components (default full).

    Returns
    -------
    float
        Mean best IoU, in [0, 1].
    """
    gt, pred = check_pair(gt, pred)
    C = contingency(gt, connected_components(pred, connectivity))
    return float(iou_table(C).max(1).mean())


def rand_index(gt, pred) -> float:
    """Rand index: the share of unordered pixel pairs on which both maps agree.

    Parameters
    ----------
    gt, pred : array_like of int
        Ground-truth and predicted label maps of one shape, any ids; only which pixels share
        an id matters.

    Returns
    -------
    float
        Pairs together in both or apart in both / all pairs, in [0, 1].
    """
    return table_rand_index(contingency(gt, pred))


def pri(pred, gts) -> float:
    """Probabilistic Rand index of ``pred`` against one or several annotations.

    PRI = mean over pixel pairs of ``c*p + (1-c)*(1-p)`` with ``c`` = "together in pred" and
    ``p`` = fraction of annotations that put them together (Unnikrishnan et al., TPAMI 2007);
    being linear in ``p`` it equals the mean of the Rand indices against each annotation, as
    the BSDS benchmark computes it.

    Parameters
    ----------
    pred : array_like of int
        Predicted label map.
    gts : ndarray or list of ndarray
        One annotation (same shape as ``pred``) or a list of them.

    Returns
    -------
    float
        PRI, in [0, 1].
    """
    if isinstance(gts, np.ndarray) and gts.ndim == np.asarray(pred).ndim:
        gts = [gts]
    return float(np.mean([rand_index(g, pred) for g in gts]))


def voi(gt, pred) -> float:
    """Variation of information in nats (natural log), as this package has always reported it.

    The field reports bits: :func:`variation_of_information` (``unit="bits"``, the default) is
    this value divided by ln 2.

    Parameters
    ----------
    gt, pred : array_like of int
        Ground-truth and predicted label maps of one shape, any ids.

    Returns
    -------
    float
        ``H(G|P) + H(P|G)`` in nats; 0 iff the partitions are identical up to renaming.
    """
    return table_voi(contingency(gt, pred), unit="nats")


def variation_of_information(gt, pred, *, unit: str = "bits") -> float:
    """Variation of information ``H(G|P) + H(P|G)`` (Meila, J. Multivariate Anal. 2007).

    Lower is better. In bits by default, as the BSDS benchmark (Arbelaez et al., TPAMI 2011)
    and :func:`skimage.metrics.variation_of_information` report it.

    Parameters
    ----------
    gt, pred : array_like of int
        Ground-truth and predicted label maps of one shape, any ids.
    unit : {"bits", "nats"}, optional
        Logarithm base 2 (``"bits"``) or e (``"nats"``, what :func:`voi` gives).

    Returns
    -------
    float
        VoI >= 0 in ``unit``; 0 iff the partitions are identical up to renaming.

    Raises
    ------
    ValueError
        If ``unit`` is neither ``"bits"`` nor ``"nats"``.
    """
    return table_voi(contingency(gt, pred), unit=unit)


def covering(gt, pred) -> float:
    """Segmentation covering of the ground truth by the segmentation (Arbelaez et al. 2011).

    ``C(S' -> S) = 1/N sum_{R in S} |R| max_{R' in S'} |R & R'| / |R | R'|`` (Arbelaez, Maire,
    Fowlkes and Malik, TPAMI 2011): every GT region is scored by the predicted region that
    overlaps it best, weighted by its size. Every id is a region (the BSDS code skips id 0,
    which its maps never hold). Against several annotations,
    :func:`napari_mmtseg.metrics.bsds_region_scores` pools them as the BSDS benchmark does.

    Parameters
    ----------
    gt : array_like of int
        Ground-truth label map ``S``, any ids.
    pred : array_like of int
        Segmentation ``S'``, the shape of ``gt``.

    Returns
    -------
    float
        Covering in [0, 1]; 1 iff the two partitions are equal up to renaming.
    """
    return table_covering(contingency(gt, pred))


def n_segments(labels) -> int:
    """Count the distinct ids of a label map.

    Parameters
    ----------
    labels : array_like of int
        A label map, any ids.

    Returns
    -------
    int
        Distinct ids.
    """
    return int(np.unique(np.asarray(labels)).size)


def n_pieces(labels) -> int:
    """Count the 4-connected pieces of a label map: the areas a person would have to correct.

    Parameters
    ----------
    labels : array_like of int
        A label map, any ids; each id's pixels are split into their pieces.

    Returns
    -------
    int
        Connected pieces of all ids together.
    """
    from skimage.measure import label

    lab = np.asarray(labels)
    _, inv = np.unique(lab, return_inverse=True)
    return int(label(inv.reshape(lab.shape) + 1, background=0, connectivity=1).max())
