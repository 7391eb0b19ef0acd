"""Command line: ``mmtseg segment`` and ``mmtseg bench`` (no Qt, no napari).

    mmtseg segment INPUT... -o OUTPUT [--method mmt] [--preset fast] [--seed 0]
                   [--device auto] [--channel-axis N] [--set KEY=VALUE ...]
    mmtseg bench --dataset {bsds,masks} --root DIR [--split val] --methods kmeans,mmt
                 [--seeds 3] [--limit 10] [--preset fast] [--grid] [--set KEY=VALUE]
                 --out DIR
    mmtseg bench speed ...   (dispatched to napari_mmtseg.bench.speed when present)
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from .samples import SAMPLES

__all__ = ["main", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# --------------------------------------------------------------------------- helpers


def _collect_inputs(inputs) -> list:
    files = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CLIError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise CLIError(f"input not found: {p}")
    return files


def _read(path: Path):
    """The image and what its file says about axes and pixel size (io.ImageMeta)."""
    from .io import read_image_meta

    try:
        return read_image_meta(path)
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CLIError(f"cannot read {path} as an image: {msg}") from exc


def _outputs(files, output: str) -> list:
    out = Path(output)
    if len(files) == 1 and out.suffix.lower() in (".tif", ".tiff"):
        out.parent.mkdir(parents=True, exist_ok=True)
        return [out]
    if out.suffix.lower() in (".tif", ".tiff"):
        raise CLIError(f"{len(files)} inputs need an output folder, not the file {out}")
    if out.exists() and not out.is_dir():
        raise CLIError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    from .io import labels_name

    paths = [out / labels_name(f) for f in files]
    seen = set()
    for f, p in zip(files, paths):
        if p in seen:
            raise CLIError(f"two inputs would both write {p} (same name stem as {f.name})")
        seen.add(p)
    return paths


class _Bar:
    """Text progress bar on stderr fed with the engine's Progress events."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.last = 0.0

    def __call__(self, ev, force=False):
        now = time.perf_counter()
        if not force and now - self.last < 0.2 and ev.iteration < ev.total:
            return
        self.last = now
        frac = ev.iteration / ev.total if ev.total else 1.0
        fill = int(round(frac * self.width))
        loss = ev.losses.get("loss")
        extra = f" loss {loss:.3f}" if loss is not None else ""
        sl = f" slice {ev.slice_index + 1}/{ev.n_slices}" if ev.n_slices > 1 else ""
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] "
                          f"{ev.iteration}/{ev.total}{sl} labels {ev.n_labels}{extra}   ")
        self.stream.flush()

    def end(self, text=""):
        self.stream.write(f"\r{self.label} done {text}\n" if text else "\n")
        self.stream.flush()


def _segment_one(path: Path, out: Path, args, overrides: dict) -> None:
    import warnings

    from .engine import Progress, iter_segment
    from .io import result_metadata, write_labels

    image, meta = _read(path)
    if args.channel_axis is None and "C" in meta.axes and image.ndim > 2:
        c = meta.axes.index("C")
        print(f"mmtseg: note: {path.name}: the file's axes are {meta.axes}; axis {c} (C) holds "
              f"channels, segmented here as separate slices; pass --channel-axis {c} to segment "
              "them together", file=sys.stderr)
    bar = _Bar(path.name)
    result = None
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            for ev in iter_segment(image, method=args.method, preset=args.preset, seed=args.seed,
                                   channel_axis=args.channel_axis, device=args.device,
                                   preview_every=0, **overrides):
                if isinstance(ev, Progress):
                    if ev.message:
                        print(f"{path.name}: {ev.message}", file=sys.stderr)
                    bar(ev)
                else:
                    result = ev
    except (ValueError, TypeError, MemoryError) as exc:
        sys.stderr.write("\n")
        raise CLIError(f"{path}: {exc}") from exc
    except Exception as exc:  # anything else the engine raises: still one line
        sys.stderr.write("\n")
        raise CLIError(f"{path}: {type(exc).__name__}: {exc}") from exc
    finally:
        if caught:
            sys.stderr.write("\n")
        for w in caught:
            print(f"mmtseg: warning: {path.name}: {w.message}", file=sys.stderr)
    bar.end(f"in {result.seconds:.1f}s, {result.n_labels} labels, device {result.device}")
    lmeta = meta.for_labels(result.channel_axis, image.ndim)
    kind = write_labels(out, result.labels, lmeta, result_metadata(result, lmeta, source=str(path)))
    kept = ""
    if lmeta.axes or lmeta.scale:
        sizes = ", ".join(f"{a} {lmeta.scale[a]:g} {lmeta.units.get(a, '')}".rstrip()
                          for a in lmeta.axes if a in lmeta.scale)
        kept = f", {kind} axes {lmeta.axes or '?'}" + (f" ({sizes})" if sizes else "")
    print(f"{path} -> {out} ({result.n_labels} labels, {result.method}, preset {result.preset}, "
          f"seed {result.seed}, device {result.device}{kept})")


