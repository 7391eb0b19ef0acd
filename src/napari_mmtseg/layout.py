"""Which axes of an image are channels, Y, X and the stack: pure shape logic.

:func:`channels_of` decides the channel axis (given, read from a file's axes
by :func:`file_channel_axis`, or guessed from the shape) and :func:`slice_layout`
cuts the rest into 2D slices. No array is read here. The rules are those of
docs/usage.md, *Inputs: axes, channels, file metadata*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_STACK_DIMS",
    "MAX_GUESSED_CHANNELS",
    "NO_CHANNELS",
    "Channels",
    "SliceLayout",
    "channels_of",
    "file_channel_axis",
    "slice_layout",
]

MAX_STACK_DIMS = 2  # up to T and Z in front of Y, X
#: a last axis of at most this many entries, much smaller than Y and X, is taken as channels
MAX_GUESSED_CHANNELS = 5
#: ``channel_axis`` value meaning "no axis holds channels" (``--channel-axis none``)
NO_CHANNELS = "none"


@dataclass(frozen=True)
class SliceLayout:
    """How an array of ``shape`` is cut into 2D slices (pure shape logic).

    ``yx_axes`` are the last two axes, other than the channel axis, that are
    longer than 1: an axis of length 1 (a grey image saved as (H, W, 1), a
    (1, Z, Y, X) stack) is never Y or X. Axes of length 1 are squeezed; the
    other non-channel axes in front of Y are the stack (T and/or Z), whose
    slices are numbered in C order. All positions are axes of the array.

    Attributes
    ----------
    shape : tuple of int
        The array's shape.
    channel_axis : int or None
        The channel axis (non-negative), or None.
    yx_axes : tuple of int
        The axes taken as Y and X.
    stack_axes : tuple of int
        The non-channel axes longer than 1 in front of Y.
    """

    shape: tuple
    channel_axis: int | None
    yx_axes: tuple
    stack_axes: tuple

    @property
    def spatial_axes(self) -> tuple:
        """Every axis but the channel axis: the axes of the labels.

        Returns
        -------
        tuple of int
            As the summary says.
        """
        return tuple(a for a in range(len(self.shape)) if a != self.channel_axis)

    @property
    def spatial_shape(self) -> tuple:
        """The labels' shape: the array's without the channel axis, e.g. (Z, Y, X).

        Returns
        -------
        tuple of int
            As the summary says.
        """
        return tuple(self.shape[a] for a in self.spatial_axes)

    @property
    def stack_shape(self) -> tuple:
        """The sizes of the stack axes (longer than 1, before Y), ``()`` for a 2D image.

        Returns
        -------
        tuple of int
            As the summary says.
        """
        return tuple(self.shape[a] for a in self.stack_axes)

    @property
    def yx(self) -> tuple:
        """The size (H, W) of one 2D slice.

        Returns
        -------
        tuple of int
            As the summary says.
        """
        return tuple(self.shape[a] for a in self.yx_axes)

    @property
    def n_slices(self) -> int:
        """The number of 2D slices.

        Returns
        -------
        int
            As the summary says.
        """
        return int(np.prod(self.stack_shape, dtype=np.int64))

    def _lead(self, i: int) -> dict:
        if not 0 <= i < self.n_slices:
            raise IndexError(f"slice {i} out of range for {self.n_slices} slice(s)")
        lead = np.unravel_index(i, self.stack_shape) if self.stack_axes else ()
        return {a: int(j) for a, j in zip(self.stack_axes, lead)}

    def source_index(self, i: int, ys=slice(None), xs=slice(None)) -> tuple:
        """Index into the array for slice ``i`` (rows ``ys``, columns ``xs``).

        Parameters
        ----------
        i : int
            The slice, in C order over the stack axes.
        ys, xs : slice
            The rows and columns wanted (all by default).

        Returns
        -------
        tuple
            An index whose result has the channel axis (if any) and Y, X, in
            the array's order.
        """
        lead = self._lead(i)
        index = []
        for a in range(len(self.shape)):
            if a == self.channel_axis:
                index.append(slice(None))
            elif a == self.yx_axes[0]:
                index.append(ys)
            elif a == self.yx_axes[1]:
                index.append(xs)
            else:  # a stack axis, or an axis of length 1
                index.append(lead.get(a, 0))
        return tuple(index)

    def labels_index(self, i: int) -> tuple:
        """Where slice ``i``'s (H, W) labels go in an array of ``spatial_shape``.

        Parameters
        ----------
        i : int
            The slice's position in C order over the stack axes.

        Returns
        -------
        tuple
            An index into the labels.
        """
        lead = self._lead(i)
        return tuple(
            slice(None) if a in self.yx_axes else lead.get(a, 0) for a in self.spatial_axes
        )


def slice_layout(shape, channel_axis: int | None = None) -> SliceLayout:
    """Cut an array of ``shape`` whose channel axis is ``channel_axis`` into 2D slices.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    channel_axis : int or None
        The channel axis (negative counts from the end), or None.

    Returns
    -------
    SliceLayout
        Y, X and the stack axes.

    Raises
    ------
    ValueError
        When ``channel_axis`` is out of range, fewer than two axes longer than
        1 are left for Y, X, or more than :data:`MAX_STACK_DIMS` axes longer
        than 1 are in front of them.
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if channel_axis is not None:
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {ndim} dims "
                f"(shape {shape})."
            )
        channel_axis = int(channel_axis) % ndim
    spatial = [a for a in range(ndim) if a != channel_axis]
    long = [a for a in spatial if shape[a] > 1]
    if len(long) < 2:
        sizes = "x".join(str(shape[a]) for a in spatial)
        raise ValueError(
            f"The image's size is {sizes} (shape {shape}): at least 2x2 pixels are needed to "
            "segment, and an axis of length 1 is never Y or X. If an axis is channels, set "
            "channel_axis."
        )
    stack = tuple(long[:-2])
    if len(stack) > MAX_STACK_DIMS:
        raise ValueError(
            f"Too many dimensions: shape {shape} has {len(long)} non-channel axes longer than 1; "
            "supported are 2D (Y, X), 3D (Z or T, Y, X) and 4D (T, Z, Y, X), plus one channel "
            "axis. Set channel_axis if one axis is channels."
        )
    return SliceLayout(
        shape=shape, channel_axis=channel_axis, yx_axes=tuple(long[-2:]), stack_axes=stack
    )


