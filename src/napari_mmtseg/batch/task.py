"""One task of a batch: read one image, segment it, write its labels, return its row.

Runs in this process or on a dask.distributed worker; never raises for a bad file.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .. import storage
from .cluster import cores
from .summary import FIELDS

__all__ = ["segment_file", "short_error", "failed_row", "check_model_info"]


def worker_name() -> str:
    """Name the process a task runs in, for the summary's ``worker`` column.

    Returns
    -------
    str
        ``"<dask worker address> pid <pid>"`` on a dask worker, else ``"<host> pid <pid>"``.
    """
    try:
        from distributed import get_worker

        return f"{get_worker().address} pid {os.getpid()}"
    except (ImportError, ValueError):
        return f"{socket.gethostname()} pid {os.getpid()}"


def task_threads(threads: dict | int | None) -> int | None:
    """Torch threads for this task.

    Parameters
    ----------
    threads : int or dict or None
        A number, or a ``{worker address: threads}`` map (cores of each worker's host
        shared among the task slots there); None leaves torch's own setting.

    Returns
    -------
    int or None
        The threads this task uses (None: torch's setting).
    """
    if threads is None or isinstance(threads, int):
        return threads
    try:
        from distributed import get_worker

        w = get_worker()
    except (ImportError, ValueError):
        return None
    if w.address in threads:
        return threads[w.address]
    return max(1, cores() // max(1, w.state.nthreads))


def short_error(exc: BaseException) -> str:
    """Say an exception in one line.

    Parameters
    ----------
    exc : BaseException
        The exception.

    Returns
    -------
    str
        ``"TypeName: first line of the message"`` (the type alone without a message).
    """
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def read_error(src, exc: BaseException) -> str:
    """Say why a file could not be read as an image, in one line.

    Parameters
    ----------
    src : str
        The file, local or URL.
    exc : BaseException
        What the reader raised.

    Returns
    -------
    str
        ``"the file is empty (0 bytes)"`` for an empty local file, the zarr reader's message
        for a zarr store (a plate or well group says how to name a field), else ``"cannot
        read as an image (damaged, or not an image file): TypeName: message"``: a reader's
        own errors (an index out of range in a truncated TIFF) say little of the cause.
    """
    from ..ngff import in_zarr

    if not storage.is_url(src) and Path(src).is_file() and Path(src).stat().st_size == 0:
        return "the file is empty (0 bytes)"
    if isinstance(exc, ValueError) and in_zarr(src):  # the zarr reader's own words
        return str(exc)
    return f"cannot read as an image (damaged, or not an image file): {short_error(exc)}"


def failed_row(src: str, dst: str, error: str) -> dict:
    """Return the summary row of a task that failed before or outside :func:`segment_file`.

    Parameters
    ----------
    src, dst : str
        The task's input and output.
    error : str
        Why it failed, one line.

    Returns
    -------
    dict
        A row with the keys :data:`~napari_mmtseg.batch.summary.FIELDS`, status ``"failed"``.
    """
    row = dict.fromkeys(FIELDS, "")
    row.update(input=str(src), output=str(dst), status="failed", error=error)
    return row


def check_model_info(model, model_info) -> None:
    """Refuse a record of a model file when no model is applied.

    Parameters
    ----------
    model : Model or None
        The model applied to every input, if any.
    model_info : dict or None
        ``{"model": file, "model_sha256": hash}`` naming it.

    Raises
    ------
    ValueError
        When ``model_info`` is given without ``model``: each input would train its own
        networks while the summary and the labels' metadata named a model file that made
        none of them; or when it holds other keys than ``model`` and ``model_sha256``.
    """
    unknown = sorted(set(model_info or {}) - {"model", "model_sha256"})
    if unknown:
        raise ValueError(
            f"model_info takes 'model' (the file) and 'model_sha256' (its hash), not "
            f"{', '.join(map(repr, unknown))}."
        )
    if model_info and model is None:
        raise ValueError(
            "model_info names the model file that labels every input, but no model was "
            "given, so each input would train its own networks and the record would be "
            "false: pass the model too (model=napari_mmtseg.load_model(path)), or leave "
            "model_info out."
        )


def segment_file(
    src: str,
    dst: str,
    *,
    method: str = "mmt",
    preset: str = "fast",
    seed: int = 0,
    channel_axis: int | None = None,
    device="auto",
    overrides: dict | None = None,
    num_threads=None,
    overwrite: bool = False,
    on_progress: Callable | None = None,
    on_warning: Callable | None = None,
    model=None,
    model_info: dict | None = None,
) -> dict:
    """Segment the image file ``src`` and write its labels to ``dst``.

    The unit of work of a batch (runs in this process or on a dask worker).

    Parameters
    ----------
    src : str
        The image: a file or zarr store, local path or fsspec URL.
    dst : str
        The labels file to write (``.tif`` or ``.ome.zarr``), local path or URL.
    method, preset, seed, channel_axis, device, overrides
        As for :func:`napari_mmtseg.segment` (``overrides``: Params fields by name, and
        ``detail``, the level written, and ``axes``, one letter per axis of every input,
        which replace what the file says of its axes, as ``mmtseg segment --axes``).
    num_threads : int or dict or None, optional
        Torch threads (an int, or a ``{worker address: int}`` map); None: torch's setting.
    overwrite : bool, optional
        Segment again when ``dst`` exists (default: skip it).
    on_progress : callable, optional
        ``on_progress(event)`` gets the engine's :class:`~napari_mmtseg.result.Progress`.
    on_warning : callable, optional
        ``on_warning(message)`` gets the engine's warnings (e.g. a dropped 4th channel).
    model : Model, optional
        Label the image with this trained model by inference alone (``method`` is then
        the model's; see :func:`napari_mmtseg.segment`).
    model_info : dict, optional
        ``{"model": file, "model_sha256": hash}`` naming ``model``, copied into the row
        and the labels file's metadata; refused without ``model``.

    Returns
    -------
    dict
        The summary row, keys :data:`~napari_mmtseg.batch.summary.FIELDS` (plus ``kept``
        and ``why`` for the log line). ``status`` is ``"done"``, ``"skipped"`` (``dst``
        exists and not ``overwrite``) or ``"failed"`` (``error`` says why: a file that is
        not an image, an image the engine refuses, out of memory, ...). Never raises for
        a bad file.

    Raises
    ------
    ValueError
        For ``model_info`` without ``model`` (:func:`check_model_info`).
    """
    from ..io import read_image_meta
    from ..ngff import is_plain_folder, levels_hint

    check_model_info(model, model_info)
    row = dict.fromkeys(FIELDS, "")
    row.update(input=str(src), output=str(dst), worker=worker_name(), **(model_info or {}))
    t0 = time.perf_counter()
    if is_plain_folder(dst):  # not labels of ours: never replaced, --overwrite or not
        error = f"{dst} is a folder that is not a zarr store; move it, or choose another output"
        row.update(status="failed", error=error, seconds=0.0)
        return row
    if not overwrite and storage.exists(dst):
        row["status"] = "skipped"
        return row
    try:
        image, meta = read_image_meta(src)
    except Exception as exc:
        error = read_error(src, exc)
        row.update(status="failed", error=error, seconds=round(time.perf_counter() - t0, 3))
        return row
    overrides = dict(overrides or {})
    axes = overrides.pop("axes", None)  # mmtseg segment --axes: what the file does not say
    if axes is not None:
        if len(axes) != image.ndim:
            error = f"--axes {axes} has {len(axes)} letters; this input has {image.ndim} axes"
            row.update(status="failed", error=error, seconds=round(time.perf_counter() - t0, 3))
            return row
        meta = replace(meta, axes=str(axes).upper())
    kw = _engine_keywords(image, meta, method, preset, seed, channel_axis, device, model)
    detail = overrides.pop("detail", "auto")  # the level written (mmtseg segment --detail)
    stack = _stack_of(image, kw["channel_axis"]) if detail != "auto" else None
    if stack:  # before any training: a stack's result has no hierarchy to cut
        return _failed(row, ValueError(stack), t0)
    try:
        result = _segment(image, kw, overrides, task_threads(num_threads), on_progress, on_warning)
        if detail != "auto":  # the level written is the result's labels, count and record
            labels = result.at(detail)
            why = f"detail {detail}: {int(labels.max())} regions (the default level: "
            why += f"{result.output.get('why', '')})"
            default = {k: result.output.get(k) for k in ("n_classes", "n_regions")}
            output = {**result.output, "detail": detail, "why": why, "default_level": default}
            # the written level's count; its regions are not grouped into classes
            output.update(n_regions=int(labels.max()), n_classes=None)
            result = replace(result, labels=labels, output=output)
        lmeta = meta.for_labels(result.channel_axis, image.ndim)
        _write(dst, result, lmeta, src, model_info)
    except Exception as exc:  # one bad image never stops the batch
        if isinstance(exc, MemoryError):
            exc = MemoryError(f"{exc}{levels_hint(src, image.shape)}")
        return _failed(row, exc, t0)
    return _done(row, result, lmeta, t0)


def _stack_of(image, channel_axis) -> str:
    """Why a detail level cannot be cut from ``image``'s result ("" for one 2D slice)."""
    from ..layout import channels_of, slice_layout

    try:
        n = slice_layout(image.shape, channels_of(image.shape, channel_axis).axis).n_slices
    except ValueError:  # not an image the engine takes: it says why
        return ""
    if n <= 1:
        return ""
    return (
        f"a detail level (--detail, detail=) needs one 2D image; this input has {n} slices, "
        "and a stack's result keeps no region hierarchy (leave the detail at 'auto')"
    )


def _engine_keywords(image, meta, method, preset, seed, channel_axis, device, model) -> dict:
    """The engine's keywords for one image: the task's, with what the file says of its axes."""
    from ..image import file_channel_axis

    if channel_axis is None:  # what the file says (a C axis, a ZYX stack), else the shape's guess
        channel_axis = file_channel_axis(meta.axes, image.ndim)
    kw = dict(method=method, preset=preset, seed=seed, channel_axis=channel_axis, device=device)
    if set(meta.axes) <= set("TZCYX") and len(meta.axes) == image.ndim > 2:
        kw["axes"] = meta.axes  # what the file says: a Z stack's regions connect in 3D
    if model is not None:  # its own parameters: no preset
        kw.update(method=model.method, model=model, preset=None)
    return kw


def _done(row: dict, result, lmeta, t0: float) -> dict:
    """The row of a task whose labels are written."""
    row.update(
        status="done",
        labels=result.n_labels,
        seconds=round(time.perf_counter() - t0, 3),
        device=result.device,
        kept=_kept(lmeta),
        why=result.output.get("why", ""),
    )
    return row


def _failed(row: dict, exc: Exception, t0: float) -> dict:
    """The row of a task whose engine or write raised: the error, and where for a bug."""
    row.update(status="failed", error=short_error(exc), seconds=round(time.perf_counter() - t0, 3))
    if not isinstance(exc, (ValueError, TypeError, MemoryError, OSError)):  # a bug: say where
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        row["error"] += f" (at {Path(frame.filename).name}:{frame.lineno})"
    return row


def _segment(image, kw, overrides, threads, on_progress, on_warning):
    """Run the engine over one image, passing its events and warnings on."""
    import warnings

    from ..engine import Progress, iter_segment

    result = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        events = iter_segment(
            image, preview_every=0, num_threads=threads, **kw, **(overrides or {})
        )
        for ev in events:
            if isinstance(ev, Progress):
                if on_progress is not None:
                    on_progress(ev)
            else:
                result = ev
    for w in caught:
        if on_warning is not None:
            on_warning(str(w.message))
    return result


def _kept(meta) -> str:
    """What the labels file keeps of the input's metadata, for the log line."""
    if not meta.scale and meta.kind not in ("imagej", "ome", "ome-zarr"):
        return ""
    sizes = ", ".join(
        f"{a} {meta.scale[a]:g} {meta.units.get(a, '')}".rstrip()
        for a in meta.axes
        if a in meta.scale
    )
    return f"axes {meta.axes or '?'}" + (f" ({sizes})" if sizes else "")


def _write(dst: str, result, meta, src, model_info) -> None:
    from ..labels_file import result_metadata, write_labels

    if not storage.is_url(dst):
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
    provenance = result_metadata(result, meta, source=str(src), **(model_info or {}))
    write_labels(dst, result.labels, meta, provenance)
