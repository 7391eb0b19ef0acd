"""What an image file says about its axes and pixel size: :class:`ImageMeta` and the units'
spelling (:func:`canonical_unit`). Read by :mod:`.io` and :mod:`.ngff`, written to label
files by :mod:`.labels_file`. No torch, Qt or napari.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["ImageMeta", "canonical_unit"]

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
        units = [canonical_unit(v) for v in (getattr(layer, "units", None) or [None] * n)]
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
