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


def _result(labels, output):
    from napari_mmtseg import SegmentationResult

    return SegmentationResult(labels=np.asarray(labels), method="mmt", preset="fast", params={},
                              seed=0, device="cpu", seconds=1.23456, output=output)  # fmt: skip


def test_n_labels_counts_kept_ids_and_reads_the_largest_of_consecutive_ones():
    assert _result([[1, 2], [3, 3]], {}).n_labels == 3
    assert _result([[3, 9], [9, 9]], {"scribble_ids": [3, 9]}).n_labels == 2
    assert _result([[5, 17], [17, 5]], {"model_channel_ids": True}).n_labels == 2
    # a refine keeps the user's ids and adds painted ones: [1, 99] was counted 99
    assert _result([[1, 99], [99, 1]], {"refine": {"new_ids": [99]}}).n_labels == 2
    assert _result(np.zeros((0, 0), np.uint8), {}).n_labels == 0
    md = _result([[1, 2]], {"why": "x"}).metadata()
    assert md["seconds"] == 1.235 and md["n_labels"] == 2 and md["output"] == {"why": "x"}
