"""Small-piece removal: pieces under the smallest region size join a neighbour."""

from __future__ import annotations

import numpy as np

from .maps import adjacency, compact_ids, connected_pieces, mean_features
from .spots import SPOT_MIN_SIZE, SPOT_NOISE_FACTOR, noise_sigma

__all__ = [
    "absorb_indistinct",
    "auto_min_region_size",
    "ensure_min_size",
    "final_regions",
    "remove_small_pieces",
]


#: the hierarchy's slivers under this x the smallest region size are checked for standing out
#: from their neighbours (:func:`absorb_indistinct`), whether or not they are enclosed
SMALL_FACTOR = 8


def auto_min_region_size(n_pixels: int) -> int:
    """Give the default smallest region of a 2D slice: 1/5000 of it, at least 16 px.

    Parameters
    ----------
    n_pixels : int
        Pixels in the slice (H x W).

    Returns
    -------
    int
        The smallest region, in pixels (docs/method.md, "The output stage", step 1, gives
        the measurements behind the fraction).

    Examples
    --------
    >>> auto_min_region_size(481 * 321)
    31
    """
    return max(SPOT_MIN_SIZE, int(round(n_pixels / 5000)))


def remove_small_pieces(
    pieces: np.ndarray,
    min_size: int,
    group: np.ndarray | None = None,
    features: np.ndarray | None = None,
    protect: np.ndarray | None = None,
    keep_from: int = 1,
) -> np.ndarray:
    """Remove every piece smaller than ``min_size`` pixels, except protected ones.

    With ``features`` and no ``group``, a small piece joins the neighbour whose mean colour is
    nearest its own, pass by pass, as Felzenszwalb and Huttenlocher's minimum-size step joins
    along the weakest edge (IJCV 2004); small pieces of one colour chain together and may make a
    piece of their own, so the fragments of a thin dark line join each other, not the bright
    regions beside them. Otherwise a small piece's pixels go to the nearest larger piece
    (:func:`skimage.segmentation.expand_labels`): the largest piece always stays, so a map of
    only small pieces keeps one, and with ``group`` the largest piece of every group stays too,
    so no class vanishes.

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 1.
    min_size : int
        Smallest piece kept, in pixels; <= 1 keeps every piece.
    group : ndarray of int, shape (P + 1,), optional
        The class of each piece id; the largest piece of every class is kept.
    features : ndarray of float, shape (H, W, F), optional
        Per-pixel features (:func:`napari_mmtseg.features.image_features`) for the join by
        colour.
    protect : ndarray of bool, shape (H, W), optional
        Pixels of distinct spots (:func:`napari_mmtseg.output_stage.spots.distinct_spots`): a
        piece of :data:`~napari_mmtseg.output_stage.spots.SPOT_MIN_SIZE` px or more that is
        mostly such pixels is never small.
    keep_from : int, optional
        With ``group``, a group's largest piece stays only when it has at least this many
        pixels.

    Returns
    -------
    ndarray of int, shape (H, W)
        The ids kept (``pieces`` itself when nothing is small), or with ``features`` the joined
        pieces numbered 1..P.
    """
    if min_size <= 1:
        return pieces
    if features is not None and group is None:
        return _join_small_by_colour(pieces, features, min_size, protect)
    from skimage.segmentation import expand_labels

    sizes = np.bincount(pieces.ravel())
    small = _small(pieces, sizes, min_size, protect)
    small[0] = False
    if not small.any():
        return pieces
    if small[1:].all():
        small[int(np.argmax(sizes[1:])) + 1] = False
    if group is not None:
        ids = np.arange(1, sizes.size)
        order = ids[np.lexsort((-sizes[1:], group[1:]))]  # by class, largest first
        first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
        small[first[sizes[first] >= keep_from]] = False
    kept = np.where(small[pieces], 0, pieces)
    return expand_labels(kept, distance=np.inf)


