"""Thin ridges (output_stage.ridges): vessels and fibres found in the image, noise not."""

import numpy as np
import pytest

from napari_mmtseg.features import image_features
from napari_mmtseg.output_stage.hierarchy import _absorb_slivers, build_hierarchy
from napari_mmtseg.output_stage.ridges import thin_ridges

from .cases import grey

SIZE = 256


def _vessels(seed=0, noise=0.02, contrast=0.15):
    """A 256 x 256 noisy field with a smooth shading, three dark curved lines 3 to 5 px wide
    and one short bright straight line 3 px wide between two of them (no line touches
    another); returns the image and the lines' truth (ids 1..4)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    img = 0.45 + 0.15 * np.sin(xx / 70.0) * np.cos(yy / 90.0)
    truth = np.zeros((SIZE, SIZE), np.int32)
    for i, (y0, amp, half) in enumerate([(50, 12, 1.5), (120, 20, 2.5), (190, 8, 2.0)], 1):
        centre = y0 + amp * np.sin(xx / 40.0 + i)
        line = np.abs(yy - centre) <= half
        img[line] -= contrast
        truth[line] = i
    bright = (np.abs(xx - 150) <= 1.5) & (yy > 68) & (yy < 94)
    img[bright] += contrast
    truth[bright] = 4
    img = np.clip(img + rng.normal(0, noise, img.shape).astype(np.float32), 0, 1)
    return grey(img), truth


def test_lines_a_few_pixels_wide_are_ridges_each_whole():
    x, truth = _vessels()
    ridges = thin_ridges(image_features(x), min_size=16)
    for k in range(1, 5):
        ids, counts = np.unique(ridges[truth == k], return_counts=True)
        assert ids[counts.argmax()] > 0 and counts.max() >= 0.8 * (truth == k).sum(), k
        assert (ridges == ids[counts.argmax()]).sum() <= 1.3 * (truth == k).sum()  # one line
    off = (ridges > 0) & (truth == 0)
    assert off.sum() <= 0.2 * (truth > 0).sum()  # the line's width, not the blur's tails


@pytest.mark.parametrize("noise", [0.02, 0.1])
def test_noise_step_edges_and_discs_make_no_ridges(noise):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    img = np.where(xx < 128, 0.3, 0.7).astype(np.float32)  # a step edge
    img[(yy - 64) ** 2 + (xx - 64) ** 2 <= 30**2] = 0.6  # a disc
    img[(yy - 190) ** 2 + (xx - 190) ** 2 <= 20**2] = 0.2
    img = np.clip(img + rng.normal(0, noise, img.shape).astype(np.float32), 0, 1)
    assert thin_ridges(image_features(grey(img)), min_size=16).max() == 0


def test_a_vessel_the_networks_missed_is_a_finest_region_of_the_hierarchy():
    x, truth = _vessels()
    f = image_features(x)
    flat = np.ones((SIZE, SIZE), np.int64)  # the networks saw one region, no vessel
    h = build_hierarchy(flat, flat, np.zeros((SIZE, SIZE)), threshold=3.0, min_size=16, features=f)
    assert np.unique(h.at("auto")).size == 1  # the default level is the networks' region
    finest = h.at(1.0)
    background = np.bincount(finest.ravel()).argmax()
    for k in range(1, 5):
        ids, counts = np.unique(finest[truth == k], return_counts=True)
        main = ids[counts.argmax()]
        assert main != background and counts.max() >= 0.7 * (truth == k).sum(), k
        assert (finest == main).sum() <= 1.5 * (truth == k).sum()  # the vessel, not a blob


def test_a_ridge_is_as_wide_as_its_line_on_a_clean_image():
    f = np.zeros((64, 64, 1), np.float32)
    f[30:33, :, 0] = 50.0  # a 3 px line, no noise: the smoothing's tails are not the line
    ridges = thin_ridges(f, min_size=16)
    assert ridges.max() == 1 and ((ridges > 0) == (f[..., 0] > 0)).all()


def test_a_line_under_one_feature_unit_or_under_the_minimum_size_is_no_ridge():
    f = np.zeros((64, 64, 1), np.float32)
    f[30:33, :, 0] = 0.5  # clean, but under the 1-unit floor
    assert thin_ridges(f, min_size=16).max() == 0
    f[30:33, :, 0] = 50.0  # 192 px
    assert thin_ridges(f, min_size=192).max() == 1
    assert thin_ridges(f, min_size=193).max() == 0


def test_a_sliver_beside_a_ridge_joins_another_neighbour_first():
    # M: a region; R: a ridge; t, u: two slivers that pair up in the first pass (5 px together,
    # still under the minimum) and then touch R along more boundary than M; v touches R alone
    grid = """
        MMMMMMMMMM
        MMMMMMMMMM
        RRRRuRRRRR
        RRRtuRRRRR
        RRRttRRRRv
        RRRRRRRRRR"""
    code = {"M": 1, "R": 2, "u": 3, "t": 4, "v": 5}
    pieces = np.array([[code[c] for c in row] for row in grid.split()])
    group = np.ones(6, np.int64)  # one default region
    avoid = np.array([False, False, True, False, False, False])
    out, _ = _absorb_slivers(pieces, group, 10, avoid)
    assert out[3, 3] == out[2, 4] == out[0, 0]  # t and u joined M, not the ridge
    assert out[4, 9] == out[5, 0] != out[0, 0]  # v had only the ridge: a union led by R
    # the union of R and v is still a ridge in the second pass: without the flag carried
    # over, t and u would join it (it shares more boundary with them than M)
    plain, _ = _absorb_slivers(pieces, group, 10, None)
    assert plain[3, 3] == plain[5, 0]


@pytest.mark.parametrize("at_default", [False, True])
def test_ridges_reach_the_default_level_only_when_asked(at_default):
    from napari_mmtseg.output_stage.experiments import finish_labels_ablated

    x, truth = _vessels()
    flat = np.zeros((SIZE, SIZE), np.int64)  # the networks saw one region, no vessel
    labels, _ = finish_labels_ablated(
        flat, x, merge_threshold=3.0, refine=True, default_ridges=at_default, hierarchy=True
    )
    background = np.bincount(labels.ravel()).argmax()
    # the 4 and 5 px lines (the band step gives the 3 px ones away in this variant)
    own = [np.bincount(labels[truth == k]).argmax() != background for k in (2, 3)]
    assert all(own) if at_default else not any(own)
