"""Piece-map measurements (output_stage.maps) on maps small enough to count by hand."""

import numpy as np
import pytest

from napari_mmtseg.output_stage.maps import (
    adjacency,
    boundary_means,
    channel_histograms,
    chi_squared,
    connected_pieces,
    depth,
    majority,
    mean_features,
    thin_pieces,
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


def test_boundary_means_average_the_pixel_pairs_across_each_boundary():
    pieces = np.array([[1, 1, 2], [1, 3, 2]])
    values = np.array([[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]])
    pairs, count, mean = boundary_means(pieces, values)
    assert pairs.tolist() == [[1, 2], [1, 3], [2, 3]] and count.tolist() == [1, 2, 1]
    np.testing.assert_allclose(mean, [3.0, 6.0, 9.0])  # (2+4)/2; (6+8)/2, (2+8)/2; (8+10)/2


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


@pytest.mark.parametrize("max_width", [0.0, 1.0, 1.5, 2.0, 2.3, 3.0])
def test_thin_pieces_is_the_depth_test(max_width):
    """Thin pieces found by one erosion are those whose largest depth is at most the width,
    on blob-like maps with gaps in their ids and pieces along the border."""
    from skimage.measure import label

    rng = np.random.default_rng(int(max_width * 10))
    for _ in range(20):
        coarse = rng.integers(0, 6, (rng.integers(3, 12), rng.integers(3, 12)))
        pieces = label(np.kron(coarse, np.ones((rng.integers(1, 6),) * 2, int)), background=-1)
        pieces[pieces == 2] = 1  # an id without pixels, and a piece in two parts
        want = depth(pieces)[1] <= max_width
        np.testing.assert_array_equal(thin_pieces(pieces, max_width), want)


def test_majority_is_the_vote_tables_argmax_without_the_table():
    rng = np.random.default_rng(3)
    for _ in range(30):
        k = int(rng.integers(1, 9))
        regions = rng.integers(0, 12, (20, 25))
        regions[regions == 5] = 7  # a region without pixels
        clusters = rng.integers(0, k, regions.shape)
        want = votes(regions, clusters, k).argmax(1)
        for limit in (0, 1 << 24):  # counted pair by pair, and in the table
            np.testing.assert_array_equal(majority(regions, clusters, k, dense_limit=limit), want)


def test_majority_of_a_map_whose_table_would_not_fit_in_memory():
    """200,000 one-pixel regions of 200,000 clusters: a table of 4e10 cells (320 GB)."""
    ids = np.arange(200_000).reshape(400, 500)
    np.testing.assert_array_equal(majority(ids, ids[::-1], ids.size), ids[::-1].ravel())


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


def test_channel_histograms_count_every_pixel_and_add_up():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, (30, 40))
    feats = rng.normal(50, 20, (30, 40, 2))
    hist = channel_histograms(ids, feats, 5, bins=8)
    assert hist.shape == (5, 2, 8)
    counts = np.bincount(ids.ravel(), minlength=5)
    assert np.array_equal(hist.sum(axis=2), np.repeat(counts[:, None], 2, axis=1))
    # a union's histogram is the sum of its parts'
    joined = channel_histograms(np.where(ids == 3, 2, ids), feats, 5, bins=8)
    assert np.array_equal(joined[2], hist[2] + hist[3])
    # pixels below the 1st / above the 99th percentile land in the end bins
    lo_px = feats[..., 0] < np.percentile(feats[..., 0], 1)
    one = channel_histograms(lo_px.astype(int), feats, 2, bins=8)
    assert one[1, 0, 0] == lo_px.sum()


def test_chi_squared_is_zero_for_equal_and_one_for_disjoint_distributions():
    a = np.array([[2.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    assert chi_squared(a, 3 * a) == 0.0  # the counts' scale does not matter
    disjoint = np.array([[0.0, 0.0, 5.0, 5.0], [0.0, 4.0, 4.0, 0.0]])
    assert chi_squared(a, disjoint) == pytest.approx(1.0)
    half = np.array([[2.0, 0.0, 2.0, 0.0], [1.0, 0.0, 0.0, 1.0]])  # channel 0 half overlaps
    assert chi_squared(a, half) == pytest.approx(chi_squared(half, a)) == pytest.approx(0.25)


def test_chi_squared_of_many_pairs_is_each_pair_s():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 9, (2, 5, 3, 4)).astype(float)
    many = chi_squared(a, b)
    assert many.shape == (5,)
    np.testing.assert_allclose(many, [chi_squared(x, y) for x, y in zip(a, b)], rtol=1e-12)


def test_every_majority_vote_of_the_stage_and_refine_fits_many_regions_and_classes():
    """The output stage's class of each final region and the refine's class of each old
    region count votes per (region, class) pair as majority does: 200,000 regions of
    200,000 classes (a 320 GB table) pass."""
    from napari_mmtseg.output_stage.finish import _class_of_regions
    from napari_mmtseg.refine_ids import class_of_regions

    ids = np.arange(200_000).reshape(400, 500)
    np.testing.assert_array_equal(_class_of_regions(ids[::-1], ids), ids[::-1])
    classes = class_of_regions(ids, ids[::-1] % 7, 7)
    np.testing.assert_array_equal(classes.cls, (ids[::-1] % 7).ravel())
