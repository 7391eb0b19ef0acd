"""Two or more runs of one image compared with each other: agreement, ARI, stability."""

from __future__ import annotations

import numpy as np

from .table import check_pair, contingency, table_accuracy

__all__ = ["agreement", "ari", "stability"]


def agreement(a, b) -> float:
    """Pixel agreement of two runs after aligning their ids one-to-one (Hungarian).

    Parameters
    ----------
    a, b : array_like of int
        Two label maps of one shape, any ids (aligned one-to-one before counting).

    Returns
    -------
    float
        In [0, 1]; 1.0 iff identical up to renaming.
    """
    return table_accuracy(contingency(a, b))


def ari(a, b) -> float:
    """Adjusted Rand index of two label maps (:func:`sklearn.metrics.adjusted_rand_score`).

    Parameters
    ----------
    a, b : array_like of int
        Two label maps of one shape, any ids; only which pixels share an id matters.

    Returns
    -------
    float
        1.0 iff identical up to renaming, about 0 for independent maps.
    """
    from sklearn.metrics import adjusted_rand_score

    a, b = check_pair(a, b)
    return float(adjusted_rand_score(a.ravel(), b.ravel()))


def stability(runs) -> dict:
    """Compare several runs (e.g. different seeds) of one image pair by pair.

    Parameters
    ----------
    runs : sequence of array_like of int
        Label maps of one shape.

    Returns
    -------
    dict
        ``{"pairs": [(i, j, agreement, ari), ...], "agreement_mean", "agreement_worst",
        "ari_mean", "ari_worst"}``; NaN summaries for fewer than two runs.
    """
    runs = [np.asarray(r) for r in runs]
    pairs = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            pairs.append((i, j, agreement(runs[i], runs[j]), ari(runs[i], runs[j])))
    if not pairs:
        nan = float("nan")
        return {
            "pairs": [],
            "agreement_mean": nan,
            "agreement_worst": nan,
            "ari_mean": nan,
            "ari_worst": nan,
        }
    ag = np.array([p[2] for p in pairs])
    ar = np.array([p[3] for p in pairs])
    return {
        "pairs": pairs,
        "agreement_mean": float(ag.mean()),
        "agreement_worst": float(ag.min()),
        "ari_mean": float(ar.mean()),
        "ari_worst": float(ar.min()),
    }
