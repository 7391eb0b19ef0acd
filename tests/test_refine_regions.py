"""Refine, regions output: the ids of the freed pixels (refine_regions)."""

import numpy as np

from napari_mmtseg.refine_ids import Classes
from napari_mmtseg.refine_regions import join_or_new, split_apart_ids


def test_a_region_the_networks_moved_as_a_whole_keeps_its_id_and_shape():
    """A nucleus no stroke touched, whose pixels the refined networks gave for the most part
    to a stroke's class (a look-alike of a new object painted elsewhere) with no painted
    region of that class beside it, stays one instance under its id: it was split into a
    fresh id over most of it and its old id on a rim sliver."""
    labels = np.ones((40, 40), np.int64)  # 1: background, class 0
    labels[5:17, 5:17] = 2  # the untouched nucleus, class 1
    labels[25:35, 25:35] = 3  # the nucleus a new id (100) was painted in, class 1
    after = np.zeros_like(labels)
    after[labels == 2] = 5  # the networks moved the untouched nucleus to the new id's class
    after[5:17, 5] = 1  # ... all but a rim column, left in its old class
    after[labels == 3] = 5
    free = labels == 2
    out = labels.copy()
    out[25:35, 25:35] = 100
    sc = np.where(free, -1, after)
    classes = Classes(np.array([1, 2, 3]), np.array([0, 1, 1]), np.bincount(after.ravel()))
    biggest = {0: int((labels == 1).sum()), 1: 144}
    reach = {100: ({3}, 100)}
    join_or_new(out, free, after, sc, labels, after, classes, {100}, {5}, biggest, reach)
    np.testing.assert_array_equal(out[labels == 2], 2)
    np.testing.assert_array_equal(out[labels == 1], 1)


def test_a_moved_part_of_the_background_is_still_a_new_object():
    """A missed nucleus inside the background (a small part of it) that the networks moved
    to the nucleus class gets an id of its own, as before."""
    labels = np.ones((60, 60), np.int64)
    labels[5:15, 5:15] = 2
    after = np.zeros_like(labels)
    after[labels == 2] = 1
    after[40:52, 40:52] = 1  # the missed nucleus, in the background region
    free = after != np.where(labels == 2, 1, 0)
    out = labels.copy()
    sc = np.where(free, -1, after)
    classes = Classes(np.array([1, 2]), np.array([0, 1]), np.bincount(after.ravel()))
    join_or_new(out, free, after, sc, labels, after, classes, {2}, {1}, {0: 3500, 1: 100}, {})
    new = np.unique(out[40:52, 40:52])
    assert new.size == 1 and new[0] not in (1, 2)
    assert (out[labels == 2] == 2).all()


def test_many_missed_nuclei_in_one_region_each_become_an_object():
    """Moved pieces that together cover most of a coarse region are still each a new object
    (only one piece holding most of the region means the region moved as a whole)."""
    labels = np.ones((44, 44), np.int64)
    after = np.zeros_like(labels)
    for y in range(2, 42, 10):
        for x in range(2, 42, 10):
            after[y : y + 8, x : x + 8] = 1  # 16 nuclei of 64 px: 1024 of 1760 px
    labels[:, 40:] = 2  # a second region, kept
    free = labels == 1  # the whole coarse region is relabelled
    out = labels.copy()
    sc = np.where(free, -1, after)
    classes = Classes(np.array([1, 2]), np.array([0, 0]), np.bincount(after.ravel()))
    join_or_new(out, free, after, sc, labels, after, classes, set(), {1}, {0: 1760, 1: 64}, {})
    nuclei = after == 1
    assert np.unique(out[nuclei]).size == 16 and not np.isin(out[nuclei], [1, 2]).any()
    assert (out[free & ~nuclei] == 1).all()


