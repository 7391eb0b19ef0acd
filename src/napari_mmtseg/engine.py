"""The segmentation engine: ``iter_segment`` and ``segment``.

``iter_segment`` is a generator of :class:`Progress` events ending with the
:class:`SegmentationResult`; ``segment`` runs it to the end. The pipeline, slice by slice:
input -> memory check -> train (a learned method), apply a kept model, or run a classical
method -> output stage -> ids consistent through the stack. Plain Python + torch +
scikit-image; never imports Qt or napari.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
import torch

from ._input import PreparedImage, prepare_image
from .align import align_labels
from .classical import classical, fit_trainable, trainable
from .device import describe_device, resolve_device
from .infer import network_labels
from .memory import check_host_memory, check_memory, oom_guard
from .model import Model
from .params import LEARNED_METHODS, METHODS, SCRIBBLE_METHODS, Params, default_preset, make_params
from .regions import finish_labels, summarize_output
from .result import Progress, SegmentationResult, consecutive
from .scribbles import Scribbles, prepare_scribbles
from .train import RunProgress, TrainState, train_slice, train_view

__all__ = ["Progress", "SegmentationResult", "iter_segment", "segment"]


@dataclass
class _Run:
    """One run: its fixed inputs, its training state and its step records."""

    method: str
    preset: str
    p: Params
    prep: PreparedImage
    scr: Scribbles | None
    state: TrainState
    device: torch.device
    seed: int
    preview_every: int
    model: Model | None
    device_name: str = ""
    history: list = field(default_factory=list)

    @property
    def trains(self) -> bool:
        """A learned method that trains (not a kept model applied)."""
        return self.method in LEARNED_METHODS and self.model is None

    @property
    def total(self) -> int:
        """Steps the run takes at most."""
        return self.prep.n_slices * (self.p.max_iter if self.trains else 1)


def iter_segment(image, method: str | None = None, preset: str | None = None, seed: int = 0,
                 channel_axis: int | None = None, device="auto", *, rgb: bool | None = None,
                 scribbles=None, init_model: Model | None = None, keep_model: bool = False,
                 model: Model | None = None, preview_every: int = 10,
                 num_threads: int | None = None,
                 **overrides) -> Iterator[Progress | SegmentationResult]:  # fmt: skip
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
    **overrides
        Fields of :class:`~napari_mmtseg.params.Params`.

    Yields
    ------
    Progress or SegmentationResult
        :class:`Progress` events, then, last, the :class:`SegmentationResult`.
    """
    from . import __version__

    run = _plan(image, method, preset, seed, channel_axis, device, rgb, scribbles, init_model,
                model, preview_every, overrides)  # fmt: skip
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    try:
        labels, infos = yield from _segment_slices(run)
        yield _result(run, labels, infos, time.perf_counter() - t0, keep_model, __version__)
    finally:
        if num_threads:
            torch.set_num_threads(old_threads)


def _plan(image, method, preset, seed, channel_axis, device, rgb, scribbles, init_model, model,
          preview_every, overrides) -> _Run:  # fmt: skip
    """Check the arguments and set up the run (raises before any work)."""
    if model is not None:
        method = _model_method(model, method, init_model)
    method = "mmt" if method is None else method
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    dev = resolve_device(device)
    if preset is None:
        preset = default_preset(dev.type)
    p = make_params(method, preset, **overrides) if model is None else _model_params(
        model, preset, overrides)  # fmt: skip
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    prep = prepare_image(image, channel_axis=channel_axis, rgb=rgb)
    if model is not None:
        model.check_fits(prep.n_channels)
        if scribbles is not None:
            raise ValueError("A model is applied without training, so scribbles cannot "
                             "steer it: pass init_model= to refine it with scribbles.")  # fmt: skip
    p, scr = _with_scribbles(method, p, prep, scribbles, init_model, overrides)
    if init_model is not None:
        state = _warm_state(init_model, method, p, prep, dev)
    elif model is not None:
        net, teacher = model.networks(dev)
        state = TrainState(net=net, teacher=teacher)
    else:
        state = TrainState()
    if scr is not None:
        state.n_scribble_classes = scr.n_classes
    return _Run(method, preset, p, prep, scr, state, dev, int(seed), preview_every, model,
                describe_device(dev))


