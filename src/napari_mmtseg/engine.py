"""The segmentation engine: ``iter_segment`` (a generator of progress events
ending with the result) and ``segment`` (runs it to the end).

Plain Python + torch + scikit-image; never imports Qt or napari.
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import torch

from ._input import prepare_image
from .align import align_labels
from .classical import classical
from .device import describe_device, resolve_device
from .memory import check_host_memory, check_memory, oom_guard
from .params import LEARNED_METHODS, METHODS, make_params
from .regions import finish_labels, summarize_output
from .result import Progress, SegmentationResult, consecutive
from .train import train_slice

__all__ = ["Progress", "SegmentationResult", "iter_segment", "segment"]


def iter_segment(image, method: str = "mmt", preset: str = "paper", seed: int = 0,
                 channel_axis: int | None = None, device="auto", *, rgb: bool | None = None,
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
    p = make_params(method, preset, **overrides)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    prep = prepare_image(image, channel_axis=channel_axis, rgb=rgb)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    history: list = []
    n = prep.n_slices
    learned = method in LEARNED_METHODS
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
        state: dict = {}
        top = -1
        infos = []
        for i in range(n):
            x = prep.slice(i)
            if learned:
                with oom_guard(dev, p, prep.yx):
                    for ev in train_slice(method, x, p, seed, dev, preview_every,
                                          step0, total, i, n, history, dev_name, state):
                        if isinstance(ev, Progress):
                            yield ev
                        else:
                            raw = ev
                step0 = (i + 1) * p.max_iter
            else:
                raw = classical(method, x, p, seed)
                step0 = i + 1
            lab, info = finish_labels(raw, x, output=p.output, n_classes=p.n_classes,
                                      min_region_size=p.min_region_size,
                                      merge_threshold=p.merge_threshold, refine=p.refine)
            infos.append(info)
            if i > 0:  # same id = same cluster through the stack; new clusters get unused ids
                lab = align_labels(out[i - 1], lab, next_id=top + 1)
            out[i] = lab
            top = max(top, int(lab.max()))  # the highest id so far, without rescanning out
            if not learned:
                k = len(np.unique(lab))
                history.append({"slice": i, "iteration": 1, "n_labels": k})
                yield Progress(iteration=step0, total=total, losses={}, n_labels=k,
                               preview=lab.astype(np.int32) + 1 if preview_every else None,
                               slice_index=i, n_slices=n, device=dev_name)
        labels = consecutive(out).reshape(prep.spatial_shape)
        yield SegmentationResult(
            labels=labels, method=method, preset=preset, params=p.to_dict(), seed=seed,
            device=dev_name, seconds=time.perf_counter() - t0, history=history,
            channel_axis=prep.channel_axis, version=__version__, output=summarize_output(infos))
    finally:
        if num_threads:
            torch.set_num_threads(old_threads)


def segment(image, method: str = "mmt", preset: str = "paper", seed: int = 0,
            channel_axis: int | None = None, device="auto", **overrides) -> SegmentationResult:
    """Segment ``image`` without supervision and return a :class:`SegmentationResult`.

    image: 2D grey (Y, X), RGB(A) (Y, X, 3|4), multichannel with
        ``channel_axis``, or a stack (Z|T, Y, X) / (T, Z, Y, X) whose 2D slices
        are segmented one by one with ids kept consistent across slices.
    method: ``"mmt"`` (the paper), ``"kim2020"``, ``"kanezaki2018"``,
        ``"kmeans"`` or ``"felzenszwalb"``.
    preset: ``"paper"`` (q=100, M=3, T=1000, alpha=0.999, SGD lr 0.1 momentum
        0.9) or ``"fast"`` (for CPUs); any field of :class:`Params` can be
        overridden by keyword (e.g. ``max_iter=200, beta=2``).
    device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    """
    result = None
    for ev in iter_segment(image, method, preset, seed, channel_axis, device,
                           preview_every=0, **overrides):
        result = ev
    return result
