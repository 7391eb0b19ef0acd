"""The layout of a benchmark folder (file names, label-map paths) and the
parameter grids, shared by :mod:`.run` (which writes it) and :mod:`.report`
(which reads it)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["GRIDS", "RESULTS", "STABILITY", "COMMANDS", "label_path"]

#: the paper's parameter grids for the classical baselines (used with ``--grid``)
GRIDS = {
    "kmeans": ("k", [2, 5, 8, 11, 14, 17, 20]),
    "felzenszwalb": ("scale", [100, 500, 1000, 1500, 2000]),
    "multiotsu": ("n_classes", [2, 3, 4]),  # not in the paper: the microscopist's baseline
}
RESULTS = "results.csv"
STABILITY = "stability.csv"
COMMANDS = "commands.txt"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in text) or "default"


def label_path(out: Path, image: str, method: str, preset: str, setting: str, overrides: str,
               seed: int) -> Path:
    sub = _slug(f"{preset}__{setting}" + (f"__{overrides}" if overrides else ""))
    return out / "labels" / method / sub / f"{_slug(image)}_seed{seed}.npz"
