"""Image files in, label files out, keeping what a microscopist's file says
about its axes and pixel size. tifffile does the reading and writing of
ImageJ and OME-TIFF metadata; this module only carries it from the input to
the labels. No torch, Qt or napari.

- :func:`read_image` / :func:`read_image_meta`: jpg/png/bmp (imageio) or
  tif/tiff (tifffile), the latter with an :class:`~.image_meta.ImageMeta` (:mod:`.image_meta`,
  importable from here too).
- zarr and OME-Zarr stores: :mod:`.ngff`, through :func:`read_image_meta`.
- :func:`write_labels`, :func:`labels_name`, :func:`result_metadata`: the labels files
  (:mod:`.labels_file`, importable from here too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .image_meta import ImageMeta, canonical_unit
from .labels_file import labels_name, result_metadata, write_labels
from .ngff import in_zarr, read_zarr_meta
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
        memory first). A zarr store (``.zarr``, ``.ome.zarr``), or a node inside one
        (``slide.ome.zarr/2``: that level of a pyramid), is opened lazily
        (:func:`napari_mmtseg.ngff.read_zarr_meta`).

    Returns
    -------
    image : numpy.ndarray or zarr.Array
        The pixels; for a TIFF tifffile's first series (what ``tifffile.imread``
        gives; a lazy zarr view of it when it would fill more than a quarter of the
        available RAM), for a zarr store its full-resolution array.
    meta : ImageMeta
        Its axes, pixel sizes and units where the file says them.

    Raises
    ------
    OSError, ValueError
        What the readers raise for a file that is missing or not an image.
    MemoryError
        Without zarr installed, for a TIFF whose pixels, decoded, would not fit in 80 % of
        the available RAM (checked from its header, before any pixel is read; with zarr, a
        TIFF of more than a quarter of it is returned as a lazy zarr array).
    """
    if in_zarr(path):  # a zarr or OME-Zarr store (or a level of one): an array, lazy
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
        lazy = _read_lazily(path, series.shape, series.dtype)
        data = None if lazy else series.asarray()
        ndim = len(series.shape)
        meta = ImageMeta(axes=series.axes if len(series.axes) == ndim else "", kind="tiff")
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
    if lazy:  # a zarr view of the file's first series: the run reads it slice by slice
        import zarr

        if hasattr(source, "seek"):  # a URL's bytes: TiffFile left the stream past its header
            source.seek(0)
        store = tifffile.imread(source, aszarr=True, series=0, level=0)
        # a stream's store is not flagged read-only (nothing here writes to it)
        data = zarr.open(store, mode="r" if store.read_only else "r+")
    return data, meta


def _read_lazily(path, shape: tuple, dtype) -> bool:
    """Whether a TIFF's pixels are read lazily (slice by slice, through zarr), from its header.

    A compressed or sparse TIFF can declare far more pixels than its bytes on disk: read
    whole, it took all the memory before the run's memory check could refuse it. Pixels that
    would take more than a quarter of the available RAM decoded are read lazily (the run's
    check then comes first); without zarr installed, those that would take more than 80 % are
    refused (MemoryError), the rest read whole; zarr 2, which tifffile's view does not take,
    counts as not installed.
    """
    import torch

    from .memory import available_bytes

    need = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    free = available_bytes(torch.device("cpu"))
    if free is None or need <= 0.25 * free:
        return False
    if not _tiff_zarr_usable():
        if need <= 0.8 * free:
            return False
        size = " x ".join(str(int(n)) for n in shape)
        raise MemoryError(
            f"{path} holds {size} {np.dtype(dtype)} pixels, {need / 2**30:.1f} GiB decoded, "
            f"more than the {free / 2**30:.1f} GiB of RAM available: it is not read. Segment "
            "a crop or a downscaled copy, or install zarr 3 (pip install 'zarr>=3') to read "
            "it slice by slice."
        ) from None
    return True


def _tiff_zarr_usable() -> bool:
    """Whether zarr is installed in a version tifffile's zarr view takes (3 or later)."""
    try:
        import zarr
    except ImportError:
        return False
    try:
        return int(str(zarr.__version__).split(".")[0]) >= 3
    except ValueError:
        return False


def _imagej_meta(tif, page, meta: ImageMeta) -> None:
    meta.kind = "imagej"
    ij = tif.imagej_metadata or {}
    unit = canonical_unit(ij.get("unit"))
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
            meta.units[ax] = canonical_unit(pixels.get(f"PhysicalSize{ax}Unit", "µm")) or "µm"
    if pixels.get("TimeIncrement"):
        meta.scale["T"] = float(pixels["TimeIncrement"])
        meta.units["T"] = canonical_unit(pixels.get("TimeIncrementUnit", "s")) or "s"


def _tiff_meta(page, meta: ImageMeta) -> None:
    unit = page.resolutionunit
    rx, ry = page.resolution
    if int(unit) in _RESUNIT_UM and rx > 0 and ry > 0:
        meta.resolution, meta.resolutionunit = (rx, ry), int(unit)
        um = _RESUNIT_UM[int(unit)]
        meta.scale.update(X=um / rx, Y=um / ry)
        meta.units.update(X="µm", Y="µm")
