"""Small distinct objects kept as regions (output_stage.spots) and noise not made into any."""

import numpy as np
import pytest

from napari_mmtseg.features import image_features
from napari_mmtseg.output_stage import finish_labels
from napari_mmtseg.output_stage.spots import distinct_spots, noise_sigma

from .cases import grey

SIZE = 512


def _sparse_spots(seed=0, n=30, contrast=0.4, noise=0.03):
    """A 512 x 512 field of ``n`` discs of 21 to 37 px on a noisy flat background.

    Returns the image, the spots' truth (ids 1..n) and a network-like cluster map that does not
    see the spots (large blocks of three clusters, as MMT's ``fast`` run gave on such a field).
    """
    rng = np.random.default_rng(seed)
    img = np.full((SIZE, SIZE), 0.2, np.float32)
    centres = []
    while len(centres) < n:
        c = rng.integers(20, SIZE - 20, 2)
        if all(np.abs(c - d).max() > 40 for d in centres):
            centres.append(c)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    truth = np.zeros((SIZE, SIZE), np.int32)
    for i, (y, x) in enumerate(centres):
        r = rng.uniform(2.6, 3.6)
        disc = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        img[disc] += contrast
        truth[disc] = i + 1
    img = np.clip(img + rng.normal(0, noise, img.shape).astype(np.float32), 0, 1)
    clusters = (yy // 96 + 2 * (xx // 128)) % 3
    return grey(img), truth, clusters


def _stage(clusters, x, info=False):
    out = finish_labels(clusters, x, merge_threshold=3.0, refine=True, texture=None)
    return out if info else out[0]


def test_sparse_small_spots_are_each_their_own_region_at_the_default_level():
    x, truth, clusters = _sparse_spots()
    labels, info = _stage(clusters, x, info=True)
    assert info.n_clusters_in == 3  # the method's clusters; the spots' classes are the stage's
    background = np.bincount(labels.ravel()).argmax()
    ids = [np.bincount(labels[truth == i]).argmax() for i in range(1, truth.max() + 1)]
    assert len(set(ids)) == len(ids) and background not in ids
    for k, i in enumerate(ids, 1):
        assert (labels[truth == k] == i).mean() >= 0.7  # the spot, not a blob around it
        assert (labels == i).sum() <= 2 * (truth == k).sum()


def _gaussian_spots(seed=0, n=30, amplitude=0.5, noise=0.03):
    """A 512 x 512 field of ``n`` spots of Gaussian profile (sigma 1.6 to 2.2 px: a point
    source seen through a point-spread function) on a noisy flat background, and a cluster map
    that does not see them."""
    rng = np.random.default_rng(seed)
    img = np.full((SIZE, SIZE), 0.2, np.float32)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for y, x in rng.integers(20, SIZE - 20, (n, 2)):
        s = rng.uniform(1.6, 2.2)
        img += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))
    img = np.clip(img + rng.normal(0, noise, img.shape).astype(np.float32), 0, 1)
    return grey(img), (yy // 96 + 2 * (xx // 128)) % 3


def test_every_spot_found_keeps_its_outline_through_the_boundary_snapping():
    """A blurred spot's gradient ridge lies inside the outline the spot step found; snapping
    to it shrank such spots under the 16 px floor, and the last step then removed them."""
    x, clusters = _gaussian_spots()
    spots = distinct_spots(image_features(x, False), 52)  # 52: the floor of a 512 x 512 slice
    assert spots.max() >= 20
    labels = _stage(clusters, x)
    for k in range(1, spots.max() + 1):
        spot = spots == k
        i = np.bincount(labels[spot]).argmax()
        assert (labels[spot] == i).mean() >= 0.7 and (labels == i).sum() <= 2 * spot.sum()


def test_no_region_under_the_floor_and_noise_makes_none():
    x, truth, clusters = _sparse_spots()
    labels = _stage(clusters, x)
    assert np.bincount(labels.ravel()).min() >= 16
    flat, _, _ = _sparse_spots(n=1, contrast=0.0)  # the same noise, no spot to see
    assert distinct_spots(np.moveaxis(flat, 0, -1) * 100, 208).max() == 0
    # the blocks of the cluster map do not differ in the image: one region, plus the spots
    assert _stage(clusters, flat).max() == 0 and labels.max() == truth.max()


@pytest.mark.parametrize("contrast, found", [(0.05, False), (0.4, True)])
def test_a_spot_must_stand_out_well_above_the_noise(contrast, found):
    x, truth, _ = _sparse_spots(n=1, contrast=contrast)
    spots = distinct_spots(np.moveaxis(x, 0, -1) * 100, 208)
    assert (spots.max() == 1) == found


def test_noise_sigma_recovers_the_noise_of_a_flat_image():
    rng = np.random.default_rng(0)
    f = 50 + rng.normal(0, 4.0, (128, 128, 1))
    assert noise_sigma(f) == pytest.approx(4.0, rel=0.1)


def test_a_spot_larger_than_the_smallest_region_on_a_bright_background_is_kept():
    """9 x 9 spots (81 px) on a bright sky that the networks lumped them with: spots were
    looked for only up to the smallest region size (16 px on 256 x 256), so they vanished
    into the sky, at the default level and at the finest."""
    rng = np.random.default_rng(0)
    img = np.full((256, 256), 0.8, np.float32)
    img[160:] = 0.2  # the ground, another cluster
    spots = [(30, 30), (30, 200), (90, 120)]
    for y, x in spots:
        img[y : y + 9, x : x + 9] = 1.0
    img = np.clip(img + rng.normal(0, 0.01, img.shape).astype(np.float32), 0, 1)
    clusters = (np.arange(256)[:, None] >= 160).astype(np.int64) * np.ones(256, np.int64)
    labels = _stage(clusters, grey(img))
    for y, x in spots:
        inside, around = labels[y + 4, x + 4], labels[y - 3, x - 3]
        assert inside != around and (labels[y : y + 9, x : x + 9] == inside).mean() >= 0.9


def test_a_spot_with_no_surroundings_of_its_own_is_not_dropped_as_seen():
    """A spot closed in by another has no ring of unspotted pixels to compare its clusters
    with: the comparison read an empty count as cluster 0 and dropped it."""
    from napari_mmtseg.output_stage.finish import _unseen_above

    spots = np.zeros((20, 20), np.int32)
    spots[2:18, 2:18] = 2  # a spot holding another
    spots[8:12, 8:12] = 1
    clusters = np.zeros((20, 20), np.int64)
    clusters[8:12, 8:12] = 1  # the inner spot's own cluster; its neighbours are spot 2's
    out = _unseen_above(spots, 1, clusters)
    assert (out[8:12, 8:12] > 0).all()
