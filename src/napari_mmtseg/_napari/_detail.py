"""The "detail" slider under the result: another level of the run's region hierarchy, live.

A result with a region hierarchy (:attr:`napari_mmtseg.SegmentationResult.hierarchy`: a 2D
image segmented into regions with ``n_classes="auto"``) can be shown at any level of detail
without a new run (:meth:`~napari_mmtseg.SegmentationResult.at`, a lookup table over the finest
regions). While the slider is dragged, each new level is written straight into the result
layer (no undo history); on release the change since the drag began is recorded as one
undoable step (:func:`record_step`: the history only, the pixels are already written),
recorded like every widget write so Refine does not take it for the user's edits, which it
leaves alone. A click, a key or a script's ``value =`` is one step at once.
"""

from __future__ import annotations

import time

import numpy as np
from magicgui.widgets import Container, FloatSlider, Label

from ._edits import record_of
from ._job import write_undoable

__all__ = ["DetailControl", "history_lengths", "record_step"]

TIP = (
    "Level of detail of the result: right for more, smaller regions (1: the finest regions "
    "the run found), left for fewer, larger ones (0: the coarsest). The mark after the "
    "number is the run's own choice ('auto'). Moving it rewrites the result layer at once, "
    "without training again; each release is one undo step (Ctrl+Z), and your own edits "
    "of the layer are kept."
)


