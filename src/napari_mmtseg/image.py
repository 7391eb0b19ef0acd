"""Input checking and normalisation.

Any array a user may hand us becomes a source of float32 slices ``(C, H, W)``
in [0, 1], or a clear ValueError/TypeError.

The source is read one 2D slice at a time, so a lazy array (dask, zarr, a
napari layer's data) of a long time-lapse or a deep stack is never loaded, or
converted to float, as a whole. The intensity range comes from a bounded
sample (:mod:`napari_mmtseg.intensity`) taken when the first slice is read,
that is after the engine's memory check: nothing of a lazy image is read
before that check.

Which axis holds channels and which axes make a 2D slice:
:func:`channels_of` and :func:`slice_layout` (pure shape logic, also for the
napari widget, in :mod:`napari_mmtseg.layout`). An axis of length 1 is never
Y or X.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .intensity import check_finite, intensity_range, sample_pixels
from .layout import (
    MAX_STACK_DIMS,
    NO_CHANNELS,
    Channels,
    SliceLayout,
    channels_of,
    file_channel_axis,
    slice_layout,
)

__all__ = [
    "MAX_STACK_DIMS",
    "NO_CHANNELS",
    "Channels",
    "PreparedImage",
    "SliceLayout",
    "channels_of",
    "file_channel_axis",
    "prepare_image",
    "slice_layout",
    "shape_mismatch",
]


def _from_layout(name: str) -> property:
    """A read-only property giving ``self.layout.<name>``, with :class:`SliceLayout`'s doc."""
    return property(lambda self: getattr(self.layout, name), doc=getattr(SliceLayout, name).__doc__)


