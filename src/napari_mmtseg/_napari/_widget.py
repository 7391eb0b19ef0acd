"""The "MMT segmentation" dock widget.

The engine generator (:func:`napari_mmtseg.iter_segment`) runs in a napari
thread worker; each :class:`~napari_mmtseg.Progress` it yields reaches this
widget on the GUI thread (progress bar, status, throttled label preview) and
its last item, the :class:`~napari_mmtseg.SegmentationResult`, becomes a
Labels layer.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QThreadPool, Signal
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                            QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)
from superqt import QCollapsible

from .. import LEARNED_METHODS, METHODS, PRESETS, Progress, SegmentationResult, make_params
from ..device import describe_device, resolve_device
from ._job import make_job, place, preview_index, run_job, spatial_ndim, write_undoable
from ._tooltips import TIPS

__all__ = ["MMTSegWidget", "default_threads"]

# (Params field, type, min, max, decimals) of the "Advanced" section
_ADVANCED = [
    ("train_size", int, 0, 16384, 0), ("n_conv", int, 1, 10, 0), ("lr", float, 1e-4, 10.0, 4),
    ("momentum", float, 0.0, 0.999, 3), ("min_labels", int, 1, 10000, 0),
    ("alpha", float, 0.0, 0.9999, 4), ("soft_weight", float, 0.0, 1.0, 2),
    ("noise", float, 0.0, 1.0, 3), ("tol", float, 0.0, 1.0, 4), ("patience", int, 1, 100000, 0),
    ("tile", int, 64, 16384, 0), ("n_segments", int, 10, 1000000, 0),
    ("compactness", float, 0.01, 10000.0, 2), ("scale", float, 1.0, 100000.0, 1),
    ("sigma", float, 0.0, 10.0, 2), ("min_size", int, 1, 1000000, 0),
]
_ENGINE_ERRORS = (ValueError, TypeError, MemoryError)


_WARM = []  # set once the background warm-up has been started in this process
_RUNNING = set()  # widgets with a run in progress (torch's thread count is process-wide)


def _warm_up():
    """Import, off the GUI thread, what a first run would otherwise import
    lazily in its worker: torch's optimiser machinery (torch._dynamo, about a
    second of imports), scikit-image's resize and napari's Labels layer
    modules. Imports hold the GIL in long chunks, so in a run they stall the
    viewer for up to a few hundred ms. No torch computation here: two threads
    computing with torch while one changes its thread count can deadlock."""
    import skimage.transform  # noqa: F401  (training on a smaller copy)
    import torch

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    Labels(np.zeros((2, 2), np.int32))


def default_threads() -> int:
    """Torch threads on the CPU: all cores but one, which keeps the viewer fluid."""
    return max(1, (os.cpu_count() or 2) - 1)


def _spin(kind, lo, hi, decimals=0, tip=""):
    w = QSpinBox() if kind is int else QDoubleSpinBox()
    if kind is float:
        w.setDecimals(decimals)
        w.setSingleStep(10.0 ** -min(decimals, 2))
    w.setRange(lo, hi)
    w.setToolTip(tip)
    return w


class MMTSegWidget(QWidget):
    """Dock widget: unsupervised segmentation of an image layer."""

    #: emitted once a run is over, with "done", "cancelled" or "error"
    run_finished = Signal(str)

    def __init__(self, napari_viewer):
        super().__init__()
        self._viewer = napari_viewer
        self.worker = None
        self._state: dict = {}
        self._alive = [True]  # shared with the destroyed handler (no ref to self)
        self._last_result = None
        gpu = self._device_type("auto") != "cpu"

        form = QFormLayout()
        self.image = QComboBox()
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setCurrentText("paper" if gpu else "fast")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device_label = QLabel()
        self.device_label.setWordWrap(True)
        self.clusters = _spin(int, 1, 1000)
        self.max_iter = _spin(int, 1, 100000, tip=TIPS["max_iter"])
        self.beta = _spin(float, 0.0, 100.0, 2, TIPS["beta"])
        self.seed = _spin(int, 0, 2**31 - 1, tip=TIPS["seed"])
        self.stack = QComboBox()
        self.stack.addItems(["whole stack", "current slice only"])
        self.channel = QComboBox()
        self.update_prev = QCheckBox("update previous result (undoable)")
        self.preview = QCheckBox("live preview")
        self.preview.setChecked(True)
        self.clusters_label = QLabel("max clusters")
        for label, w, tip in [("image", self.image, "image"), ("method", self.method, "method"),
                              ("preset", self.preset, "preset"), ("device", self.device, "device"),
                              ("", self.device_label, "device"),
                              (self.clusters_label, self.clusters, "q"),
                              ("iterations", self.max_iter, "max_iter"),
                              ("TV weight", self.beta, "beta"), ("seed", self.seed, "seed"),
                              ("3D / time", self.stack, "stack"),
                              ("channel axis", self.channel, "channel_axis"),
                              ("", self.update_prev, "update"), ("", self.preview, "preview")]:
            w.setToolTip(TIPS[tip])
            form.addRow(label, w)

        self.advanced = QCollapsible("Advanced")
        self.advanced.setToolTip(TIPS["advanced"])
        adv = QWidget()
        adv_form = QFormLayout(adv)
        self.adv = {}
        for name, kind, lo, hi, dec in _ADVANCED:
            self.adv[name] = _spin(kind, lo, hi, dec, TIPS[name])
            adv_form.addRow(name, self.adv[name])
        self.threads = _spin(int, 0, os.cpu_count() or 1, tip=TIPS["threads"])
        adv_form.addRow("CPU threads", self.threads)
        self.advanced.addWidget(adv)

        self.run_btn = QPushButton("Run")
        self.cancel_btn = QPushButton("Cancel")
        self.run_btn.setToolTip(TIPS["run"])
        self.cancel_btn.setToolTip(TIPS["cancel"])
        self.cancel_btn.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_btn)
        buttons.addWidget(self.cancel_btn)
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m iterations")
        self.bar.setValue(0)
        self.status = QLabel("ready")
        self.status.setWordWrap(True)
        self.status.setToolTip(TIPS["status"])

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.advanced)
        lay.addLayout(buttons)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addStretch(1)

        self.method.currentTextChanged.connect(self._load_defaults)
        self.preset.currentTextChanged.connect(self._load_defaults)
        for w in (self.device, self.preset):
            w.currentTextChanged.connect(self._update_device_label)
        self.threads.valueChanged.connect(self._update_device_label)
        self.image.currentTextChanged.connect(self._update_axes)
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        ev = self._viewer.layers.events
        for e in (ev.inserted, ev.removed, ev.moved):
            e.connect(self._refresh_layers)
        self._viewer.layers.selection.events.active.connect(self._follow_selection)
        alive, holder = self._alive, self._state
        self.destroyed.connect(lambda *_: (alive.__setitem__(0, False), _stop(holder)))

        if not _WARM:  # a plain daemon thread: it must not take a Qt thread-pool slot
            _WARM.append(threading.Thread(target=_warm_up, name="mmtseg-warm-up", daemon=True))
            _WARM[0].start()
        self._load_defaults()
        self._refresh_layers()
        self._follow_selection()

    # ------------------------------------------------------------------ form state
    def _guard(self) -> bool:
        """False once the widget or the viewer's window is gone."""
        if not self._alive[0]:
            return False
        try:
            self.objectName()  # raises RuntimeError once the C++ widget is deleted
        except RuntimeError:
            return False
        return True

    @staticmethod
    def _device_type(choice):
        try:
            return resolve_device(choice).type
        except ValueError:
            return None

    def image_layer(self):
        name = self.image.currentText()
        return self._viewer.layers[name] if name in self._viewer.layers else None

    def _refresh_layers(self, event=None):
        if not self._guard():
            return
        current = self.image.currentText()
        names = [lay.name for lay in self._viewer.layers if isinstance(lay, Image)]
        self.image.blockSignals(True)
        self.image.clear()
        self.image.addItems(names)
        if current in names:
            self.image.setCurrentText(current)
        self.image.blockSignals(False)
        if event is not None and event.type == "inserted" and isinstance(event.value, Image):
            event.value.events.name.connect(self._refresh_layers)
        self._update_axes()

    def _follow_selection(self, event=None):
        if not self._guard():
            return
        active = self._viewer.layers.selection.active
        if isinstance(active, Image) and active.name != self.image.currentText():
            self.image.setCurrentText(active.name)

    def _update_axes(self, *_):
        layer = self.image_layer()
        self.channel.clear()
        if layer is None:
            return
        ndim = layer.data[0].ndim if layer.multiscale else layer.data.ndim
        if layer.rgb:
            self.channel.addItem("RGB (last axis)")
        else:
            self.channel.addItem("none")
            if ndim >= 3:
                self.channel.addItems([f"axis {i} (size {layer.data.shape[i]})" for i in range(ndim)])
        self.channel.setEnabled(self.channel.count() > 1)
        self.stack.setEnabled(spatial_ndim(layer, self._channel_axis()) > 2)

    def _channel_axis(self):
        text = self.channel.currentText()
        return int(text.split()[1]) if text.startswith("axis") else None

    def _load_defaults(self, *_):
        method = self.method.currentText()
        p = make_params(method, self.preset.currentText())
        self._defaults = p
        learned = method in LEARNED_METHODS
        self.clusters_label.setText("clusters (k)" if method == "kmeans" else "max clusters")
        self.clusters.setToolTip(TIPS["k" if method == "kmeans" else "q"])
        self.clusters.setValue(p.k if method == "kmeans" else p.q)
        self.clusters.setEnabled(method != "felzenszwalb")
        self.max_iter.setValue(p.max_iter)
        self.beta.setValue(p.beta)
        for w in (self.max_iter, self.beta):
            w.setEnabled(learned)
        for name, w in self.adv.items():
            v = getattr(p, name)
            w.setValue(0 if v is None else v)
        self._update_device_label()

    def _num_threads(self):
        if self._device_type(self.device.currentText()) != "cpu":
            return None
        return self.threads.value() or default_threads()

    def _update_device_label(self, *_):
        choice = self.device.currentText()
        dtype = self._device_type(choice)
        if dtype is None:
            text = f"device: {choice} is not available here"
        elif dtype == "cpu":
            n = self._num_threads()
            text = f"device: cpu ({n} thread{'s' * (n > 1)})"
        else:
            text = f"device: {describe_device(resolve_device(choice))}"
        self.device_label.setText(f"{text} — using '{self.preset.currentText()}' preset")

    def overrides(self) -> dict:
        """The Params fields as set in the form."""
        method = self.method.currentText()
        out = {name: w.value() for name, w in self.adv.items()}
        out["train_size"] = out["train_size"] or None
        out["q"], out["k"] = self._defaults.q, self._defaults.k
        out["k" if method == "kmeans" else "q"] = self.clusters.value()
        out["max_iter"] = self.max_iter.value()
        out["beta"] = self.beta.value()
        return out

    # ------------------------------------------------------------------ running
    def run(self):
        """Start a run on the chosen layer (what the Run button does)."""
        if self.worker is not None:
            return
        if _RUNNING:
            show_info("MMT segmentation: another run is in progress; wait for it or cancel it.")
            return
        layer = self.image_layer()
        if layer is None:
            show_info("MMT segmentation: add or select an image layer first.")
            return
        method = self.method.currentText()
        try:
            job = make_job(layer, self._viewer.dims.point, channel_axis=self._channel_axis(),
                           current_slice_only=self.stack.currentIndex() == 1)
        except _ENGINE_ERRORS as exc:
            show_error(f"MMT segmentation: {exc}")
            self.run_finished.emit("error")
            return
        kwargs = dict(method=method, preset=self.preset.currentText(), seed=self.seed.value(),
                      device=self.device.currentText(), num_threads=self._num_threads(),
                      preview_every=10 if self.preview.isChecked() else 0, **self.overrides())
        self._state.clear()
        self._state.update(job=job, method=method, update=self.update_prev.isChecked(),
                           outcome="cancelled", last_gui=0.0, preview=None, pbar=None)
        gen = self._state["gen"] = run_job(job, kwargs)
        worker = create_worker(_drive, gen, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._state["worker"] = self.worker = worker
        _RUNNING.add(id(self._state))
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.bar.setValue(0)
        where = (f" at pyramid level {job.level} ({job.out_shape[-2]}x{job.out_shape[-1]} per slice)"
                 if job.level else "")
        self.status.setText(f"starting {method} on {job.source_name}{where} ...")
        if self.preview.isChecked():  # adding a layer costs ~0.1 s: do it before training
            self._state["preview"] = self._viewer.add_labels(
                np.zeros(job.out_shape, np.int32), name=f"{job.source_name} {method} (preview)",
                opacity=0.5, **job.layer_kwargs)
        _start(worker)

    def cancel(self):
        """Stop the run at the next iteration; no result layer is added."""
        if self.worker is not None:
            self._state["cancel"] = True
            self.status.setText("cancelling ...")
            self.worker.quit()

    def _on_yielded(self, ev):
        st = self._state
        if not self._guard() or st.get("cancel"):
            return
        if isinstance(ev, SegmentationResult):
            self._add_result(ev)
            st["outcome"] = "done"
            return
        if not isinstance(ev, Progress):
            return
        if st["pbar"] is None:
            st["pbar"] = progress(total=ev.total, desc=f"MMT segmentation ({st['method']})")
            self.bar.setRange(0, ev.total)
        now = time.monotonic()
        if ev.preview is not None:
            self._show_preview(ev)
        if now - st["last_gui"] < 0.05 and ev.iteration < ev.total:
            return  # progress text at most 20 times a second
        st["last_gui"] = now
        st["pbar"].update(ev.iteration - st["pbar"].n)
        self.bar.setValue(ev.iteration)
        loss = f", loss {ev.losses['loss']:.3f}" if "loss" in ev.losses else ""
        sl = f"slice {ev.slice_index + 1}/{ev.n_slices}, " if ev.n_slices > 1 else ""
        self.status.setText(f"{ev.device}: {sl}iteration {ev.iteration}/{ev.total}, "
                            f"{ev.n_labels} labels{loss}")

    def _show_preview(self, ev):
        st, job = self._state, self._state["job"]
        layer = st["preview"]
        if layer is None or layer not in self._viewer.layers:
            return  # preview off, or the user removed the layer: leave it gone
        layer.data[preview_index(job, ev)] = ev.preview
        layer.refresh()

    def _add_result(self, result):
        st, job = self._state, self._state["job"]
        meta = {**result.metadata(), "source_layer": job.source_name}
        if job.partial:
            meta["slice"] = tuple(r for r in job.region if isinstance(r, int))
        if job.level:
            meta["pyramid_level"] = job.level
        target = self._previous_result(job) if st["update"] else None
        preview = st.get("preview")
        if target is None and preview is not None and preview in self._viewer.layers:
            # the preview layer becomes the result: no remove + add (each ~0.1-0.3 s)
            preview.data[job.region] = result.labels
            preview.name = f"{job.source_name} {st['method']}"
            preview.metadata = meta
            preview.opacity = 0.7
            preview.refresh()
            st["preview"] = None
            self._last_result = preview
            return
        self._remove_preview()
        if target is not None:
            try:
                write_undoable(target, job.region, result.labels)
                target.metadata = meta
                self._viewer.layers.selection.active = target
                return
            except ValueError as exc:
                show_info(f"MMT segmentation: added a new layer ({exc}).")
        self._last_result = self._viewer.add_labels(
            place(job, result.labels), name=f"{job.source_name} {st['method']}", metadata=meta,
            **job.layer_kwargs)

    def _previous_result(self, job):
        layers = [lay for lay in self._viewer.layers if isinstance(lay, Labels)]
        if self._last_result in layers:
            layers.append(self._last_result)  # preferred: searched first below
        for lay in reversed(layers):
            if (lay.metadata.get("source_layer") == job.source_name
                    and "napari_mmtseg_version" in lay.metadata
                    and tuple(lay.data.shape) == job.out_shape):
                return lay
        return None

    def _remove_preview(self):
        layer = self._state.get("preview")
        if layer is not None and layer in self._viewer.layers:
            self._viewer.layers.remove(layer)
        self._state["preview"] = None

    def _on_error(self, exc):
        self._state["outcome"] = "error"
        if isinstance(exc, _ENGINE_ERRORS):
            show_error(f"MMT segmentation: {exc}")
        else:
            show_error(f"MMT segmentation failed: {type(exc).__name__}: {exc}")

    def _on_finished(self):
        st = self._state
        _stop(st)  # closes the progress bar and the engine generator
        self.worker = None
        if not self._guard():
            return
        self._remove_preview()
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        outcome = st.get("outcome", "cancelled")
        self.bar.setValue(self.bar.maximum() if outcome == "done" else 0)  # done early: full
        self.status.setText({"done": "done", "cancelled": "cancelled, nothing added",
                             "error": "failed, nothing added (see the notification)"}[outcome])
        self.run_finished.emit(outcome)


def _start(worker) -> None:
    """Start ``worker`` in Qt's global thread pool, keeping a thread of the pool
    free: Qt's image scaling on the GUI thread (e.g. napari's activity
    spinner) splits work over that pool and waits for it, and a pool filled
    by long-running workers, which need the GIL that the waiting GUI thread
    holds, deadlocks."""
    pool = QThreadPool.globalInstance()
    if pool.activeThreadCount() + 2 > pool.maxThreadCount():
        pool.setMaxThreadCount(pool.activeThreadCount() + 2)
    worker.start()


def _drive(gen):
    yield from gen


def _stop(state: dict) -> None:
    """Stop a run and free its resources; safe to call more than once."""
    worker = state.pop("worker", None)
    if worker is not None:
        key = id(state)
        if worker.is_running:  # the widget is going away: stop at the next iteration
            worker.finished.connect(lambda: _RUNNING.discard(key))
            worker.quit()
        else:  # the thread is done: close the engine (restores torch's thread count)
            _RUNNING.discard(key)
            state["gen"].close()
    pbar = state.pop("pbar", None)
    if pbar is not None:
        pbar.close()
