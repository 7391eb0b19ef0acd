"""How strokes and regions look, for a refine: local features of the image, the look of
each stroked class, and classes that the image cannot tell apart (split by place).

Used by :mod:`napari_mmtseg.refine`. Plain numpy, scipy and scikit-image, no torch, no Qt.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["alike_groups", "alike_looks", "local_features", "split_alike", "stroke_looks"]


def stroke_looks(feats: np.ndarray, target: np.ndarray) -> dict:
    """How each stroked class looks: the mean and standard deviation of the local features
    (:func:`local_features`) over its stroked pixels.

    Parameters
    ----------
    feats : numpy.ndarray of shape (F, ...)
        Local features of the pixels of ``target``.
    target : numpy.ndarray of int
        The class of each stroked pixel, -1 elsewhere.

    Returns
    -------
    dict
        Channel -> ``(mean, std)``, arrays of shape (F,).
    """
    return {
        int(c): (feats[:, target == c].mean(1), feats[:, target == c].std(1))
        for c in np.unique(target[target >= 0])
    }


def alike_looks(looks: dict) -> dict:
    """For each stroked class, the other stroked classes that look alike it.

    Two looks are alike when, on every feature, their means differ by less than the sum of
    their standard deviations (as in :func:`alike_groups`).

    Parameters
    ----------
    looks : dict
        Channel -> ``(mean, std)`` (:func:`stroke_looks`).

    Returns
    -------
    dict
        Channel -> set of the other channels alike it.
    """
    chans = sorted(looks)
    if not chans:
        return {}
    mean = np.stack([looks[c][0] for c in chans])
    std = np.stack([looks[c][1] for c in chans])
    near = _alike(mean, std, mean, std).all(2)
    return {c: {chans[j] for j in np.flatnonzero(near[i]) if j != i} for i, c in enumerate(chans)}


def local_features(x: np.ndarray) -> np.ndarray:
    """Per pixel: each channel's local mean and local spread (Gaussian, sigma 2).

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

    m = np.stack([gaussian(c, 2.0) for c in x])
    sq = np.stack([gaussian(c * c, 2.0) for c in x])
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
