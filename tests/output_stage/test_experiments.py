"""The stage with its step settings open (output_stage.experiments)."""

import numpy as np
import pytest

from napari_mmtseg.output_stage import finish_labels
from napari_mmtseg.output_stage.experiments import (
    StepSettings,
    finish_labels_ablated,
    finish_labels_with,
)

from .cases import membrane_grid


def test_the_default_settings_are_the_products():
    x, clusters, _ = membrane_grid(0, size=80)
    kw = dict(merge_threshold=3.0, refine=True, texture=None, keep_apart=[0])
    lab, info = finish_labels(clusters, x, **kw)
    lab2, info2 = finish_labels_with(clusters, x, StepSettings(), **kw)
    np.testing.assert_array_equal(lab, lab2)
    assert info == info2


def test_settings_change_the_steps_and_are_checked():
    x, clusters, _ = membrane_grid(0, size=80)
    kw = dict(merge_threshold=3.0, refine=True, texture=0.5)
    a = finish_labels_with(clusters, x, StepSettings(), **kw)[0]
    b = finish_labels_with(clusters, x, StepSettings(line_contrast=1000.0), **kw)[0]
    assert not np.array_equal(a, b)  # no line is found: the membranes merge into the cells
    with pytest.raises(ValueError, match="join_regions"):
        StepSettings(join_regions="lines")
    with pytest.raises(TypeError):
        finish_labels_with(clusters, x, StepSettings(), edge_sigma=1.0)


def test_ablated_takes_both_kinds_of_keyword():
    x, clusters, _ = membrane_grid(1, size=80)
    kw = dict(merge_threshold=3.0, refine=True, line_width=0.0)
    lab, info = finish_labels_ablated(clusters, x, small_by_colour=False, **kw)
    ref = finish_labels_with(clusters, x, StepSettings(small_by_colour=False), **kw)
    np.testing.assert_array_equal(lab, ref[0])
    assert info == ref[1]
    with pytest.raises(TypeError):
        finish_labels_ablated(clusters, x, no_such_setting=1)
