"""Transition bands: thin pieces whose colour lies between their two sides are given away."""

from __future__ import annotations

import numpy as np

from .maps import adjacency, mean_features, thin_pieces

__all__ = ["remove_transition_bands"]


def remove_transition_bands(
    pieces: np.ndarray,
    features: np.ndarray,
    max_width: float = 2.0,
    slack: float = 1.25,
    passes: int = 3,
    same: float = 0.01,
) -> np.ndarray:
    """Give away the pixels of transition bands: the blur of an edge clustered on its own.

    A band is a thin piece (no pixel farther than ``max_width`` px from the piece's edge,
    :func:`~napari_mmtseg.output_stage.maps.thin_pieces`: bands up to about 2 x ``max_width`` + 1 px
    wide) whose mean colour lies between the colours of the two neighbours it touches most,
    ``d(band, a) + d(band, b) <= slack * d(a, b)``: a ring around every nucleus, a seam along
    every outline. Its pixels go to the nearest neighbour, so the edge falls mid-band. A thin
    piece darker or brighter than both sides (a membrane, a line) is kept. A wide band made of
    several thin clusters side by side goes pass by pass: the middle ones first, then the outer
    ones, which then lie between the two sides. A thin piece whose colour lies within ``same``
    x ``d(a, b)`` of one side's is no band but a fragment of that side (the rim of a small
    bright spot that the network cut off its core): it joins that side, so a small object cut
    into thin pieces is not given away whole.

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 1.
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    max_width : float, optional
        Largest depth of a band, in pixels.
    slack : float, optional
        How far off the straight line between its two sides a band's colour may lie.
    passes : int, optional
        Passes at most.
    same : float, optional
        A thin piece this close to one side's colour (a fraction of ``d(a, b)``) joins it.

    Returns
    -------
    ndarray of int, shape (H, W)
        A new piece map (ids kept, some removed), or ``pieces`` itself when nothing was
        removed.
    """
    for _ in range(passes):
        before = pieces
        pieces = _remove_bands_once(pieces, features, max_width, slack, same)
        if pieces is before:
            break
    return pieces


def _two_largest_contacts(pieces, thin, n):
    """Each thin piece's two most-touched neighbours (0 where it has fewer), and which have two."""
    pairs, contact = adjacency(pieces)
    # every (piece, neighbour, contact) both ways, the thin pieces' two largest contacts first
    p = np.concatenate([pairs[:, 0], pairs[:, 1]])
    nb = np.concatenate([pairs[:, 1], pairs[:, 0]])
    c = np.concatenate([contact, contact])
    sel = thin[p]
    p, nb, c = p[sel], nb[sel], c[sel]
    if p.size == 0:
        return None
    order = np.lexsort((-c, p))
    p, nb = p[order], nb[order]
    first = np.r_[True, p[1:] != p[:-1]]
    second = np.r_[False, first[:-1]] & ~first
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    a[p[first]] = nb[first]
    b[p[second]] = nb[second]
    has_two = np.zeros(n, dtype=bool)
    has_two[p[second]] = True
    return a, b, has_two


def _remove_bands_once(pieces, features, max_width, slack, same):
    """One pass of :func:`remove_transition_bands`; ``pieces`` itself when nothing goes."""
    from skimage.segmentation import expand_labels

    n = int(pieces.max()) + 1
    if n <= 3:
        return pieces
    thin = thin_pieces(pieces, max_width)
    thin[0] = False
    if not thin.any():
        return pieces
    mean, _ = mean_features(pieces, features, n)
    contacts = _two_largest_contacts(pieces, thin, n)
    if contacts is None:
        return pieces
    a, b, has_two = contacts
    d_ab = np.linalg.norm(mean[a] - mean[b], axis=1)
    d_a, d_b = np.linalg.norm(mean - mean[a], axis=1), np.linalg.norm(mean - mean[b], axis=1)
    candidate = has_two & (d_ab > 0) & (d_a + d_b <= slack * d_ab)
    fragment = candidate & (np.minimum(d_a, d_b) <= same * d_ab)  # one side's colour: join it
    drop = candidate & ~fragment
    present = np.bincount(pieces.ravel(), minlength=n) > 0  # ids may have gaps
    if not fragment.any() and (not drop.any() or not (present[1:] & ~drop[1:]).any()):
        return pieces  # nothing, or everything, to drop
    if drop.any() and (present[1:] & ~drop[1:]).any():
        pieces = expand_labels(np.where(drop[pieces], 0, pieces), distance=np.inf)
    if fragment.any():
        pieces = _join(pieces, fragment, np.where(d_a <= d_b, a, b))
    return pieces


def _join(pieces, which, to):
    """Each piece id where ``which`` joins piece ``to[id]`` (chains joined together)."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    n = which.size
    src = np.flatnonzero(which)
    graph = sparse.coo_matrix((np.ones(src.size), (src, to[src])), shape=(n, n))
    comp = connected_components(graph, directed=False)[1]
    keep = np.zeros(n, np.int64)  # each component's smallest id names it
    keep[comp[::-1]] = np.arange(n - 1, -1, -1)
    return keep[comp][pieces]
