"""The dock widget's form: its controls and the :class:`~napari_mmtseg.Params` they stand for.

:class:`ParamsForm` is a magicgui :class:`~magicgui.widgets.Container` that
holds the controls (the image and its axes from ``_layers``, the method,
preset, device, the parameter fields from the tables in ``_fields``, the
collapsed Advanced section) and turns them into the keyword arguments of
:func:`napari_mmtseg.iter_segment` and back. It starts nothing: the run
lifecycle (Run, Refine, Cancel, progress, results) is
:class:`~napari_mmtseg._napari._widget.MMTSegWidget`, its subclass.
"""

from __future__ import annotations

import os

from magicgui.widgets import CheckBox, ComboBox, Container, Label, SpinBox
from qtpy.QtCore import QTimer

from .. import LEARNED_METHODS, METHODS, PRESETS, make_params
from ..device import describe_device, resolve_device
from ..params import SCRIBBLE_METHODS, default_preset
from ._fields import ADVANCED, MAIN, clusters_param, from_param, make_widget, to_param
from ._job import Job, make_job
from ._layers import LayerControls
from ._stack import StackControls
from ._tooltips import TIPS
from ._worker import default_threads

__all__ = ["DEVICES", "ParamsForm", "device_type", "real_viewer"]

DEVICES = ("auto", "cpu", "cuda", "mps")
#: the controls :meth:`ParamsForm.set_field` sets by name besides the Params fields
_CONTROLS = tuple(
    "method preset device clusters seed current_slice_only channel_axis update_previous "
    "live_preview threads stack stack_axis".split()
)


def device_type(choice) -> str | None:
    """The torch device type ("cpu", "cuda", "mps") of device ``choice``; None if unavailable."""
    try:
        return resolve_device(choice).type
    except ValueError:
        return None


def real_viewer(viewer):
    """The napari viewer behind ``viewer``.

    napari hands a widget it opens from the Plugins or Layers menu a
    ``PublicOnlyProxy`` of the viewer, whose layers are new proxy objects at
    each access: a layer read from it is never ``is`` the same layer read
    again, nor the layer a script holds. The widget compares layers by
    identity (the chosen image, the scribbles, the last result), so it works
    with the viewer itself, as a widget made by a script does.
    """
    return getattr(viewer, "__wrapped__", viewer)


