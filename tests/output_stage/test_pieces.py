"""Small pieces (output_stage.pieces): absorbed by colour or by distance, no class lost."""

import numpy as np
import pytest

from napari_mmtseg.output_stage import auto_min_region_size, finish_labels, remove_small_pieces
from napari_mmtseg.output_stage.experiments import StepSettings, finish_labels_with
from napari_mmtseg.output_stage.maps import connected_pieces
from napari_mmtseg.output_stage.pieces import final_regions

from .cases import grey


def test_speckle_is_absorbed_by_the_surrounding_region():
    clusters = np.zeros((40, 40), int)
    clusters[:, 20:] = 1
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 40, 60), rng.integers(0, 40, 60)
    clusters[ys, xs] = 2  # isolated 1-pixel specks of a third cluster
    x = grey(np.where(np.arange(40)[None, :] < 20, 0.2, 0.8).repeat(40, 0))
    out, info = finish_labels(clusters, x, output="clusters", min_region_size=10)
    assert np.unique(out).size == 2
    assert info.n_pieces_in > 50 and info.n_regions == 2 and info.n_classes == 2
    # each half keeps one class
    assert np.unique(out[:, :19]).size == 1 and np.unique(out[:, 21:]).size == 1


def test_small_pieces_keep_the_largest_when_all_are_small():
    pieces = np.arange(1, 17).reshape(4, 4)
    pieces[0, :2] = 1  # piece 1 is the largest (3 px)
    out = remove_small_pieces(pieces, 100)
    assert np.unique(out).tolist() == [1]


def test_auto_min_region_size():
    assert auto_min_region_size(481 * 321) == 31
    assert auto_min_region_size(100) == 16


def test_pixels_far_from_every_kept_piece_are_still_filled():
    """expand_labels(distance=max(H, W)) left pixels beyond that distance at 0."""
    clusters = np.indices((60, 60)).sum(0) % 2  # a checkerboard: every pixel its own piece
    clusters[:4, :4] = 5  # one 16-pixel piece in a corner
    out = remove_small_pieces(connected_pieces(clusters)[0], 16)
    assert (out > 0).all() and np.unique(out).size == 1
    flat = np.zeros((1, 60, 60), np.float32)
    for by_colour in (False, True):
        settings = StepSettings(small_by_colour=by_colour)
        lab, info = finish_labels_with(clusters, flat, settings, min_region_size=16)
        assert (np.bincount(lab.ravel()) >= 16).all()
        lab, info = finish_labels_with(
            clusters, flat, settings, min_region_size=16, merge_threshold=3.0
        )
        assert info.n_regions == 1 and np.unique(lab).size == 1


def test_a_small_piece_joins_the_neighbour_of_its_colour():
    """A 2 x 6 fragment of a dark line lies between a bright region and the dark line's main
    piece; its pixels used to go to the nearest larger piece by distance (mostly the bright
    one), cutting the line."""
    pieces = np.ones((20, 20), int)  # bright
    pieces[:, 12:] = 2  # dark
    pieces[5:7, 6:12] = 3  # a dark fragment reaching deep into the bright region
    feats = np.where(np.isin(pieces, (2, 3)), 10.0, 90.0)[..., None]
    out = remove_small_pieces(pieces, 16, features=feats)
    assert (out[5:7, 6:12] == out[0, 19]).all() and out[0, 0] != out[0, 19]
    old = remove_small_pieces(pieces, 16)
    assert (old[5:7, 6:9] == old[0, 0]).all()  # the distance rule, for comparison


def test_final_regions_keep_every_class_and_join_touching_parts_of_one_key():
    cls = np.zeros((20, 20), int)
    cls[:, 10:] = 1
    cls[0, 0] = 2  # a 1-px class: the largest (only) piece of its class stays
    cls[5, 5] = 1  # a 1-px fragment of class 1 inside class 0: it goes
    out, regions = final_regions(cls, 4)
    assert set(np.unique(out)) == {0, 1, 2} and out[5, 5] == 0
    assert regions.max() == 3
    key = np.where(np.arange(20)[None, :] < 15, 0, 1).repeat(20, 0)  # two keys of class 0
    out, regions = final_regions(np.zeros((20, 20), int), 4, key, np.array([0, 0]))
    assert (out == 0).all() and regions.max() == 2


def _flat_two_regions(h=96, w=128, seed=0):
    """A flat two-region grey image (left 80, right 170 of 255) with Gaussian noise (sd 4)."""
    rng = np.random.default_rng(seed)
    img = np.where(np.arange(w)[None] < w // 2, 80.0, 170.0) + rng.normal(0, 4.0, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def _region_sizes(labels):
    from skimage.measure import label

    return np.bincount(label(np.asarray(labels) + 1, connectivity=1).ravel())[1:]


@pytest.mark.parametrize("merge_threshold", [0.0, 3.0])
@pytest.mark.parametrize("refine", [False, True])
def test_no_spurious_or_undersized_region_on_a_flat_two_region_image(merge_threshold, refine):
    """Issue 24: a region in a flat half (noise only) and a 3-px region never reach the labels."""
    h, w = 96, 128
    x = (_flat_two_regions(h, w) / 255.0).astype(np.float32)[None]
    clusters = (np.arange(w)[None] >= w // 2).astype(int).repeat(h, 0)
    clusters[40:47, 20:26] = 2  # 42 px of a class of its own in the flat left half
    clusters[60, 90:93] = 3  # 3 px
    clusters[10:20, 100:110] = 0  # 100 px of the left class inside the flat right half
    labels, info = finish_labels(
        clusters, x, merge_threshold=merge_threshold, refine=refine, hierarchy=True
    )
    levels = [labels] + [info.hierarchy.at(d).reshape(h, w) for d in (1.0, 0.5)]
    for lab in levels[:2]:
        assert sorted(_region_sizes(lab)) == [h * w // 2] * 2
    assert _region_sizes(levels[2]).min() >= info.min_region_size


@pytest.mark.parametrize(("method", "seed"), [("kanezaki2018", 1), ("kanezaki2018", 6)])
def test_flat_two_region_image_end_to_end_at_every_level(method, seed):
    """Issue 24's field case: seeds that put a region inside a flat half (finest level)."""
    import napari_mmtseg

    img = _flat_two_regions()
    res = napari_mmtseg.segment(
        img, method=method, seed=seed, preset="fast", device="cpu", num_threads=1
    )
    for detail in ("auto", 1.0, 0.5):
        lab = np.asarray(res.at(detail))
        inside = [r for r in np.unique(lab) if not (lab == r)[:, [0, -1]].any()]
        assert inside == [], detail
        assert _region_sizes(lab).min() >= 16


def test_ensure_min_size_absorbs_a_fragment_but_keeps_a_spot():
    """No region under the minimum is left, except a protected spot of >= 16 px."""
    from napari_mmtseg.output_stage.pieces import ensure_min_size

    regions = np.ones((40, 40), int)
    regions[:, 20:] = 2
    regions[5, 5:8] = 3  # 3 px
    regions[20:25, 5:9] = 4  # 20 px, a protected spot
    protect = regions == 4
    out = ensure_min_size(regions, 30, protect)
    assert sorted(_region_sizes(out)) == [20, 780, 800]
    assert (out[regions == 4] == out[22, 6]).all()
