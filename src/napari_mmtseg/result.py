"""What a run yields: :class:`Progress` events and, last, the
:class:`SegmentationResult`; and the renumbering of label ids to 1..K.
Plain numpy; no torch, Qt or napari."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Progress", "SegmentationResult", "consecutive"]


@dataclass
class Progress:
    """One progress event of a run."""

    iteration: int  # steps done so far over the whole run (all slices)
    total: int  # steps the run will take at most
    losses: dict  # name -> float, of the last step
    n_labels: int  # labels in the current slice's output now
    preview: np.ndarray | None = None  # current slice's labels (H, W), full size, ids >= 1
    slice_index: int = 0
    n_slices: int = 1
    device: str = ""
    message: str = ""


@dataclass
class SegmentationResult:
    labels: np.ndarray  # spatial shape of the image, ids 1..K consecutive
    method: str
    preset: str
    params: dict
    seed: int
    device: str
    seconds: float
    history: list = field(default_factory=list)  # per step: slice, iteration, losses, n_labels
    channel_axis: int | None = None
    version: str = ""
    output: dict = field(default_factory=dict)  # what the output stage did (regions.summarize_output)
    model: dict | None = None  # the trained networks, with keep_model=True (for init_model)

    @property
    def n_labels(self) -> int:
        """Distinct ids in :attr:`labels` (its largest id, as ids are 1..K,
        except with scribbles, whose ids are kept)."""
        if not self.labels.size:
            return 0
        if self.output.get("scribble_ids"):
            return int(np.unique(self.labels).size)
        return int(self.labels.max())

    def metadata(self) -> dict:
        """What to store with a result (e.g. a napari layer's metadata)."""
        return {
            "method": self.method,
            "preset": self.preset,
            "params": dict(self.params),
            "seed": self.seed,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "n_labels": self.n_labels,
            "channel_axis": self.channel_axis,
            "output": dict(self.output),
            "napari_mmtseg_version": self.version,
        }



def consecutive(labels: np.ndarray) -> np.ndarray:
    """Ids 1..K keeping the order of the old (non-negative) ids, in the
    smallest unsigned dtype that holds K. A lookup table instead of
    ``np.unique``: no sorted copy or int64 inverse of a big stack."""
    if labels.min() < 0:  # not produced by the engine; keep it correct anyway
        ids, inv = np.unique(labels, return_inverse=True)
        labels = inv.reshape(labels.shape)
    present = np.zeros(int(labels.max()) + 1, dtype=bool)
    present[labels] = True
    k = int(present.sum())
    dtype = np.uint8 if k < 255 else (np.uint16 if k < 65535 else np.uint32)
    lut = np.cumsum(present).astype(dtype)
    return lut[labels]

