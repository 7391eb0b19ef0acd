"""Zarr and OME-Zarr (NGFF) images in, OME-Zarr labels out.

A zarr store is read as one image: a single array, the full-resolution level of an
OME-Zarr multiscale image (``multiscales`` metadata, NGFF 0.4 or 0.5), or the largest
array of a plain group (a pyramid as napari's zarr reader opens one, level 0 first).
The array stays lazy (zarr reads the chunks the engine asks for). Labels of a zarr input
are written as an OME-Zarr image (NGFF 0.4, zarr format 2) of one level holding the
labels, with the input's axes, pixel sizes and units, and ``image-label`` metadata.

Needs ``zarr`` (the ``zarr`` extra); the layout is written by hand after the NGFF 0.4
specification (https://ngff.openmicroscopy.org/0.4/).
"""

from __future__ import annotations

import json

import numpy as np

from . import storage
from .image_meta import ImageMeta, canonical_unit

__all__ = ["is_zarr", "read_zarr_meta", "write_ome_zarr", "new_array"]

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


def _meta_from_ngff(ms: dict, ndim: int):
    """ImageMeta of the first level of one NGFF multiscale entry."""

    axes = ms.get("axes") or []
    names = [(a.get("name", "") if isinstance(a, dict) else str(a)).upper() for a in axes]
    letters = "".join(n if len(n) == 1 and n in "TCZYX" else "Q" for n in names)
    meta = ImageMeta(axes=letters if len(letters) == ndim else "", kind="ome-zarr")
    scale = []
    for t in ms["datasets"][0].get("coordinateTransformations") or []:
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
        The store: a local folder or an fsspec URL.

    Returns
    -------
    image : zarr.Array
        The full-resolution array, lazy (index it or pass it to
        :func:`napari_mmtseg.segment` as it is).
    meta : ImageMeta
        Axes, pixel sizes and units from the OME-Zarr metadata (``kind="ome-zarr"``);
        no axes for a plain zarr array or group.

    Raises
    ------
    ValueError
        When the store holds no array.
    ImportError
        When zarr is not installed.
    """

    zarr = _zarr()
    node = zarr.open(str(path), mode="r")
    if hasattr(node, "shape") and hasattr(node, "dtype"):  # a zarr array
        return node, ImageMeta(kind="zarr")
    attrs = dict(node.attrs)
    found = _multiscales(attrs)
    if found:
        image = node[found[0]["datasets"][0]["path"]]
        return image, _meta_from_ngff(found[0], image.ndim)
    arrays = [a for _, a in node.arrays()]
    if not arrays:
        raise ValueError(f"no array in the zarr group {path}")
    return max(arrays, key=lambda a: int(np.prod(a.shape))), ImageMeta(kind="zarr")


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
