"""Result objects and id renumbering."""

import numpy as np


def test_relabelling_keeps_order_and_picks_the_smallest_dtype():
    from napari_mmtseg.result import consecutive as _consecutive

    lab = np.array([[7, 3], [3, 300]], np.int32)
    out = _consecutive(lab)
    np.testing.assert_array_equal(out, [[2, 1], [1, 3]])
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(_consecutive(np.array([[-1, 0], [2, 5]])), [[1, 2], [3, 4]])
    many = np.arange(70000, dtype=np.int32).reshape(280, 250) * 2
    out = _consecutive(many)
    assert out.dtype == np.uint32 and out.max() == 70000 and out.min() == 1
