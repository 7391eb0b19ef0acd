"""The region hierarchy (output_stage.hierarchy), Result.at, and small objects kept apart."""

import time

import numpy as np
import pytest

from napari_mmtseg.output_stage import finish_labels
from napari_mmtseg.output_stage.hierarchy import Hierarchy

from .cases import grey, membrane_grid

# A network's cluster map around one 9 x 9 bright spot on a flat background (cluster 1), as
# MMT gave it: the spot cut into a core (9) and thin rims (13, 2, 4, 11, 12), rings of other
# clusters in the background around it.
SPOT_CLUSTERS = np.array(
    [
        [8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 8],
        [7, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 8],
        [7, 1, 13, 13, 13, 13, 13, 13, 13, 13, 12, 14, 1],
        [7, 1, 2, 13, 9, 9, 9, 9, 9, 9, 12, 14, 1],
        [7, 1, 2, 13, 9, 9, 9, 9, 9, 4, 12, 14, 1],
        [7, 1, 2, 13, 9, 9, 9, 9, 9, 4, 12, 14, 1],
        [7, 1, 2, 13, 9, 9, 9, 9, 9, 4, 12, 14, 1],
        [7, 1, 2, 13, 9, 9, 9, 9, 9, 4, 12, 14, 1],
        [7, 1, 2, 13, 9, 9, 9, 9, 9, 4, 12, 14, 1],
        [7, 1, 2, 4, 11, 11, 11, 11, 11, 4, 12, 14, 1],
        [7, 1, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1, 1],
        [8, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 1, 1],
        [8, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 1, 8],
    ]
)
SPOTS = [(30, 30), (60, 90), (100, 50)]


def _three_spots():
    """Three 9 x 9 bright spots on a flat 128 x 128 image, and the network's cluster map."""
    img = np.full((128, 128), 0.2, np.float32)
    clusters = np.ones((128, 128), int)
    for y, x in SPOTS:
        img[y : y + 9, x : x + 9] = 0.8
        clusters[y - 2 : y + 11, x - 2 : x + 11] = SPOT_CLUSTERS
    return grey(img), clusters


def _stage(clusters, x, **kw):
    kw = dict(merge_threshold=3.0, refine=True, texture=None, hierarchy=True) | kw
    return finish_labels(clusters, x, **kw)


def test_three_small_bright_spots_are_each_a_region_at_the_default_level():
    x, clusters = _three_spots()
    labels, info = _stage(clusters, x)
    ids = [np.bincount(labels[y : y + 9, x0 : x0 + 9].ravel()).argmax() for y, x0 in SPOTS]
    background = np.bincount(labels.ravel()).argmax()
    assert len(set(ids)) == 3 and background not in ids
    for i, (y, x0) in zip(ids, SPOTS):
        assert (labels == i).sum() >= 0.8 * 81
        assert (labels[y : y + 9, x0 : x0 + 9] == i).mean() >= 0.8


def test_default_level_is_the_stage_labels_and_levels_nest():
    x, clusters, _ = membrane_grid(0)
    labels, info = _stage(clusters, x)
    h = info.hierarchy
    assert np.array_equal(h.at("auto"), labels + 1)
    assert np.all(np.diff(h.levels) >= 0)
    assert h.n_regions(1.0) == h.n_fine >= h.n_regions("auto") >= h.n_regions(0.0) >= 1
    counts = [h.n_regions(d) for d in np.linspace(0, 1, 11)]
    assert counts == sorted(counts)
    fine, coarse = h.at(0.8), h.at(0.3)
    pairs = np.unique(np.stack([fine.ravel(), coarse.ravel()]), axis=1)
    assert np.unique(pairs[0]).size == pairs.shape[1]  # every fine region inside one coarse
    assert h.cut(h.detail_of(h.default)) == h.default


def test_finest_regions_are_never_under_the_minimum_size():
    x, clusters = _three_spots()
    _, info = _stage(clusters, x, min_region_size=16)
    sizes = np.bincount(info.hierarchy.fine.ravel())
    assert sizes.min() >= 16


