"""Image files in, label files out, keeping what a microscopist's file says
about its axes and pixel size. tifffile does the reading and writing of
ImageJ and OME-TIFF metadata; this module only carries it from the input to
the labels. No torch, Qt or napari.

- :func:`read_image` / :func:`read_image_meta`: jpg/png/bmp (imageio) or
  tif/tiff (tifffile), the latter with an :class:`ImageMeta`.
- zarr and OME-Zarr stores: :mod:`.ngff`, through :func:`read_image_meta`.
- :func:`write_labels`, :func:`labels_name`, :func:`result_metadata`: the labels files
  (:mod:`.labels_file`, importable from here too).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .ngff import is_zarr, read_zarr_meta
from .storage import is_url, read_bytes

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
        """Return the labels' meta: this one less the channel axis, its size and unit.

        Parameters
        ----------
        channel_axis : int or None
            The input array's axis that holds channels (RGB's colour axis too); None
            for none.
        ndim : int, optional
            The input array's dimensions: axes that do not match them are dropped.

        Returns
        -------
        ImageMeta
            A copy with ``axes``, ``scale`` and ``units`` of the labels' axes.
        """
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
        """Build the meta of a napari layer's dims (duck-typed: no napari import).

        An axis label t, z, c, y or x (any case) names the axis; other axes are ``Q``
        except Y and X. Sizes and units are kept where the unit is not napari's
        default ``pixel``.

        Parameters
        ----------
        layer : napari.layers.Layer
            Anything with ``scale`` and optionally ``units`` and ``axis_labels`` (an
            RGB layer's colour axis is not among its dims).
        yx : tuple of int, optional
            The positions of Y and X (the engine's slice layout, which never takes an
            axis of length 1); default: the last two.

        Returns
        -------
        ImageMeta
            ``kind="napari"``; no axes when two axes would get the same letter.
        """
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
        """Return the meta as a JSON-able dict.

        Returns
        -------
        dict
            ``{"axes": "TYX", "pixel_size": {...}, "units": {...}}``.
        """
        return {"axes": self.axes, "pixel_size": dict(self.scale), "units": dict(self.units)}

    def layer_properties(self, ndim: int) -> dict:
        """Return ``scale``, ``units`` and ``axis_labels`` for a napari layer.

        Parameters
        ----------
        ndim : int
            The layer's dimensions.

        Returns
        -------
        dict
            The three properties (1.0 and ``"pixel"`` where unknown); ``{}`` when the
            axes are not known or do not match ``ndim``.
        """
        if len(self.axes) != ndim:
            return {}
        return {
            "scale": tuple(float(self.scale.get(a, 1.0)) for a in self.axes),
            "units": tuple(self.units.get(a) or "pixel" for a in self.axes),
            "axis_labels": tuple(a.lower() for a in self.axes),
        }


def read_image(path) -> np.ndarray:
    """Read an image file or zarr store into a numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        A jpg/png/bmp (imageio), tif/tiff (tifffile) or zarr store, local or URL.

    Returns
    -------
    numpy.ndarray
        The pixels (a zarr store's full-resolution level, read whole).
    """
    return np.asarray(read_image_meta(path)[0])


def read_image_meta(path) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file and what it says about its axes and pixel size.

    Parameters
    ----------
    path : str or os.PathLike
        A local path or an fsspec URL (``s3://...``; a file's bytes are read into
        memory first). A zarr store (``.zarr``, ``.ome.zarr``) is opened lazily
        (:func:`napari_mmtseg.ngff.read_zarr_meta`).

    Returns
    -------
    image : numpy.ndarray or zarr.Array
        The pixels; for a TIFF tifffile's first series (what ``tifffile.imread``
        gives), for a zarr store its full-resolution array.
    meta : ImageMeta
        Its axes, pixel sizes and units where the file says them.

    Raises
    ------
    OSError, ValueError
        What the readers raise for a file that is missing or not an image.
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


# the labels files: kept importable from here
from .labels_file import labels_name, result_metadata, write_labels  # noqa: E402
