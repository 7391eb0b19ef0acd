"""Command line: ``mmtseg train`` and the model of ``mmtseg segment --model / --train-on``.

::

    mmtseg train INPUT... -o model.pt [--method mmt] [--preset fast] [--seed 0] [--set K=V]
    mmtseg segment INPUT... -o OUT --model model.pt       (inference alone)
    mmtseg segment plate/ -o OUT --train-on 4              (OUT/mmtseg_model.pt, then all)

No Qt, no napari.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli_values import CLIError

__all__ = ["cmd_train", "segment_model", "resolve_preset", "overrides_of"]


def resolve_preset(args) -> None:
    """Pick the preset when ``--preset`` is not given, from the device, and say which.

    Where no network trains (a classical method, or ``--model``: the model's own
    parameters apply), only the device is said.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``preset``, ``device``, ``method``); ``args.preset`` is set.

    Raises
    ------
    CLIError
        For a device that is not there.
    """
    if args.preset is not None:
        return
    from .device import resolve_device
    from .params import CLASSICAL_METHODS, SCRIBBLE_METHODS, default_preset

    try:
        dev = resolve_device(args.device)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    args.preset = default_preset(dev.type)
    applies_model = getattr(args, "model", None) is not None  # its own parameters, no training
    if applies_model or getattr(args, "method", None) in CLASSICAL_METHODS + SCRIBBLE_METHODS:
        # no networks to train: the preset changes nothing worth saying, the device still is
        print(f"mmtseg: device {dev}", file=sys.stderr)
        return
    why = (
        "the paper preset takes hours per image on a CPU; pass --preset paper to force it"
        if args.preset == "fast"
        else "a GPU is available"
    )
    print(f"mmtseg: device {dev}: using the {args.preset!r} preset ({why})", file=sys.stderr)


def overrides_of(args) -> dict:
    """Collect the Params overrides of ``--set``, ``--n-classes`` and ``--output-mode``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``set``, ``n_classes``, ``output_mode``).

    Returns
    -------
    dict
        Params field -> value.

    Raises
    ------
    CLIError
        For a ``--set`` that names no field or a bad ``--n-classes``.
    """
    from .params import parse_overrides

    try:
        overrides = parse_overrides(args.set)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if args.n_classes is not None:
        try:
            overrides["n_classes"] = "auto" if args.n_classes == "auto" else int(args.n_classes)
        except ValueError:
            raise CLIError(
                f"--n-classes expects an integer or 'auto', got {args.n_classes!r}"
            ) from None
    if args.output_mode is not None:
        overrides["output"] = args.output_mode
    return overrides


def _say_skipped(file, reason: str) -> None:
    """One stderr line for a file ``--train-on``'s sample cannot use."""
    print(
        f"mmtseg: --train-on skips {file} for training: {reason}; the sample takes the next "
        "input instead, if any (this one is still segmented with the others)",
        file=sys.stderr,
    )


def _train(inputs, args, overrides: dict, train_on=None):
    """Train one model on the inputs; (model, files trained on), usage errors as CLIError.

    With ``train_on`` a file that cannot be used is skipped, and said so on stderr.
    """
    from .batch import BatchError
    from .batch.train import train_model

    try:
        return train_model(
            inputs, method=args.method, preset=args.preset, seed=args.seed,
            channel_axis=args.channel_axis, device=args.device, overrides=overrides,
            train_on=train_on, num_threads=args.threads,
            on_skip=None if train_on is None else _say_skipped,
        )  # fmt: skip
    except (BatchError, ValueError, TypeError, MemoryError) as exc:
        raise CLIError(str(exc)) from exc


