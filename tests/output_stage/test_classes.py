"""Classes (output_stage.classes): each region's class, scribbled classes, n_classes."""

import numpy as np
import pytest

from napari_mmtseg.output_stage import finish_labels, group_classes
from napari_mmtseg.output_stage.classes import region_classes

from .cases import background_and_nuclei, grey


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_n_classes_is_reached_exactly(n):
    rng = np.random.default_rng(1)
    clusters = rng.integers(0, 8, size=(8, 8)).repeat(6, 0).repeat(6, 1)  # 8 clusters, 6x6 blocks
    img = grey(clusters / 7.0)
    out, info = finish_labels(clusters, img, output="clusters", n_classes=n, min_region_size=1)
    assert np.unique(out).size == n == info.n_classes
    assert f"n_classes={n}" in info.why_details


def test_more_classes_than_clusters_groups_regions_and_says_when_short():
    clusters = np.zeros((20, 20), int)
    clusters[:, 10:] = 1
    clusters[5:8, 2:5] = 1  # a second region of cluster 1
    img = grey(np.where(clusters == 1, 0.8, 0.2) + np.where(np.arange(20)[None, :] > 10, 0.1, 0))
    out, info = finish_labels(clusters, img, output="clusters", n_classes=3, min_region_size=1)
    assert np.unique(out).size == 3 and "regions were grouped" in info.why_details
    out, info = finish_labels(clusters, img, output="clusters", n_classes=9, min_region_size=1)
    assert np.unique(out).size == 3 and "only 3 distinct region" in info.why_details


def test_group_classes_follows_colour():
    ids = np.array([[0, 1, 2, 3]]).repeat(4, 0)
    feats = np.array([0.0, 1.0, 50.0, 52.0])[ids][..., None]
    g = group_classes(ids, feats, 2)
    assert g[0, 0] == g[0, 1] and g[0, 2] == g[0, 3] and g[0, 0] != g[0, 2]


def test_a_region_takes_its_majority_cluster_or_a_scribbled_one():
    regions = np.array([[5, 5, 5, 9, 9, 9]])
    clusters = np.array([[0, 0, 1, 1, 1, 2]])
    ids = np.array([10, 20, 30])
    reg, cls = region_classes(regions, clusters, ids, np.array([], np.int64))
    assert reg.tolist() == [[0, 0, 0, 1, 1, 1]] and cls.tolist() == [0, 1]
    _, cls = region_classes(regions, clusters, ids, np.array([2]))  # cluster 30 scribbled
    assert cls.tolist() == [0, 2]


def test_a_scribbled_class_is_not_swallowed_by_a_region_it_merges_with():
    clusters = np.zeros((30, 30), int)
    clusters[10:20, 10:16] = 1  # a small scribbled cluster inside a large unscribbled one
    flat = np.full((1, 30, 30), 0.5, np.float32)  # no edge anywhere: they merge
    kw = dict(output="clusters", merge_threshold=3, min_region_size=1, keep_ids=True)
    lab, _ = finish_labels(clusters, flat, keep_apart=(1,), **kw)
    assert set(np.unique(lab)) == {1}  # the merged region takes the scribbled class
    clusters[:, 25:] = 2  # two scribbled classes never merge with each other
    lab, _ = finish_labels(clusters, flat, keep_apart=(1, 2), **kw)
    assert set(np.unique(lab)) == {1, 2}


def test_a_large_unmarked_region_keeps_its_class_after_merging_with_a_scribbled_one():
    # seen on a bbbc039 field with generated scribbles: the background merged with one dim
    # nucleus of the scribbled nucleus class and took that class
    clusters, x, marks = background_and_nuclei()
    lab, _ = finish_labels(
        clusters,
        x,
        output="clusters",
        merge_threshold=3,
        min_region_size=1,
        keep_ids=True,
        keep_apart=(1, 2),
        scribbled_pixels=marks,
    )
    assert lab[0, 0] == 0 and lab[50, 50] == 2 and lab[8, 8] == 1
    assert lab[35, 35] == 0  # A merged into the background, which kept the background's class


def test_a_region_takes_the_class_the_user_scribbled_not_the_one_predicted_there():
    clusters = np.zeros((40, 40), int)
    clusters[:, 20:] = 1
    clusters[18:23, 8:13] = 1  # the method says B under the user's A scribble
    x = (clusters[None] * 0.5).astype(np.float32)
    x[0, 18:23, 8:13] = 0  # and the image says A there
    marks = np.full((40, 40), -1)
    marks[18:23, 8:13] = 0  # the user scribbled class A (cluster 0)
    lab, _ = finish_labels(
        clusters,
        x,
        output="clusters",
        keep_ids=True,
        keep_apart=(0, 1),
        scribbled_pixels=marks,
        min_region_size=30,
    )
    assert set(np.unique(lab[:, :20])) == {0} and set(np.unique(lab[:, 21:])) == {1}
