"""The classical baselines, as library calls, and the scribble-supervised anchor.

k-means (scikit-learn), Felzenszwalb's graph method and multi-level Otsu thresholding
(scikit-image); scikit-image's trainable segmentation (a random forest on multiscale
features) for scribbles. No Qt, no napari.
"""

from __future__ import annotations

import numpy as np

from .params import Params

__all__ = [
    "FIT_ONCE_METHODS",
    "apply_classical",
    "classical",
    "fit_classical",
    "fit_trainable",
    "trainable",
]


def classical(method: str, x: np.ndarray, p: Params, seed: int) -> np.ndarray:
    """Cluster ids of a classical method on one normalised slice.

    - ``kmeans``: scikit-learn ``KMeans`` (k-means++, 3 inits, ``random_state=seed``)
      on the pixel values, ``k`` clusters (``n_classes`` when it is an int);
    - ``felzenszwalb``: ``skimage.segmentation.felzenszwalb`` (``scale``,
      ``sigma``, ``min_size``);
    - ``multiotsu``: ``skimage.filters.threshold_multiotsu`` on the mean over
      channels, ``n_classes`` classes (2, plain Otsu, when ``"auto"``).

    Parameters
    ----------
    method : str
        ``"kmeans"``, ``"felzenszwalb"`` or ``"multiotsu"``.
    x : numpy.ndarray of shape (C, H, W), float32
        The normalised slice, values in [0, 1].
    p : Params
        Reads ``k``, ``n_classes``, ``scale``, ``sigma`` and ``min_size``.
    seed : int
        k-means' ``random_state`` and pixel sample.

    Returns
    -------
    numpy.ndarray of shape (H, W), int
        Cluster ids from 0.
    """
    if method == "felzenszwalb":
        return _felzenszwalb(x, p)
    pixels = x.reshape(x.shape[0], -1).T  # (H * W, C), a view
    return apply_classical(fit_classical(method, pixels, p, seed), x)


#: methods whose clusters are classes that one fit can label every slice with
FIT_ONCE_METHODS = ("kmeans", "multiotsu")


def fit_classical(method: str, pixels: np.ndarray, p: Params, seed: int):
    """Fit k-means or multi-Otsu once, on pixels of one slice or a sample of a stack.

    Applied to every slice by :func:`apply_classical`, a fit gives each class one id through
    the whole stack.

    Parameters
    ----------
    method : str
        ``"kmeans"`` or ``"multiotsu"``.
    pixels : numpy.ndarray of shape (N, C), float
        Normalised pixel values, in [0, 1].
    p : Params
        Reads ``k`` and ``n_classes``.
    seed : int
        k-means' ``random_state`` and its sample of at most 200,000 pixels.

    Returns
    -------
    tuple
        ``("kmeans", fitted KMeans)`` or ``("multiotsu", thresholds or None)`` (None: one
        class, a constant sample or ``n_classes`` below 2).
    """
    if method == "multiotsu":
        return "multiotsu", _otsu_thresholds(np.asarray(pixels).mean(axis=-1), p)
    from sklearn.cluster import KMeans

    feats = np.asarray(pixels, dtype=np.float64)
    rng = np.random.default_rng(seed)
    fit = (
        feats
        if feats.shape[0] <= 200_000
        else feats[rng.choice(feats.shape[0], 200_000, replace=False)]
    )
    k = min(p.k if p.n_classes == "auto" else p.n_classes, len(np.unique(fit, axis=0)))
    return "kmeans", KMeans(n_clusters=max(1, k), n_init=3, random_state=seed).fit(fit)


def apply_classical(fitted, x: np.ndarray) -> np.ndarray:
    """Label one slice with a fit of :func:`fit_classical`.

    Parameters
    ----------
    fitted : tuple
        What :func:`fit_classical` returned.
    x : numpy.ndarray of shape (C, H, W), float32
        The normalised slice.

    Returns
    -------
    numpy.ndarray of shape (H, W), int
        Class ids from 0, the same class with the same id on every slice.
    """
    kind, fit = fitted
    if kind == "multiotsu":
        grey = x.mean(axis=0)
        if fit is None:
            return np.zeros(grey.shape, dtype=np.int64)
        return np.digitize(grey, fit)
    feats = x.reshape(x.shape[0], -1).T.astype(np.float64)
    return fit.predict(feats).reshape(x.shape[1:])


