"""Thin lines: which pieces are membranes, cell walls or vessels that separate regions."""

from __future__ import annotations

import numpy as np

from .maps import adjacency, mean_features

__all__ = ["thin_lines"]


def thin_lines(
    pieces: np.ndarray,
    features: np.ndarray,
    max_thickness: float,
    min_elongation: float = 3.0,
    contrast: float = 15.0,
    min_enclosed: float = 0.8,
    min_neighbours: int = 5,
) -> np.ndarray:
    """Find the pieces that are thin lines, and on which side of their surroundings they lie.

    A piece is a line when

    - its mean thickness, 2 x area / boundary length, is at most ``max_thickness`` px (a band
      of width w has w, a disc of radius r has r);
    - its elongation, boundary length^2 / (4 pi area), is at least ``min_elongation`` (1 for a
      disc, length / (pi w) for a band);
    - along at least ``min_enclosed`` of its boundary, and with at least ``min_neighbours``
      neighbours, the neighbour's mean colour lies more than ``contrast`` feature units beyond
      the line's own, on the side of the mean colour of all its neighbours (weighted by shared
      boundary): darker or brighter than what it separates.

    The boundary length counts only boundaries with other pieces, not the image border (a line
    along the border looks thicker).

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        The pieces, ids from 1.
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    max_thickness : float
        Largest mean thickness of a line, in pixels.
    min_elongation : float, optional
        Smallest elongation of a line.
    contrast : float, optional
        Smallest colour step from a line to a neighbour beyond it, in feature units.
    min_enclosed : float, optional
        Smallest share of a line's boundary along which the neighbour lies beyond it.
    min_neighbours : int, optional
        Fewest neighbours beyond a line.

    Returns
    -------
    ndarray of float64, shape (P + 1, F)
        For a line, the unit vector from its neighbours' mean colour to its own (in
        ``features`` space); zeros for every other id.
    """
    n = int(pieces.max()) + 1
    mean, size = mean_features(pieces, features, n)
    pairs, contact = adjacency(pieces)
    p = np.concatenate([pairs[:, 0], pairs[:, 1]])
    nb = np.concatenate([pairs[:, 1], pairs[:, 0]])
    c = np.concatenate([contact, contact]).astype(np.float64)
    perimeter = np.bincount(p, weights=c, minlength=n)
    around = (
        np.stack(
            [np.bincount(p, weights=c * mean[nb, f], minlength=n) for f in range(mean.shape[1])],
            axis=1,
        )
        / np.maximum(perimeter, 1)[:, None]
    )
    u = mean - around
    norm = np.linalg.norm(u, axis=1)
    unit = u / np.maximum(norm, 1e-12)[:, None]
    # the share of its boundary along which the neighbour lies beyond ``contrast`` on the far side
    beyond = np.einsum("ij,ij->i", mean[nb] - mean[p], unit[p]) < -contrast
    enclosed = np.bincount(p, weights=c * beyond, minlength=n) / np.maximum(perimeter, 1)
    line = (
        (perimeter > 0)  # id 0: no boundary
        & (2 * size <= max_thickness * perimeter)
        & (perimeter**2 >= min_elongation * 4 * np.pi * size)
        & (norm > 0)
        & (enclosed >= min_enclosed)
        & (np.bincount(p, weights=beyond, minlength=n) >= min_neighbours)
    )
    out = np.zeros_like(mean)
    out[line] = unit[line]
    return out
