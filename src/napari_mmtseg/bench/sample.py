"""One benchmark image and its annotations, as every data set reader gives it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Sample"]


@dataclass
class Sample:
    """One benchmark image and its annotations.

    Attributes
    ----------
    id : str
        The image's id in its data set.
    image : numpy.ndarray
        The image, (H, W) or (H, W, C).
    gts : list of numpy.ndarray
        Integer label maps of shape (H, W), one per annotator.
    """

    id: str
    image: np.ndarray
    gts: list  # list of integer label maps, same spatial shape as the image
