"""Boundary snapping: every boundary moves to the strongest image edge nearby."""

from __future__ import annotations

import numpy as np

from .maps import depth

__all__ = ["snap_boundaries"]


def snap_boundaries(
    regions: np.ndarray,
    edges: np.ndarray,
    radius: float = 2.0,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """Move every boundary to the strongest image edge within ``radius`` pixels.

    The pixels near a boundary are cleared and re-flooded from the regions' cores over the edge
    map (:func:`skimage.segmentation.watershed`), so the boundary settles on the ridge of the
    gradient. A region thinner than the band keeps its deepest pixels as its core, so none is
    lost. The flood runs inside the band and the core pixels that touch it only (the
    watershed's ``mask``): a core pixel with no cleared neighbour floods nothing, so the result
    is that of flooding the whole slice (up to the order in which equal edge values are taken),
    at the cost of the band.

    Parameters
    ----------
    regions : ndarray of int, shape (H, W)
        The regions, ids from 1.
    edges : ndarray of float, shape (H, W)
        Edge strength (:func:`napari_mmtseg.features.edge_strength`).
    radius : float, optional
        Half-width of the band that is flooded again, in pixels; <= 0 does nothing.
    fixed : ndarray of bool, shape (H, W), optional
        Pixels that are never cleared: they keep their region and flood from there (the
        distinct spots of :mod:`.spots`, whose outline was found in the image itself and
        which a band as wide as their radius would otherwise wash away).

    Returns
    -------
    ndarray of int, shape (H, W)
        The snapped regions (same ids), or ``regions`` itself when nothing was done.
    """
    from skimage.segmentation import watershed

    if radius <= 0 or regions.min() == regions.max():
        return regions
    from scipy.ndimage import binary_dilation

    dist, width = depth(regions)
    keep = (dist > radius) | (dist >= width[regions])
    if fixed is not None:
        keep |= fixed
    around = binary_dilation(~keep)  # 4-connected, as the watershed floods
    flooded = watershed(edges, markers=np.where(keep & around, regions, 0), mask=around)
    return np.where(around, flooded, regions)
