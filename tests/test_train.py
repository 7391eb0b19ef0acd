"""Training loops: MMT's cross targets."""

import numpy as np
import torch


def test_mmt_targets_are_the_other_teachers_labels_in_the_students_ids():
    from napari_mmtseg.train import cross_targets as _cross_targets

    rng = np.random.default_rng(0)
    q = 5
    slab = torch.from_numpy(rng.integers(0, q, size=(2, 12, 14)))
    cycle = torch.tensor([1, 2, 0, 4, 3])  # a 3-cycle and a swap: not its own inverse
    other = torch.tensor([3, 0, 4, 1, 2])
    # teacher 1 says cycle[student 0's id], teacher 0 says other[student 1's id]
    tlab = torch.stack([other[slab[1]], cycle[slab[0]]])
    target, maps_t, S, extra = _cross_targets(slab, tlab, q, torch.tensor(7))
    torch.testing.assert_close(target, slab)  # each student is asked for exactly its own partition
    assert extra == 7 and S.shape == (2, q, q)
    assert (maps_t[0][cycle] == torch.arange(q)).all()
