"""Training loops of the learned methods: MMT (Wu et al. 2020, Algorithm 1),
Kim et al. 2020 and Kanezaki 2018. Each trains on one 2D slice and yields
:class:`~napari_mmtseg.result.Progress` events, then the slice's label map.
No Qt, no napari."""
from __future__ import annotations

import contextlib
import copy
from typing import Iterator, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .align import match_from_overlap, overlap_matrix
from .infer import infer_labels, upsample_nearest
from .nets import ema_alpha, ema_update, make_models, tv_loss
from .params import Params
from .features import image_features
from .result import Progress

__all__ = ["train_view", "cross_targets", "train_slice", "teachers_alignment"]


def train_view(x: np.ndarray, train_size: int | None) -> np.ndarray:
    """(C, H, W) -> (C, h, w) with the longest side at most ``train_size``."""
    c, h, w = x.shape
    if not train_size or max(h, w) <= train_size:
        return x
    from skimage.transform import resize

    f = train_size / max(h, w)
    shape = (max(2, round(h * f)), max(2, round(w * f)))
    return resize(x.transpose(1, 2, 0), shape, order=1, anti_aliasing=True,
                  preserve_range=True).transpose(2, 0, 1).astype(np.float32)



def cross_targets(slab: torch.Tensor, tlab: torch.Tensor, q: int, extra: torch.Tensor):
    """MMT's label alignment for both students at once.

    ``slab``/``tlab``: (2, h, w) argmax labels of the students and teachers.
    Student 0 learns from teacher 1 and student 1 from teacher 0, each
    teacher's labels mapped into its student's ids by the Hungarian matching
    of the overlap matrix. One host transfer: the two q x q matrices plus the
    scalar ``extra`` (a counter for the stopping rule). Returns the (2, h, w)
    targets, the (2, q) teacher->student maps on the device, the matrices and
    ``extra`` on the host.
    """
    # S[k][i, j]: pixels where student k says i and the other teacher says j
    S = torch.stack([overlap_matrix(slab[0], tlab[1], q, q), overlap_matrix(slab[1], tlab[0], q, q)])
    host = torch.cat([S.reshape(-1), extra.reshape(1).to(S.dtype)]).cpu().numpy()
    S_np = host[:-1].reshape(2, q, q)
    # match_from_overlap maps column ids (teacher) to row ids (student)
    maps = np.stack([match_from_overlap(S_np[0]), match_from_overlap(S_np[1])])
    maps_t = torch.from_numpy(maps).to(slab.device)
    target = torch.stack([maps_t[0][tlab[1]], maps_t[1][tlab[0]]])
    return target, maps_t, S_np, int(host[-1])


class _Scribbled(NamedTuple):
    """The scribbles of one slice's training view, on the device."""

    free: torch.Tensor  # (N_free,) indices of the pixels not scribbled
    marked: torch.Tensor  # (M,) indices of the scribbled pixels
    channels: torch.Tensor  # (M,) the network channel of each scribbled pixel's class
    weight: float  # scribble_weight
    cls: torch.Tensor  # (M,) each scribbled pixel's class among those of this slice, 0..K-1
    chans: torch.Tensor  # (K,) the channel of each of those classes


def _scribble_ce(logits: torch.Tensor, target: torch.Tensor, scr: _Scribbled | None) -> torch.Tensor:
    """Cross-entropy of ``logits`` (..., q, N) toward ``target`` (..., N) on
    the pixels not scribbled, plus ``weight`` x cross-entropy toward the
    scribble channels on the scribbled ones (Kim et al. 2020, eq. 6: each
    term a mean over its own pixels)."""
    if scr is None:
        return F.cross_entropy(logits, target)
    ce = (F.cross_entropy(logits[..., scr.free], target[..., scr.free]) if scr.free.numel()
          else logits.sum() * 0)
    sc = scr.channels.expand(*logits.shape[:-2], -1)
    return ce + scr.weight * F.cross_entropy(logits[..., scr.marked], sc)


