"""Host reads of the training loop: how often, and all of a batch of steps in one copy.

A training step leaves everything it reports (losses, label count, changed pixels) on the
device as a :class:`PendingStep`; the loop reads ``sync_every`` steps' worth in one copy
(:func:`read_steps`), so that a GPU is not stopped and drained after every step. MMT's
Hungarian assignment, which needs its overlap matrices on the host, runs on the same
cadence (:func:`assignment_due`). docs/performance.md ("The GPU loop") says what this
changes and what was measured. No Qt, no napari.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..params import Params
from .state import StepOutcome

__all__ = ["CUDA_SYNC_EVERY", "PendingStep", "assignment_due", "read_steps", "sync_every"]

#: steps per host read on CUDA when ``Params.sync_every`` is None (the CPU reads every step)
CUDA_SYNC_EVERY = 10

#: the order of a :class:`PendingStep`'s ``stats``
STATS = ("loss", "ce", "tv", "n_labels", "n_changed")


class PendingStep(NamedTuple):
    """What one training step reports, still on the device.

    Attributes
    ----------
    stats : torch.Tensor of shape (5,), float64
        Loss, cross-entropy, TV term, distinct labels and changed pixels (:data:`STATS`),
        on the device; the counts are exact in float64.
    labels : torch.Tensor of shape (h, w) or (h * w,), int64
        The labelling the stopping rule follows (MMT: teacher 0's; others: the network's).
    """

    stats: torch.Tensor
    labels: torch.Tensor


def pending(loss, ce, tv, n_labels, n_changed, labels: torch.Tensor) -> PendingStep:
    """Pack a step's figures into one device tensor, without reading them.

    Parameters
    ----------
    loss, ce, tv : torch.Tensor
        Scalars (any float dtype), the step's losses.
    n_labels, n_changed : torch.Tensor
        Integer scalars: distinct labels, pixels whose label changed.
    labels : torch.Tensor
        The labelling the stopping rule follows.

    Returns
    -------
    PendingStep
        The step's report.
    """
    parts = [t.detach().reshape(()).double() for t in (loss, ce, tv, n_labels, n_changed)]
    return PendingStep(torch.stack(parts), labels)


def read_steps(steps: list) -> list:
    """Bring the reports of several steps to the host in one copy.

    Parameters
    ----------
    steps : list of PendingStep
        Steps in order.

    Returns
    -------
    list of StepOutcome
        One per step: losses as floats (the float32 values the step computed), the label
        count and the changed pixels as ints.
    """
    host = torch.stack([s.stats for s in steps]).cpu().tolist()  # the one host read
    out = []
    for s, (loss, ce, tv, n_labels, n_changed) in zip(steps, host):
        losses = {"loss": loss, "ce": ce, "tv": tv}
        out.append(StepOutcome(losses, int(n_labels), s.labels, int(n_changed)))
    return out


def sync_every(p: Params, device: torch.device) -> int:
    """Training steps per host read: ``p.sync_every``, or the device's default.

    Parameters
    ----------
    p : Params
        Reads ``sync_every`` (None: automatic).
    device : torch.device
        Where training runs.

    Returns
    -------
    int
        ``p.sync_every`` when set; else :data:`CUDA_SYNC_EVERY` on CUDA and 1 elsewhere
        (every step: the loop of the paper, label for label).
    """
    if p.sync_every is not None:
        return int(p.sync_every)
    return CUDA_SYNC_EVERY if device.type == "cuda" else 1


def assignment_due(step: int, first: bool, every: int) -> bool:
    """Whether MMT's Hungarian assignment is computed anew at this step.

    Parameters
    ----------
    step : int
        Optimiser steps taken so far in the run (``TrainState.step``).
    first : bool
        The slice's first step (always assigned: a new slice, a new overlap).
    every : int
        :func:`sync_every`.

    Returns
    -------
    bool
        True every ``every`` steps and on a slice's first step.
    """
    return first or every <= 1 or step % every == 0
