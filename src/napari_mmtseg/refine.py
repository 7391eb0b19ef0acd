"""Refine a result from a user's brush strokes, keeping what no stroke concerns.

What a stroke means, as napari users paint a label layer:

- painted with the id of an existing region R: "these pixels belong to R";
- painted with an id the result does not have: "a new object here";
- erased (:data:`ERASED` in ``strokes``: napari's eraser on the result): "not this region".

The networks of the result (its kept :class:`~napari_mmtseg.model.Model`) learn from the
strokes, warm-started, and stop early: each stroke is a scribble (Kim et al. 2020, eq. 6)
of the class of the region it names (the region's majority network channel under the kept
model), a new id of a free channel, an erased pixel of the class of the nearest other
region. The labels are then rebuilt in the result's output mode (:func:`rebuild`):
regions that no stroke touched and whose class did not change keep their ids and shapes;
stroked pixels take their stroke's id; the rest (the stroked regions, and those whose
class the learning changed: the look-alikes a correction travels to) is relabelled from
the networks' new classes, joining an adjacent kept region of its class or getting an id
of its own. No Qt, no napari.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch

from ._version import __version__
from .device import describe_device, resolve_device, torch_threads
from .image import prepare_image
from .infer import frozen_labels, frozen_statistics, network_labels
from .model import Model
from .output_stage import finish_labels
from .params import LEARNED_METHODS, check_fields
from .params_check import check_params
from .refine_ids import (
    TAKEN_OVER,
    channel_ids,
    class_of_regions,
    eraser_strokes,
    reach_of,
    rebuild,
    stroke_classes,
    stroked_regions,
    taken_over_counts,
)
from .refine_looks import (
    alike_groups,
    inner_pixels,
    local_features,
    split_alike,
    stroke_looks,
)
from .refine_regions import join_made_up_along_z, split_apart_ids, unique_fresh_ids
from .result import Progress, SegmentationResult
from .stack import depth_stride
from .train import RunProgress, train_slice, train_view, warm_state

__all__ = [
    "ERASED",
    "MAX_ID",
    "REFINE_SCRIBBLE_WEIGHT",
    "REFINE_STOP",
    "iter_refine",
    "refine",
    "rebuild",
]

#: the largest id of labels and strokes (the refined labels are int32)
MAX_ID = np.iinfo(np.int32).max
#: the value of an erased pixel in ``strokes`` ("not this region")
ERASED = -1

#: the early stop of a refine: at least ``min_steps`` steps, then stop once fewer than
#: ``tol`` of the pixels changed label for ``patience`` steps in a row, at most ``max_iter``
#: (the measured choice: docs/benchmarks.md, refine)
REFINE_STOP = {"min_steps": 6, "patience": 2, "tol": 0.03, "max_iter": 60}

#: the scribble term's weight in a refine (unless given): the strokes are the point of it,
#: and a heavier weight honours them in fewer steps (docs/benchmarks.md, refine)
REFINE_SCRIBBLE_WEIGHT = 4.0


def refine(image, labels, strokes, model: Model, **kwargs) -> SegmentationResult:
    """Refine ``labels`` (a result of ``model``) from the user's ``strokes``.

    Parameters
    ----------
    image : array_like
        The image the result was made from (as for :func:`napari_mmtseg.segment`).
    labels : array_like of int
        The result's labels (the image's spatial shape), as the run left them.
    strokes : array_like of int
        ``labels``' shape: 0 = no stroke, > 0 = painted with that id, :data:`ERASED` = erased.
    model : Model
        The result's kept networks (``keep_model=True``).
    **kwargs
        As for :func:`iter_refine`.

    Returns
    -------
    SegmentationResult
        The refined labels (``output`` kept) and the refined networks in ``model``.
    """
    result = None
    for ev in iter_refine(image, labels, strokes, model, preview_every=0, **kwargs):
        result = ev
    return result


def _check(labels, strokes, spatial_shape) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` and ``strokes`` as int64 arrays, checked against the image."""
    labels, strokes = np.asarray(labels), np.asarray(strokes)
    for name, arr in (("labels", labels), ("strokes", strokes)):
        if arr.shape != tuple(spatial_shape):
            raise ValueError(
                f"The {name}' shape {arr.shape} differs from the image's spatial shape "
                f"{tuple(spatial_shape)}."
            )
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"The {name} must be integers, not {arr.dtype}.")
    if strokes.size and strokes.min() < ERASED:
        raise ValueError(f"Stroke values must be >= {ERASED} ({ERASED} = erased, 0 = none).")
    if labels.size and labels.min() < 0:
        raise ValueError(f"Label ids must be >= 0 (0 = unlabelled), not {labels.min()}.")
    for name, arr in (("label", labels), ("stroke", strokes)):
        if arr.size and arr.max() > MAX_ID:
            raise ValueError(
                f"A {name} id of {arr.max()} is larger than {MAX_ID}, the largest id of the "
                "refined labels (int32): renumber the labels first, e.g. with "
                "skimage.segmentation.relabel_sequential."
            )
    if not (strokes != 0).any():
        raise ValueError("No strokes: paint or erase a few pixels of what is wrong.")
    return labels.astype(np.int64), strokes.astype(np.int64)


