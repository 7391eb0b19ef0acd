"""What ``mmtseg`` accepts: the value parsers its option builders share (:mod:`.cli_args`)
and :class:`CLIError`, the usage error every command raises."""

from __future__ import annotations

import argparse

__all__ = ["CLIError", "channel_axis_arg", "detail_arg", "positive_int"]


class CLIError(Exception):
    """A usage error: printed as one line, exit status 2."""


def _word_or(text: str, word: str, parse, expects: str):
    """Return ``word`` when ``text`` is that word (any case), else ``parse(text)``.

    Parameters
    ----------
    text : str
        The option's value.
    word : str
        The one word the option also takes, lower case.
    parse : callable
        Turns any other value into the option's value; raises ValueError when it cannot.
    expects : str
        What the option takes, for the error message.

    Returns
    -------
    object
        ``word``, or what ``parse`` returned.

    Raises
    ------
    argparse.ArgumentTypeError
        When ``parse`` raises ValueError.
    """
    if text.strip().lower() == word:
        return word
    try:
        return parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects {expects}, got {text!r}") from None


def _fraction(text: str) -> float:
    """Parse a number in [0, 1]; ValueError for anything else (NaN included)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(text)
    return value


def detail_arg(text: str):
    """Parse ``--detail``: ``'auto'`` or a number in [0, 1].

    Parameters
    ----------
    text : str
        The value given to ``--detail``.

    Returns
    -------
    float or str
        The level of detail, or ``"auto"``.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    return _word_or(text, "auto", _fraction, "'auto' or a number in [0, 1]")


def positive_int(text: str) -> int:
    """Parse a count of at least 1 (``--threads``).

    Parameters
    ----------
    text : str
        The value given.

    Returns
    -------
    int
        The count.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything but an integer >= 1.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects an integer of at least 1, got {text!r}")
    return value


def channel_axis_arg(text: str):
    """Parse ``--channel-axis``: an integer axis or ``'none'``.

    Parameters
    ----------
    text : str
        The value given to ``--channel-axis``.

    Returns
    -------
    int or str
        The axis, or ``"none"``.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    return _word_or(text, "none", int, "an axis number or 'none'")
