"""Running a batch: in this process, one image after another, or on a dask.distributed
cluster with a bounded number of tasks in flight; a failed task is a row, never a raise.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from functools import partial

from .. import storage
from ..plan import checked_method, run_params, warn_unused_preset
from .cluster import threads_per_worker
from .plan import check_output, plan, single_output
from .summary import SUMMARY_NAME, BatchReport, read_summary, write_summary
from .task import check_model_info, failed_row, segment_file, short_error

__all__ = ["segment_many", "IN_FLIGHT_PER_SLOT", "IN_MEMORY", "MIN_IN_FLIGHT"]

#: tasks handed to the scheduler at once: this many per task slot of the cluster, at least
#: MIN_IN_FLIGHT; more are submitted as tasks finish, so a million inputs never sit in the
#: scheduler's memory at once and workers that join later (adaptive clusters) still get work
IN_FLIGHT_PER_SLOT = 4
MIN_IN_FLIGHT = 256
#: seconds between rewrites of the summary during a run (a killed client still leaves one)
_SUMMARY_EVERY = 30
#: the ``model`` column of a model given in memory, not as a file
IN_MEMORY = "(in memory, not saved)"


class _Recorder:
    """Collects the rows as they come, logs each, and rewrites the summary now and then."""

    def __init__(self, pairs, summary, log, on_row):
        self.pairs, self.summary, self.log, self.on_row = pairs, summary, log, on_row
        self.before = read_summary(summary) if summary else {}
        mine = {dst for _, dst in pairs}
        self.others = [
            r
            for dst, r in self.before.items()
            if dst not in mine and r.get("input") and storage.exists(r["input"])
        ]
        self.rows: list = [None] * len(pairs)
        self.last_write = time.monotonic()

    def say(self, text: str, err: bool = False) -> None:
        from tqdm.auto import tqdm

        if self.log:
            tqdm.write(text, file=sys.stderr if err else sys.stdout)

    def known(self) -> list:
        """Earlier runs' rows of other outputs whose input is still there (a rerun of some
        inputs into the folder keeps the rest of its record), then this run's rows and
        earlier rows of its outputs not reached yet."""
        return self.others + [
            r if r is not None else self.before.get(dst)
            for r, (_, dst) in zip(self.rows, self.pairs)
            if r is not None or dst in self.before
        ]

    def close(self) -> str | None:
        """Write the summary a last time; its path, or None when there is none or it
        cannot be written (said in one line: the folder turned read-only or full)."""
        if not self.summary:
            return None
        try:
            write_summary(self.summary, self.known())
        except OSError as exc:
            self.say(f"mmtseg: error: cannot write {self.summary}: {short_error(exc)}", err=True)
            return None
        return self.summary

    def __call__(self, i: int, row: dict) -> None:
        if row["status"] == "skipped" and row["output"] in self.before:
            old = self.before[row["output"]]
            kept = ("labels", "seconds", "device", "worker", "model", "model_sha256")
            row.update({k: old.get(k, "") for k in kept})  # what made the output there
        self.rows[i] = row
        if self.on_row is not None:
            self.on_row(row)
        if row["status"] == "done":
            kept = f", {row['kept']}" if row.get("kept") else ""
            n = row["labels"]
            self.say(
                f"{row['input']} -> {row['output']} ({n} label{'' if n == 1 else 's'}, "
                f"{row['seconds']} s, {row['device']}{kept})"
                + (f"\n  {row['why']}" if row.get("why") else "")
            )
        elif row["status"] == "skipped":
            self.say(
                f"{row['input']}: skipped, {row['output']} exists (--overwrite, or "
                "overwrite=True, redoes it)"
            )
        else:
            self.say(f"mmtseg: error: {row['input']}: {row['error']}", err=True)
        if self.summary and time.monotonic() - self.last_write > _SUMMARY_EVERY:
            self.last_write = time.monotonic()
            try:
                write_summary(self.summary, self.known())
            except OSError:  # said once, at the end of the batch
                pass


def segment_many(
    inputs,
    output,
    *,
    client=None,
    method: str | None = None,
    preset: str | None = None,
    seed: int = 0,
    channel_axis: int | None = None,
    device="auto",
    overrides: dict | None = None,
    overwrite: bool = False,
    num_threads=None,
    progress: bool | None = None,
    on_row: Callable | None = None,
    log: bool = True,
    model=None,
    model_info: dict | None = None,
) -> BatchReport:
    """Segment many image files, one task per file, and write their labels.

    Parameters
    ----------
    inputs : str, os.PathLike or iterable of them
        Files, zarr stores, folders (their images) and globs, local or fsspec URLs
        (a stack is one file, one task); one alone stands for itself, as on the command
        line.
    output : str
        A folder (``<stem>_labels.tif`` per input, plus the summary CSV
        :data:`~napari_mmtseg.batch.summary.SUMMARY_NAME`), or a ``.tif`` path for a
        single input.
    client : distributed.Client, optional
        Runs every task on a worker, which reads and writes its own files, so the paths
        must be reachable from the workers (shared file system or object storage).
        None (default) runs the files one after another in this process.
    method, preset, seed, channel_axis, device, overrides
        As for :func:`napari_mmtseg.segment` (``method`` None: the model's, or ``"mmt"``
        without one; ``preset`` None: ``"fast"``, or with
        ``model`` none: a preset given with a model is unused, and said so by a
        ``UserWarning``); the same seed gives the same labels in a batch as in a serial run
        with the same torch threads and device.
    overwrite : bool, optional
        Redo outputs that exist (default: skip them).
    num_threads : int or dict, optional
        Torch threads per task; default: in this process, torch's own setting; on a
        cluster, the cores of each worker's host divided by the task slots there.
    progress : bool, optional
        tqdm bars on stderr, one over the images and, in this process, one over each
        image's iterations (None: only when stderr is a terminal).
    on_row : callable, optional
        Called with each row as it is known (in this process).
    log : bool, optional
        True (default): one line per input, results on stdout, failures and warnings on
        stderr, written around the bars; False: none.
    model : Model, optional
        One trained model (:func:`napari_mmtseg.load_model`, or a result's ``.model``)
        applied to every input by inference alone, so a class has one id on every image
        (``method`` is then the model's: leave it out). On a cluster it is sent to every
        worker once, not with each task.
    model_info : dict, optional
        ``{"model": file, "model_sha256": hash}`` (:func:`~.train.model_record`): written
        in each row of the summary and each labels file's metadata; refused without
        ``model`` (the inputs would train their own networks, not be labelled by it).
        None with a model: :data:`IN_MEMORY` and the hash its file would have
        (:meth:`~napari_mmtseg.Model.sha256`).

    Returns
    -------
    BatchReport
        The rows, the summary's path and the seconds taken; a failed file never raises.

    Raises
    ------
    BatchError
        For inputs or an output that cannot make a batch.
    ValueError
        For an unknown method, one other than the model's, ``model_info`` without
        ``model``, or overrides no run can take (an invalid value; with ``model``, a field of
        its networks, or ``n_classes`` with clusters output), before any input is read.
    TypeError
        For a ``model`` that is not a :class:`~napari_mmtseg.Model` (a path: load it
        with :func:`napari_mmtseg.load_model`).
    """
    t0 = time.perf_counter()
    method = checked_method(method, model)  # before any work, as segment() checks them
    check_model_info(model, model_info)  # no record of a model that labels nothing
    if model is not None and not model_info:  # a model in memory: named by its hash
        model_info = {"model": IN_MEMORY, "model_sha256": model.sha256()}
    if model is not None and preset is not None:
        warn_unused_preset(preset, stacklevel=2)
    preset = "fast" if preset is None else preset
    _check_overrides(method, preset, model, overrides)
    pairs, record = _prepare(inputs, output, log, on_row)
    kw = dict(method=method, preset=preset, seed=seed, channel_axis=channel_axis,
              device=device, overrides=dict(overrides or {}), overwrite=overwrite,
              model=model, model_info=dict(model_info or {}))  # fmt: skip
    run = _run_here if client is None else partial(_run_cluster, client)
    try:
        run(pairs, kw, num_threads, record, None if progress is None else not progress)
    finally:
        summary = _finish(record, pairs)
    return BatchReport(rows=record.rows, summary_path=summary, seconds=time.perf_counter() - t0)


def _check_overrides(method: str, preset: str, model, overrides) -> None:
    """Refuse, before any input, overrides that every input's run would refuse (ValueError);
    each run gives its own warnings."""
    import warnings
    from dataclasses import fields

    from ..params import Params

    names = {f.name for f in fields(Params)}
    given = {k: v for k, v in (overrides or {}).items() if k in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_params(method, preset, model, given)


def _prepare(inputs, output, log: bool, on_row) -> tuple[list, _Recorder]:
    """The batch's (input, output) pairs, its output checked, and the recorder of its rows."""
    pairs = plan(inputs, output)
    check_output(pairs, output)  # before any work: a batch that cannot write never starts
    summary = None if single_output(output) else storage.join(str(output), SUMMARY_NAME)
    return pairs, _Recorder(pairs, summary, log, on_row)


def _finish(record: _Recorder, pairs: list) -> str | None:
    """Write the summary a last time and remove what killed tasks left; the summary's path."""
    summary = record.close()
    storage.clean_parts(dst for _, dst in pairs)  # tasks whose worker was killed
    return summary


def _run_here(pairs, kw, num_threads, record, disable) -> None:
    """One file after another in this process; a per-iteration bar for each."""
    from tqdm.auto import tqdm

    single = len(pairs) == 1
    outer = tqdm(
        total=len(pairs),
        unit="image",
        desc="images",
        disable=True if single else disable,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        for i, (src, dst) in enumerate(pairs):
            name = storage.name(src)
            bar = tqdm(
                total=None,
                desc=name,
                unit="it",
                leave=False,
                disable=disable,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.2,
            )

            def warn(message, name=name):
                record.say(f"mmtseg: warning: {name}: {message}", err=True)

            try:
                row = segment_file(
                    src,
                    dst,
                    num_threads=num_threads,
                    on_progress=_bar_updater(bar, name),
                    on_warning=warn,
                    **kw,
                )
            finally:
                bar.close()
            record(i, row)
            outer.update(1)
    finally:
        outer.close()


def _bar_updater(bar, name: str) -> Callable:
    """``on_progress`` for one image's tqdm bar."""

    def on_progress(ev) -> None:
        # no total on the bar: a run stops early when its labels settle, so an estimate
        # from the most iterations it may take would be wrong; elapsed and it/s are shown
        if ev.message and not bar.disable:
            bar.set_description_str(f"{name} ({ev.device})", refresh=False)
        post = {"labels": ev.n_labels, "at most": ev.total}
        if ev.n_slices > 1:
            post["slice"] = f"{ev.slice_index + 1}/{ev.n_slices}"
        if "loss" in ev.losses:
            post["loss"] = f"{ev.losses['loss']:.3f}"
        bar.set_postfix(post, refresh=False)
        bar.update(ev.iteration - bar.n)

    return on_progress


def _run_cluster(client, pairs, kw, num_threads, record, disable) -> None:
    """One task per file on the cluster, a bounded number in flight, results as they finish."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    threads = num_threads if num_threads is not None else threads_per_worker(client)
    slots = sum(client.nthreads().values())
    window = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_SLOT * slots)
    token = os.urandom(4).hex()
    if kw["model"] is not None:  # to every worker once; each task gets a reference to it
        kw = {**kw, "model": client.scatter(kw["model"], broadcast=True, hash=False)}
    futures: dict = {}
    todo = iter(enumerate(pairs))

    def submit_next(ac=None) -> None:
        nxt = next(todo, None)
        if nxt is None:
            return
        i, (src, dst) = nxt
        fut = client.submit(
            segment_file, src, dst, num_threads=threads, pure=False,
            key=f"mmtseg-{token}-{i}", **kw,
        )  # fmt: skip
        futures[fut] = i
        if ac is not None:
            ac.add(fut)

    for _ in range(window):
        submit_next()
    bar = tqdm(
        total=len(pairs), unit="image", desc="images", disable=disable, file=sys.stderr,
        dynamic_ncols=True,
    )  # fmt: skip
    try:
        ac = as_completed(list(futures))
        for fut in ac:
            i = futures.pop(fut)
            submit_next(ac)
            record(i, _row_of(fut, *pairs[i]))
            fut.release()
            bar.update(1)
    finally:
        bar.close()
        for fut in futures:  # left over only when the batch was interrupted
            fut.cancel()


def _row_of(fut, src: str, dst: str) -> dict:
    """The row a finished future gives, or a failed row when the task could not run."""
    if fut.status == "finished":
        return fut.result()
    # the task itself could not run: its workers died (KilledWorker), cancelled, ...
    try:
        exc = fut.exception()
        err = short_error(exc) if exc is not None else fut.status
    except Exception as e:  # cancelled futures raise here
        err = short_error(e)
    return failed_row(src, dst, err)
