"""The BSDS region benchmark in ``mmtseg bench``: covering, PRI and VoI in bits at ODS and OIS.

Every BSDS run is scored as the BSDS500 benchmark scores regions
(:func:`napari_mmtseg.metrics.bsds_region_scores`): at the run's own labels (level
``default``) and, when the run has a region hierarchy, at every level of :data:`LEVELS`. The
scores go to ``bsds_regions.csv``, one row per (run, level). The report pools them
(:func:`napari_mmtseg.metrics.bsds_ods_ois`) over the images every level of a group has:

- a method's **hierarchy**: ODS takes one level of :data:`LEVELS` for the data set, OIS each
  image's best;
- a classical baseline's **parameter grid** (``--grid``): the settings play the levels;
- every setting's **default** labels (one level: ODS = OIS).

Groups with several seeds give the mean over seeds of each figure.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..metrics import bsds_ods_ois, bsds_region_scores
from .layout import setting_sort

__all__ = ["LEVELS", "REGIONS", "REGION_FIELDS", "ods_ois_rows", "ods_table", "region_rows"]

#: boundary-strength thresholds at which a hierarchy is cut (feature units, as
#: ``merge_threshold``); ``inf`` is the coarsest level the tree reaches
LEVELS = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, np.inf]
#: the per-level scores of the BSDS runs, in the benchmark folder
REGIONS = "bsds_regions.csv"
#: its columns
REGION_FIELDS = [
    "image", "method", "preset", "setting", "overrides", "seed", "level",
    "covering_hit", "covering_area", "pri", "voi_bits", "regions",
]  # fmt: skip
_MEASURES = ("covering", "pri", "voi_bits")


def region_rows(result, gts, key: dict) -> list:
    """Score one run at its own labels and at every level of its hierarchy.

    Parameters
    ----------
    result : napari_mmtseg.SegmentationResult
        The run.
    gts : list of ndarray of int, shape (H, W)
        The image's human annotations.
    key : dict
        The run's ``image``, ``method``, ``preset``, ``setting``, ``overrides`` and ``seed``.

    Returns
    -------
    list of dict
        Rows of :data:`REGION_FIELDS`: level ``default``, then ``t=<threshold>`` per level of
        :data:`LEVELS` when the run has a hierarchy.
    """
    labelled = [("default", result.labels, None)]
    h = result.hierarchy
    if h is not None:
        for t in LEVELS:
            k = h.cut_at_level(t)
            labelled.append((f"t={t:g}", h.labels(k), h.n_fine - k))
    rows = []
    for level, labels, n in labelled:
        sc = bsds_region_scores(labels, gts)
        n = int(np.unique(labels).size) if n is None else int(n)
        rows.append({**key, "level": level, "regions": n,
                     **{k: round(sc[k], 6) for k in ("covering_hit", "covering_area", "pri",
                                                     "voi_bits")}})  # fmt: skip
    return rows


def _read(path: Path) -> list:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _pooled(by_image: dict, levels: list) -> dict | None:
    """ODS / OIS over the images that have every level (None when none has)."""
    images = [i for i, d in by_image.items() if all(lv in d for lv in levels)]
    if not images:
        return None
    scores = [[by_image[i][lv] for lv in levels] for i in images]
    return bsds_ods_ois(scores) | {"levels": levels}


def _groups(rows: list) -> dict:
    """{(kind, method, preset, overrides, setting): {seed: {image: {level: scores}}}}."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in rows:
        sc = {k: float(r[k]) for k in ("covering_hit", "covering_area", "pri", "voi_bits")}
        base = (r["method"], r["preset"], r["overrides"])
        if r["level"] == "default":
            out[("default", *base, r["setting"])][r["seed"]][r["image"]]["default"] = sc
            out[("grid", *base, "")][r["seed"]][r["image"]][r["setting"]] = sc
        else:
            out[("hierarchy", *base, r["setting"])][r["seed"]][r["image"]][r["level"]] = sc
    return out


def ods_ois_rows(out) -> list:
    """Pool a benchmark folder's ``bsds_regions.csv`` into ODS / OIS rows.

    An image that lacks a level of a group (a run not done yet) is left out of that group.

    Parameters
    ----------
    out : str or os.PathLike
        The benchmark folder.

    Returns
    -------
    list of dict
        One per group: ``kind`` (``hierarchy``, ``grid`` or ``default``), ``method``,
        ``preset``, ``overrides``, ``setting``, ``n_images``, ``n_seeds``, and for
        ``covering``, ``pri`` and ``voi_bits`` the ``_ods`` and ``_ois`` figures (mean over
        seeds) and ``_ods_level`` (the level or setting of seed 0's ODS).
    """
    result = []
    for (kind, method, preset, ov, setting), seeds in sorted(
        _groups(_read(Path(out) / REGIONS)).items()
    ):
        pooled = []
        for by_image in seeds.values():
            levels = sorted({lv for d in by_image.values() for lv in d}, key=_level_sort)
            if kind == "grid" and len(levels) < 2:
                continue
            p = _pooled(by_image, levels)
            if p is not None:
                pooled.append(p)
        if not pooled:
            continue
        n_images = pooled[0]["n_images"]
        row = {"kind": kind, "method": method, "preset": preset, "overrides": ov,
               "setting": setting, "n_images": n_images, "n_seeds": len(pooled)}  # fmt: skip
        for m in _MEASURES:
            for s in ("ods", "ois"):
                row[f"{m}_{s}"] = float(np.mean([p[f"{m}_{s}"] for p in pooled]))
            row[f"{m}_ods_level"] = pooled[0]["levels"][pooled[0][f"{m}_ods_level"]]
        result.append(row)
    return result


def _level_sort(level: str) -> tuple:
    """Levels in order: thresholds by value, settings as the report sorts them."""
    if level.startswith("t="):
        return (0, float(level[2:]), "")
    return (1, 0.0, setting_sort(level))


def ods_table(out) -> list:
    """The report's section: ODS / OIS of every hierarchy, parameter grid and default level.

    Parameters
    ----------
    out : str or os.PathLike
        The folder of ``mmtseg bench``'s results.

    Returns
    -------
    list of str
        Markdown lines (none when the folder has no ``bsds_regions.csv``).
    """
    rows = ods_ois_rows(out)
    if not rows:
        return []
    lines = [
        "",
        "## BSDS region benchmark: ODS / OIS (covering, PRI, VoI in bits)",
        "",
        "As the BSDS500 benchmark scores regions (Arbelaez et al., TPAMI 2011): ODS takes one "
        "level for the data set, OIS each image's best. *hierarchy*: one run cut at fixed "
        "boundary strengths; *grid*: a method's parameter settings as the levels; *default*: "
        "the labels as returned. Mean over seeds.",
        "",
        "| method | kind | setting | covering ODS | OIS | PRI ODS | OIS | VoI ODS | OIS |"
        " ODS level (cov / PRI / VoI) | images | seeds |",
        "|---" * 12 + "|",
    ]
    for r in rows:
        at = " / ".join(str(r[f"{m}_ods_level"]) for m in _MEASURES)
        lines.append(
            f"| {r['method']} | {r['kind']} | {r['setting'] or '-'} | {r['covering_ods']:.3f} |"
            f" {r['covering_ois']:.3f} | {r['pri_ods']:.3f} | {r['pri_ois']:.3f} |"
            f" {r['voi_bits_ods']:.2f} | {r['voi_bits_ois']:.2f} | {at} | {r['n_images']} |"
            f" {r['n_seeds']} |"
        )
    return lines
