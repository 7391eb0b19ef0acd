"""The rules a :class:`~napari_mmtseg.params.Params` must meet: types, ranges and choices.

:func:`~napari_mmtseg.params.make_params` runs :func:`check_params` on every set of
parameters it builds, so a bad value is refused before any work with a message that names
the field. This module sits below ``params.py`` (it imports nothing of the package, so its
functions take any object with ``Params``' fields) and holds the choices of the fields that
have a fixed set of values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OUTPUTS", "STACK_MODES", "check_params"]

OUTPUTS = ("regions", "clusters")
#: how a stack is trained: one model for every slice, or each slice in turn
STACK_MODES = ("one_model", "per_slice")
#: the float fields: each a real, finite number before any range check (inf gave one label)
_FLOAT_FIELDS = (
    "lr",
    "momentum",
    "beta",
    "alpha",
    "soft_weight",
    "noise",
    "scribble_weight",
    "tol",
    "merge_threshold",
    "line_width",
    "compactness",
    "scale",
    "sigma",
)


def check_params(p) -> None:
    """Refuse parameters whose values are of the wrong type or out of range.

    The checks run in a fixed order (integers, the training numbers, the choices, the
    output stage's numbers); the first that fails raises.

    Parameters
    ----------
    p : Params
        The parameters to check.

    Raises
    ------
    ValueError
        For the first field whose value is not allowed, naming the field, what it must be
        and the value given.
    """
    _check_integers(p)
    _check_training_numbers(p)
    _check_choices(p)
    _check_output_numbers(p)


def _need(cond: bool, msg: str) -> None:
    """Raise ``ValueError(msg)`` unless ``cond``."""
    if not cond:
        raise ValueError(msg)


def _is_int(v) -> bool:
    """Whether ``v`` is an integer (Python's or numpy's), not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_integers(p) -> None:
    """The integer fields of the network, the training and the classical methods."""
    _need(_is_int(p.q) and p.q >= 2, f"q (max clusters) must be an integer >= 2, got {p.q!r}")
    _need(_is_int(p.n_conv) and p.n_conv >= 1, f"n_conv must be an integer >= 1, got {p.n_conv!r}")
    _need(
        _is_int(p.max_iter) and p.max_iter >= 1,
        f"max_iter must be an integer >= 1, got {p.max_iter!r}",
    )
    _need(
        all(_is_int(v) for v in (p.tile, p.patience, p.k, p.n_segments, p.min_size, p.min_labels)),
        "tile, patience, k, n_segments, min_size and min_labels must be integers",
    )
    _need(p.patience >= 1, f"patience must be >= 1, got {p.patience}")
    _need(
        p.sync_every is None or (_is_int(p.sync_every) and p.sync_every >= 1),
        f"sync_every must be None (automatic) or an integer >= 1, got {p.sync_every!r}",
    )


def _check_training_numbers(p) -> None:
    """Every float field finite, then the ranges of the optimiser's and training's numbers."""
    for name in _FLOAT_FIELDS:
        v = getattr(p, name)
        _need(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v),
            f"{name} must be a finite number, got {v!r}",
        )
    _need(0.0 <= p.soft_weight <= 1.0, f"soft_weight must be in [0, 1], got {p.soft_weight}")
    _need(p.noise >= 0 and p.tol >= 0, "noise and tol must be >= 0")
    _need(0.0 <= p.momentum < 1.0, f"momentum must be in [0, 1), got {p.momentum}")
    _need(0.0 <= p.alpha < 1.0, f"alpha must be in [0, 1), got {p.alpha}")
    _need(p.lr > 0, f"lr must be > 0, got {p.lr}")
    _need(p.beta >= 0, f"beta (TV weight) must be >= 0, got {p.beta}")
    _need(p.min_labels >= 1, f"min_labels must be >= 1, got {p.min_labels}")
    _need(
        p.train_size is None or p.train_size >= 8,
        f"train_size must be None or >= 8, got {p.train_size}",
    )
    _need(p.tile >= 64, f"tile must be >= 64, got {p.tile}")


def _check_choices(p) -> None:
    """The fields with a fixed set of values, and the output's class and region sizes."""
    _need(
        p.final_net in ("teachers", "teacher", "student"),
        f"final_net must be 'teachers', 'teacher' or 'student', got {p.final_net!r}",
    )
    _need(
        p.padding in ("zeros", "reflect", "replicate"),
        f"padding must be 'zeros', 'reflect' or 'replicate', got {p.padding!r}",
    )
    _need(
        p.infer_at in ("full", "train"), f"infer_at must be 'full' or 'train', got {p.infer_at!r}"
    )
    _need(p.k >= 1, f"k must be >= 1, got {p.k}")
    _need(p.stack in STACK_MODES, f"stack must be 'one_model' or 'per_slice', got {p.stack!r}")
    _need(p.output in OUTPUTS, f"output must be 'regions' or 'clusters', got {p.output!r}")
    _need(
        p.n_classes == "auto" or (_is_int(p.n_classes) and p.n_classes >= 1),
        f"n_classes must be 'auto' or an integer >= 1, got {p.n_classes!r}",
    )
    _need(
        p.min_region_size is None or (_is_int(p.min_region_size) and p.min_region_size >= 1),
        "min_region_size must be None (automatic) or an integer >= 1 (pixels), "
        f"got {p.min_region_size!r}",
    )


def _check_output_numbers(p) -> None:
    """The numbers of the scribble loss, the output stage and the classical methods."""
    _need(p.scribble_weight >= 0, f"scribble_weight must be >= 0, got {p.scribble_weight}")
    _need(p.merge_threshold >= 0, f"merge_threshold must be >= 0, got {p.merge_threshold}")
    _need(
        p.texture_weight is None
        or (
            isinstance(p.texture_weight, (int, float, np.number))
            and not isinstance(p.texture_weight, bool)
            and 0 <= p.texture_weight < np.inf
        ),
        f"texture_weight must be 'auto' or a finite number >= 0, got {p.texture_weight!r}",
    )
    _need(p.line_width >= 0, f"line_width must be >= 0 (pixels; 0: off), got {p.line_width}")
    _need(
        _is_int(p.superpixel_size) and p.superpixel_size >= 0,
        f"superpixel_size must be an integer >= 0 (pixels), got {p.superpixel_size!r}",
    )
    _need(p.scale > 0, f"scale must be > 0, got {p.scale}")
