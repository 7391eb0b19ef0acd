"""Zarr and OME-Zarr (NGFF) images in, OME-Zarr labels out.

A zarr store is read as one image: a single array, the full-resolution level of an
OME-Zarr multiscale image (``multiscales`` metadata, NGFF 0.4 or 0.5), or the largest
array of a plain group (a pyramid as napari's zarr reader opens one, level 0 first).
A path inside a store names one of its nodes: ``slide.ome.zarr/2`` is the multiscale
image's level ``2`` (with that level's pixel sizes), ``plate.ome.zarr/A/1/0`` one field of
a plate (:func:`split_store`, :func:`levels`). The array stays lazy (zarr reads the
chunks the engine asks for). Labels of a zarr input are written as an OME-Zarr image
(NGFF 0.4, zarr format 2) of one level holding the labels, with the input's axes, pixel
sizes and units, and ``image-label`` metadata.

Needs ``zarr`` (the ``zarr`` extra); the layout is written by hand after the NGFF 0.4
specification (https://ngff.openmicroscopy.org/0.4/).
"""

from __future__ import annotations

import json
import re

import numpy as np

from . import storage
from .image_meta import ImageMeta, canonical_unit

__all__ = [
    "in_zarr",
    "is_plain_folder",
    "is_zarr",
    "levels",
    "levels_hint",
    "listed_levels",
    "new_array",
    "read_zarr_meta",
    "split_store",
    "write_ome_zarr",
]

_AXIS_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


def is_zarr(path) -> bool:
    """Tell whether ``path`` names a zarr store (``.zarr``, ``.ome.zarr``).

    Parameters
    ----------
    path : str or os.PathLike
        A local path or URL.

    Returns
    -------
    bool
        True when its name ends with ``.zarr`` (any case, a trailing ``/`` allowed).
    """
    return storage.name(path).lower().endswith(".zarr")


def split_store(path) -> tuple[str, str]:
    """Split a path into a zarr store and the node inside it.

    Parameters
    ----------
    path : str or os.PathLike
        A local path or URL, e.g. ``slide.ome.zarr/2`` or ``s3://lab/plate.ome.zarr/A/1/0``.

    Returns
    -------
    store : str
        The path up to its last component that ends with ``.zarr`` (any case); the whole
        path, without a trailing separator, when no component does or when its last
        component is a file name (with a ``.`` but no ``.zarr`` ending: an image in a folder
        named ``x.zarr``, a store's ``.zattrs`` or ``zarr.json``; the nodes of a store are
        named ``0``, ``A``, ``labels``, ...).
    node : str
        The rest, ``/``-separated (``""``: the store itself).
    """
    text = str(path).rstrip("/\\")
    parts = re.split(r"[/\\]", text)
    last = parts[-1].lower()
    if "." in last and not last.endswith(".zarr"):
        return text, ""  # a file name (an image in a folder named x.zarr, .zattrs, zarr.json)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].lower().endswith(".zarr"):
            sep = "\\" if "\\" in text and "/" not in text else "/"
            return sep.join(parts[: i + 1]), "/".join(p for p in parts[i + 1 :] if p)
    return text, ""


#: the files that make a folder a zarr store (v2 group or array, v3 node)
_STORE_FILES = (".zgroup", ".zarray", ".zattrs", "zarr.json")


def is_plain_folder(path) -> bool:
    """Tell whether ``path`` is a local folder named like a zarr store that is not one.

    Parameters
    ----------
    path : str or os.PathLike
        A path or URL.

    Returns
    -------
    bool
        True for an existing local folder (a path or ``file://`` URL) whose name ends with
        ``.zarr`` and that holds none of a zarr store's own files (``.zgroup``, ``.zarray``,
        ``.zattrs``, ``zarr.json``); False for anything else (no remote file system is
        asked: a store on ``s3://`` is taken for a store).
    """
    local = storage.local_path(path)
    if local is None or not is_zarr(path) or not local.is_dir():
        return False
    return not any((local / f).exists() for f in _STORE_FILES)


def in_zarr(path) -> bool:
    """Tell whether ``path`` names a zarr store or a node inside one.

    Parameters
    ----------
    path : str or os.PathLike
        A local path or URL.

    Returns
    -------
    bool
        True when one of its components ends with ``.zarr`` (``x.ome.zarr``,
        ``x.ome.zarr/1``), unless that is a plain local folder (:func:`is_plain_folder`).
    """
    store = split_store(path)[0]
    return store.lower().endswith(".zarr") and not is_plain_folder(store)


def _zarr():
    try:
        import zarr
    except ImportError as exc:
        raise ImportError(
            "reading and writing zarr needs the zarr package: pip install 'napari-mmtseg[zarr]'"
        ) from exc
    return zarr


def _multiscales(attrs: dict) -> list:
    """The ``multiscales`` list of NGFF 0.4 (top level) or 0.5 (under ``ome``)."""
    return attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales") or []


