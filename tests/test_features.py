"""Image features shared by training and the output stage (features.py)."""

import numpy as np

from napari_mmtseg.features import edge_strength, image_features, is_colour


def test_features_and_edges_have_the_documented_shapes():
    x = np.random.default_rng(0).random((3, 16, 20)).astype(np.float32)
    f = image_features(x)
    assert f.shape == (16, 20, 3) and f.dtype == np.float32
    assert 0 <= f[..., 0].min() and f[..., 0].max() <= 100  # CIELAB L
    assert edge_strength(f).shape == (16, 20)
    assert image_features(x[:1]).max() <= 100.0


def test_three_channels_are_colour_unless_told_otherwise():
    x = np.random.default_rng(0).random((3, 8, 9)).astype(np.float32)
    np.testing.assert_allclose(image_features(x, colour=False), np.moveaxis(x, 0, -1) * 100)
    assert not np.allclose(image_features(x), image_features(x, colour=False))  # CIELAB
    assert is_colour(x, None) and not is_colour(x, False) and not is_colour(x[:2], True)


def test_edges_are_zero_on_a_flat_image_and_peak_on_a_step():
    assert not edge_strength(np.full((10, 12, 1), 40.0)).any()
    step = np.where(np.arange(30)[None, :] < 15, 0.0, 100.0).repeat(20, 0)[..., None]
    mag = edge_strength(step, sigma=1.0)
    assert set(np.argmax(mag, axis=1)) <= {14, 15}
