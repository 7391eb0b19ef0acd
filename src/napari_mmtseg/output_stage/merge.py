"""Weak-boundary merge: adjacent regions whose boundary does not stand out merge, weakest first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..features import is_colour
from .maps import chi_squared, depth, mean_features

__all__ = ["COLOUR_TEXTURE_WEIGHT", "RegionTerms", "auto_texture_weight", "merge_weak_boundaries"]

#: the texture weight of the weak-boundary merge on colour images (``texture=None``)
COLOUR_TEXTURE_WEIGHT = 0.5


def auto_texture_weight(x: np.ndarray, colour: bool | None = None) -> float:
    """Give the texture weight that the output stage uses with ``texture=None``.

    0.5 on a colour (RGB) image, 0 on grey and multichannel intensity images. In a photograph,
    texture (foliage, fabric, fur, gravel) belongs to one surface, and a boundary no stronger
    than the texture beside it is spurious. In microscopy the textured interior of a cell
    (organelles, chromatin) lies next to the membrane or the dim gap that separates it from the
    next cell, and the texture term merges across it. docs/method.md ("The texture term on
    microscopy") has the measurements.

    Parameters
    ----------
    x : ndarray of float, shape (C, H, W)
        The normalised slice.
    colour : bool, optional
        Whether ``x`` is RGB (the engine passes what :func:`napari_mmtseg.prepare_image`
        decided); None: 3 channels are taken as RGB, as
        :func:`napari_mmtseg.features.image_features` does.

    Returns
    -------
    float
        :data:`COLOUR_TEXTURE_WEIGHT` on a colour image, else 0.
    """
    return COLOUR_TEXTURE_WEIGHT if is_colour(x, colour) else 0.0


@dataclass(frozen=True, eq=False)
class RegionTerms:
    """How the two regions themselves change the strength of the boundary between them.

    Used to order the merges of a region hierarchy
    (:func:`napari_mmtseg.output_stage.hierarchy.build_hierarchy`): two regions whose colour
    distributions differ stay apart longer than their boundary's contrast alone says, and a
    small region merges earlier than a large one, as in the region-merging criteria that
    compare whole regions (the histogram distance of Martin, Fowlkes and Malik, TPAMI 2004;
    the size term of Felzenszwalb and Huttenlocher, IJCV 2004), and two regions far apart in
    the region graph's spectral embedding stay apart longer (gPb's globalisation, Arbelaez et
    al., TPAMI 2011; :func:`napari_mmtseg.output_stage.spectral.spectral_embedding`).
    docs/benchmarks.md ("One run, every level of detail") has the measurements that set the
    defaults.

    Attributes
    ----------
    histograms : ndarray of float, shape (P + 1, F, B)
        Each piece's pixel counts per feature channel and bin
        (:func:`napari_mmtseg.output_stage.maps.channel_histograms`): colour (CIELAB) on an RGB
        image, intensity on grey and multichannel ones.
    weight : float
        Added strength, in feature units, per unit of chi-squared distance between the two
        regions' histograms (:func:`napari_mmtseg.output_stage.maps.chi_squared`, 0..1).
    small_area : float
        Pixels: when the smaller side of a boundary has ``n < small_area`` pixels, the
        boundary's whole strength (edges, texture, histogram and spectral terms), if positive,
        is scaled by ``sqrt(n / small_area)``; a negative one (a boundary weaker than the
        texture beside it) is left as it is. 0 turns the size term off.
    embedding : ndarray of float, shape (P + 1, K), optional
        Each piece's spectral coordinates; a merged region's are the pixel-weighted mean of
        its parts'. None: no spectral term.
    spectral_weight : float, optional
        Added strength, in feature units, per unit of Euclidean distance between the two
        regions' coordinates.
    """

    histograms: np.ndarray
    weight: float
    small_area: float
    embedding: np.ndarray | None = None
    spectral_weight: float = 0.0


def merge_weak_boundaries(
    pieces: np.ndarray,
    edges: np.ndarray,
    threshold: float,
    keep_apart: np.ndarray | None = None,
    texture: float = 0.0,
    margin: float = 5.0,
    lines: np.ndarray | None = None,
    features: np.ndarray | None = None,
    line_contrast: float = 15.0,
    log: list | None = None,
    regions: RegionTerms | None = None,
) -> np.ndarray:
    """Merge adjacent pieces, weakest boundary first, while the boundary is weak.

    A boundary's strength is the mean of ``edges`` along it (:func:`skimage.graph.rag_boundary`,
    :func:`skimage.graph.merge_hierarchical`; a merged boundary's strength is the
    length-weighted mean of its parts), lowered by ``texture`` x the smaller of the two regions'
    mean ``edges`` inside them: Felzenszwalb and Huttenlocher's internal-difference idea (IJCV
    2004), so a boundary no stronger than the texture on both sides (stripes, foliage) counts as
    weak. Inside means the pixels farther than ``margin`` px from any boundary, so the blur of a
    region's own boundary is not taken for texture (a thinner region's deepest pixels).

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 1.
    edges : ndarray of float, shape (H, W)
        Edge strength (:func:`napari_mmtseg.features.edge_strength`).
    threshold : float
        Pieces merge while their boundary's strength is below this; <= 0 merges nothing.
    keep_apart : ndarray of int, shape (P + 1,), optional
        A group id per piece id (-1 = none); pieces of two different groups never merge
        (classes a user scribbled).
    texture : float, optional
        Weight of the texture inside the regions.
    margin : float, optional
        Pixels nearer than this to a boundary are not inside a region.
    lines : ndarray of float, shape (P + 1, F), optional
        Directions from :func:`napari_mmtseg.output_stage.thin_lines`: a thin line never merges
        with a neighbour whose colour lies more than ``line_contrast`` beyond the line's, on the
        side of its surroundings (a dark membrane never joins the bright cells it separates,
        whatever the texture; two fragments of it may join). A merged region stays a line while
        its line part is the larger part.
    features : ndarray of float, shape (H, W, F), optional
        The features ``lines`` were found in; required with ``lines``.
    line_contrast : float, optional
        Colour step beyond a line, in feature units.
    log : list, optional
        Each merge is appended to it as ``(src, dst, strength)``: the piece ids whose regions
        merged (``dst``'s region holds both after) and the boundary's strength then (with
        ``regions``, its region terms included), in merge order (for
        :func:`napari_mmtseg.output_stage.hierarchy.build_hierarchy`).
    regions : RegionTerms, optional
        Histogram, spectral and size terms of the strength (:class:`RegionTerms`); None: the
        boundary and texture alone.

    Returns
    -------
    ndarray of int, shape (H, W)
        Ids >= 1, one per union of pieces (``pieces`` itself when nothing can merge).

    Raises
    ------
    ValueError
        If ``lines`` mark a line and ``features`` is None.
    """
    if threshold <= 0 or pieces.min() == pieces.max():
        return pieces
    from skimage import graph

    if lines is not None and not np.asarray(lines).any():
        lines = None
    if lines is not None and features is None:
        raise ValueError("merge_weak_boundaries: lines need the features they were found in")
    rag = _region_graph(pieces, edges, margin, keep_apart, lines, features, regions)
    rules = _MergeRules(texture, lines is not None, line_contrast, log, regions)
    rules.weigh_edges(rag)
    how = dict(rag_copy=False, in_place_merge=True, merge_func=rules.merge)
    merged = graph.merge_hierarchical(
        pieces, rag, thresh=threshold, weight_func=rules.weight, **how
    )
    return merged + 1  # ids from 1, as in every piece map (0 would read as "unlabelled")


def _region_graph(pieces, edges, margin, keep_apart, lines, features, regions=None):
    """The pieces' adjacency graph, each edge its mean boundary strength, each node described.

    Every node gets its texture sums, its group, with ``lines`` its colour and line, and with
    ``regions`` its histograms.
    """
    from skimage import graph

    rag = graph.rag_boundary(pieces, edges.astype(np.float64), connectivity=1)
    n = int(pieces.max()) + 1
    dist, width = depth(pieces)
    inside = ((dist > margin) | (dist >= width[pieces])).ravel()
    esum = np.bincount(pieces.ravel()[inside], weights=edges.ravel()[inside], minlength=n)
    size = np.maximum(np.bincount(pieces.ravel()[inside], minlength=n), 1)
    if lines is not None:
        fsum, npx = mean_features(pieces, features, n)
        fsum = fsum * npx[:, None]
    for v in rag.nodes:
        rag.nodes[v].update(
            esum=float(esum[v]),
            size=int(size[v]),
            group=-1 if keep_apart is None else int(keep_apart[v]),
        )
        if lines is not None:
            rag.nodes[v].update(
                fsum=fsum[v], npx=float(npx[v]), line=lines[v] if lines[v].any() else None
            )
        if regions is not None:
            rag.nodes[v]["hist"] = regions.histograms[v]
            if regions.embedding is not None:
                rag.nodes[v]["embed"] = regions.embedding[v]
    return rag


class _MergeRules:
    """The strength of a boundary and the bookkeeping of a merge, for ``merge_hierarchical``."""

    def __init__(self, texture: float, lines: bool, line_contrast: float, log=None, regions=None):
        self.texture, self.lines, self.line_contrast = texture, lines, line_contrast
        self.log, self.regions = log, regions

    def weigh_edges(self, g):
        """Keep each edge's mean boundary strength, and weigh it by :meth:`strength`."""
        for a, b, d in g.edges(data=True):
            d["boundary"] = d["weight"]
            d["weight"] = self.strength(g, a, b, d["boundary"])

    def strength(self, g, a, b, boundary):
        """Boundary strength less the texture; infinite between groups or across a line."""
        if _apart(g, a, b):
            return np.inf
        if self.lines and _line_apart(g, a, b, self.line_contrast):
            return np.inf
        na, nb = g.nodes[a], g.nodes[b]
        inner = min(na["esum"] / na["size"], nb["esum"] / nb["size"])
        strength = boundary - self.texture * inner
        r = self.regions
        if r is None:
            return strength
        strength += r.weight * chi_squared(na["hist"], nb["hist"])
        if r.embedding is not None:
            strength += r.spectral_weight * float(np.linalg.norm(na["embed"] - nb["embed"]))
        smaller = min(na["hist"][0].sum(), nb["hist"][0].sum())  # pixels: any channel's count
        if r.small_area > 0 and smaller < r.small_area and strength > 0:
            strength *= np.sqrt(smaller / r.small_area)
        return strength

    def weight(self, g, src, dst, nb):
        """The merged boundary of ``dst`` (now holding ``src``) with ``nb``."""
        none = {"boundary": 0.0, "count": 0}
        a, b = g[src].get(nb, none), g[dst].get(nb, none)
        count = a["count"] + b["count"]
        boundary = (a["count"] * a["boundary"] + b["count"] * b["boundary"]) / count
        return {"count": count, "boundary": boundary, "weight": self.strength(g, dst, nb, boundary)}

    def merge(self, g, src, dst):
        """Sizes add up; a merged region belongs to the group of either part."""
        if self.log is not None:
            self.log.append((int(src), int(dst), float(g[src][dst]["weight"])))
        g.nodes[dst]["esum"] += g.nodes[src]["esum"]
        g.nodes[dst]["size"] += g.nodes[src]["size"]
        if self.regions is not None:
            d, sv = g.nodes[dst], g.nodes[src]
            if self.regions.embedding is not None:  # pixel-weighted, as the histograms add up
                nd, ns = d["hist"][0].sum(), sv["hist"][0].sum()
                d["embed"] = (nd * d["embed"] + ns * sv["embed"]) / max(nd + ns, 1.0)
            d["hist"] = d["hist"] + sv["hist"]
        if g.nodes[dst]["group"] < 0:
            g.nodes[dst]["group"] = g.nodes[src]["group"]
        if self.lines:  # a line stays one only while it is most of what merged
            d, sv = g.nodes[dst], g.nodes[src]
            if d["line"] is None or sv["line"] is None:
                line, other = (d, sv) if d["line"] is not None else (sv, d)
                d["line"] = line["line"] if line["npx"] >= other["npx"] else None
            d["fsum"] = d["fsum"] + sv["fsum"]
            d["npx"] += sv["npx"]


def _line_apart(g, a, b, contrast: float) -> bool:
    """A line node and a neighbour on its surroundings' side by more than ``contrast``."""
    na, nb = g.nodes[a], g.nodes[b]
    if na["line"] is None and nb["line"] is None:
        return False
    step = nb["fsum"] / max(nb["npx"], 1) - na["fsum"] / max(na["npx"], 1)
    return (na["line"] is not None and float(step @ na["line"]) < -contrast) or (
        nb["line"] is not None and float(step @ nb["line"]) > contrast
    )


def _apart(g, a, b) -> bool:
    """Two nodes of two different groups."""
    ga, gb = g.nodes[a].get("group", -1), g.nodes[b].get("group", -1)
    return ga >= 0 and gb >= 0 and ga != gb
