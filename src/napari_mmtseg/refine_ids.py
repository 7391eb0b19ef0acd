"""The ids of a refine: the class of each region and stroke, and the labels rebuilt.

Used by :mod:`napari_mmtseg.refine` on one 2D slice at a time. A region's class is its
majority network channel; a stroke's is the class of the region whose id it paints, a
free channel for a new id, or (erased pixels) the class of the nearest other region.
Plain numpy, scipy and scikit-image, no torch, no Qt.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as connected

from .output_stage.maps import majority
from .refine_looks import alike_looks
from .refine_regions import (
    JOIN_SHARE,
    absorb_cut_off,
    join_or_new,
    new_id_reach,
    split_at_new_strokes,
)

__all__ = [
    "Classes",
    "StrokeClasses",
    "TAKEN_OVER",
    "channel_ids",
    "class_of_regions",
    "eraser_strokes",
    "keep_grazed",
    "reach_of",
    "rebuild",
    "stroked_regions",
    "stroke_classes",
    "taken_over_counts",
]

_ERASED = -1  # refine.ERASED (not imported: refine imports this module)

#: a region that no stroke touched is relabelled when the refined networks give more than
#: this share of its pixels to a stroked class other than its own
TAKEN_OVER = 1 / 3


class Classes(NamedTuple):
    """The class of every region of a label map.

    Attributes
    ----------
    ids : numpy.ndarray of shape (R,), int64
        The sorted region ids.
    cls : numpy.ndarray of shape (R,), int64
        The majority network channel of each.
    used : numpy.ndarray of shape (q,), int64
        Pixels of each channel in the channel map.
    """

    ids: np.ndarray
    cls: np.ndarray
    used: np.ndarray

    def of(self, ids) -> np.ndarray:
        """The class of region ids (all present in :attr:`ids`).

        Parameters
        ----------
        ids : array_like of int
            Region ids.

        Returns
        -------
        numpy.ndarray of int64
            Their channels, ``ids``' shape.
        """
        return self.cls[np.searchsorted(self.ids, ids)]


def class_of_regions(labels: np.ndarray, channels: np.ndarray, q: int) -> Classes:
    """The majority channel of every region of ``labels``.

    Parameters
    ----------
    labels : numpy.ndarray of shape (H, W), int
        Region ids.
    channels : numpy.ndarray of shape (H, W), int
        Network channel per pixel (0..q-1).
    q : int
        Network channels.

    Returns
    -------
    Classes
        Ids, classes and channel counts.
    """
    ids, inv = np.unique(labels, return_inverse=True)
    ch = np.asarray(channels, np.int64).ravel()
    cls = majority(inv.ravel(), ch, q, ids.size)
    return Classes(ids.astype(np.int64), cls, np.bincount(ch, minlength=q))


def eraser_strokes(labels, strokes) -> np.ndarray:
    """The strokes with each eraser swath kept on the regions it erases only.

    A swath (connected erased pixels of one 2D slice) erases the region it covers the most
    pixels of, and every region it covers at least half of (a small region inside the
    erased one): an eraser run over a nucleus and on into the background says "not this
    nucleus", not "not the background", so its pixels on the other regions are no strokes
    (they neither train nor count as correcting their region).

    Parameters
    ----------
    labels : numpy.ndarray of int
        The result's ids, 2D or a stack (the last two axes are a slice's rows and columns).
    strokes : numpy.ndarray of int
        ``labels``' shape: 0 none, > 0 a painted id, -1 erased.

    Returns
    -------
    numpy.ndarray of int64
        ``strokes`` with the erased pixels off each swath's regions set to 0.
    """
    labels, out = np.asarray(labels, np.int64), np.array(strokes, np.int64)
    for lead in np.ndindex(labels.shape[:-2]):
        lab, st = labels[lead], out[lead]
        swaths, n = ndi.label(st == _ERASED)
        if not n:
            continue
        on = swaths > 0
        key = swaths[on].astype(np.int64) * (int(lab.max()) + 1) + lab[on]  # (swath, region)
        keys, count = np.unique(key, return_counts=True)
        w, rid = np.divmod(keys, int(lab.max()) + 1)
        erases = count / np.bincount(lab.ravel())[rid] >= 0.5
        order = np.lexsort((rid, -count, w))  # per swath: the region with most pixels first
        erases[order[np.r_[True, w[order[1:]] != w[order[:-1]]]]] = True
        drop = np.zeros(on.shape, bool)
        drop[on] = ~np.isin(key, keys[erases])
        st[drop] = 0
    return out


def _erased_targets(labels, strokes) -> np.ndarray:
    """For every erased pixel, the id of the nearest pixel of another region in its own 2D
    slice (-1 elsewhere): a stack's slices are searched one by one, as they are rebuilt."""
    labels, strokes = np.asarray(labels), np.asarray(strokes)
    if labels.ndim > 2:
        out = np.full(labels.shape, -1, np.int64)
        for lead in np.ndindex(labels.shape[:-2]):
            out[lead] = _erased_targets(labels[lead], strokes[lead])
        return out
    out = np.full(labels.shape, -1, np.int64)
    erased = strokes == _ERASED
    for rid in np.unique(labels[erased]):
        other = (labels != rid) & ~erased
        if not other.any():
            continue
        idx = ndi.distance_transform_edt(~other, return_distances=False, return_indices=True)
        here = erased & (labels == rid)
        out[here] = labels[tuple(i[here] for i in idx)]
    return out


