"""Image features shared by training and the output stage.

The learned methods' superpixels (:mod:`napari_mmtseg.train`) and the output stage's merge and
boundary snapping (:mod:`napari_mmtseg.regions`) measure colour and intensity differences in the
same feature space, defined here. No torch, Qt or napari.
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_strength", "image_features", "is_colour"]


def is_colour(x, colour: bool | None) -> bool:
    """Whether the (C, H, W) slice ``x`` is read as RGB: ``colour`` when given
    (the engine's decision), else when it has 3 channels."""
    return np.shape(x)[0] == 3 if colour is None else bool(colour) and np.shape(x)[0] == 3


def image_features(x: np.ndarray, colour: bool | None = None) -> np.ndarray:
    """(C, H, W) float image in [0, 1] -> (H, W, F) float32 features in which
    Euclidean distances are perceptual-ish: CIELAB for RGB
    (:func:`skimage.color.rgb2lab`), the channels times 100 otherwise (so
    both span about 0..100). ``colour``: whether ``x`` is RGB; None: when it
    has 3 channels."""
    img = np.moveaxis(np.asarray(x, dtype=np.float32), 0, -1)
    if is_colour(x, colour):
        from skimage.color import rgb2lab

        return rgb2lab(img).astype(np.float32)
    return img * np.float32(100.0)


def edge_strength(features: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(H, W) gradient magnitude of (H, W, F) ``features``: the Euclidean norm
    over features of the Sobel responses (:func:`skimage.filters.sobel`)
    after Gaussian smoothing with ``sigma`` pixels."""
    from skimage.filters import gaussian, sobel

    f = gaussian(features, sigma=sigma, channel_axis=-1) if sigma else features
    mag = np.zeros(f.shape[:2], dtype=np.float64)
    for c in range(f.shape[-1]):
        mag += sobel(f[..., c]) ** 2
    return np.sqrt(mag)
