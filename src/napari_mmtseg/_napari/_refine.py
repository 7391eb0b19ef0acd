"""What a Refine learns from and where its labels go: the scribbles (the
user's edits of a result layer, or another Labels layer's nonzero pixels),
the result layer to write into, and the networks to start from. napari
layers and numpy only, no Qt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from napari.layers import Labels

from .. import LEARNED_METHODS
from ..model import Model
from ..refine import ERASED
from ._edits import EditRecord, record_of
from ._job import Job
from ._output import previous_result

__all__ = ["Plan", "plan_refine", "warm_start"]


@dataclass
class Plan:
    """A Refine, decided when it starts."""

    scribbles: np.ndarray  # for the engine: the shape of the job's region, 0 = not scribbled
    layer_name: str  # the scribbles layer
    n_scribbled: int  # scribbled pixels in the region
    target: Labels | None  # the result layer written into (None: a new layer)
    init_model: Model | None  # the previous result's networks, or None
    note: str = ""  # why the previous result's networks are not used, if they are not
    # a refine of the target's labels (napari_mmtseg.refine), when it has networks to start
    # from: its labels as the widget wrote them (the region's shape), and the strokes (painted
    # ids, ERASED where the user erased); None: the engine learns from ``scribbles`` as classes
    labels: np.ndarray | None = None
    strokes: np.ndarray | None = None
    output: str | None = None  # the target's output mode, kept unless the user chose one


def _written_by_widget(job: Job, records: dict, method: str):
    """A test of a layer: a result of ``method`` on the job's image that the
    widget wrote (and so knows the user's edits of)."""

    def match(lay) -> bool:
        rec = record_of(records, lay)
        return rec is not None and rec.source_id == job.source_id and rec.state.method == method

    return match


def warm_start(
    rec: EditRecord | None, method: str, params, channel_axis
) -> tuple[Model | None, str]:
    """(the networks of the result ``rec`` holds, to start from; or None and why not).
    ``params``: the run's :class:`~napari_mmtseg.Params`."""
    if rec is None or method not in LEARNED_METHODS:
        return None, ""
    st = rec.state
    if st.method != method:
        return (
            None,
            f"the previous result was made with {st.method or 'another method'}, not {method}",
        )
    if st.model is None:
        return None, "the previous result kept no networks"
    if (st.model.params.q, st.model.params.n_conv) != (params.q, params.n_conv):
        return None, (
            f"the previous result's networks have q={st.model.params.q}, "
            f"n_conv={st.model.params.n_conv} (now {params.q}, {params.n_conv})"
        )
    if st.channel_axis != channel_axis:
        return None, "the previous result was made with another channel axis"
    return st.model, ""


def plan_refine(
    viewer, job: Job, layer, records: dict, method: str, params, channel_axis, preferred=None
) -> Plan:
    """Decide a Refine of ``job`` with scribbles layer ``layer``.

    When ``layer`` is a result the widget wrote, the scribbles are the pixels
    the user changed there since (:meth:`EditRecord.edits`) (a result it did
    not write is refused); otherwise they are ``layer``'s positive pixels.
    The refined labels go into ``layer`` if it is a result of this image and
    ``method`` that the widget wrote, else into the newest such result
    (``preferred`` first), else a new layer named after ``method``. The
    networks of that result are the start when its method and network
    shape are this run's; then the result's labels are refined
    (:func:`napari_mmtseg.refine.iter_refine`: a painted id means "belongs to
    that region" or "a new object", an erased pixel "not this region", and
    the output mode is kept), else the engine learns from the scribbles as
    classes. Raises ValueError with a message for the user."""
    if layer is None:
        raise ValueError(
            "Refine needs scribbles: choose a Labels layer under 'scribbles' (the "
            "result itself, after correcting a few pixels, or a layer you painted)."
        )
    if layer not in viewer.layers:
        raise ValueError(f"the scribbles layer {layer.name!r} is no longer in the viewer")
    if tuple(layer.data.shape) != tuple(job.out_shape):
        raise ValueError(
            f"the scribbles layer {layer.name!r} has shape {tuple(layer.data.shape)}, "
            f"the labels of {job.source_name!r} have {tuple(job.out_shape)}"
        )
    rec = record_of(records, layer)
    if rec is None and "napari_mmtseg_version" in layer.metadata:
        # a result whose labels this widget did not write: every pixel would be a scribble
        raise ValueError(
            f"{layer.name!r} is a result this widget did not write (made before it "
            "was opened, or its data replaced), so your edits there cannot be told "
            "apart: paint the scribbles into a new Labels layer and choose that one."
        )
    erased = None
    if rec is not None:
        full, edited = rec.edits(layer.data)
        erased = (edited & (np.asarray(layer.data) == 0))[job.region]
        what = "pixels you changed in"
    else:
        full = np.asarray(layer.data)
        what = "labelled pixels in"
    scribbles = np.where(full[job.region] > 0, full[job.region], 0)
    n = int(np.count_nonzero(scribbles))
    only_erased = n == 0 and erased is not None and bool(erased.any())
    if n == 0 and not (only_erased and _refines(layer, records, job, method, params, channel_axis)):
        where = " on this slice" if job.partial else ""
        raise ValueError(
            f"no scribbles: no {what} {layer.name!r}{where}. Paint a few pixels of each "
            "region that is wrong with the label it should have, then press Refine."
        )
    # each method writes into a result of its own (named after it): the scribbles layer if it
    # is one, else the newest such result of this image, else a new layer
    mine = _written_by_widget(job, records, method)
    target = layer if mine(layer) else previous_result(viewer, job, preferred, match=mine)
    trec = record_of(records, target)
    model, note = warm_start(trec, method, params, channel_axis)
    if target is None and rec is not None and rec.state.method and rec.state.method != method:
        made = rec.state.method
        note = f"{layer.name!r} was made with {made}, not {method}" + (
            f"; choose {made} to refine it from its networks"
            if made in LEARNED_METHODS
            else f" ({made} has no networks to start from)"
        )
    plan = Plan(
        scribbles=scribbles,
        layer_name=layer.name,
        n_scribbled=n,
        target=target,
        init_model=model,
        note=note,
    )
    if model is not None:  # the result's labels are refined: each stroke means what it paints
        plan.labels = np.array(trec.state.base[job.region], copy=True)
        strokes = scribbles.astype(np.int64)
        if target is layer and erased is not None:
            strokes[erased] = ERASED
        # the result's output mode (an applied model's may differ from its training's)
        shown = target.metadata.get("params", {}).get("output") if target is not None else None
        plan.strokes, plan.output = strokes, shown or model.params.output
        plan.n_scribbled = int(np.count_nonzero(strokes))
    return plan


def _refines(layer, records, job, method, params, channel_axis) -> bool:
    """Whether ``layer`` is a result of ``method`` the widget wrote and can refine from its
    networks (so that erased pixels alone are corrections)."""
    if not _written_by_widget(job, records, method)(layer):
        return False
    return warm_start(record_of(records, layer), method, params, channel_axis)[0] is not None
