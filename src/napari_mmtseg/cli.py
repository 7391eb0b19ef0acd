"""Command line: ``mmtseg segment`` and ``mmtseg bench`` (no Qt, no napari).

    mmtseg segment INPUT... -o OUTPUT [--method mmt] [--preset fast] [--seed 0]
                   [--device auto] [--channel-axis N] [--set KEY=VALUE ...]
                   [--workers N | --scheduler ADDRESS] [--overwrite] [--threads N]
    mmtseg bench --dataset {bsds,masks} --root DIR [--split val] --methods kmeans,mmt
                 [--seeds 3] [--limit 10] [--preset fast] [--grid] [--set KEY=VALUE]
                 --out DIR
    mmtseg bench speed ...   (dispatched to napari_mmtseg.bench.speed when present)
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from .batch import IMAGE_SUFFIXES
from .samples import SAMPLES

__all__ = ["main", "IMAGE_SUFFIXES"]



class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# --------------------------------------------------------------------------- helpers


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
    from .params import CLASSICAL_METHODS, SCRIBBLE_METHODS, default_preset

    try:
        dev = resolve_device(args.device)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    args.preset = default_preset(dev.type)
    if getattr(args, "method", None) in CLASSICAL_METHODS + SCRIBBLE_METHODS:
        # no networks to train: the preset changes nothing worth saying, the device still is
        print(f"mmtseg: device {dev}", file=sys.stderr)
        return
    why = ("the paper preset takes hours per image on a CPU; pass --preset paper to force it"
           if args.preset == "fast" else "a GPU is available")
    print(f"mmtseg: device {dev}: using the {args.preset!r} preset ({why})", file=sys.stderr)


def _cluster_preset(client, args) -> None:
    """--preset not given with --scheduler: the workers' device decides, as locally."""
    if args.preset is not None:
        return
    from .device import resolve_device
    from .params import default_preset

    device = args.device

    def pick():
        return default_preset(resolve_device(device).type)

    try:
        found = set(client.run(pick).values())
    except Exception as exc:
        raise CLIError(f"the workers cannot use device {device!r}: {exc}") from exc
    if len(found) != 1:
        raise CLIError(f"the workers would pick different presets ({', '.join(sorted(found))}); "
                       "pass --preset")
    args.preset = found.pop()
    print(f"mmtseg: workers' device: using the {args.preset!r} preset", file=sys.stderr)