def _grazed(stroke_cols):
    """A large region 1 beside a smaller region 2 that a stroke of id 2 runs into (columns
    ``stroke_cols`` of region 1); the networks moved all of region 1 to region 2's class."""
    labels = np.ones((60, 80), np.int64)
    labels[:, 60:] = 2
    strokes = np.zeros_like(labels)
    strokes[20:40, stroke_cols] = 2
    after = np.ones_like(labels)  # every pixel in region 2's class (1); region 1's was 0
    free = (labels == 1) & (strokes == 0)
    out = np.where(strokes > 0, strokes, labels)
    sc = np.where(free, -1, after)
    classes = Classes(np.array([1, 2]), np.array([0, 1]), np.bincount(after.ravel()))
    on = strokes > 0
    stroked_on = {(2, 1): int(on.sum())}
    join_or_new(
        out, free, after, sc, labels, after, classes, {2}, {1}, {0: 3600, 1: 1200}, {}, stroked_on
    )
    return labels, strokes, out


def test_a_large_region_a_stroke_of_a_smaller_region_grazes_keeps_its_id():
    """A stroke of region 2's id that runs 4 px into a larger region 1 (80 of its 3,600
    px): the networks, unable to tell the two apart, moved all of region 1 to region 2's
    class, and region 1 was poured into region 2 (BSDS500 val 126007: covering 0.79 ->
    0.60 in one round). The stroke's pixels change; the region keeps its id."""
    labels, strokes, out = _grazed(slice(56, 60))
    np.testing.assert_array_equal(out[(labels == 1) & (strokes == 0)], 1)
    np.testing.assert_array_equal(out[strokes > 0], 2)


def test_a_large_region_a_stroke_of_a_smaller_region_crosses_joins_it():
    """The same stroke across region 1 (800 px, over 5% of it) says "this is region 2"."""
    labels, strokes, out = _grazed(slice(20, 60))
    np.testing.assert_array_equal(out, 2)


def test_an_id_in_pieces_is_one_id_a_piece_unless_painted():
    """The largest piece keeps its id, the others take fresh ones; a painted id (the
    user's own merge) keeps its pieces; 0 is left alone."""
    out = np.zeros((10, 20), np.int64)
    out[0:4, 0:4], out[6:10, 0:2] = 3, 3  # id 3 in two pieces, the first larger
    out[0:2, 8:10], out[5:10, 8:12] = 5, 5  # id 5 too, the second larger
    out[0:3, 15:18], out[7:10, 15:18] = 7, 7  # id 7, painted
    strokes = np.zeros_like(out)
    strokes[0, 15] = 7
    split_apart_ids(out, strokes, (), None)
    assert (out[0:4, 0:4] == 3).all() and (out[5:10, 8:12] == 5).all()
    assert {int(out[6, 0]), int(out[0, 8])} == {8, 9}  # above every id in use
    assert (out[0:3, 15:18] == 7).all() and (out[7:10, 15:18] == 7).all()
    assert (out[4, :] == 0).all()


def test_pieces_touching_across_z_are_one_object_frames_are_not():
    """In a Z stack an id is one object if its pieces touch across neighbouring slices; in
    a time-lapse each frame's pieces are apart (ids are unique over the stack)."""
    vol = np.ones((3, 8, 8), np.int64)
    vol[:, 2:5, 2:5] = 2  # an object through Z: one piece in 3D
    vol[1, 2:5, 2:5] = 9  # ... cut in the middle by a new id
    strokes = np.zeros_like(vol)
    strokes[1, 3, 3] = 9
    z = vol.copy()
    split_apart_ids(z, strokes, (3,), 1)
    assert (z[0, 2:5, 2:5] == 2).all() and (z[1, 2:5, 2:5] == 9).all()
    assert z[2, 3, 3] not in (1, 2, 9)  # the piece apart from id 2's first
    t = np.ones((2, 8, 8), np.int64)
    t[0, 1:3, 1:3], t[0, 5:7, 5:7], t[1, 1:3, 1:3] = 4, 4, 6
    split_apart_ids(t, np.zeros_like(t), (2,), None)  # per frame
    assert t[0, 1, 1] != t[0, 5, 5] and (t[1, 1:3, 1:3] == 6).all()
    assert len({int(t[0, 1, 1]), int(t[0, 5, 5])} - {4}) == 1
