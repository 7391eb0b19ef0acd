import copy

import numpy as np
import pytest
import torch

from napari_mmtseg.nets import SegNet, ema_alpha, ema_update, tv_loss


def test_tv_value_on_hand_computed_tensor():
    y = torch.tensor([[[1.0, 2.0, 4.0], [1.0, 0.0, 4.0]]])  # (1, 2, 3)
    # vertical diffs: |1-1|, |0-2|, |4-4| -> mean 2/3
    # horizontal diffs: |2-1|, |4-2|, |0-1|, |4-0| -> mean 8/4
    assert tv_loss(y).item() == pytest.approx(2 / 3 + 2)
    assert tv_loss(torch.ones(2, 3, 5, 5)).item() == 0.0


def test_ema_update_with_and_without_warmup():
    torch.manual_seed(0)
    student = SegNet(1, q=4, n_conv=1)
    teacher = copy.deepcopy(student)
    before = [p.clone() for p in teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    ema_update(teacher, student, 0.9)
    for t, b, s in zip(teacher.parameters(), before, student.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * s)
    assert ema_alpha(0, 0.999) == 0.0  # first step copies the student
    assert ema_alpha(9, 0.999) == pytest.approx(0.9)
    assert ema_alpha(5000, 0.999) == 0.999
    assert ema_alpha(0, 0.999, warmup=False) == 0.999


def test_ema_does_not_touch_bn_buffers():
    student, teacher = SegNet(1, q=4, n_conv=1), SegNet(1, q=4, n_conv=1)
    student.train()
    student(torch.rand(1, 1, 8, 8))
    buf_before = [b.clone() for b in teacher.buffers()]
    ema_update(teacher, student, 0.5)
    for a, b in zip(teacher.buffers(), buf_before):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("c_in", [1, 3, 5])
def test_network_shapes_any_channels(c_in):
    net = SegNet(c_in, q=7, n_conv=3)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(3, 3)] * 3 + [(1, 1)]
    assert net(torch.rand(1, c_in, 10, 12)).shape == (1, 1, 7, 10, 12)


def test_grouped_network_equals_separate_networks():
    torch.manual_seed(0)
    pair = SegNet(3, q=5, n_conv=2, n_models=2).eval()
    x = torch.rand(1, 3, 9, 11)
    y = pair(x)
    assert y.shape == (1, 2, 5, 9, 11)
    # rebuild network 1 alone from the second half of every grouped layer
    single = SegNet(3, q=5, n_conv=2).eval()
    for s, g in zip(single.body, pair.body):
        for name in ("weight", "bias", "running_mean", "running_var"):
            if hasattr(s, name) and getattr(s, name) is not None:
                half = getattr(g, name).shape[0] // 2
                getattr(s, name).data.copy_(getattr(g, name).data[half:])
    torch.testing.assert_close(single(x)[0, 0], y[0, 1])


def test_inference_with_frozen_image_stats_equals_train_mode_bn_and_tiles_exactly():
    from napari_mmtseg.infer import infer_labels as _infer_labels

    torch.manual_seed(0)
    net = SegNet(3, q=6, n_conv=3, padding_mode="reflect")
    x = torch.rand(1, 3, 40, 52)
    net.train()
    with torch.no_grad():
        expected = net(x)[0, 0].argmax(0).numpy()
    # one tile: the same as BN in train mode on the whole image
    whole = _infer_labels(net, 0, x, x[0].numpy(), tile=1024, device=torch.device("cpu"))
    np.testing.assert_array_equal(whole, expected)
    # small tiles with a halo give the very same labels
    tiled = _infer_labels(net, 0, x, x[0].numpy(), tile=16, device=torch.device("cpu"))
    np.testing.assert_array_equal(tiled, expected)


def test_inference_on_the_training_view_upsamples_the_response_bilinearly_in_tiles():
    # infer_at="train" (an ablation, docs/method.md): the network runs on the training view and
    # its softmax map is upsampled bilinearly to the full size, tile by tile, the same as one
    # whole-image resize
    from napari_mmtseg.infer import infer_labels as _infer_labels

    torch.manual_seed(1)
    net = SegNet(3, q=6, n_conv=2)
    small = torch.rand(1, 3, 12, 17)
    full = np.random.default_rng(0).random((3, 45, 61)).astype(np.float32)
    net.train()
    with torch.no_grad():
        prob = net(small)[0, 0].softmax(0)[None]
        up = torch.nn.functional.interpolate(
            prob, size=(45, 61), mode="bilinear", align_corners=False
        )
    expected = up[0].argmax(0).numpy()
    for tile in (1024, 16):
        got = _infer_labels(net, 0, small, full, tile=tile, device=torch.device("cpu"), at="train")
        assert got.shape == (45, 61)
        np.testing.assert_array_equal(got, expected)
    # full-size inference uses the full image instead, and differs here
    assert not np.array_equal(
        _infer_labels(net, 0, small, full, tile=1024, device=torch.device("cpu")), expected
    )


