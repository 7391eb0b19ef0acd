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

    assert sum(variation_of_information(gt, pred)) * math.log(2) == pytest.approx(
        0.75 * math.log(3)
    )
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


# ------------------------------------------------ the BSDS benchmark's scores: covering, VoI bits


def test_covering_by_hand_and_its_direction():
    # gt = [0 0 1 1], pred = [0 0 0 1]: IoU gt0/p0 = 2/3, gt1/p1 = 1/2 (gt1/p0 = 1/4)
    gt = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 0, 0, 1]])
    assert M.covering(gt, pred) == pytest.approx((2 * 2 / 3 + 2 * 1 / 2) / 4)  # 7/12
    # the other way round: p0 (3 px) best IoU 2/3, p1 (1 px) best 1/2
    assert M.covering(pred, gt) == pytest.approx((3 * 2 / 3 + 1 * 1 / 2) / 4)  # 5/8
    assert M.covering(gt, np.array([[7, 7, 3, 3]])) == 1.0  # equal up to renaming
    halves = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    assert M.covering(halves, np.zeros_like(halves)) == pytest.approx(0.5)  # each half: IoU 1/2


def test_variation_of_information_in_bits_and_in_nats():
    gt = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 0, 0, 1]])
    # VoI = (3/4) ln 3 nats (test_known_pri_voi_accuracy_case) = (3/4) log2 3 bits
    assert M.variation_of_information(gt, pred) == pytest.approx(0.75 * math.log2(3))
    assert M.variation_of_information(gt, pred, unit="nats") == pytest.approx(0.75 * math.log(3))
    assert M.voi(gt, pred) == M.variation_of_information(gt, pred, unit="nats")  # voi stays nats
    with pytest.raises(ValueError, match="unit"):
        M.variation_of_information(gt, pred, unit="dits")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_variation_of_information_agrees_with_scikit_image(seed):
    from skimage.metrics import variation_of_information

    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 4, (12, 15))
    pred = rng.integers(0, 6, (12, 15)) * 3  # ids with gaps
    assert M.variation_of_information(gt, pred) == pytest.approx(
        sum(variation_of_information(gt, pred))
    )


def test_bsds_region_scores_average_over_the_annotations():
    gt1 = np.array([[0, 0, 1, 1]])
    gt2 = np.array([[0, 0, 0, 1]])
    pred = np.array([[0, 0, 0, 1]])
    s = M.bsds_region_scores(pred, [gt1, gt2])
    # covering of gt1 by pred: 7/12 of its 4 px; of gt2: all 4 px
    assert s["covering_hit"] == pytest.approx(4 * 7 / 12 + 4)
    assert s["covering_area"] == 8  # pixels x annotations
    assert s["covering"] == pytest.approx((7 / 12 + 1) / 2)
    assert s["pri"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["voi_bits"] == pytest.approx(0.75 * math.log2(3) / 2)
    one = M.bsds_region_scores(pred, gt1)  # one annotation as a plain array
    assert one["covering"] == pytest.approx(M.covering(gt1, pred))
    with pytest.raises(ValueError):
        M.bsds_region_scores(pred, [])


def _level(hit, area, pri, voi):
    return {"covering_hit": hit, "covering_area": area, "pri": pri, "voi_bits": voi}


def test_ods_takes_one_level_for_all_images_and_ois_each_images_best():
    scores = [
        [_level(90, 100, 0.8, 1.0), _level(50, 100, 0.7, 2.0)],  # image A: level 0 is best
        [_level(150, 300, 0.6, 3.0), _level(240, 300, 0.9, 1.5)],  # image B: level 1 is best
    ]
    r = M.bsds_ods_ois(scores)
    # covering pooled over pixels: level 0 240/400, level 1 290/400; OIS (90 + 240) / 400
    assert r["covering_ods"] == pytest.approx(290 / 400) and r["covering_ods_level"] == 1
    assert r["covering_ois"] == pytest.approx(330 / 400)
    # PRI and VoI: means over images; ODS the best level's mean, OIS the mean of each best
    assert r["pri_ods"] == pytest.approx(0.8) and r["pri_ois"] == pytest.approx(0.85)
    assert r["voi_bits_ods"] == pytest.approx(1.75) and r["voi_bits_ods_level"] == 1
    assert r["voi_bits_ois"] == pytest.approx(1.25) and r["n_images"] == 2
    with pytest.raises(ValueError):
        M.bsds_ods_ois([scores[0], scores[1][:1]])
    with pytest.raises(ValueError):
        M.bsds_ods_ois([])


def test_one_level_gives_the_same_ods_and_ois():
    rng = np.random.default_rng(0)
    images = [(rng.integers(0, 3, (8, 9)), [rng.integers(0, 2, (8, 9))]) for _ in range(3)]
    r = M.bsds_ods_ois([[M.bsds_region_scores(p, g)] for p, g in images])
    for m in ("covering", "pri", "voi_bits"):
        assert r[f"{m}_ods"] == pytest.approx(r[f"{m}_ois"])


def test_instance_f1_by_id_keeps_touching_objects_of_two_ids_apart():
    from napari_mmtseg.metrics.instances import instance_f1

    gt = np.zeros((20, 40), np.int64)
    gt[5:15, 5:20], gt[5:15, 20:35] = 1, 2
    pred = np.where(gt > 0, gt + 4, 1)  # both nuclei found, with their own ids
    assert instance_f1(gt, pred)["f1"] == 0.0  # merged: one object covering two
    assert instance_f1(gt, pred, by_id=True)["f1"] == 1.0
