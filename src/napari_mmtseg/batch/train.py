"""One model for many images: train it on some of a batch's inputs, name it by its hash.

``mmtseg train`` and ``mmtseg segment --train-on N`` train one model here
(:func:`train_model`), then :func:`~napari_mmtseg.batch.segment_many` applies it to every
input by inference alone; the summary CSV and each labels file name the model's file and
its SHA-256 (:func:`model_record`). No Qt, no napari.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .. import storage
from ..model import is_model_file
from .plan import BatchError, plan

__all__ = [
    "MODEL_NAME",
    "check_model_path",
    "file_sha256",
    "model_record",
    "pick_usable",
    "sample_evenly",
    "train_model",
    "training_differences",
]

#: the model file ``--train-on`` writes into the output folder
MODEL_NAME = "mmtseg_model.pt"


def file_sha256(path) -> str:
    """Hash a file's bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The file, local or fsspec URL.

    Returns
    -------
    str
        The SHA-256 of its bytes, 64 hex digits.
    """
    return hashlib.sha256(storage.read_bytes(str(path))).hexdigest()


def model_record(path) -> dict:
    """Name a model file for the summary CSV and the labels' metadata.

    Parameters
    ----------
    path : str or os.PathLike
        The model file, local or fsspec URL: read whole, to hash it.

    Returns
    -------
    dict
        ``{"model": path, "model_sha256": hex digest}``.
    """
    return {"model": str(path), "model_sha256": file_sha256(path)}


def check_model_path(
    inputs, path, option: str = "-o", advice: str = "name another model file (e.g. model.pt)"
) -> None:
    """Refuse a model file that would be written over one of the inputs.

    Parameters
    ----------
    inputs : str, os.PathLike or iterable of them
        The inputs the model is trained on (files, folders, globs), as for
        :func:`train_model`.
    path : str or os.PathLike
        Where the model is to be saved.
    option : str, optional
        How the message names the path (``"-o"``, ``"--train-on's model file"``).
    advice : str, optional
        What the message says to do instead.

    Raises
    ------
    BatchError
        When ``path`` is one of the input files, or lies in an input zarr store, or is a
        file other than a model (an image not among the inputs, say), whatever
        ``--overwrite`` says: saving the model would destroy it; or when the inputs make no
        batch (:func:`~napari_mmtseg.batch.plan.plan`).
    """
    from ..ngff import in_zarr, split_store

    target = Path(_file_key(path))
    for src, _ in plan(inputs, "unused-output-folder"):
        where = Path(_file_key(split_store(src)[0] if in_zarr(src) else src))
        if target == where or target.is_relative_to(where):
            raise BatchError(
                f"{option} {path} is the input {src}: saving the model there would replace "
                f"the image, --overwrite or not; {advice}"
            )
    if target.is_file() and not is_model_file(target):
        raise BatchError(
            f"{option} {path} exists and is not a napari-mmtseg model file: it is not "
            f"replaced, --overwrite or not; {advice}"
        )


def sample_evenly(items: list, n: int, seed: int = 0) -> list:
    """Pick ``n`` items spread evenly over ``items``, from a seeded offset.

    Parameters
    ----------
    items : list
        The candidates, in order (e.g. a plate's fields).
    n : int
        How many to pick (all when ``n >= len(items)``).
    seed : int, optional
        Seeds the offset of the first pick within the first stride.

    Returns
    -------
    list
        ``n`` distinct items, in their order in ``items``.

    Raises
    ------
    ValueError
        When ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"the number of images to train on must be at least 1, not {n}")
    if n >= len(items):
        return list(items)
    stride = len(items) / n
    offset = np.random.default_rng(seed).uniform(0, stride)
    return [items[int(offset + i * stride)] for i in range(n)]


def _stack_axes(shape: tuple, channel_axis) -> tuple:
    """The stack axes of one file's image (none when the engine would refuse its shape)."""
    from ..layout import channels_of, slice_layout

    try:
        return slice_layout(shape, channels_of(shape, channel_axis).axis).stack_axes
    except (TypeError, ValueError):
        return ()