def final_regions(
    cls: np.ndarray,
    min_size: int,
    key: np.ndarray | None = None,
    class_of_key=None,
    keep_classes: bool = True,
    protect: np.ndarray | None = None,
    keep_from: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Give fragments under ``min_size`` to a neighbour, keeping every class, and form regions.

    Parameters
    ----------
    cls : ndarray of int, shape (H, W)
        Each pixel's class, ids >= 0.
    min_size : int
        Smallest fragment kept, in pixels.
    key : ndarray of int, shape (H, W), optional
        A key per pixel, finer than its class: regions are the connected parts of each key
        (parts of one key that touch once the fragments are gone are one region). None: the
        connected parts of each class.
    class_of_key : ndarray of int, shape (K,), optional
        The class of each key; required with ``key``.
    keep_classes : bool, optional
        Keep the largest fragment of every class even when it is small (a class count asked
        for). False: every fragment under ``min_size`` goes, so no region under the minimum
        size appears (the regions of ``n_classes="auto"``, where a class may vanish).
    protect : ndarray of bool, shape (H, W), optional
        Pixels of distinct spots, kept as :func:`remove_small_pieces` keeps them.
    keep_from : int, optional
        With ``keep_classes``, a class's largest fragment stays only when it has at least
        this many pixels (a smaller one, a speck, goes and its class with it).

    Returns
    -------
    cls : ndarray of int, shape (H, W)
        Each pixel's class after the clean-up (with ``keep_classes``, no class whose largest
        fragment has ``keep_from`` pixels vanishes).
    regions : ndarray of int, shape (H, W)
        Region ids 1..R, every region connected.
    """
    if key is None:
        parts, class_of = connected_pieces(cls)
        group = class_of if keep_classes else None
        kept = remove_small_pieces(
            parts, int(min_size), group=group, protect=protect, keep_from=keep_from
        )
        cls = class_of[kept]
        regions, _ = connected_pieces(cls)
        return cls, regions
    parts, key_of = connected_pieces(key)
    class_of = class_of_key[key_of]
    group = class_of if keep_classes else None
    parts = remove_small_pieces(
        parts, int(min_size), group=group, protect=protect, keep_from=keep_from
    )
    regions, _ = connected_pieces(key_of[parts])  # parts of one key that now touch are one
    return class_of[parts], regions


def ensure_min_size(
    regions: np.ndarray, min_size: int, protect: np.ndarray | None = None, max_passes: int = 5
) -> np.ndarray:
    """Guarantee that no connected region is under ``min_size`` px, except a protected spot.

    The last step of every path that emits regions: a region under the minimum (a fragment a
    later step cut off, or a piece split when its neighbours grew) goes to its nearest larger
    region (:func:`remove_small_pieces`), and the regions are formed again, until none is small.

    Parameters
    ----------
    regions : ndarray of int, shape (H, W)
        Region ids >= 1.
    min_size : int
        Smallest region, in pixels; <= 1 changes nothing.
    protect : ndarray of bool, shape (H, W), optional
        Pixels of distinct spots, kept as :func:`remove_small_pieces` keeps them.
    max_passes : int, optional
        Rounds of absorbing and forming regions again.

    Returns
    -------
    ndarray of int, shape (H, W)
        ``regions`` itself when no region is small, else connected regions 1..R.
    """
    for _ in range(max_passes):
        pieces, _ = connected_pieces(regions)
        small = _small(pieces, np.bincount(pieces.ravel()), int(min_size), protect)
        if min_size <= 1 or not small.any() or pieces.max() <= 1:
            return regions
        regions, _ = connected_pieces(remove_small_pieces(pieces, int(min_size), protect=protect))
    return regions


def absorb_indistinct(
    regions: np.ndarray,
    features: np.ndarray,
    min_size: int,
    protect: np.ndarray | None = None,
    group: np.ndarray | None = None,
    small_factor: float = 0.0,
) -> np.ndarray:
    """Join the enclosed or small regions that do not stand out from a neighbour to it.

    A region inside one other region (its only neighbour; it does not touch the image's edge),
    or under ``small_factor`` x ``min_size`` px (a sliver along a boundary), whose mean
    features differ from its nearest neighbour's by no more than
    :data:`~napari_mmtseg.output_stage.spots.SPOT_NOISE_FACTOR` x the image's pixel noise
    (:func:`~napari_mmtseg.output_stage.spots.noise_sigma`, the spot detector's rule) is noise
    the networks took for a region: it joins that neighbour. Protected spots stay.

    Parameters
    ----------
    regions : ndarray of int, shape (H, W)
        Region ids >= 1.
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    min_size : int
        The smallest region, in pixels.
    protect : ndarray of bool, shape (H, W), optional
        Pixels of distinct spots (:func:`napari_mmtseg.output_stage.spots.distinct_spots`).
    group : ndarray of int, shape (R + 1,), optional
        A group per region id: only neighbours of one group join (the hierarchy's default
        regions).
    small_factor : float, optional
        Regions under this x ``min_size`` px are checked too, enclosed or not (0: only
        enclosed ones; :data:`SMALL_FACTOR` for the hierarchy's slivers).

    Returns
    -------
    ndarray of int, shape (H, W)
        ``regions`` itself when nothing joins, else the regions renumbered 1..R.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    n = int(regions.max()) + 1
    if n <= 2:
        return regions
    pairs, _ = adjacency(regions)
    mean, size = mean_features(regions, features, n)
    edge = np.zeros(n, bool)
    edge[np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])] = True
    n_nb = np.bincount(pairs.ravel(), minlength=n)
    maybe = ((n_nb == 1) & ~edge) | (size < small_factor * max(int(min_size), 1))
    if protect is not None:
        maybe &= np.bincount(regions.ravel(), weights=protect.ravel(), minlength=n) == 0
    a = np.concatenate([pairs[:, 0], pairs[:, 1]])
    b = np.concatenate([pairs[:, 1], pairs[:, 0]])
    sel = maybe[a] if group is None else maybe[a] & (group[a] == group[b])
    a, b = a[sel], b[sel]
    contrast = np.linalg.norm(mean[a] - mean[b], axis=1)
    order = np.lexsort((contrast, a))
    a, b, contrast = a[order], b[order], contrast[order]
    first = np.r_[True, a[1:] != a[:-1]]  # each candidate's nearest neighbour by colour
    ok = first & (contrast <= SPOT_NOISE_FACTOR * noise_sigma(features))
    if not ok.any():
        return regions
    join = sparse.coo_matrix((np.ones(int(ok.sum())), (a[ok], b[ok])), shape=(n, n))
    comp = connected_components(join, directed=False)[1]
    lut = np.zeros(n, np.int64)
    lut[1:] = np.unique(comp[1:], return_inverse=True)[1] + 1
    return lut[regions]


def _small(pieces, size, min_size, protect):
    """Per piece id, whether it is under ``min_size`` and not a protected spot (id 0: False)."""
    small = size < min_size
    if protect is not None:
        spot_px = np.bincount(pieces.ravel(), weights=protect.ravel(), minlength=size.size)
        small &= ~((size >= SPOT_MIN_SIZE) & (2 * spot_px >= size))
    small[0] = False
    return small


def _join_small_by_colour(pieces, features, min_size, protect=None, max_passes: int = 50):
    """Join every small piece to its neighbour of nearest mean colour, pass by pass.

    Each pass, every piece under ``min_size`` px joins its neighbour of nearest mean colour
    (ties: the larger); the joins of a pass are applied together
    (:func:`scipy.sparse.csgraph.connected_components`), so small pieces of one colour chain
    into one piece. Passes repeat until no piece is small or one piece covers the map. Ids are
    renumbered 1..P.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    p = compact_ids(pieces)[1] + 1
    for _ in range(max_passes):
        n = int(p.max()) + 1
        if n <= 2:
            break
        mean, size = mean_features(p, features, n)
        small = _small(p, size, min_size, protect)
        if not small.any():
            break
        pairs, _ = adjacency(p, of=small)
        a = np.concatenate([pairs[:, 0], pairs[:, 1]])
        b = np.concatenate([pairs[:, 1], pairs[:, 0]])
        sel = small[a]
        a, b = a[sel], b[sel]
        order = np.lexsort((-size[b], np.linalg.norm(mean[a] - mean[b], axis=1), a))
        a, b = a[order], b[order]
        first = np.r_[True, a[1:] != a[:-1]]  # each small piece's nearest colour
        join = sparse.coo_matrix((np.ones(int(first.sum())), (a[first], b[first])), shape=(n, n))
        comp = connected_components(join, directed=False)[1]
        lut = np.zeros(n, dtype=np.int64)  # components as ids 1..P, id 0 unused
        lut[1:] = np.unique(comp[1:], return_inverse=True)[1] + 1
        p = lut[p]
    return p
