"""Image features shared by training and the output stage.

The learned methods' superpixels (:mod:`napari_mmtseg.train`) and the output stage's merge and
boundary snapping (:mod:`napari_mmtseg.output_stage`) measure colour and intensity differences
in the same feature space, defined here. No torch, Qt or napari.
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_strength", "image_features", "is_colour"]


def is_colour(x, colour: bool | None) -> bool:
    """Say whether a slice is read as RGB.

    Parameters
    ----------
    x : array_like, shape (C, H, W)
        The slice (only its shape is read).
    colour : bool or None
        The engine's decision; None: when ``x`` has 3 channels.

    Returns
    -------
    bool
        True when ``x`` has 3 channels and ``colour`` is not False.
    """
    return np.shape(x)[0] == 3 if colour is None else bool(colour) and np.shape(x)[0] == 3


def image_features(x: np.ndarray, colour: bool | None = None) -> np.ndarray:
    """Give the per-pixel features in which Euclidean distances are perceptual-ish.

    CIELAB for RGB (:func:`skimage.color.rgb2lab`), the channels times 100 otherwise, so both
    span about 0..100.

    Parameters
    ----------
    x : ndarray of float, shape (C, H, W)
        The normalised slice, in [0, 1].
    colour : bool, optional
        Whether ``x`` is RGB; None: when it has 3 channels (:func:`is_colour`).

    Returns
    -------
    ndarray of float32, shape (H, W, F)
        F = 3 (L, a, b) for RGB, else F = C.
    """
    img = np.moveaxis(np.asarray(x, dtype=np.float32), 0, -1)
    if is_colour(x, colour):
        from skimage.color import rgb2lab

        return rgb2lab(img).astype(np.float32)
    return img * np.float32(100.0)


def edge_strength(features: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Measure the gradient magnitude of the features.

    The Euclidean norm over features of the Sobel responses (:func:`skimage.filters.sobel`)
    after Gaussian smoothing.

    Parameters
    ----------
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`image_features`).
    sigma : float, optional
        Gaussian smoothing in pixels (0: none).

    Returns
    -------
    ndarray of float64, shape (H, W)
        Gradient magnitude, in feature units per pixel.
    """
    from skimage.filters import gaussian, sobel

    f = gaussian(features, sigma=sigma, channel_axis=-1) if sigma else features
    mag = np.zeros(f.shape[:2], dtype=np.float64)
    for c in range(f.shape[-1]):
        mag += sobel(f[..., c]) ** 2
    return np.sqrt(mag)