class DetailControl(Container):
    """A "detail" slider and the level it shows, under the widget's result.

    Hidden until :meth:`show_result` is given a result that has a region hierarchy.

    Parameters
    ----------
    records : dict
        The widget's records of what it wrote into result layers (layer ``unique_id`` ->
        :class:`~napari_mmtseg._napari._edits.EditRecord`); a slider write is added to them.

    Attributes
    ----------
    slider : magicgui.widgets.FloatSlider
        The detail, in [0, 1].
    last_update_s : float
        Seconds the last live update of the layer took (labels looked up, written, redrawn).
    """

    def __init__(self, records: dict):
        self._records = records
        self.slider = FloatSlider(
            name="detail", min=0.0, max=1.0, step=0.01, value=0.5, tooltip=TIP, tracking=True
        )
        self.info = Label(name="detail_info", value="")
        super().__init__(name="detail_box", labels=True, widgets=[self.slider, self.info])
        self._target = None  # (layer, region, result)
        self._start = None  # the layer's region when a drag began
        self._keep = None  # the user's edits there, kept through the drag
        self._edited = None  # the user's edits in the whole layer when the drag began
        self._quiet = False
        self._histories = None  # the layer's undo and redo lengths last seen
        self._writing = False  # the control writes into the layer (its own events: ignored)
        self._held = False  # a run goes: the level stays (see :meth:`hold`)
        self._depth = None  # the record's writes when the result came (fewer: it was undone)
        self._rec = None  # the layer's record when a drag began
        self.last_update_s = 0.0
        self.visible = False
        self.slider.changed.connect(self._on_value)
        qslider = _qslider(self.slider)
        if qslider is not None:
            qslider.sliderPressed.connect(self._on_press)
            qslider.sliderReleased.connect(self._on_release)

    def show_result(self, layer, region: tuple, result) -> None:
        """Follow the result just written into ``layer[region]`` (hidden without a hierarchy).

        Parameters
        ----------
        layer : napari.layers.Labels
            The result layer.
        region : tuple
            Where in ``layer.data`` the result was written (the run's region).
        result : napari_mmtseg.SegmentationResult
            The result.
        """
        if result is None or result.hierarchy is None or layer is None:
            self._target = None
            self.visible = False
            return
        h = result.hierarchy
        n = h.n_regions("auto") + h.n_fine  # the largest stable id a level can give
        if np.issubdtype(layer.data.dtype, np.integer) and n > np.iinfo(layer.data.dtype).max:
            layer.data = np.asarray(layer.data).astype(np.min_scalar_type(n))  # room for ids
        if self._target is not None and self._target[0] is not layer:
            self._target[0].events.set_data.disconnect(self._on_layer_data)
        if self._target is None or self._target[0] is not layer:
            layer.events.set_data.connect(self._on_layer_data)
        self._target = (layer, tuple(region), result)
        self._histories = history_lengths(layer)
        rec = record_of(self._records, layer)
        self._depth = None if rec is None else len(rec.states)
        self._set_quietly(round(result.detail, 2))
        self._say(result.detail)
        self.visible = True

    def _on_layer_data(self, _event=None) -> None:
        """After napari's undo or redo (its histories changed length, not a brush stroke),
        follow the widget's record back and show the level the layer holds."""
        if self._target is None or self._start is not None or self._writing:
            return
        layer, _, result = self._target
        seen, self._histories = self._histories, history_lengths(layer)
        rec = None if self._histories == seen else record_of(self._records, layer)
        if rec is None:
            return
        # the result the slider shows was undone (an earlier run's labels are back): hide it
        shown = self._depth is None or len(rec.states) >= self._depth
        self.visible = shown  # read back, False while the widget's panel is hidden
        if not shown:
            return
        value = (rec.state.metadata or {}).get("detail", result.detail)  # the run's: auto
        if abs(float(self.slider.value) - value) > 1e-9:
            self._set_quietly(round(value, 2))
            self._say(value)

    def _set_quietly(self, value: float) -> None:
        self._quiet = True
        try:
            self.slider.value = value
        finally:
            self._quiet = False

    def _say(self, value: float) -> None:
        """The label: regions at this level, and where the run's own level lies."""
        _, _, result = self._target
        h = result.hierarchy
        auto = result.detail
        n = h.n_regions(float(value))
        self.info.value = f"{n} regions (auto: {auto:.2f}, {h.n_regions('auto')} regions)"

    def _dragging(self) -> bool:
        q = _qslider(self.slider)
        return q is not None and q.isSliderDown()

    def _on_press(self) -> None:
        if self._target is not None and not self._held:
            layer, region, _ = self._target
            self._start = np.array(layer.data[region], copy=True)
            rec = self._rec = record_of(self._records, layer)  # followed to now, once
            self._edited = None if rec is None else rec.edits(layer.data)[1]
            self._keep = None if rec is None else self._edited[region]

    def hold(self, held: bool) -> None:
        """Keep the level as it is while a run goes (``held``), or let it move again.

        A run may write into the result layer (a Refine, an update of the previous result):
        a level written meanwhile would be taken for the user's edits, or lost. While held,
        the slider is greyed out and a value set by a script is put back.

        Parameters
        ----------
        held : bool
            Whether a run is going.
        """
        if held and self._start is not None:  # a drag going on ends here, as a release
            self._on_release()
        self._held = bool(held)
        self.slider.enabled = not held

    def _on_value(self, value) -> None:
        if self._quiet or self._target is None:
            return
        if self._held:  # a run goes: the level shown stays
            meta = self._target[0].metadata or {}
            self._set_quietly(round(meta.get("detail", self._target[2].detail), 2))
            return
        if self._dragging() and self._start is not None:
            self._live(float(value))
        else:
            self.commit(float(value))

    def _on_release(self) -> None:
        if self._target is None or self._start is None:
            return
        start, self._start = self._start, None
        value = float(self.slider.value)
        t = time.perf_counter()
        layer, region, _ = self._target
        view = layer.data[region]
        new = self._level_labels(value, view)
        if self._keep is not None:
            new = np.where(self._keep, start, new)
        view[...] = new  # the layer shows the last live level already: this is a no-op or less
        # the record as the press left it: looked up again now, the live writes (no history)
        # could read as an undo of an earlier step that showed the same level
        rec, self._rec = self._rec, None
        self._writing = True
        try:
            write = record_step(layer, region, start, new)
            meta = _with_detail(layer, value)
            if rec is not None and self._edited is not None:
                s = rec.state
                rec.wrote(layer.data, region, write, self._edited, self._keep, s.method,
                          s.model, s.channel_axis, meta)  # fmt: skip
        finally:
            self._writing = False
        self._histories = history_lengths(layer)
        layer.refresh()
        self._say(value)
        self.last_update_s = time.perf_counter() - t

    def _level_labels(self, value: float, like: np.ndarray) -> np.ndarray:
        _, _, result = self._target
        # stable ids: a region the level does not change keeps its id, and so its colour
        return result.at(value, stable_ids=True).reshape(like.shape).astype(like.dtype, copy=False)

    def _live(self, value: float) -> None:
        """Write the level into the layer without undo history, and redraw it."""
        t = time.perf_counter()
        layer, region, _ = self._target
        view = layer.data[region]
        new = self._level_labels(value, view)
        view[...] = new if self._keep is None else np.where(self._keep, self._start, new)
        layer.refresh()
        self._say(value)
        self.last_update_s = time.perf_counter() - t

    def commit(self, value: float) -> None:
        """Write the level ``value`` into the result layer as one undoable step.

        Parameters
        ----------
        value : float
            The detail, in [0, 1].
        """
        if self._target is None:
            return
        layer, region, _ = self._target
        if layer.data[region].shape != self._target[2].labels.shape:
            return  # the layer changed shape since: nothing to write into
        t = time.perf_counter()
        rec = record_of(self._records, layer)
        edited = keep = None
        if rec is not None:
            _, edited = rec.edits(layer.data)
            keep = edited[region]
        new = self._level_labels(value, np.asarray(layer.data[region]))
        self._writing = True
        try:
            write = write_undoable(layer, region, new, keep=keep)
            meta = _with_detail(layer, value)
            if rec is not None:
                s = rec.state
                rec.wrote(
                    layer.data, region, write, edited, keep, s.method, s.model, s.channel_axis,
                    meta,
                )  # fmt: skip
        finally:
            self._writing = False
        self._histories = history_lengths(layer)
        self._say(value)
        self.last_update_s = time.perf_counter() - t


