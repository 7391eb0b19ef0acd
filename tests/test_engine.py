"""Core engine: accuracy on a synthetic image, every method on every input
kind, id consistency in stacks, reproducibility, cancellation, errors."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import make_regions
from napari_mmtseg import (
    METHODS,
    Progress,
    SegmentationResult,
    align_labels,
    iter_segment,
    make_params,
    segment,
)
from napari_mmtseg.params import SCRIBBLE_METHODS

FAST = dict(preset="fast", device="cpu")
UNSUPERVISED = [m for m in METHODS if m not in SCRIBBLE_METHODS]  # trainable needs scribbles
SHORT = dict(max_iter=15)  # enough to exercise every code path quickly


def one_to_one_accuracy(gt, pred):
    return float((align_labels(gt, pred) == gt).mean())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_mmt_recovers_synthetic_regions():
    """3 noisy colour regions (48x64), fast preset with TV weight 3. Measured
    on CPU, 1 thread, seeds 0-4: accuracy 0.958, 0.926, 0.959, 0.896, 0.904
    (MMT converges to the regions plus one fragment cluster). Asserted: two
    of seeds 0-2 reach 0.95, none falls below 0.9."""
    img, gt = make_regions(rgb=True, n_regions=3)
    accs = []
    for seed in (0, 1, 2):
        r = segment(img, method="mmt", seed=seed, beta=3.0, **FAST)
        assert r.labels.shape == gt.shape
        assert r.seconds < 60
        accs.append(one_to_one_accuracy(gt, r.labels))
    assert sum(a >= 0.95 for a in accs) >= 2, accs
    assert min(accs) >= 0.9, accs


def test_result_fields():
    img, _ = make_regions()
    r = segment(img, method="mmt", seed=3, **FAST, **SHORT)
    assert isinstance(r, SegmentationResult)
    ids = np.unique(r.labels)
    np.testing.assert_array_equal(ids, np.arange(1, ids.size + 1))  # 1..K consecutive
    assert np.issubdtype(r.labels.dtype, np.integer)
    assert r.method == "mmt" and r.preset == "fast" and r.seed == 3
    assert r.device.startswith("cpu")
    assert r.params["max_iter"] == 15 and r.params["q"] == make_params("mmt", "fast").q
    assert 1 <= len(r.history) <= 15
    h = r.history[0]
    assert {"iteration", "n_labels", "loss", "ce", "tv"} <= set(h)
    assert r.metadata()["napari_mmtseg_version"]


def test_paper_preset_matches_the_paper():
    p = make_params("mmt", "paper")
    # M = 3 convolutional layers: two 3x3 blocks + the 1x1 head (docs/method.md)
    assert (p.q, p.n_conv, p.max_iter, p.alpha, p.lr, p.momentum) == (100, 2, 1000, 0.999, 0.1, 0.9)
    assert p.train_size is None
    with pytest.raises(TypeError, match="Unknown parameter"):
        make_params("mmt", "paper", bogus=1)
    with pytest.raises(ValueError, match="Unknown preset"):
        make_params("mmt", "nope")


@pytest.mark.parametrize("method", UNSUPERVISED)
@pytest.mark.parametrize("kind", ["grey", "rgb", "stack"])
def test_every_method_on_every_input_kind(method, kind):
    grey, _ = make_regions(shape=(24, 32))
    if kind == "grey":
        img = grey
    elif kind == "rgb":
        img, _ = make_regions(shape=(24, 32), rgb=True)
    else:
        img = np.stack([grey, grey * 0.98 + 0.01, grey])
    r = segment(img, method=method, n_segments=200, k=4, **FAST, **SHORT)
    assert r.labels.shape == (img.shape if kind != "rgb" else img.shape[:2])
    assert r.labels.min() == 1 and r.n_labels >= 1


def test_multichannel_with_channel_axis():
    img, gt = make_regions(shape=(24, 32))
    mc = np.stack([img, 1 - img, img**2, np.zeros_like(img), img], axis=0)  # (C, Y, X)
    r = segment(mc, method="kmeans", k=4, channel_axis=0, **FAST)
    assert r.labels.shape == (24, 32)
    assert one_to_one_accuracy(gt, r.labels) > 0.9


def test_16bit_and_bool_inputs():
    img, gt = make_regions(shape=(24, 32))
    u16 = (img.clip(0, 1) * 4000 + 300).astype(np.uint16)  # dim 16-bit microscopy range
    r = segment(u16, method="kmeans", k=4, **FAST)
    assert one_to_one_accuracy(gt, r.labels) > 0.9
    r = segment(gt == 1, method="kmeans", k=2, **FAST)
    assert r.n_labels == 2


def test_ids_agree_across_near_identical_slices():
    img, gt = make_regions(shape=(32, 40), rgb=True, n_regions=3)
    rng = np.random.default_rng(5)
    stack = np.stack(
        [
            np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
            for _ in range(3)
        ]
    )
    # one id per class through the stack; a Z stack's regions are connected in 3D (a time-lapse's
    # regions are per frame, with ids unique through it: tests/test_stack.py)
    for kw in (dict(output="clusters"), dict(output="regions", axes="ZYXC")):
        r = segment(stack, method="mmt", **FAST, **kw)
        assert r.labels.shape == stack.shape[:3]
        for z in (1, 2):
            agree = (r.labels[z] == r.labels[0]).mean()
            assert agree > 0.95, f"slice {z} ids differ from slice 0 on {1 - agree:.1%} of pixels"


def test_same_seed_same_labels_on_cpu():
    img, _ = make_regions(shape=(24, 32), rgb=True)
    a = segment(img, method="mmt", seed=7, **FAST, max_iter=30)
    b = segment(img, method="mmt", seed=7, **FAST, max_iter=30)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = segment(img, method="kanezaki2018", seed=7, n_segments=100, **FAST, max_iter=20)
    d = segment(img, method="kanezaki2018", seed=7, n_segments=100, **FAST, max_iter=20)
    np.testing.assert_array_equal(c.labels, d.labels)


def test_iter_segment_yields_progress_previews_then_result():
    img, _ = make_regions(shape=(24, 32))
    events = list(
        iter_segment(img, "kim2020", seed=0, preview_every=5, min_labels=1, **FAST, max_iter=20)
    )
    *progress, result = events
    assert isinstance(result, SegmentationResult)
    assert all(isinstance(e, Progress) for e in progress)
    steps = [e.iteration for e in progress[1:]]
    assert steps == list(range(1, 21)) and progress[-1].total == 20
    previews = [e.preview for e in progress if e.preview is not None]
    assert len(previews) == 4 and previews[0].shape == img.shape and previews[0].min() >= 1


def test_closing_the_generator_cancels_promptly():
    img, _ = make_regions(shape=(24, 32))
    gen = iter_segment(img, "mmt", seed=0, preview_every=0, min_labels=1, **FAST, max_iter=10_000)
    for ev in gen:
        if ev.iteration >= 3:
            break
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


def test_auto_device_and_explicit_choices():
    r = segment(
        np.random.default_rng(0).random((8, 8)),
        method="kim2020",
        device="auto",
        preset="fast",
        max_iter=2,
    )
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert r.device.startswith(expected)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            segment(np.zeros((8, 8)), device="cuda")
    with pytest.raises(ValueError, match="Unknown device"):
        segment(np.zeros((8, 8)), device="tpu9")


BAD = [
    (np.full((8, 8), np.nan), ValueError, "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), ValueError, "infinite"),
    (np.zeros((0, 5)), ValueError, "empty"),
    (np.zeros((1, 1)), ValueError, "2x2"),
    (np.zeros(10), ValueError, "at least 2 dimensions"),
    (np.zeros((2, 2, 2, 5, 5)), ValueError, "Too many dimensions"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "numbers"),
    (np.zeros((4, 4), dtype=complex), TypeError, "Complex"),
    (None, TypeError, "No image"),
]


@pytest.mark.parametrize("image,exc,msg", BAD, ids=[b[2] for b in BAD])
def test_bad_input_gives_a_clear_error(image, exc, msg):
    with pytest.raises(exc, match=msg):
        segment(image, **FAST)
    with pytest.raises(exc, match=msg):
        next(iter_segment(image, **FAST))


def test_bad_parameters_and_channel_axis():
    img = np.zeros((8, 8, 2))
    with pytest.raises(ValueError, match="channel_axis=5 is out of range"):
        segment(img, channel_axis=5, **FAST)
    with pytest.raises(ValueError, match="q .max clusters"):
        segment(img, channel_axis=2, q=1, **FAST)
    with pytest.raises(ValueError, match="Unknown method"):
        segment(img, method="sam", **FAST)
    with pytest.raises(TypeError, match="seed"):
        segment(img, seed="x", **FAST)


def test_caller_data_is_never_modified():
    img, _ = make_regions(shape=(16, 16))
    before = img.copy()
    segment(img, method="mmt", **FAST, max_iter=3)
    np.testing.assert_array_equal(img, before)


def test_import_loads_no_qt():
    code = (
        "import sys; from napari_mmtseg import segment; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5','PyQt6','PySide2','PySide6','qtpy','napari','magicgui','vispy')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_stack_ids_never_reuse_an_id_for_a_new_cluster():
    a = np.zeros((8, 8))
    a[:, 4:] = 1.0
    a[:4, :4] = 0.5  # 3 clusters
    b = np.zeros((8, 8))
    b[:, 4:] = 1.0  # cluster "0.5" missing
    c = np.zeros((8, 8))
    c[:, 4:] = 1.0
    c[4:, :4] = 0.25  # a different new cluster
    # slice by slice: ids matched by overlap, a new cluster never takes a vanished one's id
    r = segment(np.stack([a, b, c]), method="kmeans", k=3, stack="per_slice", **FAST)
    lab = r.labels
    assert lab[2, 5, 1] != lab[0, 1, 1]  # the new cluster does not take the vanished one's id
    assert lab[0, 0, 6] == lab[1, 0, 6] == lab[2, 0, 6]
    # one fit for the stack (the default): one id per grey level in every slice
    lab = segment(np.stack([a, b, c]), method="kmeans", k=4, **FAST).labels
    assert len({lab[0, 5, 1], lab[0, 1, 1], lab[0, 0, 6], lab[2, 5, 1]}) == 4
    assert lab[0, 0, 6] == lab[1, 0, 6] == lab[2, 0, 6] and lab[0, 7, 0] == lab[2, 0, 0]


def test_a_blank_slice_does_not_renumber_the_classes_after_it():
    """Slice by slice, ids are matched to the few slices before, not to the last alone:
    a blank slice (one class) used to give every other class a new id after it."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    disc = (yy - 15) ** 2 + (xx - 15) ** 2 < 80
    square = (yy > 28) & (yy < 42) & (xx > 26) & (xx < 40)
    part = np.array([0.1, 0.5, 0.9])[disc + 2 * square]
    blank = np.full((48, 48), 0.1)
    noisy = part + rng.normal(0, 0.01, (2, 48, 48))
    stack = np.stack([noisy[0], noisy[1], blank, noisy[1], noisy[0]])
    lab = segment(stack, method="kmeans", k=3, stack="per_slice", axes="ZYX", **FAST).labels
    for mask in (disc, square, ~(disc | square)):
        assert len(np.unique(lab[[0, 1, 3, 4]][:, mask])) == 1, np.unique(lab[:, mask])


