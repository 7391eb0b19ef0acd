"""Methods, presets and their parameters: :class:`Params` and :func:`make_params`.

Also the ``KEY=VALUE`` overrides of the command line (:func:`parse_overrides`). The rules
each field must meet live in :mod:`napari_mmtseg.params_check`, with the choices of
``output`` and ``stack`` (:data:`OUTPUTS`, :data:`STACK_MODES`, importable from here too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .params_check import OUTPUTS, STACK_MODES, check_params

__all__ = [
    "METHODS",
    "LEARNED_METHODS",
    "check_learned",
    "check_fields",
    "CLASSICAL_METHODS",
    "SCRIBBLE_METHODS",
    "LABELLING_FIELDS",
    "READ_ONLY_BY",
    "OUTPUTS",
    "STACK_MODES",
    "default_output",
    "PRESETS",
    "Params",
    "make_params",
    "default_preset",
]

LEARNED_METHODS = ("mmt", "kim2020", "kanezaki2018")
CLASSICAL_METHODS = ("kmeans", "felzenszwalb", "multiotsu")
#: supervised by scribbles only: scikit-image's trainable segmentation (a pixel classifier)
SCRIBBLE_METHODS = ("trainable",)
METHODS = LEARNED_METHODS + CLASSICAL_METHODS + SCRIBBLE_METHODS
#: Params fields read only when trained networks label an image (inference and output
#: stage): applying a model may change them; every other field of a model was fixed by its
#: training (``n_classes`` too: a learned run stops training at that many labels)
LABELLING_FIELDS = (
    "final_net",
    "infer_at",
    "tile",
    "output",
    "min_region_size",
    "merge_threshold",
    "texture_weight",
    "line_width",
    "refine",
)
#: Params fields that only some methods read, and which (every other field: all methods)
READ_ONLY_BY = {
    **dict.fromkeys(
        ("alpha", "ema_warmup", "soft_weight", "noise", "superpixel_size", "final_net"), ("mmt",)
    ),
    **dict.fromkeys(("n_segments", "compactness"), ("kanezaki2018",)),
    "k": ("kmeans",),
    **dict.fromkeys(("scale", "sigma", "min_size"), ("felzenszwalb",)),
}


def check_learned(method: str) -> None:
    """Refuse a method that trains no model (for training a model to keep or apply).

    Parameters
    ----------
    method : str
        A method's name.

    Raises
    ------
    ValueError
        When ``method`` is not one of :data:`LEARNED_METHODS`.
    """
    if method not in LEARNED_METHODS:
        raise ValueError(
            f"only a learned method ({', '.join(LEARNED_METHODS)}) trains a model, not {method!r}"
        )


@dataclass(frozen=True)
class Params:
    """Every parameter of a run; the defaults are the paper preset's.

    Build one with :func:`make_params` (a preset, the method's adjustments, overrides,
    checked). Fields that only some methods read say which.

    Attributes
    ----------
    q : int, default 100
        Network output channels: the most clusters a learned run can produce.
    n_conv : int, default 2
        3x3 conv blocks before the 1x1 head (2 + head = the paper's M = 3 layers).
    padding : str, default "reflect"
        Conv padding: ``"reflect"`` (no label along the border only), ``"replicate"`` or
        ``"zeros"`` (the reference code's).
    max_iter : int, default 1000
        Training steps per slice at most (the paper's T).
    lr : float, default 0.1
        SGD learning rate.
    momentum : float, default 0.9
        SGD momentum, in [0, 1).
    beta : float, default 1.0
        Weight of the total-variation / continuity term (Kim 2020's mu); 0 for Kanezaki 2018.
    min_labels : int, default 3
        Training stops once the labels fall to this many.
    alpha : float, default 0.999
        MMT: EMA momentum of the teachers, in [0, 1).
    ema_warmup : bool, default True
        MMT: the EMA momentum at step t is ``min(1 - 1/(t + 1), alpha)``.
    soft_weight : float, default 0.0
        MMT: weight, in [0, 1], of a soft cross-entropy toward the other teacher's softmax.
    noise : float, default 0.0
        MMT: standard deviation of independent Gaussian input noise per student (intensity
        units of the normalised image, [0, 1]).
    superpixel_size : int, default 0
        MMT: cross-entropy targets made constant on SLIC superpixels of about this many
        training-view pixels (0: off).
    final_net : str, default "teachers"
        MMT: final labels from ``"teachers"`` (both vote), ``"teacher"`` (teacher 0) or
        ``"student"``.
    scribble_weight : float, default 0.5
        Learned methods with scribbles: weight of the cross-entropy toward the scribbled
        classes (Kim 2020 eq. 6).
    tol : float, default 0.0
        Stop once fewer than this fraction of pixels changed label for ``patience`` steps
        in a row (0: off).
    patience : int, default 20
        Steps in a row for ``tol``.
    train_size : int or None, default None
        Longest side, in pixels, of the reduced copy that training uses (None: full size);
        the labels are still computed at full size.
    infer_at : str, default "full"
        Labels from the network at ``"full"`` size, or on the ``"train"`` view with its
        softmax map upsampled bilinearly (an ablation, docs/method.md; the same as
        ``"full"`` when the training view is the full size).
    tile : int, default 1024
        Inference tile side, in full-resolution pixels (bounds memory).
    bf16 : bool, default False
        Train in bfloat16 autocast (inference stays float32).
    fused : bool or None, default None
        MMT's students in one grouped call (None: on CUDA only).
    stack : str, default "one_model"
        A stack (Z or T slices): ``"one_model"`` trains one model on a sample of its slices
        (``max_iter`` steps in all, each on one slice) and labels every slice with it, one
        id per class through the stack; ``"per_slice"`` trains on each slice in turn
        (``max_iter`` each, starting from the previous slice's networks) and matches ids
        by overlap with the few slices before (:func:`napari_mmtseg.align_labels`) (docs/usage.md,
        "3D and time-lapse data": when to use which).
    sync_every : int or None, default None
        Learned methods: training steps per host read. The losses, label counts and the
        stopping rule are read every ``sync_every`` steps (a stop can come up to
        ``sync_every - 1`` steps late), and MMT's Hungarian assignment is computed every
        ``sync_every`` steps, its mapping reused between. None: 1 on the CPU (every step,
        as in the paper), 10 on CUDA (docs/performance.md, "The GPU loop").
    output : str, default "regions"
        ``"regions"`` (one id per connected region) or ``"clusters"`` (one id per class).
    n_classes : int or str, default "auto"
        Classes the output ends with, or ``"auto"`` (what the clean-up leaves).
    min_region_size : int or None, default None
        Pixels; smaller pieces join a neighbour (None: 1/5000 of the slice, at least 16).
    merge_threshold : float, default 3.0
        Adjacent regions whose boundary is weaker than this merge (feature units; 0: off).
    texture_weight : float or None, default None
        A boundary counts as weak up to this times the texture beside it (None: 0.5 on
        colour images, 0 on grey and multichannel ones).
    line_width : float, default 8.0
        Thin lines (membranes) up to this mean thickness, in pixels, never merge into the
        regions they separate (0: off).
    refine : bool, default True
        Transition bands given away and boundaries snapped to the image's edges.
    n_segments : int, default 10000
        Kanezaki 2018: SLIC superpixels per slice.
    compactness : float, default 100.0
        Kanezaki 2018: SLIC compactness.
    k : int, default 8
        k-means: clusters.
    scale : float, default 500.0
        Felzenszwalb: scale (larger: larger regions).
    sigma : float, default 0.8
        Felzenszwalb: Gaussian smoothing before segmenting, in pixels.
    min_size : int, default 20
        Felzenszwalb: smallest region, in pixels.
    """

    # network and optimiser (learned methods)
    q: int = 100
    n_conv: int = 2
    padding: str = "reflect"
    max_iter: int = 1000
    lr: float = 0.1
    momentum: float = 0.9
    beta: float = 1.0
    min_labels: int = 3
    # MMT only
    alpha: float = 0.999
    ema_warmup: bool = True
    soft_weight: float = 0.0
    noise: float = 0.0
    superpixel_size: int = 0
    final_net: str = "teachers"
    # scribbles (any learned method)
    scribble_weight: float = 0.5
    # stopping on convergence
    tol: float = 0.0
    patience: int = 20
    # speed
    train_size: int | None = None
    infer_at: str = "full"
    tile: int = 1024
    bf16: bool = False
    fused: bool | None = None
    # stacks
    stack: str = "one_model"
    sync_every: int | None = None
    # output stage, every method
    output: str = "regions"
    n_classes: int | str = "auto"
    min_region_size: int | None = None
    merge_threshold: float = 3.0
    texture_weight: float | None = None
    line_width: float = 8.0
    refine: bool = True
    # Kanezaki 2018
    n_segments: int = 10000
    compactness: float = 100.0
    # classical baselines
    k: int = 8
    scale: float = 500.0
    sigma: float = 0.8
    min_size: int = 20

    def to_dict(self) -> dict:
        """Every field as a plain dict.

        Returns
        -------
        dict
            Field name -> value (JSON-able).
        """
        return asdict(self)


_PAPER = Params()
_FAST = Params(q=32, max_iter=300, train_size=128, tol=0.002, patience=20)

PRESETS = {"paper": _PAPER, "fast": _FAST}

# the classical baselines as published: no merging, no size filter (Felzenszwalb has its own
# min_size); the clustering ones give classes, Felzenszwalb regions
_AS_PUBLISHED = {
    "output": "clusters",
    "min_region_size": 1,
    "merge_threshold": 0.0,
    "refine": False,
}
# Per-method adjustments that hold for every preset (reference-code defaults).
_METHOD_DEFAULTS = {
    "mmt": {},
    "kim2020": {"beta": 1.0},
    "kanezaki2018": {"beta": 0.0},
    "kmeans": _AS_PUBLISHED,
    "felzenszwalb": _AS_PUBLISHED,
    "multiotsu": _AS_PUBLISHED,
    "trainable": _AS_PUBLISHED,
}


def default_output(method: str) -> str:
    """The output mode a method gives unless told otherwise.

    Parameters
    ----------
    method : str
        A method name (:data:`METHODS`).

    Returns
    -------
    str
        ``"regions"`` or ``"clusters"``.
    """
    return _METHOD_DEFAULTS.get(method, {}).get("output", _PAPER.output)


def check_fields(overrides, also=()) -> None:
    """Refuse keywords that are no :class:`Params` field.

    Parameters
    ----------
    overrides : mapping
        Keyword arguments meant as :class:`Params` fields.
    also : sequence of str, optional
        The caller's own keywords, named in the message beside the fields.

    Raises
    ------
    TypeError
        For a keyword that is no field, naming the known ones.
    """
    names = {f.name for f in fields(Params)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        known = ", ".join(list(also) + sorted(names - set(also)))
        raise TypeError(f"Unknown parameter(s) {', '.join(unknown)}; known: {known}.")


def make_params(method: str, preset: str = "paper", **overrides) -> Params:
    """The parameters of a run: a preset, the method's adjustments, then overrides, checked.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    preset : str, optional
        ``"paper"`` (the paper's settings) or ``"fast"`` (q=32, max_iter=300,
        train_size=128, tol=0.002: for CPUs).
    **overrides
        Fields of :class:`Params`. None leaves a field at the preset's value, except for
        ``train_size``, ``min_region_size`` and ``texture_weight``, where None is a value;
        ``texture_weight="auto"`` means None.

    Returns
    -------
    Params
        The checked parameters.

    Raises
    ------
    ValueError
        For an unknown method or preset, or a value out of its range.
    TypeError
        For an unknown field.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    check_fields(overrides)
    p = replace(PRESETS[preset], **_METHOD_DEFAULTS[method])
    nullable = ("train_size", "min_region_size", "texture_weight")  # None is a value for these
    if overrides.get("texture_weight") == "auto":  # what the widget and docs call None
        overrides = {**overrides, "texture_weight": None}
    p = replace(p, **{k: v for k, v in overrides.items() if v is not None or k in nullable})
    check_params(p)
    return p


def default_preset(device_type: str) -> str:
    """The preset used when none is chosen (the API, the GUI and the command line).

    Parameters
    ----------
    device_type : str
        ``torch.device.type``: ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    str
        ``"paper"`` on a GPU, ``"fast"`` on the CPU (the paper preset takes hours per image
        there; see docs/performance.md).
    """
    return "fast" if device_type == "cpu" else "paper"


# --------------------------------------------------------------------------- KEY=VALUE overrides

__all__ += ["parse_value", "parse_overrides"]


def parse_value(text: str):
    """Turn the text of one override value into a Python value.

    Parameters
    ----------
    text : str
        The value as typed, e.g. ``"10"``, ``"0.5"``, ``"true"``, ``"none"``, ``"auto"``.

    Returns
    -------
    int or float or bool or None or str
        ``10``, ``0.5``, ``True`` (also ``yes``, ``on``), ``False`` (``no``, ``off``),
        ``None`` (``null``), else the text itself.
    """
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_overrides(items) -> dict:
    """Parse ``KEY=VALUE`` overrides of :class:`Params` fields (the CLI's ``--set``).

    Parameters
    ----------
    items : iterable of str or None
        E.g. ``["max_iter=10", "merge-threshold=2"]``; ``-`` in a key reads as ``_``.

    Returns
    -------
    dict
        ``{"max_iter": 10, "merge_threshold": 2}``, values by :func:`parse_value`. The
        names are not checked here: :func:`make_params` refuses unknown ones.

    Raises
    ------
    ValueError
        When an item has no ``=`` or an empty key.
    """
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = parse_value(value)
    return out
