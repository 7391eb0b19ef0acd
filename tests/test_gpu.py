"""The CUDA path: valid label maps from both presets, tiling, out-of-memory errors.

Marked ``gpu`` and skipped where PyTorch sees no CUDA device, so ``pytest`` runs none of them
on a CPU machine; ``pytest -m gpu`` runs them alone (``benchmarks/gpu_check.py`` does, on a GPU
machine).
"""

import copy

import numpy as np
import pytest
import torch

from conftest import make_regions
from napari_mmtseg import segment
from napari_mmtseg.infer import freeze_bn_to_image_stats, infer_labels
from napari_mmtseg.metrics import accuracy
from napari_mmtseg.nets import SegNet

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _valid(labels, shape):
    """Labels of the image's shape, integer ids 1..K with every id present."""
    assert labels.shape == shape
    assert np.issubdtype(labels.dtype, np.integer)
    ids = np.unique(labels)
    np.testing.assert_array_equal(ids, np.arange(1, ids.size + 1))


@pytest.mark.parametrize("preset, overrides", [("paper", {"max_iter": 60}), ("fast", {})])
def test_presets_give_valid_label_maps_on_cuda(preset, overrides):
    img, gt = make_regions((96, 128), rgb=True)
    res = segment(img, "mmt", preset, seed=0, device="cuda", **overrides)
    _valid(res.labels, gt.shape)
    assert res.device.startswith("cuda")
    assert 2 <= res.n_labels <= 12
    assert accuracy(gt, res.labels) > 0.8  # four flat regions under light noise


def test_tiled_inference_equals_untiled_on_cuda():
    torch.manual_seed(0)
    dev = torch.device("cuda")
    net = SegNet(3, q=100, n_conv=2, padding_mode="reflect").to(dev)
    img, _ = make_regions((200, 260), rgb=True, noise=0.1)
    x_np = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0
    x = torch.from_numpy(x_np)[None].to(dev)
    whole = infer_labels(net, 0, x, x_np, tile=1024, device=dev)
    tiled = infer_labels(net, 0, x, x_np, tile=64, device=dev)
    # the features themselves, to tell a real difference from a near-tie that rounding flips
    frozen = copy.deepcopy(net)
    freeze_bn_to_image_stats(frozen, x)
    with torch.no_grad():
        top2 = frozen(x)[0, 0].topk(2, dim=0).values
    clear = (top2[0] - top2[1] > 1e-3).cpu().numpy()
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(tiled[clear], whole[clear])
    assert (tiled == whole).mean() > 0.999


def test_out_of_memory_on_cuda_becomes_a_clear_memory_error():
    img, _ = make_regions((321, 481), rgb=True)
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(32 * 2**20 / total)  # 32 MiB for this process
    try:
        with pytest.raises(MemoryError, match="Out of memory on cuda"):
            segment(img, "mmt", "paper", device="cuda", max_iter=2)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    # and the GPU is usable again afterwards
    _valid(segment(img[:64, :64], "mmt", "fast", device="cuda", max_iter=5).labels, (64, 64))
