"""Small distinct objects: spots that differ clearly from their surroundings are kept.

A network trained on a whole field may not give a class to objects of a few tens of pixels
(spots, small nuclei, stars), and the smallest-region rule (:func:`.pieces.auto_min_region_size`,
1/5000 of the slice) would remove them if it did. This step finds them in the image itself: the
connected parts where the features stand out from a smoothed background by more than
:data:`SPOT_NOISE_FACTOR` x the image's noise (and at least :data:`SPOT_MIN_CONTRAST`), whose
contrast with their surroundings is well above the surroundings' own spread (so neither a band
along one side of an edge nor a fleck of texture is one), that are round
(:data:`SPOT_ROUNDNESS`), of :data:`SPOT_MIN_SIZE` px or more. The output stage gives each its
own class and keeps it through the small-piece steps; docs/benchmarks.md ("One run, every level
of detail") has the measurements.
"""

from __future__ import annotations

import numpy as np

from .maps import label_maximum

__all__ = [
    "SPOT_MIN_CONTRAST",
    "SPOT_MIN_SIZE",
    "SPOT_NOISE_FACTOR",
    "distinct_spots",
    "noise_sigma",
]

#: the smallest object kept as a region of its own, in pixels (the floor of every minimum size)
SPOT_MIN_SIZE = 16
#: a spot stands out from the smoothed background by this x the noise's standard deviation
SPOT_NOISE_FACTOR = 6.0
#: and by at least this, in feature units (0..100)
SPOT_MIN_CONTRAST = 10.0
#: the background a spot stands out from: the features smoothed by this Gaussian (pixels)
SPOT_BACKGROUND_SIGMA = 6.0
#: a spot's contrast with its surroundings (a ring 1 to 3 px outside it) is at least this x
#: the surroundings' own spread (so texture does not make spots)
SPOT_OVER_SPREAD = 4.0
#: a spot is round: its deepest pixel lies at least this x the radius of a disc of its area
#: from its edge (a fragment of a band or a halo is thinner)
SPOT_ROUNDNESS = 0.85


def noise_sigma(features: np.ndarray) -> float:
    """Estimate the standard deviation of the pixel noise of an image's features.

    The median absolute difference of horizontally adjacent pixels (a robust scale estimate:
    edges are few, so they barely move the median), scaled to a Gaussian's standard deviation
    (/ 0.6745 / sqrt 2), averaged over the features.

    Parameters
    ----------
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).

    Returns
    -------
    float
        The noise's standard deviation, in feature units.
    """
    f = np.asarray(features, np.float32)
    if f.shape[1] < 2:
        return 0.0
    diff = np.abs(f[:, 1:] - f[:, :-1]).reshape(-1, f.shape[-1])
    return float(np.mean(np.median(diff, axis=0)) / (0.6745 * np.sqrt(2.0)))


def distinct_spots(features: np.ndarray, max_size: int) -> np.ndarray:
    """Find the small objects that differ clearly from their surroundings.

    Parameters
    ----------
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    max_size : int
        The largest spot, in pixels (larger objects are the networks' to find).

    Returns
    -------
    ndarray of int32, shape (H, W)
        Spot ids 1..S, 0 elsewhere; every spot has :data:`SPOT_MIN_SIZE` to ``max_size`` px.
    """
    from scipy import ndimage as ndi

    f = np.asarray(features, np.float32)
    threshold = max(SPOT_NOISE_FACTOR * noise_sigma(f), SPOT_MIN_CONTRAST)
    background = ndi.gaussian_filter(f, (SPOT_BACKGROUND_SIGMA, SPOT_BACKGROUND_SIGMA, 0))
    stands_out = np.linalg.norm(f - background, axis=-1) > threshold
    parts, n = ndi.label(stands_out)
    if n == 0:
        return np.zeros(f.shape[:2], np.int32)
    size = np.bincount(parts.ravel(), minlength=n + 1)
    fitting = (size >= SPOT_MIN_SIZE) & (size <= max_size)
    fitting[0] = False
    parts = np.where(fitting[parts], parts, 0)
    # what expand_labels(parts, 3) gives where expand_labels(parts, 1) does not: 1 to 3 px
    # outside a part, the nearest part's id (one distance transform for both)
    dist, nearest = ndi.distance_transform_edt(parts == 0, return_indices=True)
    ring = np.where((dist > 1) & (dist <= 3), parts[tuple(nearest)], 0).ravel()
    flat = f.reshape(-1, f.shape[-1])
    mean = _means(parts.ravel(), flat, n + 1)
    at = ring > 0
    around = _means(ring[at], flat[at], n + 1)
    spread2 = np.bincount(
        ring[at], weights=np.sum((flat[at] - around[ring[at]]) ** 2, axis=1), minlength=n + 1
    ) / np.maximum(np.bincount(ring[at], minlength=n + 1), 1)
    contrast = np.linalg.norm(mean - around, axis=1)
    depth = label_maximum(ndi.distance_transform_edt(parts > 0), parts, n + 1)
    round_ = depth >= SPOT_ROUNDNESS * np.sqrt(size / np.pi)
    keep = fitting & round_ & (contrast > threshold)
    keep &= contrast > SPOT_OVER_SPREAD * np.sqrt(spread2)
    lut = np.zeros(n + 1, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    return lut[parts]


def _means(ids, values, n):
    """(n, F) mean of ``values`` (P, F) per id of ``ids`` (P,) (0 where an id has none)."""
    count = np.maximum(np.bincount(ids, minlength=n), 1)
    sums = [np.bincount(ids, weights=values[:, c], minlength=n) for c in range(values.shape[1])]
    return np.stack(sums, axis=1) / count[:, None]