class StrokeClasses(NamedTuple):
    """The training classes of a refine's strokes.

    Attributes
    ----------
    chans : numpy.ndarray of shape (K,), int64
        The network channel of each training class (sorted).
    plane : numpy.ndarray of int64
        The strokes' shape: training class index per pixel (-1: no stroke).
    sids : numpy.ndarray of shape (S,), int64
        The painted ids (sorted).
    sid_chans : numpy.ndarray of shape (S,), int64
        The channel of each.
    info : dict
        ``stroked_ids`` (existing ids painted), ``new_ids`` and ``erased_pixels``.
    """

    chans: np.ndarray
    plane: np.ndarray
    sids: np.ndarray
    sid_chans: np.ndarray
    info: dict

    def target(self) -> np.ndarray:
        """The channel of each stroked pixel, -1 elsewhere.

        Returns
        -------
        numpy.ndarray of int64
            :attr:`plane`'s shape.
        """
        return np.where(self.plane >= 0, self.chans[np.maximum(self.plane, 0)], -1)


def stroke_classes(labels, strokes, classes: Classes) -> StrokeClasses:
    """The training classes of the strokes of one slice.

    Parameters
    ----------
    labels : numpy.ndarray of int
        The result's ids (2D, or a stack).
    strokes : numpy.ndarray of int
        ``labels``' shape: 0 none, > 0 a painted id, -1 erased.
    classes : Classes
        The regions' classes (:func:`class_of_regions`).

    Returns
    -------
    StrokeClasses
        The classes, per pixel and per painted id.
    """
    painted = strokes > 0
    sids = np.unique(strokes[painted])
    known = np.isin(sids, classes.ids)
    chan = np.zeros(sids.size, np.int64)
    chan[known] = classes.of(sids[known])
    free = np.setdiff1d(np.arange(classes.used.size), classes.cls)
    free = free[np.argsort(classes.used[free], kind="stable")]  # the least used first
    fallback = np.argsort(classes.used, kind="stable")
    pool = np.concatenate([free, fallback])
    chan[~known] = pool[: int((~known).sum())]
    target = np.full(labels.shape, -1, np.int64)
    target[painted] = chan[np.searchsorted(sids, strokes[painted])]
    near = _erased_targets(labels, strokes)
    hit = near >= 0
    target[hit] = classes.of(near[hit])
    chans = np.unique(target[target >= 0])
    plane = np.where(target >= 0, np.searchsorted(chans, target), -1)
    info = {
        "stroked_ids": sids[known].tolist(),
        "new_ids": sids[~known].tolist(),
        "erased_pixels": int((strokes == _ERASED).sum()),
    }
    return StrokeClasses(chans, plane, sids, chan, info)