def test_input_types_are_checked():
    """The parameters' own checks: tests/test_params_check.py."""
    with pytest.raises(TypeError, match="channel_axis must be an integer"):
        segment(np.zeros((4, 4, 2)), channel_axis=1.0, **FAST)
    with pytest.raises(ValueError, match="rgb=True"):
        segment(np.zeros((4, 4)), rgb=True, **FAST)


def test_extreme_finite_values_do_not_become_nan():
    img = np.zeros((8, 8))
    img[:, 4:] = 1e300
    r = segment(img, method="kmeans", k=2, **FAST)
    assert r.n_labels == 2


@pytest.mark.parametrize("method", UNSUPERVISED)
def test_a_constant_image_gives_one_label(method):
    """No label may exist only along the border (zero padding gave mmt 8 labels here)."""
    r = segment(np.full((48, 48), 7.0), method=method, **FAST)
    assert r.n_labels == 1, r.output
    assert r.labels.shape == (48, 48)


@pytest.mark.parametrize("method", UNSUPERVISED)
@pytest.mark.parametrize("output", ["clusters", "regions"])
def test_n_classes_is_what_the_run_ends_with(method, output):
    img, _ = make_regions(n_regions=4)
    r = segment(img, method=method, n_classes=2, output=output, **FAST, **SHORT)
    classes = r.output["n_classes"]
    assert classes == 2, r.output
    if output == "clusters":
        assert r.n_labels == 2
    else:
        assert r.n_labels >= 2  # regions: each connected part of a class has its own id
    assert "n_classes=2" in r.output["why_details"]
    assert r.metadata()["output"]["n_classes"] == 2


