"""The output stage with its fixed step settings open, for experiments and ablations.

The product (:func:`napari_mmtseg.output_stage.finish_labels`, the engine, the CLI and the
widget) always runs the stage with :class:`StepSettings`' defaults. Studies in ``benchmarks/``
that compare a step with the behaviour before it (the small-piece join by distance, the
connected parts of each class as regions, another snapping radius) run it through
:func:`finish_labels_with`.

Examples
--------
>>> import numpy as np
>>> from napari_mmtseg.output_stage.experiments import StepSettings, finish_labels_with
>>> clusters = np.zeros((8, 8), int)
>>> x = np.zeros((1, 8, 8), np.float32)
>>> labels, info = finish_labels_with(clusters, x, StepSettings(small_by_colour=False))
>>> info.n_regions
1
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from .finish import OutputRequest, StepSettings, run_stage
from .summary import OutputInfo

__all__ = ["OutputRequest", "StepSettings", "finish_labels_ablated", "finish_labels_with"]


def finish_labels_with(
    clusters: np.ndarray, x: np.ndarray, settings: StepSettings, **kwargs
) -> tuple[np.ndarray, OutputInfo]:
    """Run the output stage on one slice with other step settings than the product's.

    Parameters
    ----------
    clusters : ndarray of int, shape (H, W)
        A method's map of cluster ids for the slice.
    x : ndarray of float, shape (C, H, W)
        The slice, normalised to [0, 1].
    settings : StepSettings
        The step settings to use.
    **kwargs
        The keywords of :func:`napari_mmtseg.output_stage.finish_labels`.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        As :func:`napari_mmtseg.output_stage.finish_labels` returns them.
    info : OutputInfo
        The stage's account of what it did.

    Raises
    ------
    ValueError
        If ``output`` is neither ``"regions"`` nor ``"clusters"``.
    TypeError
        If a keyword is not one of :func:`napari_mmtseg.output_stage.finish_labels`'s.
    """
    if "keep_apart" in kwargs:
        kwargs["keep_apart"] = tuple(kwargs["keep_apart"])
    return run_stage(clusters, x, OutputRequest(**kwargs), settings)


def finish_labels_ablated(
    clusters: np.ndarray, x: np.ndarray, **kwargs
) -> tuple[np.ndarray, OutputInfo]:
    """Run the output stage with the keywords of ``finish_labels`` and of :class:`StepSettings`.

    For scripts that take both kinds of setting from one list (``small_by_colour=0,
    line_width=0``).

    Parameters
    ----------
    clusters : ndarray of int, shape (H, W)
        The cluster ids a method gave each pixel.
    x : ndarray of float, shape (C, H, W)
        The slice the method saw, in [0, 1].
    **kwargs
        Keywords of :func:`napari_mmtseg.output_stage.finish_labels` and fields of
        :class:`StepSettings`, mixed.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        As :func:`napari_mmtseg.output_stage.finish_labels` returns them.
    info : OutputInfo
        What the stage did.

    Raises
    ------
    ValueError
        If ``output`` or ``join_regions`` has no such value.
    TypeError
        If a keyword is neither.
    """
    names = {f.name for f in fields(StepSettings)}
    settings = StepSettings(**{k: v for k, v in kwargs.items() if k in names})
    request = {k: v for k, v in kwargs.items() if k not in names}
    return finish_labels_with(clusters, x, settings, **request)