@dataclass(frozen=True)
class Channels:
    """What an image's channel axis is and how its entries are used.

    Attributes
    ----------
    axis : int or None
        The channel axis (non-negative), or None: no channel axis.
    colour : bool
        The axis is RGB(A) colour (the colour rules of the output stage apply).
    alpha : bool
        Its last entry is alpha (RGBA, grey + alpha) and is dropped.
    guess : str
        When the axis was guessed from the shape alone and the guess may be
        wrong: the warning that says which guess and how to change it; else "".
    """

    axis: int | None
    colour: bool = False
    alpha: bool = False
    guess: str = ""

    def n_channels(self, shape) -> int:
        """The number of channels segmented (alpha left out).

        Parameters
        ----------
        shape : tuple of int
            The array's shape.

        Returns
        -------
        int
            1 without a channel axis.
        """
        if self.axis is None:
            return 1
        return int(shape[self.axis]) - int(self.alpha)


def _much_smaller_last(shape) -> bool:
    """The last axis has 2 to :data:`MAX_GUESSED_CHANNELS` entries and the two
    axes before it are each at least 4 times longer (a (48, 48, 5) array)."""
    n = shape[-1]
    return 2 <= n <= MAX_GUESSED_CHANNELS and min(shape[-3], shape[-2]) >= 4 * n


