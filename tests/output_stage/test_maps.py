"""Piece-map measurements (output_stage.maps) on maps small enough to count by hand."""

import numpy as np

from napari_mmtseg.output_stage.maps import (
    adjacency,
    connected_pieces,
    depth,
    mean_features,
    votes,
)


def test_connected_pieces_split_a_cluster_into_its_parts():
    lab = np.array([[0, 1, 0], [0, 1, 0]])
    pieces, cluster = connected_pieces(lab)
    assert pieces.max() == 3 and cluster[pieces[0, 0]] == 0 and cluster[pieces[0, 1]] == 1
    assert pieces[0, 0] != pieces[0, 2]


def test_adjacency_counts_the_shared_boundary():
    pieces = np.array([[1, 1, 2], [1, 3, 2]])
    pairs, count = adjacency(pieces)
    assert pairs.tolist() == [[1, 2], [1, 3], [2, 3]] and count.tolist() == [1, 2, 1]
    pairs, _ = adjacency(pieces, of=np.array([False, False, False, True]))
    assert pairs.tolist() == [[1, 3], [2, 3]]


def test_mean_features_depth_and_votes():
    ids = np.array([[0, 0, 1]])
    means, count = mean_features(ids, np.array([[[2.0], [4.0], [9.0]]]), 2)
    assert means[:, 0].tolist() == [3.0, 9.0] and count.tolist() == [2.0, 1.0]
    pieces = np.ones((7, 7), int)
    pieces[:, 4:] = 2
    dist, width = depth(pieces)
    assert dist[3, 0] == 3 and dist[3, 3] == 0 and width[1:].tolist() == [3.0, 2.0]
    v = votes(np.array([0, 0, 1]), np.array([1, 1, 0]), 2)
    assert v.tolist() == [[0, 2], [1, 0]]


def test_label_maximum_is_scipys_per_label_maximum():
    from scipy import ndimage as ndi

    from napari_mmtseg.output_stage.maps import label_maximum

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, (30, 40))
    labels[labels == 4] = 5  # a label without pixels
    values = rng.random((30, 40)) * 9
    want = ndi.maximum(values, labels, index=np.arange(8))
    np.testing.assert_array_equal(label_maximum(values, labels, 8), want)


def test_compact_ids_is_numpys_unique_with_inverse():
    from napari_mmtseg.output_stage.maps import compact_ids

    rng = np.random.default_rng(1)
    for ids in (
        rng.integers(0, 50, (20, 30)) * 3,  # gaps: counted
        rng.integers(-5, 5, (20, 30)),  # negative: sorted
        rng.integers(0, 2**40, (4, 5)),  # huge: sorted
        np.array([[7]], np.uint8),
    ):
        present, compact = compact_ids(ids)
        want, inv = np.unique(ids, return_inverse=True)
        np.testing.assert_array_equal(present, want)
        assert present.dtype == ids.dtype and compact.shape == ids.shape
        np.testing.assert_array_equal(compact, inv.reshape(ids.shape))