def _claim(target: torch.Tensor, feats: torch.Tensor, scr: _Scribbled, q: int) -> torch.Tensor:
    """Self-training targets (N,) informed by the scribbles; no host sync.

    ``feats``: (q, N) the network's response. For a cluster holding scribbles
    of one class: if those scribbles are typical of the cluster (their mean
    response lies within the cluster's spread of its mean), the whole cluster
    goes to that class's channel, so a scribble pulls its cluster; if not (a
    correction of part of a cluster), only the cluster's pixels nearer to the
    scribbles' mean response than to the cluster's go. A cluster holding
    scribbles of several classes is split: each pixel goes to the class, among
    those scribbled in it, whose scribbles there have the nearest mean
    response. Clusters without scribbles keep their targets."""
    f = feats.T  # (N, D)
    k = scr.chans.numel()
    tm = target[scr.marked]
    key = tm * k + scr.cls  # (cluster, class) of every scribbled pixel
    votes = torch.bincount(key, minlength=q * k).reshape(q, k)
    protos = torch.zeros(q * k, f.shape[1], dtype=f.dtype, device=f.device).index_add_(
        0, key, f[scr.marked]).reshape(q, k, -1) / votes.clamp(min=1)[..., None].to(f.dtype)
    count = torch.bincount(target, minlength=q).clamp(min=1).to(f.dtype)
    mean = torch.zeros(q, f.shape[1], dtype=f.dtype, device=f.device).index_add_(0, target, f)
    mean /= count[:, None]
    spread = torch.zeros(q, dtype=f.dtype, device=f.device).index_add_(
        0, target, ((f - mean[target]) ** 2).sum(1)).div(count).sqrt()
    n_classes = (votes > 0).sum(1)
    own = votes.argmax(1)  # the class of a cluster holding one scribbled class
    proto = protos[torch.arange(q, device=f.device), own]
    typical = (proto - mean).norm(dim=1) <= spread
    d_own = (f - proto[target]).norm(dim=1)
    near = d_own < (f - mean[target]).norm(dim=1)
    one = n_classes[target] == 1
    take = one & (typical[target] | near)
    out = torch.where(take, scr.chans[own[target]], target)
    # clusters holding several classes: the nearest of their classes' prototypes
    if f.shape[0] * k * f.shape[1] <= 2**25:  # (N, k, D) is small: one call
        d = torch.cdist(f[:, None, :], protos[target]).squeeze(1)  # (N, k)
    else:  # large (full-size paper preset): one class at a time, memory bounded by (N, D)
        d = torch.stack([(f - protos[target, j]).norm(dim=1) for j in range(k)], dim=1)
    d = torch.where(votes[target] > 0, d, torch.full_like(d, float("inf")))
    return torch.where(n_classes[target] > 1, scr.chans[d.argmin(1)], out)


def _scribbles_met(pred: torch.Tensor, scr: _Scribbled, share: float = 0.9) -> bool:
    """Whether every scribbled class of the slice has at least ``share`` of
    its scribbled training pixels predicted as its channel (one host sync)."""
    k = scr.chans.numel()
    total = torch.bincount(scr.cls, minlength=k)
    hit = torch.bincount(scr.cls[pred == scr.channels], minlength=k)
    return bool((hit >= share * total).all())


def _scribble_targets(scribble, xs, x, net, q, state, weight, device) -> _Scribbled | None:
    """The scribbled pixels of the training view, their classes and channels.
    ``scribble``: (H, W) class index per pixel (-1 = not scribbled). The
    channel of each scribble class is fixed on the first slice with
    scribbles (``state["scribble_channels"]``) from what the network
    predicts there now (:func:`napari_mmtseg.scribbles.assign_channels`)."""
    from .scribbles import assign_channels, to_train_view

    sv = to_train_view(scribble, xs.shape[1:]).reshape(-1)
    hit = np.flatnonzero(sv >= 0)
    if hit.size == 0:
        return None
    if "scribble_channels" not in state:
        with torch.no_grad():
            pred = net(x)[0, 0].argmax(0).reshape(-1)[torch.from_numpy(hit).to(device)].cpu().numpy()
        state["scribble_channels"] = assign_channels(sv[hit], pred, state["n_scribble_classes"], q)
    present, cls = np.unique(sv[hit], return_inverse=True)
    chans = state["scribble_channels"][present]
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)  # noqa: E731
    return _Scribbled(free=as_t(np.flatnonzero(sv < 0)), marked=as_t(hit), channels=as_t(chans[cls]),
                      weight=weight, cls=as_t(cls), chans=as_t(chans))


