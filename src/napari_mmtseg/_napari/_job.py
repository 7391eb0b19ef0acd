"""What to segment and where the labels go: the link between a napari image
layer and the engine. No Qt here, so it is easy to test."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np

from .. import Progress, iter_segment
from ..image import SliceLayout, slice_layout
from ..image_meta import ImageMeta

__all__ = [
    "Job",
    "LABEL_DTYPE",
    "make_job",
    "has_stack",
    "labels_shape",
    "throttled",
    "place",
    "preview_index",
    "write_undoable",
]

#: dtype of every Labels layer the widget writes (preview or not): napari lets a user paint
#: any label id the dtype holds, and int32 holds ids up to 2**31 - 1, whatever the engine's
#: labels (the smallest unsigned dtype that holds their ids, often uint8)
LABEL_DTYPE = np.int32


@dataclass
class Job:
    source_name: str
    image: Any  # what the engine gets: a numpy array or a lazy one (dask, zarr)
    rgb: bool  # the engine takes the last axis as RGB(A)
    channel_axis: int | None  # in ``image``'s axes
    out_shape: tuple  # shape of the labels layer (the source's spatial shape)
    region: tuple  # index into out_shape that the engine's labels fill
    slices: SliceLayout  # how the engine cuts ``image`` into 2D slices (to place previews)
    layer_kwargs: dict  # scale, translate, units, axis_labels of the labels layer
    meta: ImageMeta  # the labels' axes, pixel sizes and units (for the result's metadata)
    level: int = 0  # the pyramid level segmented (multiscale layers; 0 = full resolution)
    source_id: str = ""  # the source layer's ``unique_id``: it survives renames

    @property
    def partial(self) -> bool:
        return any(isinstance(r, (int, np.integer)) for r in self.region)


#: the most pixels per 2D slice segmented from a multiscale (pyramid) layer:
#: the finest level at or under this is used (4096 x 4096)
MAX_PYRAMID_PIXELS = 4096 * 4096


def pyramid_level(layer, max_pixels: int | None = None) -> int:
    """The finest level of a multiscale layer whose 2D slices have at most
    ``max_pixels`` (default :data:`MAX_PYRAMID_PIXELS`) pixels, the coarsest
    level if none does; 0 for other layers."""
    if not getattr(layer, "multiscale", False):
        return 0
    max_pixels = MAX_PYRAMID_PIXELS if max_pixels is None else max_pixels
    yx = -3 if layer.rgb else -2  # RGB levels end with the colour axis
    for i, d in enumerate(layer.data):
        h, w = d.shape[yx], d.shape[yx + 1]
        if h * w <= max_pixels:
            return i
    return len(layer.data) - 1


def _base_data(layer, level: int = 0):
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[level]
    return data


def _channel_axis(layer, data, channel_axis: int | None) -> tuple[int | None, bool]:
    """(channel axis of ``data``, whether the engine takes it as RGB(A)).

    An RGB layer's colour axis is its last: as RGB(A) when ``channel_axis``
    is None, as plain channels (all of them, a 4th one too) when it names
    that axis. Other layers: ``channel_axis`` as given (negative counts
    from the end), or none."""
    if channel_axis is not None:
        if not -data.ndim <= channel_axis < data.ndim:
            raise ValueError(
                f"channel axis {channel_axis} does not exist in data of shape {data.shape}"
            )
        channel_axis %= data.ndim
    if layer.rgb:
        if channel_axis not in (None, data.ndim - 1):
            raise ValueError(
                f"an RGB layer's channels are its last axis ({data.ndim - 1}), "
                f"not axis {channel_axis}"
            )
        return data.ndim - 1, channel_axis is None
    return channel_axis, False


def has_stack(layer, channel_axis: int | None) -> bool:
    """Whether ``layer`` (with ``channel_axis``) has more than one 2D slice:
    a stack axis longer than 1 besides Y, X (:func:`napari_mmtseg.image.slice_layout`)."""
    data = _base_data(layer)
    try:
        ch, _ = _channel_axis(layer, data, channel_axis)
        return bool(slice_layout(data.shape, ch).stack_axes)
    except ValueError:  # too small, too many axes: the run says why
        return False


def labels_shape(layer, channel_axis: int | None) -> tuple | None:
    """The shape of the labels a run on image ``layer`` (with ``channel_axis``)
    gives: the data's shape without the channel axis (at the pyramid level a
    run uses). None where no run could start (too small, a bad axis)."""
    data = _base_data(layer, pyramid_level(layer))
    try:
        ch, _ = _channel_axis(layer, data, channel_axis)
        return slice_layout(data.shape, ch).spatial_shape
    except ValueError:
        return None


def labels_meta(layer_kwargs: dict, yx: tuple) -> ImageMeta:
    """The axes, pixel sizes and units of a labels layer with ``layer_kwargs``
    (its scale, units and axis labels), by :meth:`ImageMeta.from_layer`;
    ``yx``: the labels' Y and X axes (a (64, 64, 1) image's are 0 and 1)."""
    return ImageMeta.from_layer(SimpleNamespace(**layer_kwargs), yx=yx)


def make_job(
    layer, world_point=None, *, channel_axis: int | None = None, current_slice_only: bool = False
) -> Job:
    """Describe the segmentation of image ``layer``.

    channel_axis: an axis of the layer's data holding channels; for an RGB
    layer only its last axis, meaning "these are plain channels, not
    RGB(A)" (a 4th channel is then kept). current_slice_only: for a stack
    (an axis longer than 1 besides Y, X: :func:`napari_mmtseg.image.slice_layout`),
    take the 2D slice at ``world_point`` (the viewer's ``dims.point``).
    Raises ValueError for a channel axis the data lacks, or data with no
    2D slice of at least 2x2 pixels.
    """
    level = pyramid_level(layer)
    data = _base_data(layer, level)
    rgb = bool(layer.rgb)
    ch, engine_rgb = _channel_axis(layer, data, channel_axis)
    lay = slice_layout(data.shape, ch)
    spatial = list(lay.spatial_axes)
    out_shape = lay.spatial_shape

    # napari's per-axis properties cover the layer's dims: all data axes, less
    # the RGB axis. Drop a user-chosen channel axis from them too.
    layer_axes = list(range(data.ndim - 1)) if rgb else list(range(data.ndim))
    keep = [i for i, a in enumerate(layer_axes) if a != ch]
    scale, translate = np.asarray(layer.scale, float), np.asarray(layer.translate, float)
    factor = np.ones(len(layer_axes))
    if level:  # a coarser pyramid level: its pixels are larger, their centres shifted
        factor = np.asarray(layer.downsample_factors[level], float)
        translate = translate + (factor - 1) / 2 * scale
        scale = scale * factor
    kw = {"scale": tuple(scale[keep]), "translate": tuple(translate[keep])}
    for attr in ("units", "axis_labels"):
        val = getattr(layer, attr, None)
        if val is not None:
            kw[attr] = tuple(val[i] for i in keep)

    index = [slice(None)] * data.ndim
    region = [slice(None)] * len(spatial)
    if current_slice_only and lay.stack_axes:
        point = (
            np.zeros(len(layer_axes)) if world_point is None else layer.world_to_data(world_point)
        )
        point = np.asarray(point, float) / factor  # level-0 data coordinates -> this level's
        for a in lay.stack_axes:  # axes of length 1 stay whole: nothing to choose there
            pos = point[layer_axes.index(a)]
            i = int(np.clip(np.round(pos), 0, data.shape[a] - 1))
            index[a] = i
            region[spatial.index(a)] = i
    # a lazy (dask, zarr) layer stays lazy: the engine reads it slice by slice in
    # the worker thread, never all at once in the GUI thread (indexing a zarr or
    # h5py array with slices would read it, hence no index unless one is fixed)
    fixed = any(isinstance(i, int) for i in index)
    image = data[tuple(index)] if fixed else data
    ch_new = None if ch is None else ch - sum(isinstance(index[a], int) for a in range(ch))
    slices = slice_layout(image.shape, ch_new)
    yx = tuple(spatial.index(a) for a in lay.yx_axes)
    return Job(
        source_name=layer.name,
        image=image,
        rgb=engine_rgb,
        channel_axis=None if engine_rgb else ch_new,
        out_shape=out_shape,
        region=tuple(region),
        slices=slices,
        layer_kwargs=kw,
        meta=labels_meta(kw, yx),
        level=level,
        source_id=str(layer.unique_id),
    )


def place(job: Job, labels: np.ndarray) -> np.ndarray:
    """The engine's ``labels`` (the shape of ``job.region``) in a new
    :data:`LABEL_DTYPE` array of ``job.out_shape``, zero outside the region."""
    if not job.partial:
        return np.asarray(labels, dtype=LABEL_DTYPE)
    out = np.zeros(job.out_shape, dtype=LABEL_DTYPE)
    out[job.region] = labels
    return out


def preview_index(job: Job, ev: Progress) -> tuple:
    """Index into ``job.out_shape`` of the slice an event's preview shows:
    the fixed indices of ``job.region`` and, on the axes the engine got,
    where its layout puts slice ``ev.slice_index`` (axes of length 1 included)."""
    inner = iter(job.slices.labels_index(ev.slice_index))
    return tuple(r if isinstance(r, int) else next(inner) for r in job.region)


def throttled(gen: Iterator, every: float = 0.3) -> Iterator:
    """Pass the engine's events on, dropping previews that come sooner than
    ``every`` seconds after the last one passed (runs in the worker thread)."""
    last = -np.inf
    for ev in gen:
        if isinstance(ev, Progress) and ev.preview is not None:
            now = time.monotonic()
            if now - last < every:
                ev = replace(ev, preview=None)
            else:
                last = now
        yield ev


def run_job(job: Job, engine_kwargs: dict, preview_every_s: float = 0.3):
    """Generator for the worker thread: the engine's events, previews throttled."""
    gen = iter_segment(job.image, rgb=job.rgb, channel_axis=job.channel_axis, **engine_kwargs)
    try:
        yield from throttled(gen, preview_every_s)
    finally:
        gen.close()


def write_undoable(layer, region: tuple, new: np.ndarray, keep: np.ndarray | None = None) -> tuple:
    """Write ``new`` into ``layer.data[region]`` through ``layer.data_setitem``
    so that the change is one undoable step; where ``keep`` (a bool array of
    ``new``'s shape) is True, the layer's pixels are left as they are.

    Returns ``(indices, before)``: the changed pixels as indices into the
    whole array and their values before (``before.size`` pixels changed).
    Raises ValueError if ``new`` does not fit the layer's shape or dtype."""
    data = layer.data
    view = data[region]
    if view.shape != new.shape:
        raise ValueError(f"shape {new.shape} does not fit the layer's {view.shape}")
    if (
        np.issubdtype(data.dtype, np.integer)
        and new.size
        and int(new.max()) > np.iinfo(data.dtype).max
    ):
        raise ValueError(f"{int(new.max())} labels do not fit the layer's {data.dtype}")
    differ = np.asarray(view) != new
    if keep is not None:
        differ &= ~keep
    changed = np.nonzero(differ)
    # map indices of the region back to indices of the whole array
    full = []
    k = 0
    for r, n in zip(region, data.shape):
        if isinstance(r, (int, np.integer)):
            full.append(np.full(changed[0].shape, int(r), dtype=np.intp))
        else:
            start = r.indices(n)[0]
            full.append(changed[k] + start)
            k += 1
    full = tuple(full)
    before = np.array(data[full], copy=True)
    if before.size:
        layer.data_setitem(full, new[changed])
    return full, before
