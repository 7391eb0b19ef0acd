"""Refine that corrects (issue 23): a stroke means what it paints, the result's output mode
and the ids of what no stroke concerns are kept, one look painted with two ids is split by
place. Small images, the 'fast' preset, CPU."""

import numpy as np
import pytest

from napari_mmtseg import segment
from napari_mmtseg.refine import ERASED, refine
from napari_mmtseg.refine_ids import class_of_regions, stroke_classes
from napari_mmtseg.refine_looks import alike_groups

FAST = dict(preset="fast", device="cpu")


@pytest.fixture(scope="module")
def coins_run():
    """The default MMT result (regions output) of scikit-image's coins, with its model."""
    from skimage.data import coins

    img = coins()
    return img, segment(img, keep_model=True, **FAST)


def _coins(labels):
    """Ids of the coin-sized regions (not the background, not the inner fragments)."""
    ids, n = np.unique(labels, return_counts=True)
    return ids[(n >= 800) & (n < n.max())]


def _fragment_of(labels, coins):
    """A small region (< 300 px) whose border is mostly one coin: (fragment id, coin id)."""
    from scipy import ndimage as ndi

    ids, n = np.unique(labels, return_counts=True)
    for rid in ids[(n >= 40) & (n < 300)]:
        m = labels == rid
        ring = labels[ndi.binary_dilation(m) & ~m]
        nb = np.bincount(ring).argmax()
        if nb in coins and (ring == nb).mean() > 0.6:
            return int(rid), int(nb)
    raise AssertionError("no fragment beside a coin")


def test_coins_stay_apart_when_a_fragment_is_painted_into_its_coin(coins_run):
    """The issue's scenario: ~120 px painted with a coin's id over a fragment beside it."""
    img, run = coins_run
    labels = run.labels.astype(np.int64)
    coins = _coins(labels)
    assert len(coins) >= 20  # the scenario needs the coins found as regions
    frag, coin = _fragment_of(labels, coins)
    strokes = np.zeros_like(labels)
    ys, xs = np.nonzero(labels == frag)
    strokes[ys[:120], xs[:120]] = coin
    out = refine(img, labels, strokes, run.model, device="cpu").labels
    assert (out[strokes > 0] == coin).all()  # the painted pixels belong to the coin
    owner = [np.bincount(out[labels == c]).argmax() for c in coins]
    assert len(set(owner)) == len(coins)  # no two coins share an id
    for c in coins:  # every coin keeps its id on all its pixels (it may grow)
        assert (out[labels == c] == c).all()
    assert len(np.unique(out)) > len(coins)  # instances, not a few classes


def _two_looks(seed=0):
    """A (64, 96) image: background 0.1, four discs at 0.5 (left), four textured 0.9 (right)."""
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    img = np.full((64, 96), 0.1)
    a, b = [], []
    for k, (cy, cx) in enumerate([(14, 12), (46, 14), (16, 38), (48, 40)]):
        rr, cc = disk((cy, cx), 8, shape=img.shape)
        img[rr, cc] = 0.5
        a.append((rr, cc))
        rr, cc = disk((cy, cx + 44), 8, shape=img.shape)
        img[rr, cc] = 0.9 + 0.05 * np.sign(np.sin(cc))
        b.append((rr, cc))
    return (img + rng.normal(0, 0.02, img.shape)).astype(np.float32), a, b


@pytest.mark.parametrize("output", ["regions", "clusters"])
def test_a_refine_leaves_alone_what_looks_like_no_stroke(output):
    img, a, b = _two_looks()
    run = segment(img, keep_model=True, output=output, max_iter=40, **FAST)
    labels = run.labels.astype(np.int64)
    bg = int(np.bincount(labels[0]).argmax())
    strokes = np.zeros_like(labels)
    strokes[a[0]] = bg  # "this disc is background" (a look-alike may follow)
    out = refine(img, labels, strokes, run.model, device="cpu", output=output).labels
    assert (out[a[0]] == bg).all()
    mine = np.zeros(labels.shape, bool)
    for rr, cc in b:
        mine[rr, cc] = True
    for rid in np.unique(labels[mine]):  # the right discs' regions: ids and shapes kept
        if rid != bg:
            np.testing.assert_array_equal(out == rid, labels == rid)


def test_one_texture_painted_with_two_ids_is_split_by_place():
    """Strokes of class 1 on the left third and 2 on the right third of one texture."""
    from skimage.filters import gaussian

    rng = np.random.default_rng(0)
    tex = gaussian(rng.random((64, 96)), 1.0)
    img = ((tex - tex.min()) / np.ptp(tex) * 255).astype(np.uint8)
    run = segment(img, keep_model=True, output="clusters", max_iter=40, **FAST)
    strokes = np.zeros(img.shape, np.int64)
    strokes[30:34, 4:28], strokes[30:34, 68:92] = 1, 2
    out = refine(img, run.labels, strokes, run.model, device="cpu").labels
    assert (out[:, 64:] == 2).mean() >= 0.9
    assert (out[:, :32] == 1).mean() >= 0.9


