"""The benchmark loop: methods x parameter settings x seeds over a data set.

Resumable: a run whose (image, method, preset, setting, overrides, seed) is
already in ``results.csv`` is skipped; each row is flushed as soon as it is
scored, so a long benchmark can be stopped and continued in a later session.
Label maps are kept (compressed) under ``labels/`` for the stability table
and the example figure.
"""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..metrics import stability
from ..params import parse_value
from . import datasets, layout
from .layout import (
    CSV_FIELDS,
    GRIDS,
    RESULTS,
    STAB_FIELDS,
    CsvAppender,
    label_path,
    read_keys,
)
from .ods import REGION_FIELDS, REGIONS, region_rows

__all__ = [
    "DETERMINISTIC",
    "CSV_FIELDS",
    "STAB_FIELDS",
    "run_benchmark",
    "format_value",
    "parse_value",
]

#: methods whose output does not depend on the seed: run once (seed 0)
DETERMINISTIC = {"felzenszwalb", "multiotsu"}


def format_value(v) -> str:
    """Write a parameter value as the results' ``setting`` and ``overrides`` columns do.

    Parameters
    ----------
    v : object
        The value.

    Returns
    -------
    str
        ``str(v)``, with a whole float written as an integer (``5.0`` -> ``"5"``).
    """
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _settings(method: str, grid: bool, scribbles: bool = False) -> list:
    """[(setting label, overrides dict)]; runs with scribbles are labelled
    ``scribbles`` (``scribbles,k=5`` on a grid)."""
    if grid and method in GRIDS:
        name, values = GRIDS[method]
        out = [(f"{name}={format_value(v)}", {name: v}) for v in values]
    else:
        out = [("default", {})]
    if scribbles:
        out = [("scribbles" if s == "default" else f"scribbles,{s}", d) for s, d in out]
    return out


def _check_methods(methods, seeds, scribbles, grid, preset, overrides) -> None:
    """Refuse unknown methods, bad seeds and parameters before any work."""
    from .. import METHODS
    from ..params import LEARNED_METHODS, SCRIBBLE_METHODS, make_params

    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"Unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    if seeds < 1:
        raise ValueError("--seeds must be >= 1")
    if scribbles:
        bad = [m for m in methods if m not in LEARNED_METHODS + SCRIBBLE_METHODS]
        if bad:
            raise ValueError(f"--scribbles: {', '.join(bad)} cannot learn from scribbles")
    else:
        bad = [m for m in methods if m in SCRIBBLE_METHODS]
        if bad:
            raise ValueError(f"{', '.join(bad)} needs --scribbles")
    for m in methods:
        for _, s in _settings(m, grid, scribbles):
            make_params(m, preset, **{**overrides, **s})


def _score_row(r, sample, dataset: str) -> dict:
    """The scores of one run's labels against the sample's annotations."""
    from ..metrics import n_pieces, score, score_instances

    sc = score(r.labels, sample.gts)
    sc["n_pieces"] = n_pieces(r.labels)
    if dataset == "masks":
        sc.update(score_instances(r.labels, sample.gts[0]))
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in sc.items()}


def _stability_rows(out, key, seed_list) -> list:
    """Pairwise agreement rows of one (image, method, preset, setting, overrides) over
    its seeds, once all their label maps exist ([] before)."""
    img, m, preset, setting, ov_text = key
    paths = [label_path(out, img, m, preset, setting, ov_text, s) for s in seed_list]
    if len(seed_list) < 2 or not all(p.exists() for p in paths):
        return []
    st = stability([np.load(p)["labels"] for p in paths])
    return [
        {"image": img, "method": m, "preset": preset, "setting": setting,
         "overrides": ov_text, "seed_a": seed_list[i], "seed_b": seed_list[j],
         "agreement": round(ag, 6), "ari": round(ar, 6)}
        for i, j, ag, ar in st["pairs"]
    ]  # fmt: skip


