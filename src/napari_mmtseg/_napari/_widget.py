"""The "MMT segmentation" dock widget: its run lifecycle over :func:`napari_mmtseg.iter_segment`.

The form (controls <-> Params) is :class:`~napari_mmtseg._napari._form.ParamsForm`,
which this widget extends with Run, Refine, Cancel and a Model section (``_model_panel``).
The engine runs in a napari thread worker (``_worker``); each :class:`~napari_mmtseg.Progress`
reaches it on the GUI thread, the last item (the result) becomes a Labels layer (``_output``).
Refine runs it with scribbles (``_refine``: which, from the edits ``_edits`` tells apart from
the widget's). Only the GUI thread touches napari or Qt objects.
"""

from __future__ import annotations

import time

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from .. import LEARNED_METHODS, Progress, SegmentationResult, make_params
from ..progress_text import progress_text
from ._detail import DetailControl, history_lengths
from ._edits import record_of
from ._form import ParamsForm
from ._layers import advice, layer_by_id, refill
from ._model_panel import ModelPanel
from ._output import add_preview, remove_layer, show_preview, update_target, write_run
from ._refine import plan_refine
from ._tooltips import TIPS
from ._worker import (
    RUNNING,
    Run,
    default_threads,
    make_worker,
    start,
    starting_text,
    stop,
    warm_up_once,
    warning_text,
)

__all__ = ["MMTSegWidget", "default_threads"]

_ENGINE_ERRORS = (ValueError, TypeError, MemoryError)
_OUTCOME_TEXT = {
    "done": "done",
    "cancelled": "cancelled, nothing added",
    "error": "failed, nothing added (see the notification)",
}
_BUSY = "MMT segmentation: a run is in progress or starting; wait for it, or press Cancel."


