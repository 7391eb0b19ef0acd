"""Value parsers of ``mmtseg`` options that the option builders share (:mod:`.cli_args`)."""

from __future__ import annotations

import argparse

__all__ = ["detail_arg"]


def detail_arg(text: str):
    """Parse ``--detail``: ``'auto'`` or a number in [0, 1].

    Parameters
    ----------
    text : str
        The option's value.

    Returns
    -------
    float or str
        The level of detail, or ``"auto"``.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        msg = f"expects 'auto' or a number in [0, 1], got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value
