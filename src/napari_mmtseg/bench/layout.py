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
    "MAIN_COLS",
    "MASK_COLS",
    "BEST_COLS",
    "setting_sort",
    "run_label",
]

#: the paper's parameter grids for the classical baselines (used with ``--grid``)
GRIDS = {
    "kmeans": ("k", [2, 5, 8, 11, 14, 17, 20]),
    "felzenszwalb": ("scale", [100, 500, 1000, 1500, 2000]),
    "multiotsu": ("n_classes", [2, 3, 4]),  # not in the paper: the microscopist's baseline
}
#: the report's table columns: (CSV column, header)
MAIN_COLS = [  # (CSV column, header)
    ("accuracy_mean", "Acc"),
    ("miou_mean", "mIoU 1:1"),
    ("miou_kim_mean", "mIoU Kim"),
    ("pri_mean", "PRI"),
    ("voi_mean", "VoI"),
    ("n_segments", "segments"),
]
#: extra columns for microscopy masks (metrics.score_instances)
MASK_COLS = [("fg_iou", "fg IoU"), ("f1", "F1 @0.5")]
BEST_COLS = [
    ("accuracy_best", "Acc"),
    ("miou_best", "mIoU 1:1"),
    ("miou_kim_best", "mIoU Kim"),
    ("pri_best", "RI"),
    ("voi_best", "VoI"),
]
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


def setting_sort(setting: str) -> tuple:
    """Sort key of a setting: grid values by number, then the others by name.

    Parameters
    ----------
    setting : str
        A setting label such as ``"k=5"`` or ``"default"``.

    Returns
    -------
    tuple
        ``(0, value)`` for ``name=number``, ``(1, setting)`` otherwise.
    """
    if "=" in setting:
        try:
            return (0, float(setting.split("=", 1)[1]))
        except ValueError:
            pass
    return (1, setting)


def run_label(key) -> str:
    """Name a (method, preset, setting, overrides) group for tables and figures.

    Parameters
    ----------
    key : tuple of str
        ``(method, preset, setting, overrides)``.

    Returns
    -------
    str
        ``method``, ``method (setting)``, with ``[overrides]`` when there are some.
    """
    method, preset, setting, overrides = key
    txt = method if setting == "default" else f"{method} ({setting})"
    return txt + (f" [{overrides}]" if overrides else "")
