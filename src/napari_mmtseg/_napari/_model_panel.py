"""The dock widget's "Model" section: keep the last run's model, apply, save or load it.

After a run with a learned method the widget hands its trained model here
(:meth:`ModelPanel.keep`). "Apply to" labels another image layer with it by inference
alone, as a run of the widget (``MMTSegWidget.apply_model``: the layer's channel and stack
axes, progress, Cancel, a result ready for Refine): with ``clusters`` ids a class has the
same id on every image the model labels. "Save model..." and "Load model..." write
and read the file format of :mod:`napari_mmtseg.model`, the one ``mmtseg train`` writes.
Each action is a method taking a path or layer, so scripts and tests skip the dialogs.
"""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import ComboBox, Container, Label, PushButton
from napari.layers import Image
from napari.utils.notifications import show_error, show_info

from .. import load_model
from ._form import real_viewer

__all__ = ["ModelPanel"]

_FILTER = "napari-mmtseg model (*.pt);;All files (*)"


class ModelPanel(Container):
    """The "Model" section: the kept model, and Apply to / Save model... / Load model...

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers the model is applied to.
    into : magicgui.widgets.Container, optional
        A container (the dock widget) the section is appended to.
    apply : callable, optional
        ``apply(layer, output)``: starts applying the kept model to an image layer (the
        dock widget's ``apply_model``); "Apply to image" calls it.

    Attributes
    ----------
    model : Model or None
        The kept model: the last learned run's, or the last file loaded.
    model_file : str or None
        The file the kept model was loaded from or saved to (None: not saved yet).
    """

    def __init__(self, napari_viewer, into=None, apply=None):
        self._viewer = napari_viewer = real_viewer(napari_viewer)
        self._apply = apply
        self.model = None
        self.model_file = None
        self.info = Label(name="model_info", value="Model: none yet (run a learned method)")
        self.info.native.setWordWrap(True)
        self.target = ComboBox(name="apply_target", label="Apply to", choices=self._images)
        self.output = ComboBox(
            name="apply_output", label="ids", choices=["clusters", "regions"], value="clusters"
        )
        self.apply_button = PushButton(name="apply_button", text="Apply to image")
        self.save_button = PushButton(name="save_model_button", text="Save model...")
        self.load_button = PushButton(name="load_model_button", text="Load model...")
        buttons = Container(
            layout="horizontal",
            labels=False,
            widgets=[self.apply_button, self.save_button, self.load_button],
        )
        super().__init__(
            name="model_section", widgets=[self.info, self.target, self.output, buttons]
        )
        self.apply_button.changed.connect(lambda *_: self.apply())
        self.save_button.changed.connect(lambda *_: self.save())
        self.load_button.changed.connect(lambda *_: self.load())
        napari_viewer.layers.events.inserted.connect(lambda *_: self.target.reset_choices())
        napari_viewer.layers.events.removed.connect(lambda *_: self.target.reset_choices())
        self._enable()
        if into is not None:
            into.append(self)

    def _images(self, *_) -> list:
        """The viewer's image layers, the choices of "Apply to"."""
        return [(lay.name, lay) for lay in self._viewer.layers if isinstance(lay, Image)]

    def _enable(self) -> None:
        """Apply and Save only with a model."""
        self.apply_button.enabled = self.save_button.enabled = self.model is not None

    def keep(self, model, file=None) -> None:
        """Keep a model (a learned run's, or one loaded); None keeps the one there.

        Parameters
        ----------
        model : Model or None
            The model to keep.
        file : str, optional
            The file it came from.
        """
        if model is None:
            return
        self.model, self.model_file = model, file
        where = f" from {Path(file).name}" if file else " (not saved)"
        how = " (trained with strokes)" if model.scribble_channels is not None else ""
        self.info.value = (
            f"Model: {model.method}{how}, {model.n_channels} channel(s), q={model.params.q}{where}"
        )
        self._enable()

    def apply(self, layer=None, output=None):
        """Start labelling an image layer with the kept model, by inference alone.

        Parameters
        ----------
        layer : napari.layers.Image, optional
            The image (default: the one chosen in "Apply to").
        output : str, optional
            ``"clusters"`` (one id per class, the same on every image) or ``"regions"``
            (default: the one chosen).

        Returns
        -------
        GeneratorWorker or None
            The started worker (the new Labels layer comes when it finishes), or None
            when nothing started (a notification says why).
        """
        layer = layer if layer is not None else self.target.value
        if self._apply is None or layer is None:
            show_error("MMT segmentation: no image chosen to apply the model to.")
            return None
        return self._apply(layer, output or self.output.value)  # it says why it cannot

    def save(self, path=None):
        """Write the kept model to a file.

        Parameters
        ----------
        path : str or os.PathLike, optional
            The file to write (default: ask with a save dialog).

        Returns
        -------
        pathlib.Path or None
            The file written, or None (no model, dialog cancelled, cannot write).
        """
        if self.model is None:
            show_error("MMT segmentation: no model to save yet: run a learned method first.")
            return None
        path = path or _ask(self.native, save=True)
        if not path:
            return None
        try:
            written = self.model.save(path)
        except OSError as exc:
            show_error(f"MMT segmentation: cannot write {path}: {exc}")
            return None
        self.keep(self.model, str(written))
        show_info(f"MMT segmentation: model saved to {written}")
        return written

    def load(self, path=None):
        """Read a model file (``mmtseg train``, Save model..., ``Model.save``) and keep it.

        Parameters
        ----------
        path : str or os.PathLike, optional
            The model file to read (default: ask with an open dialog).

        Returns
        -------
        Model or None
            The model, or None (dialog cancelled, not a model file: a notification says why).
        """
        path = path or _ask(self.native, save=False)
        if not path:
            return None
        try:
            model = load_model(path)
        except (ValueError, FileNotFoundError) as exc:
            show_error(f"MMT segmentation: {exc}")
            return None
        self.keep(model, str(path))
        return model


def _ask(parent, save: bool) -> str:
    """A file name from Qt's file dialog ('' when cancelled)."""
    from qtpy.QtWidgets import QFileDialog

    if save:
        return QFileDialog.getSaveFileName(parent, "Save model", "model.pt", _FILTER)[0]
    return QFileDialog.getOpenFileName(parent, "Load model", "", _FILTER)[0]
