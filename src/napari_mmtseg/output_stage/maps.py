"""Measurements on piece maps that every step of the output stage shares.

A *piece map* is an (H, W) integer array of ids >= 1 (id 0 unused), one id per connected piece
or region. The functions here count, neighbour and measure those ids with NumPy, SciPy and
scikit-image; the steps (:mod:`.pieces`, :mod:`.bands`, :mod:`.lines`, :mod:`.merge`,
:mod:`.snap`, :mod:`.classes`) build on them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "adjacency",
    "boundary_means",
    "channel_histograms",
    "chi_squared",
    "compact_ids",
    "connected_pieces",
    "depth",
    "label_maximum",
    "mean_features",
    "votes",
]


def connected_pieces(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a cluster map into its connected pieces (4-connectivity).

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Cluster ids, any integers >= 0 (a compacted cluster map).

    Returns
    -------
    pieces : ndarray of int, shape (H, W)
        Piece ids 1..P (:func:`skimage.measure.label`).
    cluster : ndarray of int64, shape (P + 1,)
        The cluster id of each piece id (entry 0 unused).
    """
    from skimage.measure import label

    lab = np.asarray(labels)
    pieces = label(lab.astype(np.int64) + 1, background=0, connectivity=1)
    cluster = np.zeros(int(pieces.max()) + 1, dtype=np.int64)
    cluster[pieces.ravel()] = lab.ravel()
    return pieces, cluster