def _sample_files(name: str, folder: Path) -> list:
    """Write a bundled sample image into ``folder`` and return its path."""
    import imageio.v3 as iio

    from .samples import load_sample

    try:
        data = load_sample(name)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.tif"
    if data.dtype == np.uint8 and data.ndim in (2, 3):
        path = folder / f"{name}.png"
        iio.imwrite(path, data)
    else:
        import tifffile

        tifffile.imwrite(path, data)
    print(f"sample {name!r} written to {path}", file=sys.stderr)
    return [path]


def _resolve_preset(args) -> None:
    if args.preset is not None:
        return
    from .device import resolve_device
    from .params import default_preset

    try:
        dev = resolve_device(args.device)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    args.preset = default_preset(dev.type)
    why = ("the paper preset takes hours per image on a CPU; pass --preset paper to force it"
           if args.preset == "fast" else "a GPU is available")
    print(f"mmtseg: device {dev}: using the {args.preset!r} preset ({why})", file=sys.stderr)


def cmd_segment(args) -> int:
    from .bench.run import parse_sets

    _resolve_preset(args)

    try:
        overrides = parse_sets(args.set)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    from .params import make_params

    try:
        make_params(args.method, args.preset, **overrides)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from exc
    if not args.inputs and not args.sample:
        raise CLIError("give image files or folders, or --sample NAME")
    files = _collect_inputs(args.inputs)
    if args.sample:
        out_dir = Path(args.output)
        out_dir = out_dir.parent if out_dir.suffix.lower() in (".tif", ".tiff") else out_dir
        files += _sample_files(args.sample, out_dir)
    outs = _outputs(files, args.output)
    failed = []
    for f, o in zip(files, outs):
        try:
            _segment_one(f, o, args, overrides)
        except CLIError as exc:
            print(f"mmtseg: error: {exc}", file=sys.stderr)
            failed.append(f)
    if failed:
        if len(files) > 1:
            print(f"mmtseg: {len(failed)} of {len(files)} input(s) failed", file=sys.stderr)
        return 1
    return 0


def cmd_bench(args) -> int:
    from .bench.run import parse_sets, run_benchmark

    try:
        overrides = parse_sets(args.set)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise CLIError("--methods is empty")
    if args.merge is not None:
        from .bench.report import write_report
        from .bench.run import merge_results

        try:
            merge_results(args.out, [d for d in args.merge.split(",") if d])
        except (ValueError, FileNotFoundError) as exc:
            raise CLIError(str(exc)) from exc
        write_report(args.out)
        return 0
    if args.report_only:
        from .bench.report import write_report

        if not (Path(args.out) / "results.csv").exists():
            raise CLIError(f"no results.csv in {args.out}")
        write_report(args.out)
        return 0
    argv = getattr(args, "_argv", None)
    command = shlex.join(["mmtseg"] + list(argv)) if argv is not None else None
    try:
        counts = run_benchmark(args.dataset, args.root, args.out, methods, seeds=args.seeds,
                               split=args.split, limit=args.limit, preset=args.preset,
                               overrides=overrides, grid=args.grid, device=args.device,
                               command=command, report=not args.no_report)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    return 1 if counts["failed"] else 0


