"""One model for a whole stack: its networks frozen once, and the stack's output ids.

A stack trained as one model (``Params.stack="one_model"``, or a kept model applied) labels
every slice with the same networks, their BatchNorm frozen once to the statistics of a sample
of the stack's slices, so that one network channel is one class on every slice. The output
ids follow from it: ``output="clusters"`` gives every class one id through the stack;
``output="regions"`` gives regions ids unique through the stack, joined across the slices of
a Z axis where a region of one class overlaps a region of the same class in the slice
before (a nucleus that spans slices is one id), and kept apart per frame along T.

Whether a stack axis is Z or T: the ``axes`` letters a caller gives (tifffile's and
napari's codes; the CLI reads them from the file), else the (T, Z, Y, X) convention for a
4D stack; a 3D stack of unknown axes is taken as frames (regions per slice). No Qt, no
napari.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .align import match_from_overlap, overlap_matrix
from .classical import FIT_ONCE_METHODS, apply_classical, fit_classical
from .infer import freeze_bn_to_image_stats, frozen_labels, frozen_statistics
from .memory import oom_guard
from .nets import channel_argmax, inference_network
from .params import Params
from .result import consecutive
from .train import (
    RunProgress,
    batch_size,
    pool_indices,
    read_pool,
    train_shape,
    train_stack,
    train_view,
)

__all__ = [
    "StackIds",
    "StackNetworks",
    "bn_batch_size",
    "frozen_for_stack",
    "depth_stride",
    "scribbled_indices",
    "stack_labeller",
    "stack_pixels",
    "stack_training",
]

#: memory the batch that freezes BatchNorm may take per layer, in bytes
BN_BATCH_BYTES = 512 * 2**20


class StackNetworks:
    """A stack's final network, its BatchNorm frozen to a sample of the stack's slices.

    Parameters
    ----------
    method : str
        The learned method.
    p : Params
        Reads ``q``, ``final_net``, ``tile``, ``infer_at`` and ``train_size``.
    net : torch.nn.Module
        The trained network(s) (MMT: the students); not changed.
    teacher : torch.nn.Module or None
        MMT's teachers; not changed.
    sample : torch.Tensor of shape (B, C, h, w), float32
        Training views of a sample of the stack's slices.
    device : torch.device
        Where inference runs.
    channels : sequence of int, optional
        The only channels a pixel may take (a kept model's classes,
        :attr:`napari_mmtseg.Model.class_channels`); None: any.
    """

    def __init__(self, method: str, p: Params, net, teacher, sample, device, channels=None):
        self.p, self.device, self.channels = p, device, channels
        final = teacher if method == "mmt" and p.final_net != "student" else net
        frozen = copy.deepcopy(final)
        sample = sample.to(device)
        freeze_bn_to_image_stats(frozen, sample)
        self.net = inference_network(frozen)
        self.other = None
        if method == "mmt" and p.final_net == "teachers":  # both vote, teacher 1 mapped to 0
            with torch.no_grad():
                tl = channel_argmax(self.net(sample), 2)  # (B, 2, h, w)
            S = overlap_matrix(tl[:, 0], tl[:, 1], p.q, p.q)
            self.other = match_from_overlap(S.cpu().numpy())

    @classmethod
    def of_model(cls, model, p: Params, device, channels=None):
        """A kept model's networks, frozen to the statistics kept with it (no sample).

        Parameters
        ----------
        model : napari_mmtseg.model.Model
            With :attr:`~napari_mmtseg.model.Model.frozen_bn`.
        p : Params
            The run's parameters (``tile``, ``infer_at``, ``train_size``).
        device : torch.device
            Where inference runs.
        channels : sequence of int, optional
            As for the constructor.

        Returns
        -------
        StackNetworks
            Labels every slice with the model's training statistics.
        """
        self = cls.__new__(cls)
        self.p, self.device, self.channels = p, device, channels
        self.net, self.other = model.frozen_networks(device, p.final_net)
        return self

    def labels(self, x: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
        """The network channel of every pixel of one full-size slice.

        Parameters
        ----------
        x : numpy.ndarray of shape (C, H, W), float32
            The normalised slice.
        fallback : numpy.ndarray of shape (H, W), int32, optional
            As for :func:`~napari_mmtseg.infer.infer_labels` (with the classes given).

        Returns
        -------
        numpy.ndarray of shape (H, W), int32
            Channel ids 0..q-1, one class per channel on every slice.
        """
        p = self.p
        xt = None
        if p.infer_at == "train":
            xt = torch.from_numpy(train_view(x, p.train_size))[None].to(self.device)
        return frozen_labels(
            self.net, 0, xt, x, p.tile, self.device, self.other, p.infer_at, self.channels,
            fallback,
        )  # fmt: skip


def stack_labeller(run, plane_of):
    """Train or fit once on a stack: what labels its every slice.

    A learned method trains one model on a pool of slices (:func:`~.train.train_stack`)
    and freezes it (:class:`StackNetworks`), a kept model is frozen as it is, k-means and
    multi-Otsu fit once on a sample of the stack's pixels (:func:`~.classical.fit_classical`).

    Parameters
    ----------
    run : RunPlan
        The run (:func:`napari_mmtseg.plan.plan_run`).
    plane_of : callable
        ``plane_of(run, i)``: slice ``i``'s scribble class plane, or None.

    Yields
    ------
    Progress
        The training steps.

    Returns
    -------
    callable
        ``label(x)``: the (H, W) cluster map of a normalised (C, H, W) slice, one id per
        class on every slice.
    """
    prep, p, method = run.prep, run.p, run.method
    if method in FIT_ONCE_METHODS:
        idx = pool_indices(prep.n_slices, 1, budget=32)  # up to 32 slices, evenly spaced
        fitted = fit_classical(method, stack_pixels(prep, idx, seed=run.seed), p, run.seed)
        return lambda x: apply_classical(fitted, x)
    if run.model is not None and run.model.frozen_bn is not None:  # its training statistics
        nets = StackNetworks.of_model(run.model, p, run.device, run.model.class_channels)
        return partial(_guarded_labels, nets, run.device, p, prep.yx)
    pool = yield from stack_training(run, plane_of)
    nets = frozen_for_stack(run, pool)

    return partial(_guarded_labels, nets, run.device, p, prep.yx)


def frozen_for_stack(run, pool) -> StackNetworks:
    """A stack's trained (or old kept) networks frozen to a sample of its training pool; a
    trained run records the statistics for the model it keeps (``run.frozen``).

    Parameters
    ----------
    run : RunPlan
        The run (:func:`napari_mmtseg.plan.plan_run`) of a learned method.
    pool : SlicePool
        Its training pool (:func:`stack_training`).

    Returns
    -------
    StackNetworks
        What labels the stack's slices.
    """
    p = run.p
    sample = pool.batch(bn_batch_size(p.q, train_shape(run.prep.yx, p.train_size)))
    classes = None if run.model is None else run.model.class_channels
    nets = StackNetworks(
        run.method, p, run.state.net, run.state.teacher, sample, run.device, classes
    )
    if run.model is None:  # the statistics the kept model labels with (the vote's own map)
        net, teacher = run.state.net, run.state.teacher
        s = sample.to(run.device)
        run.frozen = frozen_statistics(run.method, p, net, teacher, s, nets.other)
    return nets


def stack_training(run, plane_of):
    """Read a stack's training pool and, for a run that trains, train one model on it.

    The first half of :func:`stack_labeller` for a learned method: the networks end in
    ``run.state``, nothing is frozen or labelled (:func:`napari_mmtseg.fit_model` stops here).

    Parameters
    ----------
    run : RunPlan
        The run (:func:`napari_mmtseg.plan.plan_run`) of a learned method.
    plane_of : callable
        ``plane_of(run, i)``: slice ``i``'s scribble class plane, or None.

    Yields
    ------
    Progress
        The training steps.

    Returns
    -------
    SlicePool
        The slices read for training (:func:`~.train.read_pool`).
    """
    prep, p, method = run.prep, run.p, run.method
    must = [] if run.scr is None else scribbled_indices(run.scr, prep.layout, range(prep.n_slices))
    h, w = train_shape(prep.yx, p.train_size)
    idx = pool_indices(prep.n_slices, 4 * prep.n_channels * h * w, must)
    pool = read_pool(prep, p, idx, (lambda i: plane_of(run, i)) if must else None)
    if run.trains:
        where = RunProgress(
            run.preview_every, 0, run.total, idx[0], prep.n_slices, run.history, run.device_name
        )
        with oom_guard(run.device, p, prep.yx):
            k = batch_size(pool, p.q, run.device)
            yield from train_stack(
                method, pool, p, run.state, where, seed=run.seed, device=run.device, batch=k
            )
    return pool


def _guarded_labels(nets, device, p, yx, x, fallback=None) -> np.ndarray:
    """The cluster map of one slice by the frozen networks; out of memory: a clear error."""
    with oom_guard(device, p, yx):
        return nets.labels(x, fallback)


def scribbled_indices(scr, layout, order) -> list:
    """The slices of ``order`` that hold scribbles.

    Parameters
    ----------
    scr : Scribbles
        The run's scribbles.
    layout : SliceLayout
        The image's slice layout.
    order : iterable of int
        Slice indices.

    Returns
    -------
    list of int
        Those with a scribbled pixel, in ``order``.
    """
    return [i for i in order if (scr.data[layout.labels_index(i)] > 0).any()]


def bn_batch_size(q: int, view_shape: tuple, n_max: int = 16) -> int:
    """How many training views freeze BatchNorm together within :data:`BN_BATCH_BYTES`.

    Parameters
    ----------
    q : int
        Network channels.
    view_shape : tuple of int
        ``(h, w)`` of a training view.
    n_max : int, optional
        The most views.

    Returns
    -------
    int
        At least 1.
    """
    per_view = 2 * q * int(np.prod(view_shape)) * 4 * 2  # two networks' float32 activations
    return int(max(1, min(n_max, BN_BATCH_BYTES // per_view)))


def stack_pixels(prep, indices, n_max: int = 200_000, seed: int = 0) -> np.ndarray:
    """A sample of the stack's normalised pixels, for a classical method's one fit.

    Parameters
    ----------
    prep : PreparedImage
        The image.
    indices : sequence of int
        The slices sampled (read one at a time).
    n_max : int, optional
        Pixels in the sample at most, shared evenly among the slices.
    seed : int, optional
        Seeds which pixels.

    Returns
    -------
    numpy.ndarray of shape (N, C), float32
        Pixel values in [0, 1].
    """
    rng = np.random.default_rng(seed)
    share = max(1, n_max // max(1, len(indices)))
    parts = []
    for i in indices:
        x = prep.slice(i)
        flat = x.reshape(x.shape[0], -1)
        take = rng.choice(flat.shape[1], share, replace=False) if flat.shape[1] > share else None
        parts.append((flat if take is None else flat[:, take]).T)
    return np.concatenate(parts)


def depth_stride(prep, axes: str | None) -> int | None:
    """The step, in slice numbers, between neighbours along Z (None: no Z axis).

    Parameters
    ----------
    prep : PreparedImage
        The image (its stack axes).
    axes : str or None
        One letter per axis of the image (``"ZYX"``, ``"TZYXC"``; tifffile's and napari's
        codes, any case), or per axis of the labels (the image's without the channel axis);
        a stack axis lettered ``Z`` is depth. None: the second stack axis of a 4D
        (T, Z, Y, X) stack is Z; a 3D stack's axis is taken as T.

    Returns
    -------
    int or None
        The C-order stride of the Z axis over the stack's slices.

    Raises
    ------
    ValueError
        When ``axes`` has neither one letter per axis of the image nor per axis of the labels,
        names an axis twice, does not letter the image's Y and X axes ``Y`` and ``X``, or
        letters channels (``C``, ``S``) other than the channel axis, or the channel axis
        otherwise.
    """
    layout = prep.layout
    stack_axes = tuple(layout.stack_axes)
    by_axis = None if axes is None else _axis_letters(layout, axes)
    if not stack_axes:
        return None
    if by_axis is None:
        k = 1 if len(stack_axes) == 2 else None
    else:
        zs = [k for k, a in enumerate(stack_axes) if by_axis.get(a) == "Z"]
        k = zs[0] if zs else None
    if k is None:
        return None
    return int(np.prod(layout.stack_shape[k + 1 :], dtype=np.int64))


class StackIds:
    """The output ids of a stack labelled by one model, gathered slice by slice.

    Parameters
    ----------
    output : str
        ``"clusters"`` or ``"regions"``.
    out : numpy.ndarray of shape (n, H, W), int32
        Where the slices' ids go (filled in).
    stack_shape : tuple of int
        Sizes of the stack axes.
    stride : int or None
        :func:`depth_stride` (regions only: regions join along Z).
    """

    def __init__(self, output: str, out: np.ndarray, stack_shape: tuple, stride: int | None):
        self.output, self.out = output, out
        self.stride = stride
        self.depth = None
        if stride is not None:  # the Z axis's length: slice i is first in Z when i % ... == 0
            k = [
                int(np.prod(stack_shape[j + 1 :], dtype=np.int64)) for j in range(len(stack_shape))
            ]
            self.depth = stack_shape[k.index(stride)]
        self.top = 0  # regions: the next unused id
        self.region_class = []  # regions: class of each id, slice after slice
        self.edges = []  # regions: pairs of ids joined along Z

    def add(self, i: int, lab: np.ndarray, raw: np.ndarray, kept: bool) -> None:
        """Put slice ``i``'s ids into :attr:`out`.

        Parameters
        ----------
        i : int
            The slice.
        lab : numpy.ndarray of shape (H, W), int
            The output stage's ids (from 0): regions, or classes (the method's cluster ids
            when ``kept``).
        raw : numpy.ndarray of shape (H, W), int
            The method's cluster map (network channels, or a classical fit's classes): the
            same class, the same id on every slice.
        kept : bool
            Clusters output: ``lab`` holds the method's cluster ids already.
        """
        raw = np.asarray(raw, dtype=np.int64)
        if self.output == "clusters":
            self.out[i] = lab if kept else _as_cluster_ids(lab, raw)
            return
        n_reg = int(lab.max()) + 1
        major = overlap_matrix(lab, raw, n_reg, int(raw.max()) + 1).argmax(1)
        ids = lab.astype(np.int64) + self.top
        self.out[i] = ids
        self.region_class.append(major)
        if self.stride is not None and (i // self.stride) % self.depth > 0:
            self._join(ids, self.out[i - self.stride])
        self.top += n_reg

    def _join(self, ids: np.ndarray, below: np.ndarray) -> None:
        """Record the overlapping same-class regions of a slice and the one before in Z."""
        cls = np.concatenate(self.region_class)
        same = cls[ids] == cls[below]
        pairs = np.unique(np.stack([below[same], ids[same]]), axis=1)
        self.edges.append(pairs)

    def labels(self, spatial_shape: tuple) -> np.ndarray:
        """The stack's labels, ids from 1, in the image's spatial shape.

        Parameters
        ----------
        spatial_shape : tuple of int
            The labels' shape.

        Returns
        -------
        numpy.ndarray
            Ids 1..K in the smallest unsigned dtype that holds them.
        """
        out = self.out
        if self.output == "regions" and self.edges:
            a, b = np.concatenate(self.edges, axis=1)
            graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), (self.top, self.top))
            _, component = connected_components(graph, directed=False)
            out = component.astype(np.int64)[out]
        return consecutive(out).reshape(spatial_shape)


def _as_cluster_ids(lab: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Classes (ids from 0) as the method's cluster ids: each class takes the cluster it
    overlaps most (one-to-one); a class left over takes an id above every cluster's."""
    n_lab, n_raw = int(lab.max()) + 1, int(raw.max()) + 1
    mapping = match_from_overlap(overlap_matrix(raw, lab, n_raw, n_lab))
    return mapping[lab]


