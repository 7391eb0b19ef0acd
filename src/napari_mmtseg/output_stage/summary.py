"""What the output stage did, in the user's words and in detail."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OutputInfo", "explain_auto", "explain_grouped", "summarize_output"]


@dataclass
class OutputInfo:
    """What the output stage did to one slice (reported with the result).

    Attributes
    ----------
    n_clusters_in : int
        Distinct ids the method produced.
    n_pieces_in : int
        Their connected pieces.
    n_classes : int
        Classes (semantic ids) in the output.
    n_regions : int
        Connected regions in the output.
    min_region_size : int
        Smallest region, in pixels.
    merge_threshold : float
        Boundary strength below which regions merged (0: no merge).
    why : str
        What the result holds and why that many classes, in the user's words.
    texture_weight : float, optional
        The texture weight the merge used (after "auto"; 0 without a merge).
    why_details : str, optional
        The same, step by step, in the output stage's terms.
    hierarchy : Hierarchy or None, optional
        The region hierarchy (:mod:`.hierarchy`), when it was asked for.
    """

    n_clusters_in: int
    n_pieces_in: int
    n_classes: int
    n_regions: int
    min_region_size: int
    merge_threshold: float
    why: str
    texture_weight: float = 0.0
    why_details: str = ""
    hierarchy: object = None


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def _holds(output: str, n_classes: int, n_regions: int) -> str:
    """What a result holds: "3 classes", or "12 regions of 3 kinds"."""
    if output == "regions":
        return f"{_plural(n_regions, 'region')} of {_plural(n_classes, 'kind')}"
    return _plural(n_classes, "class", "classes")


def _and(items: list) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def explain_auto(
    *,
    output: str,
    n_in: int,
    n_classes: int,
    n_regions: int,
    min_region_size: int,
    refine: bool,
    merge_threshold: float,
    texture: float,
    auto_texture: bool,
    line_width: float,
) -> tuple[str, str]:
    """Say why a result has the classes it has, when the method's clusters decided it.

    Parameters
    ----------
    output : str
        ``"regions"`` or ``"clusters"``.
    n_in : int
        The method's clusters.
    n_classes : int
        Classes in the result.
    n_regions : int
        Regions in the result.
    min_region_size : int
        Smallest region, in pixels.
    refine : bool
        Whether transition bands were given away and boundaries snapped.
    merge_threshold : float
        Boundary strength below which regions merged (0: none).
    texture : float
        The merge's texture weight.
    auto_texture : bool
        Whether the texture weight was chosen from the image.
    line_width : float
        Thickest thin line kept apart, in pixels (0: none).

    Returns
    -------
    why : str
        One sentence in the user's words.
    details : str
        The steps, in the output stage's terms.
    """
    steps, plain = [], []
    if min_region_size > 1:
        steps.append(f"pieces under {min_region_size} px absorbed")
        plain.append(f"specks under {min_region_size} pixels")
    if refine:
        steps.append("transition bands given away")
    if merge_threshold > 0:
        texture_note = (
            f" (less {texture:g} x the texture beside them)"
            if texture
            else " (no texture term: not a colour image)"
            if auto_texture
            else ""
        )
        lines = ", thin lines kept apart" if line_width > 0 else ""
        steps.append(f"boundaries weaker than {merge_threshold:g}{texture_note} merged{lines}")
        plain.append("areas that barely differed")
    holds = _holds(output, n_classes, n_regions)
    kinds = _plural(n_in, "kind")
    if not steps:
        details = f"the method's {_plural(n_in, 'cluster')}, no clean-up"
        return f"{holds}: the {kinds} of pixel the method told apart", details
    details = f"{n_classes} of the method's {n_in} clusters are left after clean-up ("
    details += ", ".join(steps) + ")"
    merged = f"{_and(plain)} merged into their neighbours" if plain else "blurred edges shared out"
    return f"{holds}: the method's {kinds} of pixel, with {merged}", details


def explain_grouped(
    *,
    output: str,
    asked: int,
    n_left: int,
    grouped: str,
    n_stage_regions: int,
    n_classes: int,
    n_regions: int,
) -> tuple[str, str]:
    """Say why a result has the classes it has, when the user asked for a number of classes.

    The reason compares the classes asked for with those the clean-up left and says how they
    were grouped.

    Parameters
    ----------
    output : str
        The output asked for: ``"regions"`` or ``"clusters"``.
    asked : int
        Classes asked for (``n_classes``).
    n_left : int
        The method's clusters left after the clean-up.
    grouped : str
        ``"clusters"`` or ``"regions"``: what was grouped.
    n_stage_regions : int
        Regions the clean-up left (grouped when ``grouped`` is ``"regions"``).
    n_classes : int
        Classes in the result.
    n_regions : int
        Regions in the result.

    Returns
    -------
    why : str
        The reason, one sentence a user reads.
    details : str
        The grouping, in the output stage's terms.
    """
    if grouped == "clusters":
        details = f"n_classes={asked}: {n_left} clusters grouped by colour (Ward) into {asked}"
        how = f"the method's {_plural(n_left, 'kind')} of pixel grouped by colour"
    else:
        details = (
            f"n_classes={asked}: only {n_left} clusters were left, so the {n_stage_regions} "
            "regions were grouped by colour (Ward)"
        )
        how = (
            f"only {_plural(n_left, 'kind')} of pixel were left, so the {n_stage_regions} "
            "regions were grouped by colour"
        )
    holds = _holds(output, n_classes, n_regions)
    if n_classes >= asked:
        return f"{holds}, as asked: {how}", details
    details += f"; the image has only {n_classes} distinct region(s), so {n_classes} class(es)"
    distinct = _plural(n_classes, "distinct region")
    return f"{holds}, not the {asked} asked for: the image has only {distinct}", details


def summarize_output(
    infos: list, stack_classes: int | None = None, stack_regions: int | None = None
) -> dict:
    """Summarize a whole run from the per-slice :class:`OutputInfo` list.

    Parameters
    ----------
    infos : list of OutputInfo
        One per slice, in slice order.
    stack_classes : int, optional
        A stack with clusters output whose ids are one class on every slice: the classes
        over the whole stack (``n_classes``, and what ``why`` says first).
    stack_regions : int, optional
        A stack with regions output: its ids over the whole stack (``n_regions``, and what
        ``why`` says first; a slice alone says little of a stack, an empty first slice
        nothing).

    Returns
    -------
    dict
        The class and region counts (the largest over slices: ``n_classes``, ``n_regions``,
        ``clusters_before``, ``pieces_before``; a stack's counts where given), the
        settings (``min_region_size``, ``merge_threshold``, ``texture_weight``), ``why``
        (what the result holds and why, in the user's words) and ``why_details`` (the output
        stage's steps), both of the first slice (stacks say first what the whole stack
        holds, and how many classes the slices have). Empty for no slices.
    """
    if not infos:
        return {}
    first = infos[0]
    why, details = first.why, first.why_details
    if len(infos) > 1:
        counts = sorted({i.n_classes for i in infos})
        span = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
        if stack_regions is not None:
            whole = _plural(stack_regions, "region")
            why = (
                f"{whole} over the {len(infos)} slices (classes per slice: {span}); slice 0: {why}"
            )
        elif stack_classes is None:
            why = f"{why} (in the first slice; classes per slice: {span})"
        else:
            whole = _plural(stack_classes, "class", "classes")
            why = f"{whole} over the {len(infos)} slices (per slice: {span}); slice 0: {why}"
        details = f"slice 0: {details}; classes per slice: {span}"
    n_classes = max(i.n_classes for i in infos) if stack_classes is None else stack_classes
    return {
        "n_classes": n_classes,
        "n_regions": max(i.n_regions for i in infos) if stack_regions is None else stack_regions,
        "clusters_before": max(i.n_clusters_in for i in infos),
        "pieces_before": max(i.n_pieces_in for i in infos),
        "min_region_size": first.min_region_size,
        "merge_threshold": first.merge_threshold,
        "texture_weight": first.texture_weight,
        "why": why,
        "why_details": details,
    }
