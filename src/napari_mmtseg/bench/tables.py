"""The Markdown sections of the benchmark summary (tables built from :func:`.report.summarize`)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .layout import BEST_COLS, COMMANDS, MAIN_COLS, run_label, setting_sort

__all__ = ["intro", "main_table", "best_table", "grid_tables", "stability_section"]


def _pieces_median(s) -> str:
    v = np.array(list(s["per_image"]["n_pieces"].values()), dtype=float)
    return "-" if np.isnan(v).all() else f"{np.nanmedian(v):.0f}"


def _fmt(vals, digits=4) -> str:
    vals = np.asarray(vals, dtype=float)
    if np.isnan(vals).all():
        return "-"
    if vals.size > 1:
        return f"{vals.mean():.{digits}f} ± {vals.std(ddof=0):.{digits}f}"
    return f"{vals.mean():.{digits}f}"


def _oracle(summary, family_keys, col="accuracy_mean", cols=MAIN_COLS) -> dict | None:
    """Per-image oracle over a grid: each image takes its best setting (by ``col``)."""
    common = set.intersection(*[set(summary[k]["images"]) for k in family_keys])
    if not common:
        return None
    images = sorted(common)
    pick = {i: max(family_keys, key=lambda k: summary[k]["per_image"][col][i]) for i in images}
    res = {
        c: float(np.mean([summary[pick[i]]["per_image"][c][i] for i in images])) for c, _ in cols
    }
    res["images"] = len(images)
    return res


def _table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _preset_note(rows) -> str:
    from ..params import LEARNED_METHODS

    learned = {
        r["method"] for r in rows if r["method"] in LEARNED_METHODS and r["preset"] != "paper"
    }
    classical = {r["method"] for r in rows if r["method"] not in LEARNED_METHODS}
    note = ""
    if learned:
        note += (
            f" -- REDUCED setting for CPUs for {', '.join(sorted(learned))}, "
            "not the paper's setting"
        )
    if classical:
        note += (
            f" (the preset does not change {', '.join(sorted(classical))}: "
            "their parameters are k / scale, sigma, min_size / n_classes)"
        )
    return note


def intro(out: Path, rows: list) -> list:
    """List the summary's title, data set, presets, devices, commands and how to read it.

    Parameters
    ----------
    out : pathlib.Path
        The benchmark folder (its commands.txt).
    rows : list of dict
        Rows of ``results.csv``.

    Returns
    -------
    list of str
        Markdown lines.
    """
    lines = ["# Benchmark summary", ""]
    if rows:
        ds = rows[0]["dataset"] + (f" ({rows[0]['split']})" if rows[0]["split"] else "")
        presets = sorted({r["preset"] for r in rows})
        devices = sorted({r["device"] for r in rows})
        lines += [
            f"- Data set: {ds}; images scored: {len({r['image'] for r in rows})}",
            f"- Preset(s): {', '.join(presets)}" + _preset_note(rows),
            f"- Device(s): {', '.join(devices)}",
            f"- Runs in results.csv: {len(rows)}",
        ]
    cmd_path = out / COMMANDS
    if cmd_path.exists():
        lines += ["", "Command line(s) (UTC time, command):", "", "```"]
        lines += cmd_path.read_text().strip().splitlines()
        lines += ["```"]
    lines += [
        "",
        "Values: mean ± std over seeds of the per-image mean over human annotations "
        "(Acc = one-to-one Hungarian pixel accuracy; mIoU 1:1 = mean IoU over GT segments "
        "under the same matching; mIoU Kim = connected components, best IoU per GT segment; "
        "PRI = probabilistic Rand index; VoI = variation of information, nats, lower is "
        "better; segments = segments in the output). Only images with every seed count.",
        "",
        "## Main table",
        "",
    ]
    return lines


def main_table(summary: dict, keys: list, notes: dict, cols: list, rank: str) -> list:
    """List the main table: one row per method (its best grid value).

    Parameters
    ----------
    summary : dict
        :func:`.report.summarize` of the results.
    keys : list of tuple
        The groups shown, in order.
    notes : dict
        Groups that are the best value of a grid (marked ``*``).
    cols : list of (str, str)
        The metric columns (CSV column, header).
    rank : str
        The column a grid's best value is chosen by.

    Returns
    -------
    list of str
        Markdown lines.
    """
    lines: list = []
    header = (
        ["method", "images", "seeds"]
        + [h for _, h in cols]
        + ["pieces (median)", "s/image", "device"]
    )
    body = []
    for k in keys:
        s = summary[k]
        body.append(
            [run_label(k) + (" *" if k in notes else ""), len(s["images"]), len(s["seeds"])]
            + [_fmt(s["per_seed"][c], 2 if c == "n_segments" else 4) for c, _ in cols]
            + [
                _pieces_median(s),
                f"{np.mean(s['per_seed']['seconds']):.2f}",
                ", ".join(s["devices"]),
            ]
        )
    lines += _table(header, body)
    if notes:
        lines += [
            "",
            f"\\* best grid value on average (highest mean {rank} over images and seeds).",
        ]
    return lines


def best_table(summary: dict, keys: list) -> list:
    """List the same runs scored against the best-matching annotation.

    Parameters
    ----------
    summary : dict
        :func:`.report.summarize` of the results.
    keys : list of tuple
        The groups in the table, in its order.

    Returns
    -------
    list of str
        Markdown lines.
    """
    lines: list = []
    lines += [
        "",
        "## Best annotation per image",
        "",
        "Same runs, each image scored against its best-matching human annotation "
        "(max for Acc/mIoU/RI, min for VoI).",
        "",
    ]
    header = ["method"] + [h for _, h in BEST_COLS]
    lines += _table(
        header,
        [[run_label(k)] + [_fmt(summary[k]["per_seed"][c]) for c, _ in BEST_COLS] for k in keys],
    )
    return lines


def grid_tables(summary: dict, cols: list, rank: str) -> list:
    """List every grid value of the methods run on a grid, with the per-image oracle.

    Parameters
    ----------
    summary : dict
        :func:`.report.summarize` of the results.
    cols : list of (str, str)
        The metric columns (CSV column, header).
    rank : str
        The column the best value and the oracle are chosen by.

    Returns
    -------
    list of str
        Markdown lines (none without a grid).
    """
    lines: list = []
    fams = defaultdict(list)
    for k in summary:
        fams[(k[0], k[1], k[3])].append(k)
    grid_fams = {f: ks for f, ks in fams.items() if len(ks) > 1}
    if grid_fams:
        lines += [
            "",
            "## Parameter grids",
            "",
            "Every grid value (mean over annotations), the best value on average, and a "
            f"per-image oracle (each image takes its best value by {rank}; optimistic, "
            "shown only for reference).",
            "",
        ]
        for f, ks in sorted(grid_fams.items()):
            ks = sorted(ks, key=lambda k: setting_sort(k[2]))
            best = max(ks, key=lambda k: np.mean(summary[k]["per_seed"][rank]))
            header = ["setting", "images", "seeds"] + [h for _, h in cols] + ["s/image"]
            body = []
            for k in ks:
                s = summary[k]
                body.append(
                    [k[2] + (" (best)" if k == best else ""), len(s["images"]), len(s["seeds"])]
                    + [_fmt(s["per_seed"][c], 2 if c == "n_segments" else 4) for c, _ in cols]
                    + [f"{np.mean(s['per_seed']['seconds']):.2f}"]
                )
            orc = _oracle(summary, ks, rank, cols)
            if orc:
                body.append(
                    ["per-image oracle", orc["images"], ""]
                    + [f"{orc[c]:.2f}" if c == "n_segments" else f"{orc[c]:.4f}" for c, _ in cols]
                    + [""]
                )
            lines += (
                [f"### {f[0]} ({f[1]}{', ' + f[2] if f[2] else ''})", ""]
                + _table(header, body)
                + [""]
            )
    return lines


def stability_section(summary: dict, stab: dict) -> list:
    """List the stability of the labels across seeds.

    Parameters
    ----------
    summary : dict
        The results, summarized (:func:`.report.summarize`).
    stab : dict
        Agreement and ARI over seed pairs, by group.

    Returns
    -------
    list of str
        Markdown lines.
    """
    lines: list = []
    lines += ["", "## Stability across seeds", ""]
    if stab:
        lines += [
            "Pairwise comparison of the runs with different seeds on the same image: pixel "
            "agreement after Hungarian alignment, and adjusted Rand index. Mean = mean over "
            "images of the per-image mean over seed pairs; worst = the lowest pair on any "
            "image. Per image: stability_per_image.csv.",
            "",
        ]
        header = ["method", "images", "agreement mean", "agreement worst", "ARI mean", "ARI worst"]
        body = [
            [
                run_label(k),
                v["images"],
                f"{v['ag_mean']:.4f}",
                f"{v['ag_worst']:.4f}",
                f"{v['ar_mean']:.4f}",
                f"{v['ar_worst']:.4f}",
            ]
            for k, v in sorted(stab.items(), key=lambda kv: (kv[0][0], setting_sort(kv[0][2])))
        ]
        lines += _table(header, body)
    else:
        lines += ["No seed pairs (one seed, or deterministic methods only)."]
    det = sorted(
        {k[0] for k in summary if len(summary[k]["seeds"]) == 1 and k[0] == "felzenszwalb"}
    )
    if det:
        lines += ["", "felzenszwalb is deterministic (no seed): it is run once per setting."]
    return lines
