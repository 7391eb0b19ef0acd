"""The form's stack controls: one model or every slice on its own, and what the stack axis is.

``stack`` sets :attr:`napari_mmtseg.Params.stack`; ``stack_axis`` says whether a stack axis
is depth (Z: a region that spans slices is one id) or time (T: regions per frame), read from
the layer's axis labels by default. :func:`stack_axes` turns it into the ``axes`` letters
:func:`napari_mmtseg.iter_segment` takes.
"""

from __future__ import annotations

from magicgui.widgets import ComboBox

__all__ = ["STACK_AXIS_CHOICES", "StackControls", "stack_axes"]

#: the ``stack_axis`` choices: (label, value)
STACK_AXIS_CHOICES = (
    ("from axis labels", "auto"),
    ("Z stack (3D regions)", "z"),
    ("time-lapse (per frame)", "t"),
)
#: napari axis labels (lower case) taken as depth, and as time
DEPTH_LABELS = ("z", "depth")
TIME_LABELS = ("t", "time", "frame")


def stack_axes(layout, axis_labels, choice: str) -> str | None:
    """The ``axes`` letters of a run's labels: Y and X, and Z or T for each stack axis.

    Parameters
    ----------
    layout : SliceLayout
        How the engine cuts the image into 2D slices (``Job.slices``).
    axis_labels : sequence of str or None
        The labels layer's axis labels (one per axis of the labels), or None.
    choice : str
        ``"auto"``: an axis labelled ``z`` (or ``depth``) is Z, one labelled ``t``,
        ``time`` or ``frame`` is T, and with no such label the engine's rule holds
        (a 4D stack is (T, Z, Y, X), a 3D one frames); ``"z"``: the last stack axis is Z
        (others T); ``"t"``: every stack axis is T.

    Returns
    -------
    str or None
        One letter per axis of the labels (``"ZYX"``, ``"TZYX"``), or None for the
        engine's rule (no stack, or ``"auto"`` without a telling label).
    """
    spatial = list(layout.spatial_axes)
    stack = [spatial.index(a) for a in layout.stack_axes]
    if not stack:
        return None
    letters = ["Q"] * len(spatial)  # an axis of length 1: neither a stack axis nor Y, X
    letters[spatial.index(layout.yx_axes[0])] = "Y"
    letters[spatial.index(layout.yx_axes[1])] = "X"
    if choice == "auto":
        names = [str(n).lower() for n in (axis_labels or ())]
        if len(names) != len(spatial):
            return None
        if not any(names[k] in DEPTH_LABELS + TIME_LABELS for k in stack):
            return None
        for k in stack:
            letters[k] = "Z" if names[k] in DEPTH_LABELS else "T"
        return "".join(letters)
    for k in stack:
        letters[k] = "T"
    if choice == "z":
        letters[stack[-1]] = "Z"
    return "".join(letters)


class StackControls:
    """The two stack controls (magicgui ComboBoxes) of the form.

    Attributes
    ----------
    stack : magicgui.widgets.ComboBox
        ``"one_model"`` or ``"per_slice"`` (:attr:`napari_mmtseg.Params.stack`).
    stack_axis : magicgui.widgets.ComboBox
        One of :data:`STACK_AXIS_CHOICES`' values.
    """

    def __init__(self):
        self.stack = ComboBox(
            name="stack",
            label="stack training",
            choices=[("one model", "one_model"), ("each slice", "per_slice")],
            tooltip="A stack (Z, time, plate): one model for all slices (the same class keeps "
            "one id through the stack), or each slice trained on its own (for slices that "
            "differ: docs/usage.md).",
        )
        self.stack_axis = ComboBox(
            name="stack_axis",
            label="stack axis",
            choices=list(STACK_AXIS_CHOICES),
            tooltip="Whether a stack axis is depth (Z: a region spanning slices is one id) or "
            "time (regions per frame); by default an axis labelled 'z' is depth.",
        )

    @property
    def widgets(self) -> list:
        """The controls, in the form's order.

        Returns
        -------
        list of magicgui.widgets.ComboBox
            ``stack`` and ``stack_axis``.
        """
        return [self.stack, self.stack_axis]

    def axes(self, job) -> str | None:
        """The ``axes`` of a run on ``job`` (:func:`stack_axes`; None for one slice).

        Parameters
        ----------
        job : Job
            What the run segments (``_job.make_job``).

        Returns
        -------
        str or None
            The letters, or None.
        """
        if job.partial:
            return None
        labels = job.layer_kwargs.get("axis_labels")
        return stack_axes(job.slices, labels, self.stack_axis.value)
