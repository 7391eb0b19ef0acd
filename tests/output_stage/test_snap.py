"""Boundary snapping (output_stage.snap): boundaries settle on the image's edges."""

import numpy as np

from napari_mmtseg.features import edge_strength, image_features
from napari_mmtseg.output_stage import snap_boundaries

from .cases import grey


def test_a_boundary_off_the_edge_moves_onto_it():
    img = np.where(np.arange(40)[None, :] < 20, 0.2, 0.8).repeat(30, 0)  # the edge at x = 20
    regions = np.where(np.arange(40)[None, :] < 22, 1, 2).repeat(30, 0)  # 2 px to the right
    edges = edge_strength(image_features(grey(img)), 1.0)
    out = snap_boundaries(regions, edges, 3.0)
    assert (out[:, :20] == 1).all() and (out[:, 20:] == 2).all()
    assert snap_boundaries(regions, edges, 0) is regions  # radius 0: nothing moves


def test_a_region_thinner_than_the_band_keeps_its_core():
    regions = np.ones((30, 30), int)
    regions[10:12, :] = 2  # a 2-px band, thinner than the 3-px snapping band
    out = snap_boundaries(regions, np.zeros((30, 30)), 3.0)
    assert (out == 2).any()


def test_fixed_pixels_keep_their_region():
    """The same off-edge boundary, its region-1 side fixed: those pixels stay 1."""
    img = np.where(np.arange(40)[None, :] < 20, 0.2, 0.8).repeat(30, 0)
    regions = np.where(np.arange(40)[None, :] < 22, 1, 2).repeat(30, 0)
    edges = edge_strength(image_features(grey(img)), 1.0)
    fixed = regions == 1
    out = snap_boundaries(regions, edges, 3.0, fixed=fixed)
    assert (out[fixed] == 1).all() and (out[:, 22:] == 2).all()


def test_flooding_the_band_alone_gives_the_whole_slice_flood():
    """Against the definition: the watershed over the whole slice, markers the cores."""
    from scipy.ndimage import gaussian_filter
    from skimage.segmentation import slic, watershed

    from napari_mmtseg.output_stage.maps import depth

    rng = np.random.default_rng(0)
    for _ in range(10):
        h, w = rng.integers(20, 120, 2)
        img = gaussian_filter(rng.random((h, w, 3)), (3, 3, 0))
        regions = slic(img, n_segments=int(rng.integers(2, 40)), start_label=1, channel_axis=-1)
        edges = rng.random((h, w))  # no ties: the flood's order is unique
        for radius in (1.0, 2.0, 3.5):
            dist, width = depth(regions)
            keep = (dist > radius) | (dist >= width[regions])
            whole = watershed(edges, markers=np.where(keep, regions, 0))
            assert np.array_equal(snap_boundaries(regions, edges, radius), whole)
