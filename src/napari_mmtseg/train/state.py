"""The training state a run carries from slice to slice.

No Qt, no napari.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from ..params import Params

__all__ = ["ScribbleTargets", "TrainState", "SliceTraining", "StepOutcome", "warm_state"]


class ScribbleTargets(NamedTuple):
    """The scribbles of one slice's training view, on the device.

    Attributes
    ----------
    free : torch.Tensor of shape (N_free,), int64
        Flat indices of the pixels not scribbled.
    marked : torch.Tensor of shape (M,), int64
        Flat indices of the scribbled pixels.
    channels : torch.Tensor of shape (M,), int64
        The network channel of each scribbled pixel's class.
    weight : float
        ``scribble_weight``: weight of the scribble cross-entropy.
    cls : torch.Tensor of shape (M,), int64
        Each scribbled pixel's class among those of this slice, 0..K-1.
    chans : torch.Tensor of shape (K,), int64
        The channel of each of those classes.
    """

    free: torch.Tensor
    marked: torch.Tensor
    channels: torch.Tensor
    weight: float
    cls: torch.Tensor
    chans: torch.Tensor


@dataclass
class TrainState:
    """What training carries from one slice to the next (and into a warm start).

    Attributes
    ----------
    net : torch.nn.Module or None
        The network(s) being trained: one :class:`~napari_mmtseg.nets.SegNet`, or MMT's
        pair of students. None before the first slice.
    opt : torch.optim.Optimizer or None
        SGD over ``net``'s parameters.
    step : int
        Optimiser steps taken since the networks were made (or warm-started); drives the
        EMA warm-up of MMT's teachers.
    gen : torch.Generator or None
        CPU generator of MMT's input noise (seeded with ``seed + 1``).
    teacher : torch.nn.Module or None
        MMT's pair of mean teachers (EMA of the students); None for the other methods.
    scribble_channels : numpy.ndarray or None
        (K,) int64, the network channel of each scribble class, fixed on the first
        scribbled slice; None without scribbles.
    n_scribble_classes : int
        Number of scribble classes K (0 without scribbles).
    warm : bool
        A warm start from a kept model (a refinement): only convergence stops it.
    classifier : object or None
        The fitted pixel classifier of ``method="trainable"``.
    maps : torch.Tensor of shape (2, q), int64, or None
        MMT: the teacher -> student id maps of the last Hungarian assignment, on the
        device, reused until the next one (``Params.sync_every``).
    """

    net: torch.nn.Module | None = None
    opt: torch.optim.Optimizer | None = None
    step: int = 0
    gen: torch.Generator | None = None
    teacher: torch.nn.Module | None = None
    scribble_channels: np.ndarray | None = None
    n_scribble_classes: int = 0
    warm: bool = False
    classifier: object | None = field(default=None, repr=False)
    maps: torch.Tensor | None = field(default=None, repr=False)


@dataclass
class SliceTraining:
    """What every training step on one slice reads.

    Attributes
    ----------
    x : torch.Tensor of shape (1, C, h, w), float32
        The training view on the device.
    p : Params
        The run's parameters.
    device : torch.device
        Where training runs.
    amp : contextlib.AbstractContextManager
        bfloat16 autocast (``p.bf16``) or a null context.
    scr : ScribbleTargets or None
        The slice's scribbles on the training view.
    superpixels : torch.Tensor of shape (h * w,), int64, or None
        SLIC superpixel id of each training pixel (Kanezaki 2018, MMT's
        ``superpixel_size``); None when unused.
    n_superpixels : int
        Number of superpixels (0 when unused).
    """

    x: torch.Tensor
    p: Params
    device: torch.device
    amp: contextlib.AbstractContextManager
    scr: ScribbleTargets | None = None
    superpixels: torch.Tensor | None = None
    n_superpixels: int = 0


class StepOutcome(NamedTuple):
    """What one training step reports to the loop.

    Attributes
    ----------
    losses : dict
        ``{"loss", "ce", "tv"}`` -> float, of this step.
    n_labels : int
        Distinct labels of the step's labelling.
    labels : torch.Tensor of shape (h, w) or (h * w,), int64
        The labelling the stopping rule follows (MMT: teacher 0's; others: the network's).
    n_changed : int
        Pixels whose label changed since the previous step's ``labels``.
    """

    losses: dict
    n_labels: int
    labels: torch.Tensor
    n_changed: int


def warm_state(model, p: Params, device: torch.device) -> TrainState:
    """A training state that continues from a kept model (a refinement, an ``init_model``).

    A fresh optimiser, the step counter at 0 (the teachers' EMA warms up again, so they
    follow the corrected students at once) and ``warm`` set (only convergence ends it).

    Parameters
    ----------
    model : napari_mmtseg.model.Model
        The kept model whose networks (and random generator state) training continues from.
    p : Params
        The new run's parameters (``lr``, ``momentum``).
    device : torch.device
        Where training runs.

    Returns
    -------
    TrainState
        The warm-started state.
    """
    net, teacher = model.networks(device)
    gen = torch.Generator(device="cpu")
    if model.generator is not None:
        gen.set_state(model.generator.clone())
    opt = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum)
    return TrainState(net=net, opt=opt, step=0, gen=gen, teacher=teacher, warm=True)
