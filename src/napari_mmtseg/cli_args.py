"""The ``mmtseg`` command line's options: argparse builders only (run by :mod:`.cli`).

Every parser refuses abbreviated options (``allow_abbrev=False``): ``--output`` must never
silently mean ``--output-dir`` or ``--output-mode``.
"""

from __future__ import annotations

import argparse

from .cli_values import channel_axis_arg, detail_arg, positive_int
from .params import LEARNED_METHODS
from .samples import SAMPLES

__all__ = ["build_parser"]

_SEGMENT = (
    "Segment images (jpg/png/tif/bmp, 8 or 16 bit or float; zarr and OME-Zarr stores; files, "
    "folders or globs, local or fsspec URLs such as s3://...) and write integer label images: "
    ".tif, or OME-Zarr for a zarr input. Labels of an ImageJ, OME-TIFF or OME-Zarr input keep "
    "its axes, pixel size and unit. With an output folder, mmtseg_summary.csv there lists every "
    "input with its status. Exit status: 0 done, 1 an input failed, 2 a usage error (nothing "
    "run). Options are never abbreviated."
)
_BENCH = (
    "Benchmark methods on BSDS500 or microscopy masks. Resumable: rows already in "
    "OUT/results.csv are skipped. 'mmtseg bench speed' (see 'mmtseg bench speed --help') "
    "times the presets against a literal transcription of the paper's Algorithm 1."
)


class _Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that never abbreviates options, nor do its sub-parsers.

    Sub-parsers are made with the parent's class, so the rule holds for every sub-command.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def _segment_parser(sub, methods, presets) -> None:
    s = sub.add_parser(
        "segment",
        help="segment image files, write label files",
        description=_SEGMENT,
    )
    s.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="image file(s), zarr store(s), folder(s) (their .jpg/.png/.tif/.bmp "
        "files and .zarr stores) or glob(s) such as 'plate1/*.tif' (quoted)",
    )
    s.add_argument(
        "--sample",
        choices=list(SAMPLES),
        default=None,
        help="segment a bundled sample image, written next to the result (default: none)",
    )
    s.add_argument(
        "-o",
        "--output-dir",
        default=None,
        dest="output_dir",
        metavar="OUTPUT",
        help="output folder (files <stem>_labels.tif, <stem>_labels.ome.zarr for a "
        "zarr input), or a .tif or .ome.zarr path for one input (required)",
    )
    s.add_argument("--output", default=None, dest="output_typo", help=argparse.SUPPRESS)
    s.add_argument(
        "--method",
        default=None,  # mmt; None tells a method named from none (--model takes the model's)
        choices=methods,
        help="mmt: Mutual Mean-Teaching, two networks (the paper); kim2020, "
        "kanezaki2018: its one-network ancestors; kmeans, felzenszwalb, multiotsu "
        "(multi-level Otsu thresholds): classical baselines, no training; "
        "trainable: a pixel classifier learned from --scribbles only "
        "(default: mmt)",
    )
    s.add_argument(
        "--preset",
        default=None,
        choices=list(presets),
        help="'paper' (the paper's settings; slow on CPU) or 'fast' (reduced, for "
        "CPUs); default: 'paper' on a GPU, 'fast' on the CPU",
    )
    s.add_argument(
        "--scribbles",
        default=None,
        metavar="FILE",
        help="a label image of the input's shape (0 = not scribbled, 1..K = classes): "
        "the scribbled pixels train toward their class and the labels keep those "
        "ids; one input only; required by --method trainable (default: none, "
        "unsupervised)",
    )
    _classes_args(s)
    s.add_argument(
        "--axes",
        default=None,
        metavar="LETTERS",
        help="one letter per axis of every input, e.g. ZYX for a Z stack or TYX for a "
        "time-lapse (tifffile's and napari's codes: T, Z, C, Y, X); replaces what a file says "
        "of its axes (a plain TIFF stack says nothing, so it is taken as frames) "
        "(default: the file's axes)",
    )
    s.add_argument(
        "--detail",
        type=detail_arg,
        default="auto",
        metavar="D",
        help="the level of detail written: a number in [0, 1] (1: the finest regions of the "
        "run's region hierarchy, 0: the coarsest; Python's result.at(D)) or 'auto', the level "
        "the method picks; a number needs --output-mode regions, --n-classes auto and a "
        "run that trains (not --model or --train-on) (default: auto)",
    )
    s.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed: the same image, parameters, seed, device and number of "
        "torch threads give the same labels (the threads are in the 'device' of "
        "the summary and the labels' metadata; pass --threads to fix them; "
        "docs/usage.md, 'Reproducibility') (default: 0)",
    )
    s.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps (default: auto)",
    )
    s.add_argument(
        "--channel-axis",
        type=channel_axis_arg,
        default=None,
        dest="channel_axis",
        metavar="N",
        help="the axis of the image array that holds channels, segmented together "
        "(e.g. 0 for CYX, -1 for YXC), or 'none' (no axis holds channels). "
        "default: the file's C axis (ImageJ, OME-TIFF); else a last axis of 3 or "
        "4 entries is RGB(A), of 2 grey + alpha (alpha dropped, with a warning "
        "if it varies: pass --channel-axis -1 to keep it), of up to 5 entries "
        "much shorter than Y and X channels (with a warning). An axis of length "
        "1 is never Y or X (docs/usage.md, Inputs)",
    )
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter of the preset, e.g. --set max_iter=200 "
        "(repeatable; names: napari_mmtseg.Params; default: none)",
    )
    s.add_argument(
        "--overwrite",
        action="store_true",
        help="segment again inputs whose labels file exists (default: skip them, so "
        "a rerun does only what is missing)",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="segment N images at a time in N worker processes of a local "
        "dask.distributed cluster, each with cores/N torch threads (needs the "
        "'batch' extra); default: 1, one image after another in this process",
    )
    s.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="send one task per image to the dask.distributed scheduler at ADDRESS "
        "(e.g. tcp://10.0.0.5:8786); the workers read and write the files, so "
        "paths must be reachable from them (shared or object storage); "
        "default: none",
    )
    s.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="torch threads per image, and for --train-on's training (default: torch's own "
        "setting in this process, all cores; cores / workers with --workers or on a cluster)",
    )
    s.add_argument(
        "--model",
        default=None,
        metavar="FILE",
        help="apply this trained model (from 'mmtseg train' or --train-on) to every input "
        "by inference alone, no training: with --output-mode clusters a class has one id "
        "on every image; the method is the model's (default: none, each input trains its "
        "own networks)",
    )
    s.add_argument(
        "--train-on",
        type=int,
        default=None,
        dest="train_on",
        metavar="N",
        help="train one model on N inputs picked evenly (seeded by --seed; one it cannot "
        "read, or of another shape, is skipped, said, and replaced by the next), save it as "
        "mmtseg_model.pt in the output folder (a rerun reuses it when trained as the rerun "
        "asks, else stops saying what differs; --overwrite trains again) and apply it to "
        "every input (default: none)",
    )
    s.set_defaults(command="segment")