def train_slice(method: str, x_full: np.ndarray, p: Params, seed: int, device: torch.device,
                preview_every: int, step0: int, total: int, slice_index: int, n_slices: int,
                history: list, dev_name: str, state: dict,
                scribble: np.ndarray | None = None) -> Iterator[Progress | np.ndarray]:
    """Train on one slice; yields Progress, finally the (H, W) label array
    (network channel ids).

    ``state`` carries the networks from slice to slice (empty for the first):
    the next slice of a stack continues from the previous one's networks, so
    that the same id keeps meaning the same cluster and a near-identical slice
    needs few steps; a refinement starts from a previous run's state.
    ``scribble``: None, or (H, W) int64 scribble class indices (-1 = not
    scribbled; :meth:`napari_mmtseg.scribbles.Scribbles.classes`), pulled
    toward their channels with weight ``p.scribble_weight``."""
    H, W = x_full.shape[1:]
    xs = train_view(x_full, p.train_size)
    x = torch.from_numpy(xs)[None].to(device)
    q = p.q
    if "net" not in state:
        n_models = 2 if method == "mmt" else 1
        torch.manual_seed(seed)
        fused = p.fused if p.fused is not None else device.type == "cuda"
        net = make_models(xs.shape[0], p.q, p.n_conv, n_models, fused, p.padding).to(device)
        state.update(net=net, opt=torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum),
                     step=0, gen=torch.Generator(device="cpu").manual_seed(seed + 1))
        if method == "mmt":
            teacher = copy.deepcopy(net)
            for prm in teacher.parameters():
                prm.requires_grad_(False)
            state["teacher"] = teacher
    net, opt, gen, teacher = state["net"], state["opt"], state["gen"], state.get("teacher")
    net.train()
    scr = None if scribble is None else _scribble_targets(
        scribble, xs, x, teacher if teacher is not None else net, q, state, float(p.scribble_weight),
        device)
    if method == "kanezaki2018" or (method == "mmt" and p.superpixel_size):
        from skimage.segmentation import slic

        if method == "kanezaki2018":
            sp = slic(xs.transpose(1, 2, 0), n_segments=p.n_segments, compactness=p.compactness,
                      channel_axis=-1, start_label=0)
        else:
            # on CIELAB (RGB) or intensities x 100 (other data): one compactness fits both
            sp = slic(image_features(xs), compactness=10.0, channel_axis=-1, start_label=0,
                      convert2lab=False,
                      n_segments=max(1, xs.shape[1] * xs.shape[2] // p.superpixel_size))
        n_sp = int(sp.max()) + 1
        sp_t = torch.from_numpy(sp.astype(np.int64)).to(device).reshape(-1)

    amp = (torch.autocast(device.type, dtype=torch.bfloat16) if p.bf16
           else contextlib.nullcontext())
    # stop once the labels fall to min_labels, the class count asked for, or the scribble classes
    # (with scribbles, only once the scribbled pixels take their classes)
    n_scribbled = 0 if scr is None else int(scr.chans.numel())
    min_labels = max(p.min_labels, p.n_classes if p.n_classes != "auto" else 0, n_scribbled)
    prev = None
    stable = 0
    for it in range(p.max_iter):
        opt.zero_grad(set_to_none=True)
        if method == "mmt":
            xin = x  # the pair repeats it per network
            if p.noise > 0:
                xin = x.repeat(1, 2, 1, 1)
                xin = xin + p.noise * torch.randn(xin.shape, generator=gen).to(device)
            with amp:
                y = net(xin)[0].float()  # (2, q, h, w)
            with torch.no_grad(), amp:
                ty = teacher(x)[0].float()
                tlab = ty.argmax(1)  # (2, h, w)
                slab = y.detach().argmax(1)
                changed = (tlab[0] != prev).sum() if prev is not None else torch.zeros((), dtype=torch.long, device=device)
                target, maps_t, S_np, n_changed = cross_targets(slab, tlab, q, changed)
                if p.superpixel_size:
                    t2 = target.reshape(2, -1)
                    cnt = torch.stack([torch.bincount(sp_t * q + t2[k], minlength=n_sp * q)
                                       for k in range(2)]).reshape(2, n_sp, q)
                    target = cnt.argmax(2)[:, sp_t]
                if scr is not None:
                    target = torch.stack([_claim(target[k].reshape(-1), y[k].detach().reshape(q, -1), scr, q)
                                          for k in range(2)])
            logits = y.reshape(2, q, -1)
            ce = _scribble_ce(logits, target.reshape(2, -1), scr)
            loss = ce * 2
            if p.soft_weight > 0:
                # soft CE toward the other teacher's softmax, channels permuted into student space
                inv = torch.argsort(maps_t, dim=1)
                tp = torch.stack([ty[1][inv[0]], ty[0][inv[1]]]).softmax(1).reshape(2, q, -1)
                soft = -(tp * logits.log_softmax(1)).sum(1).mean()
                loss = (1 - p.soft_weight) * loss + p.soft_weight * 2 * soft
            tv = tv_loss(y) * 2
            loss = loss + p.beta * tv
            loss.backward()
            opt.step()
            ema_update(teacher, net, ema_alpha(state["step"], p.alpha, p.ema_warmup))
            n_labels = int((S_np[1].sum(0) > 0).sum())  # distinct labels of teacher 0
            cur = tlab[0]
            vals = torch.stack([loss.detach() / 2, ce.detach(), tv.detach() / 2]).tolist()  # one sync
            losses = dict(zip(("loss", "ce", "tv"), vals))
        else:
            with amp:
                y = net(x)[0, 0].float()  # (q, h, w)
            with torch.no_grad():
                lab = y.argmax(0).reshape(-1)
                if method == "kanezaki2018":
                    cnt = torch.bincount(sp_t * q + lab, minlength=n_sp * q).reshape(n_sp, q)
                    target = cnt.argmax(1)[sp_t]
                else:
                    target = lab
                if scr is not None:
                    target = _claim(target, y.detach().reshape(q, -1), scr, q)
                hist = torch.bincount(lab, minlength=q)
                changed = (lab != prev).sum() if prev is not None else torch.zeros((), dtype=hist.dtype, device=device)
                host = torch.cat([hist, changed.reshape(1).to(hist.dtype)]).cpu().numpy()
                n_labels, n_changed = int((host[:-1] > 0).sum()), int(host[-1])
            ce = _scribble_ce(y.reshape(1, q, -1), target[None], scr)
            tv = tv_loss(y) if p.beta > 0 else torch.zeros((), device=device)
            loss = ce + p.beta * tv
            loss.backward()
            opt.step()
            cur = lab
            vals = torch.stack([loss.detach(), ce.detach(), tv.detach()]).tolist()  # one sync
            losses = dict(zip(("loss", "ce", "tv"), vals))
        state["step"] += 1
        frac = n_changed / cur.numel() if prev is not None else 1.0
        prev = cur
        history.append({"slice": slice_index, "iteration": it + 1, "n_labels": n_labels,
                        "changed": frac, **losses})
        # the label count stops a run only once every scribbled class holds 90% of its scribbles,
        # and never a refinement (its other classes must not be merged away)
        done = n_labels <= min_labels and not state.get("warm") and (
            scr is None or _scribbles_met(cur.reshape(-1)[scr.marked], scr))
        if p.tol > 0:
            stable = stable + 1 if frac < p.tol else 0
            done = done or stable >= p.patience
        preview = None
        if preview_every and ((it + 1) % preview_every == 0 or done or it + 1 == p.max_iter):
            small = cur.reshape(xs.shape[1:]).cpu().numpy()
            preview = upsample_nearest(small, (H, W)).astype(np.int32) + 1
        yield Progress(iteration=step0 + it + 1, total=total, losses=losses, n_labels=n_labels,
                       preview=preview, slice_index=slice_index, n_slices=n_slices,
                       device=dev_name)
        if done:
            break

    other = None
    if method == "mmt" and p.final_net == "teachers":  # both teachers vote, teacher 1 mapped to 0
        other = teachers_alignment(teacher, x, q)
    final_net = teacher if method == "mmt" and p.final_net != "student" else net
    yield infer_labels(final_net, 0, x, x_full, p.tile, device, other=other, at=p.infer_at)


@torch.no_grad()
def teachers_alignment(teacher, x: torch.Tensor, q: int) -> np.ndarray:
    """MMT's two teachers (one pair network) on the training view ``x``
    (1, C, h, w): the map from teacher 1's channels to teacher 0's
    (``other[j]`` = teacher 0's id for teacher 1's channel ``j``), Hungarian
    on their label overlap, for the two-teacher vote of the final labels."""
    tl = teacher(x)[0].argmax(1).reshape(2, -1)
    return match_from_overlap(overlap_matrix(tl[0], tl[1], q, q).cpu().numpy())