class ParamsForm(Container):
    """The widget's controls, filled from the method and preset, read back as Params.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers the image and scribbles choosers offer (a
        proxy of it, as napari's menus pass, is unwrapped).
    extra : list
        magicgui widgets placed under the form (the run buttons, progress, status).
    """

    def __init__(self, napari_viewer, extra: list):
        self._viewer = real_viewer(napari_viewer)
        self._alive = [True]
        self._defaults = None
        self._output_set = False  # whether the user chose the output since the preset filled it
        tip = TIPS.get

        self._layers = LayerControls(self._viewer, self._guard)
        self.image = self._layers.image
        self.channel_axis = self._layers.channel_axis
        self.current_slice_only = self._layers.current_slice_only
        self.scribbles = self._layers.scribbles
        self.stack_controls = StackControls()  # one model / each slice; Z or T (run's axes)
        self.stack, self.stack_axis = self.stack_controls.widgets
        self.method = ComboBox(name="method", choices=METHODS, value="mmt", tooltip=tip("method"))
        preset = default_preset(device_type("auto") or "cpu")
        self.preset = ComboBox(
            name="preset", choices=tuple(PRESETS), value=preset, tooltip=tip("preset")
        )
        self.device = ComboBox(name="device", choices=DEVICES, tooltip=tip("device"))
        self.device_info = Label(name="device_info", label=" ", tooltip=tip("device"))
        self.device_info.native.setWordWrap(True)
        self.clusters = SpinBox(name="clusters", label="max clusters", min=1, max=1000)
        self._main = [(f, make_widget(f)) for f in MAIN]
        self.seed = SpinBox(name="seed", max=2**31 - 1, tooltip=tip("seed"))
        self.update_previous = CheckBox(
            name="update_previous", tooltip=tip("update"), text="update previous result (undoable)"
        )
        self.live_preview = CheckBox(
            name="live_preview", text="live preview", value=True, tooltip=tip("preview")
        )
        self._form = form = Container(
            name="form",
            widgets=[
                self.image,
                self.method,
                self.preset,
                self.device,
                self.device_info,
                self.clusters,
                *(w for _, w in self._main),
                self.seed,
                self.current_slice_only,
                *self.stack_controls.widgets,
                self.channel_axis,
                self.scribbles,
                self.update_previous,
                self.live_preview,
            ],
        )
        # the Advanced controls are made on first need (_ensure_advanced): they are
        # 40% of the controls, and opening the widget must not stall the viewer
        self._advanced: list = []
        self._threads = None
        self.show_advanced = CheckBox(
            name="show_advanced", text="Advanced", tooltip=tip("advanced")
        )
        self.advanced = Container(name="advanced", visible=False)
        super().__init__(labels=False, widgets=[form, self.show_advanced, self.advanced, *extra])

        self.method.changed.connect(self._load_defaults)
        self.preset.changed.connect(self._load_defaults)
        for w in (self.device, self.preset):
            w.changed.connect(self._update_device_info)
        self.show_advanced.changed.connect(self._show_advanced)
        output = next(w for f, w in self._main if f.name == "output")
        output.changed.connect(lambda *_: setattr(self, "_output_set", True))
        # once docked, napari's style sheet applies: align when the dock is in the window
        self.native_parent_changed.connect(lambda *_: QTimer.singleShot(0, self._align_labels))

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
        """Re-read what the controls take from the viewer.

        Its image layers and the chosen layer's axes: the chosen layer stays
        chosen (matched by identity, so also after a rename), and so does the
        channel axis chosen for it. napari calls this on every insertion,
        removal, reordering and renaming in the layer list of the viewer the
        widget is docked in.

        Parameters
        ----------
        *_ : object
            Ignored (napari passes its event).
        """
        self._layers.reset_choices()

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
        self._threads = SpinBox(
            name="threads",
            label="CPU threads (0: auto)",
            max=os.cpu_count() or 1,
            tooltip=TIPS["threads"],
        )
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
        """Give each section's labels the width of its widest label as drawn (magicgui
        measures them in a smaller font than napari's style sheet sets; skipped if a
        magicgui version lacks its row helpers)."""
        if not self._guard():
            return
        for box in (self._form, self.advanced):
            rows = [
                r
                for r in (getattr(w, "_labeled_widget", lambda: None)() for w in box)
                if r is not None and hasattr(r, "_label_widget")
            ]
            if not rows:
                continue
            for r in rows:
                r._label_widget.native.ensurePolished()
            width = max(r._label_widget.native.sizeHint().width() for r in rows)
            for r in rows:
                r.label_width = width

    def params(self) -> dict:
        """The Params fields as the controls set them.

        Returns
        -------
        dict
            Keyword arguments of :func:`~napari_mmtseg.iter_segment`; Advanced
            fields not made yet are at the preset's values (the engine's own).
        """
        out = {f.name: to_param(f, w.value) for f, w in self._main + self._advanced}
        key = clusters_param(self.method.value)
        if key is not None:
            out[key] = self.clusters.value
        out["stack"] = self.stack.value
        return out

    def refusal(self, refine: bool) -> str | None:
        """Why a Run (or Refine) cannot start with the controls as they are.

        Parameters
        ----------
        refine : bool
            Whether it is a Refine (learning from scribbles).

        Returns
        -------
        str or None
            The reason, for the user; None if nothing here stops it.
        """
        if self.image.value is None:
            return "add or select an image layer first."
        method = self.method.value
        if not refine and method in SCRIBBLE_METHODS:
            return (
                f"'{method}' learns from scribbles only, so Run has nothing to learn from: paint "
                "a few pixels of each class (one label per class) into a Labels layer, choose it "
                "under 'scribbles' and press Refine."
            )
        if refine and method not in LEARNED_METHODS + SCRIBBLE_METHODS:
            return (
                f"'{method}' does not learn, so it cannot take scribbles: Refine "
                f"needs {', '.join(LEARNED_METHODS + SCRIBBLE_METHODS)}."
            )
        return None

    def job(self) -> Job:
        """What a run with the controls as they are segments (``_job.make_job``).

        Returns
        -------
        Job
            The chosen image layer, its channel axis, and the viewer's current
            slice if only that is to be segmented.

        Raises
        ------
        ValueError
            For a channel axis the data lacks, or data with no 2D slice of at
            least 2x2 pixels.
        """
        return make_job(
            self.image.value,
            self._viewer.dims.point,
            channel_axis=self.channel_axis.value,
            current_slice_only=self.current_slice_only.value,
        )

    def _num_threads(self) -> int | None:
        if device_type(self.device.value) != "cpu":
            return None
        return (self._threads.value if self._threads is not None else 0) or default_threads()

    def _update_device_info(self, *_) -> None:
        choice = self.device.value
        kind = device_type(choice)
        if kind is None:
            text = f"device: {choice} is not available here"
        elif kind == "cpu":
            n = self._num_threads()
            text = f"device: cpu ({n} thread{'s' * (n > 1)})"
        else:
            text = f"device: {describe_device(resolve_device(choice))}"
        self.device_info.value = f"{text} — using '{self.preset.value}' preset"

    def _set_layer(self, name: str, value) -> None:
        """Choose ``value`` in the image or scribbles chooser (ValueError if not offered)."""
        combo = self.image if name == "image" else self.scribbles
        if not any(value is c for c in combo.choices):
            self.reset_choices()
        if name == "scribbles" and not any(value is c for c in combo.choices):
            raise ValueError(
                f"{getattr(value, 'name', value)!r} is not a Labels layer of the viewer "
                "with the shape of the chosen image's labels"
            )
        combo.value = value  # ValueError if it is not an image layer of the viewer

    def set_field(self, name: str, value) -> None:
        """Set the control of field ``name`` (see :meth:`set_fields`).

        Parameters
        ----------
        name : str
            A control (``image``, ``method``, ``clusters``, ``q`` / ``k``, ...)
            or a Params field the widget shows.
        value : object
            Its value, as a Params field takes it (None / "auto" where 0 stands for it).

        Raises
        ------
        TypeError
            If there is no such field.
        ValueError
            If the field does not offer ``value``.
        """
        if name in ("image", "scribbles"):
            return self._set_layer(name, value)
        if name in ("q", "k"):
            if clusters_param(self.method.value) != name:
                raise ValueError(f"{name} is not used by method {self.method.value!r}")
            name = "clusters"
        if name == "channel_axis":
            return self._layers.set_channel_axis(value)
        if name == "threads" or name in {f.name for f in ADVANCED}:
            self._ensure_advanced()
        for f, w in self._main + self._advanced:
            if f.name == name:
                w.value = from_param(f, value)
                self._output_set |= name == "output"  # chosen, even if it was the value shown
                return
        if name not in _CONTROLS:
            raise TypeError(f"MMTSegWidget has no field {name!r}")
        getattr(self, name).value = value

    def set_fields(self, image, values: dict) -> None:
        """Set ``image`` (unless None), then the fields ``values`` by name.

        ``method`` and ``preset`` first, since they refill the parameter
        fields, and ``scribbles`` last, since the layers it offers depend on
        the image's axes.

        Parameters
        ----------
        image : napari.layers.Image or None
            The image layer to segment (None: leave the choice).
        values : dict
            Field name -> value, as :meth:`set_field` takes them.
        """
        if image is not None:
            self.set_field("image", image)
        first = ("method", "preset")

        def order(n):
            return first.index(n) if n in first else 2 + (n == "scribbles")

        for name in sorted(values, key=order):
            self.set_field(name, values[name])
