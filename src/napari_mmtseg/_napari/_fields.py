"""Which :class:`napari_mmtseg.Params` fields the dock widget shows, and how.

One :class:`Field` row per control. The widget builds each control with
magicgui from the field's type annotation in ``Params`` (int -> spin box,
float -> float spin box, bool -> check box, str with choices -> combo box),
fills it from ``make_params(method, preset)`` and hands its value back to the
engine under the field's name. Controls are enabled only for the methods
that use them.

To show a new ``Params`` field, add one row to :data:`MAIN` (shown under the
method) or :data:`ADVANCED` (the collapsed section), and its tooltip to
``_tooltips.TIPS``, e.g. ``Field("n_classes", "classes", min=0, max=1000, zero="auto",
zero_text="auto")``.

``zero`` is the ``Params`` value that 0 in a spin box stands for (``None``,
``"auto"``); ``special`` the one its lowest value stands for, shown as
``special_text``, where 0 is a value of its own (``texture_weight``: the
lowest value, shown as "auto", is None; 0 is off); ``tests/napari/test_widget.py``
fails while a ``Params`` field is neither in a table nor in :data:`NOT_SHOWN`.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from magicgui.widgets import create_widget

from .. import LEARNED_METHODS, Params
from ..params import OUTPUTS
from ._tooltips import TIPS

__all__ = [
    "Field",
    "MAIN",
    "ADVANCED",
    "NOT_SHOWN",
    "CLUSTERS",
    "make_widget",
    "to_param",
    "from_param",
    "clusters_param",
]

_UNSET = object()


@dataclass(frozen=True)
class Field:
    """How one ``Params`` field appears in the widget."""

    name: str  # the Params field (also the control's name)
    label: str = ""  # text next to the control; default: the name with spaces
    min: float = 0
    max: float = 10**6
    decimals: int = 0  # float fields: digits shown after the point
    step: float | None = None  # float fields: arrow-key step (default 10**-min(decimals, 2))
    choices: tuple = ()  # str fields: the values offered
    zero: Any = _UNSET  # the Params value that 0 in the spin box stands for (None, "auto")
    zero_text: str = ""  # said in the label: "(0: full size)"
    # the Params value that the spin box's lowest value (``min``, shown as ``special_text``)
    # stands for, where 0 is a value of its own (texture_weight: None = auto, 0 = off)
    special: Any = _UNSET
    special_text: str = ""
    methods: tuple = ()  # the methods that use it (() = all); disabled for the others

    @property
    def text(self) -> str:
        label = self.label or self.name.replace("_", " ")
        if self.special is not _UNSET:
            return f"{label} (lowest: {self.special_text})"
        return f"{label} (0: {self.zero_text})" if self.zero is not _UNSET else label


_MMT = ("mmt",)
#: main parameters, under the method (the cluster count, q or k, has its own control)
MAIN = (
    Field("n_classes", "classes", min=0, max=1000, zero="auto", zero_text="auto"),
    Field("output", choices=OUTPUTS),
    Field("max_iter", "iterations", min=1, max=100_000, methods=LEARNED_METHODS),
    Field("beta", "TV weight", max=100, decimals=2, methods=LEARNED_METHODS),
)
#: the "Advanced" section
ADVANCED = (
    Field("min_region_size", "min region size", min=0, max=10**9, zero=None, zero_text="auto"),
    Field("merge_threshold", "merge threshold", max=100, decimals=1),
    Field(
        "texture_weight",
        "texture weight",
        min=-0.01,
        max=10,
        decimals=2,
        special=None,
        special_text="auto",
    ),
    Field("line_width", "keep lines up to (px)", max=100, decimals=1),
    Field("refine", "refine boundaries"),
    Field("superpixel_size", "superpixel size", min=0, max=10**6, methods=_MMT),
    Field("scribble_weight", "scribble weight", max=100, decimals=2, methods=LEARNED_METHODS),
    Field(
        "train_size", min=0, max=16384, zero=None, zero_text="full size", methods=LEARNED_METHODS
    ),
    Field("n_conv", min=1, max=10, methods=LEARNED_METHODS),
    Field("lr", min=1e-4, max=10, decimals=4, step=0.01, methods=LEARNED_METHODS),
    Field("momentum", max=0.999, decimals=3, methods=LEARNED_METHODS),
    Field("min_labels", min=1, max=10_000, methods=LEARNED_METHODS),
    Field("alpha", max=0.9999, decimals=4, methods=_MMT),
    Field("soft_weight", max=1, decimals=2, methods=_MMT),
    Field("noise", max=1, decimals=3, methods=_MMT),
    Field("tol", max=1, decimals=4, step=0.001, methods=LEARNED_METHODS),
    Field("patience", min=1, max=100_000, methods=LEARNED_METHODS),
    Field("tile", min=64, max=16384, methods=LEARNED_METHODS),
    Field("n_segments", min=10, max=10**6, methods=("kanezaki2018",)),
    Field("compactness", min=0.01, max=10_000, decimals=2, methods=("kanezaki2018",)),
    Field("scale", min=1, max=100_000, decimals=1, methods=("felzenszwalb",)),
    Field("sigma", max=10, decimals=2, methods=("felzenszwalb",)),
    Field("min_size", min=1, max=10**6, methods=("felzenszwalb",)),
)
#: the cluster-count control: the Params field it sets, per method (None: not used)
CLUSTERS = {"kmeans": "k", "felzenszwalb": None, "multiotsu": None, "trainable": None}
#: Params fields the widget leaves at the preset's value, and why
NOT_SHOWN = {
    "q": "the cluster-count control",
    "k": "the cluster-count control",
    "padding": "an ablation switch (docs/method.md); Python or --set only",
    "ema_warmup": "an ablation switch (docs/method.md); Python or --set only",
    "infer_at": "an ablation switch (docs/method.md); Python or --set only",
    "final_net": "an ablation switch (docs/method.md); Python or --set only",
    "bf16": "a speed switch that depends on the CPU (docs/performance.md)",
    "fused": "a speed switch, automatic (on for CUDA)",
    "sync_every": "a speed switch, automatic (every step on the CPU, 10 on CUDA)",
    "stack": "its own control beside '3D / time' (_stack.py), with the stack axis (Z or T)",
}


def clusters_param(method: str) -> str | None:
    """The Params field ("q" or "k") the cluster-count control sets for ``method``."""
    return CLUSTERS.get(method, "q")


@lru_cache(maxsize=None)
def _types() -> dict:
    return typing.get_type_hints(Params)


def field_type(name: str) -> type:
    """The widget type of Params field ``name``: bool, int, float or str.
    ``int | None`` gives int; ``Literal["a", "b"]`` gives str."""
    hint = _types()[name]
    if typing.get_origin(hint) is typing.Literal:
        return str
    args = typing.get_args(hint) or (hint,)
    for kind in (bool, float, int, str):  # bool first: it is an int too
        if kind in args:
            return kind
    raise TypeError(f"Params.{name}: no widget for type {hint}")


def make_widget(f: Field):
    """The magicgui control of field ``f``, made from its type in ``Params``."""
    kind = field_type(f.name)
    opts: dict = {"tooltip": TIPS.get(f.name, "")}
    if kind is str:
        choices = f.choices or typing.get_args(_types()[f.name])
        opts["choices"] = tuple(choices)
    elif kind in (int, float):
        opts.update(min=kind(f.min), max=kind(f.max))
        if kind is float:
            opts["step"] = f.step or 10.0 ** -min(f.decimals, 2)
    label = "" if kind is bool else f.text
    if kind is bool:
        opts["text"] = f.text
    w = create_widget(annotation=kind, name=f.name, label=label, options=opts)
    if kind is float:
        w.native.setDecimals(f.decimals)
    if f.special is not _UNSET:
        w.native.setSpecialValueText(f.special_text)  # shown at the lowest value
    return w


def from_param(f: Field, value):
    """The control's value for a Params value (``f.zero`` shows as 0,
    ``f.special``, or its text, as the lowest value)."""
    if f.special is not _UNSET:
        if value is f.special or value == f.special_text:
            return f.min
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ValueError(
                f"{f.name} must be >= 0, or {f.special!r} / {f.special_text!r} "
                f"for the default, got {value!r}"
            )
    if f.zero is not _UNSET and value == f.zero:
        return 0
    return value


def to_param(f: Field, value):
    """The Params value for a control's value (0 means ``f.zero`` where set;
    the lowest value means ``f.special`` where set)."""
    if f.special is not _UNSET and isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= f.min:
            return f.special
        if value == 0:
            return 0.0  # not -0.0
    if f.zero is not _UNSET and value == 0:
        return f.zero
    return value


def unlisted() -> list[str]:
    """Params fields in no table and not in :data:`NOT_SHOWN` (should be empty)."""
    shown = {f.name for f in MAIN + ADVANCED} | set(NOT_SHOWN)
    return [f.name for f in fields(Params) if f.name not in shown]
