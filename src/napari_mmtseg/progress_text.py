"""A run's progress in words, for a status line or a progress bar's postfix.

One wording for every front end (the napari widget's status line, the
command line's bars): each gets the same parts from :func:`progress_parts`.
"""

from __future__ import annotations

from .result import Progress

__all__ = ["progress_parts", "progress_text"]


def progress_parts(ev: Progress) -> dict[str, str]:
    """The parts of a progress event worth showing, in reading order.

    Parameters
    ----------
    ev : Progress
        A progress event of :func:`napari_mmtseg.iter_segment`.

    Returns
    -------
    dict of str to str
        ``"slice"`` (``"2/5"``, only for more than one slice), ``"iteration"``
        (``"40/300"``, over the whole run), ``"labels"`` (the current slice's
        label count) and ``"loss"`` (three decimals, only when the method
        reports one), as text.
    """
    parts = {}
    if ev.n_slices > 1:
        parts["slice"] = f"{ev.slice_index + 1}/{ev.n_slices}"
    parts["iteration"] = f"{ev.iteration}/{ev.total}"
    parts["labels"] = str(ev.n_labels)
    if "loss" in ev.losses:
        parts["loss"] = f"{ev.losses['loss']:.3f}"
    return parts


def progress_text(ev: Progress) -> str:
    """One line saying where a run is, e.g. ``"cpu: iteration 40/300, 6 labels, loss 0.812"``.

    Parameters
    ----------
    ev : Progress
        A progress event of :func:`napari_mmtseg.iter_segment`; its parts are those of
        :func:`progress_parts`.

    Returns
    -------
    str
        The device, then the slice (stacks only), the iteration, the label
        count and the loss (where the method reports one).
    """
    parts = progress_parts(ev)
    words = [f"slice {parts['slice']}"] if "slice" in parts else []
    words += [f"iteration {parts['iteration']}", f"{parts['labels']} labels"]
    if "loss" in parts:
        words.append(f"loss {parts['loss']}")
    return f"{ev.device}: {', '.join(words)}"
