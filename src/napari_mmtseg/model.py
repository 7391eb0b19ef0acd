"""The trained model as an object: kept, saved, loaded and applied by inference alone.

A :class:`Model` holds what a learned run trained: the method, its :class:`Params`, the
networks' weights, the channel count and layout of the images it was trained on and how
their intensities were normalised. ``segment(..., keep_model=True)`` returns one in
``result.model``; ``segment(image, model=m)`` labels an image with it, without training;
``segment(..., init_model=m)`` continues training from it (a refinement).

File format (``Model.save`` / :func:`load_model`), version 1: one file written by
:func:`torch.save` holding a dict of plain types and tensors only, so that it loads with
``torch.load(path, weights_only=True)`` (no pickled code runs):

- ``"format"``: the string ``"napari-mmtseg-model"``;
- ``"format_version"``: the int 1;
- ``"metadata"``: a JSON-able dict: ``method``, ``params`` (every field of :class:`Params`),
  ``n_channels``, ``layout`` (``"grey"``, ``"rgb"`` or ``"channels"``), ``dtype`` (of the
  training image), ``normalisation``, ``fused`` (MMT's students in one grouped network),
  ``step``, ``version`` (of napari-mmtseg), ``channel_ids`` (the output id of each
  network channel, or None for channel + 1), ``class_channels`` (the channels a pixel may
  take when the model is applied, or None for any), ``scribble_channels`` (those of the
  scribble classes, or None), ``training`` (how a batch trained it, or None),
  ``teacher_map`` and ``intensity_range`` (``[lo, hi]``, the training data's intensities
  mapped to 0 and 1, one float per channel each, or None); other keys are ignored on loading;
- ``"weights"``: ``{"net": state_dict}`` plus ``"teacher"`` for MMT, each a dict of name ->
  tensor (CPU, float32);
- ``"generator"``: the uint8 state of the input-noise generator, or None;
- ``"frozen_bn"`` (optional): the BatchNorm statistics it labels with, ``{"net": ...}``
  plus ``"teacher"`` for MMT, each a dict of name -> tensor (see :attr:`Model.frozen_bn`);
  a file without it labels each image with that image's own statistics.

No Qt, no napari.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from . import storage
from .nets import inference_network, make_models
from .params import LEARNED_METHODS, Params

__all__ = ["FORMAT", "FORMAT_VERSION", "Model", "is_model_file", "load_model", "NORMALISATION"]

FORMAT = "napari-mmtseg-model"
#: the first bytes of every file torch.save writes (a zip archive)
ZIP_MAGIC = b"PK\x03\x04"
FORMAT_VERSION = 1
#: how an image's intensities reach the networks, whatever image a model is applied to
NORMALISATION = (
    "an image of the training data's dtype with the training data's intensity range "
    "(intensity_range), so an intensity means the same on every image; another dtype (or a "
    "model that keeps no range) per image, from the data alone: intensity images (grey, "
    "multichannel) stretched between each channel's 0.5th and 99.5th percentiles; colour (RGB) "
    "images from their minimum to their maximum over the three channels, a tail beyond the "
    "0.5th or 99.5th percentile longer than half the range between them cut; clipped to "
    "[0, 1]; BatchNorm then uses the statistics of the model's training data (frozen_bn), or, "
    "in a model that keeps none, the image's own"
)


@dataclass
class Model:
    """A trained model of a learned method.

    Attributes
    ----------
    method : str
        ``"mmt"``, ``"kim2020"`` or ``"kanezaki2018"``.
    params : Params
        The parameters it was trained with (``q``, ``n_conv`` and ``padding`` define the
        networks; the output-stage fields are the defaults when it is applied).
    weights : dict of str to dict of str to torch.Tensor
        ``"net"``: the trained network's ``state_dict`` (MMT: the two students); ``"teacher"``
        (MMT): the two teachers'. CPU tensors.
    n_channels : int
        Channels of the images it was trained on (1 grey, 3 RGB, C multichannel); an
        image it is applied to must have as many.
    layout : str
        ``"grey"``, ``"rgb"`` or ``"channels"``.
    dtype : str
        The training image's dtype.
    normalisation : str
        How intensities are normalised (:data:`NORMALISATION`): an image of the training
        data's ``dtype`` with :attr:`intensity_range`; another dtype per image, so a model
        trained on a uint8 image and applied to a uint16 one sees both in [0, 1].
    fused : bool
        MMT's students as one grouped network (the weights' layout).
    step : int
        Optimiser steps it was trained for.
    generator : torch.Tensor or None
        uint8 state of the input-noise generator, for a warm start.
    version : str
        napari-mmtseg version that trained it.
    channel_ids : list of int or None
        Output id of each network channel when the model is applied with
        ``output="clusters"``: a model trained with scribbles gives the scribble ids on
        their classes' channels (fresh ids above the largest on the others); a clusters
        run's model gives the run's class ids, every channel of one class (with
        ``n_classes`` set: the class most of its pixels were given) that class's id;
        None: channel c has id c + 1.
    class_channels : list of int or None
        The network channels that are classes of the labels the model was kept from (a
        clusters run that numbers its classes: one image, or a stack's one model): applied,
        the model labels each pixel with the most likely of them (with clusters output: each
        pixel the output stage leaves in another channel; the stage sees every channel, as
        in the run, which so gets its own labels back), so every image gets those
        classes and their ids, never a channel the training result did not use (which would
        be a class of its own with a new id). None: any channel.
    scribble_channels : list of int or None
        The network channel of each scribble class of a model trained with scribbles: their
        regions never merge with each other when it is applied (as in training).
    training : dict or None
        How ``mmtseg train`` or ``mmtseg segment --train-on`` trained it
        (:func:`~napari_mmtseg.batch.train.train_model`): ``seed``, ``preset``,
        ``channel_axis`` (as given), ``files`` (those trained on) and ``skipped`` (those
        ``--train-on``'s sample skipped; absent in older files), as absolute paths (URLs
        as given); None for a model kept by a run.
    frozen_bn : dict or None
        The BatchNorm statistics (``running_mean``, ``running_var``) of each network
        (``"net"``, and ``"teacher"`` for MMT: a dict of name -> tensor each) on its
        training data: the training image's training view, or a sample of a stack's slices
        (:func:`~napari_mmtseg.infer.frozen_statistics`). Applied,
        the model labels every image with them, so a class keeps its id on a field with many
        more (or fewer) objects than it was trained on; with the image's own statistics the
        classes moved with the content (a model trained on a field of 2 nuclei labelled a
        field of 40 all background). None (a model trained slice by slice, or a file from
        before): each image's own.
    teacher_map : list of int or None
        With ``frozen_bn``, for MMT's two-teacher vote (``final_net="teachers"``): teacher
        0's channel for each of teacher 1's, on the training data.
    intensity_range : list or None
        ``[lo, hi]``, each a list of ``n_channels`` floats: the intensities of the training
        data (the image, or the whole stack or sample of files) mapped to 0 and 1, in its
        units. Applied (or refined) on an image of the same ``dtype``, the model normalises
        with them, not with the image's own range, so an intensity means the same on every
        image: a field with no nucleus stays background instead of being stretched until its
        brightest background looks like nuclei. None (older files): each image's own.
    """

    method: str
    params: Params
    weights: dict = field(repr=False)  # tensors: a repr of every value is pages long
    n_channels: int
    layout: str = "grey"
    dtype: str = "uint8"
    normalisation: str = NORMALISATION
    fused: bool = False
    step: int = 0
    generator: torch.Tensor | None = field(default=None, repr=False)
    version: str = ""
    channel_ids: list | None = None
    class_channels: list | None = None
    scribble_channels: list | None = None
    training: dict | None = None
    frozen_bn: dict | None = field(default=None, repr=False)
    teacher_map: list | None = None
    intensity_range: list | None = None

    def __post_init__(self):
        self._check_range()
        q = self.params.q
        for name in ("class_channels", "scribble_channels"):
            chans = getattr(self, name)
            if chans is None:
                continue
            ok = [isinstance(c, int | np.integer) and not isinstance(c, bool) for c in chans]
            empty = name == "class_channels" and not chans  # no class: nothing to label
            if empty or not all(ok) or not all(0 <= c < q for c in chans):
                raise ValueError(
                    f"{name} must list the networks' channels, 0 to {q - 1}"
                    f"{' (at least one)' if name == 'class_channels' else ''}; got {chans!r}"
                )

    def _check_range(self) -> None:
        """Refuse an :attr:`intensity_range` that is not two lists of ``n_channels`` floats."""
        r = self.intensity_range
        if r is None:
            return
        try:
            lo, hi = (np.asarray(v, dtype=np.float64) for v in r)
            ok = lo.shape == hi.shape == (self.n_channels,)
            ok = ok and bool(np.isfinite(lo).all() and np.isfinite(hi).all() and (hi >= lo).all())
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"intensity_range must be [lo, hi], each {self.n_channels} finite floats "
                f"with lo <= hi; got {r!r}"
            )

    def provenance(self, range_used: bool) -> dict:
        """What a result labelled by this model records of it (its ``output["model"]``).

        Parameters
        ----------
        range_used : bool
            Whether the image was normalised with :attr:`intensity_range`.

        Returns
        -------
        dict
            JSON-able: ``method``, ``step``, ``version``, ``dtype``, ``training`` (how
            ``mmtseg train`` or ``--train-on`` trained it: seed, preset, channel axis and
            ``n_files``, the number of files, which the model file lists; None for a model
            kept by a run) and ``normalised_with`` (``"the model's intensity range"`` or
            ``"the image's own range"``).
        """
        training = None
        if self.training is not None:  # the files are the model file's: a count here
            listed = ("files", "skipped")
            training = {k: v for k, v in self.training.items() if k not in listed}
            training["n_files"] = len(self.training.get("files") or ())
        return {
            "method": self.method,
            "step": self.step,
            "version": self.version,
            "dtype": self.dtype,
            "training": training,
            "normalised_with": (
                "the model's intensity range" if range_used else "the image's own range"
            ),
        }

    def normalise(self, prep) -> bool:
        """Let ``prep`` normalise with :attr:`intensity_range` when it has the model's dtype.

        Parameters
        ----------
        prep : PreparedImage
            The image the model labels or is refined on.

        Returns
        -------
        bool
            Whether the model's range is used (else the image's own).

        Warns
        -----
        UserWarning
            When the image's own intensities lie mostly outside the model's range (another
            exposure, or another scale of the same dtype): most of its pixels then clip to
            the darkest or brightest intensity the model knows. Checked on images in memory
            only (nothing of a lazy image is read before the run's memory check). And when
            the model has a range but the image another dtype: it is normalised on its own
            range, which stretches an image without what the model learned (an empty field's
            noise) over the whole scale.
        """
        if self.intensity_range is None:
            return False
        if not _same_type(prep.source.dtype, self.dtype):
            warnings.warn(
                f"This image is {np.dtype(prep.source.dtype).name}, the model's training data "
                f"{np.dtype(self.dtype).name}: it is normalised with its own range (as an image "
                "without a model is), not the model's, so an image without "
                "what the model learned (a field with no nuclei, say) can come out as one of "
                "its classes. To use the model's range, give it in the training data's dtype "
                f"and units ({np.dtype(self.dtype).name}).",
                UserWarning,
                stacklevel=5,
            )
            return False
        lo, hi = (np.asarray(v, np.float64) for v in self.intensity_range)
        if prep.in_memory:  # a lazy image is read only after the run's memory check
            self._warn_if_outside(prep, lo, hi)
        prep.use_intensity_range(lo, hi)
        return True

    @staticmethod
    def _warn_if_outside(prep, lo: np.ndarray, hi: np.ndarray) -> None:
        """Warn when the image's own range lies mostly outside ``lo`` to ``hi``."""
        own_lo, own_hi = prep.intensity_range()
        span = own_hi - own_lo
        inside = np.clip(np.minimum(own_hi, hi) - np.maximum(own_lo, lo), 0, None)
        outside = (span > 0) & (inside < span / 4)
        if outside.any():
            c = int(np.flatnonzero(outside)[0])
            warnings.warn(
                f"This image's intensities ({own_lo[c]:g} to {own_hi[c]:g}) lie mostly outside "
                f"those of the model's training data ({lo[c]:g} to {hi[c]:g}); they are "
                "normalised with the model's range, so most pixels clip. If the images differ "
                "in exposure or scale, train a model on images like this one.",
                UserWarning,
                stacklevel=5,
            )

    @classmethod
    def from_state(
        cls,
        method: str,
        p: Params,
        prep,
        state,
        version: str = "",
        channel_ids: list | None = None,
        class_channels: list | None = None,
        frozen: tuple | None = None,
    ):
        """Keep a run's trained networks (copied to the CPU).

        The channels of the scribble classes (``state.scribble_channels``) are kept too.

        Parameters
        ----------
        method : str
            The learned method that trained ``state``.
        p : Params
            The run's parameters.
        prep : PreparedImage
            The training image (channel count, layout and dtype).
        state : TrainState
            The run's training state at its end.
        version : str, optional
            napari-mmtseg's version.
        channel_ids : list of int, optional
            Output id of each network channel (see :attr:`channel_ids`).
        class_channels : list of int, optional
            The channels a pixel may take when the model is applied (see
            :attr:`class_channels`).
        frozen : tuple, optional
            ``(frozen_bn, teacher_map)``: what the run labelled with
            (:func:`~napari_mmtseg.infer.frozen_statistics`); None: none kept.

        Returns
        -------
        Model
            The kept model.
        """
        weights = {"net": _cpu_state(state.net)}
        if state.teacher is not None:
            weights["teacher"] = _cpu_state(state.teacher)
        layout = "rgb" if prep.rgb else ("grey" if prep.n_channels == 1 else "channels")
        return cls(
            method=method,
            params=p,
            weights=weights,
            n_channels=int(prep.n_channels),
            layout=layout,
            dtype=str(np.dtype(prep.source.dtype)),
            fused=not hasattr(state.net, "nets"),
            step=int(state.step),
            generator=None if state.gen is None else state.gen.get_state().clone(),
            version=version,
            channel_ids=_ints(channel_ids),
            class_channels=_ints(class_channels),
            scribble_channels=_ints(state.scribble_channels),
            frozen_bn=None if frozen is None else frozen[0],
            teacher_map=None if frozen is None else _ints(frozen[1]),
            intensity_range=[v.tolist() for v in prep.intensity_range()],
        )

    def networks(self, device: torch.device) -> tuple:
        """Rebuild the networks with the kept weights.

        Parameters
        ----------
        device : torch.device
            Where they go.

        Returns
        -------
        net : torch.nn.Module
            The trained network (MMT: the students), in train mode.
        teacher : torch.nn.Module or None
            MMT's teachers (no gradients), else None.
        """
        p = self.params
        n_models = 2 if self.method == "mmt" else 1
        with torch.random.fork_rng(devices=[]):  # building draws random weights: not the run's
            nets = [
                make_models(self.n_channels, p.q, p.n_conv, n_models, self.fused, p.padding)
                for _ in self.weights
            ]
        for net, key in zip(nets, self.weights):
            net.load_state_dict(self.weights[key])
            net.to(device)
        teacher = nets[1] if len(nets) > 1 else None
        if teacher is not None:
            for prm in teacher.parameters():
                prm.requires_grad_(False)
        return nets[0], teacher

    def frozen_networks(self, device: torch.device, final_net: str | None = None) -> tuple:
        """The network that labels with this model, frozen to :attr:`frozen_bn`.

        Parameters
        ----------
        device : torch.device
            Where it runs.
        final_net : str, optional
            MMT's labelling networks (``Params.final_net``); None: the model's.

        Returns
        -------
        net : torch.nn.Module
            The final network (MMT: the teachers, or student 0 with ``final_net="student"``)
            for inference (:func:`~napari_mmtseg.nets.inference_network`).
        other : numpy.ndarray of int64 or None
            :attr:`teacher_map` (the two-teacher vote), else None.

        Raises
        ------
        ValueError
            When the model keeps no statistics (:attr:`frozen_bn` is None).
        """
        if self.frozen_bn is None:
            raise ValueError("this model keeps no BatchNorm statistics (frozen_bn is None)")
        final_net = final_net or self.params.final_net
        net, teacher = self.networks(device)
        key = "teacher" if self.method == "mmt" and final_net != "student" else "net"
        final = teacher if key == "teacher" else net
        final.load_state_dict(self.frozen_bn[key], strict=False)  # the statistics only
        final.eval()
        other = None
        if self.method == "mmt" and final_net == "teachers" and self.teacher_map is not None:
            other = np.asarray(self.teacher_map, np.int64)
        return inference_network(final), other

    def class_ids(self, channels: np.ndarray) -> np.ndarray:
        """Output ids of network channels, the same on every image the model labels.

        Parameters
        ----------
        channels : numpy.ndarray of int
            Network channels (0..q-1; a class the output stage adds past them, its id),
            any shape.

        Returns
        -------
        numpy.ndarray of int64
            ``channels``' shape: :attr:`channel_ids` of each (past the table's end: above
            its largest id, in order), or channel + 1.
        """
        channels = np.asarray(channels, dtype=np.int64)
        if self.channel_ids is None:
            return channels + 1
        table = np.asarray(self.channel_ids, dtype=np.int64)
        beyond = channels >= table.size  # a class the output stage added past the table
        past = table.max() + 1 + channels - table.size
        return np.where(beyond, past, table[np.where(beyond, 0, channels)])

    def check_fits(self, n_channels: int, what: str = "image") -> None:
        """Refuse an image whose channel count differs from the training image's.

        Parameters
        ----------
        n_channels : int
            Channels of the image.
        what : str, optional
            How the message names the image.

        Raises
        ------
        ValueError
            When ``n_channels`` is not :attr:`n_channels`.
        """
        if int(n_channels) != self.n_channels:
            raise ValueError(
                f"This {self.method} model was trained on {self.n_channels}-channel "
                f"({self.layout}) images; the {what} has {n_channels} channel(s). Apply it to "
                f"images with the same channels (a multichannel image: channel_axis= in "
                f"Python, --channel-axis on the command line; colour: rgb= in Python), or "
                f"train a new model."
            )

    def metadata(self) -> dict:
        """The model's description as JSON-able values (the file's ``"metadata"``).

        Returns
        -------
        dict
            ``method``, ``params``, ``n_channels``, ``layout``, ``dtype``, ``normalisation``,
            ``fused``, ``step``, ``version``, ``channel_ids``, ``class_channels``,
            ``scribble_channels``, ``training``, ``teacher_map`` and ``intensity_range``.
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["params"] = self.params.to_dict()
        del out["weights"], out["generator"], out["frozen_bn"]
        return out

    def save(self, path) -> Path:
        """Write the model to ``path`` (see the module docstring for the format).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (conventionally ``.pt``); written to a temporary name in the
            same folder, then renamed. The same model gives the same bytes (and sha256)
            each time it is saved.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        IsADirectoryError
            When ``path`` is a folder.
        FileNotFoundError
            When its folder does not exist.
        FileExistsError
            When ``path`` is a file other than a napari-mmtseg model (an image, say): a
            model is only ever saved over a model.
        """
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder: name the model file (e.g. model.pt).")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"No folder {path.parent} to write the model file in.")
        if path.exists() and not is_model_file(path):
            raise FileExistsError(
                f"{path} exists and is not a napari-mmtseg model file: it is not replaced. "
                "Name another file for the model (e.g. model.pt)."
            )
        data = self._bytes()
        storage.atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        return path

    def sha256(self) -> str:
        """The sha256 of the file :meth:`save` writes (the same for the same model).

        Returns
        -------
        str
            Its hex digest: what ``sha256sum`` gives the saved file, known without saving.
        """
        import hashlib

        return hashlib.sha256(self._bytes()).hexdigest()

    def _bytes(self) -> bytes:
        """The file's bytes."""
        blob = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "metadata": self.metadata(),
            "weights": self.weights,
            "generator": self.generator,
            "frozen_bn": self.frozen_bn,
        }
        return _serialise(blob)


