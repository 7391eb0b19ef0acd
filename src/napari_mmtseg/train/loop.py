"""The one training loop of the learned methods, with its stopping rule.

Each learned method is one step function (:data:`STEPS`; MMT:
:func:`~napari_mmtseg.train.mmt.mmt_step`; Kim 2020 and Kanezaki 2018:
:func:`~napari_mmtseg.train.single.single_step`, with superpixel targets for the latter); the loop
trains on one 2D slice, yields :class:`~napari_mmtseg.result.Progress` events and, last,
the slice's label map.

The stopping rule: a slice stops after ``max_iter`` steps; once its labels fall to
``min_labels`` (or ``n_classes``, or the number of scribble classes, with every scribbled
class holding 90% of its scribbles; never in a refinement); or once fewer than ``tol`` of
its pixels changed label for ``patience`` steps in a row. The rule reads the steps'
figures every ``Params.sync_every`` steps (:mod:`.sync`; every step on the CPU), so a stop
can come up to ``sync_every - 1`` steps after the step that met it. No Qt, no napari.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..features import image_features
from ..infer import network_labels, upsample_nearest
from ..nets import make_models
from ..params import Params
from ..result import Progress
from .mmt import mmt_step
from .scribble_loss import scribble_targets, scribbles_met
from .single import single_step
from .state import SliceTraining, StepOutcome, TrainState
from .sync import read_steps, sync_every
from .view import train_view

__all__ = ["STEPS", "RunProgress", "init_networks", "train_slice"]

#: the step function of each learned method: Kim 2020 and Kanezaki 2018 share one, which
#: votes its targets over superpixels when the slice has them (Kanezaki 2018's)
STEPS = {"mmt": mmt_step, "kim2020": single_step, "kanezaki2018": single_step}


@dataclass
class RunProgress:
    """Where a slice's training stands in the whole run, for its progress events.

    Attributes
    ----------
    preview_every : int
        Steps between previews (0: none).
    step0 : int
        Steps done by the run before this slice.
    total : int
        Steps the run takes at most.
    slice_index : int
        Index of the slice being trained.
    n_slices : int
        Slices in the run.
    history : list of dict
        The run's per-step records; appended to.
    device_name : str
        The device, in words.
    """

    preview_every: int
    step0: int
    total: int
    slice_index: int
    n_slices: int
    history: list
    device_name: str

    def record(self, it: int, out: StepOutcome, changed: float) -> None:
        """Append one step to :attr:`history`.

        Parameters
        ----------
        it : int
            The step on this slice, 0-based.
        out : StepOutcome
            What the step reported.
        changed : float
            Fraction of pixels whose label changed (a stack's: per step since the slice
            was last trained on).
        """
        self.history.append(
            {
                "slice": self.slice_index,
                "iteration": it + 1,
                "n_labels": out.n_labels,
                "changed": changed,
                **out.losses,
            }
        )

    def wants_preview(self, it: int, last: bool) -> bool:
        """Whether step ``it`` (0-based) carries a preview (every ``preview_every``, last).

        Parameters
        ----------
        it : int
            The step on this slice, 0-based.
        last : bool
            The slice's last step.

        Returns
        -------
        bool
            True when previews are on and this step is due one.
        """
        return bool(self.preview_every) and ((it + 1) % self.preview_every == 0 or last)

    def event(self, it: int, out: StepOutcome, shapes: tuple | None) -> Progress:
        """The progress event of step ``it`` of this slice.

        Parameters
        ----------
        it : int
            The step on this slice, 0-based.
        out : StepOutcome
            What the step reported (its losses and label count go into the event).
        shapes : tuple or None
            ``((h, w), (H, W))``, the training view's and the full slice's sizes, for a
            preview (the step's labels upsampled, ids from 1); None for none.

        Returns
        -------
        Progress
            The event.
        """
        preview = None
        if shapes is not None:
            small = out.labels.reshape(shapes[0]).cpu().numpy()
            preview = upsample_nearest(small, shapes[1]).astype(np.int32) + 1
        return Progress(
            iteration=self.step0 + it + 1,
            total=self.total,
            losses=out.losses,
            n_labels=out.n_labels,
            preview=preview,
            slice_index=self.slice_index,
            n_slices=self.n_slices,
            device=self.device_name,
        )


def init_networks(
    state: TrainState, method: str, in_channels: int, p: Params, seed: int, device: torch.device
) -> None:
    """Make a run's networks, optimiser and noise generator (seeded) into ``state``.

    Parameters
    ----------
    state : TrainState
        Filled in: ``net``, ``opt``, ``step``, ``gen`` and, for MMT, ``teacher``.
    method : str
        A learned method; ``"mmt"`` makes a pair of students and a pair of teachers.
    in_channels : int
        Channels of the image.
    p : Params
        Reads ``q``, ``n_conv``, ``padding``, ``fused``, ``lr`` and ``momentum``.
    seed : int
        Seeds torch's global generator (weights) and ``gen`` (``seed + 1``).
    device : torch.device
        Where the networks live.
    """
    n_models = 2 if method == "mmt" else 1
    torch.manual_seed(seed)
    fused = p.fused if p.fused is not None else device.type == "cuda"
    net = make_models(in_channels, p.q, p.n_conv, n_models, fused, p.padding).to(device)
    state.net = net
    state.opt = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum)
    state.step = 0
    state.gen = torch.Generator(device="cpu").manual_seed(seed + 1)
    if method == "mmt":
        teacher = copy.deepcopy(net)
        for prm in teacher.parameters():
            prm.requires_grad_(False)
        state.teacher = teacher


def slice_training(method, xs, x, p, state, scribble, device) -> SliceTraining:
    """What the steps on one slice read: scribbles, superpixels, autocast.

    Parameters
    ----------
    method : str
        The learned method (Kanezaki 2018's SLIC superpixels, MMT's ``superpixel_size``).
    xs : numpy.ndarray of shape (C, h, w), float32
        The slice's training view.
    x : torch.Tensor of shape (1, C, h, w)
        The same on the device.
    p : Params
        The run's parameters.
    state : TrainState
        The networks (the scribble classes' channels are fixed here on the first
        scribbled slice).
    scribble : numpy.ndarray of shape (H, W), int64, or None
        Scribble class index per full-size pixel (-1 = not scribbled).
    device : torch.device
        Where training runs.

    Returns
    -------
    SliceTraining
        What every step on the slice reads.
    """
    scr = None
    if scribble is not None:
        net = state.teacher if state.teacher is not None else state.net
        scr = scribble_targets(scribble, xs, x, net, p.q, state, float(p.scribble_weight), device)
    sp_t, n_sp = None, 0
    if method == "kanezaki2018" or (method == "mmt" and p.superpixel_size):
        from skimage.segmentation import slic

        if method == "kanezaki2018":
            sp = slic(
                xs.transpose(1, 2, 0),
                n_segments=p.n_segments,
                compactness=p.compactness,
                channel_axis=-1,
                start_label=0,
            )
        else:
            # on CIELAB (RGB) or intensities x 100 (other data): one compactness fits both
            sp = slic(
                image_features(xs),
                compactness=10.0,
                channel_axis=-1,
                start_label=0,
                convert2lab=False,
                n_segments=max(1, xs.shape[1] * xs.shape[2] // p.superpixel_size),
            )
        n_sp = int(sp.max()) + 1
        sp_t = torch.from_numpy(sp.astype(np.int64)).to(device).reshape(-1)
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if p.bf16 else contextlib.nullcontext()
    return SliceTraining(x, p, device, amp, scr, sp_t, n_sp)


def labels_done(out: StepOutcome, min_labels: int, state: TrainState, scr) -> bool:
    """The label-count stop: labels down to ``min_labels``, scribbles honoured.

    Never a refinement (``state.warm``): its other classes must not be merged away.

    Parameters
    ----------
    out : StepOutcome
        The step's outcome (its ``n_labels`` and ``labels``).
    min_labels : int
        The label count that stops training.
    state : TrainState
        Reads ``warm``.
    scr : ScribbleTargets or None
        The step's scribbles: every scribbled class must hold 90% of its scribbles.

    Returns
    -------
    bool
        True when training stops.
    """
    return (
        out.n_labels <= min_labels
        and not state.warm
        and (scr is None or scribbles_met(out.labels.reshape(-1)[scr.marked], scr))
    )


def train_slice(
    method: str,
    x_full: np.ndarray,
    p: Params,
    state: TrainState,
    run: RunProgress,
    *,
    seed: int,
    device: torch.device,
    scribble: np.ndarray | None = None,
) -> Iterator[Progress | np.ndarray]:
    """Train on one slice (the stopping rule: see the module), then label it.

    ``state`` carries the networks from slice to slice (empty for the first): the next
    slice of a stack continues from the previous one's networks, so that the same id keeps
    meaning the same cluster and a near-identical slice needs few steps; a refinement starts
    from a kept model's state.

    Parameters
    ----------
    method : str
        ``"mmt"``, ``"kim2020"`` or ``"kanezaki2018"``.
    x_full : numpy.ndarray of shape (C, H, W), float32
        The normalised slice, values in [0, 1].
    p : Params
        The run's parameters.
    state : TrainState
        Read and updated.
    run : RunProgress
        Where the slice stands in the run; its ``history`` is appended to.
    seed : int
        Seeds the networks when ``state`` has none yet.
    device : torch.device
        Where training runs.
    scribble : numpy.ndarray of shape (H, W), int64, optional
        Scribble class index per pixel (-1 = not scribbled;
        :meth:`napari_mmtseg.scribbles.Scribbles.classes`), pulled toward their channels
        with weight ``p.scribble_weight`` (Kim et al. 2020, eq. 6).

    Yields
    ------
    Progress or numpy.ndarray
        A :class:`Progress` per step, then the (H, W) int32 label map (network channel ids).
    """
    xs = train_view(x_full, p.train_size)
    x = torch.from_numpy(xs)[None].to(device)
    if state.net is None:
        init_networks(state, method, xs.shape[0], p, seed, device)
    state.net.train()
    st = slice_training(method, xs, x, p, state, scribble, device)
    step = STEPS[method]
    n_scribbled = 0 if st.scr is None else int(st.scr.chans.numel())
    min_labels = max(p.min_labels, p.n_classes if p.n_classes != "auto" else 0, n_scribbled)
    prev = None
    stable = 0
    stop = False
    read_every, todo = sync_every(p, device), []  # steps run, not yet read on the host
    for it in range(p.max_iter):
        state.opt.zero_grad(set_to_none=True)
        todo.append(step(state, st, prev))
        state.step += 1
        prev = todo[-1].labels
        if len(todo) < read_every and it + 1 < p.max_iter:
            continue  # the GPU runs on; its figures are read with the next batch
        for j, out in enumerate(read_steps(todo), start=it + 1 - len(todo)):
            frac = out.n_changed / out.labels.numel() if j > 0 else 1.0
            run.record(j, out, frac)
            stop = labels_done(out, min_labels, state, st.scr) or stop
            if p.tol > 0:
                stable = stable + 1 if frac < p.tol else 0
                stop = stop or stable >= p.patience
            last = j == it and (stop or it + 1 == p.max_iter)
            shapes = (xs.shape[1:], x_full.shape[1:]) if run.wants_preview(j, last) else None
            yield run.event(j, out, shapes)
        todo = []
        if stop:
            break
    yield network_labels(method, p, state.net, state.teacher, x, x_full, device)
