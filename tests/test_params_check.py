"""params_check: each field's type, range and choices are checked, and the message names it."""

from dataclasses import replace

import numpy as np
import pytest

from napari_mmtseg.params import Params
from napari_mmtseg.params_check import OUTPUTS, STACK_MODES, check_params


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"q": 1}, "q \\(max clusters\\)"),
        ({"max_iter": 10.0}, "max_iter must be an integer"),
        ({"patience": True}, "tile, patience, k, n_segments, min_size and min_labels"),
        ({"sync_every": 0}, "sync_every must be None"),
        ({"soft_weight": 3}, "soft_weight"),
        ({"line_width": -1}, "line_width must be >= 0"),
        ({"infer_at": "half"}, "infer_at must be 'full' or 'train'"),
        ({"stack": "both"}, "stack must be 'one_model' or 'per_slice'"),
        ({"output": "both"}, "output must be"),
        ({"n_classes": 0}, "n_classes must be"),
        ({"texture_weight": "strong"}, "texture_weight must be 'auto'"),
        ({"texture_weight": float("inf")}, "texture_weight must be 'auto' or a finite number"),
        ({"line_width": "abc"}, "line_width must be a finite number, got 'abc'"),
        ({"beta": float("nan")}, "beta must be a finite number"),
        ({"superpixel_size": 2.5}, "superpixel_size must be an integer"),
    ],
)
def test_a_bad_value_is_refused_by_name(kw, msg):
    with pytest.raises(ValueError, match=msg):
        check_params(replace(Params(), **kw))


@pytest.mark.parametrize("name", ["merge_threshold", "lr", "noise", "scale", "sigma"])
def test_every_float_field_must_be_finite(name):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        check_params(replace(Params(), **{name: float("inf")}))


def test_the_defaults_and_numpy_scalars_pass():
    check_params(Params())
    check_params(replace(Params(), q=np.int64(8), lr=np.float32(0.5), texture_weight=None))
    assert Params().output in OUTPUTS and Params().stack in STACK_MODES


def test_the_first_failing_rule_is_the_one_reported():
    with pytest.raises(ValueError, match="^q "):  # q is checked before lr
        check_params(replace(Params(), q=1, lr=-1.0))
