"""How strokes and regions look, for a refine: local features of the image, the look of
each stroked class, and classes that the image cannot tell apart (split by place).

Used by :mod:`napari_mmtseg.refine`. Plain numpy, scipy and scikit-image, no torch, no Qt.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "LOOK_SIGMA",
    "alike_groups",
    "alike_looks",
    "inner_pixels",
    "local_features",
    "split_alike",
    "stroke_looks",
]

#: the scale (pixels) of :func:`local_features`' Gaussian window
LOOK_SIGMA = 2.0


def stroke_looks(feats: np.ndarray, target: np.ndarray, regions=None, inner=None) -> dict:
    """How each stroked class looks: one look per region its strokes lie on.

    A look is the mean and standard deviation of the local features
    (:func:`local_features`) over the class's stroked pixels in one region, those within
    ``2 * LOOK_SIGMA`` of the region's edge left out (:func:`inner_pixels`) where at least
    ``(2 * LOOK_SIGMA) ** 2`` others are left (fewer give a look with no spread): a stroke
    across an edge looks like each region it crosses, not like their blend, whose spread
    would take in every grey level between them. For the same reason a region with pixels
    away from its edges whose stroked pixels (but those few) all lie near one
    (a stroke's tip that runs a few pixels over it) gives the class no look, unless no
    region gives one: those pixels' features blend the regions there, not the region's
    look, and such a look makes every region of a grey between them (a small one, most of
    whose pixels lie near an edge, the first) a look-alike of the stroke. A region with no
    pixels away from its edges (a fine texture's pieces) looks like its edge pixels.

    Parameters
    ----------
    feats : numpy.ndarray of shape (F, ...)
        Local features of the pixels of ``target``.
    target : numpy.ndarray of int
        The class of each stroked pixel, -1 elsewhere.
    regions : numpy.ndarray of int, optional
        ``target``'s shape: the region of each pixel before the refine; None: one look over
        all of a class's stroked pixels.
    inner : numpy.ndarray of bool, optional
        ``target``'s shape: the pixels away from their region's edges; None: all.

    Returns
    -------
    dict
        Channel -> ``(mean, std)``, arrays of shape (P, F): one row per region the
        channel's strokes lie on (those that give it a look).
    """
    target = np.asarray(target).ravel()
    f = feats.reshape(feats.shape[0], -1)
    regions = np.zeros(target.size, np.int64) if regions is None else np.ravel(regions)
    inner = np.ones(target.size, bool) if inner is None else np.ravel(inner)
    looks = {}
    for c in np.unique(target[target >= 0]):
        v, edge = [], []
        for r in np.unique(regions[target == c]):
            piece = (target == c) & (regions == r)
            core = piece & inner
            cored = core.sum() >= (2 * LOOK_SIGMA) ** 2  # a few pixels have no spread
            v.append(f[:, core if cored else piece])
            edge.append(not cored and bool((inner & (regions == r)).any()))
        if not all(edge):  # the blends on a region's edge left out
            v = [a for a, e in zip(v, edge) if not e]
        looks[int(c)] = (np.stack([a.mean(1) for a in v]), np.stack([a.std(1) for a in v]))
    return looks


def alike_looks(looks: dict) -> dict:
    """For each stroked class, the other stroked classes that look alike it.

    Two classes look alike when a look of one and a look of the other
    (:func:`stroke_looks`) do: on every feature, their means differ by less than the sum
    of their standard deviations (as in :func:`alike_groups`).

    Parameters
    ----------
    looks : dict
        Channel -> ``(mean, std)``, arrays of shape (P, F) (:func:`stroke_looks`), or (F,)
        for one look.

    Returns
    -------
    dict
        Channel -> set of the other channels alike it.
    """
    chans = sorted(looks)
    if not chans:
        return {}
    mean = [np.atleast_2d(looks[c][0]) for c in chans]
    std = np.concatenate([np.atleast_2d(looks[c][1]) for c in chans])
    owner = np.concatenate([np.full(len(m), c) for m, c in zip(mean, chans)])
    mean = np.concatenate(mean)
    near = _alike(mean, std, mean, std).all(2)
    return {c: set(owner[near[owner == c].any(0)].tolist()) - {c} for c in chans}


def inner_pixels(labels: np.ndarray) -> np.ndarray:
    """The pixels farther than ``2 * LOOK_SIGMA`` from an edge between two regions: those
    whose local features (:func:`local_features`) are their own region's alone.

    Parameters
    ----------
    labels : numpy.ndarray of shape (H, W), int
        Region ids.

    Returns
    -------
    numpy.ndarray of shape (H, W), bool
        True on the pixels away from every edge (all of them for a single region).
    """
    from skimage.segmentation import find_boundaries

    labels = np.asarray(labels)
    edge = find_boundaries(labels, mode="thick")  # both sides of every edge
    if not edge.any():
        return np.ones(labels.shape, bool)
    return ndi.distance_transform_edt(~edge) > 2 * LOOK_SIGMA


def local_features(x: np.ndarray) -> np.ndarray:
    """Per pixel: each channel's local mean and spread (a Gaussian of sigma :data:`LOOK_SIGMA`).

    Parameters
    ----------
    x : numpy.ndarray of shape (C, H, W), float
        The normalised slice.

    Returns
    -------
    numpy.ndarray of shape (2C, H, W), float64
        The local means, then the local standard deviations.
    """
    from skimage.filters import gaussian

    m = np.stack([gaussian(c, LOOK_SIGMA) for c in x])
    sq = np.stack([gaussian(c * c, LOOK_SIGMA) for c in x])
    return np.concatenate([m, np.sqrt(np.maximum(sq - m * m, 0.0))])


def alike_groups(x: np.ndarray, target: np.ndarray, channels=None) -> list:
    """Groups of stroked classes that the image cannot tell apart.

    Two classes are alike when, on every local feature (each channel's local mean and
    spread), their stroked pixels' means differ by less than the sum of their
    standard deviations: one texture painted with two ids. With ``channels``, a channel
    of the map that no stroke has joins a group when its pixels look alike one of the
    group's strokes by the same test: the rest of that one texture, which the networks
    may have given a class of its own.

    Parameters
    ----------
    x : numpy.ndarray of shape (C, H, W), float
        The normalised slice.
    target : numpy.ndarray of shape (H, W), int
        The class (network channel) of each stroked pixel, -1 elsewhere.
    channels : numpy.ndarray of shape (H, W), int, optional
        The networks' channel map of the slice.

    Returns
    -------
    list of numpy.ndarray of int64
        The channels of each group of two or more alike stroked classes (with the
        unstroked channels alike them, sorted).
    """
    chans = np.unique(target[target >= 0])
    if chans.size < 2:
        return []
    f = local_features(np.asarray(x, np.float64))
    from scipy.sparse.csgraph import connected_components

    mean, std = _look(f, target, chans)
    near = _alike(mean, std, mean, std)
    _, group = connected_components(near.all(2), directed=False)
    groups = [chans[group == g] for g in np.unique(group)]
    groups = [g for g in groups if g.size > 1]
    if channels is None or not groups:
        return groups
    channels = np.asarray(channels)
    rest = np.setdiff1d(np.unique(channels), chans)
    if rest.size == 0:
        return groups
    r_mean, r_std = _look(f, channels, rest)
    out = []
    for g in groups:
        k = np.isin(chans, g)
        like = _alike(r_mean, r_std, mean[k], std[k]).all(2).any(1)
        out.append(np.sort(np.concatenate([g, rest[like]])))
    return out


def _look(f: np.ndarray, where: np.ndarray, values: np.ndarray) -> tuple:
    """The mean and standard deviation of the features ``f`` (F, H, W) over the pixels of
    each value of ``values`` in ``where``: two arrays of shape (K, F)."""
    mean = np.stack([f[:, where == c].mean(1) for c in values])
    std = np.stack([f[:, where == c].std(1) for c in values])
    return mean, std


def _alike(mean_a, std_a, mean_b, std_b) -> np.ndarray:
    """(A, B, F) bool: feature by feature, whether look a and look b differ by less than
    the sum of their standard deviations."""
    return np.abs(mean_a[:, None] - mean_b[None]) < std_a[:, None] + std_b[None] + 1e-6


def split_alike(clean: np.ndarray, target: np.ndarray, groups: list) -> np.ndarray:
    """``clean`` with each group of alike classes split by place: a pixel of one of them
    takes the class of the nearest stroke of the group.

    Parameters
    ----------
    clean : numpy.ndarray of shape (H, W), int
        Channel per pixel.
    target : numpy.ndarray of shape (H, W), int
        The class of each stroked pixel, -1 elsewhere.
    groups : list of numpy.ndarray
        From :func:`alike_groups`.

    Returns
    -------
    numpy.ndarray of shape (H, W), int64
        The new channel map.
    """
    out = np.asarray(clean, np.int64).copy()
    for g in groups:
        strokes = np.isin(target, g)
        idx = ndi.distance_transform_edt(~strokes, return_distances=False, return_indices=True)
        mask = np.isin(out, g)
        out[mask] = target[idx[0][mask], idx[1][mask]]
    return out