def _seed_classes(out, free, strokes, classes, sc_: StrokeClasses) -> np.ndarray:
    """Class of every fixed pixel (kept regions, painted pixels); -1 on free pixels."""
    sc = np.full(out.shape, -1, np.int64)
    kept = ~free & (strokes <= 0)
    sc[kept] = classes.of(out[kept])
    painted = strokes > 0
    sc[painted] = sc_.sid_chans[np.searchsorted(sc_.sids, strokes[painted])]
    return sc


def _by_channel(out, free, clean, classes, changed, sc_: StrokeClasses, q, channel_map, given):
    """Clusters output: free pixels take the id of their channel's class
    (:func:`channel_ids`; ``channel_map``: a map made over a whole stack, or None), but for
    the pieces a stroke only grazes (:func:`keep_grazed`; ``given``: the slice's labels,
    strokes, and the painted ids whose strokes look like another's)."""
    if channel_map is None:
        top = int(max(out.max(), classes.ids.max()))
        channel_map = channel_ids([classes], changed, sc_, q, top)
    ids = channel_map[clean]
    keep_grazed(ids, out, free, *given)
    out[free] = ids[free]


def keep_grazed(ids, out, free, labels, strokes, split=()) -> None:
    """Clusters output: the pieces of a class that a stroke only grazes keep their id.

    A class spans the image, so the rule that keeps a region a stroke grazes in regions
    output (:data:`~napari_mmtseg.refine_regions.JOIN_SHARE`) is applied to each piece of
    a class (its connected pixels) that strokes of other ids paint: the free pixels of the
    piece that would take an existing id ``X`` keep the piece's old id when they are more
    than half the piece and more than ``X``'s fixed pixels (kept and painted) and ``X``'s
    strokes cover less than :data:`~napari_mmtseg.refine_regions.JOIN_SHARE` of the piece.
    A corner of the background painted with the nuclei's id names the corner, it does not
    pour the background into the nuclei. The pieces no stroke paints (the look-alikes a
    correction travels to), the pixels that would take a new id (a new class, which
    reaches what looks like its strokes), and those that would take the id of a stroke
    that looks like a stroke of another id (one look painted with two ids, split by place),
    follow the networks.

    Parameters
    ----------
    ids : numpy.ndarray of shape (H, W), int64
        The id each free pixel would take; changed in place.
    out : numpy.ndarray of shape (H, W), int64
        The refined ids so far (kept regions, painted and erased pixels).
    free : numpy.ndarray of shape (H, W), bool
        The pixels to relabel.
    labels : numpy.ndarray of shape (H, W), int64
        The ids before the refine.
    strokes : numpy.ndarray of shape (H, W), int64
        0 none, > 0 a painted id, -1 erased.
    split : collection of int, optional
        The painted ids whose strokes look like those of another painted id
        (:func:`~napari_mmtseg.refine_looks.alike_looks`).
    """
    on = (strokes > 0) & (strokes != labels)
    if not on.any():
        return
    pieces = connected(labels, background=-1, connectivity=1)
    held = np.bincount(np.where(free, 0, out).ravel())
    existing = np.zeros(max(int(ids.max()), int(labels.max())) + 1, bool)
    existing[np.unique(labels[labels > 0])] = True  # a new id is a new class: it travels
    for piece in np.unique(pieces[on]).tolist():
        mask = pieces == piece
        size = int(mask.sum())
        old = int(labels[mask][0])
        moving = mask & free & (ids != old) & ~np.isin(ids, list(split)) & existing[ids]
        new, n = np.unique(ids[moving], return_counts=True)
        for rid, k in zip(new.tolist(), n.tolist()):
            fixed = int(held[rid]) if rid < held.size else 0
            cover = int((mask & (strokes == rid)).sum())
            if 2 * k > size and k > fixed and cover < JOIN_SHARE * size:
                ids[moving & (ids == rid)] = old


