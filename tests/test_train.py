"""Training: MMT's cross targets, the one loop and its stopping rule, the training view,
the scribble terms."""

import numpy as np
import pytest
import torch


def test_mmt_targets_are_the_other_teachers_labels_in_the_students_ids():
    from napari_mmtseg.train import cross_targets as _cross_targets

    rng = np.random.default_rng(0)
    q = 5
    slab = torch.from_numpy(rng.integers(0, q, size=(2, 12, 14)))
    cycle = torch.tensor([1, 2, 0, 4, 3])  # a 3-cycle and a swap: not its own inverse
    other = torch.tensor([3, 0, 4, 1, 2])
    # teacher 1 says cycle[student 0's id], teacher 0 says other[student 1's id]
    tlab = torch.stack([other[slab[1]], cycle[slab[0]]])
    target, maps_t, S, extra = _cross_targets(slab, tlab, q, torch.tensor(7))
    torch.testing.assert_close(target, slab)  # each student is asked for exactly its own partition
    assert extra == 7 and S.shape == (2, q, q)
    assert (maps_t[0][cycle] == torch.arange(q)).all()


def _setup(method="kim2020", **kw):
    from conftest import make_regions
    from napari_mmtseg import make_params
    from napari_mmtseg.train import RunProgress, TrainState

    img, _ = make_regions(shape=(24, 32))
    x = img[None].astype(np.float32)
    p = make_params(method, "fast", n_segments=50, **kw)
    run = RunProgress(
        preview_every=1,
        step0=0,
        total=p.max_iter,
        slice_index=0,
        n_slices=1,
        history=[],
        device_name="cpu",
    )
    return x, p, TrainState(), run


def _train(method, x, p, state, run, **kw):
    from napari_mmtseg.result import Progress
    from napari_mmtseg.train import train_slice

    events = list(train_slice(method, x, p, state, run, seed=0, device=torch.device("cpu"), **kw))
    assert all(isinstance(e, Progress) for e in events[:-1])
    return events[:-1], events[-1]


@pytest.mark.parametrize("method", ["mmt", "kim2020", "kanezaki2018"])
def test_each_method_steps_through_the_one_loop(method, one_torch_thread):
    x, p, state, run = _setup(method, max_iter=4, min_labels=1)
    events, labels = _train(method, x, p, state, run)
    assert labels.shape == x.shape[1:] and labels.dtype == np.int32 and labels.max() < p.q
    assert state.step == len(events) == len(run.history) <= 4
    assert set(run.history[0]) >= {"loss", "ce", "tv", "n_labels", "changed"}
    assert (state.teacher is not None) == (method == "mmt")
    assert events[-1].preview.shape == x.shape[1:] and events[-1].preview.min() >= 1


def test_the_label_count_stops_a_slice_but_never_a_refinement(one_torch_thread):
    x, p, state, run = _setup(max_iter=6, min_labels=1000)  # any label count is low enough
    events, _ = _train("kim2020", x, p, state, run)
    assert len(events) == 1
    net = state.net
    state.warm = True  # a refinement: only convergence ends it
    events, _ = _train("kim2020", x, p, state, run)
    assert len(events) == 6 and state.net is net and state.step == 7  # the networks carry on


def test_the_convergence_rule_needs_patience_steps_in_a_row(one_torch_thread):
    x, p, state, run = _setup(max_iter=10, min_labels=1, tol=1.01, patience=3)
    events, _ = _train("kim2020", x, p, state, run)
    assert len(events) == 3  # every step changes fewer than 101% of the pixels


def test_the_training_view_rule_has_one_home():
    import napari_mmtseg.memory as mem
    from napari_mmtseg.train import train_shape, train_view

    assert mem.train_shape is train_shape
    assert train_shape((300, 200), 128) == (128, 85) and train_shape((60, 40), 128) == (60, 40)
    assert train_shape((1000, 3), 100) == (100, 2)  # each side at least 2
    x = np.random.default_rng(0).random((2, 300, 200)).astype(np.float32)
    assert train_view(x, 128).shape == (2, 128, 85) and train_view(x, None) is x


