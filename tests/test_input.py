"""Input preparation: lazy arrays (dask, zarr-like) are read one 2D slice at a
time and give the same labels as the same data in memory."""
import numpy as np
import pytest

from conftest import make_regions
from napari_mmtseg import segment
from napari_mmtseg._input import prepare_image

KM = dict(method="kmeans", k=3, preset="fast", device="cpu")


class LazyStack:
    """A minimal lazy array: no ``__array__``, so only indexing can read it.
    Records how many elements each read returned."""

    def __init__(self, data):
        self._data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads = []

    def __getitem__(self, index):
        out = self._data[index]
        self.reads.append(out.size)
        return out.copy()


def _stack(n=5, dtype=np.uint16):
    img, _ = make_regions(shape=(24, 32))
    rng = np.random.default_rng(0)
    return np.stack([(img * 3000 + 200 + rng.normal(0, 20, img.shape)).astype(dtype) for _ in range(n)])


def test_lazy_stack_is_read_slice_by_slice_and_matches_numpy():
    data = _stack()
    lazy = LazyStack(data)
    a = segment(lazy, **KM)
    b = segment(data, **KM)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert lazy.reads and max(lazy.reads) == 24 * 32  # never more than one slice at a time


def test_dask_channel_axis_inside_the_stack():
    da = pytest.importorskip("dask.array")
    data = _stack(n=3).astype(np.float32)
    zcyx = np.stack([data, data.max() - data], axis=1)  # (Z, C, Y, X)
    lazy = da.from_array(zcyx, chunks=(1, 2, 24, 32))
    a = segment(lazy, channel_axis=1, **KM)
    b = segment(np.moveaxis(zcyx, 1, -1), channel_axis=-1, **KM)
    assert a.labels.shape == (3, 24, 32)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_slices_of_a_4d_multichannel_image():
    data = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.float32).reshape(2, 3, 4, 5, 6)  # (T, C, Z, Y, X)
    prep = prepare_image(data, channel_axis=1)
    assert prep.stack_shape == (2, 4) and prep.n_channels == 3 and prep.yx == (5, 6)
    raw = prep.raw_slice(5)  # t=1, z=1
    np.testing.assert_array_equal(raw, np.moveaxis(data[1, :, 1], 0, -1))


def test_nan_in_a_lazy_slice_is_reported_with_its_slice():
    data = _stack(n=20).astype(np.float32)
    data[7, 3, 3] = np.nan  # slice 7 is not among the 16 sampled for the intensity range
    with pytest.raises(ValueError, match=r"NaN.*slice 7"):
        segment(LazyStack(data), **KM)
    with pytest.raises(ValueError, match="NaN"):
        segment(data, **KM)  # in memory: refused before any work


def test_lazy_bool_and_rgba():
    _, gt = make_regions(shape=(24, 32))
    r = segment(LazyStack(gt == 1), method="kmeans", k=2, preset="fast", device="cpu")
    assert r.n_labels == 2
    rgb, _ = make_regions(shape=(24, 32), rgb=True)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    prep = prepare_image(LazyStack(rgba))
    assert prep.rgb and prep.n_channels == 3 and prep.slice(0).shape == (3, 24, 32)


def test_wide_integer_and_extreme_float_ranges_keep_their_levels():
    base = np.zeros((24, 32), np.int64)
    base[:, 16:] = 40
    for img in (base.astype(np.uint32) + 2**31, base + 10**12, (base * 1e36 - 3e38).astype(np.float32)):
        s = prepare_image(img).slice(0)
        assert np.isfinite(s).all()
        assert len(np.unique(s)) == 2, img.dtype


def test_torch_tensor_and_unknown_dask_chunks_are_read_in_memory():
    import torch

    img, _ = make_regions(shape=(24, 32))
    a = segment(torch.from_numpy(np.ascontiguousarray(img)), **KM).labels
    np.testing.assert_array_equal(a, segment(img, **KM).labels)
    da = pytest.importorskip("dask.array")
    d = da.from_array(_stack(n=4), chunks=(1, 24, 32))
    d = d[d[:, 0, 0] >= 0]  # shape (nan, 24, 32)
    assert segment(d, **KM).labels.shape == (4, 24, 32)