def channel_ids(classes: list, changed, sc_: StrokeClasses, q: int, top: int, stack=False):
    """Clusters output of a refine: the id a free pixel of each channel takes.

    A kept region's id of that class first, then the strokes' ids, then a changed region's
    id; a channel with none gets a fresh id above ``top``.

    Parameters
    ----------
    classes : list of Classes
        The regions' classes of each slice the map serves (one for a slice).
    changed : set of int
        The ids the refine changes.
    sc_ : StrokeClasses
        The strokes' classes.
    q : int
        Network channels.
    top : int
        The largest id in use.
    stack : bool, optional
        Fresh ids ``top + 1 + channel`` (the same on every slice of a stack); False: one
        after another, in channel order.

    Returns
    -------
    numpy.ndarray of shape (q,), int64
        The id of each channel.
    """
    id_of = np.full(q, -1, np.int64)
    for cl in classes:
        kept = ~np.isin(cl.ids, list(changed))
        for rid, c in zip(cl.ids[kept], cl.cls[kept]):
            if id_of[c] < 0:
                id_of[c] = rid
    for sid, c in zip(sc_.sids, sc_.sid_chans):
        if id_of[c] < 0:
            id_of[c] = sid
    for cl in classes:
        moved = np.isin(cl.ids, list(changed))
        for rid, c in zip(cl.ids[moved], cl.cls[moved]):
            if id_of[c] < 0:
                id_of[c] = rid
    none = id_of < 0
    fresh = np.flatnonzero(none) if stack else np.arange(int(none.sum()))
    id_of[none] = top + 1 + fresh
    return id_of


def stroked_regions(labels, strokes) -> np.ndarray:
    """Ids of the regions the strokes correct.

    A region counts when the strokes paint another id over, or erase, at least a brush
    footprint of its pixels (half the strokes' width squared; the width is twice the
    largest distance from a stroked pixel to the strokes' edge), or half its pixels if it
    is smaller than that: a stroke that only grazes a large region (the end of a line
    across a nucleus that runs a few pixels into the background) corrects the pixels it
    paints, not the region.

    Parameters
    ----------
    labels : numpy.ndarray of int
        The ids before the refine (a slice).
    strokes : numpy.ndarray of int
        ``labels``' shape: 0 none, > 0 a painted id, -1 erased.

    Returns
    -------
    numpy.ndarray of int64
        The ids, sorted (empty: none).
    """
    labels, strokes = np.asarray(labels, np.int64), np.asarray(strokes, np.int64)
    touched = (strokes != 0) & (strokes != labels)
    if not touched.any():
        return np.zeros(0, np.int64)
    width = 2.0 * float(ndi.distance_transform_edt(touched).max())
    ids, n = np.unique(labels[touched], return_counts=True)
    size = np.bincount(labels.ravel())[ids]
    return ids[n >= np.minimum(width * width / 2.0, size / 2.0)]


def reach_of(labels, strokes) -> int:
    """The largest region (pixels) that the strokes correct: how far a correction travels.

    Parameters
    ----------
    labels, strokes : numpy.ndarray of int
        As for :func:`stroked_regions`.

    Returns
    -------
    int
        Pixels of the largest of the :func:`stroked_regions` (0: none).
    """
    return _largest(labels, stroked_regions(labels, strokes))


def _largest(labels, ids) -> int:
    """Pixels of the largest of the regions ``ids`` (0: none)."""
    if len(ids) == 0:
        return 0
    return int(np.bincount(np.asarray(labels, np.int64).ravel())[ids].max())