def iter_refine(
    image,
    labels,
    strokes,
    model: Model,
    *,
    output: str | None = None,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    device="auto",
    seed: int = 0,
    preset: str | None = None,
    preview_every: int = 10,
    num_threads: int | None = None,
    stop: dict | None = None,
    within=None,
    axes: str | None = None,
    **overrides,
) -> Iterator[Progress | SegmentationResult]:
    """Refine step by step: :class:`Progress` events, then the :class:`SegmentationResult`.

    Closing the generator stops it at the next step (as :func:`napari_mmtseg.iter_segment`).

    Parameters
    ----------
    image, labels, strokes, model
        As for :func:`refine`.
    output : str, optional
        ``"regions"`` or ``"clusters"``; None: the model's (the result's output mode).
        Regions asked of a model kept with clusters output: every id is one connected
        region (an id left in pieces gives each piece apart an id of its own).
    channel_axis, rgb, device, seed, preview_every, num_threads
        As for :func:`napari_mmtseg.iter_segment` (``seed``: the input noise where the
        model kept none).
    preset : str, optional
        Recorded in the result (the refine's own settings are :data:`REFINE_STOP`).
    stop : dict, optional
        Overrides of :data:`REFINE_STOP`.
    within : array_like of bool, optional
        ``labels``' shape: how far the correction may reach. Only the stroked regions and
        regions with a pixel in it may change (None: anywhere, for the regions that look
        like the strokes).
    axes : str, optional
        As for :func:`napari_mmtseg.iter_segment`: with ``output="regions"``, the new
        objects a refine makes on neighbouring slices along a ``Z`` axis that overlap are one
        object (the id of a new object painted there, if one is), as a run joins regions
        in 3D, and an id left in pieces that do not touch in 3D gives each piece apart an
        id of its own. None: a 4D stack is (T, Z, Y, X), a 3D stack's slices are frames.
    **overrides
        Output-stage fields of :class:`~napari_mmtseg.params.Params`.

    Yields
    ------
    Progress or SegmentationResult
        Progress events, then the result.

    Raises
    ------
    ValueError
        For shapes that differ (``within``'s too), no strokes, a negative label id, an id
        over :data:`MAX_ID`, an unknown ``output``, or a model that does not fit the image.
    TypeError
        For a model that is not a learned method's, or labels or strokes not integer.
    """
    own = inspect.signature(iter_refine).parameters.values()
    check_fields(overrides, [p.name for p in own if p.kind is p.KEYWORD_ONLY])
    t0 = time.perf_counter()
    prep, labels, strokes, p = _setup(image, labels, strokes, model, output, channel_axis, rgb)
    z = depth_stride(prep, axes)  # ValueError for axes that do not fit the image
    if within is not None and np.shape(within) != labels.shape:
        raise ValueError(
            f"within's shape {np.shape(within)} differs from the labels' {labels.shape}."
        )
    p = replace(p, **{"scribble_weight": REFINE_SCRIBBLE_WEIGHT, **overrides})
    check_params(p)  # an unknown output, a negative min_region_size, ... before training
    rule = {**REFINE_STOP, **(stop or {})}
    dev = resolve_device(device)
    name = describe_device(dev)
    history: list = []
    with torch_threads(num_threads):
        out, stroked, kept = yield from _learn_and_rebuild(
            model, p, prep, dev, (labels, strokes, within), (rule, seed, preview_every), history
        )
    if z is not None and p.output == "regions":
        index = [prep.layout.labels_index(i) for i in range(prep.n_slices)]
        new_ids = stroked.info.get("new_ids", [])
        join_made_up_along_z(out, labels, strokes, index, prep.stack_shape, z, new_ids)
    if p.output == "regions" and (z is not None or p.output != model.params.output):
        # a Z stack's regions are connected in 3D, and classes refined into regions are
        # regions: one connected region per id, as a run gives
        split_apart_ids(out, strokes, prep.stack_shape, z)
    yield SegmentationResult(
        labels=out.astype(np.int32),
        method=model.method,
        preset=preset or "refine",
        params=p.to_dict(),
        seed=seed,
        device=name,
        seconds=time.perf_counter() - t0,
        history=history,
        channel_axis=prep.channel_axis,
        version=__version__,
        output={"refine": {**stroked.info, "steps": len(history)}},
        model=kept,
    )