@dataclass
class PreparedImage:
    """An image checked and described; its normalised 2D slices are read on demand.

    Attributes
    ----------
    source : array-like
        The caller's array (maybe lazy), axes as given.
    channels : Channels
        Its channel axis (given, read from a file or guessed) and whether the
        last entry is alpha.
    layout : SliceLayout
        How it is cut into 2D slices.
    in_memory : bool
        Whether ``source`` is a numpy array.
    range_given : bool
        Whether the intensity range was given (:meth:`use_intensity_range`: a kept model's)
        rather than read from the image.
    """

    source: Any
    channels: Channels
    layout: SliceLayout
    in_memory: bool = True
    range_given: bool = False
    _range: tuple | None = None

    @property
    def channel_axis(self) -> int | None:
        """The channel axis in the caller's axes (non-negative), or None.

        Returns
        -------
        int or None
            As the summary says.
        """
        return self.channels.axis

    @property
    def rgb(self) -> bool:
        """Whether the channel axis is RGB(A) colour.

        Returns
        -------
        bool
            As the summary says.
        """
        return self.channels.colour

    @property
    def n_channels(self) -> int:
        """The number of channels segmented (alpha left out).

        Returns
        -------
        int
            As the summary says.
        """
        return self.channels.n_channels(self.layout.shape)

    # the slice geometry is the layout's: one property, one docstring (SliceLayout's)
    spatial_shape = _from_layout("spatial_shape")
    stack_shape = _from_layout("stack_shape")
    n_slices = _from_layout("n_slices")
    yx = _from_layout("yx")

    def raw_slice(
        self, i: int, ys=slice(None), xs=slice(None), *, all_channels: bool = False
    ) -> np.ndarray:
        """Slice ``i`` as read, in the caller's dtype.

        Parameters
        ----------
        i : int
            The slice, in C order over the stack axes.
        ys, xs : slice
            The rows and columns to read (all by default).
        all_channels : bool
            Keep the alpha entry (RGBA, grey + alpha) that is otherwise left out.

        Returns
        -------
        numpy.ndarray
            (H, W, C) pixels.
        """
        arr = self.source[self.layout.source_index(i, ys, xs)]
        if hasattr(arr, "compute") and not isinstance(arr, np.ndarray):
            arr = arr.compute()
        arr = _check_dtype(np.asarray(arr))
        if self.channel_axis is None:
            arr = arr[..., None]
        else:  # the channel axis's position among those left: channel, Y, X in the array's order
            arr = np.moveaxis(arr, sum(a < self.channel_axis for a in self.layout.yx_axes), -1)
        if self.channels.alpha and not all_channels:
            arr = arr[..., :-1]  # alpha carries no content to cluster
        return arr

    def intensity_range(self) -> tuple:
        """The intensities mapped to 0 and 1, per channel (read on the first call).

        Returns
        -------
        tuple of numpy.ndarray
            ``(lo, hi)``: :func:`napari_mmtseg.intensity.intensity_range` of a
            bounded sample (about 2 million pixels per channel).

        Raises
        ------
        ValueError
            When a lazy image's sample holds NaN or infinite values.
        """
        if self._range is None:
            sample = sample_pixels(self, self.in_memory)
            if self.channels.alpha:
                self._warn_if_alpha_varies(sample[:, -1])
                sample = sample[:, :-1]
            self._range = intensity_range(sample, joint=self.rgb)
        return self._range

    def use_intensity_range(self, lo, hi) -> None:
        """Normalise with the range ``lo`` to ``hi`` instead of the image's own.

        Parameters
        ----------
        lo, hi : array-like of float
            The intensities mapped to 0 and 1, one per channel, in the image's units.
        """
        self._range = (np.asarray(lo, np.float64), np.asarray(hi, np.float64))
        self.range_given = True

    def slice(self, i: int) -> np.ndarray:
        """Slice ``i`` normalised.

        Parameters
        ----------
        i : int
            The slice, in C order over the stack axes.

        Returns
        -------
        numpy.ndarray
            float32 (C, H, W) in [0, 1]: ``(x - lo) / (hi - lo)`` clipped
            (:meth:`intensity_range`).

        Raises
        ------
        ValueError
            When the slice holds NaN or infinite values.
        """
        lo, hi = self.intensity_range()
        arr = self.raw_slice(i)
        check_finite(arr, f" (in slice {i} of {self.n_slices})" if self.stack_shape else "")
        # 1- and 2-byte types are exact in float32; wider ones (uint32 near 2**31,
        # int64, float32 near its limits) are shifted and scaled in float64
        work = np.float32 if arr.dtype.itemsize <= 2 else np.float64
        out = arr.transpose(2, 0, 1).astype(work, order="C")
        span = np.where(hi > lo, hi - lo, 1.0)
        out -= lo.astype(work)[:, None, None]
        out /= span.astype(work)[:, None, None]
        np.clip(out, 0.0, 1.0, out=out)
        return out.astype(np.float32, copy=False)

    def _warn_if_alpha_varies(self, sampled_alpha: np.ndarray) -> None:
        """The alpha entry is dropped: say so when it holds more than one
        value (in the whole image in memory, in the sample of a lazy one)."""
        if self.in_memory:
            alpha = np.take(self.source, -1, axis=self.channel_axis)
            varies = alpha.min() != alpha.max()
        else:
            varies = sampled_alpha.min() != sampled_alpha.max()
        if not varies:
            return
        n = self.layout.shape[self.channel_axis]
        kind = "RGBA" if self.rgb else "grey + alpha"
        nth = {2: "2nd", 4: "4th"}.get(n, f"{n}th")
        warnings.warn(
            f"The image's last axis has {n} entries (shape {self.layout.shape}) and is taken as "
            f"{kind}: its {nth} channel (index {n - 1}, alpha) is not constant but is dropped. "
            f"To segment all {n} channels, pass channel_axis=-1 (command line: "
            "--channel-axis -1).",
            UserWarning,
            stacklevel=5,
        )


def _check_dtype(arr):
    """``arr`` as a numeric array (bool viewed as uint8), or TypeError."""
    if arr.dtype == bool:
        return arr.view(np.uint8) if isinstance(arr, np.ndarray) else arr
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(
            f"Complex images ({arr.dtype}) cannot be segmented; pass np.abs(image) or its real "
            "part."
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"The image must hold numbers (integer, float or bool), not {arr.dtype}.")
    return arr


