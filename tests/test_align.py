import numpy as np
import torch

from napari_mmtseg import align_labels, match_from_overlap, overlap_matrix


def test_alignment_recovers_random_permutation_exactly():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 12, size=(40, 50))
    perm = rng.permutation(100)[:12] + 5  # arbitrary, non-consecutive ids
    moving = perm[ref]
    out = align_labels(ref, moving)
    np.testing.assert_array_equal(out, ref)
    assert out is not moving


def test_overlap_matrix_torch_matches_numpy_and_stays_on_device():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 5, 300), rng.integers(0, 7, 300)
    S_np = overlap_matrix(a, b, 5, 7)
    S_t = overlap_matrix(torch.from_numpy(a), torch.from_numpy(b), 5, 7)
    assert isinstance(S_t, torch.Tensor)
    np.testing.assert_array_equal(S_t.numpy(), S_np)
    assert S_np.sum() == 300 and S_np[a[0], b[0]] >= 1


def test_more_moving_labels_than_reference_get_fresh_ids():
    ref = np.array([[1, 1, 2, 2]] * 4)
    moving = np.array([[7, 7, 8, 9]] * 4)  # segment 2 split in two
    out = align_labels(ref, moving)
    assert (out[:, :2] == 1).all()
    # the bigger overlap partner of ref 2 is ambiguous (equal); one of 8/9 gets 2, the other a
    # new id 3
    assert set(np.unique(out[:, 2:])) == {2, 3}
    assert len(np.unique(out)) == 3


def test_fewer_moving_labels_than_reference():
    ref = np.array([[1, 1, 2, 3]] * 3)
    moving = np.array([[5, 5, 6, 6]] * 3)
    out = align_labels(ref, moving)
    assert (out[:, :2] == 1).all()
    assert len(np.unique(out[:, 2:])) == 1 and out[0, 2] in (2, 3)


def test_match_from_overlap_maximises_total_overlap():
    # greedy on the largest entry (9 -> (0,0)) would give 9 + 1 = 10; optimum is 8 + 8 = 16
    S = np.array([[9, 8], [8, 1]])
    mapping = match_from_overlap(S)
    assert list(mapping) == [1, 0]


def test_align_shape_mismatch_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="one shape"):
        align_labels(np.zeros((2, 2)), np.zeros((3, 3)))


def test_zero_overlap_match_is_not_called_the_same_segment():
    ref = np.array([[0, 0, 0, 0, 1, 2]])
    moving = np.array([[5, 5, 5, 9, 5, 5]])  # 9 never touches reference segment 1
    out = align_labels(ref, moving)
    assert out[0, 3] not in (0, 1, 2)


def test_next_id_keeps_new_segments_off_ids_used_earlier():
    ref = np.array([[0, 0, 1, 1]])
    moving = np.array([[4, 4, 6, 7]])
    out = align_labels(ref, moving, next_id=10)  # ids up to 9 were used in earlier slices
    assert out[0, 0] == 0 and out[0, 3] >= 10 and len(np.unique(out)) == 3


def test_count_ids_equals_bincount_without_reading_the_device():
    from napari_mmtseg.align import count_ids

    rng = np.random.default_rng(0)
    ids = torch.from_numpy(rng.integers(0, 7, size=(3, 5, 4)))
    counts = count_ids(ids, 10)  # ids 7-9 absent: zero counts, like minlength
    torch.testing.assert_close(counts, torch.bincount(ids.reshape(-1), minlength=10))
    assert counts.dtype == torch.long and count_ids(ids[:0], 3).tolist() == [0, 0, 0]


def test_earlier_maps_give_a_class_missing_from_the_reference_its_id_back():
    before = np.array([[1, 1, 2, 3]] * 4)
    blank = np.full((4, 4), 1)  # classes 2 and 3 missing from the slice just before
    moving = np.array([[7, 7, 8, 9]] * 4)
    np.testing.assert_array_equal(align_labels(blank, moving, earlier=[before]), before)
    # the reference weighs most: where it disagrees with the earlier map, it wins
    swapped = np.array([[2, 2, 1, 1]] * 4)
    out = align_labels(swapped, np.array([[7, 7, 8, 8]] * 4), earlier=[swapped[:, ::-1]])
    np.testing.assert_array_equal(out, swapped)
    assert align_labels(blank, moving, next_id=10)[0, 2] >= 10  # without them: new ids