def _serialise(blob: dict) -> bytes:
    """The bytes :func:`torch.save` gives ``blob``, the same for the same model.

    Saved to a path, torch names the archive inside the file after the file (here the
    temporary name, random), so one model would give other bytes, and another sha256,
    each time it is saved; saved to a buffer, the name is always ``"archive"``.
    """
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    return buffer.getvalue()


def _same_type(a, b) -> bool:
    """Whether two dtypes hold the same values (byte order aside: '>u2' is uint16)."""
    return np.dtype(a).newbyteorder("=") == np.dtype(b).newbyteorder("=")


def is_model_file(path) -> bool:
    """Whether a file holds a napari-mmtseg model (of any format version).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    bool
        False for anything torch cannot read with ``weights_only=True``, and for torch files
        of other content.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                return False
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable, or a torch file of other content
        return False
    return isinstance(blob, dict) and blob.get("format") == FORMAT


def _ints(values) -> list | None:
    """A JSON-able list of ints, or None."""
    return None if values is None else [int(v) for v in values]


def _cpu_state(net: torch.nn.Module) -> dict:
    """A network's ``state_dict``, copied to the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def load_model(path) -> Model:
    """Load a model written by :meth:`Model.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    Model
        The model, its weights on the CPU.

    Raises
    ------
    ValueError
        When the file is not a napari-mmtseg model (another torch file, a corrupted or
        truncated one, anything else) or has a newer format version.
    FileNotFoundError
        When there is no such file.
    """
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder: give the model file in it (e.g. model.pt).")
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    with open(path, "rb") as fh:
        if fh.read(4) != ZIP_MAGIC:
            raise ValueError(
                f"{path} is not a napari-mmtseg model file (not a file torch.save wrote)."
            )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign pickle, a truncated zip ...
        # torch's own text advises loading without weights_only: never for a model file
        raise ValueError(
            f"{path} is not a napari-mmtseg model file (torch could not read it as plain "
            f"weights: {type(exc).__name__})."
        ) from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is a torch file but not a napari-mmtseg model.")
    version = blob.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version!r}; this napari-mmtseg reads up to "
            f"{FORMAT_VERSION}: update napari-mmtseg."
        )
    return _from_blob(blob, path)


