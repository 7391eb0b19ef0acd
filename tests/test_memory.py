"""Memory checks: refusals before any work, out-of-memory errors as clear messages."""

import numpy as np
import pytest
import torch

import napari_mmtseg.memory as mem
from napari_mmtseg import iter_segment, make_params, segment

FAST = dict(preset="fast", device="cpu")


def test_out_of_memory_becomes_a_clear_message(monkeypatch):
    import napari_mmtseg.train.loop as train

    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")

    monkeypatch.setattr(train, "make_models", boom)
    with pytest.raises(MemoryError, match="Reduce train_size"):
        segment(np.random.default_rng(0).random((16, 16)), **FAST)


def test_too_big_for_memory_is_refused_up_front(monkeypatch):

    monkeypatch.setattr(mem, "available_bytes", lambda dev: 512 * 2**20)  # 512 MiB free
    img = np.zeros((600, 800), np.float32)
    with pytest.raises(MemoryError, match="Set train_size="):
        segment(img, method="mmt", preset="paper", device="cpu")
    # the same image trains on a reduced copy under the fast preset
    assert mem.training_bytes(120, 160, make_params("mmt", "fast"), 2) < 512 * 2**20 * 0.8
    assert (
        segment(img, method="mmt", preset="fast", device="cpu", max_iter=2).labels.shape
        == img.shape
    )


def test_image_too_big_for_ram_is_refused_before_any_work(monkeypatch):

    img = np.zeros((400, 300, 400), np.uint16)  # a stack: 400 slices of 300x400
    need = mem.host_bytes(400, 300, 400, 1, 2)
    monkeypatch.setattr(mem, "available_bytes", lambda dev: int(need * 0.9))
    for method in ("kmeans", "mmt"):
        gen = iter_segment(img, method=method, preset="fast", device="cpu")
        assert next(gen).iteration == 0  # the first event: device and method
        with pytest.raises(MemoryError, match=r"400 x 300x400 pixels.*current slice only"):
            next(gen)
    # one slice of it fits
    assert segment(img[0], method="kmeans", k=2).labels.shape == (300, 400)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_a_giant_image_in_one_chunk_is_refused_before_its_chunk_is_read(monkeypatch, dtype):
    """Issue 25: napari's and bioio's readers give a whole 2D image as one dask
    chunk; reading any window of it computes the chunk, 6.7 GiB of uint16."""
    da = pytest.importorskip("dask.array")
    import dask

    monkeypatch.setattr(mem, "available_bytes", lambda dev: 16 * 2**30)  # a 16 GiB machine
    computed = []

    def read_chunk():
        computed.append(1)
        raise AssertionError("the 60000 x 60000 chunk was read before the memory check")

    giant = da.from_delayed(dask.delayed(read_chunk)(), (60000, 60000), dtype=dtype)
    assert giant.numblocks == (1, 1)
    for method in ("kmeans", "mmt"):
        with pytest.raises(MemoryError, match="60000x60000"):
            segment(giant, method=method, **FAST)
    assert computed == []


def test_a_small_image_in_one_chunk_is_read_after_the_check(monkeypatch):
    da = pytest.importorskip("dask.array")
    import dask

    img = (np.random.default_rng(0).random((40, 50)) * 4000).astype(np.uint16)
    reads = []

    def read_chunk():
        reads.append(1)
        return img

    lazy = da.from_delayed(dask.delayed(read_chunk)(), img.shape, dtype=img.dtype)
    gen = iter_segment(lazy, method="kmeans", k=2, **FAST)
    next(gen)  # the first event; the memory check comes next
    assert reads == []
    *_, result = gen
    np.testing.assert_array_equal(result.labels, segment(img, method="kmeans", k=2, **FAST).labels)


def test_a_giant_slice_in_one_chunk_is_sampled_in_one_read(monkeypatch):
    """After the check, the 8 x 8 sampling windows of a slice held in one chunk
    would each compute that chunk: the slice is read once instead."""
    da = pytest.importorskip("dask.array")
    import dask

    from napari_mmtseg.image import prepare_image

    img = (np.arange(2100 * 2100) % 5000).astype(np.uint16).reshape(2100, 2100)
    reads = []

    def read_chunk():
        reads.append(1)
        return img

    prep = prepare_image(da.from_delayed(dask.delayed(read_chunk)(), img.shape, dtype=img.dtype))
    lo, hi = prep.intensity_range()
    assert len(reads) == 1 and lo[0] < hi[0]


def test_training_a_model_on_a_giant_lazy_stack_is_refused_before_a_slice_is_read(monkeypatch):
    """fit_model (mmtseg train, --train-on) labels nothing, but each step reads one whole
    slice: two 60000 x 60000 slices on a 16 GiB machine are refused before any is read."""
    da = pytest.importorskip("dask.array")
    import dask

    from napari_mmtseg import fit_model

    monkeypatch.setattr(mem, "available_bytes", lambda dev: 16 * 2**30)
    computed = []

    def read_slice():
        computed.append(1)
        raise AssertionError("a 60000 x 60000 slice was read before the memory check")

    one = da.from_delayed(dask.delayed(read_slice)(), (60000, 60000), dtype=np.uint16)
    with pytest.raises(MemoryError, match="60000x60000"):
        fit_model(da.stack([one, one]), **FAST)
    assert computed == []


def test_in_a_dask_worker_the_memory_check_counts_its_limit(monkeypatch):
    """A worker with a memory limit is stopped past it, whatever the host has free: the
    check counts the limit (less what the worker's process holds)."""
    distributed = pytest.importorskip("distributed")
    import types

    import dask
    import psutil

    held = psutil.Process().memory_info().rss
    limit = int((held + 2**20) / 0.95)  # the nanny stops it at 95% of its limit
    worker = types.SimpleNamespace(memory_manager=types.SimpleNamespace(memory_limit=limit))
    monkeypatch.setattr(distributed, "get_worker", lambda: worker)
    assert mem.available_bytes(torch.device("cpu")) <= 2**20 + 2**16
    img = np.zeros((300, 400), np.uint16)
    with pytest.raises(MemoryError, match="300x400"):
        segment(img, method="kmeans", **FAST)
    with dask.config.set({"distributed.worker.memory.terminate": False}):  # never stopped
        assert mem.available_bytes(torch.device("cpu")) > 2**20
    monkeypatch.setattr(distributed, "get_worker", lambda: (_ for _ in ()).throw(ValueError()))
    assert mem.available_bytes(torch.device("cpu")) > 2**20  # outside a worker: the host's