class MMTSegWidget(ParamsForm):
    """Dock widget: unsupervised segmentation of a napari image layer.

    A magicgui :class:`~magicgui.widgets.Container`. The image chooser is a
    ``napari.layers.Image`` control, so napari keeps its choices in step with
    the layer list once the widget is docked; the chosen layer stays chosen
    through renames, and the channel axis chosen for a layer is kept for it.
    Opened from napari's Plugins menu, from Layers > Segment or by a script,
    it behaves the same: after each Run its result is the chosen "scribbles"
    layer, ready for corrections and Refine.

    Driven from a script (what the Run button does, with the fields set first)::

        widget = MMTSegWidget(viewer)
        viewer.window.add_dock_widget(widget)
        widget.run_finished.connect(print)  # "done", "cancelled", "error" or "busy"
        worker = widget(image=viewer.layers["cells"], method="kmeans", k=3)
        # once run_finished has said "done": widget.result_layer, a Labels layer
        # correct a few pixels of it with napari's brush, then
        worker = widget.refine(scribbles=widget.result_layer)

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers it segments (napari passes it).

    Attributes
    ----------
    run_finished : psygnal.Signal
        Emitted with one ``str`` exactly once for every Run or Refine asked
        for (button, :meth:`run`, :meth:`refine`, calling the widget):
        ``"done"`` (a result layer was written), ``"cancelled"``, ``"error"``
        (it failed, or was refused before starting: no image, an unusable
        input or method; a notification says why) or ``"busy"`` (refused
        because a run is in progress or starting; that run goes on and ends
        with its own ``run_finished``).
    result_layer : napari.layers.Labels or None
        The Labels layer the last finished run wrote (None once it is removed from the
        viewer).
    """

    run_finished = Signal(str)

    def __init__(self, napari_viewer):
        self._current = [None]  # the Run in progress (shared with the destroyed handler)
        self.result_layer = None
        self._records: dict = {}  # result layer's unique_id -> EditRecord: what the widget wrote
        self._followed: set = set()  # result layers' unique_ids whose undo the records follow
        tip = TIPS.get
        self.run_button = PushButton(name="run_button", text="Run", tooltip=tip("run"))
        self.refine_button = PushButton(
            name="refine_button", text="Refine", tooltip=tip("refine_run")
        )
        self.cancel_button = PushButton(
            name="cancel_button", text="Cancel", enabled=False, tooltip=tip("cancel")
        )
        self.progress_bar = ProgressBar(name="progress_bar", min=0, max=1, value=0)
        self.status = Label(name="status", value="ready", tooltip=tip("status"))
        self.status.native.setWordWrap(True)
        buttons = [self.run_button, self.refine_button, self.cancel_button]
        buttons = Container(name="buttons", layout="horizontal", labels=False, widgets=buttons)
        self.detail = DetailControl(self._records)  # the result's level of detail
        extra = [buttons, self.progress_bar, self.status, self.detail]
        super().__init__(napari_viewer, extra=extra)
        self._idle_bar("no run yet")
        self.model_panel = ModelPanel(  # Apply to, Save, Load model
            napari_viewer, into=self, apply=self.apply_model
        )

        self.run_button.changed.connect(self.run)
        self.refine_button.changed.connect(lambda *_: self._start(refine=True))
        self.cancel_button.changed.connect(self.cancel)
        alive, current = self._alive, self._current  # no reference to self in the handler
        self.native.destroyed.connect(lambda *_: (alive.__setitem__(0, False), stop(current[0])))
        self.native_parent_changed.connect(self._on_parent_changed)

        warm_up_once()
        self._load_defaults()
        self.reset_choices()
        self._layers.follow_selection()

    def reset_choices(self, *_) -> None:
        """Re-read the viewer's layers (see :meth:`ParamsForm.reset_choices`).

        Also the Model section's "Apply to" choices, and forgets what the widget wrote into
        result layers that were removed.

        Parameters
        ----------
        *_ : object
            Ignored (napari passes its event).
        """
        super().reset_choices()
        run = self._current[0]
        if run is not None:  # a Refine of a layer just removed stops now
            self._target_removed(run)
        panel = getattr(self, "model_panel", None)  # None while the form is being built
        if panel is not None:  # "Apply to" follows renames too, its layer kept by identity
            chosen = panel.target.value
            refill(panel.target)
            if chosen is not None and chosen in panel.target.choices:
                panel.target.value = chosen
        present = {str(lay.unique_id) for lay in self._viewer.layers}
        for key in [k for k in self._records if k not in present]:
            del self._records[key]  # a removed result layer: forget what was written there
        if self.result_layer is not None and str(self.result_layer.unique_id) not in present:
            self.result_layer = None  # removed: no result to point scripts to, or to slide
            self.detail.show_result(None, (), None)

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

        Parameters
        ----------
        image : napari.layers.Image, optional
            An Image layer of the viewer (default: the one chosen).
        **values : object
            Fields by name: ``method``, ``preset``, ``device``, ``seed``,
            ``clusters`` (or ``q`` / ``k``, whichever the method uses),
            ``current_slice_only``, ``channel_axis`` (an int, negative from
            the end, or None; an RGBA layer's last axis: its 4 entries as
            channels), ``scribbles`` (a Labels layer, for :meth:`refine`),
            ``update_previous``, ``live_preview``, ``threads``, or any
            :class:`~napari_mmtseg.Params` field the widget shows
            (``max_iter``, ``beta``, ``train_size``, ...). ``method`` and
            ``preset`` are set first, since they refill the parameter fields.

        Returns
        -------
        GeneratorWorker or None
            The started napari worker, or None when no run started (a
            notification says why, and ``run_finished`` says "error" or "busy").

        Raises
        ------
        TypeError
            For an unknown field.
        ValueError
            For a value a field does not offer.
        """
        self.set_fields(image, values)
        return self.run()

    def refine(self, scribbles=None, image=None, **values):
        """Set fields as calling the widget does, then start a Refine as the Refine button does.

        Parameters
        ----------
        scribbles : napari.layers.Labels, optional
            The Labels layer to learn from (default: the one chosen).
        image : napari.layers.Image, optional
            An Image layer of the viewer (default: the image ``scribbles`` was segmented
            from, when it is a result of the widget's and that image is still in the
            viewer; else the one chosen).
        **values : object
            Other fields by name, as for calling the widget.

        Returns
        -------
        GeneratorWorker or None
            The started worker, or None (a notification says why).
        """
        if scribbles is not None:
            values["scribbles"] = scribbles
            if image is None:  # the result's own image, not whichever was chosen last
                source = getattr(scribbles, "metadata", {}).get("source_layer_id")
                image = layer_by_id(self._viewer, source)
        self.set_fields(image, values)
        return self._start(refine=True)

    def run(self, *_):
        """Start a run on the chosen image with the controls' values (the Run button).

        Parameters
        ----------
        *_ : object
            Ignored (the button's value).

        Returns
        -------
        GeneratorWorker or None
            The started worker, or None (a notification says why).
        """
        return self._start(refine=False)

    def apply_model(self, layer=None, output=None):
        """Label an image layer with the kept model by inference alone, as a run does.

        What the Model section's "Apply to image" does: ``layer`` becomes the chosen
        image, and the run reads it as Run would (its channel axis, stack axis and
        pyramid level; a multichannel model with no channel axis chosen for the layer
        takes the one axis as long as the model has channels), in the worker thread
        with progress and Cancel. The result is a new Labels layer named
        ``"<image> <method> (model)"``, ready for corrections and Refine, which
        continues from the model.

        Parameters
        ----------
        layer : napari.layers.Image, optional
            The image (default: the one chosen under "image").
        output : str, optional
            ``"clusters"`` (one id per class, the same on every image the model labels) or
            ``"regions"`` (default: the Model section's choice).

        Returns
        -------
        GeneratorWorker or None
            The started worker, or None (a notification says why; ``run_finished``
            says "error" or "busy").
        """
        if self._run is not None or RUNNING:
            return self._refuse(_BUSY, "busy")
        panel = self.model_panel
        model = panel.model
        if model is None:
            return self._refuse("no model kept yet: run a learned method, or load a model.")
        try:  # the form shows what labels the layer: a Refine of it continues from the model
            shape = {"method": model.method, "clusters": model.params.q}
            applied = output or panel.output.value
            self.set_fields(layer, shape | {"n_conv": model.params.n_conv, "output": applied})
            self._output_set = False  # the layer's own mode, not a choice a Refine overrides
            if self.image.value is None:
                return self._refuse("no image chosen to apply the model to.")
            self._channels_for(model)
            job = self.job()
        except _ENGINE_ERRORS as exc:
            return self._refuse(str(exc))
        kwargs = dict(
            model=model,
            output=applied,
            device=self.device.value,
            num_threads=self._num_threads(),
            preview_every=10 if self.live_preview.value else 0,
            axes=self.stack_controls.axes(job),
        )
        run = self._current[0] = Run(
            job=job,
            method=model.method,
            update=False,
            channel_axis=self.channel_axis.value,
            model=model,
            model_file=panel.model_file,
        )
        return self._launch(run, make_worker(run, kwargs))

    def _channels_for(self, model) -> None:
        """A multichannel model applied to a layer with no channel axis chosen: choose the
        one axis as long as the model has channels (an RGB(A) layer's colour axis as plain
        channels; never Y, X or an axis labelled as depth or time), and say so."""
        layer = self.image.value
        if model.layout != "channels" or self.channel_axis.value is not None:
            return
        shape = (layer.data[0] if layer.multiscale else layer.data).shape
        if layer.rgb:
            fits = [len(shape) - 1] if shape[-1] == model.n_channels else []
        else:
            names = [str(a).lower() for a in getattr(layer, "axis_labels", ())] or [""] * len(shape)
            fits = [
                a
                for a, n in enumerate(shape[:-2])
                if n == model.n_channels and names[a] not in ("z", "t", "time", "depth")
            ]
        if len(fits) == 1 and fits[0] in self.channel_axis.choices:
            self.set_field("channel_axis", fits[0])
            show_info(
                f"MMT segmentation: axis {fits[0]} of {layer.name!r} taken as the model's "
                f"{model.n_channels} channels (change 'channel axis' if it is not)."
            )

    def _refuse(self, message: str, outcome: str = "error") -> None:
        """Start nothing: say why, and end this request with one ``run_finished``."""
        if outcome == "busy":
            show_info(message)
        else:
            show_error(f"MMT segmentation: {message}{advice(message)}")
        self.run_finished.emit(outcome)

    def _start(self, refine: bool):
        """Start a run (``refine``: with the scribbles) on the chosen image."""
        if self._run is not None or RUNNING:
            return self._refuse(_BUSY, "busy")
        reason = self.refusal(refine)
        if reason is not None:
            return self._refuse(reason)
        method, params = self.method.value, self.params()
        try:
            job = self.job()
            plan = None
            if refine:
                plan = plan_refine(
                    self._viewer,
                    job,
                    self.scribbles.value,
                    self._records,
                    method,
                    make_params(method, self.preset.value, **params),
                    self.channel_axis.value,
                    preferred=self.result_layer,
                )
        except _ENGINE_ERRORS as exc:
            return self._refuse(str(exc))
        kwargs = dict(
            method=method,
            preset=self.preset.value,
            seed=self.seed.value,
            device=self.device.value,
            num_threads=self._num_threads(),
            preview_every=10 if self.live_preview.value else 0,
            keep_model=method in LEARNED_METHODS,
            axes=self.stack_controls.axes(job),
            **params,
        )
        if plan is not None:
            kwargs.update(scribbles=plan.scribbles, init_model=plan.init_model)
            if not self._output_set:  # the engine's default with scribbles: one label per class
                del kwargs["output"]
        run = self._current[0] = Run(
            job=job,
            method=method,
            update=self.update_previous.value,
            plan=plan,
            channel_axis=self.channel_axis.value,
        )
        if run.update and plan is None:
            run.target, run.target_before = update_target(self._viewer, job, self.result_layer)
        return self._launch(run, make_worker(run, kwargs))

    def _launch(self, run: Run, worker):
        """Connect ``worker`` (of ``run``) to the widget, show that it starts, start it."""
        # napari's bar, indeterminate until the engine says the total; made before the
        # worker starts, since adding it processes pending Qt events
        run.pbar = progress(total=0, desc=f"MMT segmentation ({run.method})")
        # the result will show the output mode it is made with: from here a Refine keeps the
        # mode of the layer it corrects (after an undo too), unless one is chosen anew (also
        # while this runs); a run that writes nothing gives the choice back
        run.output_chosen, self._output_set = self._output_set, False
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_error)
        worker.warned.connect(self._on_warning)
        worker.finished.connect(self._on_finished)
        self.run_button.enabled = self.refine_button.enabled = False
        self.cancel_button.enabled = True
        self.detail.hold(True)  # a level written meanwhile would mix with the run's write
        self.progress_bar.native.setFormat("starting ...")
        self.progress_bar.min = self.progress_bar.max = self.progress_bar.value = 0  # busy
        self.status.value = starting_text(run)
        if run.plan is not None and run.plan.note:
            show_info(f"MMT segmentation: training from scratch: {run.plan.note}.")
        if self.live_preview.value:  # adding a layer costs ~0.1 s: do it before training
            run.preview = add_preview(self._viewer, run.job, run.method)
        start(worker)
        return worker

    def _on_parent_changed(self, parent) -> None:
        """Taken out of napari's window (the dock's close button: napari unparents the widget
        and keeps it alive, so it is not destroyed while a run holds it): a run is
        cancelled, as with Cancel, and the new panel the user opens can run."""
        if parent is None:
            self.cancel()

    def cancel(self, *_) -> None:
        """Stop the run at the next iteration; no result layer is added.

        Parameters
        ----------
        *_ : object
            Ignored (the button's value).
        """
        run = self._run
        if run is not None and run.worker is not None:
            run.cancelled = True
            self.status.value = "cancelling ..."
            run.worker.quit()

    def _idle_bar(self, text: str, full: bool = False) -> None:
        """Show ``text`` in the progress bar, which no run is moving (full or empty)."""
        bar = self.progress_bar
        bar.native.setFormat(text)
        bar.min, bar.max = 0, 1
        bar.value = 1 if full else 0

    def _on_yielded(self, ev) -> None:
        run = self._run
        if run is None or run.cancelled or not self._guard():
            return
        if isinstance(ev, SegmentationResult):
            if self._target_removed(run):
                return
            self._write(run, ev)
            run.outcome = "done"
            return
        if not isinstance(ev, Progress):
            return
        # napari's progress bar processes pending Qt events when it moves, so later
        # events (the result, the end of the run) may be handled inside its update:
        # everything else for this event is done first, and nothing after it
        run.iterations = ev.iteration
        if self.progress_bar.max != ev.total:
            self.progress_bar.native.setFormat("%v / %m iterations")
            self.progress_bar.max = ev.total
        if ev.preview is not None:
            show_preview(self._viewer, run.preview, run.job, ev)
        now = time.monotonic()
        if now - run.last_gui < 0.05 and ev.iteration < ev.total:
            return  # progress text at most 20 times a second
        run.last_gui = now
        self.progress_bar.value = ev.iteration
        self.status.value = progress_text(ev)
        if run.pbar is not None:
            if run.pbar.total != ev.total:
                run.pbar.total = ev.total
            run.pbar.update(ev.iteration - run.pbar.n)

    def _target_removed(self, run: Run) -> bool:
        """Whether the layer a Refine corrects was removed from the viewer since it started;
        if so, the Refine is cancelled (its labels would come back as a layer with none of
        the layer's undo history), and a notification says so."""
        target = None if run.plan is None else run.plan.target
        if target is None or target in self._viewer.layers:
            return False
        if self.result_layer is target:
            self.result_layer = None
        if not run.cancelled:
            show_info(
                f"MMT segmentation: {target.name!r} was removed while it was being refined: "
                "Refine cancelled, nothing added."
            )
            self.cancel()
        return True

    def _write(self, run: Run, result: SegmentationResult) -> None:
        """Put a run's result into the viewer (``_output.write_run``).

        After a Run, its layer becomes the chosen scribbles if the last result
        was (or none was), ready for corrections; a Refine leaves the
        scribbles where the user painted them.
        """
        layer = write_run(self._viewer, run, result, self._records)
        self.model_panel.keep(result.model)  # a learned run's networks (None: keep the last)
        chosen = self.scribbles.value
        if run.plan is None and (chosen is None or chosen is self.result_layer):
            if not any(layer is c for c in self.scribbles.choices):
                self.reset_choices()
            if any(layer is c for c in self.scribbles.choices):
                self.scribbles.value = layer  # ready for: correct a few pixels, press Refine
        self.result_layer = layer
        self.detail.show_result(layer, run.job.region, result)
        self._follow_undo(layer)

    def _follow_undo(self, layer) -> None:
        """After napari's undo or redo in result ``layer`` (its histories change length), let
        the widget's record follow it, which puts back the metadata of the write the layer
        returns to (an undone update of the result said the new run's method over the old
        run's labels). Connected once per layer."""
        if str(layer.unique_id) in self._followed:
            return
        self._followed.add(str(layer.unique_id))
        records, seen = self._records, [history_lengths(layer)]

        def on_data(_event=None):
            now = history_lengths(layer)
            if now != seen[0]:
                seen[0] = now
                record_of(records, layer)

        layer.events.set_data.connect(on_data)

    def _on_warning(self, args) -> None:
        """Show a UserWarning the engine gave in the worker thread, once per run."""
        text = warning_text(args, self._run)
        if text is not None:
            show_warning(f"MMT segmentation: {text}{advice(text)}")

    def _on_error(self, exc) -> None:
        if self._run is not None:
            self._run.outcome = "error"
        if isinstance(exc, _ENGINE_ERRORS):
            show_error(f"MMT segmentation: {exc}{advice(str(exc))}")
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
        self.detail.hold(False)
        if run.outcome != "done":  # nothing written: the choice stands for the next action
            self._output_set |= run.output_chosen
        if run.outcome == "done":
            trained = run.method in LEARNED_METHODS and run.model is None
            n = run.iterations if trained else 0  # training iterations
            self._idle_bar(f"done in {n} iteration{'s' * (n != 1)}" if n else "done", full=True)
        else:
            self._idle_bar(run.outcome)
        self.status.value = _OUTCOME_TEXT[run.outcome]
        self.run_finished.emit(run.outcome)