def _classes_args(parser, model: bool = False) -> None:
    """``--n-classes`` and ``--output-mode`` (``model``: as ``mmtseg train`` reads them)."""
    parser.add_argument(
        "--n-classes",
        default=None,
        dest="n_classes",
        metavar="N",
        help=(
            "classes the model gives when it is applied with --output-mode clusters, with "
            "--output-mode clusters here too (the training run's grouping of its channels, "
            "kept in the model): an integer, or 'auto' (default: auto)"
            if model
            else "classes the labels end with: an integer, or 'auto' to let the method "
            "decide (default: auto)"
        ),
    )
    parser.add_argument(
        "--output-mode",
        default=None,
        dest="output_mode",
        choices=["regions", "clusters"],
        help=(
            "the output the model is trained for: with clusters and --n-classes N it keeps "
            "the grouping of its channels into N classes (default: regions)"
            if model
            else "regions: one id per connected region (instances); clusters: one id per "
            "class; Python's and the widget's 'output' (default: regions for the learned "
            "methods, clusters for kmeans, felzenszwalb, multiotsu and trainable, and "
            "clusters with --scribbles, whose classes keep their scribble ids)"
        ),
    )


def _train_parser(sub, methods, presets) -> None:
    t = sub.add_parser(
        "train",
        help="train one model on image files and save it",
        description="Train one model of a learned method on the inputs (same shape; "
        "stacked, so one model learns from all of them) and save it, for 'mmtseg "
        "segment --model FILE', napari_mmtseg.load_model(FILE) or the napari widget's "
        "'Load model...'. Options are never abbreviated.",
    )
    t.add_argument("inputs", nargs="+", metavar="INPUT", help="image file(s), folder(s), glob(s)")
    t.add_argument(
        "-o", "--output", required=True, dest="output", metavar="MODEL",
        help="the model file to write, e.g. model.pt (required)",
    )  # fmt: skip
    t.add_argument(  # no choices: another method is told why it cannot train
        "--method", default="mmt", metavar="{" + ",".join(LEARNED_METHODS) + "}",
        help="a learned method: mmt, kim2020 or kanezaki2018 (default: mmt)",
    )  # fmt: skip
    t.add_argument(
        "--preset", default=None, choices=list(presets),
        help="'paper' or 'fast' (default: 'paper' on a GPU, 'fast' on the CPU)",
    )  # fmt: skip
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument(
        "--threads", type=positive_int, default=None, metavar="N",
        help="torch threads for the training: the same seed and threads give the same model "
        "(default: torch's own setting, all cores)",
    )  # fmt: skip
    t.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    t.add_argument(
        "--channel-axis", type=channel_axis_arg, default=None, dest="channel_axis",
        metavar="N", help="as for 'mmtseg segment' (default: the file's, else guessed)",
    )  # fmt: skip
    _classes_args(t, model=True)
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a parameter, e.g. --set max_iter=200 (repeatable; default: none)",
    )  # fmt: skip
    t.add_argument(
        "--overwrite", action="store_true", help="replace MODEL if it exists (default: refuse)"
    )
    t.set_defaults(command="train")


