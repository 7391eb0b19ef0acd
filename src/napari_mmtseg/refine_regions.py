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
    "JOIN_SHARE",
    "MIN_NEW",
    "SPLIT_DEPTH",
    "SPLIT_DEPTH_PX",
    "SPLIT_FAR",
    "SPLIT_INSIDE",
    "SPLIT_MAX",
    "SPLIT_MIN_PX",
    "absorb_cut_off",
    "join_made_up_along_z",
    "join_or_new",
    "new_id_reach",
    "split_apart_ids",
    "split_at_new_strokes",
    "unique_fresh_ids",
]

#: the fewest pixels of a piece that a refine makes a new object of (a smaller piece that
#: the networks moved to a class it may not join keeps its old id)
MIN_NEW = 64

#: a freed piece holding more than half of its old region and more pixels than the painted
#: region it would join stays under its old id unless that region's strokes cover at least
#: this share of the old region: a stroke that only grazes a large region names the
#: stroke's pixels, it does not pour the region into a smaller one
JOIN_SHARE = 0.05

#: a region split at a stroke of a new id: its far seed is the pixels at least this share
#: of the farthest distance from the stroke; it is split only when that distance is at
#: least SPLIT_MIN_PX and the region at most SPLIT_MAX times the stroke's size
SPLIT_FAR = 0.7
SPLIT_MIN_PX = 10
SPLIT_MAX = 20
#: a region whose pixels the networks moved to a stroke's new id is split only when at
#: least this share of all the pixels they moved to that id are its own (the stroke marks
#: part of one region, not several)
SPLIT_INSIDE = 0.75
#: the centre of another object in a split region: a maximum of its depth (distance to the
#: outside) standing this share of the deepest depth, and at least SPLIT_DEPTH_PX, above
#: the pixels around it (two touching nuclei: two centres, joined by a shallower neck)
SPLIT_DEPTH = 0.2
SPLIT_DEPTH_PX = 2.0


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


def new_id_reach(labels, strokes, new_ids) -> dict:
    """Where each new id's strokes lie: ``{id: (old regions its pixels cover, pixels)}``.

    Parameters
    ----------
    labels : numpy.ndarray of int
        The ids before the refine.
    strokes : numpy.ndarray of int
        ``labels``' shape: 0 none, > 0 a painted id, -1 erased.
    new_ids : iterable of int
        The painted ids no region had.

    Returns
    -------
    dict
        ``{id: (set of old region ids, stroke pixels)}``, for the ids painted here.
    """
    out = {}
    for nid in new_ids:
        stroke = strokes == nid
        if stroke.any():
            out[int(nid)] = (set(np.unique(labels[stroke]).tolist()), int(stroke.sum()))
    return out


def _may_take(rid, old: int, n: int, new_reach: dict, sizes, held, on) -> bool:
    """Whether a freed piece of ``n`` pixels of old region ``old`` may join region ``rid``:
    a new id takes only pieces of the regions its strokes lie in, and of a region larger
    than :data:`SPLIT_MAX` times its strokes (the background) less than half: a stroke
    there marks a new object, it does not rename the region. Most of a region, larger than
    ``rid``'s fixed pixels (``held``), joins only where ``rid``'s strokes cover
    :data:`JOIN_SHARE` of it (``on``: ``{(stroke id, old id): pixels}``)."""
    if 2 * n > sizes[old] and n > held[rid] and on.get((rid, old), 0) < JOIN_SHARE * sizes[old]:
        return False
    if rid not in new_reach:
        return True
    touched, px = new_reach[rid]
    return old in touched and (sizes[old] <= SPLIT_MAX * px or 2 * n < sizes[old])


