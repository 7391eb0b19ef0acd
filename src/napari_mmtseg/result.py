"""What a run yields: :class:`Progress` events and, last, a :class:`SegmentationResult`.

Also the renumbering of label ids to 1..K. Plain numpy; no torch, Qt or napari.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import Model
    from .output_stage.hierarchy import Hierarchy

__all__ = ["Progress", "SegmentationResult", "consecutive"]


@dataclass
class Progress:
    """One progress event of a run.

    Attributes
    ----------
    iteration : int
        Steps done so far over the whole run (all slices).
    total : int
        Steps the run will take at most.
    losses : dict
        Loss name -> float, of the last step (empty for methods that do not train).
    n_labels : int
        Labels in the current slice's output now.
    preview : numpy.ndarray of shape (H, W), int32, or None
        The current slice's labels at full size, ids from 1 (every ``preview_every`` steps).
    slice_index : int
        The slice being worked on.
    n_slices : int
        Slices in the run.
    device : str
        The device, in words.
    message : str
        A line for a status bar (the first event's names method and device).
    """

    iteration: int
    total: int
    losses: dict
    n_labels: int
    preview: np.ndarray | None = None
    slice_index: int = 0
    n_slices: int = 1
    device: str = ""
    message: str = ""


@dataclass
class SegmentationResult:
    """The outcome of a run: the labels and what produced them.

    Attributes
    ----------
    labels : numpy.ndarray
        The image's spatial shape, unsigned ints; ids 1..K consecutive, except with
        scribbles (the scribble ids are kept) and with a model applied with
        ``output="clusters"`` (one id per network channel, :meth:`Model.class_ids`).
    method : str
        The method.
    preset : str or None
        The preset (None for a kept model applied: its training's).
    params : dict
        Every field of :class:`~napari_mmtseg.params.Params`, as used.
    seed : int or None
        The seed (None for a kept model applied: its training's).
    device : str
        The device, in words.
    seconds : float
        Wall time of the run, in seconds.
    history : list of dict
        Per step: slice, iteration, losses, n_labels (and ``changed``, the fraction of
        pixels whose label changed).
    channel_axis : int or None
        The channel axis as given or inferred (RGB).
    version : str
        napari-mmtseg's version.
    output : dict
        What the output stage did (``regions.summarize_output``), plus ``scribble_ids`` or
        ``model_channel_ids`` where ids are kept.
    model : Model or None
        The trained model, with ``keep_model=True`` (for ``init_model=``, ``model=`` and
        :meth:`~napari_mmtseg.model.Model.save`).
    hierarchy : Hierarchy or None
        The region hierarchy of a 2D result with ``output="regions"`` and ``n_classes="auto"``
        (no scribbles, no applied model): finest regions and merge table, for :meth:`at`.
    """

    labels: np.ndarray
    method: str
    preset: str | None
    params: dict
    seed: int | None
    device: str
    seconds: float
    history: list = field(default_factory=list)
    channel_axis: int | None = None
    version: str = ""
    output: dict = field(default_factory=dict)
    model: Model | None = None
    hierarchy: Hierarchy | None = None

    @property
    def n_labels(self) -> int:
        """Distinct ids in :attr:`labels`.

        Returns
        -------
        int
            The largest id where ids are 1..K (a run's), else the number of distinct ids
            (ids kept: scribbles, a model's channels, a refine's painted ids).
        """
        if not self.labels.size:
            return 0
        kept = ("scribble_ids", "model_channel_ids", "refine")
        if any(self.output.get(k) for k in kept):
            return int(np.unique(self.labels).size)
        return int(self.labels.max())

    def at(self, detail="auto", stable_ids: bool = False) -> np.ndarray:
        """Give the labels at another level of detail, without training again.

        A lookup over the hierarchy's finest regions (docs/method.md, "One run, every level of
        detail").

        Parameters
        ----------
        detail : float or str, optional
            ``"auto"`` (the default level: :attr:`labels`) or a float in [0, 1]: 1 gives the
            finest regions, 0 the coarsest level; in between, the number of regions goes
            geometrically from the coarsest count to the finest.
        stable_ids : bool, optional
            Number the regions after :attr:`labels` instead of 1..R: a region that is the
            same at two levels keeps its id, coarser regions take the smallest id they hold,
            finer parts of a region other than the one holding its first pixel take ids
            above :attr:`labels`' largest. What napari's detail slider shows, so colours do
            not change as the level moves
            (:meth:`napari_mmtseg.output_stage.hierarchy.Hierarchy.lookup`).

        Returns
        -------
        numpy.ndarray
            Labels of the image's spatial shape, ids 1..R in raster order of each region's
            first pixel (the smallest unsigned dtype that holds R), or with ``stable_ids``
            the ids above.

        Raises
        ------
        ValueError
            If ``detail`` is not ``"auto"`` or a number in [0, 1], or, for a number, if the
            result has no hierarchy (a stack, ``output="clusters"``, ``n_classes=N``,
            scribbles or an applied model).
        """
        if self.hierarchy is None:
            if isinstance(detail, str) and detail == "auto":
                return self.labels
            raise ValueError(
                "this result has no region hierarchy (only a 2D image segmented into regions "
                "with n_classes='auto' has one); use detail='auto'"
            )
        return self.hierarchy.at(detail, stable_ids).reshape(self.labels.shape)

    @property
    def detail(self) -> float | None:
        """The detail in [0, 1] of the default level (None without a hierarchy).

        Returns
        -------
        float or None
            Where :attr:`labels` lie among the hierarchy's levels.
        """
        h = self.hierarchy
        return None if h is None else h.detail_of(h.default)

    def metadata(self) -> dict:
        """What to store with a result (e.g. a napari layer's metadata).

        Returns
        -------
        dict
            JSON-able: method, preset, params, seed, device, seconds, n_labels,
            channel_axis, output and napari_mmtseg_version. A result labelled by a kept
            model has no preset or seed of its own (None: the model's training fixed
            everything they set); ``output["model"]`` describes the model
            (:meth:`napari_mmtseg.Model.provenance`).
        """
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
    """Renumber label ids to 1..K, keeping their order.

    A lookup table instead of ``np.unique``: no sorted copy or int64 inverse of a big stack.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Any shape; non-negative ids (negative ones are handled, more slowly).

    Returns
    -------
    numpy.ndarray
        ``labels``' shape, ids 1..K in the smallest unsigned dtype that holds K.
    """
    if labels.min() < 0:  # not produced by the engine; keep it correct anyway
        ids, inv = np.unique(labels, return_inverse=True)
        labels = inv.reshape(labels.shape)
    present = np.zeros(int(labels.max()) + 1, dtype=bool)
    present[labels] = True
    k = int(present.sum())
    dtype = np.uint8 if k < 255 else (np.uint16 if k < 65535 else np.uint32)
    lut = np.cumsum(present).astype(dtype)
    return lut[labels]