def history_lengths(layer) -> tuple:
    """The lengths of a Labels layer's undo and redo histories.

    Parameters
    ----------
    layer : napari.layers.Labels
        The layer.

    Returns
    -------
    tuple of int
        ``(undo, redo)``: napari's own histories' lengths, (0, 0) where it keeps none.
    """
    return tuple(len(getattr(layer, h, ())) for h in ("_undo_history", "_redo_history"))


def _with_detail(layer, value: float) -> dict:
    """The layer's metadata with the level it now shows (``detail``), set on the layer."""
    meta = {**layer.metadata, "detail": round(float(value), 2)}
    layer.metadata = meta
    return meta


def record_step(layer, region: tuple, before: np.ndarray, new: np.ndarray) -> tuple:
    """Record, as one undo step of ``layer``, a change of ``layer.data[region]`` already made.

    The slider writes each level straight into the layer while it is dragged; on release only
    the history is written: the pixels that differ between ``before`` and ``new``, with both
    values, as the one step Ctrl+Z undoes (napari's own Labels history, the record
    ``Labels.data_setitem`` makes, without writing the pixels a second time). A Labels layer
    without that history gets the pixels written again through
    :func:`~napari_mmtseg._napari._job.write_undoable`.

    Parameters
    ----------
    layer : napari.layers.Labels
        The layer; ``layer.data[region]`` holds ``new``.
    region : tuple
        Where in ``layer.data`` the change is (ints and slices).
    before : ndarray of int, shape of ``layer.data[region]``
        The region before the change.
    new : ndarray of int, shape of ``layer.data[region]``
        The region now.

    Returns
    -------
    tuple
        ``(indices, before)``: the changed pixels as indices into the whole array and their
        values before, as :func:`~napari_mmtseg._napari._job.write_undoable` returns them.
    """
    save = getattr(layer, "_save_history", None)
    if save is None:
        layer.data[region] = before
        return write_undoable(layer, region, new)
    mask = np.zeros(layer.data.shape, bool)
    mask[region] = before != new
    indices = np.nonzero(mask)
    old = before[mask[region]]
    if old.size:
        save((indices, old, new[mask[region]]))
    return indices, old


def _qslider(widget):
    """The QSlider inside a magicgui slider (None if there is none)."""
    from qtpy.QtWidgets import QAbstractSlider

    found = widget.native.findChildren(QAbstractSlider)
    return found[0] if found else None
