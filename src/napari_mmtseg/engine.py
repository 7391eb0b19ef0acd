"""The segmentation engine: ``iter_segment`` and ``segment``.

``iter_segment`` is a generator of :class:`Progress` events ending with the
:class:`SegmentationResult`; ``segment`` runs it to the end. The pipeline, slice by slice:
input -> memory check -> train (a learned method), apply a kept model, or run a classical
method -> output stage -> ids consistent through the stack. Plain Python + torch +
scikit-image; never imports Qt or napari.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch

from ._version import __version__
from .align import align_labels
from .classical import classical, fit_trainable, trainable
from .device import torch_threads
from .image import shape_mismatch
from .infer import frozen_labels, frozen_statistics, network_labels
from .memory import check_host_memory, check_memory, oom_guard
from .model import Model
from .output_stage import finish_labels, summarize_output
from .output_stage.classes import group_means
from .params import LEARNED_METHODS, SCRIBBLE_METHODS, check_learned
from .plan import RunPlan, grouped_channels, plan_run
from .refine_looks import alike_groups, split_alike
from .result import Progress, SegmentationResult, consecutive
from .stack import (
    StackIds,
    frozen_for_stack,
    scribbled_indices,
    stack_labeller,
    stack_training,
)
from .train import RunProgress, train_slice, train_view

__all__ = ["Progress", "SegmentationResult", "fit_model", "iter_segment", "segment"]

#: slices a slice-by-slice stack's ids are matched against (the one before weighs most)
RECENT = 4


def iter_segment(
    image,
    method: str | None = None,
    preset: str | None = None,
    seed: int = 0,
    channel_axis: int | None = None,
    device="auto",
    *,
    rgb: bool | None = None,
    scribbles=None,
    init_model: Model | None = None,
    keep_model: bool = False,
    model: Model | None = None,
    preview_every: int = 10,
    num_threads: int | None = None,
    axes: str | None = None,
    **overrides,
) -> Iterator[Progress | SegmentationResult]:
    """Segment an image step by step.

    Closing the generator (``gen.close()``, or dropping it) stops the run at the next step.

    Parameters
    ----------
    image : array_like
        As for :func:`segment`.
    method, preset, seed, channel_axis, device
        As for :func:`segment`.
    rgb : bool or None, optional
        Whether a last axis of 3 or 4 is colour (None: napari's guess).
    scribbles, init_model, keep_model, model
        As for :func:`segment`.
    preview_every : int, optional
        Every this many training steps one :class:`Progress` carries a ``preview`` label
        map of the current slice (0: never).
    num_threads : int or None, optional
        torch's CPU threads during the run (restored after).
    axes : str or None, optional
        One letter per axis of the image (``"ZYX"``, ``"TYX"``, ``"TZYXC"``: tifffile's and
        napari's codes): a stack axis lettered ``Z`` is depth, and ``output="regions"``
        joins regions across its slices in 3D. None: a 4D stack is (T, Z, Y, X), a 3D stack's
        slices are frames (regions per slice).
    **overrides
        Fields of :class:`~napari_mmtseg.params.Params`.

    Yields
    ------
    Progress or SegmentationResult
        :class:`Progress` events, then, last, the :class:`SegmentationResult`.
    """
    run = plan_run(
        image,
        method,
        preset,
        seed,
        channel_axis,
        device,
        rgb=rgb,
        scribbles=scribbles,
        init_model=init_model,
        model=model,
        preview_every=preview_every,
        overrides=overrides,
        axes=axes,
    )
    if keep_model and not run.trains and run.model is None:
        warnings.warn(
            f"keep_model: {run.method} trains no networks, so there is no model to keep "
            f"(result.model is None); a learned method ({', '.join(LEARNED_METHODS)}) keeps one.",
            UserWarning,
            stacklevel=3,
        )
    t0 = time.perf_counter()
    with torch_threads(num_threads):
        labels, infos = yield from _segment_slices(run)
        yield _result(run, labels, infos, time.perf_counter() - t0, keep_model, __version__)


def _segment_slices(run: RunPlan):
    """Every slice through the pipeline; yields Progress, returns (labels, infos)."""
    prep, p = run.prep, run.p
    n, (H, W) = prep.n_slices, prep.yx
    dev_name = run.device_name
    yield Progress(
        iteration=0,
        total=run.total,
        losses={},
        n_labels=0,
        n_slices=n,
        device=dev_name,
        message=f"{run.method} on {dev_name}",
    )
    if run.trains:  # first: its message says which train_size fits
        check_memory((H, W), p, run.method, run.device)
    check_host_memory(prep, run.method, p, run.device)
    if run.one_model:
        return (yield from _one_model_slices(run))
    out = np.empty((n, H, W), dtype=np.int32)
    top = -1
    infos = []
    order = list(range(n)) if run.scr is None else run.scr.slice_order(prep.layout, n)
    for done, i in enumerate(order):
        x = prep.slice(i)
        plane = (
            None if run.scr is None else run.scr.classes(run.scr.data[prep.layout.labels_index(i)])
        )
        fallback = _fallback(run)
        raw = yield from _raw_labels(run, x, i, done, plane, dev_name, fallback)
        lab, info = _output_stage(run, raw, x, plane, fallback)
        infos.append(info)
        lab = _slice_ids(run, lab, plane, out[max(0, i - RECENT) : i], top)
        _vote(run, raw, lab)
        out[i] = lab
        top = max(top, int(lab.max()))  # the highest id so far, without rescanning out
        if not run.trains:
            k = len(np.unique(lab))
            run.history.append({"slice": i, "iteration": 1, "n_labels": k})
            yield Progress(
                iteration=done + 1,
                total=run.total,
                losses={},
                n_labels=k,
                preview=lab.astype(np.int32) + 1 if run.preview_every else None,
                slice_index=i,
                n_slices=n,
                device=dev_name,
            )
    return _stack_labels(run, out), infos


def _one_model_slices(run: RunPlan):
    """A stack labelled by one model (or one classical fit); yields Progress, returns
    (labels, infos)."""
    prep, p = run.prep, run.p
    n = prep.n_slices
    label = yield from stack_labeller(run, _plane)
    out = np.empty((n, *prep.yx), dtype=np.int32)
    ids = StackIds(p.output, out, prep.stack_shape, run.z_stride)
    step0 = p.max_iter if run.trains else 0
    infos = []
    colours = _Colours() if _numbers_classes(run) and p.n_classes != "auto" else None
    # with n_classes, each slice keeps its channels; they are grouped once, over the stack
    n_classes = p.n_classes if colours is None else "auto"
    for i in range(n):  # every slice streamed: read, labelled, finished, dropped
        x = prep.slice(i)
        plane = _plane(run, i)
        fallback = _fallback(run)
        raw = label(x) if fallback is None else label(x, fallback)
        lab, info = _output_stage(run, raw, x, plane, fallback, n_classes)
        infos.append(info)
        if _ids_kept(run):
            out[i] = _slice_ids(run, lab, plane, (), -1)
        else:
            ids.add(i, lab, raw, n_classes == "auto")
            if colours is not None:
                colours.add(out[i], x)
        yield _slice_progress(run, i, out[i], step0)
    if _ids_kept(run):
        return _stack_labels(run, out), infos
    if colours is not None:
        infos = colours.group(run, out, p.n_classes, infos)
    run.channel_ids = _channel_ids(run, ids.out)
    return ids.labels(prep.spatial_shape), infos


def _slice_progress(run: RunPlan, i: int, lab: np.ndarray, step0: int) -> Progress:
    """The Progress of a stack's slice ``i`` labelled ``lab`` by its one model."""
    k = len(np.unique(lab))
    if not run.trains:
        run.history.append({"slice": i, "iteration": 1, "n_labels": k})
    return Progress(
        iteration=step0 + i + 1,
        total=run.total,
        losses={},
        n_labels=k,
        preview=lab + 1 if run.preview_every else None,
        slice_index=i,
        n_slices=run.prep.n_slices,
        device=run.device_name,
    )


class _Colours:
    """A stack's one model with ``n_classes``: each network channel's pixels and summed
    intensities over the stack, to group the channels once into ``n_classes`` classes by
    colour (each slice grouping them on its own gave a slice that grouped them otherwise
    another id, and the stack more classes than asked)."""

    def __init__(self):
        self.count = np.zeros(0)
        self.sums = np.zeros((0, 0))

    def add(self, channels: np.ndarray, x: np.ndarray) -> None:
        """Count one slice: ``channels`` (H, W) its network channels, ``x`` (C, H, W)."""
        flat = np.asarray(channels, np.int64).ravel()
        size = max(int(flat.max()) + 1, self.count.size)
        count = np.bincount(flat, minlength=size).astype(np.float64)
        sums = np.stack([np.bincount(flat, weights=c.ravel(), minlength=size) for c in x])
        self.count = np.pad(self.count, (0, size - self.count.size)) + count
        self.sums = np.pad(self.sums, ((0, sums.shape[0] - self.sums.shape[0]),
                                       (0, size - self.sums.shape[1]))) + sums  # fmt: skip

    def group(self, run: RunPlan, out: np.ndarray, n_classes: int, infos: list) -> list:
        """Give every channel of ``out`` (in place) its class's id (the class's most
        populous channel), set ``run.votes`` to match, and return ``infos`` saying so."""
        present = np.flatnonzero(self.count)
        means = (self.sums[:, present] / self.count[present]).T
        groups = group_means(means, self.count[present], int(n_classes))
        to = np.arange(self.count.size)
        for g in np.unique(groups):
            members = present[groups == g]
            to[members] = members[np.argmax(self.count[members])]
        out[...] = to[out]
        run.votes = {(int(c), int(to[c])): int(self.count[c]) for c in present}
        k = int(np.unique(groups).size)
        word = "class" if k == 1 else "classes"
        return [
            replace(
                i,
                why=f"{k} {word} over the stack, its channels grouped once by colour "
                f"(n_classes={n_classes}): {i.why}",
            )  # fmt: skip
            for i in infos
        ]


def _numbers_classes(run: RunPlan) -> bool:
    """Whether a run numbers classes its kept model can give again: a trained clusters run
    without scribbles on one image, or a stack's one model."""
    numbered = run.prep.n_slices == 1 or run.one_model
    return run.trains and run.scr is None and run.p.output == "clusters" and numbered


def _vote(run: RunPlan, raw: np.ndarray, lab: np.ndarray) -> None:
    """Count, for a run grouping its channels into ``n_classes`` classes, how many pixels of
    each network channel (``raw``) took each class id (``lab``, before the ids are
    numbered 1..K) in ``run.votes``."""
    if not (_numbers_classes(run) and run.p.n_classes != "auto"):
        return
    raw, lab = np.asarray(raw, np.int64).ravel(), np.asarray(lab, np.int64).ravel()
    width = int(lab.max()) + 1
    keys, counts = np.unique(raw * width + lab, return_counts=True)
    votes = run.votes if run.votes is not None else {}
    for key, n in zip(keys.tolist(), counts.tolist()):
        pair = divmod(key, width)  # (channel, class id)
        votes[pair] = votes.get(pair, 0) + n
    run.votes = votes


def _channel_ids(run: RunPlan, out: np.ndarray) -> list | None:
    """The output id of each network channel, for the kept model of a run that numbers its
    classes (:func:`_numbers_classes`): applying the model then gives the run's own class
    ids. With ``n_classes="auto"`` the classes carry the channels' ids before they are
    numbered 1..K; with ``n_classes`` set, each channel takes the class most of its pixels
    were given (``run.votes``), so the model groups its channels as the run did. None for
    any other run (its model gives channel + 1). Sets ``run.class_channels`` (the network
    channels among those classes) where it numbers them."""
    p = run.p
    if not _numbers_classes(run):
        return None
    if p.n_classes != "auto":
        return _grouped_channel_ids(run, out)
    present = np.unique(out)  # ascending: consecutive() numbers them 1..K in this order
    ids = np.zeros(max(p.q, int(present.max()) + 1), np.int64)
    absent = np.setdiff1d(np.arange(ids.size), present)
    ids[present] = np.arange(1, present.size + 1)
    ids[absent] = present.size + 1 + np.arange(absent.size)
    run.class_channels = present[present < p.q].tolist()  # the network's channels among them
    return ids.tolist()


def _winners(votes: dict) -> dict:
    """Network channel -> the class id most of its pixels were given (``run.votes``)."""
    best: dict = {}
    for (channel, value), n in votes.items():
        if n > best.get(channel, (0, 0))[0]:
            best[channel] = (n, value)
    return {c: v for c, (_, v) in best.items()}


def _grouped_channel_ids(run: RunPlan, out: np.ndarray) -> list | None:
    """:func:`_channel_ids` of a run with ``n_classes`` set: each network channel's id is
    that of the class most of its pixels took; channels no pixel took get ids above every
    class's, and are not among ``run.class_channels``."""
    if not run.votes:
        return None
    q = run.p.q
    values = np.unique(out)  # ascending: consecutive() numbers them 1..K in this order
    best = _winners(run.votes)
    ids = np.zeros(max(q, max(best) + 1), np.int64)
    voted = np.array(sorted(best), np.int64)
    ids[voted] = np.searchsorted(values, [best[c] for c in voted.tolist()]) + 1
    absent = np.setdiff1d(np.arange(ids.size), voted)
    ids[absent] = values.size + 1 + np.arange(absent.size)
    run.class_channels = voted[voted < q].tolist()
    return ids.tolist()


def _plane(run: RunPlan, i: int):
    """Slice ``i``'s scribble class plane, or None."""
    if run.scr is None:
        return None
    return run.scr.classes(run.scr.data[run.prep.layout.labels_index(i)])


def _fallback(run: RunPlan) -> np.ndarray | None:
    """For a kept model's classes applied with clusters output: an (H, W) map for the argmax
    over them, given to the pixels the output stage leaves in another channel (the stage
    itself sees every channel, as in the run that kept the model, so that run's image gets
    its labels back); None otherwise (the argmax is restricted before the stage)."""
    model, p = run.model, run.p
    if model is None or model.class_channels is None:
        return None
    if p.output != "clusters" or p.n_classes != "auto":
        return None
    return np.empty(run.prep.yx, np.int32)


def _raw_labels(run: RunPlan, x, i, done, plane, dev_name, fallback=None):
    """A method's cluster map of one slice (yields training Progress, returns the map)."""
    p, method = run.p, run.method
    if run.model is not None:  # inference alone
        with oom_guard(run.device, p, run.prep.yx):
            xt = torch.from_numpy(train_view(x, p.train_size))[None].to(run.device)
            net, teacher, classes = run.state.net, run.state.teacher, run.model.class_channels
            if run.model.frozen_bn is None:  # a model that keeps no statistics: the image's
                return network_labels(method, p, net, teacher, xt, x, run.device, classes, fallback)
            if run.applied is None:
                run.applied = run.model.frozen_networks(run.device, p.final_net)
            frozen, other = run.applied
            return frozen_labels(
                frozen, 0, xt, x, p.tile, run.device, other, p.infer_at, classes, fallback
            )
    if run.trains:
        where = RunProgress(
            run.preview_every,
            done * p.max_iter,
            run.total,
            i,
            run.prep.n_slices,
            run.history,
            dev_name,
        )
        raw = None
        with oom_guard(run.device, p, run.prep.yx):
            for ev in train_slice(
                method, x, p, run.state, where, seed=run.seed, device=run.device, scribble=plane
            ):
                if isinstance(ev, Progress):
                    yield ev
                else:
                    raw = ev
        return raw
    if method in SCRIBBLE_METHODS:  # one classifier from every scribbled slice
        if run.state.classifier is None:
            run.state.classifier = fit_trainable(_scribbled_slices(run), run.seed)
        return trainable(x, run.state.classifier)
    return classical(method, x, p, run.seed)


def _scribbled_slices(run: RunPlan):
    """(normalised slice, scribble plane) of every scribbled slice, in training order."""
    layout, data = run.prep.layout, run.scr.data
    for j in scribbled_indices(run.scr, layout, run.scr.slice_order(layout, run.prep.n_slices)):
        yield run.prep.slice(j), data[layout.labels_index(j)]


def _output_stage(run: RunPlan, raw, x, plane, fallback=None, n_classes=None):
    """The output stage on one slice's cluster map: (labels from 0, OutputInfo); pixels it
    leaves outside a kept model's classes take ``fallback`` (:func:`_fallback`);
    ``n_classes``: the stage's, if not the run's."""
    p = run.p
    n_classes = p.n_classes if n_classes is None else n_classes
    channels = run.state.scribble_channels
    keep_ids = (
        run.scr is not None or run.model is not None or run.one_model or run.prep.n_slices == 1
    ) and (p.output == "clusters")
    scribbled = None
    if plane is not None and channels is not None:  # network channel of each scribbled pixel
        scribbled = np.where(plane >= 0, np.asarray(channels)[np.maximum(plane, 0)], -1)
        # one look painted with several ids: split by place (each pixel: the nearest stroke)
        raw = split_alike(raw, scribbled, alike_groups(x, scribbled, raw))
    elif channels is not None and run.model is not None:
        # a kept model's scribble (or stroke) classes stay apart, but no pixel of this image
        # was scribbled: each region takes its majority class, not any scribble class it
        # touches (which gave a refined model's every region the stroke's class)
        scribbled = np.full(raw.shape, -1, np.int64)
    lab, info = finish_labels(
        raw,
        x,
        output=p.output,
        n_classes=n_classes,
        min_region_size=p.min_region_size,
        merge_threshold=p.merge_threshold,
        refine=p.refine,
        texture=p.texture_weight,
        colour=run.prep.rgb,
        line_width=p.line_width,
        keep_ids=keep_ids,
        keep_apart=channels if channels is not None else (),
        scribbled_pixels=scribbled,
        hierarchy=run.prep.n_slices == 1 and plane is None and run.model is None,
    )
    if fallback is not None:
        outside = ~np.isin(lab, run.model.class_channels)
        if outside.any():
            lab = np.where(outside, fallback, lab)
            moved = int(outside.sum())
            tail = f"; then {moved:,} pixels the stage left outside the model's classes took "
            info = _recounted(info, lab, "of the model's", tail + "the most likely of them")
    if run.model is not None and p.output == "clusters" and grouped_channels(run.model):
        n = run.model.params.n_classes  # the stage counted channels, grouped into n classes
        whose = (
            f"of the model's {n} (its network's channels grouped as in the run that kept it, "
            f"n_classes={n})"
        )
        info = _recounted(info, run.model.class_ids(lab), whose)
    return lab, info


def _recounted(info, lab: np.ndarray, whose: str, tail: str = ""):
    """``info`` with the classes and regions of ``lab`` (what a kept model made of the
    stage's labels), ``why`` saying ``"<K> classes <whose>: <the stage's reason><tail>"``."""
    from skimage.measure import label as connected

    n_classes = int(np.unique(lab).size)
    n_regions = int(connected(lab, background=-1, connectivity=1).max())
    rest = info.why.split(": ", 1)[-1]
    word = "class" if n_classes == 1 else "classes"
    why = f"{n_classes} {word} {whose}: {rest}{tail}"
    return replace(info, n_classes=n_classes, n_regions=n_regions, why=why)


def _slice_ids(run: RunPlan, lab, plane, recent, top):
    """A slice's output ids: scribble ids, a model's channel ids, or aligned to the
    ``recent`` slices' (the slice before weighs most)."""
    if run.scr is not None:  # the scribble classes' ids (channels mapped), not aligned
        learned = run.method in LEARNED_METHODS
        channels = run.state.scribble_channels if learned else None
        return run.scr.slice_ids(lab, plane, run.p.output, run.p.q, channels)
    if run.model is not None and run.p.output == "clusters":
        return run.model.class_ids(lab)  # one id per channel on every slice and image
    if len(recent):  # same id = same cluster through the stack; new clusters get unused ids
        return align_labels(recent[-1], lab, next_id=top + 1, earlier=recent[:-1])
    return lab


def _ids_kept(run: RunPlan) -> bool:
    """Whether the output ids are kept as they are (scribble ids, a model's channels)."""
    return run.scr is not None or (run.model is not None and run.p.output == "clusters")


def _stack_labels(run: RunPlan, out: np.ndarray) -> np.ndarray:
    """The whole image's labels in its spatial shape: ids 1..K, or kept ids."""
    if not _ids_kept(run):
        run.channel_ids = _channel_ids(run, out)
        return consecutive(out).reshape(run.prep.spatial_shape)
    return out.astype(np.min_scalar_type(int(out.max()))).reshape(run.prep.spatial_shape)


def _result(run: RunPlan, labels, infos, seconds, keep_model, version) -> SegmentationResult:
    """The run's :class:`SegmentationResult`."""
    whole = regions = None  # a stack's ids: counted once over the stack
    if len(infos) > 1:
        n = int(np.unique(labels[labels > 0]).size)
        whole, regions = (n, None) if run.p.output == "clusters" else (None, n)
    summary = summarize_output(infos, whole, regions)
    if run.scr is not None:
        summary["scribble_ids"] = run.scr.ids.tolist()
    if run.model is not None and run.p.output == "clusters":
        summary["model_channel_ids"] = True  # one id per network channel (Model.class_ids)
    if run.model is not None:
        summary["model"] = run.model.provenance(run.prep.range_given)
    kept = None
    if keep_model and run.model is not None:
        kept = run.model
    elif keep_model and run.trains:
        if run.prep.n_slices > 1 and not run.one_model:
            warnings.warn(
                "A model kept from a stack trained slice by slice (stack='per_slice') holds "
                "the last slice's networks, not one model of the stack: applied, its ids are "
                "its network channels' (channel + 1), not this run's. Keep a model from "
                "stack='one_model' to label other images with this run's classes.",
                UserWarning,
                stacklevel=4,
            )
        ids = None
        if run.scr is not None and run.state.scribble_channels is not None:
            ids = run.scr.ids_of_channels(run.p.q, run.state.scribble_channels)
        elif run.channel_ids is not None:
            ids = run.channel_ids
        classes = run.class_channels if ids is run.channel_ids else None
        kept = Model.from_state(
            run.method, run.p, run.prep, run.state, version, ids, classes, _frozen(run)
        )
    return SegmentationResult(
        labels=labels,
        method=run.method,
        preset=None if run.model is not None else run.preset,  # the model's training's
        params=run.p.to_dict(),
        seed=None if run.model is not None else run.seed,
        device=run.device_name,
        seconds=seconds,
        history=run.history,
        channel_axis=run.prep.channel_axis,
        version=version,
        output=summary,
        model=kept,
        hierarchy=infos[0].hierarchy if len(infos) == 1 else None,
    )


def _frozen(run: RunPlan) -> tuple | None:
    """What the run labelled with, for its kept model: a stack's one model recorded it
    (``run.frozen``); a single image's is its training view's; a stack trained slice by
    slice has none (each slice had its own)."""
    if run.frozen is not None or run.prep.n_slices > 1:
        return run.frozen
    with oom_guard(run.device, run.p, run.prep.yx):
        x = run.prep.slice(0)
        xt = torch.from_numpy(train_view(x, run.p.train_size))[None].to(run.device)
        return frozen_statistics(run.method, run.p, run.state.net, run.state.teacher, xt)


def segment(
    image,
    method: str | None = None,
    preset: str | None = None,
    seed: int = 0,
    channel_axis: int | None = None,
    device="auto",
    **overrides,
) -> SegmentationResult:
    """Segment an image without supervision.

    Parameters
    ----------
    image : array_like
        2D grey (Y, X), RGB(A) (Y, X, 3|4), multichannel with ``channel_axis``, or a stack
        (Z|T, Y, X) / (T, Z, Y, X) whose 2D slices are segmented one by one with ids kept
        consistent across slices. Any numeric dtype (8-bit: divided by 255; others:
        stretched between their 0.5th and 99.5th percentiles per channel); numpy, dask or
        zarr.
    method : str, optional
        ``"mmt"`` (the paper, the default), ``"kim2020"``, ``"kanezaki2018"`` (the learned
        methods), ``"kmeans"``, ``"felzenszwalb"``, ``"multiotsu"``, or ``"trainable"``
        (needs ``scribbles``). With ``model``: the model's (leave it out).
    preset : str, optional
        ``"paper"`` (q=100, M=3, T=1000, alpha=0.999, SGD lr 0.1 momentum 0.9) or
        ``"fast"`` (for CPUs); None picks ``"paper"`` on a GPU and ``"fast"`` on a CPU.
    seed : int, optional
        Seeds the networks' weights, the input noise and k-means.
    channel_axis : int, optional
        The channel axis of a multichannel image (RGB is recognised without it).
    device : str or torch.device, optional
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    **overrides
        Any field of :class:`~napari_mmtseg.params.Params` (e.g. ``max_iter=200, beta=2,
        n_classes=3, output="clusters"``), and the keywords of :func:`iter_segment`:
        ``scribbles`` (a label image of the image's spatial shape, 0 = not scribbled, any
        id > 0 = a class, Kim et al. 2020 eq. 6: the result keeps those ids),
        ``keep_model`` (return the trained :class:`~napari_mmtseg.model.Model` in
        ``result.model``), ``init_model`` (a Model: start training from it, a refinement),
        ``model`` (a Model: label the image with it by inference alone, no training; with
        ``output="clusters"`` each network channel has one id on every image), ``rgb``,
        ``num_threads``.

    Returns
    -------
    SegmentationResult
        The labels (the image's spatial shape, ids from 1) and what produced them.

    Raises
    ------
    ValueError
        For an unknown method, bad parameters, bad scribbles, an image that cannot be
        segmented, a device that is not there, or a model whose channel count differs from
        the image's.
    TypeError
        For a non-integer seed, or a ``model`` / ``init_model`` that is not a Model.
    MemoryError
        When the run cannot fit, with what to reduce.
    """
    result = None
    for ev in iter_segment(
        image, method, preset, seed, channel_axis, device, preview_every=0, **overrides
    ):
        result = ev
    return result


def fit_model(
    image,
    method: str | None = None,
    preset: str | None = None,
    seed: int = 0,
    channel_axis: int | None = None,
    device="auto",
    *,
    num_threads: int | None = None,
    axes: str | None = None,
    **overrides,
) -> Model:
    """Train a model on an image or a stack without labelling it.

    The model is the one ``segment(image, ..., keep_model=True).model`` returns, weight for
    weight (on a GPU, as far as its kernels are deterministic); a stack's clusters model
    has no ``channel_ids`` (nothing was labelled to number), so it gives channel + 1. A
    stack trained as one model (``Params.stack="one_model"``, the default) stops after its
    training: its slices are not labelled, so training on N fields of a plate to apply the
    model to all of them costs N fewer labellings. A single image, a stack trained slice by
    slice, scribbles, or clusters output with ``n_classes`` set (whose grouping of the
    network channels into classes the model learns from labelling the stack) are
    segmented as by :func:`segment` and the model kept.

    Parameters
    ----------
    image : array_like
        As for :func:`segment`.
    method : str, optional
        A learned method: ``"mmt"`` (the default), ``"kim2020"`` or ``"kanezaki2018"``.
    preset, seed, channel_axis, device
        As for :func:`segment`.
    num_threads : int or None, optional
        torch's CPU threads during the training (restored after).
    axes : str or None, optional
        As for :func:`iter_segment`.
    **overrides
        Fields of :class:`~napari_mmtseg.params.Params`, and ``rgb``, ``scribbles`` and
        ``init_model`` as for :func:`segment` (with scribbles the stack is labelled too).

    Returns
    -------
    Model
        The trained model (:meth:`Model.save`, ``segment(other, model=...)``).

    Raises
    ------
    ValueError
        For a method that trains no model, a ``model`` to apply (``init_model`` starts the
        training from one), a list of images of different shapes, or an image or
        parameters :func:`segment` refuses.
    TypeError
        For what :func:`segment` refuses with a TypeError (a non-integer seed, an unknown
        parameter, an ``init_model`` that is not a Model).
    MemoryError
        When the training cannot fit, with what to reduce.
    """
    if method is not None:
        check_learned(method)
    if overrides.pop("model", None) is not None:
        raise ValueError(
            "fit_model trains a model; model= applies one without training (use init_model= "
            "to start the training from a model)"
        )
    mismatch = shape_mismatch(image)
    if mismatch is not None:  # numpy's own words name no image
        i, shape, first = mismatch
        raise ValueError(
            f"one model is trained on images of one shape: image {i} is {shape}, image 0 is "
            f"{first}. Crop them to one shape (the model then labels images of any size)."
        )
    overrides.pop("keep_model", None)  # always kept
    overrides.pop("preview_every", None)  # no previews: nothing is labelled
    given = {k: overrides.pop(k, None) for k in ("rgb", "scribbles", "init_model")}
    run = plan_run(
        image, method, preset, seed, channel_axis, device, preview_every=0,
        overrides=overrides, axes=axes, model=None, **given,
    )  # fmt: skip
    grouped = run.p.output == "clusters" and run.p.n_classes != "auto"
    with torch_threads(num_threads):
        if not (run.trains and run.one_model) or run.scr is not None or grouped:
            # labelled as segment labels it (with n_classes, to learn the channels' grouping)
            labels, infos = _drain(_segment_slices(run))
            return _result(run, labels, infos, 0.0, True, __version__).model
        # only the training: its memory check, and the host's without the stack's labels,
        # which are never made here (the training pool holds at most train.stack.POOL_BYTES;
        # each step reads one full slice)
        check_host_memory(run.prep, run.method, run.p, run.device, labelled=False)
        check_memory(run.prep.yx, run.p, run.method, run.device)
        pool = _drain(stack_training(run, _plane))
        frozen_for_stack(run, pool)  # the statistics a labelling run would keep
    return Model.from_state(run.method, run.p, run.prep, run.state, __version__, frozen=run.frozen)


def _drain(gen):
    """Run a generator to its end; its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
