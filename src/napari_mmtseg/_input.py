"""Input checking and normalisation: any array a user may hand us becomes a
source of float32 slices ``(C, H, W)`` in [0, 1], or a clear ValueError/TypeError.

The source is read one 2D slice at a time, so a lazy array (dask, zarr, a
napari layer's data) of a long time-lapse or a deep stack is never loaded, or
converted to float, as a whole."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PreparedImage", "prepare_image", "MAX_STACK_DIMS"]

MAX_STACK_DIMS = 2  # up to T and Z in front of Y, X
_SAMPLE_PIXELS = 2_000_000  # pixels per channel used to find the intensity range
_SAMPLE_SLICES = 16  # slices of a lazy stack read for that


def _is_array_like(obj) -> bool:
    return all(hasattr(obj, a) for a in ("shape", "dtype", "ndim", "__getitem__"))


@dataclass
class PreparedImage:
    source: Any  # the caller's array (maybe lazy), axes as given
    channel_axis: int | None  # as given or inferred (for RGB), in the caller's axes
    rgb: bool
    spatial_shape: tuple  # the image's shape without the channel axis, e.g. (Z, Y, X)
    stack_shape: tuple  # leading (non-YX) dims, () for a 2D image
    n_channels: int
    lo: np.ndarray | None  # per-channel intensity range; None: 8-bit, divided by 255
    hi: np.ndarray | None

    @property
    def n_slices(self) -> int:
        return int(np.prod(self.stack_shape, dtype=np.int64))

    @property
    def yx(self) -> tuple:
        return tuple(self.spatial_shape[-2:])

    def raw_slice(self, i: int) -> np.ndarray:
        """Slice ``i`` (C order over the stack dims) as read: (H, W, C), caller's dtype."""
        lead = np.unravel_index(i, self.stack_shape) if self.stack_shape else ()
        index, it = [], iter(lead)
        n_spatial_seen = 0
        for ax in range(self.source.ndim):
            if ax == self.channel_axis:
                index.append(slice(None))
            else:
                index.append(int(next(it)) if n_spatial_seen < len(self.stack_shape) else slice(None))
                n_spatial_seen += 1
        arr = self.source[tuple(index)]
        if hasattr(arr, "compute") and not isinstance(arr, np.ndarray):
            arr = arr.compute()
        arr = _check_dtype(np.asarray(arr))
        if self.channel_axis is None:
            arr = arr[..., None]
        else:
            # the channel axis's position among the axes left after indexing
            n_stack = len(self.stack_shape)
            arr = np.moveaxis(arr, self.channel_axis - min(self.channel_axis, n_stack), -1)
        if self.rgb and arr.shape[-1] == 4:
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


def _intensity_range(prep: PreparedImage, in_memory: bool):
    """Per-channel 0.5th and 99.5th percentiles on a sample of the image.

    8-bit data is divided by 255 (as the reference code does for photos, which
    keeps colour balance); anything else (16-bit microscopy, floats) is
    stretched between its 0.5th and 99.5th percentiles per channel, so a dim
    16-bit image uses the whole range and a few hot pixels do not flatten it.
    The sample: every slice of an in-memory array, up to 16 evenly spaced
    slices of a lazy one, each subsampled to about 2 million pixels in all.
    """
    n = prep.n_slices
    which = range(n) if in_memory else np.unique(np.linspace(0, n - 1, min(n, _SAMPLE_SLICES)).round().astype(int))
    which = list(which)
    h, w = prep.yx
    step = max(1, (len(which) * h * w) // _SAMPLE_PIXELS)
    parts = []
    for i in which:
        arr = prep.raw_slice(int(i))
        _check_finite(arr, f" (in slice {int(i)})" if prep.stack_shape else "")
        parts.append(arr.reshape(-1, arr.shape[-1])[::step].astype(np.float64))
    flat = np.concatenate(parts)
    lo, hi = np.percentile(flat, [0.5, 99.5], axis=0)
    constant = hi <= lo
    hi = np.where(constant, flat.max(axis=0), hi)
    lo = np.where(constant, flat.min(axis=0), lo)
    return lo, hi


def prepare_image(image, channel_axis: int | None = None, rgb: bool | None = None) -> PreparedImage:
    """Validate ``image`` and describe its normalised 2D slices.

    Axes: ``channel_axis`` names the channel axis explicitly. Without it, an
    array whose last axis has 3 or 4 entries and that has 3+ dims is taken as
    RGB(A) (napari's rule; pass ``rgb=False`` to turn that off); everything
    else has no channel axis. The last two remaining axes are Y, X; up to two
    more in front (T and/or Z) are treated as a stack of 2D slices.

    ``image`` may be lazy (anything with shape, dtype, ndim and indexing, such
    as a dask or zarr array): only the slices needed are read. NaN in an
    in-memory image is refused here; in a lazy one, when its slice is read.
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
    spatial_shape = tuple(s for a, s in enumerate(shape) if a != channel_axis)
    n_ch = 1 if channel_axis is None else shape[channel_axis]
    if is_rgb and n_ch == 4:
        n_ch = 3

    stack_shape = spatial_shape[:-2]
    if len(stack_shape) > MAX_STACK_DIMS:
        raise ValueError(
            f"Too many dimensions: shape {shape} has "
            f"{len(spatial_shape)} non-channel axes; supported are 2D (Y, X), 3D (Z or T, Y, X) and "
            f"4D (T, Z, Y, X), plus one channel axis. Set channel_axis if one axis is channels."
        )
    h, w = spatial_shape[-2:]
    if h < 2 or w < 2:
        raise ValueError(
            f"The image's Y, X size is {h}x{w}; at least 2x2 pixels are needed to segment. "
            "If an axis is channels, set channel_axis."
        )
    prep = PreparedImage(source=arr, channel_axis=channel_axis, rgb=is_rgb,
                         spatial_shape=spatial_shape, stack_shape=tuple(stack_shape),
                         n_channels=n_ch, lo=None, hi=None)
    if in_memory:
        _check_finite(arr)
    if np.dtype(arr.dtype) != np.uint8:
        prep.lo, prep.hi = _intensity_range(prep, in_memory)
    return prep
