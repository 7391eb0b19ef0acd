"""The benchmark loop: methods x parameter settings x seeds over a data set.

Resumable: a run whose (image, method, preset, setting, overrides, seed) is
already in ``results.csv`` is skipped; each row is flushed as soon as it is
scored, so a long benchmark can be stopped and continued in a later session.
Label maps are kept (compressed) under ``labels/`` for the stability table
and the example figure.
"""
from __future__ import annotations

import csv
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..metrics import METRICS, stability
from . import datasets
from .layout import COMMANDS, GRIDS, RESULTS, STABILITY, label_path

__all__ = ["DETERMINISTIC", "CSV_FIELDS", "STAB_FIELDS", "run_benchmark", "merge_results",
           "format_value", "parse_value", "parse_sets"]

#: methods whose output does not depend on the seed: run once (seed 0)
DETERMINISTIC = {"felzenszwalb", "multiotsu"}

SCORE_FIELDS = [f"{m}_{s}" for m in METRICS for s in ("mean", "best")] + [
    "miou_kim_pooled", "n_segments", "n_gt_segments", "n_annotations", "n_pieces",
    # microscopy masks only (metrics.score_instances): foreground IoU, object F1 at IoU 0.5
    "fg_iou", "f1", "precision", "recall", "n_objects", "n_gt_objects"]
KEY_FIELDS = ["image", "method", "preset", "setting", "overrides", "seed"]
CSV_FIELDS = ["dataset", "split"] + KEY_FIELDS + SCORE_FIELDS + ["seconds", "device", "finished"]
STAB_FIELDS = ["image", "method", "preset", "setting", "overrides", "seed_a", "seed_b",
               "agreement", "ari"]


def parse_value(text: str):
    """'10' -> 10, '0.5' -> 0.5, 'true' -> True, 'none' -> None, else the string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_sets(items) -> dict:
    """['max_iter=10', 'beta=2'] -> {'max_iter': 10, 'beta': 2}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if not k:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[k] = parse_value(v)
    return out


def format_value(v) -> str:
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


def _read_keys(path: Path, fields) -> set:
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        return {tuple(r[k] for k in fields) for r in csv.DictReader(f)}


class _Writer:
    """CSV appender that writes the header once and flushes every row."""

    def __init__(self, path: Path, fields):
        new = not path.exists() or path.stat().st_size == 0
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields, extrasaction="ignore")
        if new:
            self.w.writeheader()
            self.f.flush()

    def row(self, d: dict):
        self.w.writerow(d)
        self.f.flush()

    def close(self):
        self.f.close()


class ProgressBar:
    """A one-line text progress bar on stderr."""

    def __init__(self, total: int, stream=None, width: int = 28):
        self.total = max(1, total)
        self.done = 0
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.width = width

    def update(self, done: int, text: str = ""):
        self.done = done
        frac = min(1.0, done / self.total)
        fill = int(round(frac * self.width))
        el = time.perf_counter() - self.t0
        eta = el / done * (self.total - done) if done else float("nan")
        eta_s = f" eta {eta:5.0f}s" if done else ""
        self.stream.write(f"\r[{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total}"
                          f"{eta_s} {text[:60]:<60}")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


