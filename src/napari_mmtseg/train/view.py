"""The training view: the reduced copy of a slice that the networks train on.

The one home of the rule "longest side at most ``train_size``", used by training and by
the memory check. No Qt, no napari.
"""

from __future__ import annotations

import numpy as np

__all__ = ["train_shape", "train_view"]


def train_shape(shape: tuple, train_size: int | None) -> tuple:
    """Size of the training view of a slice.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the full-size slice, in pixels.
    train_size : int or None
        Longest side of the training view, in pixels; None or 0: the full size.

    Returns
    -------
    tuple of int
        ``(h, w)``: ``(H, W)`` scaled so that the longest side is ``train_size`` (each side
        at least 2), or ``(H, W)`` when it already fits.
    """
    h, w = shape
    if train_size and max(h, w) > train_size:
        f = train_size / max(h, w)
        h, w = max(2, round(h * f)), max(2, round(w * f))
    return h, w


def train_view(x: np.ndarray, train_size: int | None) -> np.ndarray:
    """Reduce a slice to its training view.

    Parameters
    ----------
    x : numpy.ndarray of shape (C, H, W), float32
        The normalised slice.
    train_size : int or None
        Longest side of the view, in pixels (see :func:`train_shape`).

    Returns
    -------
    numpy.ndarray of shape (C, h, w), float32
        ``x`` itself when it fits, else resized (bilinear, anti-aliased).
    """
    shape = train_shape(x.shape[1:], train_size)
    if shape == tuple(x.shape[1:]):
        return x
    from skimage.transform import resize

    return (
        resize(x.transpose(1, 2, 0), shape, order=1, anti_aliasing=True, preserve_range=True)
        .transpose(2, 0, 1)
        .astype(np.float32)
    )
