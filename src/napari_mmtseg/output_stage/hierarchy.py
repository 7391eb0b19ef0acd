"""A region hierarchy from one run: every level of detail as a cut of one merge tree.

The output stage's default regions are one cut of a merge tree over the *finest regions*: the
connected pieces left by the small-piece and band steps and the image's thin ridges
(:mod:`.ridges`), split where the default regions' boundaries (after snapping) cross them.
Each boundary between two adjacent regions gets the level at which its two sides merge, as in
an ultrametric contour map (Arbelaez et al., "Contour detection and hierarchical image
segmentation", TPAMI 2011): below the default level, the
finest regions of each default region merge, weakest boundary first; above it, the default
regions go on merging (:func:`merge_weak_boundaries`: the image's edges less the texture beside
them, thin lines kept apart), ordered also by how the two regions' colour histograms differ, by
how far apart they lie in the region graph's spectral embedding (:mod:`.spectral`) and small
regions first (:class:`.merge.RegionTerms`), until no boundary is left that may merge.
The hierarchy is stored as the finest labels and a merge table, and a level's labels are a
lookup table over the finest regions (:meth:`Hierarchy.at`). No Qt, no napari, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .lines import thin_lines
from .maps import adjacency, channel_histograms, connected_pieces
from .merge import RegionTerms, merge_weak_boundaries
from .pieces import SMALL_FACTOR, absorb_indistinct
from .ridges import thin_ridges
from .spectral import spectral_embedding

__all__ = [
    "HISTOGRAM_BINS",
    "HISTOGRAM_WEIGHT",
    "SMALL_FRACTION",
    "SPECTRAL_SCALE",
    "SPECTRAL_VECTORS",
    "SPECTRAL_WEIGHT",
    "Hierarchy",
    "build_hierarchy",
]

#: strength, in feature units, that a chi-squared distance of 1 between two regions' colour
#: histograms adds to their boundary's (:class:`.merge.RegionTerms`; BSDS500 train scores
#: moved little between 20 and 80, docs/benchmarks.md)
HISTOGRAM_WEIGHT = 40.0
#: bins per feature channel of those histograms
HISTOGRAM_BINS = 16
#: a boundary whose smaller side covers less than this fraction of the slice is weakened by
#: the square root of the ratio, so small regions merge first (tried 0.01 to 0.08 on train)
SMALL_FRACTION = 0.03
#: strength, in feature units, per unit of distance between two regions' spectral coordinates
#: (:func:`.spectral.spectral_embedding`; BSDS500 train: VoI at ODS 1.675 -> 1.596 bits,
#: covering unchanged; weights 0.5 to 2, scales 2 to 15 and 2 to 16 vectors all gained VoI,
#: docs/benchmarks.md)
SPECTRAL_WEIGHT = 1.0
#: eigenvectors of the region graph kept
SPECTRAL_VECTORS = 4
#: feature units: the boundary strength that ties two regions 1/e as much as no boundary
SPECTRAL_SCALE = 5.0


@dataclass(eq=False)
class Hierarchy:
    """A merge tree over the finest regions of one 2D slice.

    Attributes
    ----------
    fine : ndarray of int32, shape (H, W)
        The finest regions, ids 0..N-1.
    merges : ndarray of int32, shape (M, 2)
        Merge table: row ``i`` joins the regions that hold finest regions ``merges[i, 0]``
        and ``merges[i, 1]`` (each row joins two different regions), in merge order.
    levels : ndarray of float64, shape (M,)
        The strength at which each merge happens, non-decreasing (the ultrametric): below the
        default level the boundary strength, capped at the default level's; above it at least
        that, with the region terms (:class:`.merge.RegionTerms`).
    default : int
        Merges applied at the default level (the output stage's labels).
    """

    fine: np.ndarray
    merges: np.ndarray
    levels: np.ndarray
    default: int
    _first: np.ndarray | None = field(default=None, repr=False)
    _base: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_fine(self) -> int:
        """Regions at the finest level (N).

        Returns
        -------
        int
            N, the number of finest regions.
        """
        return int(self.fine.max()) + 1 if self.fine.size else 0

    def n_regions(self, detail="auto") -> int:
        """Give the number of regions at a level of detail.

        Parameters
        ----------
        detail : float or str, optional
            As for :meth:`at`.

        Returns
        -------
        int
            Regions at that level.
        """
        return self.n_fine - self.cut(detail)

    def cut(self, detail="auto") -> int:
        """Give the number of merges applied at a level of detail.

        Parameters
        ----------
        detail : float or str, optional
            ``"auto"`` (the default level) or a float in [0, 1]: 1 is the finest regions, 0 the
            coarsest level the tree reaches; in between, the number of regions goes
            geometrically from the coarsest count to the finest.

        Returns
        -------
        int
            Merges applied (0..M).

        Raises
        ------
        ValueError
            If ``detail`` is neither ``"auto"`` nor a number in [0, 1].
        """
        if isinstance(detail, str):
            if detail != "auto":
                raise ValueError(f"detail must be 'auto' or a number in [0, 1], got {detail!r}")
            return int(self.default)
        try:
            d = float(detail)
        except (TypeError, ValueError):
            d = np.nan
        if not 0.0 <= d <= 1.0:
            raise ValueError(f"detail must be 'auto' or a number in [0, 1], got {detail!r}")
        n, m = self.n_fine, len(self.merges)
        coarse = max(n - m, 1)
        return int(np.clip(n - round(coarse * (n / coarse) ** d), 0, m))

    def detail_of(self, k: int) -> float:
        """Give the detail in [0, 1] of the level with ``k`` merges applied.

        Parameters
        ----------
        k : int
            The level, as the number of merges applied (0..M).

        Returns
        -------
        float
            Its detail (the inverse of :meth:`cut`; 1 when the tree has no merge).
        """
        n, m = self.n_fine, len(self.merges)
        coarse = max(n - m, 1)
        if n <= coarse:
            return 1.0
        return float(np.log((n - k) / coarse) / np.log(n / coarse))

    def cut_at_level(self, level: float) -> int:
        """Give the number of merges whose boundary strength lies below ``level``.

        Parameters
        ----------
        level : float
            A merge strength (the scale of the output stage's ``merge_threshold``, and of
            :attr:`levels`).

        Returns
        -------
        int
            Merges applied (0..M).
        """
        return int(np.searchsorted(self.levels, level, side="left"))

    def labels(self, k: int, stable_ids: bool = False) -> np.ndarray:
        """Give the labels after the first ``k`` merges.

        Parameters
        ----------
        k : int
            Merges applied (0..M).
        stable_ids : bool, optional
            Number the regions as :meth:`lookup` does with ``stable_ids``.

        Returns
        -------
        ndarray of unsigned int, shape (H, W)
            Region ids 1..R in the raster order of each region's first pixel (the order of
            :func:`skimage.measure.label`), in the smallest unsigned dtype that holds R; with
            ``stable_ids``, the ids of :meth:`lookup`.
        """
        return self.lookup(k, stable_ids)[self.fine]

    def lookup(self, k: int, stable_ids: bool = False) -> np.ndarray:
        """Give the lookup table finest region -> region id after the first ``k`` merges.

        Parameters
        ----------
        k : int
            How many merges of the table apply, 0 to M.
        stable_ids : bool, optional
            Number each region after the default level's regions instead of 1..R: at the
            default level and coarser, a region takes the smallest default-level id among
            those it holds; finer, the part of a default region that holds its first pixel
            keeps the region's id and any other part takes ``R_default + 1 +`` its smallest
            finest-region index. A region that is the same at two levels then has the same
            id at both, so a colour per id (napari's) does not change as the level moves,
            and the default level's ids are those of ``lookup(default)``.

        Returns
        -------
        ndarray of unsigned int, shape (N,)
            The region id (1..R; with ``stable_ids`` up to ``R_default + N``) of each finest
            region, in the smallest unsigned dtype that holds the largest.
        """
        k = int(np.clip(k, 0, len(self.merges)))
        n_comp, comp = self._components(k)
        if stable_ids and k != self.default:
            return _smallest_uint(self._stable(k, n_comp, comp))
        first = np.full(n_comp, np.iinfo(np.int64).max)
        np.minimum.at(first, comp, self.first_pixels())
        rank = np.empty(n_comp, np.int64)
        rank[np.argsort(first)] = np.arange(1, n_comp + 1)
        return _smallest_uint(rank[comp])

    def _components(self, k: int):
        """The regions after the first ``k`` merges: their count and each finest region's."""
        from scipy import sparse
        from scipy.sparse.csgraph import connected_components

        n = self.n_fine
        e = self.merges[:k]
        graph = sparse.coo_matrix((np.ones(k, np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
        return connected_components(graph, directed=False)

    def _stable(self, k: int, n_comp: int, comp: np.ndarray) -> np.ndarray:
        """The ids of :meth:`lookup` with ``stable_ids`` (see there), as int64."""
        if self._base is None:  # default-level id of each finest region, computed once
            self._base = self.lookup(self.default).astype(np.int64)
        base = self._base
        if k > self.default:  # unions of default regions
            ids = np.full(n_comp, np.iinfo(np.int64).max)
            np.minimum.at(ids, comp, base)
            return ids[comp]
        n = self.n_fine
        ids = np.full(n_comp, n, np.int64)
        np.minimum.at(ids, comp, np.arange(n))
        ids += int(base.max()) + 1
        first = self.first_pixels()
        anchor = np.full(int(base.max()) + 1, -1, np.int64)  # each default region's first
        order = np.argsort(first)[::-1]  # the last write per region is its earliest pixel
        anchor[base[order]] = order
        anchor = anchor[1:]
        ids[comp[anchor]] = base[anchor]
        return ids[comp]

    def at(self, detail="auto", stable_ids: bool = False) -> np.ndarray:
        """Give the labels at a level of detail, without training again.

        Parameters
        ----------
        detail : float or str, optional
            As for :meth:`cut`: ``"auto"`` or a float in [0, 1] (1: the finest regions).
        stable_ids : bool, optional
            Number the regions as :meth:`lookup` does with ``stable_ids`` (what the detail
            slider shows).

        Returns
        -------
        ndarray of unsigned int, shape (H, W)
            As :meth:`labels`.

        Raises
        ------
        ValueError
            If ``detail`` is neither ``"auto"`` nor a number in [0, 1].
        """
        return self.labels(self.cut(detail), stable_ids)

    def first_pixels(self) -> np.ndarray:
        """Give the raster index of each finest region's first pixel.

        Returns
        -------
        ndarray of int64, shape (N,)
            Flat index of the first pixel of each finest region.
        """
        if self._first is None:
            flat = self.fine.ravel()
            first = np.full(self.n_fine, flat.size, np.int64)
            order = np.arange(flat.size - 1, -1, -1)
            first[flat[::-1]] = order  # the last write per id is its first pixel
            self._first = first
        return self._first

    def to_arrays(self) -> dict:
        """Give the hierarchy as plain arrays (for storage).

        Returns
        -------
        dict
            ``fine`` (H, W) int32, ``merges`` (M, 2) int32, ``levels`` (M,) float64 and
            ``default`` (a 0-d int64 array).
        """
        return {
            "fine": self.fine,
            "merges": self.merges,
            "levels": self.levels,
            "default": np.asarray(self.default, np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays) -> Hierarchy:
        """Make a hierarchy from :meth:`to_arrays`' arrays.

        Parameters
        ----------
        arrays : mapping
            ``fine``, ``merges``, ``levels`` and ``default``.

        Returns
        -------
        Hierarchy
            The hierarchy.
        """
        return cls(
            fine=np.asarray(arrays["fine"], np.int32),
            merges=np.asarray(arrays["merges"], np.int32).reshape(-1, 2),
            levels=np.asarray(arrays["levels"], np.float64),
            default=int(np.asarray(arrays["default"])),
        )


def _smallest_uint(ids: np.ndarray) -> np.ndarray:
    """``ids`` (>= 0) in the smallest unsigned dtype that holds the largest."""
    top = int(ids.max()) if ids.size else 0
    dtype = np.uint8 if top < 255 else (np.uint16 if top < 65535 else np.uint32)
    return ids.astype(dtype)


def build_hierarchy(
    fine: np.ndarray,
    default: np.ndarray,
    edges: np.ndarray,
    *,
    threshold: float,
    texture: float = 0.0,
    min_size: int = 1,
    features: np.ndarray | None = None,
    line_width: float = 0.0,
    line_contrast: float = 15.0,
) -> Hierarchy:
    """Build the merge tree whose default cut is ``default``.

    Parameters
    ----------
    fine : ndarray of int, shape (H, W)
        The finest regions (ids >= 1): the output stage's regions before its merge.
    default : ndarray of int, shape (H, W)
        The output stage's regions, ids 1..R.
    edges : ndarray of float, shape (H, W)
        Edge strength (:func:`napari_mmtseg.features.edge_strength`).
    threshold : float
        The output stage's ``merge_threshold``: the default level.
    texture : float, optional
        Texture weight of the boundary strength (:func:`merge_weak_boundaries`).
    min_size : int, optional
        Smallest region: a piece of ``fine`` cut off by a default boundary that is smaller
        joins its neighbour in the same default region that shares the longest boundary (a
        neighbour other than a thin ridge first); also the smallest thin ridge.
    features : ndarray of float, shape (H, W, F), optional
        Image features, for the thin ridges added to the finest regions
        (:func:`.ridges.thin_ridges`), the thin-line rule and the region terms above the
        default level (:class:`.merge.RegionTerms`; without features the boundary strength
        alone orders those merges, and ``fine`` is taken as it is) and for joining slivers no
        more distinct than the noise (:func:`.pieces.absorb_indistinct`).
    line_width : float, optional
        Thickest thin line kept apart above the default level (0: off).
    line_contrast : float, optional
        Colour step that makes a thin line.

    Returns
    -------
    Hierarchy
        Finest regions, merge table and levels; ``at("auto")`` gives ``default`` (renumbered
        in raster order).
    """
    default = np.asarray(default, np.int64)
    n_def = int(default.max())
    pieces, group = _finest_pieces(fine, default, min_size, features)
    below = []
    if pieces.max() > n_def:  # default regions made of several finest ones
        merge_weak_boundaries(pieces, edges, np.inf, group, texture, log=below)
    above = []
    if n_def > 1:
        lines = None
        if line_width > 0 and features is not None:
            lines = thin_lines(default, features, line_width, contrast=line_contrast)
        merge_weak_boundaries(
            default,
            edges,
            np.inf,
            None,
            texture,
            lines=lines,
            features=features,
            line_contrast=line_contrast,
            log=above,
            regions=_region_terms(default, features, edges),
        )
    rep = np.zeros(n_def + 1, np.int64)  # a finest region of each default region
    rep[group[::-1]] = np.arange(group.size - 1, -1, -1)
    m_below = np.asarray([(a, b) for a, b, _ in below], np.int64).reshape(-1, 2)
    m_above = rep[np.asarray([(a, b) for a, b, _ in above], np.int64).reshape(-1, 2)]
    lv_below = np.minimum(_cummax([w for *_, w in below]), threshold)
    lv_above = np.maximum(_cummax([w for *_, w in above]), threshold)
    return Hierarchy(
        fine=(pieces - 1).astype(np.int32),
        merges=(np.concatenate([m_below, m_above]) - 1).astype(np.int32),
        levels=np.concatenate([lv_below, lv_above]),
        default=len(below),
    )


def _region_terms(regions, features, edges):
    """The histogram, spectral and size terms of the merge order over ``regions`` (None
    without features)."""
    if features is None:
        return None
    hist = channel_histograms(regions, features, int(regions.max()) + 1, HISTOGRAM_BINS)
    embedding = None
    if SPECTRAL_WEIGHT > 0:
        embedding = spectral_embedding(
            regions, edges, hist, HISTOGRAM_WEIGHT, SPECTRAL_SCALE, SPECTRAL_VECTORS
        )
    area = SMALL_FRACTION * regions.size
    return RegionTerms(hist, HISTOGRAM_WEIGHT, area, embedding, SPECTRAL_WEIGHT)


def _finest_pieces(fine, default, min_size, features):
    """The finest pieces inside the default regions, renumbered 1..P, and the default region
    of each id.

    With ``features``, thin ridges (:func:`.ridges.thin_ridges`) are pieces of their own; slivers
    under ``min_size`` join a neighbour of their default region (another than a ridge where they
    have one), and (with ``features``) slivers no more distinct than the noise join one too.
    """
    n_def = int(default.max())
    fine = np.asarray(fine, np.int64)
    ridges = None
    if features is not None:
        ridges = thin_ridges(features, min_size)
        fine = np.where(ridges > 0, fine.max() + ridges, fine) if ridges.any() else fine
    pieces, _ = connected_pieces(fine * (n_def + 1) + default)
    n = int(pieces.max()) + 1
    group = np.zeros(n, np.int64)
    group[pieces.ravel()] = default.ravel()
    on_ridge = np.zeros(n, bool)
    if ridges is not None:
        on_ridge[pieces[ridges > 0]] = True
    pieces, group = _absorb_slivers(pieces, group, min_size, on_ridge)
    if features is None:
        return pieces, group
    joined = absorb_indistinct(pieces, features, min_size, group=group, small_factor=SMALL_FACTOR)
    if joined is pieces:
        return pieces, group
    new_group = np.zeros(int(joined.max()) + 1, np.int64)
    new_group[joined.ravel()] = group[pieces.ravel()]
    return joined, new_group


def _cummax(values) -> np.ndarray:
    """Running maximum of a list of floats (an empty list gives an empty array)."""
    return np.maximum.accumulate(np.asarray(values, np.float64)) if values else np.zeros(0)


def _absorb_slivers(pieces, group, min_size, avoid=None, max_passes: int = 20):
    """Pieces under ``min_size`` join the neighbour of their group sharing the most boundary,
    a neighbour not marked in ``avoid`` (a bool per id) first; a union is marked when its
    largest piece was.

    Returns the pieces renumbered 1..P and the group of each id.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    for _ in range(max_passes):
        n = int(pieces.max()) + 1
        small = np.bincount(pieces.ravel(), minlength=n) < min_size
        small[0] = False
        if not small.any():
            break
        pairs, count = adjacency(pieces, of=small)
        same = group[pairs[:, 0]] == group[pairs[:, 1]]
        pairs, count = pairs[same], count[same]
        a = np.concatenate([pairs[:, 0], pairs[:, 1]])
        b = np.concatenate([pairs[:, 1], pairs[:, 0]])
        c = np.concatenate([count, count])
        sel = small[a]
        if not sel.any():
            break  # a small default region on its own: it stays
        a, b, c = a[sel], b[sel], c[sel]
        shunned = np.zeros(a.size, bool) if avoid is None else avoid[b]
        order = np.lexsort((-c, shunned, a))
        a, b = a[order], b[order]
        first = np.r_[True, a[1:] != a[:-1]]
        join = sparse.coo_matrix((np.ones(int(first.sum())), (a[first], b[first])), shape=(n, n))
        comp = connected_components(join, directed=False)[1]
        lut = np.zeros(n, np.int64)
        lut[1:] = np.unique(comp[1:], return_inverse=True)[1] + 1
        new_group = np.zeros(int(lut.max()) + 1, np.int64)
        new_group[lut[1:]] = group[1:]
        if avoid is not None:
            avoid = _largest_part_flag(avoid, lut, np.bincount(pieces.ravel(), minlength=n))
        pieces, group = lut[pieces], new_group
    return pieces, group


def _largest_part_flag(flag, lut, size) -> np.ndarray:
    """Per new id of ``lut`` (old id -> new id, id 0 kept), the ``flag`` of its largest old
    piece (by ``size``; on a tie the higher old id)."""
    old = np.arange(1, lut.size)
    order = old[np.lexsort((old, size[1:], lut[1:]))]  # by new id, then size, then old id
    new = lut[order]
    last = np.r_[new[1:] != new[:-1], True]  # the largest of each new id comes last
    out = np.zeros(int(lut.max()) + 1, bool)
    out[new[last]] = flag[order[last]]
    return out