def run_benchmark(dataset: str, root, out, methods, seeds: int = 1, split: str = "val",
                  limit: int | None = None, preset: str = "fast", overrides: dict | None = None,
                  grid: bool = False, device: str = "auto", command: str | None = None,
                  report: bool = True, stream=None, scribbles: bool = False) -> dict:
    """Run (or continue) a benchmark; returns counts ``{"done", "skipped", "failed"}``.
    With ``scribbles``, every run gets the same generated scribbles per image
    (:func:`.datasets.bench_scribbles`)."""
    from .. import METHODS
    from ..engine import segment
    from ..metrics import n_pieces, score, score_instances
    from ..params import make_params

    stream = stream or sys.stderr
    overrides = dict(overrides or {})
    methods = list(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"Unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    if seeds < 1:
        raise ValueError("--seeds must be >= 1")
    from ..params import LEARNED_METHODS, SCRIBBLE_METHODS

    if scribbles:
        bad = [m for m in methods if m not in LEARNED_METHODS + SCRIBBLE_METHODS]
        if bad:
            raise ValueError(f"--scribbles: {', '.join(bad)} cannot learn from scribbles")
    else:
        bad = [m for m in methods if m in SCRIBBLE_METHODS]
        if bad:
            raise ValueError(f"{', '.join(bad)} needs --scribbles")
    for m in methods:  # validate parameters before any work
        for _, s in _settings(m, grid, scribbles):
            make_params(m, preset, **{**overrides, **s})
    ids = datasets.dataset_ids(dataset, root, split, limit)
    if not ids:
        raise FileNotFoundError(f"No images found for dataset {dataset!r} under {root}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if command is None:
        command = shlex.join(["mmtseg", "bench"] + sys.argv[1:])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(out / COMMANDS, "a") as f:
        f.write(f"{stamp}\t{command}\n")
    ov_text = ";".join(f"{k}={format_value(v)}" for k, v in sorted(overrides.items()))

    res_path = out / RESULTS
    stab_path = out / STABILITY
    done_keys = _read_keys(res_path, KEY_FIELDS)
    stab_keys = {k[:5] for k in _read_keys(stab_path, STAB_FIELDS[:5])}

    # plan
    plan = []  # (image, method, setting, settings dict, seeds list)
    for img in ids:
        for m in methods:
            seed_list = [0] if m in DETERMINISTIC else list(range(seeds))
            for setting, sdict in _settings(m, grid, scribbles):
                plan.append((img, m, setting, sdict, seed_list))
    todo = sum(1 for img, m, st, _, sl in plan for s in sl
               if (img, m, preset, st, ov_text, str(s)) not in done_keys)
    skipped = sum(len(p[4]) for p in plan) - todo
    print(f"mmtseg bench: {len(ids)} image(s), {len(methods)} method(s), {todo} run(s) to do, "
          f"{skipped} already in {res_path}", file=stream)
    res_w = _Writer(res_path, CSV_FIELDS)
    stab_w = _Writer(stab_path, STAB_FIELDS)
    bar = ProgressBar(todo, stream)
    n_done = n_failed = 0
    cache = {}
    try:
        for img, m, setting, sdict, seed_list in plan:
            for s in seed_list:
                key = (img, m, preset, setting, ov_text, str(s))
                if key in done_keys:
                    continue
                if cache.get("id") != img:
                    cache = {"id": img, "sample": datasets.load_sample(dataset, root, split, img)}
                    if scribbles:
                        cache["scribbles"] = datasets.bench_scribbles(dataset, cache["sample"])
                sample = cache["sample"]
                extra = {"scribbles": cache["scribbles"]} if scribbles else {}
                bar.update(n_done + n_failed, f"{img} {m} {setting} seed {s}")
                try:
                    r = segment(sample.image, method=m, preset=preset, seed=s, device=device,
                                **{**overrides, **sdict}, **extra)
                except Exception as exc:  # keep going; report at the end
                    n_failed += 1
                    stream.write(f"\nmmtseg bench: {img} {m} {setting} seed {s} failed: {exc}\n")
                    continue
                sc = score(r.labels, sample.gts)
                sc["n_pieces"] = n_pieces(r.labels)
                if dataset == "masks":
                    sc.update(score_instances(r.labels, sample.gts[0]))
                lp = label_path(out, img, m, preset, setting, ov_text, s)
                lp.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(lp, labels=r.labels)
                row = {"dataset": dataset, "split": split if dataset == "bsds" else "",
                       "image": img, "method": m, "preset": preset, "setting": setting,
                       "overrides": ov_text, "seed": s, "seconds": round(r.seconds, 3),
                       "device": r.device,
                       "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")}
                row.update({k: (round(v, 6) if isinstance(v, float) else v) for k, v in sc.items()})
                res_w.row(row)
                done_keys.add(key)
                n_done += 1
                bar.update(n_done + n_failed, f"{img} {m} {setting} seed {s}")
            # stability once all seeds of this (image, method, setting) exist
            skey = (img, m, preset, setting, ov_text)
            if len(seed_list) > 1 and skey not in stab_keys:
                paths = [label_path(out, img, m, preset, setting, ov_text, s) for s in seed_list]
                if all(p.exists() for p in paths):
                    runs = [np.load(p)["labels"] for p in paths]
                    st = stability(runs)
                    for i, j, ag, ar in st["pairs"]:
                        stab_w.row({"image": img, "method": m, "preset": preset,
                                    "setting": setting, "overrides": ov_text,
                                    "seed_a": seed_list[i], "seed_b": seed_list[j],
                                    "agreement": round(ag, 6), "ari": round(ar, 6)})
                    stab_keys.add(skey)
    finally:
        bar.close()
        res_w.close()
        stab_w.close()
    if report:
        from .report import write_report

        write_report(out, stream=stream)
    print(f"mmtseg bench: {n_done} run(s) done, {skipped} skipped (already in CSV), "
          f"{n_failed} failed; results in {out}", file=stream)
    return {"done": n_done, "skipped": skipped, "failed": n_failed}


def merge_results(out, sources, stream=None) -> dict:
    """Combine the results of several benchmark folders into ``out``.

    Rows of ``results.csv`` and ``stability.csv`` are taken from each source
    in turn, a key already present (in ``out`` or an earlier source) is not
    taken again; the label maps of taken rows are copied, and the sources'
    commands are added to ``out/commands.txt`` (lines already there are not
    repeated). Only images scored by every method (in any source: a method's
    runs may be split over folders) are kept, so that a table compares methods
    on the same images. All sources must hold the same data set and split.
    Returns ``{"rows", "images", "dropped"}``.
    """
    import shutil

    stream = stream or sys.stderr
    out = Path(out)
    sources = [Path(s) for s in sources]
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
            missing = [k for k in KEY_FIELDS + ["dataset", "split"] if k not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{s / RESULTS} is not a benchmark result (no {', '.join(missing)})")
            tables.append(list(reader))
    data_sets = {(r["dataset"], r["split"]) for t in tables for r in t}
    if len(data_sets) > 1:
        raise ValueError("the folders hold different data sets: "
                         + ", ".join(f"{d} {sp}".strip() for d, sp in sorted(data_sets)))
    # images scored by every method (in any of the sources: a method's runs may
    # be split over several folders)
    per_method: dict = {}
    for t in tables:
        for r in t:
            per_method.setdefault(r["method"], set()).add(r["image"])
    common = set.intersection(*per_method.values()) if per_method else set()
    out.mkdir(parents=True, exist_ok=True)
    done_keys = _read_keys(out / RESULTS, KEY_FIELDS)
    stab_keys = _read_keys(out / STABILITY, STAB_FIELDS[:7])
    res_w, stab_w = _Writer(out / RESULTS, CSV_FIELDS), _Writer(out / STABILITY, STAB_FIELDS)
    n_rows = dropped = 0
    try:
        for s, rows in zip(sources, tables):
            for r in rows:
                key = tuple(r[k] for k in KEY_FIELDS)
                if r["image"] not in common:
                    dropped += 1
                    continue
                if key in done_keys:
                    continue
                src = label_path(s, r["image"], r["method"], r["preset"], r["setting"],
                                 r["overrides"], int(r["seed"]))
                if src.exists():
                    dst = label_path(out, r["image"], r["method"], r["preset"], r["setting"],
                                     r["overrides"], int(r["seed"]))
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
                res_w.row(r)
                done_keys.add(key)
                n_rows += 1
            if (s / STABILITY).exists():
                with open(s / STABILITY, newline="") as f:
                    for r in csv.DictReader(f):
                        key = tuple(r[k] for k in STAB_FIELDS[:7])
                        if r["image"] in common and key not in stab_keys:
                            stab_w.row(r)
                            stab_keys.add(key)
            if (s / COMMANDS).exists():
                have = (out / COMMANDS).read_text() if (out / COMMANDS).exists() else ""
                new_lines = [ln for ln in (s / COMMANDS).read_text().splitlines(keepends=True)
                             if ln not in have]
                with open(out / COMMANDS, "a") as f:
                    f.writelines(new_lines)
    finally:
        res_w.close()
        stab_w.close()
    print(f"mmtseg bench: merged {n_rows} row(s) on {len(common)} common image(s) into {out} "
          f"({dropped} row(s) on images not scored by every method left out)", file=stream)
    return {"rows": n_rows, "images": len(common), "dropped": dropped}
