"""The "MMT segmentation" dock widget: magicgui controls over
:func:`napari_mmtseg.iter_segment`.

The engine generator runs in a napari thread worker (``_worker``); each
:class:`~napari_mmtseg.Progress` it yields reaches this widget on the GUI
thread (progress bars, status, throttled label preview) and its last item,
the :class:`~napari_mmtseg.SegmentationResult`, becomes a Labels layer
(``_output``). The Params controls come from the tables in ``_fields``.
Refine runs the engine with scribbles (``_refine`` decides which, from the
user's edits that ``_edits`` tells apart from what the widget wrote).
"""
from __future__ import annotations

import os
import time

from magicgui.widgets import CheckBox, ComboBox, Container, Label, ProgressBar, PushButton, SpinBox
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal
from qtpy.QtCore import QTimer

from .. import LEARNED_METHODS, METHODS, PRESETS, Progress, SegmentationResult, make_params
from ..device import describe_device, resolve_device
from ..params import SCRIBBLE_METHODS, default_preset
from ._fields import ADVANCED, MAIN, clusters_param, from_param, make_widget, to_param
from ._job import make_job
from ._layers import LayerControls, advice
from ._output import add_preview, remove_layer, show_preview, write_run
from ._refine import plan_refine
from ._tooltips import TIPS
from ._worker import RUNNING, Run, default_threads, make_worker, start, stop, warm_up_once

__all__ = ["MMTSegWidget", "default_threads"]

DEVICES = ("auto", "cpu", "cuda", "mps")
_ENGINE_ERRORS = (ValueError, TypeError, MemoryError)
_OUTCOME_TEXT = {"done": "done", "cancelled": "cancelled, nothing added",
                 "error": "failed, nothing added (see the notification)"}


def _device_type(choice) -> str | None:
    try:
        return resolve_device(choice).type
    except ValueError:
        return None


