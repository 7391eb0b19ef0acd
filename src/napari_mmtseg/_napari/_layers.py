"""The widget's controls that are derived from the viewer's layers: the image
chooser, the chosen image's channel axis, whether it is a stack (the
"3D / time" choice: an axis longer than 1 besides Y, X, as
:func:`napari_mmtseg.image.slice_layout` says) and the scribbles chooser
(the Labels layers of the shape of the chosen image's labels). They follow
the layer list and the chosen layer's data, and keep what the user chose
through renames, reorderings and new layers."""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np
from magicgui.widgets import ComboBox, create_widget
from napari.layers import Image, Labels

from ._job import has_stack, labels_shape
from ._tooltips import TIPS

__all__ = ["RGBA_AS_CHANNELS", "LayerControls", "advice", "axis_choices", "layer_by_id", "refill"]

#: the channel-axis choice that segments an RGBA layer's 4 entries as plain channels
RGBA_AS_CHANNELS = "4 channels (last axis, none dropped)"


def layer_by_id(viewer, unique_id):
    """The layer of ``viewer`` whose ``unique_id`` is ``unique_id`` (compared as text).

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.
    unique_id : object
        A layer's ``unique_id``, or its text (as stored in a result's metadata).

    Returns
    -------
    napari.layers.Layer or None
        The layer, or None when it is no longer in the viewer.
    """
    return next((lay for lay in viewer.layers if str(lay.unique_id) == str(unique_id)), None)


def axis_choices(layer) -> list:
    """(text, channel axis) pairs for image ``layer`` (or None): "none" and,
    for 3+ dims, each axis with its size. An RGB layer: "RGB (last axis)";
    with 4 entries there, "RGBA (last axis, alpha dropped)" or its last
    axis as 4 plain channels, the 4th kept (:data:`RGBA_AS_CHANNELS`)."""
    if layer is None:
        return [("none", None)]
    shape = (layer.data[0] if layer.multiscale else layer.data).shape
    if layer.rgb:
        if shape[-1] != 4:
            return [("RGB (last axis)", None)]
        return [("RGBA (last axis, alpha dropped)", None), (RGBA_AS_CHANNELS, len(shape) - 1)]
    axes = [(f"axis {i} (size {n})", i) for i, n in enumerate(shape)] if len(shape) >= 3 else []
    return [("none", None), *axes]


def advice(message: str) -> str:
    """How to follow an engine message's advice in the widget (to append to it), or "".

    The engine's warnings and errors name the Python and command-line options
    (``channel_axis=``, ``--channel-axis``); this names the widget's control.

    Parameters
    ----------
    message : str
        A warning's or an error's text.

    Returns
    -------
    str
        A sentence starting with a space, or "".
    """
    if "channel_axis=-1" in message and "RGBA" in message:  # keep the 4th channel
        return f" In this widget: channel axis '{RGBA_AS_CHANNELS}'."
    if "channel_axis=" in message:  # channels that do not fit, or a guessed channel axis
        return (
            " In this widget: choose the image's axis of channels under 'channel axis' "
            "('none' for a grey image, the RGB entry for a colour one)."
        )
    return ""


def refill(combo) -> None:
    """Re-evaluate ``combo``'s callable choices from scratch, in their order
    (magicgui alone keeps old items in place and matches the current one by text).

    Parameters
    ----------
    combo : magicgui.widgets.ComboBox
        A combo box with callable choices.
    """
    combo.choices = ()
    combo.reset_choices()


