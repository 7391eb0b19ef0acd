"""A spectral embedding of the region adjacency graph, for the hierarchy's merge order.

Each region gets coordinates from the leading eigenvectors of its adjacency graph, where two
adjacent regions are tied by the length of their shared boundary times how weak the boundary
is. Regions of one large segment, tied by many weak boundaries, land close together even when
one boundary between two of them is strong; regions on the two sides of a boundary that runs
along a whole object land apart even where that boundary is faint. This is the *globalisation*
of gPb (Arbelaez, Maire, Fowlkes and Malik, "Contour detection and hierarchical image
segmentation", TPAMI 2011, section 3.2: eigenvectors of a normalised-cuts graph, Shi and Malik,
TPAMI 2000, each scaled by 1/sqrt(eigenvalue)), on a graph of regions instead of pixels.
Plain NumPy and SciPy; no Qt, no napari, no torch.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .maps import boundary_means, chi_squared

__all__ = ["EIGENVALUE_FLOOR", "spectral_embedding"]

#: region graphs up to this size are solved densely; larger ones with sparse Lanczos iterations
_DENSE_UP_TO = 500
#: eigenvalues below this count as this: the coordinates of a region cut off from the rest by
#: strong boundaries stay within about 1/sqrt(floor) = 10 instead of growing without bound
#: (BSDS500 train: floors 1e-6, 1e-3 and 1e-2 gave the same scores, docs/benchmarks.md)
EIGENVALUE_FLOOR = 1e-2


def spectral_embedding(
    regions: np.ndarray,
    edges: np.ndarray,
    histograms: np.ndarray,
    histogram_weight: float,
    scale: float,
    n_vectors: int,
) -> np.ndarray:
    """Coordinates of every region from the normalised-cuts eigenvectors of its graph.

    Two adjacent regions ``a`` and ``b`` have the affinity ``L * exp(-s / scale)``, where
    ``L`` is their shared boundary's length in pixel pairs and ``s`` their boundary's strength:
    the mean of ``edges`` across it plus ``histogram_weight`` x the chi-squared distance of
    their histograms (each pixel pair across the boundary counts the mean of its two pixels'
    edges; no texture term). The generalised eigenproblem ``(D - W) v = lambda D v`` (``W``
    the affinities, ``D`` their row sums) is solved for the ``n_vectors`` smallest eigenvalues
    after the trivial one; region ``a``'s coordinate ``j`` is
    ``v_j[a] / sqrt(max(lambda_j, EIGENVALUE_FLOOR))`` (gPb's scaling, Arbelaez et al., TPAMI
    2011, eq. 10, bounded by :data:`EIGENVALUE_FLOOR`), times ``sqrt(sum(D))`` so that the
    coordinates do not depend on the image's size. Regions whose affinities all vanish (no
    neighbour, or only boundaries so strong that ``exp`` underflows) get zeros.

    Parameters
    ----------
    regions : ndarray of int, shape (H, W)
        Region ids 1..R (0 unused).
    edges : ndarray of float, shape (H, W)
        Edge strength (:func:`napari_mmtseg.features.edge_strength`), feature units.
    histograms : ndarray of float, shape (R + 1, F, B)
        Each region's pixel counts per feature channel and bin
        (:func:`napari_mmtseg.output_stage.maps.channel_histograms`).
    histogram_weight : float
        Feature units per unit of chi-squared distance (0: the edges alone).
    scale : float
        Feature units: a boundary of strength ``scale`` ties its regions ``1/e`` as much as a
        boundary of strength 0.
    n_vectors : int
        Eigenvectors kept (fewer when the graph has fewer than ``n_vectors + 1`` regions).

    Returns
    -------
    ndarray of float64, shape (R + 1, n_vectors)
        Row ``a``: region ``a``'s coordinates; zeros for row 0, for a region with no
        affinity to any neighbour, for the columns of eigenvectors the graph does not have,
        and for every row when fewer than three regions have such neighbours.

    Raises
    ------
    ValueError
        If ``scale`` is not positive or ``n_vectors`` is less than 1.
    """
    if scale <= 0 or n_vectors < 1:
        raise ValueError(
            f"spectral_embedding: scale > 0 and n_vectors >= 1, got {scale}, {n_vectors}"
        )
    n = int(regions.max()) + 1
    out = np.zeros((n, n_vectors))
    pairs, length, mean = boundary_means(regions, edges)
    a, b = pairs[:, 0], pairs[:, 1]
    a, b, length, mean = a[a > 0], b[a > 0], length[a > 0], mean[a > 0]  # id 0: no region
    strength = mean + histogram_weight * chi_squared(histograms[a], histograms[b])
    affinity = length * np.exp(-strength / scale)
    a, b, affinity = a[affinity > 0], b[affinity > 0], affinity[affinity > 0]
    tied = np.unique(np.concatenate([a, b]))
    m = tied.size
    if m < 3:
        return out
    index = np.zeros(n, np.int64)
    index[tied] = np.arange(m)
    i, j = np.r_[index[a], index[b]], np.r_[index[b], index[a]]
    w = sparse.csr_matrix((np.tile(affinity, 2), (i, j)), shape=(m, m))
    degree = np.asarray(w.sum(axis=1)).ravel()
    k = min(n_vectors, m - 1)
    values, vectors = _smallest_eigenpairs(w, degree, k + 1)
    values = np.maximum(values[1:], EIGENVALUE_FLOOR)  # the first: the trivial one (constant)
    out[tied, :k] = vectors[:, 1:] / np.sqrt(values) * np.sqrt(degree.sum())
    return out


def _smallest_eigenpairs(w, degree, k):
    """The ``k`` smallest eigenpairs of ``(D - W) v = lambda D v``, ``v`` D-normalised.

    Dense (LAPACK) up to :data:`_DENSE_UP_TO` regions; beyond, the same pairs from the largest
    eigenvalues ``1 - lambda`` of the normalised affinity ``D^-1/2 W D^-1/2`` (ARPACK, from a
    fixed start vector, so that a result is the same on every call).
    """
    from scipy.linalg import eigh
    from scipy.sparse.linalg import eigsh

    if w.shape[0] <= _DENSE_UP_TO:
        d = np.diag(degree)
        return eigh(d - w.toarray(), d, subset_by_index=[0, k - 1])
    root = 1.0 / np.sqrt(degree)
    normalised = sparse.diags(root) @ w @ sparse.diags(root)
    start = np.random.default_rng(0).standard_normal(w.shape[0])  # reproducible, unlike ARPACK's
    mu, u = eigsh(normalised, k=k, which="LA", tol=1e-8, v0=start)
    order = np.argsort(-mu)
    return 1.0 - mu[order], u[:, order] * root[:, None]