class MMTSegWidget(Container):
    """Dock widget: unsupervised segmentation of a napari image layer.

    A magicgui :class:`~magicgui.widgets.Container`. The image chooser is a
    ``napari.layers.Image`` control, so napari keeps its choices in step with
    the layer list once the widget is docked; the chosen layer stays chosen
    through renames, and the channel axis chosen for a layer is kept for it.

    Driven from a script (what the Run button does, with the fields set first)::

        widget = MMTSegWidget(viewer)
        viewer.window.add_dock_widget(widget)
        widget.run_finished.connect(print)  # "done", "cancelled" or "error"
        worker = widget(image=viewer.layers["cells"], method="kmeans", k=3)
        # once run_finished has said "done": widget.result_layer, a Labels layer
        # correct a few pixels of it with napari's brush, then
        worker = widget.refine(scribbles=widget.result_layer)

    Signals: ``run_finished(str)`` once a run (or Refine) is over, with its outcome.
    """

    run_finished = Signal(str)

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self._current = [None]  # the Run in progress (shared with the destroyed handler)
        self._alive = [True]
        self._defaults = None
        #: the Labels layer the last finished run wrote
        self.result_layer = None
        self._records: dict = {}  # result layer's unique_id -> EditRecord: what the widget wrote there
        self._output_set = False  # whether the user chose the output since the preset filled it
        tip = TIPS.get

        self._layers = LayerControls(napari_viewer, self._guard)
        self.image = self._layers.image
        self.channel_axis = self._layers.channel_axis
        self.current_slice_only = self._layers.current_slice_only
        self.scribbles = self._layers.scribbles
        self.method = ComboBox(name="method", choices=METHODS, value="mmt", tooltip=tip("method"))
        preset = default_preset(_device_type("auto") or "cpu")
        self.preset = ComboBox(name="preset", choices=tuple(PRESETS), value=preset, tooltip=tip("preset"))
        self.device = ComboBox(name="device", choices=DEVICES, tooltip=tip("device"))
        self.device_info = Label(name="device_info", label=" ", tooltip=tip("device"))
        self.clusters = SpinBox(name="clusters", label="max clusters", min=1, max=1000)
        self._main = [(f, make_widget(f)) for f in MAIN]
        self.seed = SpinBox(name="seed", max=2**31 - 1, tooltip=tip("seed"))
        self.update_previous = CheckBox(name="update_previous", tooltip=tip("update"),
                                        text="update previous result (undoable)")
        self.live_preview = CheckBox(name="live_preview", text="live preview", value=True,
                                     tooltip=tip("preview"))
        self._form = form = Container(name="form", widgets=[
            self.image, self.method, self.preset, self.device, self.device_info, self.clusters,
            *(w for _, w in self._main), self.seed, self.current_slice_only, self.channel_axis,
            self.scribbles, self.update_previous, self.live_preview])

        # the Advanced controls are made on first need (_ensure_advanced): they are
        # 40% of the controls, and opening the widget must not stall the viewer
        self._advanced: list = []
        self._threads = None
        self.show_advanced = CheckBox(name="show_advanced", text="Advanced", tooltip=tip("advanced"))
        self.advanced = Container(name="advanced", visible=False)

        self.run_button = PushButton(name="run_button", text="Run", tooltip=tip("run"))
        self.refine_button = PushButton(name="refine_button", text="Refine", tooltip=tip("refine_run"))
        self.cancel_button = PushButton(name="cancel_button", text="Cancel", enabled=False,
                                        tooltip=tip("cancel"))
        self.progress_bar = ProgressBar(name="progress_bar", min=0, max=1, value=0)
        self.progress_bar.native.setFormat("%v / %m iterations")
        self.status = Label(name="status", value="ready", tooltip=tip("status"))
        for w in (self.device_info, self.status):
            w.native.setWordWrap(True)
        buttons = Container(name="buttons", layout="horizontal", labels=False,
                            widgets=[self.run_button, self.refine_button, self.cancel_button])
        super().__init__(labels=False, widgets=[form, self.show_advanced, self.advanced, buttons,
                                                self.progress_bar, self.status])

        self.method.changed.connect(self._load_defaults)
        self.preset.changed.connect(self._load_defaults)
        for w in (self.device, self.preset):
            w.changed.connect(self._update_device_info)
        self.show_advanced.changed.connect(self._show_advanced)
        self.run_button.changed.connect(self.run)
        self.refine_button.changed.connect(lambda *_: self._start(refine=True))
        output = next(w for f, w in self._main if f.name == "output")
        output.changed.connect(lambda *_: setattr(self, "_output_set", True))
        self.cancel_button.changed.connect(self.cancel)
        alive, current = self._alive, self._current  # no reference to self in the handler
        self.native.destroyed.connect(lambda *_: (alive.__setitem__(0, False), stop(current[0])))
        # once docked, napari's style sheet applies: align when the dock is in the window
        self.native_parent_changed.connect(lambda *_: QTimer.singleShot(0, self._align_labels))

        warm_up_once()
        self._load_defaults()
        self.reset_choices()
        self._layers.follow_selection()

    # ------------------------------------------------------------ following the layers
    def _guard(self) -> bool:
        """False once the widget or the viewer's window is gone."""
        if not self._alive[0]:
            return False
        try:
            self.native.objectName()  # raises RuntimeError once the C++ widget is deleted
        except RuntimeError:
            return False
        return True

    def reset_choices(self, *_) -> None:
        """Re-read what the controls take from the viewer: its image layers and
        the chosen layer's axes. The chosen layer stays chosen (matched by
        identity, so also after a rename), and so does the channel axis chosen
        for it. napari calls this on every insertion, removal, reordering and
        renaming in the layer list of the viewer the widget is docked in."""
        self._layers.reset_choices()
        present = {str(lay.unique_id) for lay in self._viewer.layers}
        for key in [k for k in self._records if k not in present]:
            del self._records[key]  # a removed result layer: forget what was written there

    # ------------------------------------------------------------ parameters
    def _load_defaults(self, *_) -> None:
        """Fill the parameter controls from the method and preset."""
        method = self.method.value
        p = self._defaults = make_params(method, self.preset.value)
        key = clusters_param(method)
        self.clusters.label = "clusters (k)" if key == "k" else "max clusters"
        self.clusters.tooltip = TIPS[key or "q"]
        self.clusters.enabled = key is not None
        if key is not None:
            self.clusters.value = getattr(p, key)
        self._fill(self._main + self._advanced)
        self._output_set = False  # the preset's output: Refine leaves it to the engine
        self._update_device_info()
        self._align_labels()  # magicgui re-measured them for the new clusters label

    def _fill(self, controls) -> None:
        """Set (Field, control) pairs from the method and preset's Params."""
        method = self.method.value
        for f, w in controls:
            w.value = from_param(f, getattr(self._defaults, f.name))
            w.enabled = not f.methods or method in f.methods

    def _ensure_advanced(self) -> None:
        """Make the Advanced controls (once), filled from the method and preset."""
        if self._threads is not None:
            return
        self._advanced = [(f, make_widget(f)) for f in ADVANCED]
        self._threads = SpinBox(name="threads", label="CPU threads (0: auto)",
                                max=os.cpu_count() or 1, tooltip=TIPS["threads"])
        self._threads.changed.connect(self._update_device_info)
        self.advanced.extend([*(w for _, w in self._advanced), self._threads])
        self._fill(self._advanced)
        self._align_labels()

    def _show_advanced(self, on: bool) -> None:
        if on:
            self._ensure_advanced()
        self.advanced.visible = on

    @property
    def param_widgets(self) -> dict:
        """The control of each Params field shown, by field name (q / k: ``clusters``)."""
        self._ensure_advanced()
        return {f.name: w for f, w in self._main + self._advanced}

    @property
    def threads(self):
        """The "CPU threads" control (0: all cores but one)."""
        self._ensure_advanced()
        return self._threads

    def _align_labels(self, *_) -> None:
        """Give the labels of each section the width of its widest label as
        drawn. magicgui measures them with the application's default font,
        which is smaller than the one napari's style sheet sets, so its rows
        do not line up in napari. Uses magicgui's row helpers (skipped if a
        magicgui version lacks them)."""
        if not self._guard():
            return
        for box in (self._form, self.advanced):
            rows = [r for r in (getattr(w, "_labeled_widget", lambda: None)() for w in box)
                    if r is not None and hasattr(r, "_label_widget")]
            if not rows:
                continue
            for r in rows:
                r._label_widget.native.ensurePolished()
            width = max(r._label_widget.native.sizeHint().width() for r in rows)
            for r in rows:
                r.label_width = width

    def params(self) -> dict:
        """The :class:`~napari_mmtseg.Params` fields as the controls set them
        (keyword arguments of :func:`~napari_mmtseg.iter_segment`)."""
        # Advanced fields not made yet are at the preset's values: the engine's own defaults
        out = {f.name: to_param(f, w.value) for f, w in self._main + self._advanced}
        key = clusters_param(self.method.value)
        if key is not None:
            out[key] = self.clusters.value
        return out

    def _num_threads(self) -> int | None:
        if _device_type(self.device.value) != "cpu":
            return None
        return (self._threads.value if self._threads is not None else 0) or default_threads()

    def _update_device_info(self, *_) -> None:
        choice = self.device.value
        kind = _device_type(choice)
        if kind is None:
            text = f"device: {choice} is not available here"
        elif kind == "cpu":
            n = self._num_threads()
            text = f"device: cpu ({n} thread{'s' * (n > 1)})"
        else:
            text = f"device: {describe_device(resolve_device(choice))}"
        self.device_info.value = f"{text} — using '{self.preset.value}' preset"

    def _set(self, name: str, value) -> None:
        if name == "image":
            if value not in self.image.choices:
                self.reset_choices()
            self.image.value = value  # ValueError if it is not an image layer of the viewer
            return
        if name in ("q", "k"):
            if clusters_param(self.method.value) != name:
                raise ValueError(f"{name} is not used by method {self.method.value!r}")
            name = "clusters"
        if name == "channel_axis":
            self._layers.set_channel_axis(value)
            return
        if name == "scribbles":
            if not any(value is c for c in self.scribbles.choices):
                self.reset_choices()
            if not any(value is c for c in self.scribbles.choices):
                raise ValueError(f"{getattr(value, 'name', value)!r} is not a Labels layer of the viewer "
                                 "with the shape of the chosen image's labels")
            self.scribbles.value = value
            return
        if name == "threads" or name in {f.name for f in ADVANCED}:
            self._ensure_advanced()
        for f, w in self._main + self._advanced:
            if f.name == name:
                w.value = from_param(f, value)
                self._output_set |= name == "output"  # chosen, even if it was the value shown
                return
        controls = ("method", "preset", "device", "clusters", "seed", "current_slice_only",
                    "channel_axis", "update_previous", "live_preview", "threads")
        if name not in controls:
            raise TypeError(f"MMTSegWidget has no field {name!r}")
        getattr(self, name).value = value

    # ------------------------------------------------------------ running
    @property
    def _run(self) -> Run | None:
        return self._current[0]

    @property
    def worker(self):
        """The napari ``GeneratorWorker`` of the run in progress, or None."""
        run = self._current[0]
        return run.worker if run is not None else None

    def __call__(self, image=None, **values):
        """Set fields, then start a run as the Run button does.

        image: an Image layer of the viewer (default: the one chosen).
        values: fields by name: ``method``, ``preset``, ``device``, ``seed``,
        ``clusters`` (or ``q`` / ``k``, whichever the method uses),
        ``current_slice_only``, ``channel_axis`` (an int, negative from the
        end, or None; an RGBA layer's last axis: its 4 entries as channels),
        ``scribbles`` (a Labels layer, for :meth:`refine`),
        ``update_previous``, ``live_preview``, ``threads``, or any
        :class:`~napari_mmtseg.Params` field the widget shows (``max_iter``,
        ``beta``, ``train_size``, ...). ``method`` and ``preset`` are set
        first, since they refill the parameter fields.

        Returns the started napari ``GeneratorWorker``, or None when no run
        started (a notification says why). Raises TypeError for an unknown
        field and ValueError for a value a field does not offer.
        """
        self._set_fields(image, values)
        return self.run()

    def refine(self, scribbles=None, image=None, **values):
        """Set fields as :meth:`__call__` does (``scribbles``: the Labels layer to
        learn from; default: the one chosen), then start a Refine as the Refine
        button does. Returns the started worker, or None (a notification says why)."""
        if scribbles is not None:
            values["scribbles"] = scribbles
        self._set_fields(image, values)
        return self._start(refine=True)

    def _set_fields(self, image, values: dict) -> None:
        if image is not None:
            self._set("image", image)
        first = ("method", "preset")  # they refill the fields; the scribbles depend on the image's axes
        for name in sorted(values, key=lambda n: first.index(n) if n in first else 2 + (n == "scribbles")):
            self._set(name, values[name])

    def run(self):
        """Start a run on the chosen image with the controls' values (the Run
        button). Returns the started worker, or None (a notification says why)."""
        return self._start(refine=False)

    def _refuse(self, message: str) -> None:
        show_error(f"MMT segmentation: {message}")
        self.run_finished.emit("error")

    def _start(self, refine: bool):
        """Start a run (``refine``: with the scribbles) on the chosen image."""
        if self._run is not None:
            return None
        if RUNNING:
            show_info("MMT segmentation: another run is in progress; wait for it or cancel it.")
            return None
        layer = self.image.value
        if layer is None:
            show_info("MMT segmentation: add or select an image layer first.")
            return None
        method = self.method.value
        if not refine and method in SCRIBBLE_METHODS:
            return self._refuse(
                f"'{method}' learns from scribbles only, so Run has nothing to learn from: paint a "
                "few pixels of each class (one label per class) into a Labels layer, choose it "
                "under 'scribbles' and press Refine.")
        if refine and method not in LEARNED_METHODS + SCRIBBLE_METHODS:
            return self._refuse(f"'{method}' does not learn, so it cannot take scribbles: Refine "
                                f"needs {', '.join(LEARNED_METHODS + SCRIBBLE_METHODS)}.")
        params = self.params()
        try:
            job = make_job(layer, self._viewer.dims.point, channel_axis=self.channel_axis.value,
                           current_slice_only=self.current_slice_only.value)
            plan = None
            if refine:
                plan = plan_refine(self._viewer, job, self.scribbles.value, self._records, method,
                                   make_params(method, self.preset.value, **params),
                                   self.channel_axis.value, preferred=self.result_layer)
        except _ENGINE_ERRORS as exc:
            return self._refuse(str(exc))
        kwargs = dict(method=method, preset=self.preset.value, seed=self.seed.value,
                      device=self.device.value, num_threads=self._num_threads(),
                      preview_every=10 if self.live_preview.value else 0,
                      keep_model=method in LEARNED_METHODS, **params)
        if plan is not None:
            kwargs.update(scribbles=plan.scribbles, init_model=plan.init_model)
            if not self._output_set:  # the engine's default with scribbles: one label per class
                del kwargs["output"]
        run = self._current[0] = Run(job=job, method=method, update=self.update_previous.value,
                                     plan=plan, channel_axis=self.channel_axis.value)
        worker = make_worker(run, kwargs)
        # napari's bar, indeterminate until the engine says the total; made before the
        # worker starts, since adding it processes pending Qt events
        run.pbar = progress(total=0, desc=f"MMT segmentation ({method})")
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_error)
        worker.warned.connect(self._on_warning)
        worker.finished.connect(self._on_finished)
        self.run_button.enabled = self.refine_button.enabled = False
        self.cancel_button.enabled = True
        self.progress_bar.value = 0
        where = (f" at pyramid level {job.level} ({job.out_shape[-2]}x{job.out_shape[-1]} per slice)"
                 if job.level else "")
        self.status.value = f"starting {method} on {job.source_name}{where} ..."
        if plan is not None:
            origin = "from the previous networks" if plan.init_model is not None else "from scratch"
            self.status.value = (f"refining {job.source_name} with {plan.n_scribbled} scribbled "
                                 f"pixels of {plan.layer_name!r}, {method} {origin}{where} ...")
            if plan.note:
                show_info(f"MMT segmentation: training from scratch: {plan.note}.")
        if self.live_preview.value:  # adding a layer costs ~0.1 s: do it before training
            run.preview = add_preview(self._viewer, job, method)
        start(worker)
        return worker

    def cancel(self) -> None:
        """Stop the run at the next iteration; no result layer is added."""
        run = self._run
        if run is not None and run.worker is not None:
            run.cancelled = True
            self.status.value = "cancelling ..."
            run.worker.quit()

    def _on_yielded(self, ev) -> None:
        run = self._run
        if run is None or run.cancelled or not self._guard():
            return
        if isinstance(ev, SegmentationResult):
            self._write(run, ev)
            run.outcome = "done"
            return
        if not isinstance(ev, Progress):
            return
        # napari's progress bar processes pending Qt events when it moves, so later
        # events (the result, the end of the run) may be handled inside its update:
        # everything else for this event is done first, and nothing after it
        if self.progress_bar.max != ev.total:
            self.progress_bar.max = ev.total
        if ev.preview is not None:
            show_preview(self._viewer, run.preview, run.job, ev)
        now = time.monotonic()
        if now - run.last_gui < 0.05 and ev.iteration < ev.total:
            return  # progress text at most 20 times a second
        run.last_gui = now
        self.progress_bar.value = ev.iteration
        loss = f", loss {ev.losses['loss']:.3f}" if "loss" in ev.losses else ""
        sl = f"slice {ev.slice_index + 1}/{ev.n_slices}, " if ev.n_slices > 1 else ""
        self.status.value = (f"{ev.device}: {sl}iteration {ev.iteration}/{ev.total}, "
                             f"{ev.n_labels} labels{loss}")
        if run.pbar is not None:
            if run.pbar.total != ev.total:
                run.pbar.total = ev.total
            run.pbar.update(ev.iteration - run.pbar.n)

    def _write(self, run: Run, result: SegmentationResult) -> None:
        """Put a run's result into the viewer (``_output.write_run``) and make
        its layer the chosen scribbles if the last result was (or none was)."""
        layer = write_run(self._viewer, run, result, self._records, self.result_layer)
        if self.scribbles.value is None or self.scribbles.value is self.result_layer:
            if not any(layer is c for c in self.scribbles.choices):
                self.reset_choices()
            if any(layer is c for c in self.scribbles.choices):
                self.scribbles.value = layer  # ready for: correct a few pixels, press Refine
        self.result_layer = layer

    def _on_warning(self, args) -> None:
        """A UserWarning the engine gave in the worker thread (``args``: those
        of ``warnings.showwarning``): a napari notification, once per run."""
        message, category = args[0], args[1]
        if not issubclass(category, UserWarning):
            return  # library deprecations and numpy's runtime warnings are not the user's business
        text = str(message)
        run = self._run
        if run is not None:
            if text in run.warned:
                return
            run.warned.add(text)
        show_warning(f"MMT segmentation: {text}{advice(text)}")

    def _on_error(self, exc) -> None:
        if self._run is not None:
            self._run.outcome = "error"
        if isinstance(exc, _ENGINE_ERRORS):
            show_error(f"MMT segmentation: {exc}")
        else:
            show_error(f"MMT segmentation failed: {type(exc).__name__}: {exc}")

    def _on_finished(self) -> None:
        run, self._current[0] = self._run, None
        stop(run)  # closes the progress bar and the engine generator
        if run is None or not self._guard():
            return
        remove_layer(self._viewer, run.preview)
        run.preview = None
        self.run_button.enabled = self.refine_button.enabled = True
        self.cancel_button.enabled = False
        self.progress_bar.value = self.progress_bar.max if run.outcome == "done" else 0
        self.status.value = _OUTCOME_TEXT[run.outcome]
        self.run_finished.emit(run.outcome)