def _from_blob(blob: dict, path: Path) -> Model:
    """The :class:`Model` of a loaded file's dict, its networks checked."""
    try:
        known = {f.name for f in fields(Model)} - {"params", "weights", "generator", "frozen_bn"}
        md = {k: v for k, v in dict(blob["metadata"]).items() if k in known}
        params = Params(**blob["metadata"]["params"])
        frozen = blob.get("frozen_bn")
        model = Model(
            params=params, weights=dict(blob["weights"]), generator=blob.get("generator"),
            frozen_bn=None if frozen is None else {k: dict(v) for k, v in frozen.items()},
            **md,
        )  # fmt: skip
        if model.method not in LEARNED_METHODS:
            raise ValueError(f"unknown method {model.method!r}")
        model.networks(torch.device("cpu"))  # the weights fit the networks they describe
        if model.frozen_bn is not None:  # and the statistics fit them
            for final_net in ("student", "teachers") if model.method == "mmt" else (None,):
                model.frozen_networks(torch.device("cpu"), final_net)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is a damaged napari-mmtseg model file: {_brief(exc)}") from exc
    return model


def _brief(exc: Exception, lines: int = 2) -> str:
    """An error's first lines (torch lists every mismatched weight, one per line)."""
    text = [t.strip() for t in str(exc).splitlines() if t.strip()]
    more = f" (and {len(text) - lines} more lines)" if len(text) > lines else ""
    return " ".join(text[:lines]) + more
