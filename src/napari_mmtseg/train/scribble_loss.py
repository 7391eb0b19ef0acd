"""The scribble terms of training (Kim et al. 2020, eq. 6), for every learned method.

Scribbled pixels are pulled toward the network channel of their class; the self-training
targets of the clusters that hold scribbles are claimed for those classes. No Qt, no napari.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..scribbles import assign_channels, to_train_view
from .state import ScribbleTargets, TrainState

__all__ = ["scribble_targets", "scribble_ce", "claim", "scribbles_met"]


def scribble_ce(
    logits: torch.Tensor, target: torch.Tensor, scr: ScribbleTargets | None
) -> torch.Tensor:
    """Cross-entropy toward the self-training targets plus the scribble term.

    Kim et al. 2020, eq. 6: each term is a mean over its own pixels.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, q, N)
        Network responses, flattened over the pixels.
    target : torch.Tensor of shape (B, N), int64
        Self-training targets.
    scr : ScribbleTargets or None
        The slice's scribbles; None: plain cross-entropy.

    Returns
    -------
    torch.Tensor
        Scalar loss: CE on the pixels not scribbled plus ``scr.weight`` x CE toward the
        scribble channels on the scribbled ones (one per-pixel CE, weighted per term).
    """
    if scr is None:
        return F.cross_entropy(logits, target)
    both = target.clone()
    both[..., scr.marked] = scr.channels
    lead = target.numel() // target.shape[-1]
    n_free = scr.free.numel()
    w = torch.full(
        target.shape[-1:], 1.0 / (lead * n_free) if n_free else 0.0, device=logits.device
    )
    w[scr.marked] = scr.weight / (lead * scr.marked.numel())
    return (F.cross_entropy(logits, both, reduction="none") * w).sum()


def claim(target: torch.Tensor, feats: torch.Tensor, scr: ScribbleTargets, q: int) -> torch.Tensor:
    """Self-training targets informed by the scribbles, with no host sync.

    For a cluster holding scribbles of one class: if those scribbles are typical of the
    cluster (their mean response lies within the cluster's spread of its mean), the whole
    cluster goes to that class's channel, so a scribble pulls its cluster; if not (a
    correction of part of a cluster), only the cluster's pixels nearer to the scribbles'
    mean response than to the cluster's go. A cluster holding scribbles of several classes
    is split: each pixel goes to the class, among those scribbled in it, whose scribbles
    there have the nearest mean response. Clusters without scribbles keep their targets.

    Parameters
    ----------
    target : torch.Tensor of shape (N,), int64
        Self-training targets (cluster ids 0..q-1).
    feats : torch.Tensor of shape (q, N)
        The network's response.
    scr : ScribbleTargets
        The slice's scribbles.
    q : int
        Number of network channels.

    Returns
    -------
    torch.Tensor of shape (N,), int64
        The new targets.
    """
    f = feats.T  # (N, D)
    k = scr.chans.numel()
    tm = target[scr.marked]
    key = tm * k + scr.cls  # (cluster, class) of every scribbled pixel
    votes = torch.bincount(key, minlength=q * k).reshape(q, k)
    protos = torch.zeros(q * k, f.shape[1], dtype=f.dtype, device=f.device).index_add_(
        0, key, f[scr.marked]
    ).reshape(q, k, -1) / votes.clamp(min=1)[..., None].to(f.dtype)
    count = torch.bincount(target, minlength=q).clamp(min=1).to(f.dtype)
    mean = torch.zeros(q, f.shape[1], dtype=f.dtype, device=f.device).index_add_(0, target, f)
    mean /= count[:, None]
    spread = (
        torch.zeros(q, dtype=f.dtype, device=f.device)
        .index_add_(0, target, ((f - mean[target]) ** 2).sum(1))
        .div(count)
        .sqrt()
    )
    # distances to the prototypes through dot products: (N, q) products, no (N, D)
    # difference per prototype
    sq_mean = (mean * mean).sum(1)
    n_classes = (votes > 0).sum(1)
    own = votes.argmax(1)  # the class of a cluster holding one scribbled class
    proto = protos[torch.arange(q, device=f.device), own]
    typical = (proto - mean).norm(dim=1) <= spread
    # nearer the scribbles' mean p than the cluster's m: 2 f.(m - p) < |m|^2 - |p|^2
    lhs = _at_cluster(f @ (mean - proto).T, target) * 2
    near = lhs < (sq_mean - (proto * proto).sum(1))[target]
    one = n_classes[target] == 1
    take = one & (typical[target] | near)
    out = torch.where(take, scr.chans[own[target]], target)
    # clusters holding several classes: the nearest of their classes' prototypes
    # (|f - p_j|^2 less the |f|^2 all share)
    d = torch.stack(
        [
            (protos[:, j] * protos[:, j]).sum(1)[target]
            - 2 * _at_cluster(f @ protos[:, j].T, target)
            for j in range(k)
        ],
        dim=1,
    )  # (N, k)
    d = torch.where(votes[target] > 0, d, torch.full_like(d, float("inf")))
    return torch.where(n_classes[target] > 1, scr.chans[d.argmin(1)], out)


def _at_cluster(per_cluster: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Column ``target[n]`` of row ``n`` of an (N, q) tensor."""
    return per_cluster.gather(1, target[:, None])[:, 0]