def _read_one(f, channel_axis) -> tuple:
    """One training file's image and channel axis; BatchError naming it when it cannot be used.

    An in-memory image with NaN or infinite values is refused here; a lazy one (zarr) is
    checked chunk by chunk as the training reads it (:func:`_checked`).
    """
    from ..image import file_channel_axis
    from ..intensity import check_finite
    from ..io import read_image_meta
    from .task import read_error

    try:
        image, meta = read_image_meta(f)
    except Exception as exc:  # a damaged or empty file: say which
        raise BatchError(f"{f}: {read_error(f, exc)}") from exc
    axis = file_channel_axis(meta.axes, image.ndim) if channel_axis is None else channel_axis
    if isinstance(image, np.ndarray):  # the engine would number the joined stack's slices
        try:
            check_finite(image, stack_axes=_stack_axes(image.shape, axis))
        except ValueError as exc:
            raise BatchError(f"{f}: {exc}") from exc
    return image, axis


def _stack(files: list, channel_axis):
    """The images of ``files`` stacked along a new first axis, and the stack's channel axis.

    Strict: a file that cannot be used, or of another shape than the first, is a
    BatchError (``mmtseg train``'s files are the user's own choice).
    """
    images, axis = [], None
    for f in files:
        image, its_axis = _read_one(f, channel_axis)
        if images and image.shape != images[0].shape:
            raise BatchError(
                f"one model is trained on images of one shape: {f} is {image.shape}, "
                f"{files[0]} is {images[0].shape}"
            )
        axis = its_axis if not images else axis  # the first file's
        images.append(image)  # lazy ones (zarr) stay lazy: the engine reads slice by slice
    return _join(images, files, axis)


def _join(images: list, files: list, axis):
    """Stack images of one shape along a new first axis; the stack's channel axis."""
    if len(images) == 1:
        return images[0], axis
    if axis is None and images[0].ndim == 2:
        axis = "none"  # grey fields: the new axis is a stack, never channels
    elif isinstance(axis, int) and axis >= 0:
        axis += 1
    try:
        import dask.array as da
    except ImportError:  # the [batch] extra holds dask
        da = None
    if da is None or all(isinstance(i, np.ndarray) for i in images):
        return np.stack([np.asarray(i) for i in images]), axis
    return da.stack([_checked(da.asarray(i), f) for i, f in zip(images, files)]), axis


def pick_usable(items: list, n: int, seed: int, reason_not_usable) -> tuple:
    """Pick ``n`` items as :func:`sample_evenly` does, replacing those that cannot be used.

    Each pick is asked about in turn, in the order of ``items``; one that cannot be used is
    replaced by the next item after it (wrapping round to the first) that was neither
    picked nor asked about before, until a usable one is found or none is left.

    Parameters
    ----------
    items : list
        The candidates, in order.
    n : int
        How many to pick (at least 1).
    seed : int
        As for :func:`sample_evenly`.
    reason_not_usable : callable
        ``reason_not_usable(item)``: None for an item that can be used, else why not (a
        str). Asked at most once per item.

    Returns
    -------
    picked : list
        Up to ``n`` usable items, in their order in ``items`` (fewer when fewer are usable).
    skipped : list of (item, str)
        The items found unusable, and why, in the order they were asked about.
    """
    first = sample_evenly(list(range(len(items))), n, seed)
    asked, picked, skipped = set(first), [], []
    for i in first:
        while i is not None:
            why = reason_not_usable(items[i])
            if why is None:
                picked.append(i)
                break
            skipped.append((items[i], why))
            i = next((j for j in (*range(i + 1, len(items)), *range(i)) if j not in asked), None)
            if i is not None:
                asked.add(i)
    return [items[i] for i in sorted(picked)], skipped


