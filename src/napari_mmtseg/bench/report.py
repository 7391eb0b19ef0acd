"""Benchmark report: ``summary.md``, ``stability_per_image.csv`` and figures
(``examples.png``, ``stability.png``, ``grid.png``) from the CSV files that
:mod:`.run` writes. Can be re-run on its own: ``write_report(out_dir)``.

Aggregation: for each method/setting and each seed, the metric is averaged
over images (each image's value being the mean, or best, over its human
annotations); the table shows mean and standard deviation of those per-seed
averages over seeds. Only images that have every seed of that setting count.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from .figures import fig_examples, fig_grid, fig_stability
from .layout import (
    BEST_COLS,
    MAIN_COLS,
    MASK_COLS,
    RESULTS,
    STABILITY,
    setting_sort,
)
from .ods import ods_table
from .tables import best_table, grid_tables, intro, main_table, stability_section

__all__ = ["write_report", "load_rows", "summarize"]


def load_rows(path) -> list:
    """Read a benchmark CSV.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV (missing: no rows).

    Returns
    -------
    list of dict
        Its rows, values as text.
    """
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _group_key(r):
    return (r["method"], r["preset"], r["setting"], r["overrides"])


def summarize(rows) -> dict:
    """Group results by (method, preset, setting, overrides) and average them.

    Parameters
    ----------
    rows : list of dict
        Rows of ``results.csv``.

    Returns
    -------
    dict
        ``{group key: {"images": [...], "seeds": [...], "per_seed": {col: [average
        per seed]}, "per_image": {col: {image: mean over seeds}}, "seconds": s per
        image, "devices": set}}``.
    """
    groups = defaultdict(list)
    for r in rows:
        groups[_group_key(r)].append(r)
    out = {}
    cols = [c for c, _ in MAIN_COLS + BEST_COLS + MASK_COLS] + [
        "miou_kim_pooled",
        "seconds",
        "n_pieces",
    ]
    for key, rs in groups.items():
        seeds = sorted({int(r["seed"]) for r in rs})
        by_img = defaultdict(dict)
        for r in rs:
            by_img[r["image"]][int(r["seed"])] = r
        images = sorted(i for i, d in by_img.items() if all(s in d for s in seeds))
        if not images:
            continue
        per_seed = {
            c: [float(np.mean([_num(by_img[i][s].get(c)) for i in images])) for s in seeds]
            for c in cols
        }
        per_image = {
            c: {i: float(np.mean([_num(by_img[i][s].get(c)) for s in seeds])) for i in images}
            for c in cols
        }
        out[key] = {
            "images": images,
            "seeds": seeds,
            "per_seed": per_seed,
            "per_image": per_image,
            "devices": sorted({r["device"] for r in rs}),
        }
    return out


def _num(v) -> float:
    """A CSV cell as a float; NaN when empty (a column older result files lack)."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _rank_col(rows) -> str:
    """The column a grid's best value is picked by: object F1 on microscopy
    masks, the paper's accuracy otherwise."""
    return "f1" if rows and rows[0].get("dataset") == "masks" else "accuracy_mean"


def _main_keys(summary, rank: str = "accuracy_mean") -> tuple:
    """One setting per method/preset/overrides: the only one, or for a grid the
    best on average (highest mean of ``rank`` over images and seeds).
    Returns (keys, {key: note})."""
    fam = defaultdict(list)
    for key in summary:
        fam[(key[0], key[1], key[3])].append(key)
    keys, notes = [], {}
    for _, ks in sorted(fam.items()):
        if len(ks) == 1:
            keys.append(ks[0])
            continue
        best = max(ks, key=lambda k: np.mean(summary[k]["per_seed"][rank]))
        keys.append(best)
        notes[best] = f"best on average over the grid (by {rank})"
    return keys, notes


def _stability(out: Path):
    rows = load_rows(out / STABILITY)
    per = defaultdict(lambda: defaultdict(list))
    for r in rows:
        per[_group_key(r)][r["image"]].append((float(r["agreement"]), float(r["ari"])))
    table, per_image = {}, []
    for key, imgs in per.items():
        ag_mean, ag_worst, ar_mean, ar_worst = [], [], [], []
        for img, pairs in sorted(imgs.items()):
            a = np.array(pairs)
            ag_mean.append(a[:, 0].mean())
            ag_worst.append(a[:, 0].min())
            ar_mean.append(a[:, 1].mean())
            ar_worst.append(a[:, 1].min())
            per_image.append(
                {
                    "image": img,
                    "method": key[0],
                    "preset": key[1],
                    "setting": key[2],
                    "overrides": key[3],
                    "pairs": len(pairs),
                    "agreement_mean": round(ag_mean[-1], 6),
                    "agreement_worst": round(ag_worst[-1], 6),
                    "ari_mean": round(ar_mean[-1], 6),
                    "ari_worst": round(ar_worst[-1], 6),
                }
            )
        table[key] = {
            "images": len(imgs),
            "ag_mean": np.mean(ag_mean),
            "ag_worst": np.min(ag_worst),
            "ar_mean": np.mean(ar_mean),
            "ar_worst": np.min(ar_worst),
            "ag_pairs": [p[0] for ps in imgs.values() for p in ps],
            "ar_pairs": [p[1] for ps in imgs.values() for p in ps],
        }
    return table, per_image


def write_report(out, stream=None) -> Path:
    """Write summary.md, stability_per_image.csv and figures into a benchmark folder.

    Parameters
    ----------
    out : str or os.PathLike
        The benchmark folder (its ``results.csv`` and ``stability.csv`` are read).
    stream : file, optional
        Where the closing message goes (default stderr).

    Returns
    -------
    pathlib.Path
        The summary.md written.
    """
    out = Path(out)
    stream = stream or sys.stderr
    rows = load_rows(out / RESULTS)
    summary = summarize(rows)
    rank = _rank_col(rows)
    cols = MAIN_COLS + (MASK_COLS if rank == "f1" else [])
    keys, notes = _main_keys(summary, rank)
    stab, stab_img = _stability(out)
    lines = (
        intro(out, rows)
        + main_table(summary, keys, notes, cols, rank)
        + best_table(summary, keys)
        + grid_tables(summary, cols, rank)
        + stability_section(summary, stab)
        + ods_table(out)
    )
    if stab_img:
        with open(out / "stability_per_image.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(stab_img[0]))
            w.writeheader()
            w.writerows(stab_img)

    figs = []
    try:
        if fig_examples(out, rows, keys, out / "examples.png"):
            figs.append(("examples.png", "example segmentations (seed 0), one row per image"))
        stab_keys = sorted(stab, key=lambda k: (k[0], k[1], k[3], setting_sort(k[2])))
        if fig_stability(stab, stab_keys, out / "stability.png"):
            figs.append(("stability.png", "distribution of pairwise seed agreement and ARI"))
        if fig_grid(summary, out / "grid.png"):
            figs.append(("grid.png", "metrics against the grid parameter"))
    except Exception as exc:  # figures must not lose the tables
        print(f"mmtseg bench: figure failed: {exc}", file=stream)
    if figs:
        lines += ["", "## Figures", ""] + [f"- [{n}]({n}): {d}" for n, d in figs]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"mmtseg bench: wrote {path}", file=stream)
    return path
