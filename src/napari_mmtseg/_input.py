"""Input checking and normalisation: any array a user may hand us becomes a
source of float32 slices ``(C, H, W)`` in [0, 1], or a clear ValueError/TypeError.

The source is read one 2D slice at a time, so a lazy array (dask, zarr, a
napari layer's data) of a long time-lapse or a deep stack is never loaded, or
converted to float, as a whole. The intensity range comes from a bounded
sample, so nothing bigger than that sample is read before the engine's memory
check.

Which axes make a 2D slice: :func:`slice_layout` (pure shape logic, also for
the napari widget). An axis of length 1 is never Y or X."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PreparedImage", "SliceLayout", "prepare_image", "slice_layout", "MAX_STACK_DIMS"]

MAX_STACK_DIMS = 2  # up to T and Z in front of Y, X
_SAMPLE_PIXELS = 2_000_000  # pixels per channel used to find the intensity range
_SAMPLE_SLICES = 16  # slices of a lazy stack read for that
#: a lazy slice of at most this many pixels is read whole for the intensity
#: range (the run reads it whole anyway); a larger one only in windows
_WHOLE_SLICE_PIXELS = 2048 * 2048
_WINDOWS = 8  # windows per axis (8 x 8) sampled from a larger lazy slice


def _is_array_like(obj) -> bool:
    return all(hasattr(obj, a) for a in ("shape", "dtype", "ndim", "__getitem__"))


@dataclass(frozen=True)
class SliceLayout:
    """How an array of ``shape`` is cut into 2D slices (pure shape logic).

    ``yx_axes`` are the last two axes, other than the channel axis, that are
    longer than 1: an axis of length 1 (a grey image saved as (H, W, 1), a
    (1, Z, Y, X) stack) is never Y or X. Axes of length 1 are squeezed; the
    other non-channel axes in front of Y are the stack (T and/or Z), whose
    slices are numbered in C order. All positions are axes of the array.
    """

    shape: tuple  # the array's shape
    channel_axis: int | None  # non-negative, or None
    yx_axes: tuple  # (y, x)
    stack_axes: tuple  # non-channel axes longer than 1 before Y

    @property
    def spatial_axes(self) -> tuple:
        """Every axis but the channel axis: the axes of the labels."""
        return tuple(a for a in range(len(self.shape)) if a != self.channel_axis)

    @property
    def spatial_shape(self) -> tuple:
        """The labels' shape: the array's shape without the channel axis."""
        return tuple(self.shape[a] for a in self.spatial_axes)

    @property
    def stack_shape(self) -> tuple:
        return tuple(self.shape[a] for a in self.stack_axes)

    @property
    def yx(self) -> tuple:
        return tuple(self.shape[a] for a in self.yx_axes)

    @property
    def n_slices(self) -> int:
        return int(np.prod(self.stack_shape, dtype=np.int64))

    def _lead(self, i: int) -> dict:
        if not 0 <= i < self.n_slices:
            raise IndexError(f"slice {i} out of range for {self.n_slices} slice(s)")
        lead = np.unravel_index(i, self.stack_shape) if self.stack_axes else ()
        return {a: int(j) for a, j in zip(self.stack_axes, lead)}

    def source_index(self, i: int, ys=slice(None), xs=slice(None)) -> tuple:
        """Index into the array for slice ``i`` (rows ``ys``, columns ``xs``):
        what it returns has the channel axis (if any) and Y, X, in the array's order."""
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
        """Index into an array of ``spatial_shape`` (the labels) where slice
        ``i``'s (H, W) labels go."""
        lead = self._lead(i)
        return tuple(slice(None) if a in self.yx_axes else lead.get(a, 0) for a in self.spatial_axes)


