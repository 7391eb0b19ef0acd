"""A run's plan: its arguments checked, its parameters, scribbles and training state.

What :func:`napari_mmtseg.engine.iter_segment` does first, before any work: every
refusal (bad method, parameters, scribbles, image, model) happens here. No Qt, no napari.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .classical import FIT_ONCE_METHODS
from .device import describe_device, resolve_device
from .image import PreparedImage, prepare_image
from .model import Model
from .params import (
    LABELLING_FIELDS,
    LEARNED_METHODS,
    METHODS,
    SCRIBBLE_METHODS,
    Params,
    default_preset,
    make_params,
)
from .scribbles import Scribbles, prepare_scribbles
from .stack import depth_stride
from .train import TrainState, warm_state

__all__ = [
    "RunPlan",
    "checked_method",
    "plan_run",
    "run_params",
    "unused_with_model",
    "warn_unused_preset",
]


@dataclass
class RunPlan:
    """One run: its checked inputs, its training state and its step records.

    Attributes
    ----------
    method : str
        The method.
    preset : str
        The preset (resolved).
    p : Params
        The parameters (a model's, with overrides, when one is applied).
    prep : PreparedImage
        The image's slices, normalised on demand.
    scr : Scribbles or None
        The scribbles.
    state : TrainState
        The networks (trained, warm-started or a model's) and the classifier.
    device : torch.device
        Where the run goes.
    seed : int
        The seed.
    preview_every : int
        Steps between previews (0: none).
    model : Model or None
        A model applied by inference alone.
    device_name : str
        The device, in words.
    history : list of dict
        Per-step records.
    z_stride : int or None
        Slice-number step between neighbours along Z (None: no Z axis;
        :func:`napari_mmtseg.stack.depth_stride`).
    channel_ids : list of int or None
        Set when a trained run numbers its classes: the output id of each network channel
        (for the kept model, so that applying it gives the run's own class ids).
    class_channels : list of int or None
        Set with ``channel_ids``: the network channels among the run's classes (the kept
        model's :attr:`~napari_mmtseg.Model.class_channels`).
    frozen : tuple or None
        Set when a trained stack's one model is frozen for labelling: its BatchNorm
        statistics and teachers' alignment (:func:`~napari_mmtseg.infer.frozen_statistics`),
        kept with the model.
    applied : tuple or None
        A kept model's inference network(s) and teachers' alignment, built once per run
        (:meth:`~napari_mmtseg.model.Model.frozen_networks`).
    votes : dict or None
        Set while a trained clusters run with ``n_classes`` set labels its image: (network
        channel, class id) -> pixels, from which ``channel_ids`` groups the channels.
    """

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
    z_stride: int | None = None
    channel_ids: list | None = None
    class_channels: list | None = None
    frozen: tuple | None = None
    applied: tuple | None = None
    votes: dict | None = None

    @property
    def one_model(self) -> bool:
        """Whether one model labels the whole stack (``Params.stack="one_model"``).

        Returns
        -------
        bool
            True for a stack of more than one slice, with a learned method, a kept model,
            k-means or multi-Otsu; Felzenszwalb's segments are no classes, and the scribble
            classifier is one fit already.
        """
        fits_once = self.method in LEARNED_METHODS or self.method in FIT_ONCE_METHODS
        return self.prep.n_slices > 1 and self.p.stack == "one_model" and fits_once

    @property
    def trains(self) -> bool:
        """Whether the run trains (a learned method, no kept model applied).

        Returns
        -------
        bool
            True for a learned method without ``model``.
        """
        return self.method in LEARNED_METHODS and self.model is None

    @property
    def total(self) -> int:
        """Steps the run takes at most.

        Returns
        -------
        int
            Slices x ``max_iter`` when training each slice, ``max_iter`` + slices when
        training one model, else the number of slices.
        """
        if self.trains and self.one_model:
            return self.p.max_iter + self.prep.n_slices
        return self.prep.n_slices * (self.p.max_iter if self.trains else 1)


def plan_run(
    image,
    method: str | None,
    preset: str | None,
    seed: int,
    channel_axis: int | None,
    device,
    *,
    rgb: bool | None,
    scribbles,
    init_model: Model | None,
    model: Model | None,
    preview_every: int,
    overrides: dict,
    axes: str | None = None,
) -> RunPlan:
    """Check a run's arguments and set it up, before any work.

    Parameters
    ----------
    image : array_like
        The image (see :func:`napari_mmtseg.segment`).
    method : str or None
        The method (None: ``"mmt"``, or the model's).
    preset : str or None
        The preset (None: by device).
    seed : int
        The seed.
    channel_axis : int or None
        The channel axis.
    device : str or torch.device
        The device asked for.
    rgb : bool or None
        Whether a last axis of 3 or 4 is colour.
    scribbles : array_like or None
        The scribble map.
    init_model : Model or None
        A model to continue training from.
    model : Model or None
        A model to apply.
    preview_every : int
        Steps between previews.
    overrides : dict
        Fields of :class:`Params`.
    axes : str or None, optional
        The image's axis letters (:func:`napari_mmtseg.stack.depth_stride`).

    Returns
    -------
    RunPlan
        The run, ready to go.

    Raises
    ------
    ValueError
        For what :func:`napari_mmtseg.segment` names.
    TypeError
        For a non-integer seed, or a model that is not a :class:`Model`.
    """
    method = checked_method(method, model, init_model)
    dev = resolve_device(device)
    if model is not None and preset is not None:
        warn_unused_preset(preset, stacklevel=4)
    preset = default_preset(dev.type) if preset is None else preset
    p = run_params(method, preset, model, overrides)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    prep = prepare_image(image, channel_axis=channel_axis, rgb=rgb)
    if model is not None:
        _check_model_applies(model, prep, scribbles)
    p, scr = _with_scribbles(method, p, prep, scribbles, init_model, overrides)
    state = _start_state(method, p, prep, dev, scr, init_model=init_model, model=model)
    for kept in (model, init_model):  # each checked to fit the image by now
        if kept is not None:
            kept.normalise(prep)  # its training data's intensity range, for its dtype
    return RunPlan(method, preset, p, prep, scr, state, dev, int(seed), preview_every, model,
                   describe_device(dev), z_stride=depth_stride(prep, axes))  # fmt: skip


def checked_method(method, model=None, init_model=None) -> str:
    """The run's method: the model's when one is applied, else ``method`` or ``"mmt"``.

    Parameters
    ----------
    method : str or None
        The method asked for (None: the model's, or ``"mmt"``).
    model : Model, optional
        A model applied by inference alone.
    init_model : Model, optional
        A model to continue training from.

    Returns
    -------
    str
        The method.

    Raises
    ------
    ValueError
        For an unknown method, a method other than the applied model's, or ``model``
        with ``init_model``.
    TypeError
        For a ``model`` that is not a :class:`Model` (a path, say).
    """
    if model is not None:
        method = _model_method(model, method, init_model)
    method = "mmt" if method is None else method
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    return method


def run_params(method: str, preset: str, model, overrides: dict) -> Params:
    """The run's parameters: the preset's with overrides, or the applied model's.

    Parameters
    ----------
    method : str
        The method (read when no model is applied).
    preset : str
        The preset (read when no model is applied).
    model : Model or None
        A model applied by inference alone: its own parameters, with the overrides of what
        applying may change.
    overrides : dict
        Params field -> value.

    Returns
    -------
    Params
        The checked parameters.

    Raises
    ------
    ValueError
        For an override that is not valid, or that a model cannot take (a field of its
        networks, ``n_classes`` with clusters output).
    """
    if model is None:
        return make_params(method, preset, **overrides)
    return _model_params(model, preset, overrides)


def _check_model_applies(model: Model, prep: PreparedImage, scribbles) -> None:
    """Refuse an image or scribbles that the applied ``model`` cannot take."""
    model.check_fits(prep.n_channels)
    if scribbles is not None:
        raise ValueError(
            "A model is applied without training, so scribbles cannot "
            "steer it: pass init_model= to refine it with scribbles."
        )


def _start_state(method, p, prep, dev, scr, *, init_model, model) -> TrainState:
    """The training state a run starts from: warm (``init_model``), a model's, or empty."""
    if init_model is not None:
        state = _warm_state(init_model, method, p, prep, dev)
    elif model is not None:
        net, teacher = model.networks(dev)
        state = TrainState(net=net, teacher=teacher)
        if model.scribble_channels is not None:  # their regions stay apart, as in training
            state.scribble_channels = np.asarray(model.scribble_channels, dtype=np.int64)
    else:
        state = TrainState()
    if scr is not None:
        state.n_scribble_classes = scr.n_classes
    return state


def _with_scribbles(method, p, prep, scribbles, init_model, overrides):
    """The run's scribbles, checked, and the parameters they imply."""
    learned = method in LEARNED_METHODS
    scr = prepare_scribbles(
        scribbles, prep.spatial_shape, p.q if learned and init_model is not None else None
    )
    if scr is not None and learned and scr.n_classes >= p.q:  # one channel per class, and room
        p = replace(p, q=scr.n_classes + 1)
    if scr is None and method in SCRIBBLE_METHODS:
        raise ValueError(
            f"{method!r} learns from scribbles: pass scribbles (a label image, 0 = not scribbled)."
        )
    if scr is not None:
        if not learned and method not in SCRIBBLE_METHODS:
            raise ValueError(
                f"Scribbles need a learned method ({', '.join(LEARNED_METHODS)}) "
                f"or {', '.join(SCRIBBLE_METHODS)}, not {method!r}."
            )
        if p.n_classes != "auto":
            raise ValueError(
                "n_classes cannot be combined with scribbles: the scribble classes "
                "(and the clusters the networks keep besides them) are the classes."
            )
        if "output" not in overrides:  # scribble ids are classes
            p = replace(p, output="clusters")
    return p, scr


def _model_method(model, method, init_model) -> str:
    """The method of a run that applies ``model``; refuses what does not go with it."""
    if not isinstance(model, Model):
        raise TypeError(
            "model must be a napari_mmtseg Model (a result's .model made with "
            "keep_model=True, or napari_mmtseg.load_model(path))."
        )
    if init_model is not None:
        raise ValueError(
            "Pass model= (apply, no training) or init_model= (train from it), not both."
        )
    if method is not None and method != model.method:
        raise ValueError(
            f"The model was trained with {model.method!r}, not {method!r}: "
            "leave method out when applying a model."
        )
    return model.method


def unused_with_model(model: Model, overrides: dict) -> list:
    """The overrides a model applied by inference alone does not use.

    Parameters
    ----------
    model : Model
        The model applied.
    overrides : dict
        Params field -> value, as given.

    Returns
    -------
    list of str
        Sorted names of the fields given a value other than the model's that only its
        training read (every field but :data:`~napari_mmtseg.params.LABELLING_FIELDS`,
        ``n_classes``, ``stack`` and the networks' ``q``, ``n_conv`` and ``padding``,
        which are refused when they differ).
    """
    applies = set(LABELLING_FIELDS) | {"n_classes", "stack", "q", "n_conv", "padding"}
    return sorted(
        k for k in overrides if k not in applies and overrides[k] != getattr(model.params, k, None)
    )


def _model_params(model: Model, preset: str, overrides: dict) -> Params:
    """The model's parameters with the caller's overrides of what applying may change."""
    fixed = [
        k
        for k in ("q", "n_conv", "padding")
        if k in overrides and overrides[k] != getattr(model.params, k)
    ]
    if fixed:
        verb = "defines" if len(fixed) == 1 else "define"
        raise ValueError(
            f"{', '.join(fixed)} {verb} the model's networks and cannot change when it is "
            "applied (leave it out: the model's own value is used)."
        )
    unused = unused_with_model(model, overrides)
    if unused:
        warnings.warn(
            f"{', '.join(unused)} not used: a model applied by inference alone labels with "
            "its own training (only how the labels are made can change: "
            f"{', '.join(LABELLING_FIELDS)}, n_classes).",
            UserWarning,
            stacklevel=6,
        )
        overrides = {k: v for k, v in overrides.items() if k not in unused}
    p = make_params(model.method, preset, **{**model.params.to_dict(), **overrides})
    note = model_n_classes_note(model, overrides)
    if note is not None:
        if note:
            warnings.warn(note, UserWarning, stacklevel=6)
        p = replace(p, n_classes="auto")
    if p.output == "clusters" and p.n_classes != "auto":
        given = "" if "output" in overrides else " (the model's own output)"
        own = model.params.n_classes
        keeps = f"; it gives its own {own} classes" if grouped_channels(model) else ""
        raise ValueError(
            f"With a model, output='clusters'{given} gives each network channel one id "
            f"on every image{keeps}; n_classes={p.n_classes} would regroup them per image: "
            "leave it out (or use output='regions'). On the command line: no --n-classes, "
            "or --output-mode regions."
        )
    return p


def grouped_channels(model: Model) -> bool:
    """Whether ``model`` groups its network channels into the classes of a run with
    ``n_classes`` set (a clusters run that numbered them: its ``channel_ids`` give the
    channels of one class one id).

    Parameters
    ----------
    model : Model
        A kept model.

    Returns
    -------
    bool
        True when applied with clusters output it gives that run's classes and ids.
    """
    return (
        model.params.n_classes != "auto"
        and model.params.output == "clusters"
        and model.channel_ids is not None
        and model.class_channels is not None
    )


def model_n_classes_note(model: Model, overrides: dict) -> str | None:
    """Why a model trained with ``n_classes`` labels with ``"auto"``, or None.

    Applied with clusters output, each network channel keeps one id on every image, which
    regrouping the channels per image (``n_classes``) would break. The model's own
    ``n_classes`` (left out of ``overrides``, or given again as it is) is so set aside; another
    value is the caller's request, which :func:`run_params` refuses. A model that groups its
    channels into its run's classes (:func:`grouped_channels`) gives those classes by its
    channels' ids, so it labels with ``"auto"`` and loses nothing.

    Parameters
    ----------
    model : Model
        The model applied.
    overrides : dict
        Params field -> value, as given.

    Returns
    -------
    str or None
        The warning to give, when the model's ``n_classes`` is set aside; ``""`` when it is
        set aside with nothing to say (its channels are grouped into those classes).
    """
    own = model.params.n_classes
    output = overrides.get("output", model.params.output)
    if own == "auto" or output != "clusters" or overrides.get("n_classes", own) != own:
        return None
    if grouped_channels(model):
        return ""  # its channels' ids are its classes': nothing is set aside
    return (
        f"This model was trained with n_classes={own}. Applied with clusters output, each of "
        "its network's classes keeps one id on every image, which regrouping them per image "
        "would break, so it labels with n_classes='auto' (output='regions' groups each "
        f"image's regions into {own} classes)."
    )


def _warm_state(model, method, p, prep, device) -> TrainState:
    """A training state that continues from ``model`` (``init_model``)."""
    if not isinstance(model, Model):
        raise TypeError(
            "init_model must be the .model of a result made with keep_model=True "
            "(or napari_mmtseg.load_model(path))."
        )
    want = {
        "method": method,
        "q": p.q,
        "n_conv": p.n_conv,
        "padding": p.padding,
        "channels": prep.n_channels,
    }
    have = {
        "method": model.method,
        "q": model.params.q,
        "n_conv": model.params.n_conv,
        "padding": model.params.padding,
        "channels": model.n_channels,
    }
    if have != want:
        diff = ", ".join(f"{k} {have[k]!r} (now {want[k]!r})" for k in want if have[k] != want[k])
        raise ValueError(f"init_model does not fit this run: it was trained with {diff}.")
    return warm_state(model, p, device)


def warn_unused_preset(preset: str, stacklevel: int = 2) -> None:
    """Say that ``preset``, given with a model applied by inference alone, is not used.

    Parameters
    ----------
    preset : str
        The preset given.
    stacklevel : int, optional
        As for :func:`warnings.warn`, counted from the caller of this function.

    Warns
    -----
    UserWarning
        Always.
    """
    warnings.warn(
        f"preset={preset!r} is not used: a model applied by inference alone labels with "
        "its own parameters (a preset chooses how networks train).",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
