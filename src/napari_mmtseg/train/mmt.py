"""One training step of Mutual Mean-Teaching (Wu et al. 2020, Algorithm 1).

Two students learn from each other's mean teacher: each student's cross-entropy target is
the other teacher's argmax, mapped into the student's ids by the Hungarian matching of their
overlap (eq. 4-5), plus the total-variation term (eq. 3); the teachers follow the students
by EMA (eq. 2). No Qt, no napari.
"""

from __future__ import annotations

import numpy as np
import torch

from ..align import match_from_overlap, overlap_matrix
from ..nets import ema_alpha, ema_update, tv_loss
from .scribble_loss import claim, scribble_ce
from .state import SliceTraining, StepOutcome, TrainState

__all__ = ["by_network", "cross_targets", "mmt_step"]


def cross_targets(slab: torch.Tensor, tlab: torch.Tensor, q: int, extra: torch.Tensor):
    """MMT's label alignment for both students at once.

    Student 0 learns from teacher 1 and student 1 from teacher 0, each teacher's labels
    mapped into its student's ids by the Hungarian matching of the overlap matrix. One host
    transfer: the two q x q matrices plus the scalar ``extra``.

    Parameters
    ----------
    slab : torch.Tensor of shape (2, h, w), int64
        Argmax labels of the two students.
    tlab : torch.Tensor of shape (2, h, w), int64
        Argmax labels of the two teachers.
    q : int
        Number of channels.
    extra : torch.Tensor
        A scalar counter (the stopping rule's changed pixels) brought to the host with them.

    Returns
    -------
    target : torch.Tensor of shape (2, h, w), int64
        The students' targets.
    maps : torch.Tensor of shape (2, q), int64
        Teacher -> student id maps, on the device.
    overlaps : numpy.ndarray of shape (2, q, q)
        ``overlaps[k][i, j]``: pixels where student k says i and the other teacher says j.
    extra : int
        ``extra`` on the host.
    """
    S = torch.stack(
        [overlap_matrix(slab[0], tlab[1], q, q), overlap_matrix(slab[1], tlab[0], q, q)]
    )
    host = torch.cat([S.reshape(-1), extra.reshape(1).to(S.dtype)]).cpu().numpy()
    S_np = host[:-1].reshape(2, q, q)
    # match_from_overlap maps column ids (teacher) to row ids (student)
    maps = np.stack([match_from_overlap(S_np[0]), match_from_overlap(S_np[1])])
    maps_t = torch.from_numpy(maps).to(slab.device)
    target = torch.stack([maps_t[0][tlab[1]], maps_t[1][tlab[0]]])
    return target, maps_t, S_np, int(host[-1])


def by_network(out: torch.Tensor) -> torch.Tensor:
    """A pair's output with the networks first: one slice, or a batch of a stack's slices.

    Parameters
    ----------
    out : torch.Tensor of shape (B, 2, q, h, w)
        The networks' responses to B slices.

    Returns
    -------
    torch.Tensor of shape (2, q, h, w), or (2, q, B, h, w) when B > 1
        The same responses; every step below reads the slices of a batch as one image
        whose total variation is taken within each slice.
    """
    return out[0] if out.shape[0] == 1 else out.permute(1, 2, 0, 3, 4)


def _targets(y, ty, prev, st: SliceTraining):
    """The students' targets: cross targets, superpixel votes, scribble claims.

    Runs under ``torch.no_grad()`` and the step's autocast (the caller's).
    """
    q = st.p.q
    tlab = ty.argmax(1)  # (2, h, w)
    slab = y.detach().argmax(1)
    if prev is not None:
        changed = (tlab[0] != prev).sum()
    else:
        changed = torch.zeros((), dtype=torch.long, device=st.device)
    target, maps_t, S_np, n_changed = cross_targets(slab, tlab, q, changed)
    if st.p.superpixel_size:
        sp_t, n_sp = st.superpixels, st.n_superpixels
        t2 = target.reshape(2, -1)
        cnt = torch.stack(
            [torch.bincount(sp_t * q + t2[k], minlength=n_sp * q) for k in range(2)]
        ).reshape(2, n_sp, q)
        target = cnt.argmax(2)[:, sp_t]
    if st.scr is not None:
        target = torch.stack(
            [
                claim(target[k].reshape(-1), y[k].detach().reshape(q, -1), st.scr, q)
                for k in range(2)
            ]
        )
    return tlab, target, maps_t, S_np, n_changed


def mmt_step(state: TrainState, st: SliceTraining, prev: torch.Tensor | None) -> StepOutcome:
    """One MMT step: both students' losses, one SGD step, the teachers' EMA update.

    Parameters
    ----------
    state : TrainState
        The students (``net``, a pair), their optimiser, the teachers, the step counter
        and the noise generator; ``opt``'s gradients must be zeroed.
    st : SliceTraining
        The slice's training view (or a batch of a stack's slices') and what the step reads.
    prev : torch.Tensor of shape (h, w) or None
        Teacher 0's labels at the previous step (None on the first); (B, h, w) for a batch.

    Returns
    -------
    StepOutcome
        Losses, teacher 0's label count and labels, and how many of them changed.
    """
    p, x = st.p, st.x
    q = p.q
    xin = x  # the pair repeats it per network
    if p.noise > 0:
        xin = x.repeat(1, 2, 1, 1)
        xin = xin + p.noise * torch.randn(xin.shape, generator=state.gen).to(st.device)
    with st.amp:
        y = by_network(state.net(xin)).float()  # (2, q, h, w), or (2, q, B, h, w)
    with torch.no_grad(), st.amp:
        ty = by_network(state.teacher(x)).float()
        tlab, target, maps_t, S_np, n_changed = _targets(y, ty, prev, st)
    logits = y.reshape(2, q, -1)
    ce = scribble_ce(logits, target.reshape(2, -1), st.scr)
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
    state.opt.step()
    ema_update(state.teacher, state.net, ema_alpha(state.step, p.alpha, p.ema_warmup))
    n_labels = int((S_np[1].sum(0) > 0).sum())  # distinct labels of teacher 0
    vals = torch.stack([loss.detach() / 2, ce.detach(), tv.detach() / 2]).tolist()  # one sync
    return StepOutcome(dict(zip(("loss", "ce", "tv"), vals)), n_labels, tlab[0], n_changed)
