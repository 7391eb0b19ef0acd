"""The weak-boundary merge (output_stage.merge): gradients merge, edges and lines stay."""

import numpy as np
import pytest

from napari_mmtseg.output_stage import auto_texture_weight, finish_labels, merge_weak_boundaries
from napari_mmtseg.output_stage.maps import channel_histograms
from napari_mmtseg.output_stage.merge import RegionTerms
from napari_mmtseg.params import make_params

from .cases import grey, textured_halves


def test_bands_cut_into_a_smooth_gradient_merge_but_a_real_edge_stays():
    h, w = 48, 64
    ramp = np.tile(np.linspace(0.0, 0.5, w, dtype=np.float32), (h, 1))
    img = ramp.copy()
    img[:, 40:] += 0.4  # a real edge at x = 40
    bands = np.minimum(np.arange(w) // 8, 7)[None, :].repeat(h, 0)  # 8 bands: cuts in the ramp
    out, info = finish_labels(
        bands, grey(img), output="regions", merge_threshold=3.0, min_region_size=1
    )
    assert info.n_regions == 2, info
    assert out[0, 39] != out[0, 41]
    # without merging every band stays
    _, info0 = finish_labels(bands, grey(img), output="regions", min_region_size=1)
    assert info0.n_regions == 8


@pytest.mark.parametrize("line_first", [True, False])
def test_a_line_is_kept_apart_only_from_what_lies_beyond_it(line_first):
    """A dark vertical line between two bright regions, every boundary weak (edges 0)."""
    pieces = np.full((20, 21), 2)
    pieces[:, :9] = 1 if line_first else 3
    pieces[:, 12:] = 3 if line_first else 1
    feats = np.where(pieces == 2, 10.0, 40.0)[..., None]  # the line (id 2) is darker
    edges = np.zeros(pieces.shape)
    lines = np.zeros((4, 1))
    lines[2] = -1.0  # darker than its surroundings
    out = merge_weak_boundaries(pieces, edges, 1.0, lines=lines, features=feats)
    assert np.unique(out).size == 3
    lines[2] = 1.0  # "brighter than its surroundings": the bright sides are not beyond it
    out = merge_weak_boundaries(pieces, edges, 1.0, lines=lines, features=feats)
    assert np.unique(out).size == 1
    out = merge_weak_boundaries(pieces, edges, 1.0)  # no lines: everything weak merges
    assert np.unique(out).size == 1
    with pytest.raises(ValueError, match="features"):
        merge_weak_boundaries(pieces, edges, 1.0, lines=lines)


def test_a_line_absorbed_by_a_larger_region_of_its_colour_is_no_longer_a_line():
    """D (dark, large) | L (dark line) | C (bright); M (mid-grey) under D only, E (bright) under
    L and C. Once L has joined D, the region D + L is not a line: it may merge with M, which
    never touched L."""
    pieces = np.zeros((30, 30), int)
    pieces[:20, :15] = 1  # D
    pieces[:20, 15:17] = 2  # L
    pieces[:20, 17:] = 3  # C
    pieces[20:, :15] = 4  # M
    pieces[20:, 15:] = 5  # E
    value = np.array([0, 10.0, 10.0, 40.0, 30.0, 40.0])
    lines = np.zeros((6, 1))
    lines[2] = -1.0
    out = merge_weak_boundaries(
        pieces, np.zeros(pieces.shape), 1.0, lines=lines, features=value[pieces][..., None]
    )
    assert np.unique(out).size == 1


def test_pieces_of_two_groups_never_merge():
    pieces = np.where(np.arange(20)[None, :] < 10, 1, 2).repeat(10, 0)
    edges = np.zeros(pieces.shape)
    assert np.unique(merge_weak_boundaries(pieces, edges, 1.0)).size == 1
    apart = np.array([-1, 0, 1])
    assert np.unique(merge_weak_boundaries(pieces, edges, 1.0, keep_apart=apart)).size == 2


def test_texture_is_measured_inside_regions_not_on_their_own_edges():
    """Two flat touching discs of different brightness: their only gradient is their own
    boundary's blur, which must not count as texture."""
    yy, xx = np.mgrid[:40, :60]
    a = (yy - 20) ** 2 + (xx - 20) ** 2 < 13**2
    b = (yy - 20) ** 2 + (xx - 40) ** 2 < 13**2
    img = np.zeros((40, 60), np.float32)
    img[a] = 0.5
    img[b & ~a] = 0.6
    clusters = np.where(a, 1, np.where(b, 2, 0))
    for texture in (0.0, 0.5):
        _, info = finish_labels(
            clusters, img[None], merge_threshold=3, texture=texture, min_region_size=1
        )
        assert info.n_regions == 3, texture


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_texture_term_is_for_colour_images_only(seed):
    """ISBI 2012 EM: the texture term merged textured cells across the edge between them. The
    default (texture_weight None) uses it on colour images only; on grey data two textured
    cells with an edge between them stay apart."""
    x, clusters = textured_halves(seed)
    p = make_params("mmt", "fast")
    assert p.texture_weight is None and auto_texture_weight(x) == 0.0
    kw = dict(merge_threshold=p.merge_threshold, refine=p.refine)
    _, grey_info = finish_labels(clusters, x, texture=p.texture_weight, **kw)
    assert grey_info.n_regions == 2 and grey_info.texture_weight == 0.0
    _, old = finish_labels(clusters, x, texture=0.5, **kw)  # the former default merged them
    assert old.n_regions == 1
    # the same picture as a colour image keeps the texture term (foliage, fabric in photos)
    rgb = np.repeat(x, 3, axis=0)
    assert auto_texture_weight(rgb) == 0.5
    lab, colour = finish_labels(clusters, rgb, texture=None, **kw)
    np.testing.assert_array_equal(lab, finish_labels(clusters, rgb, texture=0.5, **kw)[0])
    assert colour.texture_weight == 0.5


def test_auto_texture_weight_follows_the_colour_decision():
    x = np.random.default_rng(0).random((3, 8, 9)).astype(np.float32)
    assert auto_texture_weight(x) == 0.5 and auto_texture_weight(x, colour=False) == 0.0
    assert auto_texture_weight(x[:2]) == 0.0 and auto_texture_weight(x[:1], colour=None) == 0.0


def _first_merge(pieces, edges, regions=None):
    log = []
    merge_weak_boundaries(pieces, edges, np.inf, log=log, regions=regions)
    return {log[0][0], log[0][1]}


def test_region_terms_merge_alike_colour_distributions_first():
    """Three strips; the 1|2 boundary is a little weaker, but 2 and 3 share their colours."""
    pieces = np.repeat(np.repeat([[1, 2, 3]], 20, axis=0), 20, axis=1)
    edges = np.zeros(pieces.shape)
    edges[:, 19:21] = 4.0  # the 1 | 2 boundary
    edges[:, 39:41] = 5.0  # the 2 | 3 boundary
    rng = np.random.default_rng(1)
    feats = np.where(pieces == 1, 20.0, 60.0) + rng.normal(0, 1, pieces.shape)
    feats[pieces > 1] += np.where(np.arange(pieces.size).reshape(pieces.shape) % 2, 10, -10)[
        pieces > 1
    ]  # 2 and 3: one two-valued speckle, 1: flat and dark
    feats = feats[..., None]
    assert _first_merge(pieces, edges) == {1, 2}
    hist = channel_histograms(pieces, feats, 4, bins=16)
    terms = RegionTerms(hist, weight=40.0, small_area=0.0)
    assert _first_merge(pieces, edges, terms) == {2, 3}


def test_region_terms_merge_a_small_region_first():
    """A large pair with a weak boundary, a small region with a stronger one."""
    pieces = np.ones((40, 60), int)
    pieces[:, 30:] = 2
    pieces[5:9, 5:9] = 3  # 16 px inside region 1
    edges = np.zeros(pieces.shape)
    edges[:, 29:31] = 2.0
    edges[4:10, 4:10] = 3.0  # a stronger boundary around region 3
    feats = np.zeros(pieces.shape + (1,))
    assert _first_merge(pieces, edges) == {1, 2}
    hist = channel_histograms(pieces, feats, 4, bins=4)
    terms = RegionTerms(hist, weight=0.0, small_area=0.03 * pieces.size)
    assert _first_merge(pieces, edges, terms) == {1, 3}


def test_a_merged_region_is_compared_by_the_histogram_of_its_union():
    """Strips of value 20 | 60 | half 20, half 60; no edges: only the histograms order them."""
    pieces = np.repeat(np.repeat([[1, 2, 3]], 10, axis=0), 10, axis=1)
    value = np.where(pieces == 1, 20.0, 60.0)
    value[(pieces == 3) & (np.arange(30)[None, :] % 2 == 0)] = 20.0
    hist = channel_histograms(pieces, value[..., None], 4, bins=2)
    log = []
    terms = RegionTerms(hist, weight=40.0, small_area=0.0)
    merge_weak_boundaries(pieces, np.zeros(pieces.shape), np.inf, log=log, regions=terms)
    assert {log[0][0], log[0][1]} == {2, 3}
    assert log[0][2] == pytest.approx(40.0 * 0.5 * (0.25 / 1.5 + 0.25 / 0.5))
    # then 1 against the union of 2 and 3: a quarter of its pixels at 20, three quarters at 60
    assert log[1][2] == pytest.approx(40.0 * 0.5 * (0.75**2 / 1.25 + 0.75**2 / 0.75))


def test_the_size_term_leaves_a_boundary_weaker_than_the_texture_as_it_is():
    """Textured regions (edges 10 inside), boundaries weaker than that: negative strengths."""
    pieces = np.ones((40, 60), int)
    pieces[:, 30:] = 2
    pieces[5:9, 5:9] = 3  # 16 px inside region 1
    edges = np.full(pieces.shape, 10.0)
    edges[:, 29:31] = 9.0  # 1 | 2: strength 9 - 10 = -1
    edges[4:10, 4:10] = 8.0  # 1 | 3: strength 8 - 10 = -2
    edges[6:8, 6:8] = 10.0  # region 3's own inside
    feats = np.zeros(pieces.shape + (1,))
    hist = channel_histograms(pieces, feats, 4, bins=4)
    terms = RegionTerms(hist, weight=0.0, small_area=0.03 * pieces.size)
    log = []
    merge_weak_boundaries(pieces, edges, np.inf, texture=1.0, log=log, regions=terms)
    assert {log[0][0], log[0][1]} == {1, 3}  # scaled, -2 would have become -0.94 > -1
    assert log[0][2] == pytest.approx(-2.0)


def test_the_spectral_term_adds_the_distance_and_a_union_takes_the_pixel_weighted_mean():
    """Strips of 100, 300 and 100 px at coordinates 0, 1 and 4; no edges, no histogram term."""
    pieces = np.repeat(np.repeat([[1, 2, 2, 2, 3]], 10, axis=0), 10, axis=1)
    hist = channel_histograms(pieces, np.zeros(pieces.shape + (1,)), 4, bins=2)
    coords = np.array([[0.0], [0.0], [1.0], [4.0]])
    terms = RegionTerms(hist, weight=0.0, small_area=0.0, embedding=coords, spectral_weight=2.0)
    log = []
    merge_weak_boundaries(pieces, np.zeros(pieces.shape), np.inf, log=log, regions=terms)
    assert {log[0][0], log[0][1]} == {1, 2} and log[0][2] == pytest.approx(2.0 * 1.0)
    assert log[1][2] == pytest.approx(2.0 * (4.0 - 0.75))  # (0 x 100 + 1 x 300) / 400