def _with_scribbles(method, p, prep, scribbles, init_model, overrides):
    """The run's scribbles, checked, and the parameters they imply."""
    learned = method in LEARNED_METHODS
    scr = prepare_scribbles(scribbles, prep.spatial_shape,
                            p.q if learned and init_model is not None else None)  # fmt: skip
    if scr is not None and learned and scr.n_classes >= p.q:  # one channel per class, and room
        p = replace(p, q=scr.n_classes + 1)
    if scr is None and method in SCRIBBLE_METHODS:
        raise ValueError(f"{method!r} learns from scribbles: pass scribbles (a label image, "
                         "0 = not scribbled).")  # fmt: skip
    if scr is not None:
        if not learned and method not in SCRIBBLE_METHODS:
            raise ValueError(f"Scribbles need a learned method ({', '.join(LEARNED_METHODS)}) "
                             f"or {', '.join(SCRIBBLE_METHODS)}, not {method!r}.")  # fmt: skip
        if p.n_classes != "auto":
            raise ValueError("n_classes cannot be combined with scribbles: the scribble classes "
                             "(and the clusters the networks keep besides them) are the classes.")  # fmt: skip
        if "output" not in overrides:  # scribble ids are classes
            p = replace(p, output="clusters")
    return p, scr


def _model_method(model, method, init_model) -> str:
    """The method of a run that applies ``model``; refuses what does not go with it."""
    if not isinstance(model, Model):
        raise TypeError("model must be a napari_mmtseg Model (a result's .model made with "
                        "keep_model=True, or napari_mmtseg.load_model(path)).")  # fmt: skip
    if init_model is not None:
        raise ValueError("Pass model= (apply, no training) or init_model= (train from it), "
                         "not both.")  # fmt: skip
    if method is not None and method != model.method:
        raise ValueError(f"The model was trained with {model.method!r}, not {method!r}: "
                         "leave method out when applying a model.")  # fmt: skip
    return model.method


def _model_params(model: Model, preset: str, overrides: dict) -> Params:
    """The model's parameters with the caller's overrides of what applying may change."""
    fixed = [k for k in ("q", "n_conv", "padding")
             if k in overrides and overrides[k] != getattr(model.params, k)]  # fmt: skip
    if fixed:
        raise ValueError(f"{', '.join(fixed)} define the model's networks and cannot change "
                         "when it is applied.")  # fmt: skip
    p = make_params(model.method, preset, **{**model.params.to_dict(), **overrides})
    if p.output == "clusters" and p.n_classes != "auto":
        raise ValueError("With a model, output='clusters' gives each network channel one id "
                         "on every image; n_classes would regroup them per image: leave it "
                         "'auto' (or use output='regions').")  # fmt: skip
    return p


def _warm_state(model, method, p, prep, device) -> TrainState:
    """A training state that continues from ``model`` (``init_model``)."""
    if not isinstance(model, Model):
        raise TypeError("init_model must be the .model of a result made with keep_model=True "
                        "(or napari_mmtseg.load_model(path)).")  # fmt: skip
    want = {"method": method, "q": p.q, "n_conv": p.n_conv, "padding": p.padding,
            "channels": prep.n_channels}  # fmt: skip
    have = {"method": model.method, "q": model.params.q, "n_conv": model.params.n_conv,
            "padding": model.params.padding, "channels": model.n_channels}  # fmt: skip
    if have != want:
        diff = ", ".join(f"{k} {have[k]!r} (now {want[k]!r})" for k in want if have[k] != want[k])
        raise ValueError(f"init_model does not fit this run: it was trained with {diff}.")
    return model.to_state(p, device)


def _segment_slices(run: _Run):
    """Every slice through the pipeline; yields Progress, returns (labels, infos)."""
    prep, p = run.prep, run.p
    n, (H, W) = prep.n_slices, prep.yx
    dev_name = run.device_name
    yield Progress(iteration=0, total=run.total, losses={}, n_labels=0, n_slices=n,
                   device=dev_name, message=f"{run.method} on {dev_name}")  # fmt: skip
    if run.trains:  # first: its message says which train_size fits
        check_memory((H, W), p, run.method, run.device)
    check_host_memory(prep, run.method, p, run.device)
    out = np.empty((n, H, W), dtype=np.int32)
    top = -1
    infos = []
    order = list(range(n)) if run.scr is None else run.scr.slice_order(prep.layout, n)
    for done, i in enumerate(order):
        x = prep.slice(i)
        plane = None if run.scr is None else run.scr.classes(
            run.scr.data[prep.layout.labels_index(i)])  # fmt: skip
        raw = yield from _raw_labels(run, x, i, done, plane, dev_name)
        lab, info = _output_stage(run, raw, x, plane)
        infos.append(info)
        lab = _slice_ids(run, lab, plane, out[i - 1] if i > 0 else None, top)
        out[i] = lab
        top = max(top, int(lab.max()))  # the highest id so far, without rescanning out
        if not run.trains:
            k = len(np.unique(lab))
            run.history.append({"slice": i, "iteration": 1, "n_labels": k})
            yield Progress(iteration=done + 1, total=run.total, losses={}, n_labels=k,
                           preview=lab.astype(np.int32) + 1 if run.preview_every else None,
                           slice_index=i, n_slices=n, device=dev_name)  # fmt: skip
    return _stack_labels(run, out), infos