def shape_mismatch(image) -> tuple | None:
    """The first image of a list (or tuple) of images whose shape is not the first's.

    Such a list is stacked along a new first axis, which needs one shape; numpy's own
    error for a ragged list says nothing of which image differs.

    Parameters
    ----------
    image : object
        What a caller passed as the image.

    Returns
    -------
    tuple or None
        ``(index, shape, first_shape)`` of the first image whose shape differs from the
        first one's; None when ``image`` is not a list or tuple, or its items have one
        shape.
    """
    if not isinstance(image, (list, tuple)) or len(image) < 2:
        return None
    shapes = []
    for item in image:
        try:
            shapes.append(tuple(int(n) for n in np.shape(item)))
        except (TypeError, ValueError):  # ragged inside an item: numpy says where
            return None
    return next(((i, s, shapes[0]) for i, s in enumerate(shapes) if s != shapes[0]), None)


def _as_array(image):
    """``image`` as a lazy array kept as it is (anything with shape, dtype,
    ndim and indexing, of known shape) or as a numpy array."""
    if image is None:
        raise TypeError("No image was given.")
    lazy = not isinstance(image, np.ndarray) and all(
        hasattr(image, a) for a in ("shape", "dtype", "ndim", "__getitem__")
    )
    if lazy:
        try:
            np.dtype(image.dtype)
            lazy = not any(np.isnan(float(s)) for s in image.shape)  # dask: unknown chunk sizes
        except (TypeError, ValueError):  # e.g. a torch tensor: numpy reads it below
            lazy = False
    if lazy:
        return image
    if hasattr(image, "compute") and not isinstance(image, np.ndarray):
        image = image.compute()
    mismatch = shape_mismatch(image)
    if mismatch is not None:
        i, shape, first = mismatch
        raise ValueError(
            f"A list of images is stacked along a new first axis, so its images must have "
            f"one shape: image {i} is {shape}, image 0 is {first}. Crop them to one shape, "
            "or segment them one by one (napari_mmtseg.batch.segment_many takes files of "
            "any shapes)."
        )
    try:
        arr = np.asarray(image)
    except Exception as exc:  # ragged lists etc.
        raise TypeError(f"Could not read the image as an array: {exc}") from exc
    if arr.dtype == object:
        raise TypeError("The image must be a numeric array; got an array of Python objects.")
    return arr


def prepare_image(image, channel_axis=None, rgb: bool | None = None) -> PreparedImage:
    """Validate ``image`` and describe its normalised 2D slices.

    Nothing of a lazy image is read here: the intensity range is sampled
    when the first slice is read (:meth:`PreparedImage.intensity_range`), so
    the engine's memory check comes first. NaN in an in-memory image is
    refused here; in a lazy one, when the part that holds it is read.

    Parameters
    ----------
    image : array-like
        A numpy array, or anything with shape, dtype, ndim and indexing
        (dask, zarr, a napari layer's data), read one slice at a time.
    channel_axis : int, str or None
        The channel axis; ``"none"``: there is none; None: guessed from the
        shape (:func:`channels_of`: RGB(A), grey + alpha, a last axis of up to
        5 entries much shorter than Y and X, the last with a UserWarning).
        Y, X are the last two remaining axes longer than 1; up to two more in
        front (T and/or Z) make a stack of 2D slices (:func:`slice_layout`).
    rgb : bool or None
        True: the last axis is colour; False: no axis is guessed as channels;
        None: as ``channel_axis`` says.

    Returns
    -------
    PreparedImage
        The image, its channels and its 2D slices.

    Raises
    ------
    TypeError
        Not an array of numbers, complex values, a bad ``channel_axis``.
    ValueError
        Empty, too few or too many axes, fewer than 2x2 pixels, NaN or
        infinite values, a list of images of different shapes.
    """
    arr = _as_array(image)
    shape = tuple(int(s) for s in arr.shape)
    _check_dtype(arr)
    if int(np.prod(shape, dtype=np.int64)) == 0:
        raise ValueError(f"The image is empty (shape {shape}).")
    if len(shape) < 2:
        raise ValueError(f"An image needs at least 2 dimensions (Y, X); got shape {shape}.")
    channels = channels_of(shape, channel_axis, rgb)
    layout = slice_layout(shape, channels.axis)
    in_memory = isinstance(arr, np.ndarray)
    if in_memory:
        check_finite(arr, stack_axes=layout.stack_axes)
    if channels.guess:
        warnings.warn(channels.guess, UserWarning, stacklevel=3)
    return PreparedImage(source=arr, channels=channels, layout=layout, in_memory=in_memory)