def _bench_parser(sub, methods, presets) -> None:
    b = sub.add_parser(
        "bench",
        help="benchmark methods against annotations ('bench speed': timings)",
        description=_BENCH,
        usage="mmtseg bench [options]\n       mmtseg bench speed [options]",
    )
    b.add_argument(
        "--dataset",
        default=None,
        choices=["bsds", "masks"],
        help="bsds: BSDS500 (images/ and groundTruth/ under --root); masks: the "
        "microscopy images with masks (required to run)",
    )
    b.add_argument(
        "--root",
        default=None,
        help="data folder: the BSDS500 root (holding images/ and groundTruth/), or the "
        "microscopy folder (required to run)",
    )
    b.add_argument("--split", default="val", help="BSDS500 split (default val)")
    b.add_argument(
        "--methods",
        default="kmeans,felzenszwalb,mmt",
        help=f"comma-separated, from {','.join(methods)} (default: kmeans,felzenszwalb,mmt)",
    )
    b.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per run (default 1)")
    b.add_argument("--limit", type=int, default=None, help="first N images only (default: all)")
    b.add_argument(
        "--preset",
        default="fast",
        choices=list(presets),
        help="parameter preset of the learned methods (default: fast)",
    )
    b.add_argument(
        "--grid",
        action="store_true",
        help="kmeans over k in {2,5,...,20}, felzenszwalb over scale in "
        "{100,...,2000}, multiotsu over n_classes in {2,3,4} (default: each "
        "method's default only)",
    )
    b.add_argument(
        "--scribbles",
        action="store_true",
        help="give every run the same generated scribbles per image (strokes inside "
        "the ground truth's segments, seeded; docs/benchmarks.md) and label the "
        "rows 'scribbles'; for the learned methods and 'trainable' (default: off)",
    )
    b.add_argument(
        "--protocol",
        default="batch",
        choices=["batch", "interactive"],
        help="batch: one run per method and image; interactive: the simulated user of "
        "Refine (a 10-px stroke into the largest error per round; paint only, trainable "
        "and Refine compared; OUT/interactive.csv and .md; --methods, --seeds, --grid, "
        "--scribbles, --set not used) (default: batch)",
    )
    b.add_argument(
        "--rounds",
        default="1,3,5",
        help="interactive protocol: the rounds shown, comma-separated (default: 1,3,5)",
    )
    b.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. --set k=3 (repeatable; default: none)",
    )
    b.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    b.add_argument(
        "--out",
        required=True,
        help="output folder for results.csv, summary.md and figures (required)",
    )
    b.add_argument(
        "--no-report",
        action="store_true",
        help="skip the summary and figures (default: write them)",
    )
    b.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite summary.md and figures from OUT's CSV files (no runs; "
        "--dataset and --root not needed; default: off)",
    )
    b.add_argument(
        "--merge",
        default=None,
        metavar="DIR,DIR,...",
        help="no runs: combine these benchmark folders' results (the images that every "
        "method scored) into OUT and write its summary and figures (--dataset and "
        "--root not needed; default: none)",
    )
    b.set_defaults(command="bench")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``mmtseg`` parser with its ``segment``, ``train`` and ``bench`` sub-commands.

    ``mmtseg bench speed`` has its own parser (:func:`napari_mmtseg.bench.speed.add_parser`).

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``args.command`` names the sub-command. No option may be abbreviated.
    """
    from ._version import __version__
    from .params import METHODS, PRESETS

    parser = _Parser(
        prog="mmtseg",
        description="Unsupervised image segmentation (Mutual Mean-Teaching and baselines).",
    )
    parser.add_argument("--version", action="version", version=f"napari-mmtseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{segment,train,bench}")
    sub.required = True
    _segment_parser(sub, METHODS, PRESETS)
    _train_parser(sub, METHODS, PRESETS)
    _bench_parser(sub, METHODS, PRESETS)
    return parser
