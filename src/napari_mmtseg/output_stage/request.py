"""What a caller asks of the output stage, and the steps' fixed settings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["JOINS", "OUTPUTS", "OutputRequest", "StepSettings"]

OUTPUTS = ("regions", "clusters")
JOINS = ("lines_apart", "class", "stage")


@dataclass(frozen=True)
class StepSettings:
    """Settings of the steps that the public API fixes: for experiments and ablations.

    Attributes
    ----------
    edge_sigma : float, optional
        Gaussian smoothing of the merge's edge map, in pixels.
    band_width : float, optional
        Largest depth of a transition band, in pixels (0: no band step).
    snap : float, optional
        Snapping radius, in pixels (0: no snapping).
    small_by_colour : bool, optional
        A small piece joins the neighbour of nearest mean colour (True) or its pixels go to the
        nearest larger piece (False).
    line_contrast : float, optional
        Colour step that makes a thin line, in feature units.
    join_regions : str, optional
        How ``output="regions"`` with ``n_classes="auto"`` forms the regions from the stage's
        own: ``"lines_apart"`` (the product: touching regions of one class become one, except a
        thin line and a region that is not one), ``"class"`` (the connected parts of each
        class, the behaviour before) or ``"stage"`` (the stage's regions as they are).
    default_ridges : bool, optional
        Thin ridges (:func:`.ridges.thin_ridges`) are classes of their own at the default
        level too, kept as regions as the distinct spots are (False: only at the hierarchy's
        finer levels).
    spot_floor : int, optional
        Distinct spots (:func:`.spots.distinct_spots`) are looked for up to this many pixels
        even where the smallest region size times ``SPOT_SIZE_FACTOR`` is smaller (a 9 x 9
        spot on a bright background the networks lumped it with is 81 px; 0: no floor), and
        at most 1/500 of the slice.

    Raises
    ------
    ValueError
        If ``join_regions`` is none of those.
    """

    edge_sigma: float = 2.0
    band_width: float = 2.0
    snap: float = 2.0
    small_by_colour: bool = True
    line_contrast: float = 15.0
    join_regions: str = "lines_apart"
    default_ridges: bool = False
    spot_floor: int = 100

    def __post_init__(self):
        if self.join_regions not in JOINS:
            raise ValueError(
                f"join_regions must be 'lines_apart', 'class' or 'stage', got {self.join_regions!r}"
            )


@dataclass(frozen=True, eq=False)
class OutputRequest:
    """What the caller asks of the output stage (the parameters of :func:`finish_labels`).

    Attributes
    ----------
    output : str, optional
        ``"regions"`` or ``"clusters"``.
    n_classes : int or str, optional
        ``"auto"`` or an int >= 1.
    min_region_size : int, optional
        Smallest region in pixels; None for :func:`auto_min_region_size`.
    merge_threshold : float, optional
        Boundary strength below which adjacent regions merge (0: no merging).
    refine : bool, optional
        Give transition bands away and snap boundaries to image edges.
    texture : float, optional
        Texture weight of the merge; None for :func:`auto_texture_weight`.
    colour : bool, optional
        Whether the slice is RGB; None: when it has 3 channels.
    line_width : float, optional
        Thickest thin line kept apart, in pixels (0: off).
    keep_ids : bool, optional
        Clusters output keeps the method's cluster ids (with ``n_classes="auto"``).
    keep_apart : tuple of int, optional
        Cluster ids of scribbled classes.
    scribbled_pixels : ndarray of int, shape (H, W), optional
        The cluster id of the class scribbled at each pixel, -1 elsewhere.
    hierarchy : bool, optional
        Build the region hierarchy (``output="regions"``, ``"auto"``, no scribbles).
    """

    output: str = "regions"
    n_classes: int | str = "auto"
    min_region_size: int | None = None
    merge_threshold: float = 0.0
    refine: bool = False
    texture: float | None = 0.0
    colour: bool | None = None
    line_width: float = 8.0
    keep_ids: bool = False
    keep_apart: tuple = ()
    scribbled_pixels: np.ndarray | None = None
    hierarchy: bool = False
