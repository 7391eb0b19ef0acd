"""From inputs to tasks: the (input, output) pairs of a batch.

Inputs are files, folders (their image files, not recursive) and globs, local or fsspec
URLs; a zarr store (``.zarr``, ``.ome.zarr``) is one image. The output is a folder or,
for one input, a file path.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from .. import storage

__all__ = [
    "IMAGE_SUFFIXES",
    "BatchError",
    "plan",
    "single_output",
    "output_folder",
    "check_output",
]

#: file name endings read as images (zarr stores: see :func:`napari_mmtseg.ngff.is_zarr`)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
#: output names that mark a result of an earlier run, left out of a folder's inputs
_RESULT_ENDINGS = ("_labels.tif", "_labels.ome.tif", "_labels.ome.zarr")


class BatchError(ValueError):
    """Inputs or output that cannot make a batch (nothing found, a clash of names)."""


def single_output(output) -> bool:
    """Tell whether ``output`` names one labels file rather than a folder.

    Parameters
    ----------
    output : str or os.PathLike
        The batch's output, local or URL.

    Returns
    -------
    bool
        True for a ``.tif``/``.tiff`` or ``.zarr`` path; False for an existing local folder
        named ``x.zarr`` that is not a zarr store (an output folder, never replaced).
    """
    from ..ngff import is_plain_folder, is_zarr

    tif = str(output).lower().endswith((".tif", ".tiff"))
    return tif or (is_zarr(output) and not is_plain_folder(output))


def output_folder(pairs: list, output) -> str:
    """Return the folder a batch writes into.

    Parameters
    ----------
    pairs : list of (str, str)
        The batch's (input, output) pairs, from :func:`plan`.
    output : str or os.PathLike
        The batch's output: a folder, or one file path.

    Returns
    -------
    str
        ``output`` itself, or the folder of its single file.
    """
    return storage.parent(pairs[0][1]) if single_output(output) else str(output)


def check_output(pairs: list, output) -> str:
    """Create the batch's output folder if needed and check that files can be written there.

    Parameters
    ----------
    pairs, output
        As for :func:`output_folder`, which names the folder.

    Returns
    -------
    str
        The output folder.

    Raises
    ------
    BatchError
        When the folder cannot be created or written (read-only, no permission, a file
        in the way), with the reason.
    """
    folder = output_folder(pairs, output)
    try:
        storage.check_writable(folder)
    except OSError as exc:
        reason = f"{type(exc).__name__}: {exc.strerror or exc}"
        raise BatchError(f"cannot write to the output folder {folder}: {reason}") from exc
    return folder


def _is_image(path: str) -> bool:
    from ..ngff import in_zarr

    return path.lower().endswith(IMAGE_SUFFIXES) or in_zarr(path)


def _names_a_file(path: str) -> bool:
    """Whether an output's own name is an image file's or a zarr store's."""
    from ..ngff import is_zarr

    return path.lower().endswith(IMAGE_SUFFIXES) or is_zarr(path)


def _expand_url(item: str) -> list:
    fs, path = storage.url_fs(item)
    proto = item.split("://", 1)[0]
    if any(c in path for c in "*?["):
        return [f"{proto}://{p}" for p in sorted(fs.glob(path)) if _is_image(p)]
    if fs.isdir(path) and not _is_image(path):
        return [
            f"{proto}://{p}"
            for p in sorted(fs.ls(path, detail=False))
            if _is_image(p) and (fs.isfile(p) or p.lower().rstrip("/").endswith(".zarr"))
        ]
    if fs.exists(path):
        return [item]
    raise BatchError(f"input not found: {item}{_store_levels(item)}")


def _expand_local(item: str) -> list:
    p = Path(item)
    if p.is_file() or (p.is_dir() and _is_image(item.rstrip("/\\"))):
        return [item.rstrip("/\\") if p.is_dir() else str(p)]
    if p.is_dir():
        return sorted(str(q) for q in p.iterdir() if _is_image(str(q)) and _is_input(q))
    if any(c in item for c in "*?["):
        return sorted(q for q in glob.glob(item) if _is_image(q) and _is_input(Path(q)))
    raise BatchError(f"input not found: {item}{_store_levels(item)}")