def cmd_train(args) -> int:
    """Run ``mmtseg train``: train one model on the inputs and save it.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``train`` options (see ``mmtseg train --help``).

    Returns
    -------
    int
        0 when the model was written.

    Raises
    ------
    CLIError
        For a usage error (exit status 2): a classical method, no input, images of
        different shapes, a model file that exists without ``--overwrite`` or that is one
        of the inputs (with ``--overwrite`` too).
    """
    from .batch.train import check_model_path, model_record
    from .params import check_learned

    try:
        check_learned(args.method)
        check_model_path(args.inputs, args.output)  # before training: never over an image
    except ValueError as exc:  # BatchError included
        raise CLIError(str(exc)) from exc
    out = Path(args.output)
    if out.is_dir():
        raise CLIError(f"{out} is a folder: name the model file, e.g. {out / 'model.pt'}")
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out} exists: pass --overwrite to replace it")
    resolve_preset(args)
    model, files = _train(args.inputs, args, overrides_of(args))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save(out)
    except OSError as exc:
        raise CLIError(f"cannot write the model {out}: {exc}") from exc
    rec = model_record(out)
    print(
        f"mmtseg: {model.method} model trained on {len(files)} image(s) "
        f"({model.step} steps) -> {out} (sha256 {rec['model_sha256'][:12]})",
        file=sys.stderr,
    )
    return 0


def segment_model(args, inputs: list, folder: str, overrides: dict) -> tuple:
    """The model ``mmtseg segment`` applies to every input: ``--model`` or ``--train-on``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``segment`` options (``model``, ``train_on``, ``overwrite`` ...).
    inputs : list of str
        The inputs as given (files, folders, globs).
    folder : str
        The output folder (``--train-on`` writes ``mmtseg_model.pt`` there).
    overrides : dict
        The Params overrides of ``--set`` and friends.

    Returns
    -------
    model : Model or None
        The model to apply, or None (each input trains its own networks).
    info : dict or None
        ``{"model": file, "model_sha256": hash}``, or None.

    Raises
    ------
    CLIError
        For ``--model`` with ``--train-on``, a file that is not a model, a folder that
        is a URL, a ``--train-on`` model file that is one of the inputs, no input that
        ``--train-on`` can train on (a file it cannot use is skipped, and said so on
        stderr), or a model that cannot be trained.
    """
    from . import load_model
    from .batch.train import MODEL_NAME, check_model_path, model_record

    if args.model is None and args.train_on is None:
        return None, None
    if args.model is not None and args.train_on is not None:
        raise CLIError("give --model FILE (apply it) or --train-on N (train one), not both")
    trained = False
    if args.model is not None:
        path = Path(args.model)
    else:
        from . import storage

        if storage.is_url(folder):
            raise CLIError("--train-on writes its model in a local output folder, not a URL")
        path = Path(folder) / MODEL_NAME
        try:  # an input named as the model file: training would save over it
            check_model_path(inputs, path, "--train-on's model file", "use another -o folder")
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
        trained = args.overwrite or not path.exists()
        if trained:
            model, files = _train(inputs, args, overrides, train_on=args.train_on)
            model.save(path)
            fewer = (
                f" (--train-on {args.train_on}: no more usable inputs)"
                if len(files) < args.train_on and model.training["skipped"]
                else ""
            )
            print(f"mmtseg: model trained on {len(files)} image(s){fewer}: {path}", file=sys.stderr)
    try:
        model = load_model(path)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    if args.model is not None and getattr(args, "method_given", False):
        if model.method != args.method:
            raise CLIError(
                f"{path} holds a model of --method {model.method}: --method {args.method} "
                "does not apply with --model (leave it out: the model's method is used)"
            )
    if args.model is None and not trained:
        _check_reused(model, path, inputs, args, overrides)
        print(f"mmtseg: reusing the model {path} (--overwrite trains again)", file=sys.stderr)
    return model, model_record(path)


def _check_reused(model, path, inputs, args, overrides: dict) -> None:
    """Refuse to reuse a ``--train-on`` model trained otherwise than asked (CLIError)."""
    from .batch.train import training_differences

    try:
        diff = training_differences(
            model, inputs, method=args.method, preset=args.preset, seed=args.seed,
            overrides=overrides, train_on=args.train_on, channel_axis=args.channel_axis,
        )  # fmt: skip
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if diff:
        raise CLIError(
            f"{path} holds a model trained otherwise than this run asks (the model's, not "
            f"this run's: {'; '.join(diff)}). --overwrite trains a new one there, "
            f"--model {path} applies it as it is, or -o writes to another folder."
        )
