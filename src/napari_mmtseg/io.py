"""Image files in, label files out, keeping what a microscopist's file says
about its axes and pixel size. tifffile does the reading and writing of
ImageJ and OME-TIFF metadata; this module only carries it from the input to
the labels. No torch, Qt or napari.

- :func:`read_image` / :func:`read_image_meta`: jpg/png/bmp (imageio) or
  tif/tiff (tifffile), the latter with an :class:`ImageMeta`.
- :func:`write_labels`: labels as ImageJ TIFF, OME-TIFF or plain TIFF with
  the input's axes (less the channel axis), pixel sizes and units, written
  under a temporary name and renamed, so a reader never sees half a file.
- :func:`result_metadata`: the dict a result carries (the TIFF's provenance
  and a napari result layer's ``metadata``): how it was made and the axes,
  pixel sizes and units of its labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .ngff import is_zarr, read_zarr_meta, write_ome_zarr
from .storage import atomic_write, is_url, read_bytes

__all__ = [
    "ImageMeta",
    "read_image",
    "read_image_meta",
    "write_labels",
    "result_metadata",
    "labels_name",
    "canonical_unit",
]

# tifffile's RESUNIT codes -> micrometres per unit (1 = NONE: no unit)
_RESUNIT_UM = {2: 25400.0, 3: 10000.0, 4: 1000.0, 5: 1.0}
_UNIT_ALIASES = {
    "um": "µm",
    "micron": "µm",
    "microns": "µm",
    "micrometer": "µm",
    "micrometre": "µm",
    "\\u00b5m": "µm",
    "μm": "µm",
    "µm": "µm",
    "nanometer": "nm",
    "nanometre": "nm",
    "millimeter": "mm",
    "millimetre": "mm",
    "sec": "s",
    "second": "s",
    "seconds": "s",
}


def canonical_unit(name) -> str | None:
    """Spell a unit as napari and pint do.

    Parameters
    ----------
    name : str or None
        A unit as a file writes it (``"um"``, ``"micrometer"``, ``"\\u00b5m"``, ...).

    Returns
    -------
    str or None
        ``"µm"``, ``"nm"``, ``"s"``, ... or the name as given; None for none or pixels.
    """
    if name is None:
        return None
    s = str(name).strip()
    if not s or s.lower() in ("pixel", "pixels", "px", "none"):
        return None
    return _UNIT_ALIASES.get(s.lower(), s)


_unit = canonical_unit


@dataclass
class ImageMeta:
    """What an image file says about its array's axes and pixels.

    axes: one character per array axis, tifffile's codes (``T`` time, ``Z``
        depth, ``C`` channel, ``Y``, ``X``, ``S`` colour sample, ``Q``/``I``
        unknown); ``""`` when the file does not say (png, jpg).
    kind: ``"imagej"``, ``"ome"``, ``"tiff"`` (other TIFF) or ``"plain"``.
    scale: axis letter -> size of one pixel along it (``units[letter]``),
        e.g. ``{"Y": 0.25, "X": 0.25}`` for 0.25 um pixels, ``{"T": 2.0}``
        for 2 s between frames. Axes not listed have no known size.
    units: axis letter -> unit (``"µm"``, ``"nm"``, ``"s"``, ...).
    resolution, resolutionunit: a plain TIFF's XResolution/YResolution
        (pixels per unit) and ResolutionUnit tag as stored, copied to labels.
    """

    axes: str = ""
    kind: str = "plain"
    scale: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    resolution: tuple | None = None
    resolutionunit: int | None = None

    def for_labels(self, channel_axis: int | None, ndim: int | None = None) -> "ImageMeta":
        """The labels' meta: the channel axis (``channel_axis``, an axis of
        the input array; RGB's colour axis too) dropped from ``axes``, and its
        size and unit. ``ndim``: the input array's dims (checks ``axes``)."""
        axes = self.axes
        if ndim is not None and len(axes) != ndim:
            axes = ""  # the file's axes do not describe this array
        if axes and channel_axis is not None:
            c = int(channel_axis) % len(axes)
            letter = axes[c]
            axes = axes[:c] + axes[c + 1 :]
            scale = {k: v for k, v in self.scale.items() if k != letter}
            units = {k: v for k, v in self.units.items() if k != letter}
            return replace(self, axes=axes, scale=scale, units=units)
        return replace(self, axes=axes)

    @classmethod
    def from_layer(cls, layer, yx: tuple | None = None) -> "ImageMeta":
        """The meta of a napari layer's dims (its ``scale``, ``units`` and
        ``axis_labels``; an RGB layer's colour axis is not among them). An
        axis label t, z, c, y or x (any case) names the axis; other axes are
        ``Q`` except Y and X: the positions ``yx`` (from
        :func:`napari_mmtseg._input.slice_layout`, which never takes an axis
        of length 1), or the last two when not given. Sizes and units are kept
        where the unit is not napari's default ``pixel``. Duck-typed: no
        napari import."""
        scale = [float(v) for v in getattr(layer, "scale", ())]
        n = len(scale)
        labels = [str(v).strip().upper() for v in (getattr(layer, "axis_labels", None) or [""] * n)]
        units = [_unit(v) for v in (getattr(layer, "units", None) or [None] * n)]
        y, x = (n - 2, n - 1) if yx is None else (int(yx[0]) % n, int(yx[1]) % n)
        axes = "".join(
            lab if len(lab) == 1 and lab in "TZCYX" else ("Y" if i == y else "X" if i == x else "Q")
            for i, lab in enumerate(labels)
        )
        named = axes.replace("Q", "")
        meta = cls(axes=axes if len(set(named)) == len(named) else "", kind="napari")
        for a, v, u in zip(meta.axes, scale, units):
            if u is not None and a != "Q":
                meta.scale[a], meta.units[a] = v, u
        return meta

    def to_dict(self) -> dict:
        """JSON-able: ``{"axes": "TYX", "pixel_size": {...}, "units": {...}}``."""
        return {"axes": self.axes, "pixel_size": dict(self.scale), "units": dict(self.units)}

    def layer_properties(self, ndim: int) -> dict:
        """``scale``, ``units`` and ``axis_labels`` for a napari layer of
        ``ndim`` dims with these axes (1.0 and ``"pixel"`` where unknown);
        ``{}`` when the axes are not known or do not match ``ndim``."""
        if len(self.axes) != ndim:
            return {}
        return {
            "scale": tuple(float(self.scale.get(a, 1.0)) for a in self.axes),
            "units": tuple(self.units.get(a) or "pixel" for a in self.axes),
            "axis_labels": tuple(a.lower() for a in self.axes),
        }