def _stack_sample(files: list, n: int, seed: int, channel_axis, on_skip=None):
    """Read a ``--train-on`` sample, skipping the files that cannot be used.

    Parameters
    ----------
    files : list of str
        The batch's inputs, in order.
    n, seed
        As for :func:`pick_usable`.
    channel_axis
        As given (None: each file's own).
    on_skip : callable, optional
        ``on_skip(file, reason)`` for each file skipped, as it is skipped (``reason``
        without the file's name).

    Returns
    -------
    image, axis
        As for :func:`_stack`.
    used : list of str
        The files trained on.
    skipped : list of str
        The files skipped.

    Raises
    ------
    BatchError
        When no file of the batch can be used (each one's reason said).
    """
    from collections import Counter

    read, reasons = {}, {}
    for f in sample_evenly(files, n, seed):  # the first picks set the shape: read them all
        try:
            read[f] = _read_one(f, channel_axis)
        except BatchError as exc:
            reasons[f] = str(exc).removeprefix(f"{f}: ")
    shapes = Counter(image.shape for image, _ in read.values())  # first met first in a tie
    shape = [shapes.most_common(1)[0][0]] if shapes else []

    def reason_not_usable(f):
        if f not in read and f not in reasons:  # a replacement
            try:
                read[f] = _read_one(f, channel_axis)
            except BatchError as exc:
                reasons[f] = str(exc).removeprefix(f"{f}: ")
        if f in reasons:
            why = reasons[f]
        else:
            if not shape:  # no first pick could be read: the first usable file's
                shape.append(read[f][0].shape)
            if read[f][0].shape == shape[0]:
                return None
            why = f"its shape {read[f][0].shape} is not the training sample's {shape[0]}"
            del read[f]
        if on_skip is not None:
            on_skip(f, why)
        return why

    used, skipped = pick_usable(files, n, seed, reason_not_usable)
    if not used:
        raise BatchError(
            f"no file of the {len(files)} input(s) can be used for training: "
            + "; ".join(f"{f}: {why}" for f, why in skipped)
        )
    image, axis = _join([read[f][0] for f in used], used, read[used[0]][1])
    return image, axis, used, [f for f, _ in skipped]


def _checked(image, file):
    """A lazy float image whose blocks refuse NaN and infinite values as they are read, naming
    the file (the engine would number the joined stack's slices)."""
    if image.dtype.kind != "f":
        return image

    from ..intensity import check_finite

    def check(block):
        try:
            check_finite(block, " (in one chunk of it)")
        except ValueError as exc:
            raise BatchError(f"{file}: {exc}") from exc
        return block

    return image.map_blocks(check, dtype=image.dtype)


def train_model(
    inputs,
    *,
    method: str = "mmt",
    preset: str | None = "fast",
    seed: int = 0,
    channel_axis=None,
    device="auto",
    overrides: dict | None = None,
    train_on: int | None = None,
    num_threads: int | None = None,
    on_skip=None,
):
    """Train one model on image files (same shape), stacked along a new first axis.

    Without ``train_on`` every input is trained on, and one that cannot be used is an error.
    With ``train_on`` the sample skips a file that cannot be read, holds NaN or infinite
    values (an in-memory image; a lazy one is checked as it is read, and stops the
    training) or has another shape than the sample's: the shape most of the first picks of
    :func:`sample_evenly` have (in a tie, the earliest's; when none of them can be read,
    the first usable file's). Each skipped file is replaced by the next one after it in
    the inputs' order (:func:`pick_usable`), so ``train_on`` files are trained on when
    there are that many usable ones.

    Parameters
    ----------
    inputs : str, os.PathLike or iterable of them
        Files, folders and globs, as for :func:`~napari_mmtseg.batch.segment_many`.
    method, preset, seed, channel_axis, device, overrides
        As for :func:`napari_mmtseg.segment` (``method``: a learned one; ``preset`` None:
        the device's default).
    train_on : int, optional
        Train on this many of the inputs, picked by :func:`pick_usable` with ``seed``
        (default: all of them).
    num_threads : int, optional
        torch's CPU threads during the training (default: torch's setting).
    on_skip : callable, optional
        With ``train_on``: ``on_skip(file, reason)`` for each file the sample skips, as it
        is skipped (``reason`` without the file's name).

    Returns
    -------
    model : Model
        The trained model, its :attr:`~napari_mmtseg.model.Model.training` set (its
        ``files`` those trained on, its ``skipped`` those the sample skipped).
    files : list of str
        The files it was trained on.

    Raises
    ------
    BatchError
        For inputs that make no batch; without ``train_on``, a file that cannot be used or
        images of different shapes; with it, no input that can be used.
    ValueError
        For a method that trains no model, or an image the engine refuses.
    """
    from ..engine import fit_model
    from ..params import check_learned

    check_learned(method)  # before the files are read
    if preset is None:  # the device's, as segment picks it
        from ..device import resolve_device
        from ..params import default_preset

        preset = default_preset(resolve_device(device).type)
    files = [src for src, _ in plan(inputs, "unused-output-folder")]
    skipped = []
    if train_on is None:
        image, axis = _stack(files, channel_axis)
    else:
        image, axis, files, skipped = _stack_sample(files, train_on, seed, channel_axis, on_skip)
    model = fit_model(
        image, method=method, preset=preset, seed=seed, channel_axis=axis, device=device,
        num_threads=num_threads, **dict(overrides or {}),
    )  # fmt: skip
    model.training = {
        "seed": int(seed),
        "preset": preset,
        "channel_axis": channel_axis,
        "files": [_file_key(f) for f in files],
        "skipped": [_file_key(f) for f in skipped],
    }
    return model, files


