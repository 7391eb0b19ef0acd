"""The intensity range of an image, from a bounded sample of its pixels.

Normalisation maps ``lo`` to 0 and ``hi`` to 1 with ``lo``, ``hi`` taken from
the data alone (never from its dtype), so a linear rescale of the
intensities (uint8, the same times 200 as uint16, divided by 1024 as
float) changes no label. The rule (:func:`intensity_range`) and the sample
(:func:`sample_pixels`) are described in docs/usage.md, *Intensity range*.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SAMPLE_PIXELS",
    "TAIL_FRACTION",
    "check_finite",
    "intensity_range",
    "sample_pixels",
]

SAMPLE_PIXELS = 2_000_000  # pixels per channel used to find the intensity range
_SAMPLE_SLICES = 16  # slices of a lazy stack read for that
#: a lazy slice of at most this many pixels is read whole for the intensity
#: range (the run reads it whole anyway); a larger one only in windows
_WHOLE_SLICE_PIXELS = 2048 * 2048
_WINDOWS = 8  # windows per axis (8 x 8) sampled from a larger lazy slice
#: a tail beyond the 0.5th / 99.5th percentile longer than this fraction of
#: the range between them is cut (hot or dead pixels); a shorter one is kept
TAIL_FRACTION = 0.5


def check_finite(arr: np.ndarray, where: str = "", stack_axes: tuple = ()) -> None:
    """Refuse NaN and infinite values.

    Parameters
    ----------
    arr : numpy.ndarray
        Pixels of any dtype (only floating ones are checked).
    where : str
        Appended to the message, e.g. ``" (in slice 7)"``.
    stack_axes : tuple of int, optional
        The stack axes of ``arr`` (T and/or Z, :class:`napari_mmtseg.layout.SliceLayout`):
        the message names the slices that hold such values, numbered in C order. Not used
        when ``where`` is given.

    Raises
    ------
    ValueError
        When ``arr`` holds a NaN or an infinite value.
    """
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        n_bad = int(arr.size - np.count_nonzero(finite))
        if n_bad:
            if stack_axes and not where:
                other = tuple(a for a in range(arr.ndim) if a not in stack_axes)
                bad = np.flatnonzero(~finite.all(axis=other))
                listed = ", ".join(str(i) for i in bad[:8]) + (", ..." if bad.size > 8 else "")
                n = int(np.prod([arr.shape[a] for a in stack_axes]))
                where = f" (in slice {listed} of {n})" if bad.size == 1 else ""
                where = where or f" (in {bad.size} slices of {n}: {listed})"
            raise ValueError(
                f"The image holds {n_bad} NaN or infinite value(s){where}; replace them first "
                "(e.g. np.nan_to_num(image)) so that they are not clustered as content."
            )


def _windows(n: int, size: int, count: int) -> list:
    """``count`` windows of ``size`` evenly spread over ``range(n)``."""
    starts = np.unique(np.linspace(0, n - size, count).round().astype(int))
    return [slice(int(s), int(s) + size) for s in starts]


def _window_parts(prep, i: int, n_read: int, check) -> list:
    """The 8 x 8 grid of windows of a giant lazy slice ``i``, (N, C) each,
    whose total area is this slice's share of the sample."""
    h, w = prep.yx
    gy, gx = min(_WINDOWS, h), min(_WINDOWS, w)
    area = max(1, SAMPLE_PIXELS // n_read // (gy * gx))
    th = int(np.clip(round((area * h / w) ** 0.5), 1, h // gy))
    tw = int(np.clip(area // th, 1, w // gx))
    parts = []
    for ys in _windows(h, th, gy):
        for xs in _windows(w, tw, gx):
            arr = prep.raw_slice(i, ys, xs, all_channels=True)
            check(arr, i)
            parts.append(arr.reshape(-1, arr.shape[-1]))
    return parts


def _chunks_cover_windows(prep) -> bool:
    """Whether the lazy source's chunks (dask: ``chunks`` per axis, zarr: one
    size per axis) are so large in Y and X that the 8 x 8 windows would read
    more than the whole slice: each window computes every chunk it touches."""
    chunks = getattr(prep.source, "chunks", None)
    if chunks is None:
        return False
    try:
        cy, cx = (max(np.atleast_1d(chunks[a])) for a in prep.layout.yx_axes)
    except (TypeError, ValueError, IndexError):
        return False
    h, w = prep.yx
    return min(cy, h) * min(cx, w) * _WINDOWS * _WINDOWS >= h * w


def sample_pixels(prep, in_memory: bool) -> np.ndarray:
    """A bounded sample of an image's pixels, all channels (alpha included).

    In memory: every slice, each pixel ``step`` of the flattened slices (no
    copy of a slice is made). Lazy: up to 16 evenly spaced slices; one of at
    most 2048 x 2048 pixels is read whole and subsampled the same way, a
    larger one only in an 8 x 8 grid of windows, about 2 million pixels in
    all, unless its chunks are so large that the windows would read more
    than the whole slice (a slice in one dask chunk): then it is read whole
    too. Called after the engine's memory check. A lazy sample is checked
    for NaN (an in-memory image was checked whole before).

    Parameters
    ----------
    prep : napari_mmtseg.image.PreparedImage
        The image (its ``raw_slice``, ``n_slices``, ``yx``, ``stack_shape``).
    in_memory : bool
        Whether the image is a numpy array.

    Returns
    -------
    numpy.ndarray
        (N, C) pixels in the image's dtype.

    Raises
    ------
    ValueError
        When a lazy image's sample holds NaN or infinite values.
    """
    n = prep.n_slices
    count = n if in_memory else min(n, _SAMPLE_SLICES)
    which = [int(i) for i in np.unique(np.linspace(0, n - 1, count).round().astype(int))]
    h, w = prep.yx
    step = max(1, (len(which) * h * w) // SAMPLE_PIXELS)
    windowed = not in_memory and h * w > _WHOLE_SLICE_PIXELS and not _chunks_cover_windows(prep)

    def check(arr, i):
        """Refuse NaN in a lazy image's part ``arr`` of slice ``i`` (see check_finite).

        Parameters
        ----------
        arr : numpy.ndarray
            Pixels read.
        i : int
            Their slice.
        """
        if not in_memory:
            check_finite(arr, f" (in slice {i} of {prep.n_slices})" if prep.stack_shape else "")

    parts = []
    for i in which:
        if windowed:
            parts += _window_parts(prep, i, len(which), check)
            continue
        arr = prep.raw_slice(i, all_channels=True)  # a view when in memory
        check(arr, i)
        flat = np.arange(0, h * w, step)
        parts.append(arr[flat // w, flat % w])  # == arr.reshape(-1, C)[::step], without a copy
    return np.concatenate(parts)


def intensity_range(sample: np.ndarray, joint: bool = False) -> tuple:
    """The intensities that normalisation maps to 0 and 1, from the data alone.

    An intensity image (``joint`` False: grey, multichannel), per channel: its
    0.5th and 99.5th percentiles. A colour image (``joint``: one range over
    all channels, which keeps the colour balance): from the minimum to the
    maximum, except that a tail beyond the 0.5th (99.5th) percentile longer
    than :data:`TAIL_FRACTION` of the range between the two percentiles is cut
    there plus that fraction (hot or dead pixels); a photo that spans 0 to 255
    keeps 0 and 255. Either way a linear rescale of the data rescales ``lo``
    and ``hi`` with it, so the normalised image is the same. The two rules
    are compared in docs/benchmarks.md ("Intensity range").

    Parameters
    ----------
    sample : numpy.ndarray
        (N, C) pixels (:func:`sample_pixels`).
    joint : bool
        One range for all channels (colour: keeps the colour balance).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lo, hi)``, float64 arrays of C values; ``hi == lo`` for a constant channel.
    """
    flat = sample.astype(np.float64)
    data = flat.reshape(-1, 1) if joint else flat
    p_lo, p_hi = np.percentile(data, [0.5, 99.5], axis=0)
    mn, mx = data.min(axis=0), data.max(axis=0)
    if not joint:
        flat_ch = p_hi <= p_lo  # (nearly) constant but for a few pixels: keep those pixels
        return np.where(flat_ch, mn, p_lo), np.where(flat_ch, mx, p_hi)
    margin = TAIL_FRACTION * (p_hi - p_lo)
    lo = np.maximum(mn, p_lo - margin)
    hi = np.minimum(mx, p_hi + margin)
    flat_tails = hi <= lo  # (nearly) constant but for a few pixels: keep those pixels
    lo, hi = np.where(flat_tails, mn, lo), np.where(flat_tails, mx, hi)
    return np.repeat(lo, flat.shape[1]), np.repeat(hi, flat.shape[1])