def test_multiotsu_with_one_class_does_not_crash_and_keeps_every_grey_level_it_can():
    """threshold_multiotsu(classes=1) kills the process (segfault) in scikit-image 0.26."""
    r = segment(np.random.default_rng(0).random((32, 32)), method="multiotsu", n_classes=1, **FAST)
    assert r.n_labels == 1
    img = np.repeat([0.1, 0.5, 0.9], 300).reshape(30, 30)
    assert segment(img, method="multiotsu", n_classes=4, **FAST).output["n_classes"] == 3


def test_multiotsu_sees_grey_levels_on_any_rows_of_a_large_image():
    """A subsample by rows once missed every bright pixel of this image (one class out)."""
    img = np.zeros((2000, 1000), np.float32)
    img[1::2] = 1.0  # the bright pixels are on odd rows only
    r = segment(img, method="multiotsu", **FAST)
    assert r.n_labels == 2


def test_texture_weight_follows_the_kind_of_image():
    """texture_weight=None (the default): the texture term on colour photos only. A 3-channel
    fluorescence image given with channel_axis is not RGB and gets none; an explicit value wins."""
    rng = np.random.default_rng(0)
    img = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    kw = dict(method="kmeans", merge_threshold=3.0, **FAST)
    assert segment(img, **kw).output["texture_weight"] == 0.5  # (H, W, 3) uint8: RGB
    assert segment(img, channel_axis=2, **kw).output["texture_weight"] == 0.0  # three channels
    assert segment(img[..., 0], **kw).output["texture_weight"] == 0.0  # grey
    assert segment(img[..., 0], texture_weight=0.3, **kw).output["texture_weight"] == 0.3
    assert "no texture term: not a colour image" in segment(img[..., 0], **kw).output["why_details"]