def _meta_from_ngff(ms: dict, ndim: int, level: int = 0):
    """ImageMeta of one level of one NGFF multiscale entry."""

    axes = ms.get("axes") or []
    names = [(a.get("name", "") if isinstance(a, dict) else str(a)).upper() for a in axes]
    letters = "".join(n if len(n) == 1 and n in "TCZYX" else "Q" for n in names)
    meta = ImageMeta(axes=letters if len(letters) == ndim else "", kind="ome-zarr")
    scale = []
    for t in ms["datasets"][level].get("coordinateTransformations") or []:
        if t.get("type") == "scale":
            scale = [float(v) for v in t.get("scale", [])]
    for i, a in enumerate(axes if len(scale) == len(letters) == ndim else []):
        unit = canonical_unit(a.get("unit") if isinstance(a, dict) else None)
        if unit and letters[i] != "Q":
            meta.scale[letters[i]], meta.units[letters[i]] = scale[i], unit
    return meta


def read_zarr_meta(path):
    """Open a zarr or OME-Zarr image and what its metadata says about its axes.

    Parameters
    ----------
    path : str or os.PathLike
        The store, a local folder or an fsspec URL, or a node inside it
        (:func:`split_store`): an array (``slide.ome.zarr/2``, one level of a pyramid) or
        a group (``plate.ome.zarr/A/1/0``, one image of a plate).

    Returns
    -------
    image : zarr.Array
        The array named, or a group's full-resolution array; lazy (index it or pass it to
        :func:`napari_mmtseg.segment` as it is).
    meta : ImageMeta
        Axes, pixel sizes and units from the OME-Zarr metadata (``kind="ome-zarr"``), those
        of the level read; no axes for a plain zarr array or group.

    Raises
    ------
    ValueError
        When the store holds no array, or no node of that name (the message lists the
        store's multiscale levels).
    ImportError
        When zarr is not installed.
    """

    zarr = _zarr()
    store, inner = split_store(path)
    root = zarr.open(store, mode="r")
    node = root
    if inner:
        try:
            node = root[inner]
        except (KeyError, TypeError, AttributeError, IndexError) as exc:  # none, or an array
            found = listed_levels("/".join([store, *inner.split("/")[:-1]]))
            raise ValueError(
                f"no array or group {inner!r} in the zarr store {store}"
                + (f"; its levels: {found}" if found else "")
            ) from exc
    if hasattr(node, "shape") and hasattr(node, "dtype"):  # a zarr array
        return node, _level_meta(root, inner, node.ndim)
    found = _multiscales(dict(node.attrs))
    if found:
        image = node[found[0]["datasets"][0]["path"]]
        return image, _meta_from_ngff(found[0], image.ndim)
    arrays = [a for _, a in node.arrays()]
    if not arrays:
        raise ValueError(f"no array in the zarr group {path}{_field_hint(path, node.attrs)}")
    return max(arrays, key=lambda a: int(np.prod(a.shape))), ImageMeta(kind="zarr")


def _field_hint(path, attrs) -> str:
    """For an HCS plate or well group (NGFF ``plate`` / ``well`` metadata): how to name one
    of its images."""
    attrs = dict(attrs)
    ome = attrs.get("ome") or {}
    plate, well = attrs.get("plate") or ome.get("plate"), attrs.get("well") or ome.get("well")
    base = str(path).rstrip("/\\")
    try:
        if plate:
            w = plate["wells"][0]["path"]
            return f": it is an HCS plate; give one field, e.g. {base}/{w}/0"
        if well:
            return f": it is an HCS well; give one field, e.g. {base}/{well['images'][0]['path']}"
    except (KeyError, IndexError, TypeError):
        return ": it is an HCS plate or well; give one field (plate/row/column/field)"
    return ""


def _level_meta(root, inner: str, ndim: int) -> ImageMeta:
    """ImageMeta of the array ``inner`` of ``root``: its level's, when a multiscale lists it."""
    parent, _, leaf = inner.rpartition("/")
    if inner:
        group = root[parent] if parent else root
        for ms in _multiscales(dict(group.attrs)):
            paths = [d.get("path") for d in ms.get("datasets") or []]
            if leaf in paths:
                return _meta_from_ngff(ms, ndim, paths.index(leaf))
    return ImageMeta(kind="zarr")


def levels(path) -> list:
    """List the levels of an OME-Zarr multiscale image.

    Parameters
    ----------
    path : str or os.PathLike
        The image's group (a store, or a group inside one; an array inside it names its
        group).

    Returns
    -------
    list of (str, tuple of int)
        ``(path of the level, its shape)``, full resolution first, as the ``multiscales``
        metadata lists them; empty when the path names no multiscale image or cannot be
        read.
    """
    try:
        zarr = _zarr()
        store, inner = split_store(path)
        root = zarr.open(store, mode="r")
        node = root[inner] if inner else root
        if hasattr(node, "shape"):  # an array: its group's levels
            inner = inner.rpartition("/")[0]
            node = root[inner] if inner else root
            if hasattr(node, "shape"):
                return []
        found = _multiscales(dict(node.attrs))
    except Exception:  # a listing is a hint, never the error itself
        return []
    if not found:
        return []
    prefix = "/".join(p for p in (store, inner) if p)
    out = []
    for d in found[0].get("datasets") or []:
        try:
            out.append((f"{prefix}/{d['path']}", tuple(node[d["path"]].shape)))
        except Exception:
            continue
    return out


