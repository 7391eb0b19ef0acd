"""Parameters: presets, per-method adjustments, overrides, checks, documentation."""

import dataclasses

import pytest

from napari_mmtseg import PRESETS, Params, make_params
from napari_mmtseg.params import METHODS, default_preset


def test_a_preset_then_the_method_then_the_overrides():
    assert make_params("mmt", "paper") == Params()
    fast = make_params("mmt", "fast")
    assert (fast.q, fast.max_iter, fast.train_size) == (32, 300, 128)
    assert make_params("kanezaki2018", "paper").beta == 0.0  # the method's adjustment
    assert make_params("kanezaki2018", "paper", beta=2.0).beta == 2.0  # the override wins
    km = make_params("kmeans", "fast")
    assert (km.output, km.min_region_size, km.merge_threshold, km.refine) == (
        "clusters", 1, 0.0, False)  # fmt: skip


def test_none_keeps_the_preset_except_where_none_is_a_value():
    assert make_params("mmt", "fast", q=None).q == 32
    assert make_params("mmt", "fast", train_size=None).train_size is None
    assert make_params("mmt", "fast", texture_weight="auto").texture_weight is None


@pytest.mark.parametrize(
    "kw, exc, msg",
    [
        ({"qq": 3}, TypeError, "Unknown parameter"),
        ({"q": 1}, ValueError, "q \\(max clusters\\)"),  # checked (tests/test_params_check.py)
    ],
)
def test_bad_values_are_refused(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        make_params("mmt", "fast", **kw)
    with pytest.raises(ValueError, match="Unknown method"):
        make_params("nope")
    with pytest.raises(ValueError, match="Unknown preset"):
        make_params("mmt", "slow")


def test_default_preset_by_device():
    assert default_preset("cpu") == "fast"
    assert default_preset("cuda") == default_preset("mps") == "paper"
    assert set(PRESETS) == {"paper", "fast"}
    assert all(isinstance(make_params(m, p), Params) for m in METHODS for p in PRESETS)


def test_every_field_is_documented():
    doc = Params.__doc__
    missing = [f.name for f in dataclasses.fields(Params) if f"\n    {f.name} : " not in doc]
    assert not missing
