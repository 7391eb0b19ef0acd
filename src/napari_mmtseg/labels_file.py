"""Label files out: TIFF (ImageJ, OME or plain) or OME-Zarr with the input's axes, pixel
sizes and units, written atomically; their names; the provenance they carry.

tifffile writes the ImageJ and OME-TIFF metadata, :mod:`.ngff` the OME-Zarr; this module
only carries the input's metadata (:class:`napari_mmtseg.io.ImageMeta`) to the labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import storage
from .image_meta import ImageMeta
from .ngff import in_zarr, is_zarr, split_store, write_ome_zarr
from .storage import atomic_write

__all__ = ["labels_name", "write_labels", "result_metadata"]


def labels_name(path) -> str:
    """Name the labels file of an input.

    Parameters
    ----------
    path : str or os.PathLike
        The input image, local or URL.

    Returns
    -------
    str
        ``<stem>_labels.tif``; ``<stem>_labels.ome.tif`` for an ``.ome.tif(f)`` and
        ``<stem>_labels.ome.zarr`` for a zarr store (labels in the input's format), with
        the node's path for a node inside one (``slide.ome.zarr/2``: ``slide_2_labels.ome.zarr``).
    """
    if in_zarr(path):  # labels of a zarr input are OME-Zarr
        store, node = split_store(path)
        stem = storage.name(store)
        stem = stem[: -len(".ome.zarr")] if stem.lower().endswith(".ome.zarr") else stem[:-5]
        return "_".join([stem] + node.split("/") * bool(node)) + "_labels.ome.zarr"
    name = Path(str(path)).name
    low = name.lower()
    for ext in (".ome.tiff", ".ome.tif"):
        if low.endswith(ext):
            return f"{name[: -len(ext)]}_labels.ome.tif"
    return f"{Path(name).stem}_labels.tif"


def _imagej_axes_ok(axes: str) -> bool:
    order = "TZCYX"
    return (
        bool(axes)
        and axes.endswith("YX")
        and all(a in order for a in axes)
        and list(axes) == sorted(axes, key=order.index)
    )


def _ome_axes_ok(axes: str) -> bool:
    return (
        bool(axes)
        and axes.endswith("YX")
        and all(a in "TZCYX" for a in axes)
        and len(set(axes)) == len(axes)
    )


def _ij_unit(unit: str) -> str:
    return "\\u00B5m" if unit == "µm" else unit.encode("ascii", "replace").decode()


def write_labels(path, labels: np.ndarray, meta=None, provenance: dict | None = None) -> str:
    """Write labels to a TIFF (or, for a ``.zarr`` path, OME-Zarr) file, atomically.

    With the ``meta`` of the labels (:meth:`ImageMeta.for_labels`): an ImageJ input
    gives an ImageJ hyperstack with the same axes, pixel size, unit, Z spacing and
    frame interval (OME-TIFF instead when the labels need 32 bits, which ImageJ TIFFs
    cannot hold); an OME-TIFF input gives an OME-TIFF with the same axes and physical
    sizes, and so does an OME-Zarr input written to a TIFF path; another TIFF's resolution
    tags are copied. Written under a temporary name,
    then renamed over ``path`` (:func:`napari_mmtseg.storage.atomic_write`), so a
    killed write never leaves half a file there.

    Parameters
    ----------
    path : str or os.PathLike
        The labels file, local or fsspec URL (``.tif``, ``.ome.tif``, ``.ome.zarr``).
    labels : ndarray of unsigned int
        The labels, any shape.
    meta : ImageMeta, optional
        The labels' axes, pixel sizes and units.
    provenance : dict, optional
        JSON-able record of the run, stored in the ImageJ ``Info`` property, the OME
        ``Description``, the plain TIFF's description or the OME-Zarr attributes.

    Returns
    -------
    str
        The format written: ``"imagej"``, ``"ome"``, ``"tiff"`` or ``"ome-zarr"``.
    """
    if is_zarr(path):
        return write_ome_zarr(path, labels, meta, provenance)
    import tifffile

    meta = meta or ImageMeta()
    info = json.dumps(provenance or {}, default=str)
    axes = meta.axes if len(meta.axes) == labels.ndim else ""
    kwargs: dict = {"photometric": "minisblack"}  # labels are never colour
    kind = "tiff"
    if meta.kind == "imagej" and _imagej_axes_ok(axes) and labels.dtype in (np.uint8, np.uint16):
        kind = "imagej"
        md = {"axes": axes, "Info": info}
        if "X" in meta.scale:
            kwargs["resolution"] = (
                1.0 / meta.scale["X"],
                1.0 / meta.scale.get("Y", meta.scale["X"]),
            )
            md["unit"] = _ij_unit(meta.units.get("X", "µm"))
        if "Z" in meta.scale and "Z" in axes:
            md["spacing"] = meta.scale["Z"]
        if "T" in meta.scale and "T" in axes:
            md["finterval"] = meta.scale["T"]
        kwargs.update(imagej=True, metadata=md)
    elif meta.kind in ("imagej", "ome", "ome-zarr") and _ome_axes_ok(axes):  # OME: sizes
        kind = "ome"
        md = {"axes": axes, "Description": info}
        for ax in "XYZ":
            if ax in meta.scale and ax in axes:
                md[f"PhysicalSize{ax}"] = meta.scale[ax]
                md[f"PhysicalSize{ax}Unit"] = meta.units.get(ax, "µm")
        if "T" in meta.scale and "T" in axes:
            md["TimeIncrement"], md["TimeIncrementUnit"] = meta.scale["T"], meta.units.get("T", "s")
        kwargs.update(ome=True, metadata=md)
    else:
        desc = {**(provenance or {}), **({"axes": axes} if axes else {})}
        kwargs.update(description=json.dumps(desc, default=str), metadata=None)
        if meta.resolution is not None:
            kwargs.update(resolution=meta.resolution, resolutionunit=meta.resolutionunit)
    atomic_write(path, lambda tmp: tifffile.imwrite(tmp, labels, **kwargs))
    return kind


def result_metadata(result, meta=None, **extra) -> dict:
    """Collect what a result carries, for the labels file and a napari layer's metadata.

    Parameters
    ----------
    result : SegmentationResult
        The run's result.
    meta : ImageMeta, optional
        The labels' meta (:meth:`ImageMeta.for_labels`).
    **extra
        More entries, e.g. ``source``.

    Returns
    -------
    dict
        ``result.metadata()`` (method, every parameter, seed, device, seconds,
        labels, version), the labels' ``axes``, ``pixel_size`` and ``units`` when
        known, and ``extra``.
    """
    out = result.metadata()
    if meta is not None and (meta.axes or meta.scale):
        out.update(meta.to_dict())
    out.update(extra)
    return out
