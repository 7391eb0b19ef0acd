"""Combining benchmark folders: the rows of several runs, on the images every method scored."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

from .layout import (
    COMMANDS,
    CSV_FIELDS,
    KEY_FIELDS,
    RESULTS,
    STAB_FIELDS,
    STABILITY,
    CsvAppender,
    label_path,
    read_keys,
)

__all__ = ["merge_results"]


def _read_tables(out: Path, sources: list) -> list:
    """The rows of each source's results.csv, checked to be one data set's."""
    if not sources:
        raise ValueError("--merge needs at least one benchmark folder")
    for s in sources:
        if not (s / RESULTS).exists():
            raise FileNotFoundError(f"no {RESULTS} in {s}")
        if s.resolve() == out.resolve():
            raise ValueError(f"{s} is the output folder; merge into a new folder")
    tables = []
    for s in sources:
        with open(s / RESULTS, newline="") as f:
            reader = csv.DictReader(f)
            have = reader.fieldnames or []
            missing = [k for k in KEY_FIELDS + ["dataset", "split"] if k not in have]
            if missing:
                raise ValueError(
                    f"{s / RESULTS} is not a benchmark result (no {', '.join(missing)})"
                )
            tables.append(list(reader))
    data_sets = {(r["dataset"], r["split"]) for t in tables for r in t}
    if len(data_sets) > 1:
        raise ValueError(
            "the folders hold different data sets: "
            + ", ".join(f"{d} {sp}".strip() for d, sp in sorted(data_sets))
        )
    return tables


def _common_images(tables: list) -> set:
    """Images scored by every method (in any source: a method's runs may be split)."""
    per_method: dict = {}
    for t in tables:
        for r in t:
            per_method.setdefault(r["method"], set()).add(r["image"])
    return set.intersection(*per_method.values()) if per_method else set()


def _copy_labels(source: Path, out: Path, r: dict) -> None:
    key = (r["image"], r["method"], r["preset"], r["setting"], r["overrides"], int(r["seed"]))
    src = label_path(source, *key)
    if src.exists():
        dst = label_path(out, *key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def _merge_stability(source: Path, common: set, stab_keys: set, writer) -> None:
    if not (source / STABILITY).exists():
        return
    with open(source / STABILITY, newline="") as f:
        for r in csv.DictReader(f):
            key = tuple(r[k] for k in STAB_FIELDS[:7])
            if r["image"] in common and key not in stab_keys:
                writer.row(r)
                stab_keys.add(key)


def _merge_commands(source: Path, out: Path) -> None:
    if not (source / COMMANDS).exists():
        return
    have = (out / COMMANDS).read_text() if (out / COMMANDS).exists() else ""
    lines = (source / COMMANDS).read_text().splitlines(keepends=True)
    with open(out / COMMANDS, "a") as f:
        f.writelines(ln for ln in lines if ln not in have)


def merge_results(out, sources, stream=None) -> dict:
    """Combine the results of several benchmark folders into ``out``.

    Rows of ``results.csv`` and ``stability.csv`` are taken from each source in turn, a
    key already present (in ``out`` or an earlier source) is not taken again; the label
    maps of taken rows are copied, and the sources' commands are added to
    ``out/commands.txt`` (lines already there are not repeated). Only images scored by
    every method (in any source) are kept, so that a table compares methods on the same
    images.

    Parameters
    ----------
    out : str or os.PathLike
        The folder to merge into (created if missing; not one of the sources).
    sources : iterable of str or os.PathLike
        Benchmark folders, all of the same data set and split.
    stream : file, optional
        Where the closing message goes (default stderr).

    Returns
    -------
    dict
        ``{"rows": rows taken, "images": common images, "dropped": rows left out}``.

    Raises
    ------
    ValueError
        For no source, the output among the sources, a CSV that is not a benchmark's,
        or sources of different data sets.
    FileNotFoundError
        When a source has no ``results.csv``.
    """
    stream = stream or sys.stderr
    out = Path(out)
    sources = [Path(s) for s in sources]
    tables = _read_tables(out, sources)
    common = _common_images(tables)
    out.mkdir(parents=True, exist_ok=True)
    done_keys = read_keys(out / RESULTS, KEY_FIELDS)
    stab_keys = read_keys(out / STABILITY, STAB_FIELDS[:7])
    res_w = CsvAppender(out / RESULTS, CSV_FIELDS)
    stab_w = CsvAppender(out / STABILITY, STAB_FIELDS)
    n_rows = dropped = 0
    try:
        for s, rows in zip(sources, tables):
            for r in rows:
                key = tuple(r[k] for k in KEY_FIELDS)
                if r["image"] not in common:
                    dropped += 1
                elif key not in done_keys:
                    _copy_labels(s, out, r)
                    res_w.row(r)
                    done_keys.add(key)
                    n_rows += 1
            _merge_stability(s, common, stab_keys, stab_w)
            _merge_commands(s, out)
    finally:
        res_w.close()
        stab_w.close()
    print(
        f"mmtseg bench: merged {n_rows} row(s) on {len(common)} common image(s) into {out} "
        f"({dropped} row(s) on images not scored by every method left out)",
        file=stream,
    )
    return {"rows": n_rows, "images": len(common), "dropped": dropped}