def join_or_new(
    out,
    free,
    clean,
    sc,
    labels,
    after,
    classes,
    painted: set,
    chans: set,
    biggest: dict,
    new_reach: dict | None = None,
    stroked_on: dict | None = None,
) -> None:
    """Regions output: the free pixels' ids, piece by piece (connected pixels of one class
    of ``clean`` and one old region, so that touching instances stay apart).

    A refine moves a pixel only on the networks' word, and no further than the strokes:

    - a piece whose class (its majority in ``after``) is not its old region's joins the
      fixed region of that class that it touches (the nearest where it touches several)
      when that region's id is a painted one (``painted``): a fragment painted into its
      coin, a look-alike taken over by a stroke's region; it never merges into a
      neighbouring instance that no stroke named, and a new id (``new_reach``) takes only
      pieces of the regions its strokes lie in, of a region larger than :data:`SPLIT_MAX`
      times its strokes less than half (a stroke in the background marks a new object,
      it does not rename the background, nor join instances elsewhere that look alike),
      and most of a region larger than the region it would join joins only where that
      region's strokes cover :data:`JOIN_SHARE` of it (a stroke grazing a large region);
    - every other piece keeps its old region's id (the largest unmoved piece of each old
      region first), except a piece the networks moved, with at least :data:`MIN_NEW`
      pixels, to a stroked class (``chans``) or to a class whose largest region is at
      least half its size (``biggest``: a missed nucleus, not a drift of the background),
      or a piece whose old id is taken, which gets an id of its own: no fresh ids and no
      splits where the networks did not move the pixels. A region the networks moved in one
      piece, all of it but fewer than :data:`MIN_NEW` pixels (a look-alike the correction
      travelled to, with no painted region of that class to join), stays whole under its
      id.

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
    new_reach : dict, optional
        :func:`new_id_reach` of the strokes (None: no new ids).
    stroked_on : dict, optional
        ``{(painted id, old id): pixels}``: how many pixels of each old region the strokes
        of each id cover (None: none).
    """
    lone = []
    new_reach = new_reach or {}
    stroked_on = stroked_on or {}
    sizes = np.bincount(labels.ravel())
    held = np.bincount(np.where(free, 0, out).ravel())
    owner = np.where(sc >= 0, out, -1)
    key = np.where(free, clean * (int(labels.max()) + 1) + labels, -1)
    comps = connected(key, background=-1, connectivity=1).astype(np.int64)
    touching = _touching(comps, owner, sc)
    for c in np.unique(comps[comps > 0]):
        mask = comps == c
        old = int(np.bincount(labels[mask]).argmax())
        k = int(np.bincount(after[mask]).argmax())
        ids = sorted({rid for rid, kk in touching.get(int(c), []) if kk == k and rid in painted})
        n = int(mask.sum())
        allowed = [rid for rid in ids if _may_take(rid, old, n, new_reach, sizes, held, stroked_on)]
        if not allowed or classes.of(old) == k:  # its own class, or no painted region to join
            moved = classes.of(old) != k and (k in chans or mask.sum() <= 2 * biggest.get(k, 0))
            lone.append((old, moved and allowed == ids, mask))  # a refused move stays put
        elif len(allowed) == 1:
            _join(out, mask, allowed[0], old, free, painted)
        else:  # the nearest of the regions it touches
            seeds = np.isin(owner, allowed) & (sc == k)
            idx = ndi.distance_transform_edt(~seeds, return_distances=False, return_indices=True)
            out[mask] = out[idx[0][mask], idx[1][mask]]
    # a region the networks moved as a whole (one piece, all of it but less than MIN_NEW px)
    # to a class it may not join stays one instance under its id: a new object is a part of
    # a region, not all of it (a region moved in parts, or with a real part left, is split)
    lone = [
        (old, moved and sizes[old] - int(mask.sum()) >= MIN_NEW, mask) for old, moved, mask in lone
    ]
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
    """Regions output: an object-sized region that strokes of new ids cross is split.

    Painting a new id across part of an object says "these are two objects" (two
    touching nuclei given one id). The old region's pixels that now carry its id or one
    of the new ids painted in it are split between the strokes and the other objects'
    centres, along the region's shape (a watershed of its distance to the outside, seeded
    by each stroke and by each centre: a maximum of that distance, :data:`SPLIT_DEPTH`,
    other than the one nearest a stroke; where there is none, one object's shape, by each
    connected piece of the pixels at least :data:`SPLIT_FAR` of the farthest distance
    from the strokes): each stroke's side takes
    its new id, the largest far side the old id, and every other far side (a stroke in the
    middle one of three nuclei in a row, or across an object) an id of its own when it has
    at least :data:`MIN_NEW` pixels, else the id of the part beside it. So the split holds
    also when the networks moved the whole region to a stroke's class (the objects look
    alike), which would otherwise only rename it, and no id is left in pieces by it.
    Left alone: a new id whose pixels the networks moved from other regions as much as
    from this one (under :data:`SPLIT_INSIDE` of the moved pixels are this region's: a
    stroke across several objects joins them, :func:`join_or_new`); a region more than
    :data:`SPLIT_MAX` times its strokes' size (the background, large areas); a region
    whose far part is within :data:`SPLIT_MIN_PX` of the strokes. Painted pixels keep
    their ids.

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
    groups: dict = {}  # old region -> the new ids painted in it
    for nid in stroked.info.get("new_ids", []):
        stroke = strokes == nid
        if not stroke.any():
            continue
        old = int(np.bincount(labels[stroke]).argmax())
        moved = np.bincount(labels[(out == nid) & ~stroke], minlength=old + 1)
        if old > 0 and moved[old] >= SPLIT_INSIDE * moved.sum():
            groups.setdefault(old, []).append(nid)
    for old, nids in groups.items():
        _split_region(out, labels, strokes, old, nids)


def _split_region(out, labels, strokes, old: int, nids: list) -> None:
    """Split old region ``old`` between the strokes of ``nids`` and its far parts."""
    from skimage.segmentation import expand_labels, watershed

    painted = np.isin(strokes, nids)
    region = ((labels == old) & np.isin(out, [old, *nids])) | painted
    if region.sum() > SPLIT_MAX * painted.sum():
        return
    ys, xs = np.nonzero(region)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    sub, seed = region[box], painted[box]
    away = ndi.distance_transform_edt(~seed)
    far = away[sub].max()
    if far < SPLIT_MIN_PX:
        return
    m = len(nids)
    inside = ndi.distance_transform_edt(np.pad(sub, 1))[1:-1, 1:-1]
    far_seeds, n_far, own = _far_centres(inside, sub, strokes[box], nids)
    if n_far == 0:  # one object's shape: its parts farthest from the strokes
        far_seeds, n_far = ndi.label(sub & (away >= SPLIT_FAR * far))
        own = {}
    markers = np.where(far_seeds > 0, far_seeds + m, 0)  # 1..m the strokes, m+1.. far
    for k, nid in enumerate(nids, 1):  # each stroke seeds its object's centre too
        markers[(strokes[box] == nid) | own.get(nid, False)] = k
    parts = watershed(-inside, markers, mask=sub)
    sizes = np.bincount(parts[sub], minlength=m + n_far + 1)
    keep = m + 1 + int(sizes[m + 1 :].argmax())  # the largest far part keeps the old id
    small = (np.arange(sizes.size) > m) & (sizes < MIN_NEW) & (np.arange(sizes.size) != keep)
    if small.any():  # too small for an object: the part beside it takes it
        grown = expand_labels(np.where(small[parts], 0, parts), distance=np.inf)
        parts = np.where(small[parts], grown, parts)
    to = np.zeros(sizes.size, np.int64)
    to[1 : m + 1] = nids
    to[keep] = old
    nxt = int(max(out.max(), labels.max())) + 1
    for k in range(m + 1, sizes.size):
        if k != keep and not small[k]:
            to[k], nxt = nxt, nxt + 1
    unpainted = sub & (strokes[box] <= 0) & (parts > 0)
    view = out[box]
    view[unpainted] = to[parts[unpainted]]


def _far_centres(inside, sub, strokes, nids) -> tuple:
    """The centres of the objects a region holds: each connected maximum of its depth
    (``inside``) standing :data:`SPLIT_DEPTH` above its surroundings. The one nearest each
    stroke is that stroke's object's (a stroke along its rim still marks it); the others,
    labelled 1..n, are returned with n and ``{stroke id: its object's centre (bool)}``."""
    from skimage.morphology import h_maxima

    h = max(SPLIT_DEPTH_PX, SPLIT_DEPTH * float(inside.max()))
    peaks, n = ndi.label(h_maxima(inside, h).astype(bool) & sub)
    if n == 0:
        return peaks, 0, {}
    index = np.arange(1, n + 1)
    own = {
        nid: int(np.argmin(ndi.minimum(ndi.distance_transform_edt(strokes != nid), peaks, index)))
        + 1
        for nid in nids
    }
    keep = np.zeros(n + 1, np.int64)
    rest = [k for k in index if k not in own.values()]
    keep[rest] = np.arange(1, len(rest) + 1)
    return keep[peaks], len(rest), {nid: peaks == k for nid, k in own.items()}


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


def unique_fresh_ids(out, labels, strokes, top: int) -> int:
    """A stack's refine: give the ids one slice's rebuild made up ids no other slice has.

    A slice's rebuild numbers the objects it makes (a split's far side, a piece the
    networks moved) from above that slice's ids, so two slices, or a slice and an object
    of another slice, could share one. Each id of ``out`` that the slice neither had nor
    was painted with is renumbered from ``top + 1`` on, in order.

    Parameters
    ----------
    out : numpy.ndarray of int64
        One slice's refined ids, changed in place.
    labels : numpy.ndarray of int
        That slice's ids before the refine.
    strokes : numpy.ndarray of int
        That slice's strokes (> 0 a painted id).
    top : int
        The largest id in use over the stack so far (its labels, strokes and the slices
        rebuilt before).

    Returns
    -------
    int
        The largest id in use after this slice.
    """
    fresh = np.setdiff1d(np.unique(out), np.union1d(np.unique(labels), np.unique(strokes)))
    if fresh.size:
        hit = np.isin(out, fresh)
        out[hit] = top + 1 + np.searchsorted(fresh, out[hit])
        top += fresh.size
    return top


def join_made_up_along_z(out, labels, strokes, index, stack_shape, stride: int, new_ids) -> None:
    """Join, in place, the objects a refine made up on neighbouring Z slices where they overlap.

    A refine rebuilds each slice on its own, so an object it finds on several slices of a Z
    stack (a missed nucleus) gets an id per slice. The ids it made up (in neither ``labels``
    nor the strokes) and the new ids painted (``new_ids``) that overlap on slices next to
    each other along Z are joined, as :class:`~napari_mmtseg.stack.StackIds` joins a run's
    regions in 3D; a joined object takes its painted new id (the smallest, if several),
    else its smallest id. Two painted new ids are never joined to each other, not even
    through a made-up object that overlaps both (the larger overlap decides which it joins).

    Parameters
    ----------
    out : numpy.ndarray of int
        The refined labels (``labels``' shape), changed in place.
    labels, strokes : numpy.ndarray of int
        The refine's ids before and its strokes.
    index : list of tuple
        Each slice's index into ``out`` (:meth:`~napari_mmtseg.layout.SliceLayout.labels_index`).
    stack_shape : tuple of int
        The sizes of the stack axes.
    stride : int
        :func:`~napari_mmtseg.stack.depth_stride` of the image: the step between Z neighbours.
    new_ids : iterable of int
        The new ids the strokes painted.
    """
    painted = set(int(i) for i in new_ids)
    fixed = np.union1d(np.unique(labels), np.unique(strokes[strokes > 0]))
    fixed = np.setdiff1d(fixed, np.asarray(sorted(painted), np.int64))
    sizes = list(stack_shape)
    depth = next(
        (n for k, n in enumerate(sizes) if int(np.prod(sizes[k + 1 :], dtype=np.int64)) == stride
         and n > 1),
        1,
    )  # fmt: skip
    pairs = []
    for i in range(stride, len(index)):
        if (i // stride) % depth == 0:
            continue
        a, b = out[index[i - stride]], out[index[i]]
        both = ~np.isin(a, fixed) & ~np.isin(b, fixed) & (a != b) & (a > 0) & (b > 0)
        if both.any():
            pairs.append(np.unique(np.stack([a[both], b[both]]).astype(np.int64), axis=1))
    if not pairs:
        return
    # union-find over the overlapping pairs, largest overlap first; a union that would put
    # two painted new ids in one object is skipped (a made-up piece between them joins one)
    ab, n = np.unique(np.concatenate(pairs, axis=1), axis=1, return_counts=True)
    root: dict = {}
    named: dict = {}  # root -> its painted new id

    def _root(x):
        """The root of ``x``'s object."""
        while root.get(x, x) != x:
            x = root[x]
        return x

    for k in np.argsort(-n, kind="stable"):
        a, b = _root(int(ab[0, k])), _root(int(ab[1, k]))
        na, nb = (
            named.get(a, a if a in painted else None),
            named.get(b, b if b in painted else None),
        )
        if a == b or (na is not None and nb is not None):
            continue
        root[b] = a
        if na is None and nb is not None:
            named[a] = nb
        elif na is not None:
            named[a] = na
    to = {}
    for x in {int(v) for v in ab.ravel()}:
        r = _root(x)
        to[x] = named.get(r, r if r in painted else None)
    members: dict = {}
    for x in to:
        members.setdefault(_root(x), []).append(x)
    for r, group in members.items():
        target = to[r] if to[r] is not None else min(group)
        to.update(dict.fromkeys(group, target))
    src = np.asarray(sorted(to), np.int64)
    dst = np.asarray([to[k] for k in src.tolist()], np.int64)
    hit = np.isin(out, src)
    out[hit] = dst[np.searchsorted(src, out[hit])]


def split_apart_ids(out, strokes, stack_shape, stride: int | None) -> None:
    """Regions output: give each id that is in several connected pieces one id a piece.

    A regions result has one connected region per id; a refine rebuilds slice by slice and
    keeps what no stroke concerns, so an id can end in pieces (a new id painted across the
    middle slice of an object that spans three Z slices; clusters labels refined into
    regions). The largest piece keeps the id, the others take fresh ids above every id in
    ``out`` and ``strokes``. An id the strokes painted keeps all its pieces: painting a
    region's id elsewhere says "these pixels belong to that region".

    Parameters
    ----------
    out : numpy.ndarray of int
        The refined labels (stack axes, then Y, X), changed in place.
    strokes : numpy.ndarray of int
        The strokes (> 0 a painted id), ``out``'s shape.
    stack_shape : tuple of int
        The sizes of the stack axes (the leading axes of ``out``).
    stride : int or None
        :func:`~napari_mmtseg.stack.depth_stride`: pieces touch across Z neighbours; None:
        within each slice only.
    """
    from skimage.measure import label

    n_stack = len(stack_shape)
    z = None
    if stride is not None:
        z = next(
            k for k in range(n_stack)
            if int(np.prod(stack_shape[k + 1 :], dtype=np.int64)) == stride and stack_shape[k] > 1
        )  # fmt: skip
    painted = np.unique(strokes[strokes > 0])
    top = int(max(out.max(initial=0), strokes.max(initial=0)))
    outer = [n for k, n in enumerate(stack_shape) if k != z]
    moved = np.moveaxis(out, z, n_stack - 1) if z is not None else out
    for at in np.ndindex(*outer):
        block = moved[at]  # one slice, or one Z stack (Z, Y, X)
        pieces = label(block, background=0, connectivity=1)
        ids = block.ravel()
        n = np.bincount(pieces.ravel())
        first = np.zeros(n.size, np.int64)
        first[pieces.ravel()] = ids
        order = np.lexsort((-n[1:], first[1:])) + 1  # by id, largest piece first
        ids_sorted = first[order]
        extra = order[1:][ids_sorted[1:] == ids_sorted[:-1]]
        extra = extra[~np.isin(first[extra], painted)]
        if extra.size:
            fresh = np.zeros(n.size, np.int64)
            fresh[extra] = top + 1 + np.arange(extra.size)
            top += extra.size
            hit = fresh[pieces] > 0
            block[hit] = fresh[pieces][hit]