def test_scribble_loss_terms():
    from napari_mmtseg.train.scribble_loss import claim, scribble_ce
    from napari_mmtseg.train.state import ScribbleTargets

    rng = torch.Generator().manual_seed(0)
    q, n = 4, 10
    logits = torch.randn(1, q, n, generator=rng)
    target = torch.randint(0, q, (1, n), generator=rng)
    plain = torch.nn.functional.cross_entropy(logits, target)
    torch.testing.assert_close(scribble_ce(logits, target, None), plain)
    as_t = lambda a: torch.tensor(a, dtype=torch.int64)
    scr = ScribbleTargets(
        free=as_t(range(2, n)),
        marked=as_t([0, 1]),
        channels=as_t([3, 3]),
        weight=0.5,
        cls=as_t([0, 0]),
        chans=as_t([3]),
    )
    want = torch.nn.functional.cross_entropy(logits[..., 2:], target[..., 2:]) + 0.5 * (
        torch.nn.functional.cross_entropy(logits[..., :2], as_t([[3, 3]]))
    )
    torch.testing.assert_close(scribble_ce(logits, target, scr), want)
    # a cluster whose scribbles are typical of it goes to the scribbled class's channel
    clusters = as_t([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    feats = torch.zeros(q, n)
    feats[0, 4:8] = 1.0
    assert claim(clusters, feats, scr, q).tolist() == [3, 3, 3, 3, 1, 1, 1, 1, 2, 2]


def _claim_by_distances(target, feats, scr, q):
    """The claim rule written with plain distances, pixel by pixel (slow, for reference)."""
    f = feats.T.double()
    chans, cls, marked = scr.chans.tolist(), scr.cls.tolist(), scr.marked.tolist()
    out = target.clone()
    for c in range(q):
        members = (target == c).nonzero()[:, 0]
        if members.numel() == 0:
            continue
        mean = f[members].mean(0)
        spread = ((f[members] - mean) ** 2).sum(1).mean().sqrt()
        mine = [(i, k) for i, k in zip(marked, cls) if target[i] == c]
        classes = sorted({k for _, k in mine})
        protos = {k: f[[i for i, kk in mine if kk == k]].mean(0) for k in classes}
        for n in members.tolist():
            if len(classes) == 1:
                p = protos[classes[0]]
                typical = (p - mean).norm() <= spread
                if typical or (f[n] - p).norm() < (f[n] - mean).norm():
                    out[n] = chans[classes[0]]
            elif len(classes) > 1:
                out[n] = chans[min(classes, key=lambda k: (f[n] - protos[k]).norm())]
    return out


def test_claim_matches_its_definition_by_distances():
    from napari_mmtseg.train.scribble_loss import claim
    from napari_mmtseg.train.state import ScribbleTargets

    rng = torch.Generator().manual_seed(3)
    q, n = 6, 400
    feats = torch.randn(q, n, generator=rng) * 3
    target = torch.randint(0, q, (n,), generator=rng)
    marked = torch.randperm(n, generator=rng)[:40]
    # clusters 0-3 hold one scribbled class each (0, 1, 2, 0), clusters 4 and 5 all three
    tm = target[marked]
    cls = torch.where(tm < 4, tm % 3, torch.randint(0, 3, (40,), generator=rng))
    chans = torch.tensor([5, 1, 2])
    # the scribbles in clusters 0 and 1 lie off their means: a correction of part of them
    off = marked[tm < 2]
    feats[:, off] = feats[:, off] * 0.3 + torch.linspace(6, 10, q)[:, None]
    scr = ScribbleTargets(
        free=torch.tensor([], dtype=torch.int64),
        marked=marked,
        channels=chans[cls],
        weight=1.0,
        cls=cls,
        chans=chans,
    )
    got = claim(target, feats, scr, q)
    want = _claim_by_distances(target, feats, scr, q)
    assert (got != target).any() and (got == target).any()  # some pixels claimed, some not
    torch.testing.assert_close(got, want)
