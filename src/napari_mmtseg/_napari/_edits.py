"""What the widget wrote into a result layer, and what the user changed since:
the scribbles of a Refine and the pixels it must leave alone. Plain numpy,
no Qt or napari.

A :class:`EditRecord` keeps, per widget write, the labels as the widget left
them (``base``) and the pixels the user had edited by then (``edited``, kept
through every later Refine). The user's edits now are those pixels plus every
pixel that differs from ``base``: the scribbles are their current values, an
erased pixel (0) is edited but no scribble. napari's undo (Ctrl+Z) of widget
writes is followed: writes most of whose changed pixels hold their old values
again (several in a row, a brush stroke painted since) were undone, and their
entries are set aside (and taken back on redo), so the labels they replaced do
not count as edits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Model

__all__ = ["HELD", "State", "EditRecord", "MAX_WRITES", "record_of"]

#: widget writes into one layer that can be followed back through undo
MAX_WRITES = 8
#: a run of widget writes counts as undone (redone) when more than this share of the
#: pixels they changed hold their old (new) values again: a brush stroke painted since an
#: undo leaves it recognised, while a user who paints a few of a write's pixels back (erases
#: part of what a Refine added) has not undone it
HELD = 0.9


@dataclass
class State:
    """One widget write into a result layer."""

    base: np.ndarray  # the layer's labels as the write left them (the layer's shape)
    edited: np.ndarray  # bool, the layer's shape: user edits that the write kept
    method: str  # the method of the result written
    model: Model | None  # its trained networks (``keep_model=True``), or None
    channel_axis: object  # the widget's channel-axis choice for that run
    changed: tuple | None = (
        None  # indices of the pixels the write changed (None: it made the layer)
    )
    before: np.ndarray | None = None  # their values before it
    metadata: dict | None = None  # the layer's metadata as the write left it


def _steps(data: np.ndarray, writes: list, values) -> int:
    """How many of ``writes`` (in the order napari would undo or redo them) were undone or
    redone to give ``data``: the run of them whose pixels (``changed``) best hold
    ``values(write)`` (a later write's where two wrote one pixel), when more than
    :data:`HELD` of those pixels do (the user may have painted over some since); 0 when
    none does."""
    expected = data.copy()
    seen = np.zeros(data.shape, bool)
    best, best_share = 0, HELD
    for m, s in enumerate(writes, start=1):
        if s.changed is None or not s.before.size:
            break
        expected[s.changed] = values(s)
        seen[s.changed] = True
        share = float(np.mean(data[seen] == expected[seen]))
        if share > best_share:
            best, best_share = m, share
    return best


class EditRecord:
    """The widget's writes into one Labels layer (made from image ``source_id``)."""

    def __init__(
        self, data, source_id: str, method: str, model=None, channel_axis=None, metadata=None
    ):
        data = np.asarray(data)
        self.source_id = source_id
        meta = None if metadata is None else dict(metadata)
        blank = np.zeros(data.shape, bool)
        self.states = [State(data.copy(), blank, method, model, channel_axis, metadata=meta)]
        self.undone: list = []

    @property
    def state(self) -> State:
        """The newest write not undone."""
        return self.states[-1]

    def fits(self, data) -> bool:
        """Whether ``data`` still has the shape the widget wrote."""
        return tuple(np.shape(data)) == self.state.base.shape

    def sync(self, data) -> bool:
        """Follow napari's undo and redo of the widget's writes in ``data``: the run of
        newest writes whose undoing best explains ``data`` (:func:`_steps`; several undos
        in a row: a pixel two writes changed holds the older write's old value) is set
        aside, then the run of set-aside ones whose redoing best explains it is taken
        back. True when the newest write not undone changed."""
        data = np.asarray(data)
        undo = _steps(data, self.states[:0:-1], lambda s: s.before)
        for _ in range(undo):
            self.undone.append(self.states.pop())
        redo = _steps(data, self.undone[::-1], lambda s: s.base[s.changed])
        for _ in range(redo):
            self.states.append(self.undone.pop())
        return bool(undo or redo)

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
        metadata=None,
    ) -> None:
        """Record a write into ``region`` of the layer, whose data is now
        ``data``. ``write``: ``(indices, before)`` from
        :func:`~napari_mmtseg._napari._job.write_undoable`; ``edited``: the
        user's edits just before it (whole layer); ``keep``: the pixels of
        the region the write left alone (None: it wrote all of them); ``metadata``: the
        layer's metadata after it (restored when an undo or redo brings this write back)."""
        data = np.asarray(data)
        base = self.state.base.astype(np.result_type(self.state.base, data))  # a copy
        edited = edited.copy()
        kept = np.zeros(base[region].shape, bool) if keep is None else keep
        base[region] = np.where(kept, base[region], data[region])
        edited[region] = kept & edited[region]
        index, before = write
        meta = None if metadata is None else dict(metadata)
        new = State(base, edited, method, model, channel_axis, index, before, meta)
        if not before.size:  # nothing changed, so nothing to undo: the newest state in place
            new.changed, new.before = self.state.changed, self.state.before
            self.states[-1] = new
        else:
            self.states.append(new)
            del self.states[:-MAX_WRITES]  # the oldest kept is as far back as undo is followed
        self.undone.clear()


def record_of(records: dict, layer) -> EditRecord | None:
    """The record in ``records`` (layer ``unique_id`` -> :class:`EditRecord`)
    of what the widget wrote into ``layer``, following napari's undo and redo
    since (the layer's metadata put back as the write it returns to left it);
    None if it wrote nothing there or the layer's data has changed shape since."""
    if layer is None:
        return None
    rec = records.get(str(layer.unique_id))
    if rec is None or not rec.fits(layer.data):
        return None
    if rec.sync(layer.data) and rec.state.metadata is not None:  # napari's undo leaves it
        layer.metadata = dict(rec.state.metadata)
    return rec
