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
