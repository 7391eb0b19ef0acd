"""The classical baselines, as library calls: k-means (scikit-learn) and
Felzenszwalb's graph method (scikit-image). No Qt, no napari."""
from __future__ import annotations

import numpy as np

from .params import Params

__all__ = ["classical"]


def classical(method: str, x: np.ndarray, p: Params, seed: int) -> np.ndarray:
    img = x.transpose(1, 2, 0)  # (H, W, C) in [0, 1]
    if method == "felzenszwalb":
        from skimage.segmentation import felzenszwalb

        if img.shape[-1] in (1, 3):
            arg = img[..., 0] if img.shape[-1] == 1 else img
            return felzenszwalb(arg, scale=p.scale, sigma=p.sigma, min_size=p.min_size,
                                channel_axis=None if img.shape[-1] == 1 else -1)
        return felzenszwalb(img, scale=p.scale, sigma=p.sigma, min_size=p.min_size, channel_axis=-1)
    from sklearn.cluster import KMeans

    feats = img.reshape(-1, img.shape[-1]).astype(np.float64)
    rng = np.random.default_rng(seed)
    fit = feats if feats.shape[0] <= 200_000 else feats[rng.choice(feats.shape[0], 200_000, replace=False)]
    k = min(p.k, len(np.unique(fit, axis=0)))
    km = KMeans(n_clusters=max(1, k), n_init=3, random_state=seed).fit(fit)
    return km.predict(feats).reshape(img.shape[:2])