def taken_over_counts(labels, after, classes: Classes, looks: dict, feats, reach: int):
    """Count, per region, the pixels the refined networks take over.

    A region is taken over when more than :data:`TAKEN_OVER` of its pixels are (the ratio
    of the two counts): the pixels the refined networks give to a stroked class other than
    the region's own *and* that look like that class's strokes on one of the regions they
    lie on (every local feature within three standard deviations of that look's mean, plus
    0.01 of the normalised intensity: :func:`~napari_mmtseg.refine_looks.stroke_looks`),
    among the regions no larger than ``reach`` pixels: the look-alikes a correction travels
    to, and only those (a region larger than any the strokes changed, which the user left
    alone, is not one). A move between two stroked classes whose strokes look alike is the
    networks' drift between classes the image cannot tell apart, not a correction, and
    does not count.

    Parameters
    ----------
    labels : numpy.ndarray of shape (H, W), int
        The ids before the refine (a slice).
    after : numpy.ndarray of shape (H, W), int
        The refined networks' channels.
    classes : Classes
        The class of every region of ``labels``.
    looks : dict
        :func:`~napari_mmtseg.refine_looks.stroke_looks` of the refine's strokes (a look of
        shape (F,) is one look).
    feats : numpy.ndarray of shape (F, H, W)
        The slice's local features.
    reach : int
        The largest region (pixels) that may be taken over.

    Returns
    -------
    ids : numpy.ndarray of int64
        The slice's region ids, sorted.
    took : numpy.ndarray of float64
        Per id, its pixels taken over.
    total : numpy.ndarray of int64
        Per id, its pixels.
    """
    after = np.asarray(after)
    ids, inv = np.unique(labels, return_inverse=True)
    inv = inv.ravel()
    small = np.bincount(inv) <= reach
    own = np.where(small[inv], classes.cls[inv], -1)
    flat = after.ravel()
    f = feats.reshape(feats.shape[0], -1)
    took = np.zeros(flat.size, bool)
    twins = alike_looks(looks)
    for k, (mean, std) in looks.items():
        drift = np.isin(own, list(twins[k]))
        cand = np.flatnonzero((flat == k) & (own != k) & (own >= 0) & ~drift)
        fc = f[:, cand]
        alike = np.zeros(cand.size, bool)
        for m, s in zip(np.atleast_2d(mean), np.atleast_2d(std)):  # each look of class k
            alike |= np.all(np.abs(fc - m[:, None]) <= 3 * s[:, None] + 0.01, axis=0)
        took[cand[alike]] = True
    total = np.bincount(inv, minlength=ids.size)
    return ids, np.bincount(inv, weights=took, minlength=ids.size), total


def _class_of_ids(out, free, labels, after, classes: Classes, painted: set, chans: set, q) -> dict:
    """Id -> class of the regions before the refine, and of each fresh id the rebuild gave
    freed pixels: the stroked class the networks moved it to, else its old region's class
    (a piece of a nucleus the networks misread stays a piece of that nucleus)."""
    class_of = dict(zip(classes.ids.tolist(), classes.cls.tolist()))
    fresh = free & ~np.isin(out, classes.ids) & ~np.isin(out, list(painted))
    if not fresh.any():
        return class_of
    moved = class_of_regions(out[fresh], after[fresh], q)
    old = class_of_regions(out[fresh], labels[fresh], int(labels.max()) + 1).cls
    cls = np.where(np.isin(moved.cls, list(chans)), moved.cls, classes.of(old))
    class_of.update(zip(moved.ids.tolist(), cls.tolist()))
    return class_of