def _plan_runs(ids, methods, seeds, grid, scribbles, out, preset, ov_text) -> tuple:
    """Every (image, method, setting, settings, seeds) of the benchmark, and the
    (entry, seed) runs not yet in results.csv."""
    plan = [
        (img, m, setting, sdict, [0] if m in DETERMINISTIC else list(range(seeds)))
        for img in ids
        for m in methods
        for setting, sdict in _settings(m, grid, scribbles)
    ]
    done_keys = read_keys(out / RESULTS, layout.KEY_FIELDS)
    todo = [(p, s) for p in plan for s in p[4]
            if (p[0], p[1], preset, p[2], ov_text, str(s)) not in done_keys]  # fmt: skip
    return plan, todo


def _image_ids(dataset, root, split, limit) -> list:
    """The data set's image ids (FileNotFoundError when it has none)."""
    ids = datasets.dataset_ids(dataset, root, split, limit)
    if not ids:
        raise FileNotFoundError(f"No images found for dataset {dataset!r} under {root}")
    return ids


def _record_command(out: Path, command: str | None) -> None:
    """Add the command line, with the time, to the folder's commands.txt."""
    if command is None:
        command = shlex.join(["mmtseg", "bench"] + sys.argv[1:])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(out / layout.COMMANDS, "a") as f:
        f.write(f"{stamp}\t{command}\n")


def _write_stability(out: Path, plan: list, preset: str, ov_text: str, writer) -> None:
    """Stability rows of every planned run whose seeds all exist and that has none yet."""
    stab_keys = {k[:5] for k in read_keys(out / layout.STABILITY, STAB_FIELDS[:5])}
    for img, m, setting, _, seed_list in plan:
        skey = (img, m, preset, setting, ov_text)
        if skey not in stab_keys:
            for row in _stability_rows(out, skey, seed_list):
                writer.row(row)