def _learn_and_rebuild(model, p, prep, dev, given, how, history):
    """Train from the strokes (yields Progress), then rebuild the labels.

    Returns the rebuilt labels, the strokes' classes and the refined :class:`Model`.
    """
    labels, strokes, _ = given
    rule, seed, preview_every = how
    state = warm_state(model, p, dev)
    index = [prep.layout.labels_index(i) for i in range(prep.n_slices)]
    ctx = (model.method, p, state, dev, prep, index)
    kept = None if model.frozen_bn is None else model.frozen_networks(dev, p.final_net)
    stroked, before, scribbled = yield from _learn(
        ctx, labels, strokes, rule, seed, preview_every, history, kept
    )
    out = _rebuild_all(ctx, scribbled, stroked, before, given)
    ids = model.channel_ids  # a clusters model's ids stay; a new id names its channel
    if p.output == "clusters":
        ids = list(range(1, p.q + 1)) if ids is None else list(ids)  # None: channel + 1
        for sid, ch in zip(stroked.sids.tolist(), stroked.sid_chans.tolist()):
            if sid in stroked.info["new_ids"] and ch < len(ids):
                ids = [max(ids) + 1 if i == sid else i for i in ids]  # no id twice
                ids[ch] = sid
    classes = model.class_channels  # the run's classes, and the strokes' channels
    if classes is not None:
        classes = sorted(set(classes) | {c for c in stroked.sid_chans.tolist() if c < p.q})
    frozen = None  # a stack's refine labels slice by slice: no one set of statistics
    if prep.n_slices == 1:
        xt = torch.from_numpy(train_view(prep.slice(0), p.train_size))[None].to(dev)
        frozen = frozen_statistics(model.method, p, state.net, state.teacher, xt)
    model = Model.from_state(model.method, p, prep, state, __version__, ids, classes, frozen)
    return out, stroked, model


def _setup(image, labels, strokes, model, output, channel_axis, rgb):
    """The checked inputs: the prepared image, labels and strokes, the model's params."""
    if not isinstance(model, Model) or model.method not in LEARNED_METHODS:
        raise TypeError("model must be the kept Model of a learned method's result.")
    prep = prepare_image(image, channel_axis=channel_axis, rgb=rgb)
    model.check_fits(prep.n_channels)
    model.normalise(prep)  # the labels were made with its intensity range
    labels, strokes = _check(labels, strokes, prep.spatial_shape)
    strokes = eraser_strokes(labels, strokes)
    return prep, labels, strokes, replace(model.params, output=output or model.params.output)