def rebuild(
    labels,
    strokes,
    before,
    after,
    clean,
    q: int,
    output: str,
    stroked: StrokeClasses,
    looks: dict,
    feats: np.ndarray,
    reach: int | None = None,
    changed_ids=None,
    channel_map=None,
) -> np.ndarray:
    """The refined labels of one slice.

    Regions the strokes do not correct (:func:`stroked_regions`) and that the refined
    networks do not give, for more
    than :data:`TAKEN_OVER` of their pixels, to a stroked class other than their own
    (majority channel), or that are larger than ``reach``, keep their ids and shapes;
    painted pixels take their stroke's id, erased pixels the id of the nearest pixel of
    another region (as they are trained); the pixels of the other regions are relabelled
    from ``clean``.

    Parameters
    ----------
    labels : numpy.ndarray of shape (H, W), int
        The result's ids before the refine.
    strokes : numpy.ndarray of shape (H, W), int
        0 none, > 0 a painted id, -1 erased.
    before, after : numpy.ndarray of shape (H, W), int
        The network channels per pixel before and after the refine.
    clean : numpy.ndarray of shape (H, W), int
        ``after`` cleaned by the output stage (channel ids kept).
    q : int
        Network channels.
    output : str
        ``"regions"``: a relabelled piece joins the nearest kept region of its class that
        it touches, else gets an id of its own; ``"clusters"``: one id per class.
    stroked : StrokeClasses
        The classes of all the refine's strokes (of every slice).
    looks : dict
        How each stroked class looks (:func:`stroke_looks`, over all the strokes).
    feats : numpy.ndarray of shape (F, H, W)
        The slice's local features (:func:`local_features`).
    reach : int, optional
        The largest region (pixels) that an unstroked region may be to change; None: the
        slice's :func:`reach_of` (a stack's refine passes the largest over its stroked
        slices, and no limit on a slice without strokes).
    changed_ids : array_like of int, optional
        The ids that change, decided over a whole stack (a clusters stack, whose ids are
        one class on every slice: :func:`taken_over_counts` summed over its slices, and the
        ids corrected on any slice); None: decided on this slice.
    channel_map : numpy.ndarray of shape (q,), optional
        Clusters output: each channel's id, made over a whole stack (:func:`channel_ids`
        with ``stack=True``); None: made from this slice.

    Returns
    -------
    numpy.ndarray of shape (H, W), int64
        The refined ids.
    """
    labels, strokes = np.asarray(labels, np.int64), np.asarray(strokes, np.int64)
    classes = class_of_regions(labels, before, q)
    corrected = stroked_regions(labels, strokes)
    reach = _largest(labels, corrected) if reach is None else reach
    if changed_ids is None:
        ids, took, total = taken_over_counts(labels, after, classes, looks, feats, reach)
        changed = set(corrected.tolist()) | set(ids[took > TAKEN_OVER * total].tolist())
    else:
        changed = set(np.intersect1d(np.asarray(changed_ids), classes.ids).tolist())
    out = labels.copy()
    out[strokes > 0] = strokes[strokes > 0]
    near = _erased_targets(labels, strokes)  # an erased pixel: "not this region"
    out[near >= 0] = near[near >= 0]
    free = np.isin(labels, list(changed)) & (strokes <= 0) & (near < 0)
    if output == "clusters":
        clean = np.asarray(clean, np.int64)
        twins = alike_looks(looks)
        pairs = zip(stroked.sids.tolist(), stroked.sid_chans.tolist())
        split = [sid for sid, c in pairs if twins.get(c)]
        given = (labels, strokes, split)
        _by_channel(out, free, clean, classes, changed, stroked, q, channel_map, given)
    else:
        sc = _seed_classes(out, free, strokes, classes, stroked)
        after = np.asarray(after, np.int64)
        # an erased pixel is painted with the id it takes (that id is not freed by it)
        painted = set(np.unique(strokes[strokes > 0]).tolist()) | set(
            np.unique(near[near >= 0]).tolist()
        )
        clean = np.asarray(clean, np.int64)
        chans = set(stroked.chans.tolist())
        sizes = np.bincount(labels.ravel())[classes.ids]
        biggest = {}  # the largest region of each class
        for k, n in zip(classes.cls.tolist(), sizes.tolist()):
            biggest[k] = max(biggest.get(k, 0), n)
        reach_new = new_id_reach(labels, strokes, stroked.info.get("new_ids", []))
        on = strokes > 0
        pairs, counts = np.unique(np.stack([strokes[on], labels[on]]), axis=1, return_counts=True)
        stroked_on = {(int(a), int(b)): int(c) for (a, b), c in zip(pairs.T, counts)}
        join_or_new(
            out,
            free,
            clean,
            sc,
            labels,
            after,
            classes,
            painted,
            chans,
            biggest,
            reach_new,
            stroked_on,
        )
        split_at_new_strokes(out, labels, strokes, stroked)
        class_of = _class_of_ids(out, free, labels, after, classes, painted, chans, q)
        absorb_cut_off(out, free, class_of)
    return out
