"""Input preparation: lazy arrays (dask, zarr-like) are read one 2D slice at a
time and give the same labels as the same data in memory."""

import numpy as np
import pytest

from conftest import make_regions
from napari_mmtseg import segment
from napari_mmtseg.image import prepare_image

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
    return np.stack(
        [(img * 3000 + 200 + rng.normal(0, 20, img.shape)).astype(dtype) for _ in range(n)]
    )


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
    with pytest.raises(ValueError, match=r"NaN.*\(in slice 7 of 20\)"):
        segment(data, **KM)  # in memory: refused before any work, naming the slice too
    data[12, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 NaN.*\(in 2 slices of 20: 7, 12\)"):
        segment(data, **KM)


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
    for img in (
        base.astype(np.uint32) + 2**31,
        base + 10**12,
        (base * 1e36 - 3e38).astype(np.float32),
    ):
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


# --------------------------------------------------------------------------- issue 11


def _halves(shape=(64, 64)):
    img = np.zeros(shape, np.float32)
    img[:, shape[1] // 2 :] = 1
    return img + np.random.default_rng(0).normal(0, 0.02, shape).astype(np.float32)


@pytest.mark.parametrize(
    "shape, squeeze",
    [
        (
            (64, 64, 1),
            (slice(None), slice(None), 0),
        ),  # grey saved with a channel axis (PIL, TIFF writers)
        ((1, 64, 64), (0,)),  # a one-plane stack
        ((64, 1, 64), (slice(None), 0)),
        (
            (1, 1, 3, 64, 64),
            (0, 0),
        ),  # TZ of length 1 in front of a 3-slice stack: 3D, not "too many dims"
    ],
)
def test_an_axis_of_length_1_is_never_y_or_x(shape, squeeze):
    plain = _halves()
    img = np.broadcast_to(plain, (3, 64, 64)) if len(shape) == 5 else plain
    img = np.ascontiguousarray(img).reshape(shape)
    r = segment(img, **dict(KM, k=2))
    assert r.labels.shape == shape  # overlays the image in napari
    ref = segment(img[squeeze], **dict(KM, k=2)).labels
    np.testing.assert_array_equal(r.labels[squeeze], ref)
    assert r.n_labels == 2
    np.testing.assert_array_equal(segment(LazyStack(img), **dict(KM, k=2)).labels, r.labels)


def test_slice_layout_places_slices_around_singleton_axes():
    from napari_mmtseg.image import slice_layout

    lay = slice_layout((1, 4, 1, 5, 6, 2), channel_axis=-1)  # (T=1, Z, 1, Y, X, C)
    assert lay.yx_axes == (3, 4) and lay.stack_axes == (1,) and lay.n_slices == 4
    assert lay.spatial_shape == (1, 4, 1, 5, 6)
    assert lay.source_index(2) == (0, 2, 0, slice(None), slice(None), slice(None))
    assert lay.labels_index(2) == (0, 2, 0, slice(None), slice(None))
    lay = slice_layout((64, 64, 1))
    assert (
        lay.yx_axes == (0, 1)
        and lay.n_slices == 1
        and lay.labels_index(0) == (slice(None), slice(None), 0)
    )
    with pytest.raises(ValueError, match="2x2"):
        slice_layout((1, 64))


class GiantLazy:
    """A lazy 2D image of any size whose pixels are computed on demand from
    their coordinates (nothing is stored). Counts what each read returns and
    refuses (AssertionError) any read of more than ``max_read`` pixels."""

    def __init__(self, shape, dtype, max_read=1_000_000):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.max_read = max_read
        self.reads = []

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        *lead, ys, xs = [np.arange(n)[i] for i, n in zip(index, self.shape)]
        assert all(np.ndim(i) == 0 for i in lead), "reads one slice at a time"
        size = ys.size * xs.size
        self.reads.append(size)
        assert size <= self.max_read, f"read {size} pixels at once"
        vals = (ys[:, None] * 3 + xs[None, :] * 7) % 200  # content in [0, 200)
        return (vals > 100) if self.dtype == bool else vals.astype(self.dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])
@pytest.mark.parametrize("method", ["mmt", "kmeans"])
def test_a_lazy_giant_is_refused_before_a_whole_slice_is_read(monkeypatch, dtype, method):
    import napari_mmtseg.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: 16 * 2**30)  # a 16 GiB machine
    giant = GiantLazy((60000, 60000), dtype)
    with pytest.raises(MemoryError, match="60000x60000"):
        segment(giant, method=method, preset="fast", device="cpu")
    assert sum(giant.reads) <= 2_100_000  # the intensity sample: about 2 million pixels, a few MB
    assert max(giant.reads, default=0) <= 40_000  # in windows, never a whole slice


