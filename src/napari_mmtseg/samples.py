"""Sample images for trying the method offline: bundled with scikit-image or generated.

Plain arrays; the napari sample menu wraps them (``_napari/_sample_data.py``) and
``mmtseg segment --sample NAME`` writes them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SAMPLES", "load_sample", "make_blobs_timelapse", "make_look_alike"]


def _astronaut():
    """scikit-image's astronaut photo."""
    from skimage import data

    return data.astronaut()


def _ihc():
    """scikit-image's immunohistochemistry image."""
    from skimage import data

    return data.immunohistochemistry()


def _cell():
    """scikit-image's phase-contrast cell."""
    from skimage import data

    return data.cell()


def make_blobs_timelapse(
    t: int = 4, size: int = 128, n_blobs: int = 12, seed: int = 0
) -> np.ndarray:
    """A small synthetic fluorescence time-lapse of drifting blobs.

    Round blobs of two brightnesses drift slowly over a noisy background.

    Parameters
    ----------
    t : int, optional
        Frames.
    size : int, optional
        Side of each frame, in pixels.
    n_blobs : int, optional
        Blobs.
    seed : int, optional
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray of shape (t, size, size), uint16
        The time-lapse.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    pos = rng.uniform(0.15 * size, 0.85 * size, size=(n_blobs, 2))
    vel = rng.normal(0.0, 0.02 * size, size=(n_blobs, 2))
    radius = rng.uniform(0.04 * size, 0.09 * size, size=n_blobs)
    bright = rng.choice([1200.0, 2500.0], size=n_blobs)
    frames = []
    for i in range(t):
        img = np.full((size, size), 300.0, dtype=np.float32)
        for (py, px), (vy, vx), r, b in zip(pos, vel, radius, bright):
            d2 = (yy - (py + i * vy)) ** 2 + (xx - (px + i * vx)) ** 2
            img += b / (1.0 + np.exp((np.sqrt(d2) - r) / 1.2))
        img += rng.normal(0.0, 80.0, size=img.shape)
        frames.append(img)
    return np.clip(np.stack(frames), 0, 65535).astype(np.uint16)


def make_look_alike(seed: int = 0) -> tuple:
    """An image with two look-alike classes, and scribbles that tell them apart.

    The case scribbles are for: a split the image alone does not show.

    Parameters
    ----------
    seed : int, optional
        Seed of the noise.

    Returns
    -------
    image : numpy.ndarray of shape (48, 64), float32
        Three vertical bands, the first two alike (0.48 and 0.52 grey under Gaussian noise
        of 0.04, which an unsupervised run takes as one class), the third bright (0.95).
    scribbles : numpy.ndarray of shape (48, 64), int32
        A short stroke of id 3, 7 and 9 in each band, 0 elsewhere.
    """
    rng = np.random.default_rng(seed)
    img = np.full((48, 64), 0.48)
    img[:, 22:44] = 0.52
    img[:, 44:] = 0.95
    img = img + rng.normal(0, 0.04, img.shape)
    scribbles = np.zeros((48, 64), np.int32)
    scribbles[20:24, 5:15] = 3
    scribbles[20:24, 28:38] = 7
    scribbles[20:24, 50:58] = 9
    return img.astype(np.float32), scribbles


# name -> (loader, description, is RGB)
SAMPLES = {
    "astronaut": (
        _astronaut,
        "a natural photo: Eileen Collins, NASA (scikit-image, 512x512 RGB)",
        True,
    ),
    "immunohistochemistry": (
        _ihc,
        "IHC staining of a human colon tissue section (scikit-image, 512x512 RGB)",
        True,
    ),
    "cell": (
        _cell,
        "a phase-contrast micrograph of a cell in saline (scikit-image, 660x550 grey)",
        False,
    ),
    "blobs_timelapse": (
        make_blobs_timelapse,
        "a synthetic 4-frame 128x128 time-lapse (T, Y, X) of drifting blobs, uint16",
        False,
    ),
}


def load_sample(name: str) -> np.ndarray:
    """Load a sample image.

    Parameters
    ----------
    name : str
        One of :data:`SAMPLES`.

    Returns
    -------
    numpy.ndarray
        The image.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    return SAMPLES[name][0]()
