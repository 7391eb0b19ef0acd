"""Command line: ``mmtseg segment``, ``mmtseg train`` and ``mmtseg bench`` (no Qt, no napari).

::

    mmtseg segment INPUT... -o OUTPUT [--method mmt] [--preset fast] [--seed 0]
                   [--device auto] [--channel-axis N] [--output-mode regions|clusters]
                   [--set KEY=VALUE ...] [--workers N | --scheduler ADDRESS] [--overwrite]
                   [--threads N] [--model FILE | --train-on N]
    mmtseg train INPUT... -o MODEL.pt [--method mmt] [--preset fast] [--seed 0] [--set K=V]
    mmtseg bench --dataset {bsds,masks} --root DIR [--split val] --methods kmeans,mmt
                 [--seeds 3] [--limit 10] [--preset fast] [--grid] [--set KEY=VALUE] --out DIR
    mmtseg bench speed ...   (timings: napari_mmtseg.bench.speed)

No option may be abbreviated: an abbreviation is refused with the options it could mean.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
import sys
from pathlib import Path

from .batch import IMAGE_SUFFIXES
from .cli_args import build_parser
from .cli_model import cmd_train, overrides_of, resolve_preset, segment_model
from .cli_values import CLIError

__all__ = [
    "main", "IMAGE_SUFFIXES", "CLIError", "cmd_segment", "cmd_train", "cmd_bench",
    "build_parser", "overrides_of", "resolve_preset",
]  # fmt: skip


def _sample_files(name: str, folder: Path) -> list:
    """Write a bundled sample image into ``folder`` and return its path."""
    import imageio.v3 as iio
    import numpy as np

    from .samples import load_sample

    try:
        data = load_sample(name)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    path = folder / f"{name}.tif"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if data.dtype == np.uint8 and data.ndim in (2, 3):
            path = folder / f"{name}.png"
            iio.imwrite(path, data)
        else:
            import tifffile

            tifffile.imwrite(path, data)
    except OSError as exc:
        raise CLIError(f"cannot write to the output folder {folder}: {exc}") from exc
    print(f"sample {name!r} written to {path}", file=sys.stderr)
    return [path]


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
        raise CLIError(
            f"the workers would pick different presets ({', '.join(sorted(found))}); pass --preset"
        )
    args.preset = found.pop()
    if args.model is None:  # a model applies its own parameters
        print(f"mmtseg: workers' device: using the {args.preset!r} preset", file=sys.stderr)


def _client(args, n_files: int):
    """(client, cluster, torch threads per task) for the run; (None, None, threads) here."""
    need = "needs dask.distributed: pip install 'napari-mmtseg[batch]'"
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise CLIError(f"--scheduler {need}") from exc
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

        from .batch import cores, local_cluster
    except ImportError as exc:
        raise CLIError(f"--workers {need}") from exc
    threads = args.threads or max(1, cores() // args.workers)
    print(
        f"mmtseg: starting {args.workers} worker processes, {threads} torch thread(s) each",
        file=sys.stderr,
    )
    cluster = local_cluster(args.workers)
    return Client(cluster), cluster, threads


def _check_segment_args(args, method_given: bool = True) -> None:
    """Usage errors of ``mmtseg segment`` found before any file is read."""
    from .params import SCRIBBLE_METHODS, check_learned, default_output

    args.method_given = method_given  # --model: a method named must be the model's
    if args.model is not None and args.preset is not None:
        raise CLIError(
            "--preset chooses how networks train; --model applies a trained model with its "
            "own parameters: leave --preset out"
        )
    if args.scribbles is not None and (args.model is not None or args.train_on is not None):
        raise CLIError(
            "--scribbles steer a run that trains on its image: a model applied (--model, "
            "--train-on) labels by inference alone; refine it in Python "
            "(segment(..., scribbles=, init_model=model))"
        )

    if args.output_typo is not None:
        raise CLIError(
            "--output is ambiguous: give the output folder or file with -o/--output-dir, "
            "and regions or clusters with --output-mode"
        )
    if args.output_dir is None:
        raise CLIError("give the output folder or file with -o/--output-dir")
    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    if args.detail != "auto":
        over = overrides_of(args)
        output = over.get("output", default_output(args.method))
        if output == "clusters" or over.get("n_classes", "auto") != "auto":
            given = "" if "output" in over else f" (--method {args.method} gives {output})"
            raise CLIError(f"--detail D needs --output-mode regions{given} and --n-classes auto")
    if args.detail != "auto" and (
        args.model is not None or args.train_on is not None or args.scribbles is not None
    ):
        raise CLIError(
            "--detail D needs a run that trains on each image without scribbles: a model "
            "applied (--model, --train-on) and a scribbled run keep no region hierarchy"
        )
    if args.axes is not None and not (
        args.axes.isalpha() and args.axes.upper().endswith(("YX", "YXC", "YXS"))
    ):
        raise CLIError(
            f"--axes {args.axes}: one letter per axis of the inputs, ending in YX (or YXC for "
            "channels last), e.g. ZYX, TYX, TZYX, ZCYX"
        )
    if not args.inputs and not args.sample:
        raise CLIError("give image files, folders or globs, or --sample NAME")
    if args.train_on is not None:  # one model trains: a method that trains none is at fault
        try:
            check_learned(args.method)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    applied = args.model is not None  # --model: a method not the model's is refused with it
    if args.method in SCRIBBLE_METHODS and args.scribbles is None and not applied:
        raise CLIError(
            f"--method {args.method} learns from scribbles only: give --scribbles FILE "
            "(a label image of the input's shape, 0 = not scribbled, 1..K = classes)"
        )


def _read_scribbles(args, n: int) -> dict:
    if args.scribbles is None:
        return {}
    if n != 1:
        raise CLIError(f"--scribbles goes with one input image, not {n}")
    from .io import read_image

    try:
        return {"scribbles": read_image(args.scribbles)}
    except Exception as exc:
        raise CLIError(f"cannot read the scribbles {args.scribbles}: {exc}") from exc


def _missing_folder(folder) -> Path | None:
    """The outermost missing folder of a local ``folder`` (None: it exists, or a URL)."""
    from . import storage

    if storage.is_url(folder):
        return None
    path, missing = Path(folder).absolute(), None
    while not path.exists() and path != path.parent:
        path, missing = path.parent, path
    return missing


def _all_written(pairs: list, folder) -> bool:
    """Whether every input's output exists already and ``--train-on`` has no model file in
    ``folder`` to reuse (or refuse): a batch run again, all done, with nothing to train."""
    from . import storage
    from .batch.train import MODEL_NAME

    if storage.exists(storage.join(str(folder), MODEL_NAME)):
        return False
    return all(storage.exists(dst) for _, dst in pairs)


def _remove_empty(folder, created: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``created``, those this command created,
    while they are empty."""
    if created is None:
        return
    path = Path(folder).absolute()
    while path.is_relative_to(created):
        try:
            path.rmdir()  # only an empty folder
        except OSError:
            return
        path = path.parent