def test_hierarchy_round_trips_through_plain_arrays():
    x, clusters, _ = membrane_grid(1)
    _, info = _stage(clusters, x)
    h = info.hierarchy
    back = Hierarchy.from_arrays(h.to_arrays())
    for d in ("auto", 0.0, 0.5, 1.0):
        assert np.array_equal(back.at(d), h.at(d))


def test_detail_outside_zero_to_one_is_refused():
    x, clusters, _ = membrane_grid(0)
    h = _stage(clusters, x)[1].hierarchy
    for bad in (-0.1, 1.5, "fine", None, float("nan"), [0.5]):
        with pytest.raises(ValueError, match="detail"):
            h.at(bad)


def test_no_hierarchy_for_clusters_or_a_class_count():
    x, clusters, _ = membrane_grid(0)
    assert _stage(clusters, x, output="clusters")[1].hierarchy is None
    assert _stage(clusters, x, n_classes=2)[1].hierarchy is None


def _random_hierarchy(h, w, n, seed=0):
    """A hierarchy over ``n`` square-ish finest regions of an (h, w) image, random merges."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(h * w / n))
    yy, xx = np.mgrid[:h, :w]
    cols = -(-w // side)
    fine = ((yy // side) * cols + xx // side).astype(np.int32)
    n = int(fine.max()) + 1
    # a random spanning tree: id i joins a random earlier id
    merges = np.stack([np.arange(1, n), rng.integers(0, np.arange(1, n))], axis=1)
    return Hierarchy(fine, merges.astype(np.int32), np.sort(rng.random(n - 1)), n // 2)


@pytest.mark.parametrize("shape, limit", [((321, 481), 0.05), ((2048, 2048), 1.0)])
def test_a_level_is_a_lookup_within_the_time_limit(shape, limit):
    h = _random_hierarchy(*shape, n=5000)
    h.at(0.5)  # first call computes each finest region's first pixel once
    best = min(_timed(h.at, d) for d in (0.2, 0.5, 0.9))
    assert best < limit


def _timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


@pytest.mark.parametrize("h, w", [(12, 8), (8, 6)])
def test_no_region_under_the_minimum_size_on_two_flat_halves(h, w):
    # a cluster of its own straddling the edge of two flat halves: snapping shrank it to a
    # 12 px region, kept as the last piece of its class
    img = np.full((64, 64), 0.25, np.float32)
    img[:, 32:] = 0.75
    clusters = (img > 0.5).astype(int)
    clusters[20 : 20 + h, 32 - w // 2 : 32 + w // 2] = 2
    labels, info = _stage(clusters, grey(img), min_region_size=16)
    assert np.bincount(labels.ravel()).min() >= 16
    assert info.n_regions == 2
    assert np.bincount(info.hierarchy.fine.ravel()).min() >= 16


def test_stable_ids_change_only_where_a_merge_happens():
    """Region ids 1..R in raster order renumbered most regions from one level to the next,
    so the detail slider's colours jumped; stable ids change only the merged regions', and
    the default level's ids are the result's."""
    x, clusters, _ = membrane_grid(0)
    h = _stage(clusters, x)[1].hierarchy
    assert len(h.merges) > 4
    np.testing.assert_array_equal(h.labels(h.default, stable_ids=True), h.at("auto"))
    for k in range(len(h.merges)):
        a, b = h.labels(k, stable_ids=True), h.labels(k + 1, stable_ids=True)
        la = h.lookup(k, stable_ids=True)
        joined = np.isin(h.fine, np.flatnonzero(la == la[h.merges[k, 0]]))
        joined |= np.isin(h.fine, np.flatnonzero(la == la[h.merges[k, 1]]))
        assert (a[~joined] == b[~joined]).all(), k  # every other region keeps its id
        assert np.unique(b[joined]).size == 1  # the merged region has one id
        assert len(np.unique(a)) == len(np.unique(b)) + 1