def _raw_labels(run: _Run, x, i, done, plane, dev_name):
    """A method's cluster map of one slice (yields training Progress, returns the map)."""
    p, method = run.p, run.method
    if run.model is not None:  # inference alone
        with oom_guard(run.device, p, run.prep.yx):
            xt = torch.from_numpy(train_view(x, p.train_size))[None].to(run.device)
            return network_labels(method, p, run.state.net, run.state.teacher, xt, x, run.device)
    if run.trains:
        where = RunProgress(run.preview_every, done * p.max_iter, run.total, i, run.prep.n_slices,
                            run.history, dev_name)  # fmt: skip
        raw = None
        with oom_guard(run.device, p, run.prep.yx):
            for ev in train_slice(method, x, p, run.state, where, seed=run.seed,
                                  device=run.device, scribble=plane):  # fmt: skip
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


def _scribbled_slices(run: _Run):
    """(normalised slice, scribble plane) of every scribbled slice, in training order."""
    layout, data = run.prep.layout, run.scr.data
    for j in run.scr.slice_order(layout, run.prep.n_slices):
        if (data[layout.labels_index(j)] > 0).any():
            yield run.prep.slice(j), data[layout.labels_index(j)]


def _output_stage(run: _Run, raw, x, plane):
    """The output stage on one slice's cluster map: (labels from 0, OutputInfo)."""
    p = run.p
    channels = run.state.scribble_channels
    keep_ids = (run.scr is not None or run.model is not None) and p.output == "clusters"
    scribbled = None
    if plane is not None and channels is not None:  # network channel of each scribbled pixel
        scribbled = np.where(plane >= 0, np.asarray(channels)[np.maximum(plane, 0)], -1)
    return finish_labels(raw, x, output=p.output, n_classes=p.n_classes,
                         min_region_size=p.min_region_size, merge_threshold=p.merge_threshold,
                         refine=p.refine, texture=p.texture_weight, colour=run.prep.rgb,
                         line_width=p.line_width, keep_ids=keep_ids,
                         keep_apart=channels if channels is not None else (),
                         scribbled_pixels=scribbled)  # fmt: skip


def _slice_ids(run: _Run, lab, plane, prev, top):
    """A slice's output ids: scribble ids, a model's channel ids, or aligned to ``prev``."""
    if run.scr is not None:  # the scribble classes' ids (channels mapped), not aligned
        learned = run.method in LEARNED_METHODS
        channels = run.state.scribble_channels if learned else None
        return run.scr.slice_ids(lab, plane, run.p.output, run.p.q, channels)
    if run.model is not None and run.p.output == "clusters":
        return lab + 1  # network channel c has id c + 1 on every slice and image
    if prev is not None:  # same id = same cluster through the stack; new clusters get unused ids
        return align_labels(prev, lab, next_id=top + 1)
    return lab


def _ids_kept(run: _Run) -> bool:
    """Whether the output ids are kept as they are (scribble ids, a model's channels)."""
    return run.scr is not None or (run.model is not None and run.p.output == "clusters")


def _stack_labels(run: _Run, out: np.ndarray) -> np.ndarray:
    """The whole image's labels in its spatial shape: ids 1..K, or kept ids."""
    if not _ids_kept(run):
        return consecutive(out).reshape(run.prep.spatial_shape)
    return out.astype(np.min_scalar_type(int(out.max()))).reshape(run.prep.spatial_shape)


def _result(run: _Run, labels, infos, seconds, keep_model, version) -> SegmentationResult:
    """The run's :class:`SegmentationResult`."""
    summary = summarize_output(infos)
    if run.scr is not None:
        summary["scribble_ids"] = run.scr.ids.tolist()
    if run.model is not None and run.p.output == "clusters":
        summary["model_channel_ids"] = True  # id = network channel + 1
    kept = None
    if keep_model and run.model is not None:
        kept = run.model
    elif keep_model and run.trains:
        kept = Model.from_state(run.method, run.p, run.prep, run.state, version)
    return SegmentationResult(
        labels=labels, method=run.method, preset=run.preset, params=run.p.to_dict(),
        seed=run.seed, device=run.device_name, seconds=seconds,
        history=run.history, channel_axis=run.prep.channel_axis, version=version,
        output=summary, model=kept)  # fmt: skip


def segment(image, method: str | None = None, preset: str | None = None, seed: int = 0,
            channel_axis: int | None = None, device="auto", **overrides) -> SegmentationResult:  # fmt: skip
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
        ``output="clusters"`` network channel c has id c + 1 on every image), ``rgb``,
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
    for ev in iter_segment(image, method, preset, seed, channel_axis, device,
                           preview_every=0, **overrides):  # fmt: skip
        result = ev
    return result
