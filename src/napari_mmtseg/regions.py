"""The output stage: from a method's raw cluster map to the label image a
person keeps.

Every method (learned or classical) ends with a 2D map of cluster ids, one
per kind of pixel. That map is noisy: thin pieces along edges, specks inside
textures, a colour gradient cut into bands. :func:`finish_labels` turns it
into either

- **clusters** (semantic classes: the same id for the same kind of pixel
  anywhere in the image), or
- **regions** (instances: one id per connected region, what a nucleus
  counter wants),

in scikit-image / SciPy calls: small pieces absorbed
(:func:`remove_small_pieces`), transition bands given away
(:func:`remove_transition_bands`), weak boundaries merged against the
texture beside them (:func:`merge_weak_boundaries`), boundaries snapped to
the image's edges (:func:`snap_boundaries`) and the classes counted or
grouped to ``n_classes`` (:func:`group_classes`). docs/method.md describes
each step and the measurements behind the defaults.

No Qt, no napari, no torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import edge_strength, image_features, is_colour

__all__ = ["OutputInfo", "summarize_output", "image_features", "edge_strength", "remove_small_pieces",
           "thin_lines",
           "remove_transition_bands", "merge_weak_boundaries", "snap_boundaries", "group_classes",
           "finish_labels", "auto_min_region_size", "auto_texture_weight"]


@dataclass
class OutputInfo:
    """What the output stage did to one slice (reported with the result)."""

    n_clusters_in: int  # distinct ids the method produced
    n_pieces_in: int  # their connected pieces
    n_classes: int  # classes (semantic ids) in the output
    n_regions: int  # connected regions in the output
    min_region_size: int  # pixels
    merge_threshold: float
    why: str  # how the class count was reached, in words
    texture_weight: float = 0.0  # the texture weight the merge used (after "auto"; 0 without a merge)


def auto_min_region_size(n_pixels: int) -> int:
    """The default smallest region, in pixels, for a 2D slice of
    ``n_pixels``: 1/5000 of the slice, at least 16 px (31 px on a 481x321
    photo, 72 px on a 520x696 microscopy field; measured in docs/method.md)."""
    return max(16, int(round(n_pixels / 5000)))


#: the texture weight of the weak-boundary merge on colour images (``texture=None``)
COLOUR_TEXTURE_WEIGHT = 0.5


def auto_texture_weight(x: np.ndarray, colour: bool | None = None) -> float:
    """The texture weight :func:`finish_labels` uses with ``texture=None``
    for the (C, H, W) slice ``x``: 0.5 on a colour (RGB) image, 0 on grey and
    multichannel intensity images. ``colour``: whether ``x`` is RGB (the
    engine passes what :func:`napari_mmtseg.prepare_image` decided); None:
    3 channels are taken as RGB, as :func:`image_features` does.

    Why: in a photograph, texture (foliage, fabric, fur, gravel) belongs to
    one surface, and a boundary no stronger than the texture beside it is
    spurious (BSDS500 train: accuracy 0.612 -> 0.641 and VoI 1.53 -> 1.39 for
    MMT at 0.5). In microscopy the textured interior of a cell (organelles,
    chromatin) lies next to the membrane or the dim gap that separates it
    from the next cell, and the texture term merges across it (ISBI 2012 EM:
    MMT object F1 0.39 at 0.5, 0.57 at 0; BBBC039 nuclei 0.828 and 0.838).
    Measured in docs/method.md ("The texture term on microscopy")."""
    return COLOUR_TEXTURE_WEIGHT if is_colour(x, colour) else 0.0


def _pieces(labels: np.ndarray):
    """Connected pieces (4-connectivity) of a cluster map: (pieces 1..P, cluster of each piece)."""
    from skimage.measure import label

    lab = np.asarray(labels)
    pieces = label(lab.astype(np.int64) + 1, background=0, connectivity=1)
    cluster = np.zeros(int(pieces.max()) + 1, dtype=np.int64)
    cluster[pieces.ravel()] = lab.ravel()
    return pieces, cluster


def remove_small_pieces(pieces: np.ndarray, min_size: int, group=None, features=None) -> np.ndarray:
    """Remove every piece smaller than ``min_size`` pixels. ``pieces``: (H, W)
    ids >= 1. Returns a new (H, W) map: the ids kept, or with ``features``
    the joined pieces numbered 1..P.

    With ``features`` ((H, W, F), see :func:`image_features`) and no
    ``group``, a small piece joins the neighbour whose mean colour is
    nearest its own, pass by pass, as Felzenszwalb and Huttenlocher's
    minimum-size step joins along the weakest edge; small pieces of one
    colour chain together and may make a piece of their own. The fragments
    of a thin dark line (a membrane broken into pieces by noise) so join
    each other, not the bright regions beside them. Otherwise a small
    piece's pixels go to the nearest larger piece
    (:func:`skimage.segmentation.expand_labels`): the largest piece always
    stays, so a map of only small pieces keeps one, and with ``group`` (the
    class of each piece id) the largest piece of every class stays too, so
    no class vanishes."""
    if min_size <= 1:
        return pieces
    if features is not None and group is None:
        return _join_small_by_colour(pieces, features, min_size)
    from skimage.segmentation import expand_labels

    sizes = np.bincount(pieces.ravel())
    small = sizes < min_size
    small[0] = False
    if not small.any():
        return pieces
    if small[1:].all():
        small[int(np.argmax(sizes[1:])) + 1] = False
    if group is not None:
        ids = np.arange(1, sizes.size)
        order = ids[np.lexsort((-sizes[1:], group[1:]))]  # by class, largest first
        first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
        small[first] = False
    kept = np.where(small[pieces], 0, pieces)
    return expand_labels(kept, distance=np.inf)


def _join_small_by_colour(pieces, features, min_size, max_passes: int = 50):
    """Each pass, every piece under ``min_size`` px joins its neighbour of
    nearest mean colour (ties: the larger); the joins of a pass are applied
    together (:func:`scipy.sparse.csgraph.connected_components`), so small
    pieces of one colour chain into one piece. Passes repeat until no piece
    is small or one piece covers the map. Ids are renumbered 1..P."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    p = np.unique(pieces, return_inverse=True)[1].reshape(pieces.shape) + 1
    for _ in range(max_passes):
        n = int(p.max()) + 1
        if n <= 2:
            break
        mean, size = _mean_features(p, features, n)
        small = size < min_size
        small[0] = False
        if not small.any():
            break
        pairs, _ = _adjacency(p, of=small)
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