def test_stroke_meanings():
    """An existing id: that region's class; a new id: a free channel; erased: the class of
    the nearest other region."""
    labels = np.ones((8, 12), np.int64)
    labels[:, 6:] = 2
    channels = np.where(labels == 1, 3, 5)
    classes = class_of_regions(labels, channels, 8)
    strokes = np.zeros_like(labels)
    strokes[1, 1], strokes[1, 8], strokes[6, 2], strokes[6, 5] = 2, 9, 1, ERASED
    sc = stroke_classes(labels, strokes, classes)
    t = sc.target()
    assert t[1, 1] == 5 and t[6, 2] == 3 and t[6, 5] == 5  # erased in 1: region 2's class
    assert t[1, 8] not in (3, 5) and sc.info["new_ids"] == [9]
    assert sc.info["stroked_ids"] == [1, 2] and sc.info["erased_pixels"] == 1


def test_alike_classes_are_those_the_image_cannot_tell_apart():
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 0.1, (1, 40, 40))
    x[0, :, 20:] += 0.4  # the right half is brighter
    t = np.full((40, 40), -1)
    t[5:9, 2:8], t[30:34, 2:8], t[5:9, 30:36] = 4, 6, 9
    groups = alike_groups(x, t)
    assert len(groups) == 1 and sorted(groups[0]) == [4, 6]


def test_refine_checks_its_inputs(coins_run):
    img, run = coins_run
    labels = run.labels
    with pytest.raises(ValueError, match="No strokes"):
        refine(img, labels, np.zeros_like(labels), run.model, device="cpu")
    with pytest.raises(ValueError, match="shape"):
        refine(img, labels[:5], np.ones((5, labels.shape[1]), int), run.model, device="cpu")
    with pytest.raises(TypeError, match="model"):
        refine(img, labels, np.ones_like(labels), None, device="cpu")


def test_a_stroke_on_the_background_does_not_bridge_nuclei_or_add_specks():
    """The bbbc039 round that lost nuclei, as a kind: a stroke in the background frees it,
    and the refined networks give its pixels between two nuclei (and a speck) the nuclei's
    class. Those pixels stay background; only a piece big enough to be an object, away
    from any named region, becomes a new one. Nucleus ids are kept."""
    from napari_mmtseg.refine_ids import rebuild
    from napari_mmtseg.refine_regions import MIN_NEW

    labels = np.ones((40, 60), np.int64)  # background 1
    labels[10:20, 10:20], labels[10:20, 22:32] = 2, 3  # two nuclei, a 2-px gap
    before = np.where(labels == 1, 0, 1)  # background channel 0, nuclei channel 1
    after = before.copy()
    after[10:20, 20:22] = 1  # the gap between the nuclei
    after[30, 5:8] = 1  # a speck
    after[25:35, 40:50] = 1  # a missed nucleus (100 px >= MIN_NEW)
    assert 100 >= MIN_NEW > 3
    strokes = np.zeros_like(labels)
    strokes[2:4, 50:58] = 9  # a new object, in the background
    sc = stroke_classes(labels, strokes, class_of_regions(labels, before, 4))
    out = rebuild(
        labels, strokes, before, after, after, 4, "regions", sc, {}, np.zeros((2, 40, 60))
    )
    assert (out[10:20, 20:22] == 1).all() and (out[30, 5:8] == 1).all()
    assert (out[10:20, 10:20] == 2).all() and (out[10:20, 22:32] == 3).all()
    new = out[25:35, 40:50]
    assert (new == new[0, 0]).all() and new[0, 0] not in (1, 2, 3, 9)
    assert (out[strokes > 0] == 9).all()


def test_a_new_id_painted_across_two_touching_nuclei_splits_them_and_nothing_else():
    """Two touching nuclei given one id, a stroke of a new id across one of them: the
    region is split along its neck, the stroke's nucleus takes the new id; the
    background, whose far half the refined networks give another (unstroked) class,
    keeps its id."""
    from skimage.draw import disk

    from napari_mmtseg.refine_ids import rebuild

    labels = np.ones((60, 90), np.int64)  # background 1
    for cx in (30, 50):
        labels[disk((30, cx), 11, shape=labels.shape)] = 2  # two nuclei, one id
    before = np.where(labels == 1, 0, 1)
    after = before.copy()
    after[:, 70:] = np.where(labels[:, 70:] == 1, 2, after[:, 70:])  # background drift
    strokes = np.zeros_like(labels)
    strokes[28:33, 22:36] = 7  # a new object
    sc = stroke_classes(labels, strokes, class_of_regions(labels, before, 4))
    out = rebuild(
        labels, strokes, before, after, after, 4, "regions", sc, {}, np.zeros((2, 60, 90))
    )
    left, right = labels.copy() * 0, labels.copy() * 0
    left[disk((30, 30), 11, shape=labels.shape)] = 1
    right[disk((30, 50), 11, shape=labels.shape)] = 1
    assert (out[(left == 1) & (right == 0)] == 7).mean() > 0.95
    assert (out[(right == 1) & (left == 0)] == 2).mean() > 0.95
    assert (out[labels == 1] == 1).all()