def test_training_view_inference_of_a_pair_averages_both_softmax_maps():
    # MMT's two teachers vote on the training view too: softmax of net 0 plus net 1's channels
    # permuted into net 0's ids, upsampled bilinearly
    from napari_mmtseg.infer import infer_labels as _infer_labels

    torch.manual_seed(2)
    pair = SegNet(3, q=5, n_conv=2, n_models=2)
    small = torch.rand(1, 3, 10, 14)
    full = np.zeros((3, 31, 40), np.float32)
    other = np.array([2, 0, 1, 4, 3])  # net 1's channel j is net 0's id other[j]
    pair.train()
    with torch.no_grad():
        y = pair(small)[0]
        perm = torch.from_numpy(np.argsort(other))
        prob = (y[0].softmax(0) + y[1][perm].softmax(0))[None]
        up = torch.nn.functional.interpolate(
            prob, size=(31, 40), mode="bilinear", align_corners=False
        )
    got = _infer_labels(
        pair, 0, small, full, tile=9, device=torch.device("cpu"), other=other, at="train"
    )
    np.testing.assert_array_equal(got, up[0].argmax(0).numpy())


@pytest.mark.parametrize("kind", ["fused", "pair"])
@pytest.mark.parametrize("model", [0, 1])
def test_full_size_inference_of_a_pair_votes_with_both_softmax_maps(kind, model):
    # tile by tile, each network's softmax, the other's channels permuted into this one's ids
    from napari_mmtseg.infer import frozen_labels
    from napari_mmtseg.nets import make_models

    torch.manual_seed(3)
    net = make_models(3, 5, 2, 2, fused=kind == "fused", padding_mode="reflect").eval()
    full = np.random.default_rng(0).random((3, 31, 40)).astype(np.float32)
    other = np.array([2, 0, 1, 4, 3])  # the other network's channel j is this one's other[j]
    with torch.no_grad():
        y = net(torch.from_numpy(full)[None])[0]
        perm = torch.from_numpy(np.argsort(other))
        prob = y[model].softmax(0) + y[1 - model][perm].softmax(0)
    got = frozen_labels(net, model, None, full, tile=9, device=torch.device("cpu"), other=other)
    np.testing.assert_array_equal(got, prob.argmax(0).numpy())


def test_channel_argmax_is_argmax_with_ties_to_the_first():
    from napari_mmtseg.nets import channel_argmax

    y = torch.randint(0, 3, (2, 8, 5, 7)).float()  # many ties
    for dim in range(4):
        torch.testing.assert_close(channel_argmax(y, dim), y.argmax(dim))


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
@pytest.mark.parametrize("kind", ["single", "fused", "pair"])
def test_inference_network_gives_the_frozen_networks_responses(padding, kind):
    from napari_mmtseg.nets import inference_network, make_models

    torch.manual_seed(0)
    n_models = 1 if kind == "single" else 2
    net = make_models(2, 8, 2, n_models, fused=kind == "fused", padding_mode=padding)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:  # statistics and affine terms far from the identity
        m.running_mean.uniform_(-1, 1)
        m.running_var.uniform_(0.5, 2)
        m.weight.data.uniform_(0.5, 1.5)
        m.bias.data.uniform_(-1, 1)
    net.eval()
    x = torch.rand(1, 2, 23, 31)
    fast = inference_network(net)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x), rtol=1e-4, atol=1e-5)
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    # reflect padding: every BatchNorm folds; zeros: the one before a 3x3 convolution stays
    assert left == (0 if padding == "reflect" else len(bns) // 3)
    assert all(m.running_mean.abs().sum() > 0 for m in bns)  # the original is unchanged


@pytest.mark.parametrize("kind", ["single", "fused", "pair"])
def test_forward_channels_last_is_forward_with_channels_last(kind):
    from napari_mmtseg.nets import make_models

    torch.manual_seed(0)
    n_models = 1 if kind == "single" else 2
    net = make_models(3, 5, 2, n_models, fused=kind == "fused", padding_mode="reflect").eval()
    x = torch.rand(2, 3, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(net.forward_channels_last(x), net(x).permute(0, 3, 4, 1, 2))


@pytest.mark.parametrize("folded", [True, False])
@pytest.mark.parametrize("kind", ["fused", "pair"])
@pytest.mark.parametrize("k", [0, 1])
def test_outputs_reordered_by_weights_are_the_responses_permuted(kind, folded, k):
    from napari_mmtseg.nets import inference_network, make_models, with_outputs_reordered

    torch.manual_seed(0)
    net = make_models(2, 8, 2, 2, fused=kind == "fused", padding_mode="reflect")
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)
    net.eval()
    if folded:
        net = inference_network(net)
    order = torch.randperm(8)
    x = torch.rand(1, 2, 13, 17)
    with torch.no_grad():
        before = net(x)
        want = before.clone()
        want[:, k] = before[:, k, order]
        torch.testing.assert_close(with_outputs_reordered(net, k, order)(x), want)
        torch.testing.assert_close(net(x), before)  # the original is unchanged


@pytest.mark.parametrize("kind", ["single", "fused", "pair"])
def test_forward_each_channels_last_is_each_networks_part_of_the_joined_output(kind):
    from napari_mmtseg.nets import make_models

    torch.manual_seed(0)
    n_models = 1 if kind == "single" else 2
    net = make_models(3, 5, 2, n_models, fused=kind == "fused", padding_mode="reflect").eval()
    x = torch.rand(2, 3, 9, 11)
    with torch.no_grad():
        joined = net.forward_channels_last(x)  # (B, H, W, n_models, q)
        each = net.forward_each_channels_last(x)
        assert len(each) == n_models
        for k in range(n_models):
            assert torch.equal(each[k], joined[..., k, :])
            (only,) = net.forward_each_channels_last(x, k)
            assert torch.equal(only, joined[..., k, :])
