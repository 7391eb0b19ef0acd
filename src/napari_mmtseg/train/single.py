"""One training step of the single-network methods: Kim et al. 2020 and Kanezaki 2018.

The network's own argmax (Kanezaki 2018: made constant on SLIC superpixels by a vote) is
its cross-entropy target, plus Kim 2020's continuity (total-variation) term weighted by
``beta``. No Qt, no napari.
"""

from __future__ import annotations

import torch

from ..align import count_ids
from ..nets import channel_argmax, tv_loss
from .mmt import by_network
from .scribble_loss import claim, scribble_ce
from .state import SliceTraining, TrainState
from .sync import PendingStep, pending

__all__ = ["single_step"]


def single_step(state: TrainState, st: SliceTraining, prev: torch.Tensor | None) -> PendingStep:
    """One step of Kim 2020 or Kanezaki 2018 (superpixel targets when ``st.superpixels``).

    Parameters
    ----------
    state : TrainState
        The network (``net``) and its optimiser; ``opt``'s gradients must be zeroed.
    st : SliceTraining
        The slice's training view and what the step reads.
    prev : torch.Tensor of shape (h * w,) or None
        The network's labels at the previous step (None on the first); (B * h * w,) for a
        batch of a stack's slices (``st.x`` of shape (B, C, h, w)).

    Returns
    -------
    PendingStep
        Losses, the label count and labels, and how many of them changed, left on the
        device for the loop to read (:func:`~napari_mmtseg.train.sync.read_steps`).
    """
    p, q, device = st.p, st.p.q, st.device
    with st.amp:
        y = by_network(state.net(st.x))[0].float()  # (q, h, w), or (q, B, h, w)
    with torch.no_grad():
        lab = channel_argmax(y, 0).reshape(-1)
        if st.superpixels is not None:  # Kanezaki 2018: one label per superpixel, by vote
            sp_t, n_sp = st.superpixels, st.n_superpixels
            cnt = count_ids(sp_t * q + lab, n_sp * q).reshape(n_sp, q)
            target = cnt.argmax(1)[sp_t]
        else:
            target = lab
        if st.scr is not None:
            target = claim(target, y.detach().reshape(q, -1), st.scr, q)
        n_labels = (count_ids(lab, q) > 0).sum()
        changed = (lab != prev).sum() if prev is not None else torch.zeros_like(n_labels)
    ce = scribble_ce(y.reshape(1, q, -1), target[None], st.scr)
    tv = tv_loss(y) if p.beta > 0 else torch.zeros((), device=device)
    loss = ce + p.beta * tv
    loss.backward()
    state.opt.step()
    return pending(loss, ce, tv, n_labels, changed, lab)