def _learn(ctx, labels, strokes, rule, seed, preview_every, history, kept=None):
    """The strokes' classes, then training on every slice with strokes (yields Progress);
    returns (StrokeClasses, the channel map before, the slices with strokes)."""
    method, p, state, dev, prep, index = ctx
    n = prep.n_slices
    before = _before(method, p, state, dev, prep, index, labels.shape, kept)
    stroked = stroke_classes(labels, strokes, class_of_regions(labels, before, p.q))
    if not stroked.chans.size:  # only erased pixels, with no other region to give them to
        raise ValueError(
            "The strokes name nothing to learn: the pixels were erased from the only region "
            "there is. Paint a new label where another object should be."
        )
    state.scribble_channels = stroked.chans
    state.n_scribble_classes = int(stroked.chans.size)
    scribbled = [i for i in range(n) if (strokes[index[i]] != 0).any()]
    total = len(scribbled) * rule["max_iter"]
    name = describe_device(dev)
    yield Progress(0, total, {}, 0, n_slices=n, device=name, message=f"refine on {name}")
    for k, i in enumerate(scribbled):
        where = RunProgress(preview_every, k * rule["max_iter"], total, i, n, history, name)
        plane = stroked.plane[index[i]]
        yield from _train(method, prep.slice(i), p, state, plane, where, seed, dev, rule)
    return stroked, before, scribbled


def _before(method, p, state, dev, prep, index, shape, kept=None) -> np.ndarray:
    """The channel map of every slice before training, from the training view: the regions'
    classes are judged there, before and after (cheap, and the same view both times). With
    ``kept`` (the model's frozen networks and teachers' alignment), the statistics the
    labels were made with, as the model labels any image."""
    before = np.zeros(shape, np.int64)
    for i, j in enumerate(index):
        x = prep.slice(i)
        if kept is None:
            before[j] = _channels(method, replace(p, infer_at="train"), state, x, dev)
        else:
            xt = torch.from_numpy(train_view(x, p.train_size))[None].to(dev)
            before[j] = frozen_labels(kept[0], 0, xt, x, p.tile, dev, kept[1], "train")
    return before


def _rebuild_all(ctx, scribbled, stroked, before, given):
    """Every slice's refined labels; ``given``: (labels, strokes, within) of the refine."""
    method, p, state, dev, prep, index = ctx
    labels, strokes, within = given
    out = labels.copy()
    keep_out = None
    if within is not None:  # regions wholly outside ``within`` (and unstroked) stay
        within = np.broadcast_to(np.asarray(within, bool), labels.shape)
        keep_out = np.setdiff1d(np.unique(labels), np.unique(labels[within | (strokes != 0)]))
    target = stroked.target()
    feats = {i: local_features(prep.slice(i)) for i in scribbled}
    by_region = None
    if p.output == "clusters":
        # a class spans the image, so no region size bounds how far a correction travels:
        # the strokes' looks must be those of the regions they cross, not of their blend
        by_region = (
            np.concatenate([labels[index[i]].ravel() for i in scribbled]),
            np.concatenate([inner_pixels(labels[index[i]]).ravel() for i in scribbled]),
        )
    looks = stroke_looks(
        np.concatenate([feats[i].reshape(feats[i].shape[0], -1) for i in scribbled], 1),
        np.concatenate([target[index[i]].ravel() for i in scribbled]),
        *(by_region or ()),
    )
    # on a slice with strokes the user saw the regions larger than any they corrected and
    # left them: those stay; a slice nobody painted says nothing of the kind
    reach = max(reach_of(labels[index[i]], strokes[index[i]]) for i in scribbled)
    top = int(max(labels.max(), strokes.max()))
    slices = [
        (i, j, feats.get(i), reach if i in feats else labels[j].size) for i, j in enumerate(index)
    ]
    changed = ids = None
    responses: dict = {}
    if p.output == "clusters" and len(index) > 1:
        # an id is one class on every slice: it changes on all of them or on none (its
        # share taken over counted over the stack), and each channel takes one id, the same
        # on every slice
        changed, responses, classes = _stack_changes(
            ctx, stroked, labels, strokes, before, looks, slices
        )
        ids = channel_ids(classes, set(changed.tolist()), stroked, p.q, top, stack=True)
    for i, j, f, limit in slices:
        if i in responses:
            after, clean = responses.pop(i)
        else:
            after, clean = _responses(ctx, stroked, prep.slice(i), target[j])
        f = local_features(prep.slice(i)) if f is None else f
        rebuilt = rebuild(
            labels[j], strokes[j], before[j], after, clean, p.q, p.output, stroked, looks, f,
            limit, changed, ids,
        )  # fmt: skip
        if p.output == "regions" and len(index) > 1:  # no id of one slice's making twice
            top = unique_fresh_ids(rebuilt, labels[j], strokes[j], top)
        out[j] = rebuilt
        if keep_out is not None:
            out[j] = np.where(np.isin(labels[j], keep_out), labels[j], out[j])
    return out


