"""One training step of Mutual Mean-Teaching (Wu et al. 2020, Algorithm 1).

Two students learn from each other's mean teacher: each student's cross-entropy target is
the other teacher's argmax, mapped into the student's ids by the Hungarian matching of their
overlap (eq. 4-5), plus the total-variation term (eq. 3); the teachers follow the students
by EMA (eq. 2). No Qt, no napari.
"""

from __future__ import annotations

import numpy as np
import torch

from ..align import count_ids, match_from_overlap, overlap_matrix
from ..nets import channel_argmax, ema_alpha, ema_update, tv_loss
from .scribble_loss import claim, scribble_ce
from .state import SliceTraining, TrainState
from .sync import PendingStep, assignment_due, pending, sync_every

__all__ = ["assign", "by_network", "cross_targets", "mmt_step"]


def assign(slab: torch.Tensor, tlab: torch.Tensor, q: int, extra: torch.Tensor | None = None):
    """MMT's Hungarian assignment for both students: a step's host round trip, when due.

    Student 0 learns from teacher 1 and student 1 from teacher 0, each teacher's labels
    mapped into its student's ids by the Hungarian matching of their overlap matrix
    (eq. 4-5). The matrices are counted on the device; they (and ``extra``) come to the
    host in one copy for ``scipy.optimize.linear_sum_assignment``.

    Parameters
    ----------
    slab : torch.Tensor of shape (2, h, w), int64
        Argmax labels of the two students.
    tlab : torch.Tensor of shape (2, h, w), int64
        Argmax labels of the two teachers.
    q : int
        Number of channels.
    extra : torch.Tensor, optional
        An integer scalar brought to the host with the matrices.

    Returns
    -------
    maps : torch.Tensor of shape (2, q), int64
        Teacher -> student id maps, on the device: student 0's from teacher 1, student 1's
        from teacher 0.
    overlaps : numpy.ndarray of shape (2, q, q)
        ``overlaps[k][i, j]``: pixels where student k says i and the other teacher says j.
    extra : int or None
        ``extra`` on the host.
    """
    S = torch.stack(
        [overlap_matrix(slab[0], tlab[1], q, q), overlap_matrix(slab[1], tlab[0], q, q)]
    )
    flat = S.reshape(-1) if extra is None else torch.cat([S.reshape(-1), extra.reshape(1)])
    host = flat.to(S.dtype).cpu().numpy()
    S_np = host[: 2 * q * q].reshape(2, q, q)
    # match_from_overlap maps column ids (teacher) to row ids (student)
    maps = torch.from_numpy(np.stack([match_from_overlap(S_np[0]), match_from_overlap(S_np[1])]))
    cuda = slab.device.type == "cuda"  # from pinned memory, the copy does not wait
    maps = (maps.pin_memory() if cuda else maps).to(slab.device, non_blocking=cuda)
    return maps, S_np, None if extra is None else int(host[-1])


def cross_targets(slab: torch.Tensor, tlab: torch.Tensor, q: int, extra: torch.Tensor):
    """MMT's label alignment for both students at once: :func:`assign`, then the targets.

    Parameters
    ----------
    slab, tlab : torch.Tensor of shape (2, h, w), int64
        Argmax labels of the two students and of the two teachers, as for :func:`assign`.
    q : int
        Number of channels.
    extra : torch.Tensor
        An integer scalar brought to the host with the overlap matrices.

    Returns
    -------
    target : torch.Tensor of shape (2, h, w), int64
        The students' targets: teacher 1's labels in student 0's ids, teacher 0's in
        student 1's.
    maps : torch.Tensor of shape (2, q), int64
        Teacher -> student id maps, on the device.
    overlaps : numpy.ndarray of shape (2, q, q)
        ``overlaps[k][i, j]``: pixels where student k says i and the other teacher says j.
    extra : int
        ``extra`` on the host.
    """
    maps_t, S_np, n = assign(slab, tlab, q, extra)
    return _mapped(maps_t, tlab), maps_t, S_np, n


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


def _mapped(maps_t: torch.Tensor, tlab: torch.Tensor) -> torch.Tensor:
    """Each student's target: the other teacher's labels through its map."""
    return torch.stack([maps_t[0][tlab[1]], maps_t[1][tlab[0]]])


def _targets(y, ty, prev, state: TrainState, st: SliceTraining):
    """The students' targets: cross targets, superpixel votes, scribble claims.

    Runs under ``torch.no_grad()`` and the step's autocast (the caller's). The Hungarian
    assignment is computed when due (:func:`~napari_mmtseg.train.sync.assignment_due`),
    else the last one's maps are reused; nothing else leaves the device.
    """
    q = st.p.q
    tlab = channel_argmax(ty, 1)  # (2, h, w)
    if assignment_due(state.step, prev is None, sync_every(st.p, st.device)):
        state.maps = assign(channel_argmax(y.detach(), 1), tlab, q)[0]
    maps_t = state.maps
    target = _mapped(maps_t, tlab)
    if st.p.superpixel_size:
        sp_t, n_sp = st.superpixels, st.n_superpixels
        t2 = target.reshape(2, -1)
        cnt = torch.stack([count_ids(sp_t * q + t2[k], n_sp * q) for k in range(2)])
        target = cnt.reshape(2, n_sp, q).argmax(2)[:, sp_t]
    if st.scr is not None:
        target = torch.stack(
            [
                claim(target[k].reshape(-1), y[k].detach().reshape(q, -1), st.scr, q)
                for k in range(2)
            ]
        )
    return tlab, target, maps_t


def mmt_step(state: TrainState, st: SliceTraining, prev: torch.Tensor | None) -> PendingStep:
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
    PendingStep
        Losses, teacher 0's label count and labels, and how many of them changed, left
        on the device for the loop to read (:func:`~napari_mmtseg.train.sync.read_steps`).
    """
    p, x = st.p, st.x
    q = p.q
    xin = x  # the pair repeats it per network
    if p.noise > 0:
        xin = x.repeat(1, 2, 1, 1)
        # drawn on the host (the same noise on every device); pinned, so that the copy to
        # a GPU does not wait for it
        cuda = st.device.type == "cuda"
        noise = torch.randn(xin.shape, generator=state.gen, pin_memory=cuda)
        xin = xin + p.noise * noise.to(st.device, non_blocking=cuda)
    with st.amp:
        y = by_network(state.net(xin)).float()  # (2, q, h, w), or (2, q, B, h, w)
    with torch.no_grad(), st.amp:
        ty = by_network(state.teacher(x)).float()
        tlab, target, maps_t = _targets(y, ty, prev, state, st)
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
    with torch.no_grad():
        n_labels = (count_ids(tlab[0], q) > 0).sum()  # distinct labels of teacher 0
        changed = (tlab[0] != prev).sum() if prev is not None else torch.zeros_like(n_labels)
    return pending(loss / 2, ce, tv / 2, n_labels, changed, tlab[0])