def test_a_giant_lazy_slice_is_normalised_from_windows_of_it():
    giant = GiantLazy((3, 30000, 20000), np.uint16)
    prep = prepare_image(giant)
    assert giant.reads == []  # nothing is read before the first slice (after the memory check)
    lo, hi = prep.intensity_range()
    assert lo[0] < hi[0]
    assert sum(giant.reads) <= 2_100_000
    lo, hi = prepare_image(_stack(n=3)).intensity_range()  # small slices: read whole, as before
    assert lo[0] < hi[0]


@pytest.mark.parametrize("lazy", [False, True])
def test_a_varying_fourth_channel_is_not_dropped_in_silence(lazy):
    img = np.full((48, 48, 4), 300, np.uint16)
    img[:, 24:, 3] = 1000  # the structure is only in the 4th channel
    src = LazyStack(img) if lazy else img
    with pytest.warns(UserWarning, match=r"4th channel.*channel_axis=-1.*--channel-axis -1"):
        segment(src, **dict(KM, k=2))
    r = segment(src, **dict(KM, k=2), channel_axis=-1)  # all 4 channels kept: the halves appear
    assert r.n_labels == 2 and len(np.unique(r.labels[:, :24])) == 1 != len(np.unique(r.labels))


def test_a_constant_alpha_is_dropped_quietly():
    import warnings

    rgb, _ = make_regions(shape=(24, 32), rgb=True)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prepare_image(rgba).n_channels == 3


# --------------------------------------------------------------------------- issue 25


def _two_channel_halves(n_ch, dtype, shape=(48, 48)):
    """(H, W, n_ch): channel 0 holds two halves, the others noise-free copies."""
    img = np.repeat(_halves(shape)[..., None], n_ch, axis=-1)
    scale = 1000 if np.issubdtype(np.dtype(dtype), np.integer) else 1
    return (img * scale + (200 if scale > 1 else 0)).astype(dtype)


@pytest.mark.parametrize("n_ch, dtype", [(5, np.uint16), (5, np.float32), (2, np.float32)])
def test_a_short_last_axis_is_channels_not_slices(n_ch, dtype):
    img = _two_channel_halves(n_ch, dtype)
    if n_ch == 2:
        img[:24, :, 1] = 0  # a varying 2nd entry: grey + alpha, alpha dropped with a warning
    match = "5 channels.*channel_axis=-1.*channel_axis='none'" if n_ch == 5 else "grey \\+ alpha"
    with pytest.warns(UserWarning, match=match):
        r = segment(img, **dict(KM, k=2))
    assert r.labels.shape == (48, 48) and r.n_labels == 2
    assert r.channel_axis == 2
    kept = segment(img, channel_axis=-1, **dict(KM, k=2))  # said so: all entries, no warning
    assert kept.labels.shape == (48, 48)
    as_slices = segment(img, channel_axis="none", **dict(KM, k=2))  # the old reading, on request
    assert as_slices.labels.shape == (48, 48, n_ch)


def test_grey_plus_alpha_drops_a_constant_alpha_quietly():
    import warnings

    grey = (_halves() * 200).astype(np.uint8)
    la = np.stack([grey, np.full_like(grey, 255)], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = segment(la, **dict(KM, k=2))
    np.testing.assert_array_equal(r.labels, segment(grey, **dict(KM, k=2)).labels)


@pytest.mark.parametrize(
    "shape, axis",
    [
        ((48, 48, 3), 2),
        ((48, 48, 2), 2),
        ((48, 48, 5), 2),  # colour, grey + alpha, channels
        ((3, 48, 48), None),
        ((48, 6, 5), None),  # a 3-slice stack; 5 is not much shorter than 6
        ((4, 48, 48, 2), 3),  # a 2-channel time-lapse
    ],
)
def test_which_axis_is_guessed_as_channels(shape, axis):
    from napari_mmtseg.image import channels_of

    assert channels_of(shape).axis == axis
    assert channels_of(shape, rgb=False).axis is None  # the widget's "none"
    assert channels_of(shape, "none").axis is None


@pytest.mark.parametrize(
    "axes, ndim, want",
    [
        ("CYX", 3, 0),
        ("ZCYX", 4, 1),
        ("TYX", 3, "none"),
        ("ZYX", 3, "none"),
        ("YXS", 3, None),
        ("SYX", 3, None),  # tifffile's default for any (3, Y, X) array: not the author's word
        ("QYX", 3, None),
        ("", 3, None),
        ("CYX", 2, None),
    ],
)
def test_the_file_axes_decide_the_channel_axis(axes, ndim, want):
    from napari_mmtseg.image import file_channel_axis

    assert file_channel_axis(axes, ndim) == want


def _coins_crop():
    from skimage import data

    return data.coins()[100:164, 120:216]  # 64 x 96: coins and background


@pytest.mark.parametrize("method, kw", [("felzenszwalb", {}), ("mmt", {"max_iter": 10})])
def test_a_linear_rescale_of_the_intensities_changes_no_label(method, kw):
    coins = _coins_crop()
    run = dict(method=method, preset="fast", device="cpu", seed=0, **kw)
    ref = segment(coins, **run).labels
    for img in (coins.astype(np.uint16) * 200, coins.astype(np.float32) / np.float32(1024)):
        np.testing.assert_array_equal(segment(img, **run).labels, ref, err_msg=str(img.dtype))
    # x 0.001 is not exact in float32: the input itself differs by rounding, a few pixels may too
    milli = segment(coins.astype(np.float32) * np.float32(0.001), **run).labels
    assert np.mean(milli == ref) > 0.99


def test_the_intensity_range_cuts_hot_pixels_but_keeps_a_photo_range():
    from napari_mmtseg.intensity import intensity_range

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (10000, 3))
    lo, hi = intensity_range(photo, joint=True)
    assert (lo == 0).all() and (hi == 255).all()  # as dividing by 255
    cells = rng.normal(1000, 100, (10000, 1))
    cells[:5] = 60000  # hot pixels
    lo, hi = intensity_range(cells)
    assert hi[0] < 2000 and lo[0] > 500
    lo2, hi2 = intensity_range(cells * 3 + 7)  # a linear rescale moves the range with it
    np.testing.assert_allclose([lo2[0], hi2[0]], [lo[0] * 3 + 7, hi[0] * 3 + 7])