def _stack_changes(ctx, stroked, labels, strokes, before, looks, slices):
    """The ids a clusters stack's refine changes, decided over all its slices: those the
    strokes correct on any slice, and those whose pixels the networks take over, counted
    over the stack (:func:`~napari_mmtseg.refine_ids.taken_over_counts`); each slice's
    (after, clean) channel maps, computed once and kept in the smallest integer type that
    holds a channel (the local features, cheap, are computed again: a long stack's would
    not fit); and each slice's regions' classes."""
    _, p, _, _, prep, _ = ctx
    target = stroked.target()
    took: dict = {}
    total: dict = {}
    found = [np.zeros(0, np.int64)]
    responses = {}
    per_slice = []
    for i, j, f, limit in slices:
        x = prep.slice(i)
        after, clean = _responses(ctx, stroked, x, target[j])
        f = local_features(x) if f is None else f
        small = np.min_scalar_type(p.q)
        responses[i] = after.astype(small), clean.astype(small)
        classes = class_of_regions(labels[j], before[j], p.q)
        per_slice.append(classes)
        ids, t, n = taken_over_counts(labels[j], after, classes, looks, f, limit)
        for rid, a, b in zip(ids.tolist(), t.tolist(), n.tolist()):
            took[rid], total[rid] = took.get(rid, 0.0) + a, total.get(rid, 0) + b
        found.append(stroked_regions(labels[j], strokes[j]))
    taken = [rid for rid in total if took[rid] > TAKEN_OVER * total[rid]]
    changed = np.union1d(np.concatenate(found), np.asarray(taken, np.int64))
    return changed, responses, per_slice


def _responses(ctx, stroked, x, target):
    """The refined networks' channels of slice ``x`` and their cleaned map, one look painted
    with several ids split by place (each pixel of it takes the nearest stroke's class);
    ``target``: the slice's stroke channels."""
    method, p, state, dev, _, _ = ctx
    after = _channels(method, replace(p, infer_at="train"), state, x, dev)
    clean = _clean(_channels(method, p, state, x, dev), x, p, state.scribble_channels)
    return after, split_alike(clean, target, alike_groups(x, target))


def _channels(method, p, state, x, device) -> np.ndarray:
    """The networks' channel map of slice ``x`` (C, H, W) now, (H, W) int."""
    xt = torch.from_numpy(train_view(x, p.train_size))[None].to(device)
    with torch.no_grad():
        return network_labels(method, p, state.net, state.teacher, xt, x, device)


def _clean(channels, x, p, scribble_channels) -> np.ndarray:
    """The channel map cleaned by the output stage (classes keep their channel ids).

    The strokes' channels never merge with each other, and each region of the stage takes
    the channel most of its pixels have: a few pixels of a stroke's channel inside a region
    the networks left in another channel (a speck in the background) do not give the whole
    region the stroke's class.
    """
    none = np.full(channels.shape, -1, np.int64)  # no region takes a stroke's class unasked
    lab, _ = finish_labels(
        channels,
        x,
        output="clusters",
        min_region_size=p.min_region_size,
        merge_threshold=p.merge_threshold,
        refine=p.refine,
        texture=p.texture_weight,
        line_width=p.line_width,
        keep_ids=True,
        keep_apart=() if scribble_channels is None else scribble_channels,
        scribbled_pixels=none,
    )
    return lab


def _train(method, x, p, state, plane, where, seed, device, rule):
    """Train on one slice from its strokes (``plane``: class index, -1 none), stop early."""
    gen = train_slice(
        method,
        x,
        replace(p, max_iter=rule["max_iter"], tol=0.0),
        state,
        where,
        seed=seed,
        device=device,
        scribble=plane,
    )
    calm = 0
    try:
        for steps, ev in enumerate(gen, 1):
            if not isinstance(ev, Progress):
                return
            yield ev
            calm = calm + 1 if where.history[-1].get("changed", 1.0) < rule["tol"] else 0
            if steps >= rule["min_steps"] and calm >= rule["patience"]:
                return
    finally:
        gen.close()
