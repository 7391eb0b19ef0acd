"""Inference: a trained network's labels on the full-size slice.

Tile by tile, with BatchNorm frozen to the statistics of the slice's training view (what
train-mode BatchNorm did while training). No Qt, no napari.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from .align import match_from_overlap, overlap_matrix
from .nets import SegNet, SegNetPair, channel_argmax, inference_network, with_outputs_reordered

__all__ = [
    "bn_buffers",
    "freeze_bn_to_image_stats",
    "frozen_statistics",
    "frozen_labels",
    "infer_labels",
    "network_labels",
    "teachers_alignment",
    "upsample_nearest",
]


def upsample_nearest(lab: np.ndarray, shape: tuple) -> np.ndarray:
    """Nearest-neighbour upsampling of a label map.

    Parameters
    ----------
    lab : numpy.ndarray of shape (h, w)
        Labels of the training view.
    shape : tuple of int
        ``(H, W)``, the full size.

    Returns
    -------
    numpy.ndarray of shape (H, W)
        ``lab`` itself when it already has that shape.
    """
    if lab.shape == tuple(shape):
        return lab
    r = np.arange(shape[0]) * lab.shape[0] // shape[0]
    c = np.arange(shape[1]) * lab.shape[1] // shape[1]
    return lab[r[:, None], c[None, :]]


@torch.no_grad()
def freeze_bn_to_image_stats(net: SegNet, x: torch.Tensor) -> None:
    """Freeze every BatchNorm to the batch statistics of ``x``, then switch to eval mode.

    The network then does at any tile what train-mode BatchNorm did on the whole
    training image.

    Parameters
    ----------
    net : SegNet or SegNetPair
        Changed in place (running statistics, eval mode).
    x : torch.Tensor of shape (1, C, h, w)
        The training view.
    """
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = 1.0
    net.train()
    net(x)
    n = x.shape[0] * x.shape[-2] * x.shape[-1]
    for m, (mom, _) in zip(bns, saved):
        m.momentum = mom
        # BN stores the unbiased variance, normalises with the biased one
        m.running_var.mul_((n - 1) / n)
    net.eval()


def bn_buffers(net: torch.nn.Module) -> dict:
    """The BatchNorm statistics of a network: its ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` buffers, copied to the CPU.

    Parameters
    ----------
    net : torch.nn.Module
        A network (SegNet or SegNetPair), BatchNorm frozen or not.

    Returns
    -------
    dict of str to torch.Tensor
        ``state_dict`` name -> buffer.
    """
    keep = ("running_mean", "running_var", "num_batches_tracked")
    return {
        k: v.detach().to("cpu", copy=True)
        for k, v in net.state_dict().items()
        if k.rsplit(".", 1)[-1] in keep
    }


@torch.no_grad()
def frozen_statistics(method: str, p, net, teacher, x_ref: torch.Tensor, other=None) -> tuple:
    """What labelling freezes, for a kept model to reuse on every image.

    Each network's BatchNorm statistics on ``x_ref`` (:func:`freeze_bn_to_image_stats`, on
    copies) and, for MMT, the teachers' alignment for their two-teacher vote (as
    :func:`network_labels` computes it, unless ``other`` gives it), so that a model applied
    with them labels its training image as the run did, with any ``final_net``, and every
    other image with the same statistics (not the image's own: on a field of another
    density the classes moved).

    Parameters
    ----------
    method : str
        The learned method.
    p : Params
        Reads ``q``.
    net, teacher : torch.nn.Module
        The trained network(s) and MMT's teachers (None otherwise); not changed.
    x_ref : torch.Tensor of shape (B, C, h, w)
        The training view of the training image, or a batch of a stack's (a sample).
    other : array_like of int, optional
        The teachers' alignment the run labelled with (a stack's, from the frozen
        teachers); None: computed here.

    Returns
    -------
    bn : dict
        ``"net"`` (and ``"teacher"`` for MMT): :func:`bn_buffers` of that network, frozen.
    other : list of int or None
        The teachers' alignment (MMT), else None.
    """
    if method == "mmt" and other is None:
        other = teachers_alignment(copy.deepcopy(teacher), x_ref, p.q)
    bn = {}
    for key, module in (("net", net), ("teacher", teacher)):
        if module is not None:
            frozen = copy.deepcopy(module)
            freeze_bn_to_image_stats(frozen, x_ref)
            bn[key] = bn_buffers(frozen)
    return bn, None if other is None else [int(v) for v in other]


@torch.no_grad()
def infer_labels(
    net: SegNet,
    model: int,
    x_train: torch.Tensor,
    x_full: np.ndarray,
    tile: int,
    device: torch.device,
    other: np.ndarray | None = None,
    at: str = "full",
    channels=None,
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """Argmax labels of one network on the full-size slice, tile by tile.

    Each tile has a halo wide enough for the receptive field; BatchNorm uses the
    statistics of the training view (:func:`freeze_bn_to_image_stats`, on a copy).

    Parameters
    ----------
    net : SegNet or SegNetPair
        The trained network(s); not changed.
    model : int
        Which network of the module's output (0 or 1).
    x_train : torch.Tensor of shape (1, C, h, w)
        The training view.
    x_full : numpy.ndarray of shape (C, H, W), float32
        The full-size normalised slice.
    tile : int
        Tile side, in pixels.
    device : torch.device
        Where the network runs.
    other : numpy.ndarray of shape (q,), optional
        For a pair (MMT's teachers): ``other[j]`` is this network's id for the other's
        channel ``j``; the labels are then the argmax of the two softmax maps averaged
        after that mapping (both teachers vote).
    at : str, optional
        ``"full"``: the network at full size; ``"train"``: its softmax on the training view,
        upsampled bilinearly (an ablation).
    channels : sequence of int, optional
        The only channels a pixel may take (the argmax over them); None: any.
    fallback : numpy.ndarray of shape (H, W), int32, optional
        With ``channels``: filled with the argmax over ``channels``, and the labels
        returned are the argmax over every channel (so that the output stage sees what the
        run that kept the model saw, and a pixel it leaves outside ``channels`` takes
        its ``fallback``).

    Returns
    -------
    numpy.ndarray of shape (H, W), int32
        Channel ids 0..q-1.
    """
    net = copy.deepcopy(net)
    freeze_bn_to_image_stats(net, x_train)
    return frozen_labels(
        inference_network(net), model, x_train, x_full, tile, device, other, at, channels,
        fallback,
    )  # fmt: skip


@torch.no_grad()
def frozen_labels(
    net: SegNet,
    model: int,
    x_train: torch.Tensor,
    x_full: np.ndarray,
    tile: int,
    device: torch.device,
    other: np.ndarray | None = None,
    at: str = "full",
    channels=None,
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """Argmax labels of a network whose BatchNorm is already frozen, tile by tile.

    What :func:`infer_labels` does after freezing: a stack's one model freezes its
    BatchNorm once, to the statistics of a sample of the stack's slices
    (:func:`freeze_bn_to_image_stats` on a batch), and labels every slice with it.

    Parameters
    ----------
    net : SegNet or SegNetPair
        Frozen network(s) in eval mode, best as
        :func:`~napari_mmtseg.nets.inference_network` makes them; not changed.
    model : int
        Which network of the module's output (0 or 1).
    x_train : torch.Tensor of shape (1, C, h, w)
        The slice's training view (read only with ``at="train"``).
    x_full : numpy.ndarray of shape (C, H, W), float32
        The full-size normalised slice.
    tile : int
        Tile side, in pixels.
    device : torch.device
        Where the network runs.
    other : numpy.ndarray of shape (q,), optional
        As for :func:`infer_labels`.
    at : str, optional
        As for :func:`infer_labels`.
    channels, fallback : optional
        As for :func:`infer_labels`.

    Returns
    -------
    numpy.ndarray of shape (H, W), int32
        Channel ids 0..q-1.
    """
    c, H, W = x_full.shape
    if fallback is not None and channels is not None and at == "train":
        fallback[...] = frozen_labels(
            net, model, x_train, x_full, tile, device, other, at, channels
        )
        return frozen_labels(net, model, x_train, x_full, tile, device, other, at)
    two = fallback is not None and channels is not None  # both argmaxes from one pass
    vote = other is not None
    barred = None
    if channels is not None:  # -inf on every other channel: the argmax never takes one
        barred = torch.ones(net.q, dtype=torch.bool, device=device)
        barred[torch.as_tensor(list(channels), dtype=torch.long, device=device)] = False
    if vote:  # the other network's channels in this one's order, by its head's weights
        perm = torch.from_numpy(np.argsort(other)).to(device)
        net = with_outputs_reordered(net, 1 - model, perm)
    if at == "train" and tuple(x_train.shape[-2:]) != (H, W):
        return _labels_from_training_view(net, model, x_train, (H, W), tile, vote, barred)
    halo = net.n_conv + 1
    out = np.empty((H, W), dtype=np.int32)
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            y1, x1 = min(H, y0 + tile), min(W, x0 + tile)
            ya, xa = max(0, y0 - halo), max(0, x0 - halo)
            yb, xb = min(H, y1 + halo), min(W, x1 + halo)
            t = torch.from_numpy(np.ascontiguousarray(x_full[:, ya:yb, xa:xb]))[None].to(device)
            if t.device.type == "cpu":  # the layout of inference_network's CPU copy
                t = t.contiguous(memory_format=torch.channels_last)
            scores = _scores(net, t, model, vote)
            inner = (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa))
            if two:
                out[y0:y1, x0:x1] = channel_argmax(scores, -1)[inner].cpu().numpy()
            lab = channel_argmax(_barred(scores, barred, -1), -1)
            (fallback if two else out)[y0:y1, x0:x1] = lab[inner].cpu().numpy()
    return out


def _scores(net, x: torch.Tensor, model: int, vote: bool) -> torch.Tensor:
    """The (h, w, q) responses whose channel argmax labels the pixels of one item of ``x``.

    With ``vote``, both networks of a pair vote on channels already in one order
    (:func:`~napari_mmtseg.nets.with_outputs_reordered`): the sum of their softmax maps. A
    :class:`~napari_mmtseg.nets.SegNetPair` gives each network's responses on its own, so they
    are never joined (their softmax maps are added in place: no gradients here); a grouped
    :class:`~napari_mmtseg.nets.SegNet` gives both in one tensor, summed over at once. Without
    ``vote``, network ``model``'s responses alone (the other is not run in a pair).
    """
    if vote and not isinstance(net, SegNetPair):
        return net.forward_channels_last(x)[0].softmax(-1).sum(-2)
    ys = [y[0] for y in net.forward_each_channels_last(x, None if vote else model)]
    return ys[0].softmax(-1).add_(ys[1].softmax(-1)) if vote else ys[0]


def _barred(scores: torch.Tensor, barred, dim: int, fill: float = float("-inf")) -> torch.Tensor:
    """``scores`` with ``fill`` on the ``barred`` channels (along ``dim``); as it is for None."""
    if barred is None:
        return scores
    shape = [1] * scores.dim()
    shape[dim] = -1
    return scores.masked_fill(barred.view(shape), fill)


@torch.no_grad()
def _labels_from_training_view(net, model, x_train, shape, tile, vote, barred) -> np.ndarray:
    prob = _scores(net, x_train, model, vote)  # (h, w, q)
    prob = prob if vote else prob.softmax(-1)
    # -1 below any probability, and finite: the bilinear weights never meet an infinity
    prob = _barred(prob, barred, -1, -1.0).permute(2, 0, 1)[None]  # (1, q, h, w)
    H, W = shape
    out = np.empty((H, W), dtype=np.int32)
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            y1, x1 = min(H, y0 + tile), min(W, x0 + tile)
            # pixel centres of the tile in [-1, 1]: bilinear, half-pixel centres
            # (align_corners=False)
            gy = (torch.arange(y0, y1, device=prob.device, dtype=prob.dtype) + 0.5) / H * 2 - 1
            gx = (torch.arange(x0, x1, device=prob.device, dtype=prob.dtype) + 0.5) / W * 2 - 1
            grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)[None]
            up = torch.nn.functional.grid_sample(
                prob, grid, mode="bilinear", padding_mode="border", align_corners=False
            )
            out[y0:y1, x0:x1] = channel_argmax(up[0], 0).cpu().numpy()
    return out


@torch.no_grad()
def teachers_alignment(teacher: torch.nn.Module, x: torch.Tensor, q: int) -> np.ndarray:
    """Map MMT's teacher 1's channels to teacher 0's, for the two-teacher vote.

    Parameters
    ----------
    teacher : torch.nn.Module
        MMT's two teachers (one pair network, output (1, 2, q, h, w)).
    x : torch.Tensor of shape (1, C, h, w)
        The training view.
    q : int
        Number of channels.

    Returns
    -------
    numpy.ndarray of shape (q,), int64
        ``other[j]``: teacher 0's id for teacher 1's channel ``j`` (Hungarian matching of
        their label overlap).
    """
    tl = channel_argmax(teacher(x)[0], 1).reshape(2, -1)
    return match_from_overlap(overlap_matrix(tl[0], tl[1], q, q).cpu().numpy())


def network_labels(
    method: str,
    p,
    net: torch.nn.Module,
    teacher: torch.nn.Module | None,
    x_train: torch.Tensor,
    x_full: np.ndarray,
    device: torch.device,
    channels=None,
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """The final label map of trained networks on one slice.

    MMT's labels come from the teachers (both vote, ``final_net="teachers"``), teacher 0
    (``"teacher"``) or student 0 (``"student"``); the other methods' from their network.

    Parameters
    ----------
    method : str
        ``"mmt"``, ``"kim2020"`` or ``"kanezaki2018"``.
    p : Params
        Reads ``q``, ``final_net``, ``tile`` and ``infer_at``.
    net : torch.nn.Module
        The trained network(s) (MMT: the students).
    teacher : torch.nn.Module or None
        MMT's teachers.
    x_train : torch.Tensor of shape (1, C, h, w)
        The training view of the slice (BatchNorm takes its statistics).
    x_full : numpy.ndarray of shape (C, H, W), float32
        The full-size normalised slice.
    device : torch.device
        Where inference runs.
    channels : sequence of int, optional
        The only channels a pixel may take (a kept model's classes,
        :attr:`napari_mmtseg.Model.class_channels`); None: any.
    fallback : numpy.ndarray of shape (H, W), int32, optional
        As for :func:`infer_labels`.

    Returns
    -------
    numpy.ndarray of shape (H, W), int32
        The network channel (0..q-1) of every pixel.
    """
    other = None
    if method == "mmt" and p.final_net == "teachers":  # both vote, teacher 1 mapped to 0
        other = teachers_alignment(teacher, x_train, p.q)
    final_net = teacher if method == "mmt" and p.final_net != "student" else net
    return infer_labels(
        final_net, 0, x_train, x_full, p.tile, device, other, p.infer_at, channels, fallback
    )
