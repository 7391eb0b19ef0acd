"""The output stage for one 2D slice, as a sequence of named steps.

The steps are listed in :mod:`napari_mmtseg.output_stage`; docs/method.md ("The output stage")
describes each one and the measurements behind the defaults.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..features import edge_strength, image_features
from .bands import remove_transition_bands
from .classes import group_to, region_classes
from .hierarchy import build_hierarchy
from .lines import thin_lines
from .maps import compact_ids, connected_pieces, majority
from .merge import auto_texture_weight, merge_weak_boundaries
from .pieces import (
    absorb_indistinct,
    auto_min_region_size,
    ensure_min_size,
    final_regions,
    remove_small_pieces,
)
from .request import OUTPUTS, OutputRequest, StepSettings
from .ridges import thin_ridges
from .snap import snap_boundaries
from .spots import SPOT_MIN_SIZE, distinct_spots
from .summary import OutputInfo, explain_auto, explain_grouped

__all__ = ["OutputRequest", "StepSettings", "finish_labels", "run_stage"]

#: distinct spots up to this x the smallest region size are looked for in the image (larger
#: objects are the networks' to find)
SPOT_SIZE_FACTOR = 1
#: and up to ``StepSettings.spot_floor`` px, at most this fraction's inverse of the slice (on
#: a small image a 100 px object is no spot: 2.4% of 64 x 64)
SPOT_FLOOR_SHARE = 500


class _Slice:
    """One slice on its way through the stage: the request, and what the steps share."""

    def __init__(self, clusters, x, request: OutputRequest, settings: StepSettings):
        self.x, self.request, self.settings = x, request, settings
        h, w = clusters.shape
        size = request.min_region_size
        self.min_size = auto_min_region_size(h * w) if size is None else size
        texture = request.texture
        self.texture = auto_texture_weight(x, request.colour) if texture is None else texture
        # compact ids 0..K-1 (any ids in, negative or huge); ``ids`` maps them back
        self.ids, compact = compact_ids(clusters)
        self.n_method = int(self.ids.size)  # the method's clusters (the spots' classes not counted)
        self.compact = compact.reshape(h, w)
        keep = [c for c in request.keep_apart if c in self.ids]
        self.scribbled = np.searchsorted(self.ids, keep).astype(np.int64)
        self.auto = request.n_classes == "auto"
        self.protect = None
        if self.auto and request.output == "regions" and not self.scribbled.size:
            self._add_spots()

    def _add_spots(self):
        """Give every distinct small spot (:mod:`.spots`) a class of its own, kept as a region
        (a spot above the smallest region size only where the method's clusters do not set it
        apart already); with ``settings.default_ridges`` every thin ridge (:mod:`.ridges`) too."""
        small = SPOT_SIZE_FACTOR * max(self.min_size, 1)
        floor = min(self.settings.spot_floor, self.compact.size // SPOT_FLOOR_SHARE)
        spots = distinct_spots(self.features, max(small, floor))
        spots = _unseen_above(spots, small, self.compact)
        if self.settings.default_ridges:
            ridges = thin_ridges(self.features, self.min_size)
            spots = np.where((spots == 0) & (ridges > 0), ridges + spots.max(), spots)
        n = int(spots.max())
        if n == 0:
            return
        k = self.ids.size
        self.ids = np.concatenate([self.ids.astype(np.int64), self.ids.max() + 1 + np.arange(n)])
        self.compact = np.where(spots > 0, spots + (k - 1), self.compact)
        self.protect = spots > 0

    @cached_property
    def features(self) -> np.ndarray:
        """(H, W, F) image features, computed once and only when a step needs them."""
        return image_features(self.x, self.request.colour)


def _unseen_above(spots: np.ndarray, small: int, clusters: np.ndarray) -> np.ndarray:
    """The spots, less those over ``small`` px that the method's clusters set apart already
    (the majority cluster inside differs from the one in a 2 px ring around): those are the
    method's own regions, of the method's class, and large enough to stay."""
    from skimage.segmentation import expand_labels

    n = int(spots.max())
    size = np.bincount(spots.ravel(), minlength=n + 1)
    if n == 0 or not (size[1:] > small).any():
        return spots
    ring = np.where(spots == 0, expand_labels(spots, 2), 0)
    k = int(clusters.max()) + 1
    inside = majority(spots, clusters, k, n + 1)
    around = majority(ring, clusters, k, n + 1)
    has_ring = np.bincount(ring.ravel(), minlength=n + 1) > 0  # else nothing to compare
    drop = (size > small) & (inside != around) & has_ring
    drop[0] = False
    keep = np.flatnonzero(~drop)
    lut = np.zeros(n + 1, np.int32)
    lut[keep] = np.arange(keep.size)
    return lut[spots]


def finish_labels(
    clusters: np.ndarray,
    x: np.ndarray,
    *,
    output: str = "regions",
    n_classes: int | str = "auto",
    min_region_size: int | None = None,
    merge_threshold: float = 0.0,
    refine: bool = False,
    texture: float | None = 0.0,
    colour: bool | None = None,
    line_width: float = 8.0,
    keep_ids: bool = False,
    keep_apart=(),
    scribbled_pixels: np.ndarray | None = None,
    hierarchy: bool = False,
) -> tuple[np.ndarray, OutputInfo]:
    """Turn a method's cluster map of one 2D slice into the labels a person keeps.

    Parameters
    ----------
    clusters : ndarray of int, shape (H, W)
        The method's cluster map (any ids, negative or huge included).
    x : ndarray of float, shape (C, H, W)
        The normalised slice, in [0, 1].
    output : str, optional
        ``"regions"`` (one id per connected region) or ``"clusters"`` (one id per class).
    n_classes : int or str, optional
        ``"auto"`` (the method's clusters that are left after the clean-up) or an int >= 1
        (classes grouped by colour to exactly that many when the image has that many regions).
    min_region_size : int, optional
        Smallest region, in pixels; None for :func:`auto_min_region_size`.
    merge_threshold : float, optional
        Boundary strength below which adjacent regions merge (0: no merging).
    refine : bool, optional
        Give transition bands away and snap boundaries to image edges.
    texture : float, optional
        The boundary strength is lowered by this x the smaller mean gradient inside the two
        regions (:func:`merge_weak_boundaries`); None: :func:`auto_texture_weight`.
    colour : bool, optional
        Whether ``x`` is RGB; None: when it has 3 channels.
    line_width : float, optional
        Thin lines up to this mean thickness in pixels (membranes, cell walls:
        :func:`thin_lines`) never merge into the regions they separate (0: off).
    keep_ids : bool, optional
        Clusters output keeps the method's ids (with ``n_classes="auto"``).
    keep_apart : sequence of int, optional
        Cluster ids of scribbled classes: their regions never merge with each other, and a
        region holding one of them takes that class.
    scribbled_pixels : ndarray of int, shape (H, W), optional
        The cluster id of the class scribbled at each pixel (-1: none): a region takes a
        scribbled class only where the user scribbled it; others take their majority cluster.
    hierarchy : bool, optional
        Also build the region hierarchy (:mod:`.hierarchy`) into ``info.hierarchy``, with
        ``output="regions"``, ``n_classes="auto"`` and no scribbles.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        Ids from 0: each connected region (``output="regions"``; touching regions share a
        class only when one is a thin line), or each class (the method's id with ``keep_ids``);
        no class that survives the merge vanishes.
    info : OutputInfo
        What the stage did, and why the result has that many classes.

    Raises
    ------
    ValueError
        If ``output`` is neither ``"regions"`` nor ``"clusters"``.
    """
    options = {k: v for k, v in locals().items() if k not in ("clusters", "x")}
    request = OutputRequest(**(options | {"keep_apart": tuple(keep_apart)}))
    return run_stage(clusters, x, request)


def run_stage(
    clusters: np.ndarray,
    x: np.ndarray,
    request: OutputRequest,
    settings: StepSettings | None = None,
) -> tuple[np.ndarray, OutputInfo]:
    """Run the output stage's steps on one slice, with any step settings.

    Parameters
    ----------
    clusters : ndarray of int, shape (H, W)
        The method's cluster map.
    x : ndarray of float, shape (C, H, W)
        The normalised slice, in [0, 1].
    request : OutputRequest
        The parameters of :func:`finish_labels`.
    settings : StepSettings, optional
        The steps' fixed settings; None for the product's.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        As :func:`finish_labels` returns them.
    info : OutputInfo
        What the stage did.

    Raises
    ------
    ValueError
        If ``request.output`` is neither ``"regions"`` nor ``"clusters"``.
    """
    if request.output not in OUTPUTS:
        raise ValueError(f"output must be 'regions' or 'clusters', got {request.output!r}")
    st = _Slice(clusters, x, request, settings or StepSettings())
    pieces, _ = connected_pieces(st.compact)
    regions = _absorb_small_pieces(st, pieces)
    if not st.scribbled.size:  # enclosed regions no more distinct than the noise
        regions = absorb_indistinct(regions, st.features, st.min_size, st.protect)
    fine = regions = _give_away_bands(st, regions)
    regions = _merge_weak_boundaries(st, regions)
    regions = _snap_boundaries(st, regions)
    reg, region_class = region_classes(
        regions, st.compact, st.ids, st.scribbled, request.scribbled_pixels
    )
    cls, n_left, grouped = _group_classes(st, reg, region_class)
    keep = not (st.auto and request.output == "regions")  # else no region under the minimum
    keys = _region_keys(st, reg, region_class)
    # clusters with n_classes="auto": a class's last fragment stays only when it is no speck
    floor = SPOT_MIN_SIZE if keep and st.auto and not st.scribbled.size else 1
    cls, regions = final_regions(cls, st.min_size, *keys, keep, protect=st.protect, keep_from=floor)
    if not keep:  # the guarantee, whatever the steps before did
        regions = ensure_min_size(regions, st.min_size, st.protect)
        cls = _class_of_regions(cls, regions)
    facts = (int(pieces.max()), n_left, grouped, region_class.size)
    info = _report(st, cls, regions, *facts)
    if request.hierarchy and request.output == "regions" and st.auto and not st.scribbled.size:
        info.hierarchy = _hierarchy(st, fine, regions)
    return _labels(st, cls, regions), info


def _absorb_small_pieces(st: _Slice, pieces):
    """Pieces under the smallest region size join a neighbour (:mod:`.pieces`)."""
    by_colour = st.settings.small_by_colour and st.min_size > 1
    features = st.features if by_colour else None
    return remove_small_pieces(pieces, int(st.min_size), features=features, protect=st.protect)


def _class_of_regions(cls, regions):
    """Each pixel's class once every region takes the class most of its pixels had."""
    return majority(regions, cls, int(cls.max()) + 1)[regions]


def _give_away_bands(st: _Slice, regions):
    """With ``refine``, transition bands go to their two sides (:mod:`.bands`)."""
    if st.request.refine and st.settings.band_width > 0 and regions.max() > 1:
        return remove_transition_bands(regions, st.features, st.settings.band_width)
    return regions


def _merge_weak_boundaries(st: _Slice, regions):
    """Weak boundaries merge; scribbled classes and thin lines stay apart (:mod:`.merge`)."""
    r, s = st.request, st.settings
    if r.merge_threshold <= 0 or regions.max() <= 1:
        return regions
    apart = None
    if st.scribbled.size:  # the scribbled clusters' regions never merge across classes
        major = majority(regions, st.compact, st.ids.size)
        apart = np.where(np.isin(major, st.scribbled), major, -1)
    lines = None
    if r.line_width > 0:
        lines = thin_lines(regions, st.features, r.line_width, contrast=s.line_contrast)
    edges = edge_strength(st.features, s.edge_sigma)
    return merge_weak_boundaries(
        regions,
        edges,
        r.merge_threshold,
        apart,
        st.texture,
        lines=lines,
        features=st.features,
        line_contrast=s.line_contrast,
    )


def _snap_boundaries(st: _Slice, regions):
    """With ``refine``, boundaries move to the strongest image edge nearby (:mod:`.snap`);
    a distinct spot's pixels stay its own."""
    if st.request.refine and st.settings.snap > 0 and regions.max() > 1:
        edges = edge_strength(st.features, 1.0)
        return snap_boundaries(regions, edges, st.settings.snap, fixed=st.protect)
    return regions


def _hierarchy(st: _Slice, fine, regions):
    """The merge tree whose default cut is the stage's regions (:mod:`.hierarchy`)."""
    r, s = st.request, st.settings
    edges = edge_strength(st.features, s.edge_sigma)
    return build_hierarchy(
        fine, regions, edges, threshold=r.merge_threshold, texture=st.texture,
        min_size=st.min_size, features=st.features, line_width=r.line_width,
        line_contrast=s.line_contrast,
    )  # fmt: skip


def _group_classes(st: _Slice, reg, region_class):
    """Each pixel's class, the classes left before grouping, and what was grouped (or None)."""
    cls = region_class[reg]
    n_left = int(np.unique(cls).size)
    if st.auto:
        return cls, n_left, None
    cls, grouped = group_to(cls, reg, st.features, int(st.request.n_classes))
    return cls, n_left, grouped


def _region_keys(st: _Slice, reg, region_class):
    """Per pixel, the key whose connected parts are the output's regions (None: the class's)."""
    r, s = st.request, st.settings
    if r.output != "regions" or not st.auto:
        return None, None
    if s.join_regions == "stage":
        return reg, region_class
    if s.join_regions == "lines_apart" and r.line_width > 0 and r.merge_threshold > 0:
        # the thin-line rule is the merge's: a line and a region that is not one never join
        found = thin_lines(reg + 1, st.features, r.line_width, contrast=s.line_contrast)
        is_line = found.any(1)[1:]
        return (region_class * 2 + is_line)[reg], np.repeat(np.arange(st.ids.size), 2)
    return None, None


def _labels(st: _Slice, cls, regions) -> np.ndarray:
    """The output ids: regions from 0, the method's cluster ids, or classes from 0."""
    if st.request.output == "regions":
        out = regions - 1
    elif st.request.keep_ids and st.auto:  # the method's own cluster ids
        out = st.ids[cls]
    else:
        out = compact_ids(cls)[1]
    return out.astype(np.int32)


def _report(st: _Slice, cls, regions, n_pieces, n_left, grouped, n_stage_regions) -> OutputInfo:
    """The :class:`OutputInfo` of the slice, with the reason for its class count."""
    r = st.request
    n_cls, n_reg = int(np.unique(cls).size), int(regions.max())
    counts = dict(output=r.output, n_classes=n_cls, n_regions=n_reg)
    if st.auto:
        why, details = explain_auto(
            n_in=st.n_method,
            min_region_size=st.min_size,
            refine=r.refine,
            merge_threshold=r.merge_threshold,
            texture=st.texture,
            auto_texture=r.texture is None,
            line_width=r.line_width,
            **counts,
        )
    else:
        why, details = explain_grouped(
            asked=int(r.n_classes),
            n_left=n_left,
            grouped=grouped,
            n_stage_regions=n_stage_regions,
            **counts,
        )
    return OutputInfo(
        n_clusters_in=st.n_method,
        n_pieces_in=n_pieces,
        n_classes=n_cls,
        n_regions=n_reg,
        min_region_size=int(st.min_size),
        merge_threshold=float(r.merge_threshold),
        why=why,
        texture_weight=float(st.texture) if r.merge_threshold > 0 else 0.0,
        why_details=details,
    )