def _client(args, n_files: int):
    """(client, cluster, torch threads per task) for the run; (None, None, None) in-process."""
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise CLIError("--scheduler needs dask.distributed: pip install 'napari-mmtseg[batch]'") from exc
        try:
            client = Client(args.scheduler, timeout="20s")
        except Exception as exc:
            raise CLIError(f"cannot reach the dask scheduler at {args.scheduler}: {exc}") from exc
        _cluster_preset(client, args)
        return client, None, args.threads
    if args.workers <= 1 or n_files <= 1:
        return None, None, args.threads
    try:
        from distributed import Client

        from .batch import _cores, local_cluster
    except ImportError as exc:
        raise CLIError("--workers needs dask.distributed: pip install 'napari-mmtseg[batch]'") from exc
    threads = args.threads or max(1, _cores() // args.workers)
    print(f"mmtseg: starting {args.workers} worker processes, {threads} torch thread(s) each",
          file=sys.stderr)
    cluster = local_cluster(args.workers)
    return Client(cluster), cluster, threads


def _int_arg(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"{name} expects an integer or 'auto', got {text!r}") from None


def _channel_axis_arg(text: str):
    """--channel-axis: an integer axis or 'none'."""
    if text.strip().lower() == "none":
        return "none"
    try:
        return int(text)
    except ValueError:
        msg = f"expects an axis number or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def cmd_segment(args) -> int:
    from .batch import BatchError, plan, segment_many
    from .bench.run import parse_sets

    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    try:
        overrides = parse_sets(args.set)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if not args.inputs and not args.sample:
        raise CLIError("give image files, folders or globs, or --sample NAME")
    inputs = list(args.inputs)
    if args.sample:
        out_dir = Path(args.output)
        out_dir = out_dir.parent if out_dir.suffix.lower() in (".tif", ".tiff") else out_dir
        inputs += [str(p) for p in _sample_files(args.sample, out_dir)]
    try:
        n = len(plan(inputs, args.output))
    except BatchError as exc:
        raise CLIError(str(exc)) from exc
    if not args.scheduler:
        _resolve_preset(args)
    client, cluster, threads = _client(args, n)
    from .params import make_params

    if args.n_classes is not None:
        overrides["n_classes"] = "auto" if args.n_classes == "auto" else _int_arg("--n-classes", args.n_classes)
    if args.output_mode is not None:
        overrides["output"] = args.output_mode
    extra = {}
    if args.scribbles is not None:
        if n != 1:
            raise CLIError(f"--scribbles goes with one input image, not {n}")
        from .io import read_image

        try:
            extra["scribbles"] = read_image(args.scribbles)
        except Exception as exc:
            raise CLIError(f"cannot read the scribbles {args.scribbles}: {exc}") from exc
    try:
        make_params(args.method, args.preset, **overrides)
        report = segment_many(inputs, args.output, client=client, method=args.method,
                              preset=args.preset, seed=args.seed, channel_axis=args.channel_axis,
                              device=args.device, overrides={**overrides, **extra},
                              overwrite=args.overwrite,
                              num_threads=threads)
    except (ValueError, TypeError) as exc:  # BatchError included
        raise CLIError(str(exc)) from exc
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    done, skipped, failed = (report.count(s) for s in ("done", "skipped", "failed"))
    if n > 1 or failed:
        print(f"mmtseg: {done} done, {skipped} skipped (output exists; --overwrite redoes them), "
              f"{failed} failed of {n} input(s) in {report.seconds:.1f} s"
              + (f"; summary: {report.summary_path}" if report.summary_path else ""),
              file=sys.stderr)
    return 1 if failed else 0


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
                               command=command, report=not args.no_report,
                               scribbles=args.scribbles)
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
                       description="Segment images (jpg/png/tif, 8 or 16 bit or float; files, "
                                   "folders or globs, local or fsspec URLs such as s3://...) and "
                                   "write integer label images as .tif. Labels of an ImageJ or "
                                   "OME-TIFF input keep its axes, pixel size and unit. With an "
                                   "output folder, mmtseg_summary.csv there lists every input "
                                   "with its status; the exit status is 1 if any input failed.")
    s.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image file(s), folder(s) (their .jpg/.png/.tif/.bmp files) or glob(s) "
                        "such as 'plate1/*.tif' (quoted)")
    s.add_argument("--sample", choices=list(SAMPLES), default=None,
                   help="segment a bundled sample image, written next to the result (default: none)")
    s.add_argument("-o", "--output", required=True,
                   help="output folder (files <stem>_labels.tif), or a .tif path for one input "
                        "(required, no default)")
    s.add_argument("--method", default="mmt", choices=METHODS,
                   help="mmt: Mutual Mean-Teaching, two networks (the paper); kim2020, "
                        "kanezaki2018: its one-network ancestors; kmeans, felzenszwalb, multiotsu "
                        "(multi-level Otsu thresholds): classical baselines, no training; "
                        "trainable: a pixel classifier learned from --scribbles only "
                        "(default: mmt)")
    s.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="'paper' (the paper's settings; slow on CPU) or 'fast' (reduced, for CPUs); "
                        "default: 'paper' on a GPU, 'fast' on the CPU")
    s.add_argument("--scribbles", default=None, metavar="FILE",
                   help="a label image of the input's shape (0 = not scribbled, 1..K = classes): "
                        "the scribbled pixels train toward their class and the labels keep those "
                        "ids; one input only (default: none, unsupervised)")
    s.add_argument("--n-classes", default=None, dest="n_classes", metavar="N",
                   help="classes the labels end with: an integer, or 'auto' to let the method "
                        "decide (default: auto)")
    s.add_argument("--output-mode", default=None, dest="output_mode", choices=["regions", "clusters"],
                   help="regions: one id per connected region (instances); clusters: one id per "
                        "class (default: regions, clusters for kmeans, multiotsu and trainable)")
    s.add_argument("--seed", type=int, default=0,
                   help="random seed: the same image, parameters, seed and device give the same "
                        "labels (default: 0)")
    s.add_argument("--device", default="auto",
                   help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps "
                        "(default: auto)")
    s.add_argument("--channel-axis", type=_channel_axis_arg, default=None, dest="channel_axis",
                   metavar="N",
                   help="the axis of the image array that holds channels, segmented together "
                        "(e.g. 0 for CYX, -1 for YXC), or 'none' (no axis holds channels). "
                        "default: the file's C axis (ImageJ, OME-TIFF); else a last axis of 3 or "
                        "4 entries is RGB(A), of 2 grey + alpha (alpha dropped, with a warning "
                        "if it varies: pass --channel-axis -1 to keep it), of up to 5 entries "
                        "much shorter than Y and X channels (with a warning). An axis of length "
                        "1 is never Y or X (docs/usage.md, Inputs)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter of the preset, e.g. --set max_iter=200 (repeatable; "
                        "names: napari_mmtseg.Params; default: none)")
    s.add_argument("--overwrite", action="store_true",
                   help="segment again inputs whose labels file exists (default: skip them, so "
                        "a rerun does only what is missing)")
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="segment N images at a time in N worker processes of a local "
                        "dask.distributed cluster, each with cores/N torch threads (needs the "
                        "'batch' extra); default: 1, one image after another in this process")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="send one task per image to the dask.distributed scheduler at ADDRESS "
                        "(e.g. tcp://10.0.0.5:8786); the workers read and write the files, so "
                        "paths must be reachable from them (shared or object storage); "
                        "default: none")
    s.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads per image (default: torch's own setting in this process; "
                        "cores / workers on a cluster)")
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
                   help="kmeans over k in {2,5,...,20}, felzenszwalb over scale in {100,...,2000}, "
                        "multiotsu over n_classes in {2,3,4} (default: each method's default only)")
    b.add_argument("--scribbles", action="store_true",
                   help="give every run the same generated scribbles per image (strokes inside "
                        "the ground truth's segments, seeded; docs/benchmarks.md) and label the "
                        "rows 'scribbles'; for the learned methods and 'trainable' (default: off)")
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
