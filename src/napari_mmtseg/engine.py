"""The segmentation engine: ``iter_segment`` (a generator of progress events
ending with the result) and ``segment`` (runs it to the end).

Plain Python + torch + scikit-image; never imports Qt or napari.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch

from ._input import prepare_image
from .align import align_labels
from .classical import classical, fit_trainable, trainable
from .device import describe_device, resolve_device
from .memory import check_host_memory, check_memory, oom_guard
from .params import LEARNED_METHODS, METHODS, SCRIBBLE_METHODS, default_preset, make_params
from .output_stage import finish_labels, summarize_output
from .result import Progress, SegmentationResult, consecutive
from .scribbles import prepare_scribbles
from .train import train_slice

__all__ = ["Progress", "SegmentationResult", "iter_segment", "segment"]


def iter_segment(image, method: str = "mmt", preset: str | None = None, seed: int = 0,
                 channel_axis: int | None = None, device="auto", *, rgb: bool | None = None,
                 scribbles=None, init_model=None, keep_model: bool = False,
                 preview_every: int = 10, num_threads: int | None = None,
                 **overrides) -> Iterator[Progress | SegmentationResult]:
    """Segment ``image`` step by step.

    Yields :class:`Progress` events (every ``preview_every`` steps one carries
    a ``preview`` label map of the current slice) and, last, the
    :class:`SegmentationResult`. Closing the generator (``gen.close()``, or
    just dropping it) stops the run at the next step. Arguments are those of
    :func:`segment`.
    """
    from . import __version__

    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    dev = resolve_device(device)
    if preset is None:
        preset = default_preset(dev.type)
    p = make_params(method, preset, **overrides)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    prep = prepare_image(image, channel_axis=channel_axis, rgb=rgb)
    learned = method in LEARNED_METHODS
    scr = prepare_scribbles(scribbles, prep.spatial_shape,
                            p.q if learned and init_model is not None else None)
    if scr is not None and learned and scr.n_classes >= p.q:  # one channel per class, and room
        p = replace(p, q=scr.n_classes + 1)
    if scr is None and method in SCRIBBLE_METHODS:
        raise ValueError(f"{method!r} learns from scribbles: pass scribbles (a label image, "
                         "0 = not scribbled).")
    if scr is not None:
        if not learned and method not in SCRIBBLE_METHODS:
            raise ValueError(f"Scribbles need a learned method ({', '.join(LEARNED_METHODS)}) "
                             f"or {', '.join(SCRIBBLE_METHODS)}, not {method!r}.")
        if p.n_classes != "auto":
            raise ValueError("n_classes cannot be combined with scribbles: the scribble classes "
                             "(and the clusters the networks keep besides them) are the classes.")
        if "output" not in overrides:  # scribble ids are classes
            p = replace(p, output="clusters")
    state = _warm_state(init_model, method, p, prep, dev) if init_model is not None else {}
    if scr is not None:
        state["n_scribble_classes"] = scr.n_classes
    t0 = time.perf_counter()
    history: list = []
    n = prep.n_slices
    total = n * (p.max_iter if learned else 1)
    H, W = prep.yx
    out = np.empty((n, H, W), dtype=np.int32)
    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev_name = describe_device(dev)
    try:
        yield Progress(iteration=0, total=total, losses={}, n_labels=0, n_slices=n,
                       device=dev_name, message=f"{method} on {dev_name}")
        if learned:  # first: its message says which train_size fits
            check_memory((H, W), p, method, dev)
        check_host_memory(prep, method, p, dev)
        step0 = 0
        top = -1
        infos = []
        # scribbled slices first, so that every slice after them starts from networks that know
        # the scribble classes
        order = list(range(n)) if scr is None else _scribbled_first(scr, prep)
        for done_slices, i in enumerate(order):
            x = prep.slice(i)
            plane = None if scr is None else scr.classes(scr.data[prep.layout.labels_index(i)])
            if learned:
                with oom_guard(dev, p, prep.yx):
                    for ev in train_slice(method, x, p, seed, dev, preview_every,
                                          step0, total, i, n, history, dev_name, state,
                                          scribble=plane):
                        if isinstance(ev, Progress):
                            yield ev
                        else:
                            raw = ev
                step0 = (done_slices + 1) * p.max_iter
            elif method in SCRIBBLE_METHODS:  # one classifier from every scribbled slice
                if "classifier" not in state:
                    state["classifier"] = fit_trainable(
                        ((prep.slice(j), scr.data[prep.layout.labels_index(j)])
                         for j in order if (scr.data[prep.layout.labels_index(j)] > 0).any()), seed)
                raw = trainable(x, state["classifier"])
                step0 = done_slices + 1
            else:
                raw = classical(method, x, p, seed)
                step0 = i + 1
            lab, info = finish_labels(raw, x, output=p.output, n_classes=p.n_classes,
                                      min_region_size=p.min_region_size,
                                      merge_threshold=p.merge_threshold, refine=p.refine,
                                      texture=p.texture_weight, colour=prep.rgb,
                                      line_width=p.line_width,
                                      keep_ids=scr is not None and p.output == "clusters",
                                      keep_apart=state.get("scribble_channels", ()),
                                      scribbled_pixels=_scribbled_channels(plane, state))
            infos.append(info)
            if scr is not None:  # ids are the scribble classes' (channels mapped), not aligned
                if p.output == "clusters" and learned:
                    lab = scr.ids_of_channels(p.q, state["scribble_channels"])[lab]
                elif p.output == "regions":  # instance ids, above the scribble ids
                    lab = lab + int(scr.ids.max()) + 1
                if p.output == "clusters":  # a scribbled pixel keeps its scribble (a class id)
                    keep = plane >= 0
                    lab[keep] = scr.ids[plane[keep]]
            elif i > 0:  # same id = same cluster through the stack; new clusters get unused ids
                lab = align_labels(out[i - 1], lab, next_id=top + 1)
            out[i] = lab
            top = max(top, int(lab.max()))  # the highest id so far, without rescanning out
            if not learned:
                k = len(np.unique(lab))
                history.append({"slice": i, "iteration": 1, "n_labels": k})
                yield Progress(iteration=step0, total=total, losses={}, n_labels=k,
                               preview=lab.astype(np.int32) + 1 if preview_every else None,
                               slice_index=i, n_slices=n, device=dev_name)
        if scr is None:
            labels = consecutive(out).reshape(prep.spatial_shape)
        else:  # scribble ids kept as they are
            labels = out.astype(np.min_scalar_type(int(out.max()))).reshape(prep.spatial_shape)
        summary = summarize_output(infos)
        if scr is not None:
            summary["scribble_ids"] = scr.ids.tolist()
        yield SegmentationResult(
            labels=labels, method=method, preset=preset, params=p.to_dict(), seed=seed,
            device=dev_name, seconds=time.perf_counter() - t0, history=history,
            channel_axis=prep.channel_axis, version=__version__, output=summary,
            model=_kept_model(method, p, prep, state) if keep_model and learned else None)
    finally:
        if num_threads:
            torch.set_num_threads(old_threads)


def _scribbled_first(scr, prep) -> list:
    """Slice order: slices with scribbles first (in order), then the others."""
    has = [bool((scr.data[prep.layout.labels_index(i)] > 0).any()) for i in range(prep.n_slices)]
    return [i for i in range(prep.n_slices) if has[i]] + [i for i in range(prep.n_slices) if not has[i]]


def _scribbled_channels(plane, state):
    """(H, W) the network channel of the class scribbled at each pixel (-1:
    none), or None without scribbles or channels (a method that does not learn)."""
    channels = state.get("scribble_channels")
    if plane is None or channels is None:
        return None
    return np.where(plane >= 0, np.asarray(channels)[np.maximum(plane, 0)], -1)


def _kept_model(method, p, prep, state) -> dict:
    """The trained networks of a run (deep-copied, on the CPU) for a later
    warm start (``init_model``)."""
    import copy

    kept = {k: (copy.deepcopy(v).to("cpu") if hasattr(v, "to") else copy.deepcopy(v))
            for k, v in state.items() if k not in ("opt", "scribble_channels", "n_scribble_classes", "warm")}
    return {"method": method, "q": p.q, "n_conv": p.n_conv, "padding": p.padding,
            "channels": prep.n_channels, "state": kept}


def _warm_state(model, method, p, prep, device) -> dict:
    """A training state that continues from ``model`` (a result's ``model``)."""
    import copy

    if not isinstance(model, dict) or "state" not in model:
        raise TypeError("init_model must be the .model of a result made with keep_model=True.")
    want = {"method": method, "q": p.q, "n_conv": p.n_conv, "padding": p.padding,
            "channels": prep.n_channels}
    have = {k: model.get(k) for k in want}
    if have != want:
        diff = ", ".join(f"{k} {have[k]!r} (now {want[k]!r})" for k in want if have[k] != want[k])
        raise ValueError(f"init_model does not fit this run: it was trained with {diff}.")
    state = copy.deepcopy(model["state"])
    for key in ("net", "teacher"):  # kept on the CPU; this run's device may be a GPU
        if key in state:
            state[key] = state[key].to(device)
    state["opt"] = torch.optim.SGD(state["net"].parameters(), lr=p.lr, momentum=p.momentum)
    state["step"] = 0  # the teachers' EMA warms up again: they follow the corrected students at once
    state["warm"] = True  # a refinement: only the convergence stop ends it
    return state


def segment(image, method: str = "mmt", preset: str | None = None, seed: int = 0,
            channel_axis: int | None = None, device="auto", **overrides) -> SegmentationResult:
    """Segment ``image`` without supervision and return a :class:`SegmentationResult`.

    image: 2D grey (Y, X), RGB(A) (Y, X, 3|4), multichannel with
        ``channel_axis``, or a stack (Z|T, Y, X) / (T, Z, Y, X) whose 2D slices
        are segmented one by one with ids kept consistent across slices.
    method: ``"mmt"`` (the paper), ``"kim2020"``, ``"kanezaki2018"`` (the
        learned methods), ``"kmeans"``, ``"felzenszwalb"``, ``"multiotsu"``,
        or ``"trainable"`` (needs ``scribbles``).
    preset: ``"paper"`` (q=100, M=3, T=1000, alpha=0.999, SGD lr 0.1 momentum
        0.9) or ``"fast"`` (for CPUs); ``None`` picks ``paper`` on a GPU and
        ``fast`` on a CPU. Any field of :class:`Params` can be overridden by
        keyword (e.g. ``max_iter=200, beta=2, n_classes=3, output="clusters"``).
    device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    scribbles (keyword): optional label image of the image's spatial shape,
        0 = not scribbled, any id > 0 = a class (Kim et al. 2020, eq. 6);
        the result then uses those ids for the scribbled classes.
    keep_model (keyword): keep the trained networks in ``result.model``.
    init_model (keyword): a previous result's ``model``: start training from
        it (a refinement) instead of from random weights.

    Raises ValueError for an unknown method, bad parameters, bad scribbles
    or an image that cannot be segmented (see ``prepare_image``), TypeError
    for a non-integer seed; ValueError also for a device that is not there.
    """
    result = None
    for ev in iter_segment(image, method, preset, seed, channel_axis, device,
                           preview_every=0, **overrides):
        result = ev
    return result