def adjacency(pieces: np.ndarray, of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Find the 4-adjacent pairs of pieces and the length of their shared boundary.

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 0.
    of : ndarray of bool, shape (P + 1,), optional
        Only the pairs that touch at least one of these ids.

    Returns
    -------
    pairs : ndarray of int64, shape (E, 2)
        Adjacent ids ``(a, b)`` with ``a < b``, sorted.
    count : ndarray of int64, shape (E,)
        Pixel pairs across each shared boundary.
    """
    a, b = _neighbours(pieces)
    diff = a != b
    if of is not None:
        diff &= of[a] | of[b]
    pairs, _, count = _pair_ids(a[diff], b[diff], int(pieces.max()) + 1)
    return pairs, count


def boundary_means(pieces: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Find the 4-adjacent pairs of pieces and the mean of ``values`` along their boundary.

    Each pixel pair across a boundary contributes the mean of its two pixels' values.

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 0.
    values : ndarray of float, shape (H, W)
        Per-pixel values (an edge-strength map).

    Returns
    -------
    pairs : ndarray of int64, shape (E, 2)
        Adjacent ids ``(a, b)`` with ``a < b``, sorted (as :func:`adjacency`).
    count : ndarray of int64, shape (E,)
        Pixel pairs across each shared boundary.
    mean : ndarray of float64, shape (E,)
        The mean value along each boundary.
    """
    a, b = _neighbours(pieces)
    v = np.asarray(values, np.float64)
    pair_mean = np.concatenate(
        [((v[:, :-1] + v[:, 1:]) / 2).ravel(), ((v[:-1, :] + v[1:, :]) / 2).ravel()]
    )
    diff = a != b
    pairs, inverse, count = _pair_ids(a[diff], b[diff], int(pieces.max()) + 1)
    return pairs, count, np.bincount(inverse, weights=pair_mean[diff], minlength=count.size) / count


def _neighbours(pieces):
    """The ids on either side of every horizontal, then every vertical, pixel pair."""
    a = np.concatenate([pieces[:, :-1].ravel(), pieces[:-1, :].ravel()])
    b = np.concatenate([pieces[:, 1:].ravel(), pieces[1:, :].ravel()])
    return a, b


def _pair_ids(a, b, n):
    """Sorted unique unordered pairs of ``a`` and ``b`` (ids < n), each pair's index, counts."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs, inverse, count = np.unique(
        lo.astype(np.int64) * n + hi, return_inverse=True, return_counts=True
    )
    return np.stack([pairs // n, pairs % n], axis=1), inverse.ravel(), count


def mean_features(ids: np.ndarray, features: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Average the features over each id.

    Parameters
    ----------
    ids : ndarray of int, shape (H, W)
        Ids 0..n-1.
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    n : int
        Number of ids (rows of the result).

    Returns
    -------
    means : ndarray of float64, shape (n, F)
        Mean features of each id (0 for an absent id).
    count : ndarray of float64, shape (n,)
        Pixels of each id.
    """
    flat = ids.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    means = np.stack(
        [
            np.bincount(flat, features[..., c].ravel(), minlength=n)
            for c in range(features.shape[-1])
        ],
        axis=1,
    )
    return means / np.maximum(count, 1)[:, None], count


def compact_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids present in a map, and the map renumbered 0..K-1 in their order.

    What ``numpy.unique(ids, return_inverse=True)`` gives; for non-negative integer ids
    below a few times the map's size, by counting instead of sorting the pixels.

    Parameters
    ----------
    ids : ndarray of int
        Any shape; any ids (negative or huge ones take ``numpy.unique``).

    Returns
    -------
    present : ndarray, shape (K,)
        The ids present, ascending, of ``ids``' dtype.
    compact : ndarray of int64, ``ids``' shape
        Each pixel's index into ``present``.
    """
    ids = np.asarray(ids)
    flat = ids.ravel()
    if (
        flat.size == 0
        or not np.issubdtype(ids.dtype, np.integer)
        or flat.min() < 0
        or flat.max() >= 4 * flat.size + 1024
    ):
        present, compact = np.unique(flat, return_inverse=True)
        return present, compact.reshape(ids.shape)
    flat = flat.astype(np.intp, copy=False)  # bincount takes no uint64 on NumPy 1.x
    seen = np.bincount(flat) > 0
    present = np.flatnonzero(seen).astype(ids.dtype)
    lut = np.cumsum(seen) - 1
    return present, lut[flat].reshape(ids.shape)


def channel_histograms(ids: np.ndarray, features: np.ndarray, n: int, bins: int = 16) -> np.ndarray:
    """Count each id's pixels in a histogram of every feature channel.

    Each channel is cut into ``bins`` equal bins between its 1st and 99th percentile over the
    slice (values beyond go to the end bins), so the bins follow the slice's own range.

    Parameters
    ----------
    ids : ndarray of int, shape (H, W)
        Ids 0..n-1.
    features : ndarray of float, shape (H, W, F)
        Per-pixel features (:func:`napari_mmtseg.features.image_features`).
    n : int
        Number of ids (rows of the result).
    bins : int, optional
        Bins per channel.

    Returns
    -------
    ndarray of float64, shape (n, F, bins)
        Pixel counts (not normalised, so the histograms of two ids add up to their union's).
    """
    flat = ids.ravel()
    f = features.reshape(-1, features.shape[-1])
    out = np.zeros((n, f.shape[1], bins))
    for c in range(f.shape[1]):
        lo, hi = np.percentile(f[:, c], [1, 99])
        scale = bins / (hi - lo) if hi > lo else 0.0
        code = np.clip(((f[:, c] - lo) * scale).astype(np.int64), 0, bins - 1)
        out[:, c] = np.bincount(flat * bins + code, minlength=n * bins).reshape(n, bins)
    return out


def chi_squared(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Measure the chi-squared distance of two sets of histograms, averaged over channels.

    ``0.5 * sum((p - q)**2 / (p + q))`` over the bins of the normalised histograms p and q of
    each channel (the histogram distance of the BSDS gradients, Martin, Fowlkes and Malik,
    TPAMI 2004), then the mean over channels.

    Parameters
    ----------
    a, b : ndarray of float, shape (..., F, B)
        Pixel counts per channel and bin (rows of :func:`channel_histograms`); leading
        dimensions hold pairs, compared one by one.

    Returns
    -------
    float or ndarray of float64, shape (...)
        In [0, 1]: 0 for equal distributions, 1 for disjoint ones (a float for one pair).
    """
    p = a / np.maximum(a.sum(axis=-1, keepdims=True), 1e-12)
    q = b / np.maximum(b.sum(axis=-1, keepdims=True), 1e-12)
    total = p + q
    terms = np.divide((p - q) ** 2, total, out=np.zeros_like(total), where=total > 0)
    d = 0.5 * terms.sum(axis=-1).mean(axis=-1)
    return float(d) if d.ndim == 0 else d


def depth(pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measure how far each pixel lies from the nearest pixel of another piece.

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 1.

    Returns
    -------
    depth : ndarray of float64, shape (H, W)
        Euclidean distance in pixels to the nearest boundary pixel
        (:func:`scipy.ndimage.distance_transform_edt`; boundary pixels are 0).
    width : ndarray of float64, shape (P + 1,)
        Each piece's largest depth, its half-width (entry 0 unused).
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import find_boundaries

    edge = find_boundaries(pieces, connectivity=1, mode="thick")
    dist = ndi.distance_transform_edt(~edge)
    width = label_maximum(dist, pieces, int(pieces.max()) + 1)
    width[0] = 0.0
    return dist, width


def thin_pieces(pieces: np.ndarray, max_width: float) -> np.ndarray:
    """Which pieces are thin: no pixel deeper than ``max_width`` inside them.

    The same as ``depth(pieces)[1] <= max_width`` (:func:`depth`): a pixel lies deeper than
    ``max_width`` exactly when no boundary pixel is within that Euclidean distance, so one
    binary erosion by the disk of that radius finds the deep pixels, with no distance
    transform.

    Parameters
    ----------
    pieces : ndarray of int, shape (H, W)
        Piece ids >= 1.
    max_width : float
        Largest depth of a thin piece, in pixels (>= 0).

    Returns
    -------
    ndarray of bool, shape (P + 1,)
        True for each thin piece id, and for ids without pixels (entry 0 included).
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import find_boundaries

    r = int(np.floor(max_width))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = yy**2 + xx**2 <= max_width**2
    inside = ~find_boundaries(pieces, connectivity=1, mode="thick")
    deep = ndi.binary_erosion(inside, disk, border_value=1)
    return np.bincount(pieces[deep], minlength=int(pieces.max()) + 1) == 0


def label_maximum(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """The largest value of each label.

    What ``scipy.ndimage.maximum(values, labels, index=range(n))`` gives for values of at
    least 0, by one unbuffered ``numpy.maximum.at`` pass instead of a sort of the pixels.

    Parameters
    ----------
    values : ndarray of float, any shape
        Values >= 0.
    labels : ndarray of int
        ``values``' shape, ids 0..n-1.
    n : int
        Number of labels.

    Returns
    -------
    ndarray of float64, shape (n,)
        Each label's largest value; 0 for a label without pixels.
    """
    out = np.zeros(n)
    np.maximum.at(out, labels.ravel(), values.ravel())
    return out


#: the largest (regions x clusters) count table :func:`majority` builds densely (16 Mi cells)
DENSE_VOTES = 1 << 24


def majority(
    regions: np.ndarray,
    clusters: np.ndarray,
    n_clusters: int,
    n_reg: int | None = None,
    dense_limit: int = DENSE_VOTES,
) -> np.ndarray:
    """The cluster that covers most of each region: ``votes(...).argmax(1)`` in any size.

    The table of :func:`votes` has one cell per (region, cluster) pair, so a map of many
    regions and many clusters (a Felzenszwalb map of 90,000 segments: 60 GiB) cannot be
    held; above ``dense_limit`` cells only the pairs present are counted.

    Parameters
    ----------
    regions : ndarray of int
        Region ids >= 0, any shape.
    clusters : ndarray of int
        Cluster ids 0..n_clusters-1, the shape of ``regions``.
    n_clusters : int
        Number of clusters.
    n_reg : int, optional
        Number of regions; default the largest region id + 1.
    dense_limit : int, optional
        The most cells counted in a dense table.

    Returns
    -------
    ndarray of int64, shape (n_reg,)
        Each region's majority cluster (ties: the smallest id; 0 for a region without
        pixels).
    """
    n_reg = int(regions.max()) + 1 if n_reg is None else n_reg
    if n_reg * n_clusters <= dense_limit:
        return votes(regions, clusters, n_clusters, n_reg).argmax(1)
    flat = regions.ravel().astype(np.int64) * n_clusters + clusters.ravel()
    keys, counts = np.unique(flat, return_counts=True)
    reg, cl = np.divmod(keys, n_clusters)
    order = np.lexsort((cl, -counts, reg))  # by region, the largest count first, then id
    reg, cl = reg[order], cl[order]
    first = np.r_[True, reg[1:] != reg[:-1]]
    out = np.zeros(n_reg, np.int64)
    out[reg[first]] = cl[first]
    return out


def votes(
    regions: np.ndarray, clusters: np.ndarray, n_clusters: int, n_reg: int | None = None
) -> np.ndarray:
    """Count the pixels of each (region, cluster) pair of two aligned id maps.

    Parameters
    ----------
    regions : ndarray of int
        Region ids >= 0, any shape.
    clusters : ndarray of int
        Cluster ids 0..n_clusters-1, the shape of ``regions``.
    n_clusters : int
        Number of clusters (columns).
    n_reg : int, optional
        Number of rows; default the largest region id + 1.

    Returns
    -------
    ndarray of int64, shape (n_reg, n_clusters)
        Pixel counts.
    """
    n_reg = int(regions.max()) + 1 if n_reg is None else n_reg
    flat = regions.ravel().astype(np.int64) * n_clusters + clusters.ravel()
    return np.bincount(flat, minlength=n_reg * n_clusters).reshape(n_reg, n_clusters)