def read_image(path) -> np.ndarray:
    """Read a jpg/png/bmp (imageio) or tif/tiff (tifffile) into a numpy array."""
    return read_image_meta(path)[0]


def read_image_meta(path) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file and what it says about its axes and pixel size.

    ``path``: a local path or an fsspec URL (``s3://...``; its bytes are read
    into memory first). Returns ``(array, ImageMeta)``; for a TIFF the array
    is tifffile's first series (what ``tifffile.imread`` gives) and
    ``ImageMeta.axes`` its axes.
    Raises what the readers raise (OSError, ValueError, ...) for a file that
    is missing or not an image.
    """
    if is_zarr(path):  # a zarr or OME-Zarr store: its full-resolution array, lazy
        return read_zarr_meta(path)
    source = path
    if is_url(path):  # an fsspec URL (s3://, gs://, file://, ...): read its bytes
        import io as _io

        source = _io.BytesIO(read_bytes(path))
    path = Path(str(path).split("://", 1)[-1])
    if path.suffix.lower() not in (".tif", ".tiff"):
        import imageio.v3 as iio

        if isinstance(source, Path | str):
            return np.asarray(iio.imread(source)), ImageMeta()
        return np.asarray(iio.imread(source.getvalue(), extension=path.suffix.lower())), ImageMeta()
    import tifffile

    with tifffile.TiffFile(source) as tif:
        series = tif.series[0]
        data = series.asarray()
        meta = ImageMeta(axes=series.axes if len(series.axes) == data.ndim else "", kind="tiff")
        page = tif.pages[0]
        try:
            if tif.is_imagej:
                _imagej_meta(tif, page, meta)
            elif tif.is_ome:
                _ome_meta(tif, meta)
            else:
                _tiff_meta(page, meta)
        except Exception:  # odd metadata never stops a read: the pixels are what matter
            meta = ImageMeta(axes=meta.axes, kind="tiff")
    return data, meta


def _imagej_meta(tif, page, meta: ImageMeta) -> None:
    meta.kind = "imagej"
    ij = tif.imagej_metadata or {}
    unit = _unit(ij.get("unit"))
    rx, ry = page.resolution
    if unit and rx > 0 and ry > 0:
        meta.scale.update(X=1.0 / rx, Y=1.0 / ry)
        meta.units.update(X=unit, Y=unit)
        if ij.get("spacing"):
            meta.scale["Z"], meta.units["Z"] = float(ij["spacing"]), unit
    if ij.get("finterval"):
        meta.scale["T"], meta.units["T"] = float(ij["finterval"]), "s"


def _ome_meta(tif, meta: ImageMeta) -> None:
    import tifffile

    meta.kind = "ome"
    image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
    for ax in "XYZ":
        size = pixels.get(f"PhysicalSize{ax}")
        if size:
            meta.scale[ax] = float(size)
            meta.units[ax] = _unit(pixels.get(f"PhysicalSize{ax}Unit", "µm")) or "µm"
    if pixels.get("TimeIncrement"):
        meta.scale["T"] = float(pixels["TimeIncrement"])
        meta.units["T"] = _unit(pixels.get("TimeIncrementUnit", "s")) or "s"


def _tiff_meta(page, meta: ImageMeta) -> None:
    unit = page.resolutionunit
    rx, ry = page.resolution
    if int(unit) in _RESUNIT_UM and rx > 0 and ry > 0:
        meta.resolution, meta.resolutionunit = (rx, ry), int(unit)
        um = _RESUNIT_UM[int(unit)]
        meta.scale.update(X=um / rx, Y=um / ry)
        meta.units.update(X="µm", Y="µm")


def labels_name(path) -> str:
    """``<stem>_labels.tif`` for an input file, ``<stem>_labels.ome.tif`` for an
    ``.ome.tif(f)`` (whose labels are OME-TIFF too)."""
    name = Path(str(path)).name
    low = name.lower()
    for ext in (".ome.tiff", ".ome.tif"):
        if low.endswith(ext):
            return f"{name[: -len(ext)]}_labels.ome.tif"
    if is_zarr(name):  # labels of a zarr input are OME-Zarr
        stem = name.rstrip("/")
        stem = stem[: -len(".ome.zarr")] if low.rstrip("/").endswith(".ome.zarr") else stem[:-5]
        return f"{stem}_labels.ome.zarr"
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


def write_labels(
    path, labels: np.ndarray, meta: ImageMeta | None = None, provenance: dict | None = None
) -> str:
    """Write ``labels`` (unsigned integers, any shape) to the TIFF ``path``.

    With the ``meta`` of the labels (:meth:`ImageMeta.for_labels`): an
    ImageJ input gives an ImageJ hyperstack with the same axes, pixel size,
    unit, Z spacing and frame interval (OME-TIFF instead when the labels need
    32 bits, which ImageJ TIFFs cannot hold); an OME-TIFF input gives an
    OME-TIFF with the same axes and physical sizes; another TIFF's resolution
    tags are copied. ``provenance`` (JSON-able) goes in the ImageJ ``Info``
    property, the OME ``Description`` or the plain TIFF's description.

    Written under a temporary name in the same folder, then renamed over
    ``path`` (:func:`os.replace`), so a killed write never leaves half a file
    at ``path``. Returns the format written: ``"imagej"``, ``"ome"`` or ``"tiff"``.
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
    elif meta.kind in ("imagej", "ome") and _ome_axes_ok(axes):
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


def result_metadata(result, meta: ImageMeta | None = None, **extra) -> dict:
    """What a result carries, for the labels file and a napari result layer's
    ``metadata``: ``result.metadata()`` (method, every parameter, seed,
    device, seconds, labels, version) plus the labels' ``axes``,
    ``pixel_size`` and ``units`` from ``meta`` (:meth:`ImageMeta.for_labels`)
    when known, plus ``extra`` (e.g. ``source``)."""
    out = result.metadata()
    if meta is not None and (meta.axes or meta.scale):
        out.update(meta.to_dict())
    out.update(extra)
    return out
