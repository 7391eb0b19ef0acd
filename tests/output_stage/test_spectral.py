"""The region graph's spectral embedding (output_stage.spectral)."""

import numpy as np
import pytest

from napari_mmtseg.output_stage.maps import channel_histograms
from napari_mmtseg.output_stage.spectral import spectral_embedding


def _blocks(layout, side=20):
    """A piece map of ``side`` x ``side`` blocks with the ids of ``layout``."""
    return np.kron(np.asarray(layout), np.ones((side, side), int))


def _embed(pieces, edges, n_vectors=3):
    hist = channel_histograms(pieces, np.zeros(pieces.shape + (1,)), int(pieces.max()) + 1, 4)
    return spectral_embedding(pieces, edges, hist, 0.0, 5.0, n_vectors)


def _two_groups(side=20):
    """Ids 1, 2, 5, 6 on the left, 3, 4, 7, 8 on the right; a strong wall between them only."""
    pieces = _blocks([[1, 2, 3, 4], [5, 6, 7, 8]], side)
    edges = np.zeros(pieces.shape)
    edges[:, 2 * side - 1 : 2 * side + 1] = 10.0
    return pieces, edges


def test_weakly_parted_regions_lie_close_and_a_strong_wall_sets_them_apart():
    pieces, edges = _two_groups()
    emb = _embed(pieces, edges, n_vectors=1)  # the Fiedler vector
    left, right = emb[[1, 2, 5, 6], 0], emb[[3, 4, 7, 8], 0]
    within = max(np.ptp(left), np.ptp(right))
    across = min(abs(left[:, None] - right[None]).min(), abs(right[:, None] - left[None]).min())
    assert across > 10 * within
    assert not emb[0].any()  # id 0 is no region


def test_coordinates_do_not_depend_on_the_image_size():
    rng = np.random.default_rng(0)
    pieces = _blocks([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], 8)
    edges = rng.uniform(0, 10, pieces.shape)
    twice = np.ones((2, 2))
    small = _embed(pieces, edges)
    large = _embed(np.kron(pieces, twice).astype(int), np.kron(edges, twice))
    sign = np.sign((small * large).sum(axis=0))  # an eigenvector's sign is arbitrary
    np.testing.assert_allclose(small, large * sign, atol=1e-6)


def test_too_few_regions_give_zeros_and_bad_settings_are_refused():
    pieces = _blocks([[1, 2]])
    assert not _embed(pieces, np.zeros(pieces.shape)).any()
    hist = channel_histograms(pieces, np.zeros(pieces.shape + (1,)), 3, 4)
    with pytest.raises(ValueError, match="scale"):
        spectral_embedding(pieces, np.zeros(pieces.shape), hist, 0.0, 0.0, 2)
    with pytest.raises(ValueError, match="n_vectors"):
        spectral_embedding(pieces, np.zeros(pieces.shape), hist, 0.0, 5.0, 0)


def test_large_region_graphs_take_the_sparse_solver_to_the_same_coordinates(monkeypatch):
    import napari_mmtseg.output_stage.spectral as spectral

    rng = np.random.default_rng(1)
    pieces = _blocks(np.arange(1, 49).reshape(6, 8), 6)
    edges = rng.uniform(0, 10, pieces.shape)
    dense = _embed(pieces, edges)
    monkeypatch.setattr(spectral, "_DENSE_UP_TO", 0)
    lanczos = _embed(pieces, edges)
    sign = np.sign((dense * lanczos).sum(axis=0))
    np.testing.assert_allclose(dense, lanczos * sign, atol=1e-5)


def test_strong_walls_give_bounded_coordinates_and_an_untied_region_zeros():
    """A wall of strength 40 or 60 between two groups: the Fiedler eigenvalue (near 0) is
    floored, so both give the same, bounded coordinate; a block walled off so strongly that
    its affinities underflow gets zeros (the dense solver once failed on it)."""
    pieces, edges = _two_groups()
    walls = [_embed(pieces, np.where(edges > 0, wall, 0.0), 1)[:, 0] for wall in (40.0, 60.0)]
    np.testing.assert_allclose(np.abs(walls[0]), np.abs(walls[1]), atol=0.01)
    assert np.abs(walls[0]).max() < 20
    pieces = _blocks([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    edges = np.zeros(pieces.shape)
    edges[19:41, 19:41] = 4000.0  # around (and inside) block 5: exp(-4000 / 5) underflows
    emb = _embed(pieces, edges)
    assert np.isfinite(emb).all() and not emb[5].any() and emb[[1, 9]].any()


def test_the_sparse_solver_gives_the_same_coordinates_every_call(monkeypatch):
    """Lanczos starts from a fixed vector, so a result (and its detail levels) is reproducible
    bit for bit (ARPACK's own random start differs from call to call)."""
    import napari_mmtseg.output_stage.spectral as spectral

    rng = np.random.default_rng(2)
    pieces = _blocks(np.arange(1, 49).reshape(6, 8), 6)
    edges = rng.uniform(0, 10, pieces.shape)
    monkeypatch.setattr(spectral, "_DENSE_UP_TO", 0)
    first = _embed(pieces, edges)
    np.testing.assert_array_equal(_embed(pieces, edges), first)
