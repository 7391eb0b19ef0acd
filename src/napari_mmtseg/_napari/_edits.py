"""What the widget wrote into a result layer, and what the user changed since:
the scribbles of a Refine and the pixels it must leave alone. Plain numpy,
no Qt or napari.

A :class:`EditRecord` keeps, per widget write, the labels as the widget left
them (``base``) and the pixels the user had edited by then (``edited``, kept
through every later Refine). The user's edits now are those pixels plus every
pixel that differs from ``base``: the scribbles are their current values, an
erased pixel (0) is edited but no scribble. napari's undo (Ctrl+Z) of a
widget write is followed: a write all of whose changed pixels hold their old
values again was undone, and its entry is set aside (and taken back on redo),
so the labels it replaced do not count as edits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["State", "EditRecord", "MAX_WRITES", "record_of"]

#: widget writes into one layer that can be followed back through undo
MAX_WRITES = 8


@dataclass
class State:
    """One widget write into a result layer."""

    base: np.ndarray  # the layer's labels as the write left them (the layer's shape)
    edited: np.ndarray  # bool, the layer's shape: user edits that the write kept
    method: str  # the method of the result written
    model: dict | None  # its trained networks (``keep_model=True``), or None
    channel_axis: object  # the widget's channel-axis choice for that run
    changed: tuple | None = (
        None  # indices of the pixels the write changed (None: it made the layer)
    )
    before: np.ndarray | None = None  # their values before it


def _holds(data: np.ndarray, index: tuple | None, values: np.ndarray) -> bool:
    """Whether ``data[index]`` equals ``values`` (False for no pixels)."""
    if index is None or not values.size:
        return False
    return bool(np.array_equal(data[index], values))


class EditRecord:
    """The widget's writes into one Labels layer (made from image ``source_id``)."""

    def __init__(self, data, source_id: str, method: str, model=None, channel_axis=None):
        data = np.asarray(data)
        self.source_id = source_id
        self.states = [State(data.copy(), np.zeros(data.shape, bool), method, model, channel_axis)]
        self.undone: list = []

    @property
    def state(self) -> State:
        """The newest write not undone."""
        return self.states[-1]

    def fits(self, data) -> bool:
        """Whether ``data`` still has the shape the widget wrote."""
        return tuple(np.shape(data)) == self.state.base.shape

    def sync(self, data) -> None:
        """Follow napari's undo and redo of the widget's writes in ``data``."""
        data = np.asarray(data)
        while len(self.states) > 1 and _holds(data, self.state.changed, self.state.before):
            self.undone.append(self.states.pop())
        while self.undone:
            s = self.undone[-1]
            if not _holds(data, s.changed, s.base[s.changed]):
                break
            self.states.append(self.undone.pop())

    def edits(self, data) -> tuple[np.ndarray, np.ndarray]:
        """``(scribbles, edited)`` of the layer's ``data`` now: ``edited`` (bool)
        the pixels the user changed since the widget wrote them, ``scribbles``
        their values where positive, 0 elsewhere (erased pixels included)."""
        self.sync(data)
        data = np.asarray(data)
        edited = self.state.edited | (data != self.state.base)
        return np.where(edited & (data > 0), data, 0).astype(data.dtype), edited

    def wrote(
        self,
        data,
        region: tuple,
        write: tuple,
        edited: np.ndarray,
        keep: np.ndarray | None,
        method: str,
        model=None,
        channel_axis=None,
    ) -> None:
        """Record a write into ``region`` of the layer, whose data is now
        ``data``. ``write``: ``(indices, before)`` from
        :func:`~napari_mmtseg._napari._job.write_undoable`; ``edited``: the
        user's edits just before it (whole layer); ``keep``: the pixels of
        the region the write left alone (None: it wrote all of them)."""
        data = np.asarray(data)
        base = self.state.base.copy()
        edited = edited.copy()
        kept = np.zeros(base[region].shape, bool) if keep is None else keep
        base[region] = np.where(kept, base[region], data[region])
        edited[region] = kept & edited[region]
        index, before = write
        new = State(base, edited, method, model, channel_axis, index, before)
        if not before.size:  # nothing changed, so nothing to undo: the newest state in place
            new.changed, new.before = self.state.changed, self.state.before
            self.states[-1] = new
        else:
            self.states.append(new)
            del self.states[:-MAX_WRITES]  # the oldest kept is as far back as undo is followed
        self.undone.clear()


def record_of(records: dict, layer) -> EditRecord | None:
    """The record in ``records`` (layer ``unique_id`` -> :class:`EditRecord`)
    of what the widget wrote into ``layer``; None if it wrote nothing there
    or the layer's data has changed shape since."""
    if layer is None:
        return None
    rec = records.get(str(layer.unique_id))
    return rec if rec is not None and rec.fits(layer.data) else None
