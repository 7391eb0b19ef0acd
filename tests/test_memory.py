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
    assert segment(img, method="mmt", preset="fast", device="cpu", max_iter=2).labels.shape == img.shape


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
