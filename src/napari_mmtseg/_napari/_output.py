"""Where a run's labels go in the viewer: a preview layer while it trains,
then that layer renamed as the result, a new result layer, or the previous
result of the same image rewritten as one undoable step (by a Refine: all
but the pixels the user edited there). What was written is recorded
(``_edits``) so that the user's later edits can be told apart. napari
layers only, no Qt. Every Labels layer written here has dtype :data:`LABEL_DTYPE`."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_info, show_warning

from ..io import result_metadata
from ._edits import EditRecord, record_of
from ._job import LABEL_DTYPE, Job, labels_shape, place, preview_index, write_undoable
from ._layers import layer_by_id

__all__ = [
    "add_preview",
    "show_preview",
    "write_result",
    "write_run",
    "update_target",
    "made_from",
    "previous_result",
    "remove_layer",
]


def add_preview(viewer, job: Job, method: str) -> Labels:
    """A new, empty Labels layer (``job.out_shape``, :data:`LABEL_DTYPE`) for the previews."""
    return viewer.add_labels(
        np.zeros(job.out_shape, LABEL_DTYPE),
        opacity=0.5,
        name=f"{job.source_name} {method} (preview)",
        **job.layer_kwargs,
    )


def show_preview(viewer, layer, job: Job, ev) -> None:
    """Show the preview of Progress event ``ev`` in ``layer`` (if it is still in the viewer)."""
    if layer is None or layer not in viewer.layers:
        return  # preview off, or the user removed the layer: leave it gone
    layer.data[preview_index(job, ev)] = ev.preview
    layer.refresh()


def remove_layer(viewer, layer) -> None:
    if layer is not None and layer in viewer.layers:
        viewer.layers.remove(layer)


def made_from(job: Job):
    """A test of a layer: whether a run made it from ``job``'s source layer.

    Matched by the source's ``unique_id``, so renaming either layer does not matter.
    """
    return lambda lay: (
        lay.metadata.get("source_layer_id") == job.source_id
        and "napari_mmtseg_version" in lay.metadata
    )


def previous_result(viewer, job: Job, preferred=None, match=None) -> Labels | None:
    """The newest Labels layer with ``job.out_shape`` that ``match`` accepts.

    ``match`` (a layer -> bool; default :func:`made_from` ``job``) says which
    layers are results of the job's image; ``preferred`` is tried first if it
    qualifies. The one scan for "the previous result", for Run (update the
    previous result) and Refine (where the refined labels go).
    """
    match = made_from(job) if match is None else match
    layers = [lay for lay in viewer.layers if isinstance(lay, Labels)]
    if preferred in layers:
        layers.append(preferred)  # searched first below
    for lay in reversed(layers):
        if tuple(lay.data.shape) == job.out_shape and match(lay):
            return lay
    return None


def write_result(
    viewer,
    job: Job,
    result,
    method: str,
    *,
    target=None,
    keep=None,
    preview=None,
    extra: dict | None = None,
) -> tuple:
    """Put ``result`` (a SegmentationResult) into the viewer and return
    ``(layer, write)``: its Labels layer, named ``"<source layer's current
    name> <method>"``, its ``metadata`` :func:`napari_mmtseg.io.result_metadata`
    (the run's details, the labels' ``axes``, ``pixel_size`` and ``units``)
    plus the source layer and ``extra``; ``write`` as
    :func:`~napari_mmtseg._napari._job.write_undoable` gives it when the
    labels went into ``target``, else None.

    target: a Labels layer to write into as one undoable step, leaving alone
    the pixels of the region where ``keep`` (bool, the region's shape) is
    True. Without one, or if the labels do not fit it, ``preview`` (if still
    in the viewer) becomes the result layer, else a new Labels layer is added.
    """
    # the source's name now: it may have been renamed since the run started
    source = layer_by_id(viewer, job.source_id)
    source_name = job.source_name if source is None else source.name
    # the run's details, the labels' axes, pixel sizes and units, and the source
    meta = result_metadata(
        result, job.meta, source_layer=source_name, source_layer_id=job.source_id
    )
    if job.partial:
        meta["slice"] = tuple(r for r in job.region if isinstance(r, int))
    if job.level:
        meta["pyramid_level"] = job.level
    meta.update(extra or {})
    name = f"{source_name} {method}"
    if target is not None and target not in viewer.layers:
        target = None
    if target is None and preview is not None and preview in viewer.layers:
        # the preview layer becomes the result: no remove + add (each ~0.1-0.3 s)
        preview.data[job.region] = result.labels
        preview.name, preview.metadata, preview.opacity = name, meta, 0.7
        preview.refresh()
        return preview, None
    remove_layer(viewer, preview)
    if target is not None:
        try:
            write = write_undoable(target, job.region, result.labels, keep)
            target.metadata = meta
            for attr, value in job.layer_kwargs.items():  # the image's scale etc. as of now
                setattr(target, attr, value)
            viewer.layers.selection.active = target
            return target, write
        except ValueError as exc:
            show_info(f"MMT segmentation: added a new layer ({exc}).")
    return viewer.add_labels(
        place(job, result.labels), name=name, metadata=meta, **job.layer_kwargs
    ), None


def write_run(viewer, run, result, records: dict) -> Labels:
    """Put the result of widget run ``run`` (a ``_worker.Run``) into the viewer,
    record what was written in ``records`` (layer ``unique_id`` ->
    :class:`~napari_mmtseg._napari._edits.EditRecord`) and return the layer.

    A Refine (``run.plan``) writes into its plan's target, leaving alone the
    pixels the user edited there, also those edited while it ran, and those
    the result leaves at 0 (a new layer if the target is gone or was not
    written by the widget). A Run that updates the previous result writes
    into ``run.target`` (:func:`update_target`, chosen at its launch) unless
    the user changed that layer while it ran; else, or if that layer is
    gone, into a new layer. A run that applied a kept model
    (``run.model``) names it in the layer's name and metadata (``model``: its
    file), and its record keeps that model for a later Refine."""
    job, plan = run.job, run.plan
    target = plan.target if plan is not None else run.target
    target = target if target is not None and target in viewer.layers else None
    if _image_reshaped(viewer, run):  # labels of the image as it was: never over a result
        target = None
    if plan is None and target is not None and _changed_during(run, target):
        target = None  # the user's work there, painted or undone, stays as it is
    rec = record_of(records, target)
    if plan is not None and rec is None:
        target = None  # a Refine writes only where it can tell the user's edits
    edited = keep = None
    if rec is not None:
        _, edited = rec.edits(target.data)
        if plan is not None:  # the user's edits, and pixels the engine left unlabelled (0:
            # 'trainable' labels only the slices of a stack that have scribbles)
            keep = edited[job.region] | (np.asarray(result.labels) == 0)
    extra = {}
    if run.model is not None:  # named as a batch names it: the file and its hash
        extra = {"model": run.model_file or "(not saved)", "model_sha256": _model_sha256(run)}
    extra |= (
        {}
        if plan is None
        else {
            "scribbles": {
                "layer": plan.layer_name,
                "pixels": plan.n_scribbled,
                "init_model": plan.init_model is not None,
                "kept_edits": 0 if edited is None else int(edited[job.region].sum()),
            }
        }
    )
    what = run.method if run.model is None else f"{run.method} (model)"
    layer, write = write_result(
        viewer, job, result, what, target=target, keep=keep, preview=run.preview, extra=extra
    )
    run.preview = None  # it is the result now, or was removed
    model = result.model if run.model is None else run.model  # a Refine warm-starts from it
    if write is None:  # a new layer, made of the result
        rec = EditRecord(
            layer.data, job.source_id, run.method, model, run.channel_axis, layer.metadata
        )
    else:
        if (
            rec is None
        ):  # written before the widget kept a record of it: start from its labels before
            before = np.array(layer.data)
            before[write[0]] = write[1]
            rec = EditRecord(before, job.source_id, layer.metadata.get("method", ""))
            edited = np.zeros(before.shape, bool)
        rec.wrote(
            layer.data, job.region, write, edited, keep, run.method, model, run.channel_axis,
            layer.metadata,
        )  # fmt: skip
    records[str(layer.unique_id)] = rec
    return layer


def update_target(viewer, job: Job, last=None) -> tuple:
    """``(layer, labels)``: the previous result a Run that updates it writes into
    (:func:`previous_result`, ``last`` preferred) and a copy of its labels in the job's
    region, both taken when the run starts; ``(None, None)`` if there is none."""
    layer = previous_result(viewer, job, last)
    if layer is None:
        return None, None
    return layer, np.array(layer.data[job.region], copy=True)


def _changed_during(run, target) -> bool:
    """Whether the user changed ``target``, the previous result a Run updates, while it
    went (painted, erased, undid or redid a step: its labels in the run's region differ
    from those at the run's launch); if so, say that the result is a new layer."""
    before = run.target_before
    if before is None:
        return False
    now = np.asarray(target.data[run.job.region])
    if now.shape == before.shape and np.array_equal(now, before):
        return False
    show_info(
        f"MMT segmentation: {target.name!r} was changed while the run went (painted or "
        "undone), so it is left as it is: the result is a new layer."
    )
    return True


def _model_sha256(run) -> str:
    """The sha256 of the run's model file, as a batch records it (a file saved by an older
    version has other bytes than the model would be saved with now), or of the bytes the
    model would be saved as when it has no file (or the file is gone)."""
    from ..batch.train import file_sha256

    if run.model_file:
        try:
            return file_sha256(run.model_file)
        except OSError:
            pass
    return run.model.sha256()


def _image_reshaped(viewer, run) -> bool:
    """Whether the run's image layer took data of another shape while the run went; if so,
    say so (the result is the image's as it was when the run started)."""
    job = run.job
    source = layer_by_id(viewer, job.source_id) if job.source_id else None
    now = None if source is None else labels_shape(source, run.channel_axis)
    if now is None or tuple(now) == tuple(job.out_shape):
        return False
    show_warning(
        f"MMT segmentation: {job.source_name!r} took data of another shape while the run "
        f"went ({tuple(job.out_shape)} then, {tuple(now)} now): the result, of the image as "
        "it was, is a new layer."
    )
    return True