def _axis_letters(layout, axes: str) -> dict:
    """Array axis -> its letter in ``axes``, checked against the image's layout."""
    if not isinstance(axes, str) or not axes.isalpha():
        raise TypeError(f"axes must be a string of axis letters such as 'ZYX', got {axes!r}")
    letters = axes.upper()
    shape = tuple(layout.shape)
    if len(letters) == len(layout.spatial_axes) and len(letters) != len(shape):
        by_axis = dict(zip(layout.spatial_axes, letters))
    elif len(letters) == len(shape):
        by_axis = dict(enumerate(letters))
    else:
        raise ValueError(
            f"axes={axes!r} must have one letter per axis of the image (shape {shape}), "
            "e.g. 'ZYX' or 'TYX'."
        )
    if any(letters.count(c) > 1 for c in "YXCS"):
        raise ValueError(f"axes={axes!r} names an axis twice: one letter per axis.")
    y, x = layout.yx_axes
    if by_axis.get(y) != "Y" or by_axis.get(x) != "X":
        raise ValueError(
            f"axes={axes!r}: the image's Y and X are its last two axes other than channels "
            f"(axes {y} and {x} of shape {shape}); put the stack axes in front "
            "(numpy.moveaxis) and letter those two Y and X."
        )
    for a, letter in by_axis.items():
        if letter in "CS" and a != layout.channel_axis:
            raise ValueError(
                f"axes={axes!r} letters axis {a} as channels, but channel_axis is "
                f"{layout.channel_axis}: pass channel_axis={a}."
            )
    ch = layout.channel_axis
    if ch is not None and ch in by_axis and by_axis[ch] not in "CS":
        raise ValueError(
            f"axes={axes!r} letters axis {ch} {by_axis[ch]!r}, but it is taken as channels "
            f"(shape {shape}): put a stack axis in front of Y and X (numpy.moveaxis), or "
            "letter the channel axis C."
        )
    return by_axis
