"""Metrics on hand-made label maps with answers worked out by hand."""
import math

import numpy as np
import pytest

from napari_mmtseg import metrics as M


def test_permuted_copy_is_perfect():
    gt = np.array([[0, 0, 1, 1], [2, 2, 1, 1], [2, 3, 3, 3]])
    perm = np.array([7, 2, 9, 4])  # rename 0->7, 1->2, 2->9, 3->4
    pred = perm[gt]
    assert M.accuracy(gt, pred) == 1.0
    assert M.miou(gt, pred) == 1.0
    assert M.miou_kim(gt, pred) == 1.0
    assert M.rand_index(gt, pred) == 1.0
    assert M.pri(pred, [gt, gt]) == 1.0
    assert M.voi(gt, pred) == pytest.approx(0.0, abs=1e-12)
    assert M.ari(gt, pred) == pytest.approx(1.0)
    assert M.agreement(gt, pred) == 1.0
    s = M.score(pred, [gt])
    assert s["accuracy_mean"] == s["accuracy_best"] == 1.0
    assert s["voi_best"] == pytest.approx(0.0, abs=1e-12)
    assert s["n_segments"] == 4 and s["n_gt_segments"] == 4


def test_known_pri_voi_accuracy_case():
    # 4 pixels: gt = [0 0 1 1], pred = [0 0 0 1]
    gt = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 0, 0, 1]])
    # Pairs (6): (1,2) together/together agree; (1,3) apart/together no; (1,4) apart/apart
    # agree; (2,3) apart/together no; (2,4) apart/apart agree; (3,4) together/apart no.
    # RI = 3/6 = 0.5
    assert M.rand_index(gt, pred) == pytest.approx(0.5)
    # Joint P = [[1/2, 0], [1/4, 1/4]]: H(G) = ln 2, H(P) = ln 4 - (3/4) ln 3,
    # H(G,P) = (1/2) ln 2 + (1/2) ln 4 = (3/2) ln 2.
    # VoI = 2 H(G,P) - H(G) - H(P) = 3 ln2 - ln2 - 2 ln2 + (3/4) ln 3 = (3/4) ln 3 = 0.8240
    assert M.voi(gt, pred) == pytest.approx(0.75 * math.log(3))
    # skimage's variation_of_information uses log base 2: same value in bits
    from skimage.metrics import variation_of_information

    assert sum(variation_of_information(gt, pred)) * math.log(2) == pytest.approx(0.75 * math.log(3))
    # Hungarian: gt0<->pred0 (2 px) + gt1<->pred1 (1 px) = 3/4
    assert M.accuracy(gt, pred) == pytest.approx(0.75)
    # IoU gt0/pred0 = 2/3, gt1/pred1 = 1/2 -> mIoU = 7/12
    assert M.miou(gt, pred) == pytest.approx(7 / 12)
    # PRI against {gt, pred itself}: mean of RI 0.5 and 1.0 = 0.75
    assert M.pri(pred, [gt, pred]) == pytest.approx(0.75)
    s = M.score(pred, [gt, pred])
    assert s["pri_mean"] == pytest.approx(0.75)
    assert s["pri_best"] == pytest.approx(1.0)
    assert s["voi_mean"] == pytest.approx(0.375 * math.log(3))
    assert s["voi_best"] == pytest.approx(0.0, abs=1e-12)  # best VoI is the minimum
    assert s["accuracy_mean"] == pytest.approx(0.875) and s["accuracy_best"] == 1.0
    assert s["n_annotations"] == 2