class LayerControls:
    """``image`` (a ``napari.layers.Image`` chooser), ``channel_axis``,
    ``current_slice_only`` and ``scribbles`` (a chooser of the Labels layers
    that have the shape of the image's labels, or none): magicgui controls,
    kept in step with ``viewer``.

    alive: returns False once the widget is gone (then events are ignored).
    The owner must call :meth:`reset_choices` on every change to the layer
    list (napari does so for a docked magicgui widget).
    """

    def __init__(self, viewer, alive: Callable[[], bool]):
        self._viewer = viewer
        self._alive = alive
        self._axes: dict = {}  # layer unique_id -> the channel axis chosen for that layer
        self._watched = None  # weakref to the layer whose data events we follow
        self.image = create_widget(
            annotation=Image, name="image", options={"tooltip": TIPS["image"]}
        )
        self.channel_axis = ComboBox(
            name="channel_axis",
            tooltip=TIPS["channel_axis"],
            choices=lambda _w: axis_choices(self.image.value),
        )
        self.current_slice_only = ComboBox(
            name="current_slice_only",
            label="3D / time",
            tooltip=TIPS["stack"],
            choices=[("whole stack", False), ("current slice only", True)],
        )
        self.scribbles = ComboBox(
            name="scribbles", tooltip=TIPS["scribbles"], choices=lambda _w: self.scribble_choices()
        )
        self.image.changed.connect(self._on_image)
        self.channel_axis.changed.connect(self._remember_axis)
        viewer.layers.selection.events.active.connect(self.follow_selection)

    def reset_choices(self) -> None:
        """Re-read the image layers and the chosen layer's axes. The chosen
        layer stays chosen (matched by identity, so also after a rename), and
        so does the channel axis chosen for it."""
        if not self._alive():
            return
        layer = self.image.value
        with self.image.changed.blocked():
            refill(self.image)
            if layer is not None and layer in self.image.choices:
                self.image.value = layer
        self._on_image()

    def scribble_choices(self) -> list:
        """("none", None) and (name, layer) for each Labels layer of the viewer
        whose shape is that of the chosen image's labels."""
        image = self.image.value
        shape = None if image is None else labels_shape(image, self.channel_axis.value)
        return [("none", None)] + [
            (lay.name, lay)
            for lay in self._viewer.layers
            if isinstance(lay, Labels) and shape is not None and tuple(lay.data.shape) == shape
        ]

    def set_channel_axis(self, value) -> None:
        """Choose channel axis ``value`` (an int, negative from the end, or None)
        of the chosen layer's data. ValueError if the layer offers no such choice."""
        layer = self.image.value
        if (
            isinstance(value, (int, np.integer))
            and not isinstance(value, bool)
            and value < 0
            and layer is not None
        ):
            value += (layer.data[0] if layer.multiscale else layer.data).ndim
        self.channel_axis.value = value

    def follow_selection(self, event=None) -> None:
        """Choose the image layer selected in the layer list."""
        active = self._viewer.layers.selection.active
        if not self._alive() or not isinstance(active, Image) or active is self.image.value:
            return
        if active not in self.image.choices:  # napari may not have told us about it yet
            self.reset_choices()
        if active in self.image.choices:
            self.image.value = active

    def _on_image(self, *_) -> None:
        """The chosen image changed: follow its data (shape, ndim) and re-read its axes."""
        if not self._alive():
            return
        layer = self.image.value
        old = self._watched() if self._watched is not None else None
        if old is not layer:
            if old is not None:
                old.events.data.disconnect(self._sync_axes)
            if layer is not None:
                layer.events.data.connect(self._sync_axes)
            self._watched = weakref.ref(layer) if layer is not None else None
        self._sync_axes()

    def _sync_axes(self, *_) -> None:
        if not self._alive():
            return
        layer = self.image.value
        keep = self._axes.get(layer.unique_id) if layer is not None else None
        with self.channel_axis.changed.blocked():
            refill(self.channel_axis)
            if keep in self.channel_axis.choices:
                self.channel_axis.value = keep
        self.channel_axis.enabled = len(self.channel_axis.choices) > 1
        self._update_stack()

    def _remember_axis(self, value) -> None:
        layer = self.image.value
        if layer is not None:
            self._axes[layer.unique_id] = value
        self._update_stack()

    def _update_stack(self) -> None:
        layer = self.image.value
        self.current_slice_only.enabled = layer is not None and has_stack(
            layer, self.channel_axis.value
        )
        self._sync_scribbles()

    def _sync_scribbles(self) -> None:
        """Re-read the Labels layers that fit the image; the chosen one stays
        chosen while it fits."""
        keep = self.scribbles.value
        with self.scribbles.changed.blocked():
            refill(self.scribbles)
            if any(keep is c for c in self.scribbles.choices):
                self.scribbles.value = keep