def _adjacency(pieces: np.ndarray, of=None):
    """Pairs (a < b) of 4-adjacent pieces and the length of their shared boundary
    (pixel pairs across it); with ``of`` (a bool per id), only the pairs that
    touch at least one of those ids."""
    a = np.concatenate([pieces[:, :-1].ravel(), pieces[:-1, :].ravel()])
    b = np.concatenate([pieces[:, 1:].ravel(), pieces[1:, :].ravel()])
    diff = a != b
    if of is not None:
        diff &= of[a] | of[b]
    lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
    n = int(pieces.max()) + 1
    pairs, count = np.unique(lo.astype(np.int64) * n + hi, return_counts=True)
    return np.stack([pairs // n, pairs % n], axis=1), count


def remove_transition_bands(pieces: np.ndarray, features: np.ndarray, max_width: float = 2.0,
                            slack: float = 1.25, passes: int = 3) -> np.ndarray:
    """Give away the pixels of *transition bands*: thin pieces (no pixel farther
    than ``max_width`` px from the piece's edge, :func:`scipy.ndimage.distance_transform_edt`:
    bands up to about 2 x ``max_width`` + 1 px wide)
    whose mean colour lies between the colours of the two neighbours they touch
    most (``d(band, a) + d(band, b) <= slack * d(a, b)``). Such bands are the
    blur of an edge between two regions clustered as a kind of pixel of its
    own (a ring around every nucleus, a seam along every outline); their
    pixels go to the nearest neighbour, so the edge falls mid-band. A thin
    piece darker or brighter than both sides (a membrane, a line) is kept.
    A wide band made of several thin clusters side by side goes pass by pass
    (at most ``passes``): the middle ones first, then the outer ones, which
    then lie between the two sides. Returns a new (H, W) piece map (ids
    kept, some removed), or ``pieces`` itself when nothing was removed."""
    for _ in range(passes):
        before = pieces
        pieces = _remove_bands_once(pieces, features, max_width, slack)
        if pieces is before:
            break
    return pieces


def _remove_bands_once(pieces, features, max_width, slack):
    from skimage.segmentation import expand_labels

    n = int(pieces.max()) + 1
    if n <= 3:
        return pieces
    _, width = _depth(pieces)
    thin = width <= max_width
    thin[0] = False
    if not thin.any():
        return pieces
    mean, _ = _mean_features(pieces, features, n)
    pairs, contact = _adjacency(pieces)
    # every (piece, neighbour, contact) both ways, the thin pieces' two largest contacts first
    p = np.concatenate([pairs[:, 0], pairs[:, 1]])
    nb = np.concatenate([pairs[:, 1], pairs[:, 0]])
    c = np.concatenate([contact, contact])
    sel = thin[p]
    p, nb, c = p[sel], nb[sel], c[sel]
    if p.size == 0:
        return pieces
    order = np.lexsort((-c, p))
    p, nb = p[order], nb[order]
    first = np.r_[True, p[1:] != p[:-1]]
    second = np.r_[False, first[:-1]] & ~first
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    a[p[first]] = nb[first]
    b[p[second]] = nb[second]
    has_two = np.zeros(n, dtype=bool)
    has_two[p[second]] = True
    d_ab = np.linalg.norm(mean[a] - mean[b], axis=1)
    between = (np.linalg.norm(mean - mean[a], axis=1) + np.linalg.norm(mean - mean[b], axis=1)
               <= slack * d_ab)
    drop = has_two & (d_ab > 0) & between
    present = np.bincount(pieces.ravel(), minlength=n) > 0  # ids may have gaps
    if not drop.any() or not (present[1:] & ~drop[1:]).any():  # nothing, or everything, to drop
        return pieces
    return expand_labels(np.where(drop[pieces], 0, pieces), distance=np.inf)


def thin_lines(pieces: np.ndarray, features: np.ndarray, max_thickness: float,
               min_elongation: float = 3.0, contrast: float = 15.0,
               min_enclosed: float = 0.8, min_neighbours: int = 5) -> np.ndarray:
    """Which pieces of an (H, W) map are thin lines (membranes, cell walls,
    vessels), and on which side of their surroundings their colour lies.

    A piece is a line when
    - its mean thickness, 2 x area / boundary length, is at most
      ``max_thickness`` px (a band of width w has w, a disc of radius r has r);
    - its elongation, boundary length^2 / (4 pi area), is at least
      ``min_elongation`` (1 for a disc, length / (pi w) for a band);
    - along at least ``min_enclosed`` of its boundary, and with at least
      ``min_neighbours`` neighbours, the neighbour's mean colour lies more
      than ``contrast`` feature units beyond the line's own, on the side of
      the mean colour of all its neighbours (weighted by shared boundary):
      darker or brighter than what it separates.
    The boundary length counts only boundaries with other pieces, not the
    image border (a line along the border looks thicker). Returns (P + 1, F)
    float64: for a line, the unit vector from its neighbours' mean colour to
    its own (in ``features`` space, (H, W, F)); zeros for every other id."""
    n = int(pieces.max()) + 1
    mean, size = _mean_features(pieces, features, n)
    pairs, contact = _adjacency(pieces)
    p = np.concatenate([pairs[:, 0], pairs[:, 1]])
    nb = np.concatenate([pairs[:, 1], pairs[:, 0]])
    c = np.concatenate([contact, contact]).astype(np.float64)
    perimeter = np.bincount(p, weights=c, minlength=n)
    around = np.stack([np.bincount(p, weights=c * mean[nb, f], minlength=n)
                       for f in range(mean.shape[1])], axis=1) / np.maximum(perimeter, 1)[:, None]
    u = mean - around
    norm = np.linalg.norm(u, axis=1)
    unit = u / np.maximum(norm, 1e-12)[:, None]
    # the share of its boundary along which the neighbour lies beyond ``contrast`` on the far side
    beyond = np.einsum("ij,ij->i", mean[nb] - mean[p], unit[p]) < -contrast
    enclosed = np.bincount(p, weights=c * beyond, minlength=n) / np.maximum(perimeter, 1)
    line = ((perimeter > 0) & (2 * size <= max_thickness * perimeter)  # id 0: no boundary
            & (perimeter ** 2 >= min_elongation * 4 * np.pi * size) & (norm > 0)
            & (enclosed >= min_enclosed)
            & (np.bincount(p, weights=beyond, minlength=n) >= min_neighbours))
    out = np.zeros_like(mean)
    out[line] = unit[line]
    return out


def merge_weak_boundaries(pieces: np.ndarray, edges: np.ndarray, threshold: float,
                          keep_apart=None, texture: float = 0.0, margin: float = 5.0,
                          lines=None, features=None, line_contrast: float = 15.0) -> np.ndarray:
    """Merge adjacent pieces, weakest boundary first, while the mean of
    ``edges`` along their shared boundary is below ``threshold``
    (:func:`skimage.graph.rag_boundary`, :func:`skimage.graph.merge_hierarchical`;
    the merged boundary's strength is the length-weighted mean of its parts).
    ``texture``: the boundary is first lowered by ``texture`` x the smaller
    of the two regions' mean ``edges`` inside them (on their pixels farther
    than ``margin`` px from any boundary, so the blur of their own boundary
    is not taken for texture; a thinner region's deepest pixels), so a
    boundary no stronger than the texture on both sides (stripes, foliage)
    counts as weak (Felzenszwalb and Huttenlocher's internal-difference idea).
    ``keep_apart``: optional group id per piece id (-1 = none); pieces of two
    different groups are never merged (classes a user scribbled).
    ``lines``: optional (P + 1, F) directions from :func:`thin_lines`, with
    ``features``: a thin line never merges with a neighbour whose colour
    lies more than ``line_contrast`` (feature units) beyond the line's, on
    the side of its surroundings (a dark membrane never joins the bright
    cells it separates, whatever the texture; two fragments of it may join).
    A merged region stays a line while its line part is the larger part.
    Returns an (H, W) map of ids >= 1, one per union of pieces."""
    if threshold <= 0 or pieces.min() == pieces.max():
        return pieces
    from skimage import graph

    rag = graph.rag_boundary(pieces, edges.astype(np.float64), connectivity=1)
    n = int(pieces.max()) + 1
    depth, width = _depth(pieces)
    inside = ((depth > margin) | (depth >= width[pieces])).ravel()
    esum = np.bincount(pieces.ravel()[inside], weights=edges.ravel()[inside], minlength=n)
    size = np.maximum(np.bincount(pieces.ravel()[inside], minlength=n), 1)
    if lines is not None and not np.asarray(lines).any():
        lines = None
    if lines is not None:
        if features is None:
            raise ValueError("merge_weak_boundaries: lines need the features they were found in")
        fsum, npx = _mean_features(pieces, features, n)
        fsum = fsum * npx[:, None]
    for v in rag.nodes:
        rag.nodes[v].update(esum=float(esum[v]), size=int(size[v]),
                            group=-1 if keep_apart is None else int(keep_apart[v]))
        if lines is not None:
            rag.nodes[v].update(fsum=fsum[v], npx=float(npx[v]),
                                line=lines[v] if lines[v].any() else None)

    def strength(g, a, b, boundary):
        if _apart(g, a, b):
            return np.inf
        if lines is not None and _line_apart(g, a, b, line_contrast):
            return np.inf
        inner = min(g.nodes[a]["esum"] / g.nodes[a]["size"], g.nodes[b]["esum"] / g.nodes[b]["size"])
        return boundary - texture * inner

    for a, b, d in rag.edges(data=True):
        d["boundary"] = d["weight"]
        d["weight"] = strength(rag, a, b, d["boundary"])

    def weight(g, src, dst, nb):
        none = {"boundary": 0.0, "count": 0}
        a, b = g[src].get(nb, none), g[dst].get(nb, none)
        count = a["count"] + b["count"]
        boundary = (a["count"] * a["boundary"] + b["count"] * b["boundary"]) / count
        return {"count": count, "boundary": boundary, "weight": strength(g, dst, nb, boundary)}

    def merge(g, src, dst):  # sizes add up; a merged region belongs to the group of either part
        g.nodes[dst]["esum"] += g.nodes[src]["esum"]
        g.nodes[dst]["size"] += g.nodes[src]["size"]
        if g.nodes[dst]["group"] < 0:
            g.nodes[dst]["group"] = g.nodes[src]["group"]
        if lines is not None:  # a line stays one only while it is most of what merged
            d, sv = g.nodes[dst], g.nodes[src]
            if d["line"] is None or sv["line"] is None:
                line, other = (d, sv) if d["line"] is not None else (sv, d)
                d["line"] = line["line"] if line["npx"] >= other["npx"] else None
            d["fsum"] = d["fsum"] + sv["fsum"]
            d["npx"] += sv["npx"]

    merged = graph.merge_hierarchical(pieces, rag, thresh=threshold, rag_copy=False,
                                      in_place_merge=True, merge_func=merge, weight_func=weight)
    return merged + 1  # ids from 1, as everywhere in this module (0 would read as "unlabelled")


def _line_apart(g, a, b, contrast: float) -> bool:
    """A line node and a neighbour on its surroundings' side by more than ``contrast``."""
    na, nb = g.nodes[a], g.nodes[b]
    if na["line"] is None and nb["line"] is None:
        return False
    step = nb["fsum"] / max(nb["npx"], 1) - na["fsum"] / max(na["npx"], 1)
    return ((na["line"] is not None and float(step @ na["line"]) < -contrast)
            or (nb["line"] is not None and float(step @ nb["line"]) > contrast))


def _apart(g, a, b) -> bool:
    ga, gb = g.nodes[a].get("group", -1), g.nodes[b].get("group", -1)
    return ga >= 0 and gb >= 0 and ga != gb


def _depth(pieces: np.ndarray):
    """Distance of every pixel to the nearest pixel of another piece, and each
    piece's largest such distance (its half-width), indexed by id."""
    from scipy import ndimage as ndi
    from skimage.segmentation import find_boundaries

    edge = find_boundaries(pieces, connectivity=1, mode="thick")
    depth = ndi.distance_transform_edt(~edge)
    n = int(pieces.max()) + 1
    width = np.zeros(n)
    width[1:] = ndi.maximum(depth, pieces, index=np.arange(1, n))
    return depth, width


def snap_boundaries(regions: np.ndarray, edges: np.ndarray, radius: float = 2.0) -> np.ndarray:
    """Move every boundary to the strongest image edge within ``radius`` px:
    the pixels that near a boundary are cleared and re-flooded from the
    regions' cores over the edge map (:func:`skimage.segmentation.watershed`),
    so the boundary settles on the ridge of the gradient. A region thinner
    than the band keeps its deepest pixels as its core, so none is lost."""
    from skimage.segmentation import watershed

    if radius <= 0 or regions.min() == regions.max():
        return regions
    depth, width = _depth(regions)
    keep = (depth > radius) | (depth >= width[regions])
    return watershed(edges, markers=np.where(keep, regions, 0))


def _mean_features(ids: np.ndarray, features: np.ndarray, n: int):
    flat = ids.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    means = np.stack([np.bincount(flat, features[..., c].ravel(), minlength=n)
                      for c in range(features.shape[-1])], axis=1)
    return means / np.maximum(count, 1)[:, None], count


def group_classes(ids: np.ndarray, features: np.ndarray, n_classes: int) -> np.ndarray:
    """Group the ids of an (H, W) map into ``n_classes`` classes by Ward's
    agglomerative clustering of their mean features, each id weighted by its
    pixel count (:func:`scipy.cluster.hierarchy.linkage` on each mean repeated
    in proportion to its size, 1 to 50 times, 10,000 points at most; above
    1,000 ids, scikit-learn's ``KMeans`` with those weights instead). Returns
    (H, W) class ids 0..n_classes-1 (fewer only when the map has fewer ids)."""
    uniq, inv = np.unique(ids, return_inverse=True)
    inv = inv.reshape(ids.shape)
    if uniq.size <= n_classes:
        return inv
    means, count = _mean_features(inv, features, uniq.size)
    if uniq.size > 1000:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=n_classes, n_init=3, random_state=0)
        return km.fit(means, sample_weight=count).labels_[inv]
    from scipy.cluster.hierarchy import fcluster, linkage

    reps = np.clip(np.round(count / count.sum() * 10_000), 1, 50).astype(int)
    pts = np.repeat(means, reps, axis=0)
    owner = np.repeat(np.arange(uniq.size), reps)
    groups = fcluster(linkage(pts, method="ward"), t=n_classes, criterion="maxclust") - 1
    # each id's copies stay together (identical points merge first); take the first copy's group
    first = np.searchsorted(owner, np.arange(uniq.size))
    return groups[first][inv]


def finish_labels(clusters: np.ndarray, x: np.ndarray, *, output: str = "regions",
                  n_classes="auto", min_region_size: int | None = None,
                  merge_threshold: float = 0.0, refine: bool = False,
                  edge_sigma: float = 2.0, band_width: float = 2.0, snap: float = 2.0,
                  keep_ids: bool = False, keep_apart=(), scribbled_pixels=None, texture: float | None = 0.0,
                  small_by_colour: bool = True, line_width: float = 8.0, line_contrast: float = 15.0,
                  colour: bool | None = None, join_regions: str = "lines_apart"):
    """The output stage for one 2D slice.

    clusters: (H, W) integer cluster map from a method (any ids).
    x: (C, H, W) float image in [0, 1] (the normalised slice).
    output: ``"regions"`` (one id per connected region) or ``"clusters"``
        (one id per class).
    n_classes: ``"auto"`` (the method's clusters that are left after the
        clean-up) or an int >= 1 (classes grouped to exactly that many when
        the image has that many regions).
    min_region_size: pixels; ``None`` for :func:`auto_min_region_size`.
    merge_threshold: boundary strength below which adjacent regions merge
        (0: no merging).
    texture: the boundary strength is lowered by this x the smaller mean
        gradient inside the two regions (see :func:`merge_weak_boundaries`);
        ``None``: :func:`auto_texture_weight` (0.5 on colour images, 0 on
        grey and multichannel ones; ``colour`` says whether ``x`` is RGB,
        None: when it has 3 channels).
    small_by_colour: a piece under ``min_region_size`` joins the neighbour
        of nearest mean colour (True) or its pixels go to the nearest larger
        piece (False); see :func:`remove_small_pieces`.
    line_width: thin lines (mean thickness up to this many px, darker or
        brighter than the regions around them by more than
        ``line_contrast`` feature units: membranes, cell walls) never merge
        into the regions they separate (:func:`thin_lines`; 0: off).
    refine: give transition bands away and snap boundaries to image edges.
    keep_ids: clusters output keeps the method's cluster ids (with
        ``n_classes="auto"``) instead of numbering the classes from 0.
    keep_apart: cluster ids of scribbled classes: their regions never merge
        with each other, and a region holding one of them takes that class.
    scribbled_pixels: optional (H, W) int, at each scribbled pixel the
        cluster id of the class the user scribbled there (-1 = not
        scribbled). With it, a region takes a scribbled class only where it
        holds pixels the user scribbled with that class (the class with the
        most of them), whatever the method predicts there; other regions take
        their majority cluster, so a large unmarked region that merged with a
        small scribbled one (the background with one nucleus) keeps its own
        class.
    join_regions: how ``output="regions"`` with ``n_classes="auto"``
        forms the regions from the stage's own (after the merge and the
        snapping), whose touching neighbours may take the same class:
        ``"lines_apart"`` (default): touching regions of one class become
        one, except a thin line (:func:`thin_lines`, found again on the
        stage's regions) and a region that is not one, so the thin-line rule
        still holds at the end (a dark EM cell interior stays apart from the
        dark membrane beside it); ``"class"``: the connected parts of each
        class (the behaviour before; an ablation); ``"stage"``: the stage's
        regions as they are (an ablation: more regions on photos). With
        ``n_classes=N``, or without the thin-line rule (``line_width=0`` or
        ``merge_threshold=0``), ``"lines_apart"`` gives the connected parts
        of each class.

    Returns ``(labels, info)``: (H, W) int32 ids from 0 (regions: each
    region its own id, every region connected; with the default
    ``join_regions`` two touching regions share a class only when one of
    them is a thin line; clusters: the class id, or the method's id
    with ``keep_ids``), and an :class:`OutputInfo`. Every class that
    survives the merging keeps at least one region (the last clean-up never
    removes a class).
    """
    if output not in ("regions", "clusters"):
        raise ValueError(f"output must be 'regions' or 'clusters', got {output!r}")
    if join_regions not in ("lines_apart", "class", "stage"):
        raise ValueError(f"join_regions must be 'lines_apart', 'class' or 'stage', got {join_regions!r}")
    H, W = clusters.shape
    if min_region_size is None:
        min_region_size = auto_min_region_size(H * W)
    auto_texture = texture is None
    if auto_texture:
        texture = auto_texture_weight(x, colour)
    # compact ids 0..K-1 (any ids in, negative or huge); ``ids`` maps them back
    ids, compact = np.unique(np.asarray(clusters), return_inverse=True)
    compact = compact.reshape(H, W)
    scribbled = np.searchsorted(ids, [c for c in keep_apart if c in ids]).astype(np.int64)
    pieces, cluster_of = _pieces(compact)
    n_in, n_pieces = int(ids.size), int(pieces.max())
    cache = {}

    def features():  # computed once, and only when a step needs it
        if "f" not in cache:
            cache["f"] = image_features(x, colour)
        return cache["f"]

    by_colour = small_by_colour and min_region_size > 1
    regions = remove_small_pieces(pieces, int(min_region_size),
                                  features=features() if by_colour else None)
    if refine and band_width > 0 and regions.max() > 1:
        regions = remove_transition_bands(regions, features(), band_width)
    if merge_threshold > 0 and regions.max() > 1:
        apart = None
        if scribbled.size:  # the scribbled clusters' regions never merge across classes
            major = _votes(regions, cluster_of[pieces], ids.size).argmax(1)
            apart = np.where(np.isin(major, scribbled), major, -1)
        lines = (thin_lines(regions, features(), line_width, contrast=line_contrast)
                 if line_width > 0 else None)
        regions = merge_weak_boundaries(regions, edge_strength(features(), edge_sigma),
                                        merge_threshold, apart, texture, lines=lines,
                                        features=features(), line_contrast=line_contrast)
    if refine and snap > 0 and regions.max() > 1:
        regions = snap_boundaries(regions, edge_strength(features(), 1.0), snap)
    # each region's class: the method's cluster that covers most of it; a region holding a
    # scribbled cluster takes the largest scribbled one
    reg_ids, reg = np.unique(regions, return_inverse=True)
    reg = reg.reshape(regions.shape)
    votes = _votes(reg, cluster_of[pieces], ids.size)
    region_class = votes.argmax(1)
    if scribbled.size:
        sv = votes[:, scribbled]
        if scribbled_pixels is not None:  # count the user's classes at the scribbled pixels
            sp = np.asarray(scribbled_pixels).ravel()
            m = np.flatnonzero(sp >= 0)
            ci = np.minimum(np.searchsorted(ids, sp[m]), ids.size - 1)
            ok = ids[ci] == sp[m]  # a class whose cluster is absent from the map cannot vote
            sv = _votes(reg.ravel()[m[ok]], ci[ok], ids.size, votes.shape[0])[:, scribbled]
        has = sv.max(1) > 0
        region_class[has] = scribbled[sv[has].argmax(1)]
    cls = region_class[reg]
    n_left = int(np.unique(cls).size)
    if n_classes != "auto":
        n = int(n_classes)
        if n_left >= n:
            cls = group_classes(cls, features(), n)
            why = f"n_classes={n}: {n_left} clusters grouped by colour (Ward) into {n}"
        else:  # too few clusters left: group the regions themselves
            cls = group_classes(reg, features(), n)
            why = (f"n_classes={n}: only {n_left} clusters were left, so the {reg_ids.size} "
                   f"regions were grouped by colour (Ward)")
    # last clean-up: fragments under min_region_size (left by the class grouping or the
    # snapping) join a neighbour, keeping every class. Regions are then the connected parts
    # of each class, with a thin line kept apart from the rest of its class by default
    key, class_of_key = None, None  # per stage region: regions of one key that touch become one
    if output == "regions" and n_classes == "auto" and join_regions == "stage":
        key, class_of_key = np.arange(reg_ids.size), region_class
    elif (output == "regions" and n_classes == "auto" and join_regions == "lines_apart"
          and line_width > 0 and merge_threshold > 0):  # the thin-line rule is the merge's
        is_line = thin_lines(reg + 1, features(), line_width, contrast=line_contrast).any(1)[1:]
        key, class_of_key = region_class * 2 + is_line, np.repeat(np.arange(ids.size), 2)
    if key is None:
        parts, class_of = _pieces(cls)
        cls = class_of[remove_small_pieces(parts, int(min_region_size), group=class_of)]
        regions, _ = _pieces(cls)
    else:
        parts, key_of = _pieces(key[reg])
        class_of = class_of_key[key_of]
        parts = remove_small_pieces(parts, int(min_region_size), group=class_of)
        cls = class_of[parts]
        regions, _ = _pieces(key_of[parts])  # parts of one key that now touch are one region
    n_cls, n_reg = int(np.unique(cls).size), int(regions.max())
    if n_classes == "auto":
        steps = [f"pieces under {min_region_size} px absorbed"] if min_region_size > 1 else []
        if refine:
            steps.append("transition bands given away")
        if merge_threshold > 0:
            steps.append(f"boundaries weaker than {merge_threshold:g}"
                         + (f" (less {texture:g} x the texture beside them)" if texture else
                            " (no texture term: not a colour image)" if auto_texture else "")
                         + " merged" + (", thin lines kept apart" if line_width > 0 else ""))
        why = (f"{n_cls} of the method's {n_in} clusters are left after clean-up ({', '.join(steps)})"
               if steps else f"the method's {n_in} cluster{'' if n_in == 1 else 's'}, no clean-up")
    elif n_cls < int(n_classes):
        why += f"; the image has only {n_cls} distinct region(s), so {n_cls} class(es)"
    if output == "regions":
        out = regions - 1
    elif keep_ids and n_classes == "auto":  # the method's own cluster ids
        out = ids[cls]
    else:
        out = np.unique(cls, return_inverse=True)[1].reshape(cls.shape)
    info = OutputInfo(n_clusters_in=n_in, n_pieces_in=n_pieces, n_classes=n_cls,
                      n_regions=n_reg, min_region_size=int(min_region_size),
                      merge_threshold=float(merge_threshold), why=why,
                      texture_weight=float(texture) if merge_threshold > 0 else 0.0)
    return out.astype(np.int32), info


def _votes(regions: np.ndarray, clusters: np.ndarray, n_clusters: int,
           n_reg: int | None = None) -> np.ndarray:
    """(regions, clusters) pixel counts of two aligned id maps (any shape);
    ``n_reg`` rows (default: the largest region id + 1)."""
    n_reg = int(regions.max()) + 1 if n_reg is None else n_reg
    flat = regions.ravel().astype(np.int64) * n_clusters + clusters.ravel()
    return np.bincount(flat, minlength=n_reg * n_clusters).reshape(n_reg, n_clusters)


def summarize_output(infos: list) -> dict:
    """One dict for a whole run from the per-slice :class:`OutputInfo` list:
    the class and region counts (the largest over slices), the settings, and
    the reason for the class count (of the first slice; stacks say how many
    slices share it)."""
    if not infos:
        return {}
    first = infos[0]
    why = first.why
    if len(infos) > 1:
        counts = sorted({i.n_classes for i in infos})
        why = (f"slice 0: {why}; classes per slice: "
               + (str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"))
    return {"n_classes": max(i.n_classes for i in infos),
            "n_regions": max(i.n_regions for i in infos),
            "clusters_before": max(i.n_clusters_in for i in infos),
            "pieces_before": max(i.n_pieces_in for i in infos),
            "min_region_size": first.min_region_size,
            "merge_threshold": first.merge_threshold,
            "texture_weight": first.texture_weight,
            "why": why}