def _cli(src, out, *extra):
    from napari_mmtseg.cli import main

    return main(["segment", str(src), "-o", str(out), "--method", "kmeans", "--set", "k=2", *extra])


def test_cli_grey_alpha_png_and_short_last_axis_tif(tmp_path, capsys):
    import imageio.v3 as iio
    import tifffile

    la = np.stack([(_halves() * 200).astype(np.uint8), np.full((64, 64), 255, np.uint8)], -1)
    la[:8, :, 1] = 0  # a transparent band
    iio.imwrite(tmp_path / "la.png", la)
    assert _cli(tmp_path / "la.png", tmp_path / "la.tif") == 0
    assert tifffile.imread(tmp_path / "la.tif").shape == (64, 64)
    assert "grey + alpha" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "five.tif", _two_channel_halves(5, np.uint16))
    assert _cli(tmp_path / "five.tif", tmp_path / "five_labels.tif") == 0
    assert tifffile.imread(tmp_path / "five_labels.tif").shape == (48, 48)
    assert "--channel-axis none" in capsys.readouterr().err
    assert _cli(tmp_path / "five.tif", tmp_path / "slices.tif", "--channel-axis", "none") == 0
    assert tifffile.imread(tmp_path / "slices.tif").shape == (48, 48, 5)


@pytest.mark.parametrize("kind", ["imagej", "ome"])
def test_cli_reads_the_channel_axis_a_tif_names(tmp_path, capsys, kind):
    import tifffile

    from napari_mmtseg.io import read_image_meta

    cyx = np.moveaxis(_two_channel_halves(2, np.uint16), -1, 0)  # (2, 48, 48)
    src = tmp_path / ("cyx.ome.tif" if kind == "ome" else "cyx.tif")
    tifffile.imwrite(src, cyx, **{kind: True}, metadata={"axes": "CYX"})
    assert _cli(src, tmp_path / "out") == 0
    labels, meta = read_image_meta(next((tmp_path / "out").glob("cyx_labels*")))
    assert labels.shape == (48, 48) and meta.axes == "YX" and labels.max() == 2
    assert "warning" not in capsys.readouterr().err


def test_a_full_range_uint8_photo_is_still_divided_by_255():
    rgb, _ = make_regions(shape=(24, 32), rgb=True)
    rgb[0, 0], rgb[0, 1] = 0, 255
    out = prepare_image(rgb).slice(0)
    np.testing.assert_array_equal(out, rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255))


def test_a_list_of_images_of_different_shapes_names_the_image_at_fault():
    """numpy's "inhomogeneous shape" said nothing of which image differs."""
    images = (np.zeros((24, 32), np.uint8), np.zeros((20, 32), np.uint8))
    with pytest.raises(ValueError, match=r"one shape: image 1 is \(20, 32\), image 0 is"):
        segment(list(images), **KM)
    with pytest.raises(ValueError, match="segment them one by one"):
        prepare_image(images)
    assert segment([images[0], images[0]], **KM).labels.shape == (2, 24, 32)  # one shape: fine


def test_a_lazy_giant_labelled_by_a_model_is_refused_before_any_read(monkeypatch):
    """A model of the giant's dtype brings its intensity range: nothing of the image is
    read, not even the intensity sample, before the memory check refuses it."""
    import napari_mmtseg.memory as memory

    small = (np.random.default_rng(0).random((32, 32)) * 1000).astype(np.uint16)
    model = segment(small, keep_model=True, preset="fast", max_iter=2, device="cpu").model
    monkeypatch.setattr(memory, "available_bytes", lambda device: 16 * 2**30)
    giant = GiantLazy((60000, 60000), np.uint16)
    with pytest.raises(MemoryError, match="60000x60000"):
        segment(giant, model=model, device="cpu")
    assert giant.reads == []