def slice_layout(shape, channel_axis: int | None = None) -> SliceLayout:
    """The :class:`SliceLayout` of an array of ``shape`` whose channel axis
    (if any) is ``channel_axis``. Raises ValueError when fewer than two axes
    longer than 1 are left for Y, X, or more than :data:`MAX_STACK_DIMS` axes
    longer than 1 are in front of them."""
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if channel_axis is not None:
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {ndim} dims (shape {shape}).")
        channel_axis = int(channel_axis) % ndim
    spatial = [a for a in range(ndim) if a != channel_axis]
    long = [a for a in spatial if shape[a] > 1]
    if len(long) < 2:
        sizes = "x".join(str(shape[a]) for a in spatial)
        raise ValueError(
            f"The image's size is {sizes} (shape {shape}): at least 2x2 pixels are needed to segment, "
            "and an axis of length 1 is never Y or X. If an axis is channels, set channel_axis.")
    stack = tuple(long[:-2])
    if len(stack) > MAX_STACK_DIMS:
        raise ValueError(
            f"Too many dimensions: shape {shape} has {len(long)} non-channel axes longer than 1; "
            f"supported are 2D (Y, X), 3D (Z or T, Y, X) and 4D (T, Z, Y, X), plus one channel axis. "
            f"Set channel_axis if one axis is channels.")
    return SliceLayout(shape=shape, channel_axis=channel_axis, yx_axes=tuple(long[-2:]),
                       stack_axes=stack)


@dataclass
class PreparedImage:
    source: Any  # the caller's array (maybe lazy), axes as given
    channel_axis: int | None  # as given or inferred (for RGB), in the caller's axes
    rgb: bool
    spatial_shape: tuple  # the image's shape without the channel axis, e.g. (Z, Y, X)
    stack_shape: tuple  # sizes of the stack axes (longer than 1, before Y), () for a 2D image
    n_channels: int
    lo: np.ndarray | None  # per-channel intensity range; None: 8-bit, divided by 255
    hi: np.ndarray | None
    layout: SliceLayout | None = None

    def __post_init__(self):
        if self.layout is None:
            self.layout = slice_layout(np.shape(self.source) if not hasattr(self.source, "shape")
                                       else self.source.shape, self.channel_axis)

    @property
    def n_slices(self) -> int:
        return self.layout.n_slices

    @property
    def yx(self) -> tuple:
        return self.layout.yx

    def raw_slice(self, i: int, ys=slice(None), xs=slice(None), *, all_channels=False) -> np.ndarray:
        """Slice ``i`` (C order over the stack axes) as read: (H, W, C), the
        caller's dtype; rows ``ys`` and columns ``xs`` only if given. The alpha
        channel of RGBA is left out unless ``all_channels``."""
        arr = self.source[self.layout.source_index(i, ys, xs)]
        if hasattr(arr, "compute") and not isinstance(arr, np.ndarray):
            arr = arr.compute()
        arr = _check_dtype(np.asarray(arr))
        if self.channel_axis is None:
            arr = arr[..., None]
        else:  # the channel axis's position among those left: channel, Y, X in the array's order
            arr = np.moveaxis(arr, sum(a < self.channel_axis for a in self.layout.yx_axes), -1)
        if self.rgb and arr.shape[-1] == 4 and not all_channels:
            arr = arr[..., :3]  # alpha carries no content to cluster
        return arr

    def slice(self, i: int) -> np.ndarray:
        """Slice ``i`` normalised: float32 (C, H, W) in [0, 1]."""
        arr = self.raw_slice(i)
        _check_finite(arr, f" (in slice {i})" if self.stack_shape else "")
        chw = arr.transpose(2, 0, 1)
        if self.lo is None:
            out = chw.astype(np.float32, order="C")  # the only full-size copy
            out /= np.float32(255.0)
            return out
        # 1- and 2-byte types are exact in float32; wider ones (uint32 near 2**31,
        # int64, float32 near its limits) are shifted and scaled in float64
        work = np.float32 if arr.dtype.itemsize <= 2 else np.float64
        out = chw.astype(work, order="C")
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        out -= self.lo.astype(work)[:, None, None]
        out /= span.astype(work)[:, None, None]
        np.clip(out, 0.0, 1.0, out=out)
        return out.astype(np.float32, copy=False)


def _check_dtype(arr):
    if arr.dtype == bool:
        return arr.view(np.uint8) if isinstance(arr, np.ndarray) else arr
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(
            f"Complex images ({arr.dtype}) cannot be segmented; pass np.abs(image) or its real part."
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"The image must hold numbers (integer, float or bool), not {arr.dtype}."
        )
    return arr


