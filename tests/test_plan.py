"""plan_run: a run's method, preset, parameters, scribbles and state, decided before any work."""

import numpy as np
import pytest

from napari_mmtseg.plan import RunPlan, plan_run

ARGS = dict(
    seed=0, channel_axis=None, device="cpu", rgb=None, scribbles=None, init_model=None,
    model=None, preview_every=0,
)  # fmt: skip


def _plan(image, method=None, preset=None, **kw) -> RunPlan:
    args = {**ARGS, **{k: kw.pop(k) for k in list(kw) if k in ARGS}}
    return plan_run(image, method, preset, overrides=kw, **args)


def test_the_defaults_are_mmt_and_the_devices_preset():
    run = _plan(np.zeros((16, 16)))
    assert (run.method, run.preset, run.device.type, run.seed) == ("mmt", "fast", "cpu", 0)
    assert run.p.q == 32 and run.trains and not run.one_model
    assert run.total == run.p.max_iter and run.z_stride is None and run.scr is None


def test_the_steps_of_a_stack_by_stack_mode():
    stack = np.zeros((3, 16, 16))
    one = _plan(stack, max_iter=10)
    assert one.one_model and one.total == 10 + 3  # max_iter in all, then one pass per slice
    each = _plan(stack, max_iter=10, stack="per_slice")
    assert not each.one_model and each.total == 3 * 10
    assert _plan(stack, "kmeans").total == 3 and not _plan(stack, "kmeans").trains
    assert not _plan(stack, "felzenszwalb").one_model  # its segments are no classes


def test_scribbles_make_classes_with_room_for_them():
    s = np.zeros((16, 16), int)
    s[0, :5] = np.arange(1, 6)  # five classes
    run = _plan(np.zeros((16, 16)), "kim2020", scribbles=s, q=4)
    assert run.scr.n_classes == 5 and run.p.q == 6 and run.p.output == "clusters"
    assert run.state.n_scribble_classes == 5
    kept = _plan(np.zeros((16, 16)), "kim2020", scribbles=s, output="regions")
    assert kept.p.output == "regions"  # an explicit output stays


def test_refusals_come_before_any_work():
    img = np.zeros((16, 16))
    with pytest.raises(ValueError, match="Unknown method 'sam'"):
        _plan(img, "sam")
    with pytest.raises(TypeError, match="seed must be an integer"):
        _plan(img, seed=True)
    with pytest.raises(ValueError, match="Scribbles need a learned method"):
        _plan(img, "kmeans", scribbles=np.ones((16, 16), int))
    with pytest.raises(TypeError, match="napari_mmtseg Model"):
        _plan(img, model={"state": {}})
