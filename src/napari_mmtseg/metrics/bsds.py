"""The BSDS500 region benchmark: segmentation covering, PRI and VoI in bits, at ODS and OIS.

Arbelaez, Maire, Fowlkes and Malik, "Contour Detection and Hierarchical Image Segmentation",
TPAMI 2011. Per image and per level of a hierarchy (or setting of a method) the benchmark
scores the segmentation against every human annotation of the image:

- **covering**: the covering of the annotations by the segmentation, pooled over annotations
  (``sum of |R| max O(R, R')`` over the regions of all annotations, divided by their pixels; as
  each annotation covers the image, the mean over annotations);
- **PRI**: the mean Rand index over annotations;
- **VoI**: the mean variation of information over annotations, in bits.

Over a dataset (:func:`bsds_ods_ois`): **ODS** takes one level for the whole dataset (the best
for each measure on its own), **OIS** the best level of each image. Covering is pooled over
pixels (the sums of all images), PRI and VoI are means over images, as the benchmark's
``collect_eval_reg`` does.
"""

from __future__ import annotations

import numpy as np

from .scoring import as_annotations
from .table import contingency, table_covering_counts, table_rand_index, table_voi

__all__ = ["bsds_ods_ois", "bsds_region_scores"]


def bsds_region_scores(pred, gts) -> dict:
    """Score one segmentation of an image against its annotations, as the BSDS benchmark does.

    Parameters
    ----------
    pred : array_like of int
        The segmentation, any ids (every id is a region).
    gts : ndarray or list of ndarray
        One annotation (the shape of ``pred``) or a list of them.

    Returns
    -------
    dict
        ``covering`` (in [0, 1], higher is better), ``pri`` (in [0, 1], higher is better),
        ``voi_bits`` (>= 0, lower is better), and the covering's sums over the annotations
        ``covering_hit`` and ``covering_area`` (pixels x annotations) that
        :func:`bsds_ods_ois` pools over images.

    Raises
    ------
    ValueError
        If ``gts`` is empty or a map's shape differs from ``pred``'s.
    """
    pred = np.asarray(pred)
    tables = [contingency(g, pred) for g in as_annotations(pred, gts)]
    counts = np.array([table_covering_counts(C) for C in tables])
    hit, area = float(counts[:, 0].sum()), float(counts[:, 1].sum())
    return {
        "covering": hit / area,
        "pri": float(np.mean([table_rand_index(C) for C in tables])),
        "voi_bits": float(np.mean([table_voi(C, unit="bits") for C in tables])),
        "covering_hit": hit,
        "covering_area": area,
    }


def bsds_ods_ois(scores) -> dict:
    """Pool per-image, per-level scores into the benchmark's ODS and OIS figures.

    Parameters
    ----------
    scores : sequence of sequence of dict
        ``scores[i][l]``: :func:`bsds_region_scores` of image ``i`` at level ``l``; every image
        has the same levels, in the same order.

    Returns
    -------
    dict
        For ``covering``, ``pri`` and ``voi_bits``: ``<m>_ods`` (the best level for the whole
        dataset), ``<m>_ods_level`` (its index) and ``<m>_ois`` (each image at its own best
        level); and ``n_images``.

    Raises
    ------
    ValueError
        If there is no image, or the images have different numbers of levels.
    """
    if not scores or len({len(s) for s in scores}) != 1 or not len(scores[0]):
        raise ValueError("bsds_ods_ois needs one or more images, each with the same levels.")

    hit, area = _table(scores, "covering_hit"), _table(scores, "covering_area")
    pri, voi = _table(scores, "pri"), _table(scores, "voi_bits")
    cov_level = hit.sum(0) / area.sum(0)
    rows = np.arange(hit.shape[0])
    best = np.argmax(hit / area, axis=1)  # each image's best level for covering
    out = {
        "covering_ods": float(cov_level.max()),
        "covering_ods_level": int(np.argmax(cov_level)),
        "covering_ois": float(hit[rows, best].sum() / area[rows, best].sum()),
        "pri_ods": float(pri.mean(0).max()),
        "pri_ods_level": int(np.argmax(pri.mean(0))),
        "pri_ois": float(pri.max(1).mean()),
        "voi_bits_ods": float(voi.mean(0).min()),
        "voi_bits_ods_level": int(np.argmin(voi.mean(0))),
        "voi_bits_ois": float(voi.min(1).mean()),
        "n_images": int(hit.shape[0]),
    }
    return out


def _table(scores, key: str) -> np.ndarray:
    """(images, levels) float64 array of one key of :func:`bsds_ods_ois`'s ``scores``."""
    return np.array([[level[key] for level in image] for image in scores], dtype=np.float64)
