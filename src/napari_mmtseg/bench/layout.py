"""The layout of a benchmark folder (file names, label-map paths) and the
parameter grids, shared by :mod:`.run` (which writes it) and :mod:`.report`
(which reads it)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..metrics import METRICS

__all__ = [
    "GRIDS",
    "RESULTS",
    "STABILITY",
    "COMMANDS",
    "SCORE_FIELDS",
    "KEY_FIELDS",
    "CSV_FIELDS",
    "STAB_FIELDS",
    "label_path",
    "read_keys",
    "CsvAppender",
]

#: the paper's parameter grids for the classical baselines (used with ``--grid``)
GRIDS = {
    "kmeans": ("k", [2, 5, 8, 11, 14, 17, 20]),
    "felzenszwalb": ("scale", [100, 500, 1000, 1500, 2000]),
    "multiotsu": ("n_classes", [2, 3, 4]),  # not in the paper: the microscopist's baseline
}
RESULTS = "results.csv"
STABILITY = "stability.csv"
COMMANDS = "commands.txt"
SCORE_FIELDS = [f"{m}_{s}" for m in METRICS for s in ("mean", "best")] + [
    "miou_kim_pooled",
    "n_segments",
    "n_gt_segments",
    "n_annotations",
    "n_pieces",
    # microscopy masks only (metrics.score_instances): foreground IoU, object F1 at IoU 0.5
    "fg_iou",
    "f1",
    "precision",
    "recall",
    "n_objects",
    "n_gt_objects",
]
KEY_FIELDS = ["image", "method", "preset", "setting", "overrides", "seed"]
CSV_FIELDS = ["dataset", "split"] + KEY_FIELDS + SCORE_FIELDS + ["seconds", "device", "finished"]
STAB_FIELDS = [
    "image",
    "method",
    "preset",
    "setting",
    "overrides",
    "seed_a",
    "seed_b",
    "agreement",
    "ari",
]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in text) or "default"


def label_path(
    out: Path, image: str, method: str, preset: str, setting: str, overrides: str, seed: int
) -> Path:
    """Name the file that keeps one run's label map.

    Parameters
    ----------
    out : pathlib.Path
        The benchmark folder.
    image, method, preset, setting, overrides : str
        The run's key (as in ``results.csv``).
    seed : int
        The run's seed.

    Returns
    -------
    pathlib.Path
        ``out/labels/<method>/<preset__setting__overrides>/<image>_seed<seed>.npz``.
    """
    sub = _slug(f"{preset}__{setting}" + (f"__{overrides}" if overrides else ""))
    return out / "labels" / method / sub / f"{_slug(image)}_seed{seed}.npz"


def read_keys(path: Path, fields) -> set:
    """Read the keys of the rows already in a benchmark CSV.

    Parameters
    ----------
    path : pathlib.Path
        The CSV (missing: no rows).
    fields : sequence of str
        The columns that make a row's key.

    Returns
    -------
    set of tuple of str
        One key per row.
    """
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        return {tuple(r[k] for k in fields) for r in csv.DictReader(f)}


class CsvAppender:
    """Append rows to a CSV file, its header written once, every row flushed.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file (created if missing).
    fields : sequence of str
        Its columns; other keys of a row are ignored.
    """

    def __init__(self, path: Path, fields):
        new = not path.exists() or path.stat().st_size == 0
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields, extrasaction="ignore")
        if new:
            self.w.writeheader()
            self.f.flush()

    def row(self, d: dict) -> None:
        """Append one row.

        Parameters
        ----------
        d : dict
            The row, by column.
        """
        self.w.writerow(d)
        self.f.flush()

    def close(self) -> None:
        """Close the file."""
        self.f.close()
