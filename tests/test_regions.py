"""The output stage (regions.py): small pieces, weak boundaries, class count,
clusters vs regions."""
import numpy as np
import pytest

from napari_mmtseg.params import make_params
from napari_mmtseg.regions import (auto_min_region_size, auto_texture_weight, edge_strength,
                                   finish_labels, group_classes, image_features, remove_small_pieces, thin_lines,
                                   summarize_output)


def _grey(img):
    return np.asarray(img, np.float32)[None]  # (1, H, W) in [0, 1]


def test_speckle_is_absorbed_by_the_surrounding_region():
    clusters = np.zeros((40, 40), int)
    clusters[:, 20:] = 1
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 40, 60), rng.integers(0, 40, 60)
    clusters[ys, xs] = 2  # isolated 1-pixel specks of a third cluster
    x = _grey(np.where(np.arange(40)[None, :] < 20, 0.2, 0.8).repeat(40, 0))
    out, info = finish_labels(clusters, x, output="clusters", min_region_size=10)
    assert np.unique(out).size == 2
    assert info.n_pieces_in > 50 and info.n_regions == 2 and info.n_classes == 2
    # each half keeps one class
    assert np.unique(out[:, :19]).size == 1 and np.unique(out[:, 21:]).size == 1


def test_bands_cut_into_a_smooth_gradient_merge_but_a_real_edge_stays():
    h, w = 48, 64
    ramp = np.tile(np.linspace(0.0, 0.5, w, dtype=np.float32), (h, 1))
    img = ramp.copy()
    img[:, 40:] += 0.4  # a real edge at x = 40
    bands = np.minimum(np.arange(w) // 8, 7)[None, :].repeat(h, 0)  # 8 bands: cuts in the ramp
    out, info = finish_labels(bands, _grey(img), output="regions", merge_threshold=3.0,
                              min_region_size=1)
    assert info.n_regions == 2, info
    assert out[0, 39] != out[0, 41]
    # without merging every band stays
    out0, info0 = finish_labels(bands, _grey(img), output="regions", merge_threshold=0.0,
                                min_region_size=1)
    assert info0.n_regions == 8


def test_a_band_of_several_thin_clusters_side_by_side_goes_away():
    # the network's blur of one step edge: four 1-px columns, each a cluster of its own
    # (seen from kim2020 and mmt on a two-tone image), between two large regions
    h, w = 40, 48
    rng = np.random.default_rng(0)
    img = np.where(np.arange(w)[None, :] < 24, 0.3, 0.8).repeat(h, 0)
    img = (img + rng.normal(0, 0.03, img.shape)).astype(np.float32)
    clusters = np.where(np.arange(w)[None, :] < 24, 0, 1).repeat(h, 0)
    for i, col in enumerate(range(22, 26)):
        clusters[:, col] = 2 + i
    for output in ("clusters", "regions"):
        out, info = finish_labels(clusters, _grey(img), output=output, min_region_size=16,
                                  merge_threshold=3.0, refine=True)
        assert info.n_regions == 2 and info.n_classes == 2, info
        assert out[0, 0] != out[0, -1] and (out[:, :22] == out[0, 0]).all()


def test_regions_split_a_class_into_its_connected_parts():
    clusters = np.zeros((30, 30), int)
    clusters[5:10, 5:10] = 1
    clusters[20:25, 20:25] = 1
    x = _grey(np.where(clusters == 1, 0.9, 0.1))
    reg, ri = finish_labels(clusters, x, output="regions", min_region_size=1)
    cls, ci = finish_labels(clusters, x, output="clusters", min_region_size=1)
    assert np.unique(reg).size == 3 and ri.n_regions == 3 and ri.n_classes == 2
    assert np.unique(cls).size == 2 and ci.n_regions == 3
    assert reg[7, 7] != reg[22, 22] and cls[7, 7] == cls[22, 22]


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_n_classes_is_reached_exactly(n):
    rng = np.random.default_rng(1)
    clusters = rng.integers(0, 8, size=(8, 8)).repeat(6, 0).repeat(6, 1)  # 8 clusters in 6x6 blocks
    img = _grey(clusters / 7.0)
    out, info = finish_labels(clusters, img, output="clusters", n_classes=n, min_region_size=1)
    assert np.unique(out).size == n == info.n_classes
    assert f"n_classes={n}" in info.why


def test_more_classes_than_clusters_groups_regions_and_says_when_short():
    clusters = np.zeros((20, 20), int)
    clusters[:, 10:] = 1
    clusters[5:8, 2:5] = 1  # a second region of cluster 1
    img = _grey(np.where(clusters == 1, 0.8, 0.2) + np.where(np.arange(20)[None, :] > 10, 0.1, 0))
    out, info = finish_labels(clusters, img, output="clusters", n_classes=3, min_region_size=1)
    assert np.unique(out).size == 3 and "regions were grouped" in info.why
    out, info = finish_labels(clusters, img, output="clusters", n_classes=9, min_region_size=1)
    assert np.unique(out).size == 3 and "only 3 distinct region" in info.why


def test_small_pieces_keep_the_largest_when_all_are_small():
    pieces = np.arange(1, 17).reshape(4, 4)
    pieces[0, :2] = 1  # piece 1 is the largest (3 px)
    out = remove_small_pieces(pieces, 100)
    assert np.unique(out).tolist() == [1]


def test_group_classes_follows_colour():
    ids = np.array([[0, 1, 2, 3]]).repeat(4, 0)
    feats = np.array([0.0, 1.0, 50.0, 52.0])[ids][..., None]
    g = group_classes(ids, feats, 2)
    assert g[0, 0] == g[0, 1] and g[0, 2] == g[0, 3] and g[0, 0] != g[0, 2]


def test_features_and_edges_have_the_documented_shapes():
    x = np.random.default_rng(0).random((3, 16, 20)).astype(np.float32)
    f = image_features(x)
    assert f.shape == (16, 20, 3) and 0 <= f[..., 0].min() and f[..., 0].max() <= 100  # CIELAB L
    assert edge_strength(f).shape == (16, 20)
    assert image_features(x[:1]).max() <= 100.0


def test_bad_output_mode_is_refused():
    with pytest.raises(ValueError, match="output must be"):
        finish_labels(np.zeros((4, 4), int), np.zeros((1, 4, 4), np.float32), output="instances")


def test_auto_min_region_size_and_summary():
    assert auto_min_region_size(481 * 321) == 31
    assert auto_min_region_size(100) == 16
    _, info = finish_labels(np.zeros((8, 8), int), np.zeros((1, 8, 8), np.float32))
    s = summarize_output([info, info])
    assert s["n_classes"] == 1 and "slice 0" in s["why"] and "classes per slice: 1" in s["why"]


# ---------------------------------------------------------------- faults found in review


def test_pixels_far_from_every_kept_piece_are_still_filled():
    """expand_labels(distance=max(H, W)) left pixels beyond that distance at 0."""
    clusters = np.indices((60, 60)).sum(0) % 2  # a checkerboard: every pixel its own piece
    clusters[:4, :4] = 5  # one 16-pixel piece in a corner
    out = remove_small_pieces(_pieces_of(clusters), 16)
    assert (out > 0).all() and np.unique(out).size == 1
    flat = np.zeros((1, 60, 60), np.float32)
    for by_colour in (False, True):
        lab, info = finish_labels(clusters, flat, min_region_size=16, small_by_colour=by_colour)
        assert (np.bincount(lab.ravel()) >= 16).all()
        lab, info = finish_labels(clusters, flat, min_region_size=16, small_by_colour=by_colour,
                                  merge_threshold=3.0)
        assert info.n_regions == 1 and np.unique(lab).size == 1


def _pieces_of(clusters):
    from napari_mmtseg.regions import _pieces

    return _pieces(clusters)[0]


def test_no_class_vanishes_in_the_last_clean_up_and_the_reason_counts_what_is_left():
    clusters = np.zeros((40, 40), int)
    clusters[10:22, 10:22] = 1  # a 12x12 square ...
    img = np.zeros((40, 40), np.float32)
    img[12:20, 12:20] = 1.0  # ... whose image edge is an 8x8 square: snapping shrinks it
    for n_classes in ("auto", 2):
        lab, info = finish_labels(clusters, img[None], output="clusters", n_classes=n_classes,
                                  min_region_size=100, refine=True)
        assert np.unique(lab).size == 2 == info.n_classes, n_classes
    assert info.why.startswith("n_classes=2")
    _, info = finish_labels(clusters, img[None], min_region_size=100, refine=True)
    assert info.why.startswith("2 of the method's 2 clusters")


def test_a_scribbled_class_is_not_swallowed_by_a_region_it_merges_with():
    clusters = np.zeros((30, 30), int)
    clusters[10:20, 10:16] = 1  # a small scribbled cluster inside a large unscribbled one
    flat = np.full((1, 30, 30), 0.5, np.float32)  # no edge anywhere: they merge
    lab, _ = finish_labels(clusters, flat, output="clusters", merge_threshold=3, min_region_size=1,
                           keep_ids=True, keep_apart=(1,))
    assert set(np.unique(lab)) == {1}  # the merged region takes the scribbled class
    clusters[:, 25:] = 2  # two scribbled classes never merge with each other
    lab, _ = finish_labels(clusters, flat, output="clusters", merge_threshold=3, min_region_size=1,
                           keep_ids=True, keep_apart=(1, 2))
    assert set(np.unique(lab)) == {1, 2}


def _background_and_nuclei():
    """Background (cluster 0, unscribbled), a dim nucleus A and a bright nucleus B
    (cluster 2, scribbled in B only) and a background scribble's own small cluster 1."""
    img = np.full((60, 60), 0.2, np.float32)
    clusters = np.zeros((60, 60), int)
    img[30:40, 30:40], clusters[30:40, 30:40] = 0.25, 2  # A: a weak boundary to the background
    img[45:55, 45:55], clusters[45:55, 45:55] = 0.8, 2  # B
    img[5:11, 5:11], clusters[5:11, 5:11] = 0.5, 1  # the background scribble's cluster
    marks = np.full((60, 60), -1)  # the cluster of the class scribbled at each pixel
    marks[48:52, 48:52], marks[7:9, 7:9] = 2, 1
    return clusters, _grey(img), marks


def test_a_large_unmarked_region_keeps_its_class_after_merging_with_a_scribbled_one():
    # seen on a bbbc039 field with generated scribbles: the background merged with one dim
    # nucleus of the scribbled nucleus class and took that class, so the image became one class
    clusters, x, marks = _background_and_nuclei()
    lab, _ = finish_labels(clusters, x, output="clusters", merge_threshold=3, min_region_size=1,
                           keep_ids=True, keep_apart=(1, 2), scribbled_pixels=marks)
    assert lab[0, 0] == 0 and lab[50, 50] == 2 and lab[8, 8] == 1
    assert lab[35, 35] == 0  # A merged into the background, which kept the background's class


def test_a_region_takes_the_class_the_user_scribbled_not_the_one_predicted_there():
    clusters = np.zeros((40, 40), int)
    clusters[:, 20:] = 1
    clusters[18:23, 8:13] = 1  # the method says B under the user's A scribble
    x = (clusters[None] * 0.5).astype(np.float32)
    x[0, 18:23, 8:13] = 0  # and the image says A there
    marks = np.full((40, 40), -1)
    marks[18:23, 8:13] = 0  # the user scribbled class A (cluster 0)
    lab, _ = finish_labels(clusters, x, output="clusters", keep_ids=True, keep_apart=(0, 1),
                           scribbled_pixels=marks, min_region_size=30)
    assert set(np.unique(lab[:, :20])) == {0} and set(np.unique(lab[:, 21:])) == {1}


def test_transition_bands_never_drop_every_piece_when_ids_have_gaps():
    clusters = np.zeros((6, 6), int)
    clusters[:3, 3:], clusters[3:, :3], clusters[3:, 3:] = 1, 2, 3
    img = np.array([0, 0.001, 0.051, 0.05])[clusters].astype(np.float32)
    clusters[0, 4] = 7  # a 1-px speck, absorbed first: the ids have a gap
    lab, info = finish_labels(clusters, _grey(img), output="clusters", min_region_size=2,
                              refine=True, snap=0)
    assert info.n_classes == 4 and np.unique(lab).size == 4


def test_texture_is_measured_inside_regions_not_on_their_own_edges():
    """Two flat touching discs of different brightness: their only gradient is their
    own boundary's blur, which must not count as texture."""
    yy, xx = np.mgrid[:40, :60]
    a = (yy - 20) ** 2 + (xx - 20) ** 2 < 13 ** 2
    b = (yy - 20) ** 2 + (xx - 40) ** 2 < 13 ** 2
    img = np.zeros((40, 60), np.float32)
    img[a] = 0.5
    img[b & ~a] = 0.6
    clusters = np.where(a, 1, np.where(b, 2, 0))
    for texture in (0.0, 0.5):
        _, info = finish_labels(clusters, img[None], merge_threshold=3, texture=texture,
                                min_region_size=1)
        assert info.n_regions == 3, texture


def test_any_ids_in_and_the_methods_own_ids_out():
    clusters = np.full((20, 20), -7)
    clusters[:, 10:] = 3_000_000_000
    img = np.where(clusters > 0, 0.9, 0.1).astype(np.float32)[None]
    lab, info = finish_labels(clusters, img, output="clusters", min_region_size=1)
    assert set(np.unique(lab)) == {0, 1} and info.n_clusters_in == 2
    lab, _ = finish_labels(np.where(clusters > 0, 70000, 5), img, output="clusters",
                           min_region_size=1, keep_ids=True)
    assert set(np.unique(lab)) == {5, 70000}


# ---------------------------------------------------------------- thin lines (EM membranes)


def _membrane_grid(seed, contrast=0.2, texture=0.03, size=160, cell=40):
    """A 4 x 4 grid of textured cells (0.7 +- ``texture``) separated by 3 px
    membranes ``contrast`` darker, as on an EM section; the cluster map has
    the membrane as one cluster and each cell cut into two speckle clusters."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal((size, size)), 1.5)
    img = 0.7 + texture * noise / noise.std()
    mem = np.zeros((size, size), bool)
    for k in range(0, size, cell):
        mem[k:k + 3, :] = True
        mem[:, k:k + 3] = True
    img[mem] = 0.7 - contrast
    clusters = np.where(mem, 0, 1 + (img > 0.7))
    return np.clip(img, 0, 1)[None].astype(np.float32), clusters, mem


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_membranes_keep_the_cells_they_separate_apart(seed):
    """ISBI 2012 EM: the texture-aware merge joined the membrane network to the
    cells (a whole section became one object, instance F1 0.065)."""
    x, clusters, mem = _membrane_grid(seed)
    lab, info = finish_labels(clusters, x, merge_threshold=3.0, texture=0.5, refine=True)
    centres = lab[20::40, 20::40]
    assert np.unique(centres).size == 16  # every cell its own region
    assert not np.isin(lab[mem], centres).mean() > 0.05  # the membrane is none of them


def test_thin_lines_are_networks_not_blobs_or_lone_streaks():
    x, clusters, mem = _membrane_grid(0)
    pieces = _pieces_of(np.where(mem, 0, 1 + np.arange(160)[:, None] // 40 * 4
                                 + np.arange(160)[None, :] // 40))
    lines = thin_lines(pieces, image_features(x), 8.0, contrast=15.0)
    membrane = np.unique(pieces[mem])
    assert lines[membrane].any(1).all() and np.allclose(lines[membrane, 0], -1.0)  # darker
    assert not lines[np.setdiff1d(np.unique(pieces), membrane)].any()  # the cells are not lines
    # a dark streak inside one region separates nothing: not a line
    img = np.full((1, 60, 60), 0.7, np.float32)
    img[0, 30:32, 10:50] = 0.2
    streak = np.ones((60, 60), int)
    streak[30:32, 10:50] = 2
    assert not thin_lines(streak, image_features(img), 8.0, contrast=15.0).any()


def test_a_small_piece_joins_the_neighbour_of_its_colour():
    """A 2 x 6 fragment of a dark line lies between a bright region and the dark
    line's main piece; its pixels used to go to the nearest larger piece by
    distance (mostly the bright one), cutting the line."""
    pieces = np.ones((20, 20), int)  # bright
    pieces[:, 12:] = 2  # dark
    pieces[5:7, 6:12] = 3  # a dark fragment reaching deep into the bright region
    feats = np.where(np.isin(pieces, (2, 3)), 10.0, 90.0)[..., None]
    out = remove_small_pieces(pieces, 16, features=feats)
    assert (out[5:7, 6:12] == out[0, 19]).all() and out[0, 0] != out[0, 19]
    old = remove_small_pieces(pieces, 16)
    assert (old[5:7, 6:9] == old[0, 0]).all()  # the distance rule, for comparison


@pytest.mark.parametrize("line_first", [True, False])
def test_a_line_is_kept_apart_only_from_what_lies_beyond_it(line_first):
    """A dark vertical line between two bright regions, every boundary weak (edges 0)."""
    from napari_mmtseg.regions import merge_weak_boundaries

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


def test_a_line_absorbed_by_a_larger_region_of_its_colour_is_no_longer_a_line():
    """D (dark, large) | L (dark line) | C (bright); M (mid-grey) under D only, E (bright)
    under L and C. Once L has joined D, the region D + L is not a line: it may merge
    with M, which never touched L (it used to inherit L's rule and refuse M)."""
    from napari_mmtseg.regions import merge_weak_boundaries

    pieces = np.zeros((30, 30), int)
    pieces[:20, :15] = 1  # D
    pieces[:20, 15:17] = 2  # L
    pieces[:20, 17:] = 3  # C
    pieces[20:, :15] = 4  # M
    pieces[20:, 15:] = 5  # E
    value = np.array([0, 10.0, 10.0, 40.0, 30.0, 40.0])
    lines = np.zeros((6, 1))
    lines[2] = -1.0
    out = merge_weak_boundaries(pieces, np.zeros(pieces.shape), 1.0, lines=lines,
                                features=value[pieces][..., None])
    assert np.unique(out).size == 1


def _textured_halves(seed, step=0.12, amplitude=0.12, n=96, margin=8):
    """Two halves of a textured field (cell interiors, chromatin) whose means differ by ``step``,
    smooth within ``margin`` px of the edge between them (so the edge's strength does not depend
    on the noise); the cluster map is the two halves."""
    from scipy import ndimage as ndi

    noise = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal((n, n)), 1.0)
    col = np.arange(n)[None, :]
    left = np.broadcast_to(col < n // 2, (n, n))
    inside = np.broadcast_to(np.abs(col - n // 2 + 0.5) > margin, (n, n))
    img = np.where(left, 0.4, 0.4 + step) + np.where(inside, amplitude * noise / noise.std(), 0)
    return np.clip(img, 0, 1)[None].astype(np.float32), np.where(left, 0, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_texture_term_is_for_colour_images_only(seed):
    """ISBI 2012 EM: the texture term merged textured cells across the edge between them (object
    F1 0.39 with it, 0.57 without). The default (texture_weight None) uses it on colour images
    only; on grey data two textured cells with an edge between them stay apart."""
    x, clusters = _textured_halves(seed)
    p = make_params("mmt", "fast")
    assert p.texture_weight is None and auto_texture_weight(x) == 0.0
    kw = dict(merge_threshold=p.merge_threshold, refine=p.refine)
    _, grey = finish_labels(clusters, x, texture=p.texture_weight, **kw)
    assert grey.n_regions == 2 and grey.texture_weight == 0.0
    _, old = finish_labels(clusters, x, texture=0.5, **kw)  # the former default merged them
    assert old.n_regions == 1
    # the same picture as a colour image keeps the texture term (foliage, fabric in photos)
    rgb = np.repeat(x, 3, axis=0)
    assert auto_texture_weight(rgb) == 0.5
    lab, colour = finish_labels(clusters, rgb, texture=None, **kw)
    np.testing.assert_array_equal(lab, finish_labels(clusters, rgb, texture=0.5, **kw)[0])
    assert colour.texture_weight == 0.5


def test_three_channels_are_colour_unless_told_otherwise():
    rng = np.random.default_rng(0)
    x = rng.random((3, 8, 9)).astype(np.float32)
    np.testing.assert_allclose(image_features(x, colour=False), np.moveaxis(x, 0, -1) * 100)
    assert not np.allclose(image_features(x), image_features(x, colour=False))  # CIELAB
    assert auto_texture_weight(x) == 0.5 and auto_texture_weight(x, colour=False) == 0.0
    assert auto_texture_weight(x[:2]) == 0.0 and auto_texture_weight(x[:1], colour=None) == 0.0



def _membrane_grid_with_a_dark_cell():
    """3 x 3 bright cells (cluster 0) in a network of dark 3 px membranes (cluster 1); the
    centre cell is grey, and the network put most of it in the membranes' cluster 1, with a
    rim of its own cluster 2 (an EM cell whose interior is as dark as its membrane)."""
    img = np.full((72, 72), 0.1)
    clusters = np.ones((72, 72), int)
    for i in range(3):
        for j in range(3):
            cell = np.s_[3 + 23 * i: 23 + 23 * i, 3 + 23 * j: 23 + 23 * j]
            img[cell], clusters[cell] = 0.8, 0
    img[26:46, 26:46], clusters[26:46, 26:46], clusters[28:44, 28:44] = 0.4, 2, 1
    return img[None], clusters


def test_a_cell_of_the_membranes_class_stays_apart_from_the_membranes():
    """The thin-line rule keeps the membrane network apart from the cells; the last step used
    to undo that for a cell of the same class as the membranes (the connected parts of each
    class), joining the grey cell to the network. Now a line and a region that is not one
    never join there (``join_regions="lines_apart"``); ``"class"`` is the old behaviour."""
    x, clusters = _membrane_grid_with_a_dark_cell()
    kw = dict(merge_threshold=3, refine=True, texture=None)
    lab, info = finish_labels(clusters, x, **kw)
    assert info.n_regions == 10 and info.n_classes == 2  # 8 bright cells, the network, the grey cell
    assert len({lab[36, 36], lab[24, 36], lab[10, 10]}) == 3
    lab, info = finish_labels(clusters, x, join_regions="class", **kw)
    assert info.n_regions == 9 and lab[36, 36] == lab[24, 36]
    lab, info = finish_labels(clusters, x, join_regions="stage", **kw)
    assert info.n_regions == 10
    # without merging there is no thin-line rule to keep: the connected parts of each class
    no_merge = {**kw, "merge_threshold": 0}
    assert (finish_labels(clusters, x, **no_merge)[1].n_regions
            == finish_labels(clusters, x, join_regions="class", **no_merge)[1].n_regions)
    lab, info = finish_labels(clusters, x, output="clusters", **kw)  # classes are unchanged
    assert lab[36, 36] == lab[24, 36] != lab[10, 10]
    with pytest.raises(ValueError, match="join_regions"):
        finish_labels(clusters, x, join_regions="lines", **kw)


def test_regions_of_one_class_that_touch_after_the_last_clean_up_are_one():
    """The last clean-up gives small fragments to a neighbour; two regions of one class (neither
    a line) that touch once a fragment between them is gone must become one region, as with the
    connected parts of each class (a smoothed-noise image with dark 2 px lines where they did
    not: same class, touching, two ids)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(7)
    img = ndi.gaussian_filter(rng.random((64, 64)), 3)
    img = (img - img.min()) / (img.max() - img.min())
    for r in rng.integers(5, 60, 3):
        img[r:r + 2, :] = 0.0
    for c in rng.integers(5, 60, 3):
        img[:, c:c + 2] = 0.0
    img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
    clusters = np.digitize(img, np.quantile(img, [0.2, 0.4, 0.6, 0.8]))
    kw = dict(merge_threshold=1.0, refine=True, texture=None, min_region_size=40)
    lab, _ = finish_labels(clusters, img[None], **kw)
    cls, _ = finish_labels(clusters, img[None], output="clusters", **kw)
    line = thin_lines(lab + 1, image_features(img[None]), 8.0).any(1)[1:]
    a = np.concatenate([lab[:, :-1].ravel(), lab[:-1].ravel()])
    b = np.concatenate([lab[:, 1:].ravel(), lab[1:].ravel()])
    same = (a != b) & (np.concatenate([cls[:, :-1].ravel(), cls[:-1].ravel()])
                       == np.concatenate([cls[:, 1:].ravel(), cls[1:].ravel()]))
    assert all(line[p] != line[q] for p, q in zip(a[same], b[same]))