@pytest.mark.parametrize("method", ["mmt", "kim2020"])
def test_infer_at_reaches_the_networks(method):
    """infer_at="train" (an ablation switch) labels the training view and upsamples it: on an
    image larger than train_size the raw cluster map is smoother than full-size inference's."""
    rng = np.random.default_rng(0)
    img = (rng.random((64, 64)) * 255).astype(np.uint8)
    raw = dict(
        method=method,
        train_size=16,
        max_iter=3,
        seed=0,
        output="clusters",
        min_region_size=1,
        merge_threshold=0.0,
        refine=False,
        **FAST,
    )
    full = segment(img, **raw).labels
    train = segment(img, infer_at="train", **raw).labels
    assert full.shape == train.shape == img.shape
    from skimage.measure import label

    pieces = [int(label(lab, connectivity=1).max()) for lab in (full, train)]
    assert pieces[1] < pieces[0], pieces


def test_the_reason_names_only_the_steps_that_ran():
    img = (np.random.default_rng(1).random((24, 24)) * 255).astype(np.uint8)
    assert (
        segment(img, method="kmeans", k=3, **FAST).output["why_details"]
        == "the method's 3 clusters, no clean-up"
    )
    why = segment(img, method="kmeans", k=3, min_region_size=4, **FAST).output["why_details"]
    assert "pieces under 4 px absorbed" in why and "merged" not in why