def _store_levels(item: str) -> str:
    """The levels of the zarr store a missing node was asked of ("" for anything else)."""
    from ..ngff import in_zarr, listed_levels, split_store

    store, node = split_store(item)
    parent = "/".join([store, *node.split("/")[:-1]])  # the group the missing node is in
    found = listed_levels(parent) if in_zarr(item) and node else ""
    return f" (the store's levels: {found})" if found else ""


def _is_input(path: Path) -> bool:
    return path.is_file() or path.is_dir()


def _expand(item: str) -> list:
    """Files of one input: a file or store, a folder (its images) or a glob."""
    found = _expand_url(item) if storage.is_url(item) else _expand_local(item)
    if not found:
        raise BatchError(f"no images ({', '.join(IMAGE_SUFFIXES + ('.zarr',))}) in {item}")
    return found


def plan(inputs: Iterable, output) -> list:
    """Pair every input image with the labels file it will get.

    Parameters
    ----------
    inputs : str, os.PathLike or iterable of them
        Image files, zarr stores, folders (their images, not recursive) and globs,
        local or fsspec URLs; one of them alone stands for itself (a folder given as a
        string is that folder, not its letters).
    output : str or os.PathLike
        A folder (created later if missing; labels named by
        :func:`napari_mmtseg.io.labels_name`), or a ``.tif`` / ``.zarr`` path for one
        input.

    Returns
    -------
    list of (str, str)
        ``(input, output)`` per image, in input order. Files in a folder that look like
        our own outputs (``*_labels.tif``, ``*_labels.ome.zarr``) are left out.

    Raises
    ------
    BatchError
        When nothing is found, an input is missing, two inputs would write the same
        output, or an output would overwrite an input.
    """
    from ..io import labels_name

    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    inputs = [str(i) for i in inputs]
    if not inputs:
        raise BatchError("give image files, folders or globs")
    out = str(output)
    files = []
    for item in inputs:
        for f in _expand(item):
            named = storage.name(f).lower()
            if not Path(item).is_file() and named.endswith(_RESULT_ENDINGS) and f != item:
                continue  # a result of an earlier run that sits among the inputs
            files.append(f)
    if not files:
        raise BatchError(f"no images to segment in {', '.join(inputs)}")
    if single_output(out):
        if len(files) > 1:
            raise BatchError(f"{len(files)} inputs need an output folder, not the file {out}")
        pairs = [(files[0], out)]
    else:
        if not storage.is_url(out) and Path(out).exists() and not Path(out).is_dir():
            raise BatchError(f"output {out} exists and is not a folder")
        local = storage.local_path(out)
        folder = local is not None and local.is_dir()
        if _names_a_file(str(out)) and not folder:  # out.png: no folder meant
            raise BatchError(
                f"labels are written as TIFF (.tif) or OME-Zarr (.ome.zarr), not {out}: name "
                "a .tif file for one input, or an output folder"
            )
        pairs, seen = [], {}
        for f in files:
            dst = storage.join(out, labels_name(f))
            if dst in seen:
                raise BatchError(
                    f"two inputs would both write {dst}: {seen[dst]} and {f} (same name stem)"
                )
            seen[dst] = f
            pairs.append((f, dst))
    _never_over_an_input(pairs)
    return pairs


def _never_over_an_input(pairs) -> None:
    """An output that is also an input, or the store that holds one, would destroy the
    user's image."""
    from ..ngff import in_zarr, split_store

    def key(p):
        return p if storage.is_url(p) else str(Path(p).resolve())

    inputs = {key(src) for src, _ in pairs}
    for src, dst in pairs:
        if key(dst) in inputs:
            raise BatchError(f"the output {dst} of {src} is also an input; choose another output")
    stores = {key(split_store(src)[0]): src for src, _ in pairs if in_zarr(src)}
    for _, dst in pairs:  # a level of a store written over the store itself
        if key(dst) in stores:
            raise BatchError(
                f"the output {dst} is the zarr store that holds the input {stores[key(dst)]}; "
                "choose another output"
            )