class _Runs:
    """The runs of one benchmark, their CSV writers and counts."""

    def __init__(self, dataset, root, split, out, preset, ov_text, device, stream):
        self.dataset, self.root, self.split, self.out = dataset, root, split, out
        self.preset, self.ov_text, self.device, self.stream = preset, ov_text, device, stream
        self.cache: dict = {}
        self.n_done = self.n_failed = 0
        self.regions = None  # the writer of bsds_regions.csv (BSDS only), while running

    def sample(self, img, scribbles):
        if self.cache.get("id") != img:
            sample = datasets.load_sample(self.dataset, self.root, self.split, img)
            self.cache = {"id": img, "sample": sample}
            if scribbles:
                self.cache["scribbles"] = datasets.bench_scribbles(self.dataset, sample)
        return self.cache["sample"], self.cache.get("scribbles")

    def run(self, img, m, setting, sdict, seed, overrides, scribbles, writer) -> None:
        """Segment, score, keep the label map and write the row of one run."""
        from ..engine import segment

        sample, marks = self.sample(img, scribbles)
        extra = {"scribbles": marks} if scribbles else {}
        try:
            r = segment(sample.image, method=m, preset=self.preset, seed=seed,
                        device=self.device, **{**overrides, **sdict}, **extra)  # fmt: skip
        except Exception as exc:  # keep going; report at the end
            self.n_failed += 1
            self.stream.write(f"mmtseg bench: {img} {m} {setting} seed {seed} failed: {exc}\n")
            return
        lp = label_path(self.out, img, m, self.preset, setting, self.ov_text, seed)
        lp.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(lp, labels=r.labels)
        row = {"dataset": self.dataset, "split": self.split if self.dataset == "bsds" else "",
               "image": img, "method": m, "preset": self.preset, "setting": setting,
               "overrides": self.ov_text, "seed": seed, "seconds": round(r.seconds, 3),
               "device": r.device,
               "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
        row.update(_score_row(r, sample, self.dataset))
        writer.row(row)
        if self.regions is not None:
            key = {k: row[k] for k in ("image", "method", "preset", "setting", "overrides")}
            for level_row in region_rows(r, sample.gts, key | {"seed": seed}):
                self.regions.row(level_row)
        self.n_done += 1


def run_benchmark(
    dataset: str,
    root,
    out,
    methods,
    seeds: int = 1,
    split: str = "val",
    limit: int | None = None,
    preset: str = "fast",
    overrides: dict | None = None,
    grid: bool = False,
    device: str = "auto",
    command: str | None = None,
    report: bool = True,
    stream=None,
    scribbles: bool = False,
) -> dict:
    """Run (or continue) a benchmark of methods x settings x seeds over a data set.

    Parameters
    ----------
    dataset : {"bsds", "masks"}
        BSDS500 or the microscopy images with masks.
    root : str or os.PathLike
        The data set's folder.
    out : str or os.PathLike
        Output folder (``results.csv``, ``stability.csv``, label maps, the report).
    methods : iterable of str
        Methods to run.
    seeds : int, optional
        Seeds 0..seeds-1 per run (one for the deterministic methods).
    split, limit : str, int, optional
        BSDS500 split; the first ``limit`` images only.
    preset, overrides : str, dict, optional
        Parameter preset of the learned methods; Params fields for every run.
    grid : bool, optional
        Run each method's parameter grid (:data:`.layout.GRIDS`).
    device : str, optional
        Torch device.
    command : str, optional
        The command line recorded in ``commands.txt`` (default: this process's).
    report : bool, optional
        Write the summary and figures at the end.
    stream : file, optional
        Where messages and the progress bar go (default stderr).
    scribbles : bool, optional
        Give every run the same generated scribbles per image
        (:func:`.datasets.bench_scribbles`).

    Returns
    -------
    dict
        Counts ``{"done", "skipped", "failed"}``.

    Raises
    ------
    ValueError
        For unknown methods, bad seeds or parameters.
    FileNotFoundError
        When the data set has no images under ``root``.
    """
    stream = stream or sys.stderr
    overrides = dict(overrides or {})
    methods = list(methods)
    _check_methods(methods, seeds, scribbles, grid, preset, overrides)
    ids = _image_ids(dataset, root, split, limit)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _record_command(out, command)
    ov_text = ";".join(f"{k}={format_value(v)}" for k, v in sorted(overrides.items()))
    plan, todo = _plan_runs(ids, methods, seeds, grid, scribbles, out, preset, ov_text)
    skipped = sum(len(p[4]) for p in plan) - len(todo)
    print(f"mmtseg bench: {len(ids)} image(s), {len(methods)} method(s), {len(todo)} run(s) "
          f"to do, {skipped} already in {out / RESULTS}", file=stream)  # fmt: skip
    runs = _Runs(dataset, root, split, out, preset, ov_text, device, stream)
    _run_all(runs, plan, todo, overrides, scribbles)
    _close(runs, skipped, report)
    return {"done": runs.n_done, "skipped": skipped, "failed": runs.n_failed}


def _run_all(runs: _Runs, plan: list, todo: list, overrides: dict, scribbles: bool) -> None:
    """Run every run to do, with a progress bar, then the stability rows of the plan."""
    from tqdm.auto import tqdm

    out = runs.out
    res_w = CsvAppender(out / RESULTS, CSV_FIELDS)
    stab_w = CsvAppender(out / layout.STABILITY, STAB_FIELDS)
    if runs.dataset == "bsds":
        runs.regions = CsvAppender(out / REGIONS, REGION_FIELDS)
    bar = tqdm(total=len(todo), unit="run", file=runs.stream, dynamic_ncols=True)
    try:
        for (img, m, setting, sdict, _), s in todo:
            bar.set_postfix_str(f"{img} {m} {setting} seed {s}")
            runs.run(img, m, setting, sdict, s, overrides, scribbles, res_w)
            bar.update(1)
        _write_stability(out, plan, runs.preset, runs.ov_text, stab_w)
    finally:
        bar.close()
        res_w.close()
        stab_w.close()
        if runs.regions is not None:
            runs.regions.close()
            runs.regions = None


def _close(runs: _Runs, skipped: int, report: bool) -> None:
    """Write the report (with ``report``) and say what was done."""
    if report:
        from .report import write_report

        write_report(runs.out, stream=runs.stream)
    print(f"mmtseg bench: {runs.n_done} run(s) done, {skipped} skipped (already in CSV), "
          f"{runs.n_failed} failed; results in {runs.out}", file=runs.stream)  # fmt: skip