def cmd_segment(args) -> int:
    """Run ``mmtseg segment``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``segment`` options (see ``mmtseg segment --help``).

    Returns
    -------
    int
        0 when every input was segmented or skipped, 1 when any failed.

    Raises
    ------
    CLIError
        For a usage error (exit status 2): options that do not go together, no input,
        an output that cannot be written, ...
    """
    from .batch import BatchError, check_output, plan, segment_many
    from .batch.plan import output_folder
    from .params import LABELLING_FIELDS
    from .plan import model_n_classes_note, run_params, unused_with_model

    method_given = args.method is not None
    args.method = args.method or "mmt"
    _check_segment_args(args, method_given)
    overrides = overrides_of(args)
    inputs = list(args.inputs)
    if args.sample:
        out_dir = Path(args.output_dir)
        out_dir = out_dir.parent if out_dir.suffix.lower() in (".tif", ".tiff") else out_dir
        inputs += [str(p) for p in _sample_files(args.sample, out_dir)]
    try:
        pairs = plan(inputs, args.output_dir)
        created = _missing_folder(output_folder(pairs, args.output_dir))
        folder = check_output(pairs, args.output_dir)  # before any work (a cluster's start)
        n = len(pairs)
    except BatchError as exc:
        raise CLIError(str(exc)) from exc
    try:
        if not args.scheduler or args.train_on is not None:  # --train-on trains here
            resolve_preset(args)
        extra = _read_scribbles(args, n)
        extra |= {} if args.detail == "auto" else {"detail": args.detail}
        extra |= {} if args.axes is None else {"axes": args.axes.upper()}
        model = model_info = None
        if args.train_on is not None and not args.overwrite and _all_written(pairs, folder):
            print(
                "mmtseg: every output exists (--overwrite redoes them): no model trained",
                file=sys.stderr,
            )
        else:
            model, model_info = segment_model(args, inputs, folder, overrides)
        if model is not None:  # --train-on trained with them; --model was trained otherwise
            unused = unused_with_model(model, overrides)
            if unused and args.model is not None:
                can = ", ".join(LABELLING_FIELDS)
                raise CLIError(
                    f"--set {', '.join(unused)}: --model applies a trained model, whose "
                    f"training fixed them; only how the labels are made can change ({can})"
                )
            overrides = {k: v for k, v in overrides.items() if k not in unused}
            note = model_n_classes_note(model, overrides)
            if note is not None:  # said once here, not once per input
                if note:
                    print(f"mmtseg: warning: {note}", file=sys.stderr)
                overrides["n_classes"] = "auto"
    except CLIError:  # stopped before any input: leave no empty folder of this command's
        _remove_empty(folder, created)
        raise
    client, cluster, threads = _client(args, n)  # a scheduler's workers decide the preset
    try:
        try:
            run_params(args.method, args.preset, model, overrides)  # each input's, checked once
        except (ValueError, TypeError):
            _remove_empty(folder, created)
            raise
        report = segment_many(
            inputs, args.output_dir, client=client,
            method=None if model is not None else args.method,  # the model's
            preset=None if model is not None else args.preset,
            seed=args.seed, channel_axis=args.channel_axis, device=args.device,
            overrides={**overrides, **extra}, overwrite=args.overwrite, num_threads=threads,
            model=model, model_info=model_info,
        )  # fmt: skip
    except (ValueError, TypeError) as exc:  # BatchError included
        raise CLIError(str(exc)) from exc
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    done, skipped, failed = (report.count(s) for s in ("done", "skipped", "failed"))
    if n > 1 or failed:
        where = f"; summary: {report.summary_path}" if report.summary_path else ""
        print(
            f"mmtseg: {done} done, {skipped} skipped (output exists; --overwrite redoes them), "
            f"{failed} failed of {n} input(s) in {report.seconds:.1f} s{where}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _bench_without_runs(args) -> int | None:
    """``--merge`` and ``--report-only``: no runs; None when neither is given."""
    from .bench.report import write_report

    if args.merge is not None:
        from .bench.merge import merge_results

        try:
            merge_results(args.out, [d for d in args.merge.split(",") if d])
        except (ValueError, FileNotFoundError) as exc:
            raise CLIError(str(exc)) from exc
        write_report(args.out)
        return 0
    if args.report_only:
        if not (Path(args.out) / "results.csv").exists():
            raise CLIError(f"no results.csv in {args.out}")
        write_report(args.out)
        return 0
    return None


def cmd_bench(args) -> int:
    """Run ``mmtseg bench`` (or only its report or merge).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench`` options (see ``mmtseg bench --help``).

    Returns
    -------
    int
        0 when every run succeeded, 1 when any failed.

    Raises
    ------
    CLIError
        For a usage error (exit status 2).
    """
    from .bench.run import run_benchmark
    from .params import parse_overrides

    done = _bench_without_runs(args)
    if done is not None:
        return done
    missing = [o for o, v in (("--dataset", args.dataset), ("--root", args.root)) if v is None]
    if missing:
        raise CLIError(f"{' and '.join(missing)} required to run a benchmark")
    if args.protocol == "interactive":
        from .bench.interactive import bench_from_args

        try:
            return bench_from_args(args)
        except (ValueError, FileNotFoundError) as exc:
            raise CLIError(str(exc)) from exc
    try:
        overrides = parse_overrides(args.set)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise CLIError("--methods is empty")
    argv = getattr(args, "argv", None)
    command = shlex.join(["mmtseg"] + list(argv)) if argv is not None else None
    try:
        counts = run_benchmark(
            args.dataset, args.root, args.out, methods, seeds=args.seeds, split=args.split,
            limit=args.limit, preset=args.preset, overrides=overrides, grid=args.grid,
            device=args.device, command=command, report=not args.no_report,
            scribbles=args.scribbles,
        )  # fmt: skip
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    return 1 if counts["failed"] else 0


def _bench_speed(rest) -> int:
    from .bench import speed

    parser = argparse.ArgumentParser(prog="mmtseg bench", allow_abbrev=False)
    speed.add_parser(parser.add_subparsers(dest="bench_command"))
    args = _parse(parser, ["speed"] + list(rest))
    return int(speed.main(args) or 0)


def _options(parser: argparse.ArgumentParser, args=None) -> list:
    """Every long option of ``parser`` and of the sub-command ``args`` chose (of every
    sub-command when none was chosen)."""
    found = []
    for action in parser._actions:  # argparse lists its options nowhere public
        found += [o for o in action.option_strings if o.startswith("--")]
        choices = getattr(action, "choices", None)
        if not isinstance(choices, dict):
            continue
        chosen = getattr(args, action.dest, None) if args is not None else None
        for name, sub in choices.items():
            if isinstance(sub, argparse.ArgumentParser) and chosen in (None, name):
                found += _options(sub, args)
    return sorted(set(found))


def _parse(parser: argparse.ArgumentParser, argv: list) -> argparse.Namespace:
    """Parse ``argv``; an unknown option (an abbreviation, a typo) is a usage error that
    names the options it may have meant."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        bad = next((u for u in unknown if u.startswith("-")), unknown[0])
        key = bad.split("=", 1)[0]
        options = _options(parser, args)
        near = [o for o in options if o.startswith(key)] if key.startswith("--") else []
        near = near or difflib.get_close_matches(key, options, n=3)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        if near and any(o.startswith(key) for o in near):  # an abbreviation of one
            hint += "; options are never abbreviated"
        parser.error(f"unrecognized argument {bad}{hint}")
    return args


def main(argv=None) -> int:
    """Run the ``mmtseg`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program's name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 done, 1 some input or run failed, 2 a usage error, 130
        interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(argv) >= 2 and argv[0] == "bench" and argv[1] == "speed":
            return _bench_speed(argv[2:])
        args = _parse(build_parser(), argv)
        args.argv = argv
        return {"segment": cmd_segment, "train": cmd_train, "bench": cmd_bench}[args.command](args)
    except CLIError as exc:
        print(f"mmtseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmmtseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
