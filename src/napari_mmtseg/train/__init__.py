"""Training of the learned methods: MMT (Wu et al. 2020), Kim et al. 2020, Kanezaki 2018.

Modules: :mod:`.state` (:class:`TrainState`, what a run carries between slices, and
:func:`warm_state`, a warm start from a kept model),
:mod:`.view` (the training view's size), :mod:`.loop` (the one loop and its stopping
rule), :mod:`.mmt` and :mod:`.single` (one step function per method),
:mod:`.scribble_loss` (the scribble terms), :mod:`.stack` (one model for a whole stack).
No Qt, no napari.
"""

from ..infer import teachers_alignment
from .loop import RunProgress, init_networks, train_slice
from .mmt import cross_targets
from .stack import SlicePool, batch_size, pool_indices, read_pool, train_stack
from .state import TrainState, warm_state
from .view import train_shape, train_view

__all__ = [
    "RunProgress",
    "SlicePool",
    "TrainState",
    "batch_size",
    "cross_targets",
    "init_networks",
    "pool_indices",
    "read_pool",
    "teachers_alignment",
    "train_shape",
    "train_slice",
    "train_stack",
    "train_view",
    "warm_state",
]