def _otsu_thresholds(grey: np.ndarray, p: Params):
    """Multi-Otsu thresholds of grey values: as many classes as the histogram allows."""
    from skimage.filters import threshold_multiotsu

    classes = p.n_classes if p.n_classes != "auto" else 2
    if classes < 2 or grey.min() == grey.max():  # one class (skimage needs at least 2)
        return None
    for c in range(classes, 1, -1):  # as many classes as the histogram's levels allow
        try:
            return threshold_multiotsu(grey, classes=c)
        except ValueError:  # fewer distinct levels than classes in the histogram
            continue
    return np.array([(grey.min() + grey.max()) / 2])


def _felzenszwalb(x: np.ndarray, p: Params) -> np.ndarray:
    """Felzenszwalb's segments of one slice (``scale``, ``sigma``, ``min_size``)."""
    from skimage.segmentation import felzenszwalb

    img = x.transpose(1, 2, 0)  # (H, W, C) in [0, 1]
    if img.shape[-1] in (1, 3):
        arg = img[..., 0] if img.shape[-1] == 1 else img
        return felzenszwalb(
            arg,
            scale=p.scale,
            sigma=p.sigma,
            min_size=p.min_size,
            channel_axis=None if img.shape[-1] == 1 else -1,
        )
    return felzenszwalb(img, scale=p.scale, sigma=p.sigma, min_size=p.min_size, channel_axis=-1)


def _trainable_features(x: np.ndarray) -> np.ndarray:
    """Per-pixel features of a (C, H, W) slice: intensity, edges, texture at 1-16 px."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(
        x.transpose(1, 2, 0), channel_axis=-1, sigma_min=1, sigma_max=16
    )


def fit_trainable(slices, seed: int):
    """Fit scikit-image's trainable segmentation on the scribbled pixels.

    What pixel-classifier plugins do: per-pixel features
    (``skimage.feature.multiscale_basic_features``:
    intensity, edges and texture at scales 1-16 px, every channel) and a
    random forest (scikit-learn, 50 trees, depth 10, 5% of the scribbled
    pixels per tree but at least 200, ``random_state=seed``) fitted on the
    scribbled pixels of every slice given.

    Parameters
    ----------
    slices : iterable of tuple
        ``(x, plane)`` pairs: ``x`` of shape (C, H, W), float in [0, 1]; ``plane`` of
        shape (H, W), int, 0 = not scribbled, else the class id.
    seed : int
        The forest's ``random_state``.

    Returns
    -------
    sklearn.ensemble.RandomForestClassifier
        The fitted classifier, for :func:`trainable`.
    """
    from sklearn.ensemble import RandomForestClassifier

    feats, labels = [], []
    for x, plane in slices:
        hit = np.asarray(plane) > 0
        if hit.any():
            feats.append(_trainable_features(x)[hit])
            labels.append(np.asarray(plane)[hit])
    X, y = np.concatenate(feats), np.concatenate(labels)
    clf = RandomForestClassifier(
        n_estimators=50,
        max_depth=10,
        max_samples=min(1.0, max(0.05, 200 / y.size)),
        n_jobs=1,
        random_state=seed,
    )
    return clf.fit(X, y)


def trainable(x: np.ndarray, clf) -> np.ndarray:
    """Classify every pixel of a slice (``skimage.future.predict_segmenter``).

    Parameters
    ----------
    x : numpy.ndarray of shape (C, H, W), float32
        The normalised slice.
    clf : sklearn.ensemble.RandomForestClassifier
        The classifier of :func:`fit_trainable`.

    Returns
    -------
    numpy.ndarray of shape (H, W), int
        The scribble id of every pixel.
    """
    from skimage.future import predict_segmenter

    return predict_segmenter(_trainable_features(x), clf)