def _bench_speed(rest) -> int:
    import importlib
    import importlib.util

    if importlib.util.find_spec("napari_mmtseg.bench.speed") is None:
        print("mmtseg bench speed: not available in this version", file=sys.stderr)
        return 2
    speed = importlib.import_module("napari_mmtseg.bench.speed")
    # speed.add_parser(subparsers) adds the "speed" sub-parser; speed.main(args)
    # runs with the parsed Namespace and returns an exit status (or None)
    parser = argparse.ArgumentParser(prog="mmtseg bench")
    sub = parser.add_subparsers(dest="bench_command")
    speed.add_parser(sub)
    args = parser.parse_args(["speed"] + list(rest))
    rc = speed.main(args)
    return int(rc or 0)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from . import METHODS, PRESETS, __version__

    parser = argparse.ArgumentParser(
        prog="mmtseg", description="Unsupervised image segmentation (Mutual Mean-Teaching and baselines).")
    parser.add_argument("--version", action="version", version=f"napari-mmtseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{segment,bench}")
    sub.required = True

    s = sub.add_parser("segment", help="segment image files, write label .tif files",
                       description="Segment images (jpg/png/tif, 8 or 16 bit or float; files or "
                                   "folders) and write integer label images as .tif. Labels of an "
                                   "ImageJ or OME-TIFF input keep its axes, pixel size and unit.")
    s.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image file(s) or folder(s) (a folder: its .jpg/.png/.tif/.bmp files)")
    s.add_argument("--sample", choices=list(SAMPLES), default=None,
                   help="segment a bundled sample image, written next to the result (default: none)")
    s.add_argument("-o", "--output", required=True,
                   help="output folder (files <stem>_labels.tif), or a .tif path for one input "
                        "(required, no default)")
    s.add_argument("--method", default="mmt", choices=METHODS,
                   help="mmt: Mutual Mean-Teaching, two networks (the paper); kim2020, "
                        "kanezaki2018: its one-network ancestors; kmeans, felzenszwalb: classical "
                        "baselines, no training (default: mmt)")
    s.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="'paper' (the paper's settings; slow on CPU) or 'fast' (reduced, for CPUs); "
                        "default: 'paper' on a GPU, 'fast' on the CPU")
    s.add_argument("--seed", type=int, default=0,
                   help="random seed: the same image, parameters, seed and device give the same "
                        "labels (default: 0)")
    s.add_argument("--device", default="auto",
                   help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps "
                        "(default: auto)")
    s.add_argument("--channel-axis", type=int, default=None, dest="channel_axis", metavar="N",
                   help="the axis of the image array that holds channels, segmented together "
                        "(e.g. 0 for CYX, -1 for YXC); default: none, except that a last axis of "
                        "3 or 4 entries is taken as RGB(A) (its 4th channel dropped as alpha, "
                        "with a warning if it varies: pass --channel-axis -1 to keep it). An "
                        "axis of length 1 is never Y or X")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter of the preset, e.g. --set max_iter=200 (repeatable; "
                        "names: napari_mmtseg.Params; default: none)")
    s.set_defaults(func=cmd_segment)

    b = sub.add_parser("bench", help="benchmark methods against annotations ('bench speed': timings)",
                       description="Benchmark methods on BSDS500 or microscopy masks. Resumable: "
                                   "rows already in OUT/results.csv are skipped.")
    b.add_argument("--dataset", required=True, choices=["bsds", "masks"],
                   help="bsds: BSDS500 (images/ and groundTruth/ under --root); masks: the "
                        "microscopy images with masks (required)")
    b.add_argument("--root", required=True, help="data folder: the BSDS500 root (holding images/ and groundTruth/), or the "
                        "microscopy folder (required)")
    b.add_argument("--split", default="val", help="BSDS500 split (default val)")
    b.add_argument("--methods", default="kmeans,felzenszwalb",
                   help=f"comma-separated, from {','.join(METHODS)} (default: kmeans,felzenszwalb)")
    b.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per run (default 1)")
    b.add_argument("--limit", type=int, default=None, help="first N images only (default: all)")
    b.add_argument("--preset", default="fast", choices=list(PRESETS),
                   help="parameter preset of the learned methods (default: fast)")
    b.add_argument("--grid", action="store_true",
                   help="kmeans over k in {2,5,...,20}, felzenszwalb over scale in {100,...,2000}")
    b.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set k=3 (repeatable; default: none)")
    b.add_argument("--device", default="auto",
                   help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    b.add_argument("--out", required=True, help="output folder for results.csv, summary.md and figures (required)")
    b.add_argument("--no-report", action="store_true", help="skip the summary and figures (default: write them)")
    b.add_argument("--report-only", action="store_true",
                   help="only rewrite summary.md and figures from OUT's CSV files (no runs)")
    b.add_argument("--merge", default=None, metavar="DIR,DIR,...",
                   help="no runs: combine these benchmark folders' results (the images that every "
                        "method scored) into OUT and write its summary and figures")
    b.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(argv) >= 2 and argv[0] == "bench" and argv[1] == "speed":
            return _bench_speed(argv[2:])
        parser = build_parser()
        args = parser.parse_args(argv)
        args._argv = argv
        return args.func(args)
    except CLIError as exc:
        print(f"mmtseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmmtseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