def scribbles_met(pred: torch.Tensor, scr: ScribbleTargets, share: float = 0.9) -> bool:
    """Whether the predictions honour the scribbles (one host sync).

    Parameters
    ----------
    pred : torch.Tensor of shape (M,), int64
        Predicted channel at each scribbled training pixel.
    scr : ScribbleTargets
        The slice's scribbles.
    share : float, optional
        Fraction of a class's scribbled pixels that must be predicted as its channel.

    Returns
    -------
    bool
        True when every scribbled class of the slice reaches ``share``.
    """
    k = scr.chans.numel()
    total = torch.bincount(scr.cls, minlength=k)
    hit = torch.bincount(scr.cls[pred == scr.channels], minlength=k)
    return bool((hit >= share * total).all())


def scribble_targets(
    scribble: np.ndarray,
    xs: np.ndarray,
    x: torch.Tensor,
    net: torch.nn.Module,
    q: int,
    state: TrainState,
    weight: float,
    device: torch.device,
) -> ScribbleTargets | None:
    """The scribbled pixels of the training view, their classes and channels.

    The channel of each scribble class is fixed on the first slice with scribbles
    (``state.scribble_channels``) from what the network predicts there now
    (:func:`napari_mmtseg.scribbles.assign_channels`).

    Parameters
    ----------
    scribble : numpy.ndarray of shape (H, W), int64
        Class index per full-size pixel (-1 = not scribbled).
    xs : numpy.ndarray of shape (C, h, w), float32
        The training view.
    x : torch.Tensor of shape (1, C, h, w)
        The training view on the device.
    net : torch.nn.Module
        The network whose first model's prediction assigns the channels.
    q : int
        Number of network channels.
    state : TrainState
        Read and, on the first scribbled slice, updated (``scribble_channels``).
    weight : float
        ``scribble_weight``.
    device : torch.device
        Where the tensors go.

    Returns
    -------
    ScribbleTargets or None
        None when no scribble falls on the training view.
    """
    sv = to_train_view(scribble, xs.shape[1:]).reshape(-1)
    hit = np.flatnonzero(sv >= 0)
    if hit.size == 0:
        return None
    if state.scribble_channels is None:
        with torch.no_grad():
            idx = torch.from_numpy(hit).to(device)
            pred = net(x)[0, 0].argmax(0).reshape(-1)[idx].cpu().numpy()
        state.scribble_channels = assign_channels(sv[hit], pred, state.n_scribble_classes, q)
    present, cls = np.unique(sv[hit], return_inverse=True)
    chans = state.scribble_channels[present]
    return ScribbleTargets(
        free=_long(np.flatnonzero(sv < 0), device),
        marked=_long(hit, device),
        channels=_long(chans[cls], device),
        weight=weight,
        cls=_long(cls, device),
        chans=_long(chans, device),
    )


def _long(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """An int64 tensor of ``a`` on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)