def test_unequal_segment_counts():
    # 2x4 image; GT: left half 0, right half 1. Prediction: column 0 -> a, column 1 -> b,
    # columns 2-3 -> c (3 predicted segments for 2 GT segments).
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[5, 6, 7, 7], [5, 6, 7, 7]])
    # contingency rows gt0: a=2 b=2 c=0 ; gt1: c=4. Best one-to-one: gt0<->a (2), gt1<->c (4)
    # accuracy = 6/8 = 0.75; b is unmatched and counts as error
    assert M.accuracy(gt, pred) == pytest.approx(0.75)
    # IoU gt0/a = 2/(4+2-2) = 0.5, gt1/c = 4/4 = 1 -> mIoU 0.75
    assert M.miou(gt, pred) == pytest.approx(0.75)
    # roles swapped: 3 GT segments vs 2 predicted: same accuracy, but GT segment b has no
    # partner and scores IoU 0: (0.5 + 0 + 1) / 3 = 0.5
    assert M.accuracy(pred, gt) == pytest.approx(0.75)
    assert M.miou(pred, gt) == pytest.approx(0.5)
    assert M.n_segments(pred) == 3


def test_kim_miou_connected_components():
    # Predicted cluster 0 occurs in two separate places; GT has them as two segments.
    gt = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[0, 0, 1, 1, 0, 0]])
    # Components of pred = [A A B B C C] coincide with GT -> Kim mIoU 1.0
    assert M.miou_kim(gt, pred) == pytest.approx(1.0)
    # One-to-one on clusters: gt0<->p0 IoU 2/(2+4-2) = 0.5, gt1<->p1 = 1, gt2 unmatched 0
    assert M.miou(gt, pred) == pytest.approx(0.5)
    assert M.accuracy(gt, pred) == pytest.approx(4 / 6)

    # Components can also lower the score: gt = [0 0 0 0 1 1], pred = [0 1 0 0 1 1].
    gt2 = np.array([[0, 0, 0, 0, 1, 1]])
    pred2 = np.array([[0, 1, 0, 0, 1, 1]])
    # components: [A B C C D D]; gt0 best IoU: C = 2/4 = 0.5; gt1 best: D = 2/2 = 1 -> 0.75
    # (without the split, cluster 0 would give gt0 an IoU of 3/4)
    assert M.miou_kim(gt2, pred2) == pytest.approx(0.75)
    s = M.score(pred2, [gt2, gt])
    # vs gt: components [A B C C D D], gt segments {0,1},{2,3},{4,5}: best IoUs
    # 1/2, 2/2, 2/2 -> 5/6; pooled over the 2 + 3 GT segments: (0.5+1+0.5+1+1)/5 = 0.8
    assert s["miou_kim_mean"] == pytest.approx((0.75 + 5 / 6) / 2)
    assert s["miou_kim_pooled"] == pytest.approx(0.8)


def test_kim_diagonal_pixels_connect_by_default():
    pred = np.array([[1, 0], [0, 1]])
    assert M.connected_components(pred).max() == 2  # 8-connectivity: the diagonal joins
    assert M.connected_components(pred, connectivity=1).max() == 4


def test_stability_and_ari():
    a = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    b = np.array([[3, 3, 3, 2], [3, 3, 2, 2]])  # 1 pixel differs after renaming
    assert M.agreement(a, b) == pytest.approx(7 / 8)
    st = M.stability([a, a.copy() + 10, b])
    assert len(st["pairs"]) == 3
    assert st["agreement_worst"] == pytest.approx(7 / 8)
    assert st["ari_mean"] < 1.0 and st["ari_worst"] == pytest.approx(M.ari(a, b))
    assert st["pairs"][0][2:] == (1.0, 1.0)


def test_rand_index_matches_brute_force():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (5, 6))
    pred = rng.integers(0, 4, (5, 6))
    g, p = gt.ravel(), pred.ravel()
    iu = np.triu_indices(g.size, 1)
    brute = np.mean((g[iu[0]] == g[iu[1]]) == (p[iu[0]] == p[iu[1]]))
    assert M.rand_index(gt, pred) == pytest.approx(brute)


def test_bad_inputs():
    with pytest.raises(ValueError):
        M.accuracy(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(TypeError):
        M.accuracy(np.zeros((2, 2)), np.zeros((2, 2), int))
    with pytest.raises(ValueError):
        M.score(np.zeros((2, 2), int), [])
