"""Input checking and normalisation: any array a user may hand us becomes
float32 slices ``(N, C, H, W)`` in [0, 1], or a clear ValueError/TypeError."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PreparedImage", "prepare_image", "MAX_STACK_DIMS"]

MAX_STACK_DIMS = 2  # up to T and Z in front of Y, X


@dataclass
class PreparedImage:
    slices: np.ndarray  # float32 (N, C, H, W), values in [0, 1]
    spatial_shape: tuple  # the image's shape without the channel axis, e.g. (Z, Y, X)
    stack_shape: tuple  # leading (non-YX) dims, () for a 2D image
    n_channels: int
    channel_axis: int | None  # as given or inferred (for RGB), in the caller's axes
    rgb: bool

    @property
    def n_slices(self) -> int:
        return self.slices.shape[0]


def _check_dtype(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(
            f"Complex images ({arr.dtype}) cannot be segmented; pass np.abs(image) or its real part."
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"The image must hold numbers (integer, float or bool), not {arr.dtype}."
        )
    return arr


def _normalise(arr: np.ndarray) -> np.ndarray:
    """Per-channel scaling to [0, 1]; ``arr`` is (..., C).

    8-bit data is divided by 255 (as the reference code does for photos, which
    keeps colour balance); anything else (16-bit microscopy, floats) is
    stretched between its 0.5th and 99.5th percentiles per channel, so a dim
    16-bit image uses the whole range and a few hot pixels do not flatten it.
    """
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    arr = arr.astype(np.float64, copy=False)  # float32 could overflow on extreme values
    flat = arr.reshape(-1, arr.shape[-1])
    step = max(1, flat.shape[0] // 2_000_000)  # percentiles on a subsample of huge images
    lo, hi = np.percentile(flat[::step], [0.5, 99.5], axis=0)
    constant = hi <= lo
    hi = np.where(constant, flat.max(axis=0), hi)
    lo = np.where(constant, flat.min(axis=0), lo)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = (arr - lo) / span
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32)


def prepare_image(image, channel_axis: int | None = None, rgb: bool | None = None) -> PreparedImage:
    """Validate ``image`` and turn it into normalised 2D slices.

    Axes: ``channel_axis`` names the channel axis explicitly. Without it, an
    array whose last axis has 3 or 4 entries and that has 3+ dims is taken as
    RGB(A) (napari's rule; pass ``rgb=False`` to turn that off); everything
    else has no channel axis. The last two remaining axes are Y, X; up to two
    more in front (T and/or Z) are treated as a stack of 2D slices.
    """
    if image is None:
        raise TypeError("No image was given.")
    if hasattr(image, "compute") and not isinstance(image, np.ndarray):  # dask and friends
        image = image.compute()
    try:
        arr = np.asarray(image)
    except Exception as exc:  # ragged lists etc.
        raise TypeError(f"Could not read the image as an array: {exc}") from exc
    if arr.dtype == object:
        raise TypeError("The image must be a numeric array; got an array of Python objects.")
    arr = _check_dtype(arr)
    if arr.size == 0:
        raise ValueError(f"The image is empty (shape {arr.shape}).")
    if arr.ndim < 2:
        raise ValueError(f"An image needs at least 2 dimensions (Y, X); got shape {arr.shape}.")

    is_rgb = False
    if channel_axis is not None and (isinstance(channel_axis, bool)
                                     or not isinstance(channel_axis, (int, np.integer))):
        raise TypeError(f"channel_axis must be an integer axis index or None, got {channel_axis!r}")
    if rgb and arr.ndim < 3:
        raise ValueError(f"rgb=True needs a colour axis last, but the image has shape {arr.shape}.")
    if channel_axis is not None:
        if not -arr.ndim <= channel_axis < arr.ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {arr.ndim} dims (shape {arr.shape})."
            )
        channel_axis = channel_axis % arr.ndim
        if arr.ndim < 3:
            raise ValueError(
                f"channel_axis={channel_axis} leaves fewer than 2 spatial dims in shape {arr.shape}."
            )
        arr = np.moveaxis(arr, channel_axis, -1)
    else:
        guess = arr.ndim >= 3 and arr.shape[-1] in (3, 4)
        is_rgb = guess if rgb is None else bool(rgb)
        if is_rgb:
            channel_axis = arr.ndim - 1
        else:
            arr = arr[..., None]
    if is_rgb and arr.shape[-1] == 4:
        arr = arr[..., :3]  # alpha carries no content to cluster

    spatial_shape = arr.shape[:-1]
    stack_shape = spatial_shape[:-2]
    if len(stack_shape) > MAX_STACK_DIMS:
        raise ValueError(
            f"Too many dimensions: shape {image.shape if hasattr(image, 'shape') else arr.shape} has "
            f"{len(spatial_shape)} non-channel axes; supported are 2D (Y, X), 3D (Z or T, Y, X) and "
            f"4D (T, Z, Y, X), plus one channel axis. Set channel_axis if one axis is channels."
        )
    h, w = spatial_shape[-2:]
    if h < 2 or w < 2:
        raise ValueError(
            f"The image's Y, X size is {h}x{w}; at least 2x2 pixels are needed to segment. "
            "If an axis is channels, set channel_axis."
        )
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        n_bad = int(bad.sum())
        if n_bad:
            raise ValueError(
                f"The image holds {n_bad} NaN or infinite value(s); replace them first "
                "(e.g. np.nan_to_num(image)) so that they are not clustered as content."
            )
    norm = _normalise(arr)
    n_ch = norm.shape[-1]
    slices = norm.reshape((-1, h, w, n_ch)).transpose(0, 3, 1, 2)
    return PreparedImage(
        slices=np.ascontiguousarray(slices, dtype=np.float32),
        spatial_shape=tuple(spatial_shape),
        stack_shape=tuple(stack_shape),
        n_channels=n_ch,
        channel_axis=channel_axis,
        rgb=is_rgb,
    )
