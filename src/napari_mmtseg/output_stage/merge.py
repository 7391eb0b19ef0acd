"""Weak-boundary merge: adjacent regions whose boundary does not stand out merge, weakest first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..features import is_colour
from .greedy_merge import merge_greedily
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
    if lines is not None and not np.asarray(lines).any():
        lines = None
    if lines is not None and features is None:
        raise ValueError("merge_weak_boundaries: lines need the features they were found in")
    from skimage import graph

    rag = graph.rag_boundary(pieces, edges.astype(np.float64), connectivity=1)
    nodes = np.fromiter(rag.nodes, np.int64, count=rag.number_of_nodes())
    pairs, count, mean = [], [], []
    for a, b, d in rag.edges(data=True):
        pairs.append((a, b))
        count.append(d["count"])
        mean.append(d["weight"])
    rules = _MergeRules(
        pieces, edges, margin, keep_apart, texture, lines, features, line_contrast, log, regions
    )
    merged = merge_greedily(
        pieces,
        nodes,
        np.asarray(pairs, np.int64).reshape(-1, 2),
        np.asarray(count, np.int64),
        np.asarray(mean, np.float64),
        threshold,
        rules.strengths,
        rules.merge,
    )
    return merged + 1  # ids from 1, as in every piece map (0 would read as "unlabelled")


class _MergeRules:
    """The strength of a boundary and the bookkeeping of a merge, one array row per region."""

    def __init__(
        self,
        pieces,
        edges,
        margin,
        keep_apart,
        texture,
        lines,
        features,
        line_contrast,
        log,
        regions,
    ):
        n = int(pieces.max()) + 1
        self.texture, self.line_contrast, self.log, self.regions = (
            texture,
            line_contrast,
            log,
            regions,
        )
        dist, width = depth(pieces)
        inside = ((dist > margin) | (dist >= width[pieces])).ravel()
        flat = pieces.ravel()[inside]
        self.esum = np.bincount(flat, weights=edges.ravel()[inside], minlength=n)
        self.size = np.maximum(np.bincount(flat, minlength=n), 1)
        self.group = (
            np.full(n, -1, np.int64) if keep_apart is None else np.asarray(keep_apart, np.int64)
        ).copy()
        self.lines = lines is not None
        if self.lines:
            fsum, npx = mean_features(pieces, features, n)
            self.fsum = fsum * npx[:, None]
            self.npx = np.asarray(npx, np.float64).copy()
            self.line = np.asarray(lines, np.float64).copy()
            self.has_line = self.line.any(axis=1)
        if regions is not None:
            self.hist = np.array(regions.histograms)
            self.embed = None
            if regions.embedding is not None:
                self.embed = np.array(regions.embedding)

    def strengths(self, a, b, boundary):
        """Boundary strength less the texture; infinite between groups or across a line."""
        ga, gb = self.group[a], self.group[b]
        apart = (ga >= 0) & (gb >= 0) & (ga != gb)
        if self.lines:
            apart = apart | self._line_apart(a, b)
        inner = np.minimum(self.esum[a] / self.size[a], self.esum[b] / self.size[b])
        strength = boundary - self.texture * inner
        r = self.regions
        if r is not None:
            ha, hb = self.hist[a], self.hist[b]
            strength = strength + r.weight * chi_squared(ha, hb)
            if self.embed is not None:
                step = self.embed[a] - self.embed[b]
                strength = strength + r.spectral_weight * np.linalg.norm(step, axis=-1)
            smaller = np.minimum(ha[..., 0, :].sum(axis=-1), hb[..., 0, :].sum(axis=-1))
            if r.small_area > 0:
                scale = (smaller < r.small_area) & (strength > 0)
                factor = np.sqrt(np.minimum(smaller, r.small_area) / r.small_area)
                strength = np.where(scale, strength * factor, strength)
        return np.where(apart, np.inf, strength)

    def _line_apart(self, a, b):
        """A line region and a neighbour on its surroundings' side by more than the contrast."""
        la, lb = self.has_line[a], self.has_line[b]
        step = (
            self.fsum[b] / np.maximum(self.npx[b], 1)[..., None]
            - self.fsum[a] / np.maximum(self.npx[a], 1)[..., None]
        )
        across_a = np.einsum("...f,...f->...", step, self.line[a])
        across_b = np.einsum("...f,...f->...", step, self.line[b])
        return (la & (across_a < -self.line_contrast)) | (lb & (across_b > self.line_contrast))

    def merge(self, src, dst, strength):
        """Sizes add up; a merged region belongs to the group of either part."""
        if self.log is not None:
            self.log.append((int(src), int(dst), float(strength)))
        self.esum[dst] += self.esum[src]
        self.size[dst] += self.size[src]
        if self.regions is not None:
            if self.embed is not None:  # pixel-weighted, as the histograms add up
                nd, ns = self.hist[dst, 0].sum(), self.hist[src, 0].sum()
                self.embed[dst] = (nd * self.embed[dst] + ns * self.embed[src]) / max(nd + ns, 1.0)
            self.hist[dst] = self.hist[dst] + self.hist[src]
        if self.group[dst] < 0:
            self.group[dst] = self.group[src]
        if self.lines:  # a line stays one only while it is most of what merged
            if not (self.has_line[dst] and self.has_line[src]):
                line, other = (dst, src) if self.has_line[dst] else (src, dst)
                keep = bool(self.has_line[line]) and self.npx[line] >= self.npx[other]
                self.line[dst] = self.line[line] if keep else 0.0
                self.has_line[dst] = keep
            self.fsum[dst] = self.fsum[dst] + self.fsum[src]
            self.npx[dst] += self.npx[src]
