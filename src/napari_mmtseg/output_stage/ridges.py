"""Thin structures in the image itself: vessels, membranes, fibres a few pixels wide.

A network trained at the ``fast`` preset's working size may not see structures a few pixels
wide (a fundus photo's vessels vanish when 1411 x 1411 is trained at 128 px), so the finest
regions of the hierarchy would not hold them. This step finds them in the features: the
morphological top-hats (:func:`scipy.ndimage.white_tophat`, :func:`scipy.ndimage.black_tophat`;
the residue of a grey opening or closing, the classic vessel and fibre enhancer, Zana and
Klein, IEEE TIP 2001) keep what is brighter or darker than both its sides and narrower than the
footprint, and do not answer a step edge; the features are smoothed by a Gaussian of
:data:`RIDGE_SMOOTH` px first, so the noise's maxima do not. Only pixels at least
:data:`RIDGE_HALF` as high as the highest top-hat within a footprint count (a line's width at
half its height, not the smoothing's tails). Each pixel's top-hat is divided by its level
around it: the median over a square :data:`RIDGE_CONTEXT` footprints wide, never below the
image's median top-hat nor 6 x the pixel noise / :data:`RIDGE_HIGH` (and 1 feature unit /
:data:`RIDGE_HIGH`), so a line on a smooth ground stands out more than dense texture (a coin's
relief). A ridge starts where that ratio exceeds :data:`RIDGE_HIGH` and grows by hysteresis
(:func:`skimage.filters.apply_hysteresis_threshold`) along connected pixels above
:data:`RIDGE_LOW`, as Canny's edges do. A connected ridge is kept when it is long, not a blob
(its area at least :data:`RIDGE_ELONGATION` x the disc of its deepest pixel's depth), and no
smaller than the smallest region. docs/benchmarks.md ("Thin ridges at the finest levels") has
the measurements. No Qt, no napari, no torch.
"""

from __future__ import annotations

import numpy as np

from .maps import label_maximum
from .spots import SPOT_NOISE_FACTOR, noise_sigma

__all__ = [
    "RIDGE_CONTEXT",
    "RIDGE_ELONGATION",
    "RIDGE_HALF",
    "RIDGE_HIGH",
    "RIDGE_LOW",
    "RIDGE_SMOOTH",
    "RIDGE_WIDTHS",
    "thin_ridges",
]

#: the top-hats' square footprints, in pixels: structures narrower than one are ridges
RIDGE_WIDTHS = (9, 15)
#: the features are smoothed by a Gaussian of this sigma (pixels) first
RIDGE_SMOOTH = 1.0
#: the top-hat's level around a pixel is its median over a square this x the footprint wide
RIDGE_CONTEXT = 4
#: a ridge starts where the top-hat exceeds this x its level around (hysteresis' high)
RIDGE_HIGH = 5.0
#: and goes on along connected pixels above this x that level (0: ridges are off)
RIDGE_LOW = 3.0
#: a ridge pixel's top-hat is at least this x the largest within a footprint (its width is
#: the line's width at half its height, not the blur's tails)
RIDGE_HALF = 0.5
#: a ridge's area is at least this x the area of a disc of its deepest pixel's depth
RIDGE_ELONGATION = 3.0


def thin_ridges(features: np.ndarray, min_size: int) -> np.ndarray:
    """Find the thin bright or dark structures of an image (vessels, membranes, fibres).

    Parameters
    ----------
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    min_size : int
        The smallest ridge kept, in pixels.

    Returns
    -------
    ndarray of int32, shape (H, W)
        Ridge ids 1..N (4-connected parts), 0 elsewhere. Every ridge has at least
        ``min_size`` px and at least :data:`RIDGE_ELONGATION` x the area of a disc
        of its deepest pixel's depth.

    Notes
    -----
    The thresholds are relative to the top-hat's level around each pixel, which is never below
    the image's median top-hat nor :data:`~napari_mmtseg.output_stage.spots.SPOT_NOISE_FACTOR`
    x the noise (:func:`~napari_mmtseg.output_stage.spots.noise_sigma`) / :data:`RIDGE_HIGH`,
    so noise makes no ridges and texture fewer than lines on a smooth ground (a textured
    object's folds and relief lines may still be ridges); a line needs a step of at least 1
    feature unit. Where dense texture covers about half the image or more, its top-hat is the
    image's median and lines elsewhere must stand out from that. A faint line within a few
    pixels of a much stronger one, and a branch's first few pixels beside its trunk, fall
    under the half-height test (the branch becomes a ridge of its own).
    """
    from scipy import ndimage as ndi
    from skimage.filters import apply_hysteresis_threshold

    f = np.asarray(features, np.float32)
    h, w = f.shape[:2]
    if RIDGE_LOW <= 0 or min(h, w) < 3:
        return np.zeros((h, w), np.int32)
    floor = max(SPOT_NOISE_FACTOR * noise_sigma(f), 1.0)
    f = ndi.gaussian_filter(f, (RIDGE_SMOOTH, RIDGE_SMOOTH, 0))  # the noise's maxima, not lines
    ratio = np.zeros((h, w), np.float32)  # the top-hat over its image median, best width
    for width in RIDGE_WIDTHS:
        hat = np.zeros((h, w), np.float32)
        for c in range(f.shape[-1]):
            np.maximum(hat, ndi.white_tophat(f[..., c], size=(width, width)), out=hat)
            np.maximum(hat, ndi.black_tophat(f[..., c], size=(width, width)), out=hat)
        level = _local_median(hat, width, RIDGE_CONTEXT)  # the top-hat around: texture
        np.maximum(level, max(float(np.median(hat)), floor / RIDGE_HIGH), out=level)
        crest = hat >= RIDGE_HALF * ndi.maximum_filter(hat, size=width)  # within the half-max
        np.maximum(ratio, np.where(crest, hat / level, 0), out=ratio)
    high, low = RIDGE_HIGH, min(RIDGE_LOW, RIDGE_HIGH)
    mask = apply_hysteresis_threshold(ratio, low, high)
    parts, n = ndi.label(mask)  # 4-connected, as the pieces (:func:`.maps.connected_pieces`)
    if n == 0:
        return np.zeros((h, w), np.int32)
    area = np.bincount(parts.ravel(), minlength=n + 1)
    depth = label_maximum(ndi.distance_transform_edt(mask), parts, n + 1)
    keep = (area >= max(int(min_size), 1)) & (area >= RIDGE_ELONGATION * np.pi * depth**2)
    keep[0] = False
    lut = np.zeros(n + 1, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    return lut[parts]


def _local_median(values, block: int, context: int) -> np.ndarray:
    """About the median of ``values`` over a square ``context`` x ``block`` px wide around each
    pixel: the median of the medians of ``block`` x ``block`` tiles over ``context`` x
    ``context`` tiles (:func:`scipy.ndimage.median_filter`), interpolated back to full size
    (:func:`skimage.transform.resize`). Sparse lines do not move it; dense texture does."""
    from scipy import ndimage as ndi
    from skimage.transform import resize

    h, w = values.shape
    th, tw = -(-h // block), -(-w // block)
    padded = np.pad(values, ((0, th * block - h), (0, tw * block - w)), mode="edge")
    tiles = np.median(padded.reshape(th, block, tw, block), axis=(1, 3))
    tiles = ndi.median_filter(tiles, size=context, mode="nearest")
    full = resize(tiles, (th * block, tw * block), order=1, mode="edge", anti_aliasing=False)
    return full[:h, :w].astype(np.float32)
