"""The GPU loop: host reads per step, what reading less often changes, grouped students.

A GPU stalls at every read of a device value on the host (``.cpu()``, ``.item()``,
``.tolist()``, a tensor's truth value, and CUDA's ``bincount``, which reads its largest id).
These tests count such reads on the CPU, where the calls are the same, so that a read added
to the loop fails here before anyone measures a GPU.
"""

import math

import numpy as np
import pytest
import torch

#: Tensor methods that bring a device value to the host
READS = ("cpu", "item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")


@pytest.fixture
def host_reads(monkeypatch):
    """Count the host reads made while the test runs (``.cpu().numpy()`` counts once)."""
    count = {"n": 0}

    def counted(name, orig):
        def wrapper(self, *a, **k):
            if not (name in ("numpy", "tolist") and getattr(self, "_read_once", False)):
                count["n"] += 1
            out = orig(self, *a, **k)
            if name == "cpu":
                out._read_once = True
            return out

        return wrapper

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
    bincount = torch.bincount

    def counted_bincount(*a, **k):
        count["n"] += 1  # on CUDA it reads the largest id to size its output
        return bincount(*a, **k)

    monkeypatch.setattr(torch, "bincount", counted_bincount)
    return count


def _run(method, max_iter, count=None, device="cpu", **kw):
    """Train one small slice; the number of host reads it made, its history and labels."""
    from conftest import make_regions
    from napari_mmtseg import make_params
    from napari_mmtseg.result import Progress
    from napari_mmtseg.train import RunProgress, TrainState, train_slice

    img, _ = make_regions(shape=(24, 32))
    x = img[None].astype(np.float32)
    p = make_params(method, "fast", n_segments=50, max_iter=max_iter, **kw)
    run = RunProgress(0, 0, p.max_iter, 0, 1, [], device)
    start = count["n"] if count else 0
    events = []
    dev = torch.device(device)
    for ev in train_slice(method, x, p, TrainState(), run, seed=0, device=dev):
        if not isinstance(ev, Progress):  # the label map: its inference is not training
            reads = count["n"] - start if count else None
            labels = ev
        else:
            events.append(ev)
    return reads, run.history, labels, events


def _reads_per_step(method, count, device="cpu", **kw):
    """Host reads per training step: the difference of two runs of 10 and 30 steps."""
    kw = {"min_labels": 1, "tol": 0.0, **kw}
    short = _run(method, 10, count, device, **kw)[0]
    long = _run(method, 30, count, device, **kw)[0]
    return (long - short) / 20


@pytest.mark.parametrize(("method", "most"), [("mmt", 2), ("kim2020", 1), ("kanezaki2018", 1)])
def test_a_step_reads_the_host_at_most_once_for_its_figures_and_once_for_the_assignment(
    method, most, host_reads, one_torch_thread
):
    # every step on the CPU (sync_every=1): one read of its figures, and MMT's Hungarian
    # assignment; nothing else (no loss read apart, no bincount)
    assert _reads_per_step(method, host_reads) <= most


@pytest.mark.parametrize(("method", "per_batch"), [("mmt", 2), ("kim2020", 1)])
def test_with_sync_every_the_loop_reads_the_host_once_per_batch_of_steps(
    method, per_batch, host_reads, one_torch_thread
):
    assert _reads_per_step(method, host_reads, sync_every=10) <= per_batch / 10


def test_mmt_assigns_every_sync_every_steps_and_reuses_the_mapping_between(
    monkeypatch, one_torch_thread
):
    import napari_mmtseg.train.mmt as mmt

    calls = []
    orig = mmt.assign
    monkeypatch.setattr(mmt, "assign", lambda *a, **k: calls.append(1) or orig(*a, **k))
    _, hist, _, events = _run("mmt", 23, min_labels=1, tol=0.0, sync_every=5)
    assert len(calls) == math.ceil(23 / 5)  # steps 0, 5, 10, 15, 20
    assert len(hist) == len(events) == 23 and [h["iteration"] for h in hist] == list(range(1, 24))


def test_reading_every_k_steps_stops_at_the_end_of_the_batch_that_met_the_rule(
    one_torch_thread,
):
    # Kim 2020 has no assignment: its steps are the same whatever the cadence, so the stop
    # comes at the first multiple of k at or after the step that met the rule
    kw = dict(min_labels=1, tol=0.05, patience=3)
    _, every, lab1, _ = _run("kim2020", 60, **kw)
    s = len(every)
    assert s < 55, "the rule must stop this run early for the test to mean anything"
    for k in (4, 7):
        _, hist, lab, _ = _run("kim2020", 60, **kw, sync_every=k)
        assert len(hist) == min(60, math.ceil(s / k) * k)
        assert hist[:s] == every  # the same steps, the same figures, bit for bit
        if len(hist) == s:
            np.testing.assert_array_equal(lab, lab1)


def test_grouped_students_and_teachers_train_like_two_separate_networks(one_torch_thread):
    # Params.fused (the CUDA default): both students, and both teachers, in one grouped call
    import copy

    import torch.nn.functional as F

    from napari_mmtseg.nets import ema_update, make_models, tv_loss

    torch.manual_seed(0)
    pair, fused = make_models(3, 6, 2, 2, fused=False), make_models(3, 6, 2, 2, fused=True)
    for k, net in enumerate(pair.nets):  # the same weights: network k in group k
        for s, g in zip(net.body, fused.body):
            for name in ("weight", "bias"):
                if getattr(s, name, None) is not None:
                    n = getattr(s, name).shape[0]
                    getattr(g, name).data[k * n : (k + 1) * n] = getattr(s, name).data
    teachers = [copy.deepcopy(pair), copy.deepcopy(fused)]
    x = torch.rand(1, 3, 10, 12)
    target = torch.randint(0, 6, (2, 120))
    for net, teacher in zip((pair, fused), teachers):
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            y = net(x)[0]
            (2 * F.cross_entropy(y.reshape(2, 6, -1), target) + 2 * tv_loss(y)).backward()
            opt.step()
            ema_update(teacher, net, 0.5)
    # float32 sums taken in another order by a grouped convolution, then two SGD steps: the
    # tolerance depends on the CPU's kernels (1.6e-5 on one machine); a mapping error is O(0.1)
    torch.testing.assert_close(fused(x), pair(x), atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(teachers[1](x), teachers[0](x), atol=1e-4, rtol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(("method", "per_batch"), [("mmt", 2), ("kim2020", 1)])
def test_on_cuda_the_loop_synchronises_only_at_its_batched_reads(method, per_batch):
    # CUDA's own count (torch.cuda.set_sync_debug_mode): every synchronising call warns, those
    # hidden inside operations (bincount) and host-to-device copies that wait included
    import warnings

    count = {"n": 0}
    old = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _run(method, 30, None, "cuda", min_labels=1, tol=0.0, sync_every=10)  # warm-up
            for n_steps, sign in ((10, -1), (30, 1)):
                del caught[:]
                _run(method, n_steps, None, "cuda", min_labels=1, tol=0.0, sync_every=10)
                count["n"] += sign * sum("synchroniz" in str(w.message) for w in caught)
    finally:
        torch.cuda.set_sync_debug_mode(old)
    assert count["n"] / 20 <= per_batch / 10
