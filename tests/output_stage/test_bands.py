"""Transition bands (output_stage.bands): the blur of an edge is given to its two sides."""

import numpy as np

from napari_mmtseg.features import image_features
from napari_mmtseg.output_stage import finish_labels, remove_transition_bands
from napari_mmtseg.output_stage.experiments import StepSettings, finish_labels_with

from .cases import grey


def test_a_band_of_several_thin_clusters_side_by_side_goes_away():
    # the network's blur of one step edge: four 1-px columns, each a cluster of its own
    # (seen from kim2020 and mmt on a two-tone image), between two large regions
    h, w = 40, 48
    rng = np.random.default_rng(0)
    img = np.where(np.arange(w)[None, :] < 24, 0.3, 0.8).repeat(h, 0)
    img = (img + rng.normal(0, 0.03, img.shape)).astype(np.float32)
    clusters = np.where(np.arange(w)[None, :] < 24, 0, 1).repeat(h, 0)
    for i, col in enumerate(range(22, 26)):
        clusters[:, col] = 2 + i
    for output in ("clusters", "regions"):
        out, info = finish_labels(
            clusters,
            grey(img),
            output=output,
            min_region_size=16,
            merge_threshold=3.0,
            refine=True,
        )
        assert info.n_regions == 2 and info.n_classes == 2, info
        assert out[0, 0] != out[0, -1] and (out[:, :22] == out[0, 0]).all()


def test_a_dark_thin_piece_between_two_sides_is_not_a_band():
    pieces = np.ones((20, 30), int)
    pieces[:, 14:16] = 2  # a 2-px line
    pieces[:, 16:] = 3
    img = np.where(pieces == 1, 0.5, np.where(pieces == 2, 0.05, 0.6))
    feats = image_features(grey(img))
    assert remove_transition_bands(pieces, feats) is pieces  # darker than both sides: kept
    img[:, 14:16] = 0.55  # between its two sides: a band
    out = remove_transition_bands(pieces, image_features(grey(img)))
    assert set(np.unique(out)) == {1, 3}


def test_transition_bands_never_drop_every_piece_when_ids_have_gaps():
    clusters = np.zeros((6, 6), int)
    clusters[:3, 3:], clusters[3:, :3], clusters[3:, 3:] = 1, 2, 3
    img = np.array([0, 0.001, 0.051, 0.05])[clusters].astype(np.float32)
    clusters[0, 4] = 7  # a 1-px speck, absorbed first: the ids have a gap
    lab, info = finish_labels_with(
        clusters,
        grey(img),
        StepSettings(snap=0),
        output="clusters",
        min_region_size=2,
        refine=True,
    )
    assert info.n_classes == 4 and np.unique(lab).size == 4