def listed_levels(path, found: list | None = None) -> str:
    """Write the levels of an OME-Zarr image as ``path (h x w), ...``.

    Parameters
    ----------
    path : str or os.PathLike
        As for :func:`levels`.
    found : list of (str, tuple of int), optional
        The levels to write (default: all of :func:`levels`).

    Returns
    -------
    str
        The levels, comma-separated; ``""`` when there are none.
    """
    found = levels(path) if found is None else found
    return ", ".join(f"{p} ({' x '.join(map(str, s))})" for p, s in found)


def levels_hint(path, shape) -> str:
    """Name the smaller levels of the OME-Zarr image ``path`` belongs to, for an error.

    Parameters
    ----------
    path : str or os.PathLike
        The input that was read (a store, or a node inside one); any other path gives ``""``.
    shape : tuple of int
        The shape of the array that was read.

    Returns
    -------
    str
        A sentence (with a leading space) listing the levels with fewer pixels than
        ``shape`` and how to give one as the input; ``""`` when there are none.
    """
    if not in_zarr(path):
        return ""
    smaller = [(p, s) for p, s in levels(path) if int(np.prod(s)) < int(np.prod(shape))]
    if not smaller:
        return ""
    listed = listed_levels(path, smaller)
    return f" Its OME-Zarr pyramid has smaller levels: give one as the input: {listed}."


def _axes_json(meta, ndim: int) -> list:
    axes = meta.axes if len(meta.axes) == ndim else ""
    out = []
    for i in range(ndim):
        letter = axes[i] if axes else ("YX"[i - ndim + 2] if i >= ndim - 2 else "Q")
        if letter == "Q":
            out.append({"name": f"dim_{i}"})
            continue
        entry = {"name": letter.lower(), "type": _AXIS_TYPES[letter]}
        if letter in meta.units:
            entry["unit"] = _ngff_unit(meta.units[letter])
        out.append(entry)
    return out


def _ngff_unit(unit: str) -> str:
    """NGFF names units in full (``micrometer``), as OME-Zarr readers expect."""
    names = {"µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "s": "second"}
    return names.get(unit, unit)


def new_array(group, name: str, shape: tuple, chunks: tuple, dtype):
    """Create an array in a zarr group, in the group's format, chunks keyed ``a/b`` (NGFF).

    Parameters
    ----------
    group : zarr.Group
        The group (zarr 2 or 3 package, zarr format 2 or 3).
    name : str
        The array's name in the group.
    shape, chunks : tuple of int
        The array's and its chunks' shapes.
    dtype : numpy.dtype
        The array's data type.

    Returns
    -------
    zarr.Array
        The new array, filled with zeros.
    """
    if hasattr(group, "create_array"):  # zarr >= 3
        key = {"name": "v2", "separator": "/"} if group.metadata.zarr_format == 2 else None
        return group.create_array(
            name=name, shape=shape, chunks=chunks, dtype=dtype, chunk_key_encoding=key
        )
    return group.create_dataset(
        name, shape=shape, chunks=chunks, dtype=dtype, dimension_separator="/"
    )


def write_ome_zarr(path, labels: np.ndarray, meta=None, provenance: dict | None = None) -> str:
    """Write labels as an OME-Zarr image of one level (NGFF 0.4), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The store to write (``..._labels.ome.zarr``), local or URL; replaced if present.
    labels : ndarray of unsigned int
        The labels, any number of dimensions (2 to 5 for NGFF readers).
    meta : ImageMeta, optional
        The labels' axes, pixel sizes and units (:meth:`ImageMeta.for_labels`); without
        axes the last two are ``y``, ``x``.
    provenance : dict, optional
        JSON-able record of how the labels were made, stored as the ``napari_mmtseg``
        attribute.

    Returns
    -------
    str
        ``"ome-zarr"``.
    """

    zarr = _zarr()
    meta = meta or ImageMeta()
    labels = np.asarray(labels)
    axes = _axes_json(meta, labels.ndim)
    letters = [a["name"].upper() for a in axes]
    scale = [float(meta.scale.get(n, 1.0)) if n in meta.units else 1.0 for n in letters]
    attrs = {
        "multiscales": [
            {
                "version": "0.4",
                "name": "labels",
                "axes": axes,
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                ],
            }
        ],
        "image-label": {"version": "0.4"},
        "napari_mmtseg": json.loads(json.dumps(provenance or {}, default=str)),
    }
    chunks = tuple(min(s, 1 if i < labels.ndim - 2 else 1024) for i, s in enumerate(labels.shape))

    def _write(local: str) -> None:
        kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
        group = zarr.open_group(local, mode="w", **kw)
        array = new_array(group, "0", labels.shape, chunks, labels.dtype)
        array[...] = labels
        group.attrs.update(attrs)

    storage.atomic_write(path, _write)
    return "ome-zarr"
