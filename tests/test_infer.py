"""Inference: tiles, BatchNorm frozen to the training view, the final labels of a run."""

import numpy as np
import torch

from napari_mmtseg import make_params
from napari_mmtseg.infer import (
    freeze_bn_to_image_stats,
    infer_labels,
    network_labels,
    upsample_nearest,
)
from napari_mmtseg.nets import make_models


def _net(n_models=1, seed=0):
    torch.manual_seed(seed)
    return make_models(1, 6, 2, n_models, fused=False)


def test_upsample_nearest():
    lab = np.array([[1, 2], [3, 4]])
    up = upsample_nearest(lab, (4, 6))
    assert up.shape == (4, 6) and (up[:2, :3] == 1).all() and (up[2:, 3:] == 4).all()
    assert upsample_nearest(lab, (2, 2)) is lab


def test_frozen_batchnorm_does_what_train_mode_did_on_the_training_view():
    net = _net()
    x = torch.from_numpy(np.random.default_rng(0).random((1, 1, 20, 24)).astype(np.float32))
    with torch.no_grad():
        want = net(x)
        freeze_bn_to_image_stats(net, x)
        assert not net.training
        torch.testing.assert_close(net(x), want, rtol=1e-4, atol=1e-4)


def test_tiles_give_the_labels_of_one_pass():
    net = _net()
    x = np.random.default_rng(1).random((1, 150, 170)).astype(np.float32)
    xt = torch.from_numpy(x)[None]
    cpu = torch.device("cpu")
    whole = infer_labels(net, 0, xt, x, tile=1024, device=cpu)
    tiled = infer_labels(net, 0, xt, x, tile=64, device=cpu)
    np.testing.assert_array_equal(whole, tiled)
    assert whole.dtype == np.int32 and whole.max() < 6


def test_mmt_teachers_vote_and_the_student_is_reachable():
    student, teacher = _net(2, seed=0), _net(2, seed=1)
    x = np.random.default_rng(2).random((1, 32, 40)).astype(np.float32)
    xt = torch.from_numpy(x)[None]
    cpu = torch.device("cpu")
    out = {}
    for final in ("teachers", "teacher", "student"):
        p = make_params("mmt", "fast", q=6, final_net=final)
        out[final] = network_labels("mmt", p, student, teacher, xt, x, cpu)
    np.testing.assert_array_equal(out["teacher"], infer_labels(teacher, 0, xt, x, 1024, cpu))
    np.testing.assert_array_equal(out["student"], infer_labels(student, 0, xt, x, 1024, cpu))
    assert not np.array_equal(out["teachers"], out["teacher"])  # teacher 1 votes too
