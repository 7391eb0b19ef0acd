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
