"""Classes: each region's class, and the grouping of classes to ``n_classes``."""

from __future__ import annotations

import numpy as np

from .maps import compact_ids, majority, mean_features, votes

__all__ = ["group_classes", "group_means", "group_to", "region_classes"]


def group_classes(ids: np.ndarray, features: np.ndarray, n_classes: int) -> np.ndarray:
    """Group the ids of a map into ``n_classes`` classes by their mean features.

    Ward's agglomerative clustering of the ids' mean features, each id weighted by its pixel
    count (:func:`scipy.cluster.hierarchy.linkage` on each mean repeated in proportion to its
    size, 1 to 50 times, 10,000 points at most); above 1,000 ids, scikit-learn's ``KMeans``
    with those weights instead.

    Parameters
    ----------
    ids : ndarray of int, shape (H, W)
        Any ids.
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    n_classes : int
        Classes wanted, >= 1.

    Returns
    -------
    ndarray of int, shape (H, W)
        Class ids 0..n_classes-1 (fewer only when the map has fewer ids).
    """
    uniq, inv = compact_ids(ids)
    if uniq.size <= n_classes:
        return inv
    means, count = mean_features(inv, features, uniq.size)
    return group_means(means, count, n_classes)[inv]


def group_means(means: np.ndarray, count: np.ndarray, n_classes: int) -> np.ndarray:
    """Group items with mean features ``means`` and sizes ``count`` into ``n_classes``.

    What :func:`group_classes` does once the ids' means are known: Ward's clustering, each
    item repeated in proportion to its size (1 to 50 times, 10,000 points at most); above
    1,000 items, ``KMeans`` weighted by size.

    Parameters
    ----------
    means : ndarray of float, shape (K, F)
        Each item's mean features.
    count : ndarray, shape (K,)
        Each item's pixels (> 0).
    n_classes : int
        Classes wanted, >= 1.

    Returns
    -------
    ndarray of int, shape (K,)
        Each item's class, 0..n_classes-1 (each item its own when there are no more than
        ``n_classes``).
    """
    k = means.shape[0]
    if k <= n_classes:
        return np.arange(k)
    if k > 1000:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=n_classes, n_init=3, random_state=0)
        return km.fit(means, sample_weight=count).labels_
    from scipy.cluster.hierarchy import fcluster, linkage

    count = np.asarray(count, np.float64)
    reps = np.clip(np.round(count / count.sum() * 10_000), 1, 50).astype(int)
    pts = np.repeat(means, reps, axis=0)
    owner = np.repeat(np.arange(k), reps)
    groups = fcluster(linkage(pts, method="ward"), t=n_classes, criterion="maxclust") - 1
    # each item's copies stay together (identical points merge first); take the first copy's
    first = np.searchsorted(owner, np.arange(k))
    return groups[first]


def region_classes(
    regions: np.ndarray,
    clusters: np.ndarray,
    ids: np.ndarray,
    scribbled: np.ndarray,
    scribbled_pixels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Give each region the cluster that covers most of it, or the class a user scribbled in it.

    Parameters
    ----------
    regions : ndarray of int, shape (H, W)
        Region ids (any).
    clusters : ndarray of int, shape (H, W)
        The method's clusters as indices 0..K-1 into ``ids``.
    ids : ndarray of int, shape (K,)
        The method's cluster ids, sorted.
    scribbled : ndarray of int64, shape (S,)
        Indices into ``ids`` of the scribbled classes' clusters: a region holding one of them
        takes the largest scribbled one.
    scribbled_pixels : ndarray of int, shape (H, W), optional
        At each scribbled pixel the cluster id (from ``ids``) the user scribbled there, -1
        elsewhere. With it, a region takes a scribbled class only where the user scribbled
        that class in it (the class with the most scribbled pixels), whatever the method
        predicts there.

    Returns
    -------
    reg : ndarray of int64, shape (H, W)
        The regions numbered 0..R-1.
    region_class : ndarray of int64, shape (R,)
        Each region's class, an index into ``ids``.
    """
    reg = compact_ids(regions)[1]
    n_reg = int(reg.max()) + 1
    region_class = majority(reg, clusters, ids.size, n_reg)
    if scribbled.size:
        column = np.full(ids.size, scribbled.size, np.int64)  # the others: one last column
        column[scribbled] = np.arange(scribbled.size)
        r, c = reg.ravel(), np.asarray(clusters).ravel()
        if scribbled_pixels is not None:  # count the user's classes at the scribbled pixels
            sp = np.asarray(scribbled_pixels).ravel()
            m = np.flatnonzero(sp >= 0)
            ci = np.minimum(np.searchsorted(ids, sp[m]), ids.size - 1)
            ok = ids[ci] == sp[m]  # a class whose cluster is absent from the map cannot vote
            r, c = r[m[ok]], ci[ok]
        sv = votes(r, column[c], scribbled.size + 1, n_reg)[:, :-1]  # the scribbled columns
        has = sv.max(1) > 0
        region_class[has] = scribbled[sv[has].argmax(1)]
    return reg, region_class


def group_to(
    cls: np.ndarray, reg: np.ndarray, features: np.ndarray, n_classes: int
) -> tuple[np.ndarray, str]:
    """Group a class map to ``n_classes`` classes, or its regions when too few classes are left.

    Parameters
    ----------
    cls : ndarray of int, shape (H, W)
        Each pixel's class.
    reg : ndarray of int, shape (H, W)
        Each pixel's region.
    features : ndarray of float, shape (H, W, F)
        The image's per-pixel features (:func:`napari_mmtseg.features.image_features`).
    n_classes : int
        Classes wanted, >= 1.

    Returns
    -------
    cls : ndarray of int, shape (H, W)
        Class ids 0..n_classes-1 (fewer only when the image has fewer regions).
    grouped : str
        ``"clusters"`` (the classes were grouped) or ``"regions"`` (the regions were).
    """
    if np.unique(cls).size >= n_classes:
        return group_classes(cls, features, n_classes), "clusters"
    return group_classes(reg, features, n_classes), "regions"
