"""Refine, regions output: the ids of the pixels a refine frees, piece by piece.

A freed piece joins a painted region it touches, keeps its old id, or becomes an object of
its own (see :func:`join_or_new`); a region crossed by a stroke of a new id is split along
its shape (:func:`split_at_new_strokes`); a small piece of a freed region that the
rebuild cut off from the rest of its id joins its neighbour (:func:`absorb_cut_off`).
Used by :func:`napari_mmtseg.refine_ids.rebuild`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as connected

__all__ = [
    "MIN_NEW",
    "SPLIT_FAR",
    "SPLIT_MAX",
    "SPLIT_MIN_PX",
    "absorb_cut_off",
    "join_or_new",
    "split_at_new_strokes",
]

#: the fewest pixels of a piece that a refine makes a new object of (a smaller piece that
#: the networks moved to a class it may not join keeps its old id)
MIN_NEW = 64

#: a region split at a stroke of a new id: its far seed is the pixels at least this share
#: of the farthest distance from the stroke; it is split only when that distance is at
#: least SPLIT_MIN_PX and the region at most SPLIT_MAX times the stroke's size
SPLIT_FAR = 0.7
SPLIT_MIN_PX = 10
SPLIT_MAX = 20


def _touching(comps: np.ndarray, owner: np.ndarray, cls: np.ndarray) -> dict:
    """For each component of ``comps`` (> 0), the ``(id, class)`` pairs of the fixed pixels
    (``owner`` >= 0, their class ``cls``) 4-adjacent to it."""
    pairs = []
    for sa, sb in (
        ((slice(1, None),), (slice(None, -1),)),
        ((slice(None, -1),), (slice(1, None),)),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    ):
        a, b, k = comps[sa], owner[sb], cls[sb]
        hit = (a > 0) & (b >= 0)
        pairs.append(np.stack([a[hit], b[hit], k[hit]], 1))
    found: dict = {}
    for c, rid, k in np.unique(np.concatenate(pairs), axis=0):
        found.setdefault(int(c), []).append((int(rid), int(k)))
    return found


def join_or_new(
    out, free, clean, sc, labels, after, classes, painted: set, chans: set, biggest: dict
) -> None:
    """Regions output: the free pixels' ids, piece by piece (connected pixels of one class
    of ``clean`` and one old region, so that touching instances stay apart).

    A refine moves a pixel only on the networks' word, and no further than the strokes:

    - a piece whose class (its majority in ``after``) is not its old region's joins the
      fixed region of that class that it touches (the nearest where it touches several)
      when that region's id is a painted one (``painted``): a fragment painted into its
      coin, a look-alike taken over by a stroke's region; it never merges into a
      neighbouring instance that no stroke named;
    - every other piece keeps its old region's id (the largest unmoved piece of each old
      region first), except a piece the networks moved, with at least :data:`MIN_NEW`
      pixels, to a stroked class (``chans``) or to a class whose largest region is at
      least half its size (``biggest``: a missed nucleus, not a drift of the background),
      or a piece whose old id is taken, which gets an id of its own: no fresh ids and no
      splits where the networks did not move the pixels.

    Parameters
    ----------
    out : numpy.ndarray of shape (H, W), int64
        The refined ids so far (kept regions, painted pixels); the free pixels' ids are
        written into it.
    free : numpy.ndarray of shape (H, W), bool
        The pixels to relabel.
    clean : numpy.ndarray of shape (H, W), int
        The refined networks' channels after the output stage's clean-up.
    sc : numpy.ndarray of shape (H, W), int64
        The class of every fixed pixel, -1 on free pixels.
    labels : numpy.ndarray of shape (H, W), int64
        The ids before the refine.
    after : numpy.ndarray of shape (H, W), int64
        The refined networks' channels.
    classes : napari_mmtseg.refine_ids.Classes
        The class of every old region.
    painted : set of int
        The ids the strokes painted.
    chans : set of int
        The strokes' classes.
    biggest : dict
        ``{class: pixels of its largest old region}``.
    """
    lone = []
    owner = np.where(sc >= 0, out, -1)
    key = np.where(free, clean * (int(labels.max()) + 1) + labels, -1)
    comps = connected(key, background=-1, connectivity=1).astype(np.int64)
    touching = _touching(comps, owner, sc)
    for c in np.unique(comps[comps > 0]):
        mask = comps == c
        old = int(np.bincount(labels[mask]).argmax())
        k = int(np.bincount(after[mask]).argmax())
        ids = sorted({rid for rid, kk in touching.get(int(c), []) if kk == k and rid in painted})
        if not ids or classes.of(old) == k:  # its own class, or no painted region to join
            moved = classes.of(old) != k and (k in chans or mask.sum() <= 2 * biggest.get(k, 0))
            lone.append((old, moved, mask))
        elif len(ids) == 1:
            _join(out, mask, ids[0], old, free, painted)
        else:  # the nearest of the regions it touches
            seeds = np.isin(owner, ids) & (sc == k)
            idx = ndi.distance_transform_edt(~seeds, return_distances=False, return_indices=True)
            out[mask] = out[idx[0][mask], idx[1][mask]]
    # a painted id names its object: the freed pieces of that old region may keep it
    taken = set(np.unique(out[~free]).tolist()) - painted
    first = set()
    nxt = int(max(out.max(), labels.max())) + 1
    # the pieces the networks left in their class claim their old id first, largest first
    for old, moved, mask in sorted(lone, key=lambda om: (bool(om[1]), -int(om[2].sum()))):
        if old not in taken or (old in first and not (moved and mask.sum() >= MIN_NEW)):
            out[mask] = old
            first.add(old)
        else:
            out[mask], nxt = nxt, nxt + 1
        taken.add(int(out[mask][0]))


def _join(out, mask, rid: int, old: int, free, painted: set) -> None:
    """Join the free piece ``mask`` (of old region ``old``) to the region ``rid`` it touches.

    The joined instance keeps the larger of the two ids' regions' id: a coin whose inner
    fragment it joins stays the coin, unless ``old`` keeps pixels outside the freed ones or
    ``rid`` is an id the user painted (``painted``).
    """
    size = int(np.count_nonzero(out == rid))
    if rid not in painted and int(mask.sum()) > size and not (out[~free] == old).any():
        out[out == rid] = old
        out[mask] = old
    else:
        out[mask] = rid


def split_at_new_strokes(out, labels, strokes, stroked) -> None:
    """Regions output: an object-sized region that a stroke of a new id crosses is split.

    Painting a new id across part of an object says "these are two objects" (two
    touching nuclei given one id). The region's pixels that kept its id are
    split between the stroke and the region's part farthest from it, along the region's
    shape (a watershed of its distance to the outside, seeded by the stroke and by the
    pixels at least :data:`SPLIT_FAR` of the farthest distance from it); the stroke's side
    takes the new id. Regions more than :data:`SPLIT_MAX` times the stroke's size (the
    background, large areas), and regions whose far part is within
    :data:`SPLIT_MIN_PX` of the stroke are left alone.

    Parameters
    ----------
    out : numpy.ndarray of shape (H, W), int64
        The refined ids, changed in place.
    labels : numpy.ndarray of shape (H, W), int64
        The ids before the refine.
    strokes : numpy.ndarray of shape (H, W), int64
        0 none, > 0 a painted id, -1 erased.
    stroked : napari_mmtseg.refine_ids.StrokeClasses
        The strokes' classes (``info["new_ids"]``: the ids no region had).
    """
    from skimage.segmentation import watershed

    for nid in stroked.info.get("new_ids", []):
        stroke = strokes == nid
        old = int(np.bincount(labels[stroke]).argmax()) if stroke.any() else -1
        if old <= 0:
            continue
        region = (out == old) | stroke
        if region.sum() > SPLIT_MAX * stroke.sum():
            continue
        ys, xs = np.nonzero(region)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        sub, seed = region[box], stroke[box]
        away = ndi.distance_transform_edt(~seed)
        far = away[sub].max()
        if far < SPLIT_MIN_PX:
            continue
        markers = np.where(seed, 1, np.where(sub & (away >= SPLIT_FAR * far), 2, 0))
        inside = ndi.distance_transform_edt(np.pad(sub, 1))[1:-1, 1:-1]
        parts = watershed(-inside, markers, mask=sub)
        view = out[box]
        view[(parts == 1) & (view == old)] = nid


def absorb_cut_off(out, free, class_of=None) -> None:
    """Regions output: the small pieces of an id that the rebuild cut off join a neighbour.

    A stroke across a region, or the networks' new classes, can leave bits of a freed
    region's id apart from the rest of it (the slivers at a stroke's edge). Each connected
    piece of an id that is made of freed pixels only, is not the largest piece of its id
    and has fewer than :data:`MIN_NEW` pixels joins a neighbouring id: one of its own
    region's class if it touches one (a nucleus' sliver joins the nucleus beside it, not
    the background), the one it shares the longest border with among those: an id stays
    one object where no stroke made it several.

    Parameters
    ----------
    out : numpy.ndarray of shape (H, W), int64
        The refined ids, changed in place.
    free : numpy.ndarray of shape (H, W), bool
        The pixels the refine relabelled (not painted, not kept).
    class_of : dict, optional
        Id -> class of the regions before the refine (:func:`class_of_regions`); an id
        not in it has no class. None: every neighbour counts the same.
    """
    comps = connected(out, background=-1, connectivity=1).astype(np.int64)
    flat = comps.ravel()
    size = np.bincount(flat)
    rid = np.zeros(size.size, np.int64)
    rid[flat] = out.ravel()
    freed = np.bincount(flat, weights=free.ravel(), minlength=size.size) == size
    order = np.argsort(-size[1:], kind="stable") + 1
    _, first = np.unique(rid[order], return_index=True)
    cand = freed & (size < MIN_NEW)
    cand[0] = False
    cand[order[first]] = False  # the largest piece of each id stays
    if not cand.any():
        return
    shifts = (
        (comps[1:], out[:-1]),
        (comps[:-1], out[1:]),
        (comps[:, 1:], out[:, :-1]),
        (comps[:, :-1], out[:, 1:]),
    )
    ab = np.concatenate([np.stack([a[cand[a]], b[cand[a]]], 1) for a, b in shifts])
    ab = ab[ab[:, 1] != rid[ab[:, 0]]]
    if not ab.size:
        return
    pairs, counts = np.unique(ab, axis=0, return_counts=True)
    cls = {} if class_of is None else class_of
    to = rid.copy()
    best = {}
    for (c, b), n in zip(pairs.tolist(), counts.tolist()):
        own = cls.get(int(rid[c]), -1)
        key = (own >= 0 and cls.get(b, -2) == own, n)  # its own class first, then the border
        if key > best.get(c, (False, -1)):  # the smaller id on a tie
            best[c], to[c] = key, b
    hit = cand[comps]
    out[hit] = to[comps[hit]]