def _check_finite(arr: np.ndarray, where: str = "") -> None:
    if np.issubdtype(arr.dtype, np.floating):
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if n_bad:
            raise ValueError(
                f"The image holds {n_bad} NaN or infinite value(s){where}; replace them first "
                "(e.g. np.nan_to_num(image)) so that they are not clustered as content."
            )


def _windows(n: int, size: int, count: int) -> list:
    """``count`` windows of ``size`` evenly spread over ``range(n)``."""
    starts = np.unique(np.linspace(0, n - size, count).round().astype(int))
    return [slice(int(s), int(s) + size) for s in starts]


def _sample(prep: PreparedImage, in_memory: bool, *, all_channels=False) -> np.ndarray:
    """A bounded sample of the image's pixels, (N, C) in the caller's dtype.

    In memory: every slice, each pixel ``step`` of the flattened slices (no
    copy of a slice is made). Lazy: up to 16 evenly spaced slices; one of at
    most 2048 x 2048 pixels is read whole and subsampled the same way, a
    larger one only in an 8 x 8 grid of windows, about 2 million pixels in
    all, so a giant slice is never read whole here. A lazy sample is checked
    for NaN (an in-memory image was checked whole before).
    """
    n = prep.n_slices
    which = range(n) if in_memory else np.unique(np.linspace(0, n - 1, min(n, _SAMPLE_SLICES)).round().astype(int))
    which = [int(i) for i in which]
    h, w = prep.yx
    giant = not in_memory and h * w > _WHOLE_SLICE_PIXELS
    step = max(1, (len(which) * h * w) // _SAMPLE_PIXELS)
    where = (lambda i: f" (in slice {i})") if prep.stack_shape else (lambda i: "")
    parts = []
    for i in which:
        if giant:  # windows whose total area is this slice's share of the sample
            gy, gx = min(_WINDOWS, h), min(_WINDOWS, w)
            area = max(1, _SAMPLE_PIXELS // len(which) // (gy * gx))
            th = int(np.clip(round((area * h / w) ** 0.5), 1, h // gy))
            tw = int(np.clip(area // th, 1, w // gx))
            for ys in _windows(h, th, gy):
                for xs in _windows(w, tw, gx):
                    arr = prep.raw_slice(i, ys, xs, all_channels=all_channels)
                    _check_finite(arr, where(i))
                    parts.append(arr.reshape(-1, arr.shape[-1]))
            continue
        arr = prep.raw_slice(i, all_channels=all_channels)  # a view when in memory
        if not in_memory:
            _check_finite(arr, where(i))
        flat = np.arange(0, h * w, step)
        parts.append(arr[flat // w, flat % w])  # == arr.reshape(-1, C)[::step], without a copy
    return np.concatenate(parts)


def _intensity_range(prep: PreparedImage, in_memory: bool):
    """Per-channel 0.5th and 99.5th percentiles on a sample of the image.

    8-bit data is divided by 255 (as the reference code does for photos, which
    keeps colour balance); anything else (16-bit microscopy, floats) is
    stretched between its 0.5th and 99.5th percentiles per channel, so a dim
    16-bit image uses the whole range and a few hot pixels do not flatten it.
    The sample: see :func:`_sample` (about 2 million pixels per channel).
    """
    flat = _sample(prep, in_memory).astype(np.float64)
    lo, hi = np.percentile(flat, [0.5, 99.5], axis=0)
    constant = hi <= lo
    hi = np.where(constant, flat.max(axis=0), hi)
    lo = np.where(constant, flat.min(axis=0), lo)
    return lo, hi


def _warn_if_alpha_varies(prep: PreparedImage, in_memory: bool) -> None:
    """RGBA (4 entries on the last axis, taken as colour): the 4th channel is
    dropped as alpha. Say so when it holds more than one value (from the
    whole image in memory, from the bounded sample of a lazy one)."""
    if in_memory:
        alpha = prep.source[..., 3]
        varies = alpha.size and alpha.min() != alpha.max()
    else:
        a = _sample(prep, in_memory, all_channels=True)[:, 3]
        varies = a.min() != a.max()
    if varies:
        warnings.warn(
            f"The image's last axis has 4 entries (shape {tuple(prep.source.shape)}) and is taken as "
            "RGBA: its 4th channel (index 3, alpha) is not constant but is dropped. To segment all 4 "
            "channels, pass channel_axis=-1 (command line: --channel-axis -1).", UserWarning, stacklevel=4)


def prepare_image(image, channel_axis: int | None = None, rgb: bool | None = None) -> PreparedImage:
    """Validate ``image`` and describe its normalised 2D slices.

    Axes: ``channel_axis`` names the channel axis explicitly. Without it, an
    array whose last axis has 3 or 4 entries and that has 3+ dims is taken as
    RGB(A) (napari's rule; pass ``rgb=False`` to turn that off); everything
    else has no channel axis. A 4th (alpha) channel is dropped, with a
    UserWarning when it is not constant. Y, X are the last two remaining
    axes longer than 1 (an axis of length 1 is never Y or X, so (H, W, 1) is
    a 2D image); up to two more longer than 1 in front (T and/or Z) are
    treated as a stack of 2D slices (:func:`slice_layout`).

    ``image`` may be lazy (anything with shape, dtype, ndim and indexing, such
    as a dask or zarr array): only the slices needed are read, and for the
    intensity range of non-8-bit data only a bounded sample (about 2 million
    pixels per channel, a giant slice never whole). NaN in an in-memory image
    is refused here; in a lazy one, when the part that holds it is read.

    Raises TypeError (not an array of numbers, complex values, a bad
    ``channel_axis``) or ValueError (empty, too few or too many axes, fewer
    than 2x2 pixels, NaN or infinite values).
    """
    if image is None:
        raise TypeError("No image was given.")
    lazy = _is_array_like(image) and not isinstance(image, np.ndarray)
    if lazy:
        try:
            np.dtype(image.dtype)
            lazy = not any(np.isnan(float(s)) for s in image.shape)  # dask: unknown chunk sizes
        except (TypeError, ValueError):  # e.g. a torch tensor: numpy reads it below
            lazy = False
    if lazy:
        arr = image  # lazy or foreign array: keep it, read slices later
    else:
        if hasattr(image, "compute") and not isinstance(image, np.ndarray):
            image = image.compute()
        try:
            arr = np.asarray(image)
        except Exception as exc:  # ragged lists etc.
            raise TypeError(f"Could not read the image as an array: {exc}") from exc
        if arr.dtype == object:
            raise TypeError("The image must be a numeric array; got an array of Python objects.")
    in_memory = isinstance(arr, np.ndarray)
    shape = tuple(int(s) for s in arr.shape)
    ndim = len(shape)
    _check_dtype(arr)
    if int(np.prod(shape, dtype=np.int64)) == 0:
        raise ValueError(f"The image is empty (shape {shape}).")
    if ndim < 2:
        raise ValueError(f"An image needs at least 2 dimensions (Y, X); got shape {shape}.")

    is_rgb = False
    if channel_axis is not None and (isinstance(channel_axis, bool)
                                     or not isinstance(channel_axis, (int, np.integer))):
        raise TypeError(f"channel_axis must be an integer axis index or None, got {channel_axis!r}")
    if rgb and ndim < 3:
        raise ValueError(f"rgb=True needs a colour axis last, but the image has shape {shape}.")
    if channel_axis is not None:
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {ndim} dims (shape {shape})."
            )
        channel_axis = int(channel_axis) % ndim
        if ndim < 3:
            raise ValueError(
                f"channel_axis={channel_axis} leaves fewer than 2 spatial dims in shape {shape}."
            )
    else:
        guess = ndim >= 3 and shape[-1] in (3, 4)
        is_rgb = guess if rgb is None else bool(rgb)
        if is_rgb:
            channel_axis = ndim - 1
    layout = slice_layout(shape, channel_axis)
    n_ch = 1 if channel_axis is None else shape[channel_axis]
    if is_rgb and n_ch == 4:
        n_ch = 3
    prep = PreparedImage(source=arr, channel_axis=channel_axis, rgb=is_rgb,
                         spatial_shape=layout.spatial_shape, stack_shape=layout.stack_shape,
                         n_channels=n_ch, lo=None, hi=None, layout=layout)
    if in_memory:
        _check_finite(arr)
    if is_rgb and shape[-1] == 4:
        _warn_if_alpha_varies(prep, in_memory)
    if np.dtype(arr.dtype) != np.uint8:
        prep.lo, prep.hi = _intensity_range(prep, in_memory)
    return prep
