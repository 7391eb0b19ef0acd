"""One model for a whole stack: training on a pool of slices' training views.

Every step trains on a batch of the pool's slices (one on the CPU, :func:`batch_size`), the
pool's slices in a fresh random order each round, so every slice is seen as often as the
others; ``max_iter`` steps in all, not per slice. The stopping rule is the one of
:mod:`.loop`, read over the stack: the label count is that of the labels seen over the last
round of slices, and a slice's changed pixels are counted against its own labels when it was
last trained on, per step since then (so the figure is one step's change, as for one image,
however many other slices came between). The steps' figures are read on the host every
``sync_every`` steps (:func:`.sync.sync_every`: every step on the CPU), as for one slice.
No Qt, no napari.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import numpy as np
import torch

from ..params import Params
from ..result import Progress
from .loop import STEPS, RunProgress, init_networks, labels_done, slice_training
from .state import SliceTraining, TrainState
from .sync import PendingStep, read_steps, sync_every
from .view import train_view

__all__ = ["SlicePool", "batch_size", "pool_indices", "read_pool", "train_stack"]

#: host memory the pool's training views may take, in bytes
POOL_BYTES = 256 * 2**20
#: slices per training step on the CPU (docs/performance.md, "Stacks")
CPU_BATCH = 1


@dataclass
class SlicePool:
    """The slices a stack's model trains on: their training views and scribbles.

    Attributes
    ----------
    index : list of int
        Slice index (C order over the stack axes) of each view.
    views : list of numpy.ndarray
        (C, h, w) float32 training views, values in [0, 1].
    scribbles : list
        Per view, the (H, W) int64 scribble class plane (-1 = not scribbled;
        :meth:`napari_mmtseg.scribbles.Scribbles.classes`) or None.
    full_shape : tuple of int
        ``(H, W)`` of a full-size slice.
    """

    index: list
    views: list
    scribbles: list = field(default_factory=list)
    full_shape: tuple = ()

    def batch(self, n_max: int) -> torch.Tensor:
        """Up to ``n_max`` views, evenly spaced through the pool, as one batch.

        Parameters
        ----------
        n_max : int
            Most views in the batch.

        Returns
        -------
        torch.Tensor of shape (B, C, h, w), float32
            On the CPU.
        """
        pick = np.unique(np.linspace(0, len(self.views) - 1, min(n_max, len(self.views))))
        return torch.from_numpy(np.stack([self.views[int(j)] for j in pick.round()]))


def pool_indices(n: int, view_bytes: int, must=(), budget: int | None = None) -> list:
    """Which slices a stack's model trains on: all that fit ``budget``, evenly spaced.

    Parameters
    ----------
    n : int
        Slices in the stack.
    view_bytes : int
        Bytes of one training view.
    must : sequence of int, optional
        Slices always in the pool (the scribbled ones).
    budget : int, optional
        Bytes the pool's views may take (None: :data:`POOL_BYTES`); at least one slice is
        taken besides ``must``.

    Returns
    -------
    list of int
        Sorted slice indices.
    """
    budget = POOL_BYTES if budget is None else budget
    m = int(max(1, min(n, budget // max(1, view_bytes))))
    picked = np.linspace(0, n - 1, m).round().astype(int)
    return sorted(set(picked.tolist()) | {int(i) for i in must})


def read_pool(prep, p: Params, indices, planes=None) -> SlicePool:
    """Read the pool's slices (one at a time) and keep their training views.

    Parameters
    ----------
    prep : PreparedImage
        The image.
    p : Params
        Reads ``train_size``.
    indices : sequence of int
        The slices (:func:`pool_indices`).
    planes : callable, optional
        ``planes(i)``: slice ``i``'s scribble class plane, or None.

    Returns
    -------
    SlicePool
        The pool.
    """
    views, scribbles = [], []
    for i in indices:
        views.append(np.ascontiguousarray(train_view(prep.slice(i), p.train_size)))
        scribbles.append(None if planes is None else planes(i))
    return SlicePool(list(indices), views, scribbles, tuple(prep.yx))


def _batches(n: int, k: int, rng: np.random.Generator) -> Iterator[list]:
    """Batches of ``k`` pool positions, round after round, each round in a fresh random
    order (a round's last batch is filled up from the next)."""
    queue: list = []
    while True:
        while len(queue) < k:
            queue += rng.permutation(n).tolist()
        yield queue[:k]
        del queue[:k]


def batch_size(pool: SlicePool, q: int, device: torch.device, n_max: int | None = None) -> int:
    """How many of the pool's slices each training step sees.

    Parameters
    ----------
    pool : SlicePool
        The pool (one slice per step when it holds scribbles).
    q : int
        Network channels (the activations' size).
    device : torch.device
        On a GPU, as many slices as about 2 GiB of activations allow (at most 16); on the
        CPU :data:`CPU_BATCH` (docs/performance.md, "Stacks").
    n_max : int, optional
        A cap (tests, benchmarks).

    Returns
    -------
    int
        At least 1, at most the pool's size.
    """
    if any(s is not None for s in pool.scribbles):
        return 1
    k = CPU_BATCH
    if device.type != "cpu":
        per_slice = 2 * q * int(np.prod(pool.views[0].shape[1:])) * 4 * 8  # both nets' layers
        k = max(1, min(16, 2 * 2**30 // per_slice))
    if n_max is not None:
        k = min(k, n_max)
    return int(max(1, min(k, len(pool.views))))


def train_stack(
    method: str,
    pool: SlicePool,
    p: Params,
    state: TrainState,
    run: RunProgress,
    *,
    seed: int,
    device: torch.device,
    batch: int = 1,
) -> Iterator[Progress]:
    """Train one model on a stack's pool of slices: ``max_iter`` steps of ``batch`` slices.

    Scribbled slices are trained on with the others (one slice per step); their scribble
    classes' channels are fixed first, on the first scribbled slice.

    Parameters
    ----------
    method : str
        ``"mmt"``, ``"kim2020"`` or ``"kanezaki2018"``.
    pool : SlicePool
        The slices trained on.
    p : Params
        The run's parameters.
    state : TrainState
        Read and updated (the networks are made here when it has none).
    run : RunProgress
        The run's progress; its ``slice_index`` follows the (first) slice of each step.
    seed : int
        Seeds the networks (when made here) and the order of the slices.
    device : torch.device
        Where training runs.
    batch : int, optional
        Slices per step, in one forward (:func:`batch_size`): BatchNorm then normalises
        with statistics closer to the whole stack's, the ones inference uses.

    Yields
    ------
    Progress
        One per step, after its figures are read (:func:`.sync.sync_every`): a stop can come
        up to ``sync_every - 1`` steps after the step that met it.
    """
    if state.net is None:
        init_networks(state, method, pool.views[0].shape[0], p, seed, device)
    state.net.train()
    steps, n_scribbled = _scribbled_first(method, pool, p, state, device)
    stop = _StackStop(p, n_scribbled, max(1, len(pool.views) // batch))
    prev, layout = [None] * len(pool.views), [None]
    last_seen = [None] * len(pool.views)  # the step each view was last trained on
    order = _batches(len(pool.views), batch, np.random.default_rng(seed + 2))
    read_every, todo, done = sync_every(p, device), [], False  # steps not yet read
    for it in range(p.max_iter):
        js = next(order)
        for j in js:
            if steps[j] is None:
                steps[j] = _training(method, pool, j, p, state, device)
        gap = float(np.mean([1 if last_seen[j] is None else it - last_seen[j] for j in js]))
        for j in js:
            last_seen[j] = it
        todo.append(_run_step(method, steps, prev, layout, js, state, gap))
        if len(todo) < read_every and it + 1 < p.max_iter:
            continue  # the GPU runs on; its figures are read with the next batch
        for k, (pend, meta) in enumerate(zip(read_steps([t.pending for t in todo]), todo)):
            j_it = it + 1 - len(todo) + k
            # changed pixels per step since the step's slices were last trained on (their
            # mean gap): the single-image rule's figure, however many steps came between
            frac = pend.n_changed / pend.labels.numel() / meta.gap if meta.had else 1.0
            run.slice_index = pool.index[meta.js[0]]
            run.record(j_it, pend, frac)
            done = stop.update(pend, frac, state, meta.scr) or done
            last = j_it == it and (done or it + 1 == p.max_iter)
            shapes = None
            if run.wants_preview(j_it, last):
                pend = pend._replace(labels=pend.labels.reshape(len(meta.js), -1)[0])
                shapes = (pool.views[meta.js[0]].shape[1:], pool.full_shape)
            yield run.event(j_it, pend, shapes)
        todo = []
        if done:
            break


def _scribbled_first(method: str, pool: SlicePool, p: Params, state: TrainState, device):
    """The scribbled views' trainings, made first (their classes' channels are fixed on the
    first), the others' left None; and the number of scribbled classes."""
    steps = [None] * len(pool.views)
    for j in [j for j, s in enumerate(pool.scribbles) if s is not None]:
        steps[j] = _training(method, pool, j, p, state, device)
    n_scribbled = max(
        [int(s.scr.chans.numel()) for s in steps if s is not None and s.scr is not None],
        default=0,
    )
    return steps, n_scribbled


class _Ran(NamedTuple):
    """A step run and not yet read: its report, its slices, whether they had labels before,
    and its scribbles."""

    pending: PendingStep
    js: list
    had: bool
    scr: object
    gap: float = 1.0


def _run_step(method: str, steps: list, prev: list, layout: list, js: list, state, gap=1):
    """One optimiser step on pool views ``js``; ``prev`` takes their new labels (still on
    the device), ``layout[0]`` the shape of a step's labels."""
    st = steps[js[0]] if len(js) == 1 else _joined([steps[j] for j in js])
    state.opt.zero_grad(set_to_none=True)
    had = [prev[j] for j in js]
    before = None if any(h is None for h in had) else _stacked(had, layout[0])
    pend = STEPS[method](state, st, before)
    layout[0] = pend.labels.shape  # the layout of a step's labels (the same at every step)
    state.step += 1
    for j, lab in zip(js, pend.labels.reshape(len(js), -1)):
        prev[j] = lab
    return _Ran(pend, js, had[0] is not None, st.scr, gap)


class _StackStop:
    """The stopping rule of :mod:`.loop`, read over a stack (see the module docstring)."""

    def __init__(self, p: Params, n_scribbled: int, rounds: int):
        self.p, self.n_scribbled = p, n_scribbled
        self.min_labels = max(
            p.min_labels, p.n_classes if p.n_classes != "auto" else 0, n_scribbled
        )
        self.seen = deque(maxlen=min(rounds, 32))  # labels of the last round of slices
        self.stable = 0

    def update(self, out, frac: float, state: TrainState, scr) -> bool:
        """Whether training stops after this step (``scr``: the step's scribbles)."""
        p, seen = self.p, self.seen
        seen.append(torch.bincount(out.labels.reshape(-1), minlength=p.q) > 0)
        n_seen = int(torch.stack(list(seen)).any(0).sum()) if len(seen) == seen.maxlen else p.q
        done = labels_done(out._replace(n_labels=n_seen), self.min_labels, state, scr) and (
            self.n_scribbled == 0 or scr is not None
        )
        if p.tol > 0:
            self.stable = self.stable + 1 if frac < p.tol else 0
            done = done or self.stable >= p.patience
        return done


def _stacked(prevs: list, shape) -> torch.Tensor:
    """The previous labels of a step's slices, in the layout its step function reads."""
    return torch.stack(prevs).reshape(shape)


def _joined(parts: list) -> SliceTraining:
    """One :class:`~.state.SliceTraining` for a batch of slices (no scribbles): their
    views in one tensor, their superpixels numbered one after the other."""
    first = parts[0]
    x = torch.cat([s.x for s in parts])
    sp, n_sp = None, 0
    if first.superpixels is not None:
        offsets = np.cumsum([0] + [s.n_superpixels for s in parts[:-1]]).tolist()
        sp = torch.cat([s.superpixels + o for s, o in zip(parts, offsets)])
        n_sp = sum(s.n_superpixels for s in parts)
    return SliceTraining(x, first.p, first.device, first.amp, None, sp, n_sp)


def _training(method, pool: SlicePool, j: int, p: Params, state: TrainState, device):
    """The :class:`~.state.SliceTraining` of pool view ``j`` (its tensor on the device)."""
    xs = pool.views[j]
    x = torch.from_numpy(xs)[None].to(device)
    return slice_training(method, xs, x, p, state, pool.scribbles[j], device)
