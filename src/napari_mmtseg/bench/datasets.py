"""Data set readers for the benchmark.

Each reader yields :class:`Sample` objects: an image id, the image array and
a list of ground-truth label maps (one per human annotation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..io import read_image  # noqa: F401  (kept importable from here)
from .masks import MICRO_SETS, TIMELAPSE, load_masks_sample, masks_ids  # noqa: F401
from .sample import Sample

__all__ = [
    "Sample",
    "read_image",
    "bsds_ids",
    "load_bsds_sample",
    "iter_bsds",
    "masks_ids",
    "load_masks_sample",
    "dataset_ids",
    "load_sample",
    "bench_scribbles",
    "DATASETS",
]

DATASETS = ("bsds", "masks")


# --------------------------------------------------------------------------- BSDS500


def read_bsds_gt(mat_path) -> list:
    """Read the ``Segmentation`` maps of a BSDS500 ``groundTruth`` .mat file.

    Parameters
    ----------
    mat_path : str or os.PathLike
        The .mat file.

    Returns
    -------
    list of numpy.ndarray
        One int32 label map (H, W) per annotator.

    Raises
    ------
    ValueError
        When the file has no ``groundTruth`` variable.
    """
    from scipy.io import loadmat

    m = loadmat(str(mat_path))
    if "groundTruth" not in m:
        raise ValueError(f"{mat_path}: no 'groundTruth' variable")
    cells = np.asarray(m["groundTruth"]).ravel()
    out = []
    for c in cells:
        seg = c["Segmentation"]
        while isinstance(seg, np.ndarray) and seg.dtype == object:
            seg = seg.ravel()[0]
        out.append(np.asarray(seg).astype(np.int32))
    return out


def bsds_ids(root, split: str = "val") -> list:
    """List the BSDS500 images of a split that have annotations.

    Parameters
    ----------
    root : str or os.PathLike
        The BSDS500 root (holding ``images/`` and ``groundTruth/``).
    split : str, optional
        ``train``, ``val`` or ``test``.

    Returns
    -------
    list of str
        The image ids, sorted.

    Raises
    ------
    FileNotFoundError
        When the split's folders are missing.
    """
    img_dir = Path(root) / "images" / split
    gt_dir = Path(root) / "groundTruth" / split
    if not img_dir.is_dir():
        raise FileNotFoundError(f"No BSDS500 images folder {img_dir}")
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"No BSDS500 groundTruth folder {gt_dir}")
    ids = sorted(p.stem for p in img_dir.glob("*.jpg") if (gt_dir / f"{p.stem}.mat").exists())
    return ids


def load_bsds_sample(root, split: str, image_id: str) -> Sample:
    """Load one BSDS500 image and its human annotations.

    Parameters
    ----------
    root : str or os.PathLike
        The BSDS500 root.
    split : str
        The split.
    image_id : str
        The image's id.

    Returns
    -------
    Sample
        The image (H, W, 3) uint8 and one label map per annotator.
    """
    root = Path(root)
    img = read_image(root / "images" / split / f"{image_id}.jpg")
    gts = read_bsds_gt(root / "groundTruth" / split / f"{image_id}.mat")
    return Sample(image_id, img, gts)


def iter_bsds(root, split: str = "val", limit: int | None = None) -> Iterator[Sample]:
    """Iterate over the BSDS500 samples of a split.

    Parameters
    ----------
    root : str or os.PathLike
        The BSDS500 root.
    split : str, optional
        The split.
    limit : int, optional
        The first ``limit`` images only.

    Yields
    ------
    Sample
        One image with its annotations.
    """
    for i in dataset_ids("bsds", root, split, limit):
        yield load_bsds_sample(root, split, i)


# --------------------------------------------------------------------------- generic


def dataset_ids(dataset: str, root, split: str = "val", limit: int | None = None) -> list:
    """List the image ids of a data set.

    Parameters
    ----------
    dataset : {"bsds", "masks"}
        The data set.
    root : str or os.PathLike
        Its folder.
    split : str, optional
        BSDS500 split.
    limit : int, optional
        The first ``limit`` ids only.

    Returns
    -------
    list of str
        The ids, in a fixed order.

    Raises
    ------
    ValueError
        For an unknown data set.
    """
    if dataset == "bsds":
        ids = bsds_ids(root, split)
    elif dataset == "masks":
        ids = masks_ids(root)
    else:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return ids[:limit] if limit else ids


def load_sample(dataset: str, root, split: str, image_id: str) -> Sample:
    """Load one image of a data set with its annotations.

    Parameters
    ----------
    dataset : {"bsds", "masks"}
        The data set.
    root : str or os.PathLike
        Its folder, as for :func:`dataset_ids`.
    split : str
        BSDS500 split (ignored for masks).
    image_id : str
        An id from :func:`dataset_ids`.

    Returns
    -------
    Sample
        The image and its annotations.
    """
    if dataset == "bsds":
        return load_bsds_sample(root, split, image_id)
    return load_masks_sample(root, image_id)


def bench_scribbles(dataset: str, sample: Sample) -> np.ndarray:
    """Make the scribbles every method gets for a sample in ``mmtseg bench --scribbles``.

    Made by :func:`napari_mmtseg.scribbles.make_scribbles`, seed 0:

    - BSDS500: one stroke of up to 15 px in each segment of at least 64 px of
      the first human annotation, 3 px inside it; class = segment id + 1;
    - microscopy masks: semantic classes (1 = background, 2 = foreground:
      nuclei, cell interiors), one stroke of up to 9 px, 2 px inside, in up to
      5 foreground objects of at least 20 px and in the background.

    Parameters
    ----------
    dataset : {"bsds", "masks"}
        The sample's data set.
    sample : Sample
        The image with its annotations.

    Returns
    -------
    numpy.ndarray
        Scribbles (H, W), 0 where none, 1..K the classes.
    """
    from ..scribbles import make_scribbles

    gt = np.asarray(sample.gts[0])
    if dataset == "bsds":
        return make_scribbles(gt, seed=0, min_area=64, erode=3, length=15)
    return make_scribbles(
        (gt > 0).astype(np.int64), seed=0, min_area=20, erode=2, length=9, per_component=5
    )
