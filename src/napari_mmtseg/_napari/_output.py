"""Where a run's labels go in the viewer: a preview layer while it trains,
then that layer renamed as the result, a new result layer, or the previous
result of the same image rewritten as one undoable step. napari layers only,
no Qt. Every Labels layer written here has dtype :data:`LABEL_DTYPE`."""
from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_info

from ..io import result_metadata
from ._job import LABEL_DTYPE, Job, place, preview_index, write_undoable

__all__ = ["add_preview", "show_preview", "write_result", "previous_result", "remove_layer"]


def add_preview(viewer, job: Job, method: str) -> Labels:
    """A new, empty Labels layer (``job.out_shape``, :data:`LABEL_DTYPE`) for the previews."""
    return viewer.add_labels(np.zeros(job.out_shape, LABEL_DTYPE), opacity=0.5,
                             name=f"{job.source_name} {method} (preview)", **job.layer_kwargs)


def show_preview(viewer, layer, job: Job, ev) -> None:
    """Show the preview of Progress event ``ev`` in ``layer`` (if it is still in the viewer)."""
    if layer is None or layer not in viewer.layers:
        return  # preview off, or the user removed the layer: leave it gone
    layer.data[preview_index(job, ev)] = ev.preview
    layer.refresh()


def remove_layer(viewer, layer) -> None:
    if layer is not None and layer in viewer.layers:
        viewer.layers.remove(layer)


def previous_result(viewer, job: Job, preferred=None) -> Labels | None:
    """The newest Labels layer that a run made from the same source layer
    (matched by its ``unique_id``, so renaming either layer does not matter)
    with ``job.out_shape``; ``preferred`` first if it qualifies."""
    layers = [lay for lay in viewer.layers if isinstance(lay, Labels)]
    if preferred in layers:
        layers.append(preferred)  # searched first below
    for lay in reversed(layers):
        if (lay.metadata.get("source_layer_id") == job.source_id
                and "napari_mmtseg_version" in lay.metadata
                and tuple(lay.data.shape) == job.out_shape):
            return lay
    return None


def write_result(viewer, job: Job, result, method: str, *, update: bool = False,
                 preview=None, last=None) -> Labels:
    """Put ``result`` (a SegmentationResult) into the viewer and return its
    Labels layer, named ``"<source layer's current name> <method>"``, its
    ``metadata`` :func:`napari_mmtseg.io.result_metadata` (the run's details,
    the labels' ``axes``, ``pixel_size`` and ``units``) plus the source layer.

    update: write into the previous result of the same image (undoable) if there
    is one that fits; otherwise ``preview`` (if still in the viewer) becomes the
    result layer, else a new Labels layer is added. ``last``: the layer the
    widget wrote last, preferred as the previous result.
    """
    # the source's name now: it may have been renamed since the run started
    source = next((lay for lay in viewer.layers if str(lay.unique_id) == job.source_id), None)
    source_name = job.source_name if source is None else source.name
    # the run's details, the labels' axes, pixel sizes and units, and the source
    meta = result_metadata(result, job.meta, source_layer=source_name, source_layer_id=job.source_id)
    if job.partial:
        meta["slice"] = tuple(r for r in job.region if isinstance(r, int))
    if job.level:
        meta["pyramid_level"] = job.level
    name = f"{source_name} {method}"
    target = previous_result(viewer, job, last) if update else None
    if target is None and preview is not None and preview in viewer.layers:
        # the preview layer becomes the result: no remove + add (each ~0.1-0.3 s)
        preview.data[job.region] = result.labels
        preview.name, preview.metadata, preview.opacity = name, meta, 0.7
        preview.refresh()
        return preview
    remove_layer(viewer, preview)
    if target is not None:
        try:
            write_undoable(target, job.region, result.labels)
            target.metadata = meta
            for attr, value in job.layer_kwargs.items():  # the image's scale etc. as of now
                setattr(target, attr, value)
            viewer.layers.selection.active = target
            return target
        except ValueError as exc:
            show_info(f"MMT segmentation: added a new layer ({exc}).")
    return viewer.add_labels(place(job, result.labels), name=name, metadata=meta,
                             **job.layer_kwargs)
