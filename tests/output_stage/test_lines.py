"""Thin lines (output_stage.lines): membranes keep the cells they separate apart."""

import numpy as np
import pytest

from napari_mmtseg.features import image_features
from napari_mmtseg.output_stage import finish_labels, thin_lines
from napari_mmtseg.output_stage.maps import connected_pieces

from .cases import membrane_grid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_membranes_keep_the_cells_they_separate_apart(seed):
    """ISBI 2012 EM: the texture-aware merge joined the membrane network to the cells (a whole
    section became one object)."""
    x, clusters, mem = membrane_grid(seed)
    lab, info = finish_labels(clusters, x, merge_threshold=3.0, texture=0.5, refine=True)
    centres = lab[20::40, 20::40]
    assert np.unique(centres).size == 16  # every cell its own region
    assert not np.isin(lab[mem], centres).mean() > 0.05  # the membrane is none of them


def test_thin_lines_are_networks_not_blobs_or_lone_streaks():
    x, clusters, mem = membrane_grid(0)
    cells = 1 + np.arange(160)[:, None] // 40 * 4 + np.arange(160)[None, :] // 40
    pieces = connected_pieces(np.where(mem, 0, cells))[0]
    lines = thin_lines(pieces, image_features(x), 8.0, contrast=15.0)
    membrane = np.unique(pieces[mem])
    assert lines[membrane].any(1).all() and np.allclose(lines[membrane, 0], -1.0)  # darker
    assert not lines[np.setdiff1d(np.unique(pieces), membrane)].any()  # the cells are not lines
    # a dark streak inside one region separates nothing: not a line
    img = np.full((1, 60, 60), 0.7, np.float32)
    img[0, 30:32, 10:50] = 0.2
    streak = np.ones((60, 60), int)
    streak[30:32, 10:50] = 2
    assert not thin_lines(streak, image_features(img), 8.0, contrast=15.0).any()