def _guessed(shape) -> Channels:
    """The channel axis guessed from ``shape`` alone (3+ dims, nothing given)."""
    ndim, n = len(shape), shape[-1]
    if n in (3, 4):  # napari's rule: RGB(A)
        return Channels(ndim - 1, colour=True, alpha=n == 4)
    if not _much_smaller_last(shape):
        return Channels(None)
    if n == 2 and ndim == 3:  # a grey + alpha image (PNG 'LA')
        return Channels(ndim - 1, alpha=True)
    return Channels(
        ndim - 1,
        guess=(
            f"The image's last axis has {n} entries (shape {tuple(shape)}), far fewer than Y and "
            f"X: it is taken as {n} channels, segmented together. Pass channel_axis=-1 "
            f"(--channel-axis -1) to say so and silence this warning, or "
            f"channel_axis='{NO_CHANNELS}' (--channel-axis {NO_CHANNELS}) to segment it as "
            f"{int(np.prod(shape[:-2]))} slices of {shape[-2]} x {n} pixels."
        ),
    )


def channels_of(shape, channel_axis=None, rgb: bool | None = None) -> Channels:
    """Decide the channel axis of an array of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    channel_axis : int, str or None
        An axis (negative counts from the end): that axis holds channels, all
        of them used. ``"none"`` (:data:`NO_CHANNELS`): no axis does. None: a
        guess from the shape (3+ dims): a last axis of 3 or 4 entries is
        RGB(A) colour, its 4th entry dropped as alpha (napari's rule); one of 2
        entries, on a 3D array whose other axes are at least 4 times longer,
        is grey + alpha (alpha dropped); one of 5 (2 on 4+ dims) so much
        shorter is channels, with a warning (:attr:`Channels.guess`).
    rgb : bool or None
        True: the last axis is colour. False: guess no channel axis (the
        napari widget's "none"). None: as ``channel_axis`` says.

    Returns
    -------
    Channels
        The channel axis and how its entries are used.

    Raises
    ------
    TypeError
        For a ``channel_axis`` that is not an integer, None or ``"none"``.
    ValueError
        For an axis out of range, or ``rgb=True`` without a last axis to hold colour.
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if isinstance(channel_axis, str) and channel_axis.strip().lower() == NO_CHANNELS:
        return Channels(None)
    if channel_axis is not None and (
        isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer))
    ):
        raise TypeError(
            f"channel_axis must be an integer axis index, None or '{NO_CHANNELS}', "
            f"got {channel_axis!r}"
        )
    if rgb and ndim < 3:
        raise ValueError(f"rgb=True needs a colour axis last, but the image has shape {shape}.")
    if channel_axis is not None:
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {ndim} dims "
                f"(shape {shape})."
            )
        if ndim < 3:
            raise ValueError(
                f"channel_axis={channel_axis} leaves fewer than 2 spatial dims in shape {shape}."
            )
        return Channels(int(channel_axis) % ndim)
    if rgb:
        return Channels(ndim - 1, colour=True, alpha=shape[-1] == 4)
    if rgb is False or ndim < 3:
        return Channels(None)
    return _guessed(shape)


def file_channel_axis(axes: str, ndim: int):
    """The ``channel_axis`` an image file's own axes call for.

    Parameters
    ----------
    axes : str
        The file's axes, one tifffile letter per array axis (``"CYX"``,
        ``"TZCYX"``, ``"YXS"``...); ``""`` when the file does not say.
    ndim : int
        The dims of the array read.

    Returns
    -------
    int, str or None
        The index of a ``C`` axis; ``"none"`` when every axis is named and
        none holds channels (a ``ZYX`` stack); None, the shape's guess
        (:func:`channels_of`), when the axes are unknown (``""``, ``Q``,
        ``I``) or hold ``S`` colour samples (tifffile writes any (3, Y, X) or
        (4, Y, X) array as planar RGB(A) unless told otherwise, so an ``S``
        axis is the writer's guess, not the author's word).
    """
    if len(axes) != ndim:
        return None
    if "C" in axes:
        return axes.index("C")
    if set(axes) <= set("TZYX"):
        return NO_CHANNELS
    return None