def training_differences(
    model,
    inputs,
    *,
    method: str,
    preset: str,
    seed: int,
    overrides: dict,
    train_on: int,
    channel_axis=None,
) -> list:
    """What differs between a batch's model and the training a batch asks for now.

    ``mmtseg segment --train-on N`` reuses the model file of its output folder (a run
    resumed after a stop); a model trained with another method, preset, training
    parameters, seed, channel axis or sample of files is not the one asked for (the
    sample as :func:`pick_usable` picks it when the files the model's training skipped
    are skipped again, unread). The
    parameters compared are those the method reads in training: not the
    :data:`~napari_mmtseg.params.LABELLING_FIELDS` (they apply when it labels), except for
    a model trained on one image, whose class ids come from labelling it; nor those only
    another method reads (:data:`~napari_mmtseg.params.READ_ONLY_BY`). Files are compared
    by absolute path (URLs as given), so a folder, a glob or the files themselves name the
    same sample.

    Parameters
    ----------
    model : Model
        The model found.
    inputs : str, os.PathLike or iterable of them
        The batch's inputs (files, folders, globs).
    method, preset, seed, overrides, train_on, channel_axis
        As for :func:`train_model` (``preset`` resolved: not None).

    Returns
    -------
    list of str
        One phrase per difference, the model's value first (empty when the model is the
        one asked for).

    Raises
    ------
    ValueError
        For overrides that :func:`~napari_mmtseg.params.make_params` refuses.
    """
    from ..params import LABELLING_FIELDS, READ_ONLY_BY, make_params

    if model.method != method:
        return [f"--method {model.method}, not {method}"]
    rec = model.training
    if rec is None:
        return ["no record of how it was trained (a file from an older napari-mmtseg)"]
    out = []
    if rec.get("preset") != preset:
        out.append(f"--preset {rec.get('preset')}, not {preset}")
    else:
        wanted = make_params(method, preset, **dict(overrides or {})).to_dict()
        had = model.params.to_dict()
        one_image = len(rec.get("files") or []) == 1
        out += [
            f"{k}={had.get(k)!r}, not {v!r}"
            for k, v in wanted.items()
            if had.get(k) != v
            and (one_image or k not in LABELLING_FIELDS)
            and method in READ_ONLY_BY.get(k, (method,))
        ]
    if rec.get("seed") != seed:
        out.append(f"--seed {rec.get('seed')}, not {seed}")
    if rec.get("channel_axis") != channel_axis:
        out.append(f"--channel-axis {rec.get('channel_axis')}, not {channel_axis}")
    skipped = {str(f) for f in rec.get("skipped") or []}  # unusable then: skipped again
    files, _ = pick_usable(
        [src for src, _ in plan(inputs, "unused-output-folder")], train_on, seed,
        lambda f: "skipped" if _file_key(f) in skipped else None,
    )  # fmt: skip
    had_files, files = list(rec.get("files") or []), [_file_key(f) for f in files]
    if had_files != files:  # the two samples whole: a difference alone reads as a swap
        out.append(f"files {_some(had_files)}, not {_some(files)}")
    return out


def _file_key(path) -> str:
    """A file's name as a model's record keeps it: absolute for a local file."""
    return str(path) if storage.is_url(path) else str(Path(path).resolve())


def _some(names: list, n: int = 3) -> str:
    """Up to ``n`` names, and how many more."""
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more
