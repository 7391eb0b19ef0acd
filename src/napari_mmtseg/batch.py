"""Many images at once: one task per image, in this process or on a
dask.distributed cluster (a local one of N worker processes, or any cluster a
``distributed.Client`` reaches: dask-jobqueue on HPC, Kubernetes, cloud).

    from distributed import Client
    from napari_mmtseg.batch import segment_many

    report = segment_many(["plate1/", "extra/*.tif"], "labels/", client=Client(...),
                          method="mmt", preset="fast", seed=0)
    report.n_failed, report.rows, report.summary_path

Each task reads its image, segments it and writes its labels itself (the
client never holds pixel data), under a temporary name then renamed, so a
killed task never leaves half a file under the output's name. Outputs that
exist are skipped (a rerun does only what is missing) unless
``overwrite=True``. A task whose worker dies is run again on another worker by
the scheduler (``distributed.scheduler.allowed-failures``, 3 by default); a
file that cannot be read or segmented is recorded with its error while the
rest go on. A summary CSV (:data:`SUMMARY_NAME`) beside the outputs has one
row per input: input, output, status, labels, seconds, device, worker, error.

Paths may be local or fsspec URLs (``s3://bucket/plate/``, ``gs://...``,
``file:///shared/...``): inputs, globs and the output folder alike.

``distributed`` is imported only when a cluster is used (the ``batch``
extra); ``from napari_mmtseg import segment`` never imports it.
"""
from __future__ import annotations

import csv
import glob
import io
import os
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["segment_many", "plan", "segment_file", "BatchReport", "BatchError", "IMAGE_SUFFIXES",
           "SUMMARY_NAME", "FIELDS", "local_cluster"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
SUMMARY_NAME = "mmtseg_summary.csv"
FIELDS = ("input", "output", "status", "labels", "seconds", "device", "worker", "error")


class BatchError(ValueError):
    """Inputs or output that cannot make a batch (nothing found, a clash of names)."""


# --------------------------------------------------------------------------- paths


def _is_url(p) -> bool:
    return "://" in str(p)


def _fs(url: str):
    import fsspec

    return fsspec.core.url_to_fs(url)  # (filesystem, path without protocol)


def _join(folder: str, name: str) -> str:
    if _is_url(folder):
        return folder.rstrip("/") + "/" + name
    return str(Path(folder) / name)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _expand(item: str, skip_names: set) -> list:
    """Files of one input: a file, a folder (its image files, not recursive) or a glob."""
    if _is_url(item):
        fs, path = _fs(item)
        proto = item.split("://", 1)[0]
        unstrip = (lambda p: f"{proto}://{p}")
        if any(c in path for c in "*?["):
            found = [unstrip(p) for p in sorted(fs.glob(path)) if _is_image(p)]
        elif fs.isdir(path):
            found = [unstrip(p) for p in sorted(fs.ls(path, detail=False))
                     if _is_image(p) and fs.isfile(p)]
        elif fs.isfile(path):
            return [item]
        else:
            raise BatchError(f"input not found: {item}")
    else:
        p = Path(item)
        if p.is_file():
            return [str(p)]
        if p.is_dir():
            found = sorted(str(q) for q in p.iterdir() if q.is_file() and _is_image(q.name))
        elif any(c in item for c in "*?["):
            found = sorted(q for q in glob.glob(item) if Path(q).is_file() and _is_image(q))
        else:
            raise BatchError(f"input not found: {item}")
    found = [f for f in found if f.rsplit("/", 1)[-1] not in skip_names]
    if not found:
        raise BatchError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {item}")
    return found


def plan(inputs: Iterable, output) -> list:
    """``[(input, output), ...]`` for files, folders and globs (local or fsspec).

    ``output`` is a folder (created if missing; labels named by
    :func:`napari_mmtseg.io.labels_name`), or a ``.tif`` path for a single
    input. Files in a folder that look like our own outputs (``*_labels.tif``)
    are left out. Raises :class:`BatchError` when nothing is found, an input is
    missing, or two inputs would write the same output.
    """
    from .io import labels_name

    inputs = [str(i) for i in inputs]
    if not inputs:
        raise BatchError("give image files, folders or globs")
    out = str(output)
    one_file = out.lower().endswith((".tif", ".tiff"))
    skip = set()
    files = []
    for item in inputs:
        for f in _expand(item, skip):
            name = f.replace("\\", "/").rsplit("/", 1)[-1]
            if not Path(item).is_file() and name.lower().endswith(("_labels.tif", "_labels.ome.tif")):
                continue  # a result of an earlier run that sits among the inputs
            files.append(f)
    if not files:
        raise BatchError(f"no images to segment in {', '.join(inputs)}")
    if one_file:
        if len(files) > 1:
            raise BatchError(f"{len(files)} inputs need an output folder, not the file {out}")
        _never_over_an_input([(files[0], out)])
        return [(files[0], out)]
    if not _is_url(out):
        if Path(out).exists() and not Path(out).is_dir():
            raise BatchError(f"output {out} exists and is not a folder")
    pairs, seen = [], {}
    for f in files:
        dst = _join(out, labels_name(f))
        if dst in seen:
            raise BatchError(f"two inputs would both write {dst}: {seen[dst]} and {f} (same name stem)")
        seen[dst] = f
        pairs.append((f, dst))
    _never_over_an_input(pairs)
    return pairs


def _never_over_an_input(pairs) -> None:
    """An output that is also an input would destroy the user's image."""
    def key(p):
        return p if _is_url(p) else str(Path(p).resolve())

    inputs = {key(src) for src, _ in pairs}
    for src, dst in pairs:
        if key(dst) in inputs:
            raise BatchError(f"the output {dst} of {src} is also an input; choose another output")


def _exists(path: str) -> bool:
    if _is_url(path):
        fs, p = _fs(path)
        return fs.exists(p)
    return Path(path).exists()


def _makedirs(folder: str) -> None:
    if _is_url(folder):
        fs, p = _fs(folder)
        fs.makedirs(p, exist_ok=True)
    else:
        Path(folder).mkdir(parents=True, exist_ok=True)


def _parent(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0] if _is_url(path) else str(Path(path).parent)


# --------------------------------------------------------------------------- one task


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"{get_worker().address} pid {os.getpid()}"
    except (ImportError, ValueError):
        return f"{socket.gethostname()} pid {os.getpid()}"


def _task_threads(threads: dict | int | None) -> int | None:
    """Torch threads for this task: a number, or the entry for this worker in
    a {worker address: threads} map (cores of its host / task slots there)."""
    if threads is None or isinstance(threads, int):
        return threads
    try:
        from distributed import get_worker

        w = get_worker()
    except (ImportError, ValueError):
        return None
    if w.address in threads:
        return threads[w.address]
    return max(1, _cores() // max(1, w.state.nthreads))


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def segment_file(src: str, dst: str, *, method: str = "mmt", preset: str = "fast", seed: int = 0,
                 channel_axis: int | None = None, device="auto", overrides: dict | None = None,
                 num_threads=None, overwrite: bool = False, on_progress: Callable | None = None,
                 on_warning: Callable | None = None) -> dict:
    """Segment the image file ``src`` and write its labels to ``dst``.

    The unit of work of a batch (runs in this process or on a dask worker).
    Never raises for a bad file: returns the summary row, a dict with the
    keys :data:`FIELDS`; ``status`` is ``"done"``, ``"skipped"`` (``dst``
    exists and not ``overwrite``) or ``"failed"`` (``error`` says why: a file
    that is not an image, an image the engine refuses, out of memory, ...).
    ``num_threads``: torch threads (int, or a {worker address: int} map);
    ``on_progress(event)`` gets the engine's Progress events and
    ``on_warning(message)`` its warnings (e.g. a dropped 4th channel).
    """
    import warnings

    from ._input import file_channel_axis
    from .engine import Progress, iter_segment
    from .io import read_image_meta, result_metadata

    row = dict.fromkeys(FIELDS, "")
    row.update(input=str(src), output=str(dst), worker=_worker_name())
    t0 = time.perf_counter()
    if not overwrite and _exists(dst):
        row["status"] = "skipped"
        return row
    try:
        image, meta = read_image_meta(src)
    except Exception as exc:
        row.update(status="failed", error=f"cannot read as an image: {_short(exc)}",
                   seconds=round(time.perf_counter() - t0, 3))
        return row
    if channel_axis is None:  # what the file says (a C axis, a ZYX stack), else the shape's guess
        channel_axis = file_channel_axis(meta.axes, image.ndim)
    try:
        result = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            for ev in iter_segment(image, method=method, preset=preset, seed=seed,
                                   channel_axis=channel_axis, device=device,
                                   preview_every=0, num_threads=_task_threads(num_threads),
                                   **(overrides or {})):
                if isinstance(ev, Progress):
                    if on_progress is not None:
                        on_progress(ev)
                else:
                    result = ev
        for w in caught:
            if on_warning is not None:
                on_warning(str(w.message))
        lmeta = meta.for_labels(result.channel_axis, image.ndim)
        md = result_metadata(result, lmeta, source=str(src))
        _write(dst, result.labels, lmeta, md)
    except Exception as exc:  # one bad image never stops the batch
        row.update(status="failed", error=_short(exc), seconds=round(time.perf_counter() - t0, 3))
        if not isinstance(exc, (ValueError, TypeError, MemoryError, OSError)):  # a bug: say where
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            row["error"] += f" (at {Path(frame.filename).name}:{frame.lineno})"
        return row
    row.update(status="done", labels=result.n_labels, seconds=round(time.perf_counter() - t0, 3),
               device=result.device, kept=_kept(lmeta), why=result.output.get("why", ""))
    return row


def _kept(meta) -> str:
    """What the labels file keeps of the input's metadata, for the log line."""
    if not meta.scale and meta.kind not in ("imagej", "ome"):
        return ""
    sizes = ", ".join(f"{a} {meta.scale[a]:g} {meta.units.get(a, '')}".rstrip()
                      for a in meta.axes if a in meta.scale)
    return f"axes {meta.axes or '?'}" + (f" ({sizes})" if sizes else "")


def _write(dst: str, labels, meta, provenance) -> None:
    from .io import write_labels

    if not _is_url(dst):
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        write_labels(dst, labels, meta, provenance)
        return
    # a URL: write locally, upload under a temporary name, then move it into place
    fs, path = _fs(dst)
    name = path.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, name)
        write_labels(local, labels, meta, provenance)
        part = f"{path.rsplit('/', 1)[0]}/.{name}.{os.getpid()}.part"
        fs.put_file(local, part)
        fs.mv(part, path)


# --------------------------------------------------------------------------- the summary


def _read_summary(path: str) -> dict:
    """Earlier rows by output path (to keep what a skipped output was made with)."""
    try:
        if _is_url(path):
            fs, p = _fs(path)
            if not fs.exists(p):
                return {}
            text = fs.cat_file(p).decode()
        else:
            if not Path(path).exists():
                return {}
            text = Path(path).read_text()
        return {r["output"]: r for r in csv.DictReader(io.StringIO(text))}
    except Exception:  # an unreadable old summary is replaced, never fatal
        return {}


def _write_summary(path: str, rows: list) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    if _is_url(path):
        fs, p = _fs(path)
        fs.pipe_file(p, buf.getvalue().encode())
        return
    tmp = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.part")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


@dataclass
class BatchReport:
    """What a batch did: ``rows`` (one dict per input, keys :data:`FIELDS`,
    in input order), the summary CSV's path (None for a single ``.tif``
    output) and the seconds it took."""

    rows: list = field(default_factory=list)
    summary_path: str | None = None
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)

    @property
    def n_failed(self) -> int:
        return self.count("failed")

    @property
    def ok(self) -> bool:
        return self.n_failed == 0


# --------------------------------------------------------------------------- the batch


def local_cluster(n_workers: int, threads_per_worker: int = 1, **kwargs):
    """A ``distributed.LocalCluster`` of ``n_workers`` worker processes, one
    task at a time each; its dashboard (if bokeh is installed) on a free port.
    Call it under ``if __name__ == "__main__":`` in a script (workers are spawned)."""
    from distributed import LocalCluster

    kwargs.setdefault("dashboard_address", ":0")
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                        processes=True, **kwargs)


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _threads_per_worker(client) -> dict:
    """{worker address: torch threads}: the cores of each worker's host shared
    among the task slots (threads) of all workers on that host."""
    from distributed.comm import get_address_host

    nthreads = client.nthreads()
    cores = client.run(_cores)
    slots: dict = {}
    for addr, n in nthreads.items():
        host = get_address_host(addr)
        slots[host] = slots.get(host, 0) + int(n)
    return {addr: max(1, int(cores.get(addr, 1)) // max(1, slots[get_address_host(addr)]))
            for addr in nthreads}


def segment_many(inputs, output, *, client=None, method: str = "mmt", preset: str = "fast",
                 seed: int = 0, channel_axis: int | None = None, device="auto",
                 overrides: dict | None = None, overwrite: bool = False, num_threads=None,
                 progress: bool | None = None, on_row: Callable | None = None,
                 log: bool = True) -> BatchReport:
    """Segment many image files, one task per file, and write their labels.

    inputs: files, folders (their .jpg/.png/.tif/.bmp files) and globs,
        local or fsspec URLs (a stack is one file, one task).
    output: a folder (``<stem>_labels.tif`` per input, plus the summary CSV
        :data:`SUMMARY_NAME`), or a ``.tif`` path for a single input.
    client: a ``distributed.Client``; None runs the files one after another
        in this process. With a client, every task runs on a worker and reads
        and writes its own files, so the paths must be reachable from the
        workers (shared file system or object storage).
    method, preset, seed, channel_axis, device, overrides: as for
        :func:`napari_mmtseg.segment`; the same seed gives the same labels in
        a batch as in a serial run (with the same torch threads and device).
    overwrite: redo outputs that exist (default: skip them).
    num_threads: torch threads per task; default: in this process, torch's
        own setting; on a cluster, the cores of each worker's host divided by
        the task slots of the workers there.
    progress: tqdm bars on stderr, one over the images and, in this process,
        one over each image's iterations (None: only when stderr is a
        terminal, so a log file gets no bar and no carriage returns).
    on_row: called with each row as it is known (in this process).
    log: True (default): one line per input, results on stdout, failures
        and warnings on stderr, written around the bars; False: none.

    Returns a :class:`BatchReport`; a failed file never raises. Raises
    :class:`BatchError` for inputs/output that cannot make a batch.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    pairs = plan(inputs, output)
    one_file = str(output).lower().endswith((".tif", ".tiff"))
    folder = _parent(pairs[0][1]) if one_file else str(output)
    _makedirs(folder)
    summary = None if one_file else _join(str(output), SUMMARY_NAME)
    before = _read_summary(summary) if summary else {}
    kw = dict(method=method, preset=preset, seed=seed, channel_axis=channel_axis, device=device,
              overrides=dict(overrides or {}), overwrite=overwrite)
    disable = None if progress is None else not progress

    def say(text, err=False):
        if log:
            tqdm.write(text, file=sys.stderr if err else sys.stdout)

    rows: list = [None] * len(pairs)
    last_write = [time.monotonic()]

    def known():  # this run's rows, and earlier rows of outputs not reached yet
        return [r if r is not None else before.get(dst) for r, (_, dst) in zip(rows, pairs)
                if r is not None or dst in before]

    def record(i, row):
        if row["status"] == "skipped" and row["output"] in before:
            old = before[row["output"]]
            row.update({k: old.get(k, "") for k in ("labels", "seconds", "device", "worker")})
        rows[i] = row
        if on_row is not None:
            on_row(row)
        if row["status"] == "done":
            kept = f", {row['kept']}" if row.get("kept") else ""
            n = row["labels"]
            say(f"{row['input']} -> {row['output']} ({n} label{'' if n == 1 else 's'}, "
                f"{row['seconds']} s, {row['device']}{kept})"
                + (f"\n  classes: {row['why']}" if row.get("why") else ""))
        elif row["status"] == "skipped":
            say(f"{row['input']}: skipped, {row['output']} exists (--overwrite, or overwrite=True, "
                "redoes it)")
        else:
            say(f"mmtseg: error: {row['input']}: {row['error']}", err=True)
        if summary and time.monotonic() - last_write[0] > 30:  # a killed client still leaves a record
            _write_summary(summary, known())
            last_write[0] = time.monotonic()

    try:
        if client is None:
            _run_here(pairs, kw, num_threads, record, disable, len(pairs) == 1, say)
        else:
            _run_cluster(client, pairs, kw, num_threads, record, disable)
    finally:
        if summary:
            _write_summary(summary, known())
        if not _is_url(folder):  # temporary files of tasks whose worker was killed
            for _, dst in pairs:
                for part in Path(dst).parent.glob(f".{Path(dst).name}.*.part"):
                    part.unlink(missing_ok=True)
    return BatchReport(rows=rows, summary_path=summary, seconds=time.perf_counter() - t0)


def _run_here(pairs, kw, num_threads, record, disable, single, say) -> None:
    """One file after another in this process; a per-iteration bar for each."""
    from tqdm.auto import tqdm

    outer = tqdm(total=len(pairs), unit="image", desc="images", disable=True if single else disable,
                 file=sys.stderr, dynamic_ncols=True)
    try:
        for i, (src, dst) in enumerate(pairs):
            name = src.replace("\\", "/").rsplit("/", 1)[-1]
            bar = tqdm(total=None, desc=name, unit="it", leave=False, disable=disable,
                       file=sys.stderr, dynamic_ncols=True, mininterval=0.2)

            def on_progress(ev, bar=bar):
                if bar.total != ev.total:
                    bar.total = ev.total
                if ev.message and not bar.disable:
                    bar.set_description_str(f"{name} ({ev.device})", refresh=False)
                post = {"labels": ev.n_labels}
                if ev.n_slices > 1:
                    post["slice"] = f"{ev.slice_index + 1}/{ev.n_slices}"
                if "loss" in ev.losses:
                    post["loss"] = f"{ev.losses['loss']:.3f}"
                bar.set_postfix(post, refresh=False)
                bar.update(ev.iteration - bar.n)

            try:
                row = segment_file(src, dst, num_threads=num_threads, on_progress=on_progress,
                                   on_warning=lambda m, n=name: say(f"mmtseg: warning: {n}: {m}", err=True),
                                   **kw)
            finally:
                bar.close()
            record(i, row)
            outer.update(1)
    finally:
        outer.close()


#: tasks handed to the scheduler at once: this many per task slot of the cluster, at least
#: _MIN_IN_FLIGHT; more are submitted as tasks finish, so a million inputs never sit in the
#: scheduler's memory at once and workers that join later (adaptive clusters) still get work
_IN_FLIGHT_PER_SLOT = 4
_MIN_IN_FLIGHT = 256


def _run_cluster(client, pairs, kw, num_threads, record, disable) -> None:
    """One task per file on the cluster, a bounded number in flight, results as they finish."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    threads = num_threads if num_threads is not None else _threads_per_worker(client)
    slots = sum(client.nthreads().values())
    window = max(_MIN_IN_FLIGHT, _IN_FLIGHT_PER_SLOT * slots)
    token = os.urandom(4).hex()
    futures: dict = {}
    todo = iter(enumerate(pairs))

    def submit_next(ac=None) -> None:
        nxt = next(todo, None)
        if nxt is None:
            return
        i, (src, dst) = nxt
        fut = client.submit(segment_file, src, dst, num_threads=threads, pure=False,
                            key=f"mmtseg-{token}-{i}", **kw)
        futures[fut] = i
        if ac is not None:
            ac.add(fut)

    for _ in range(window):
        submit_next()
    bar = tqdm(total=len(pairs), unit="image", desc="images", disable=disable, file=sys.stderr,
               dynamic_ncols=True)
    try:
        ac = as_completed(list(futures))
        for fut in ac:
            i = futures.pop(fut)
            submit_next(ac)
            src, dst = pairs[i]
            if fut.status == "finished":
                row = fut.result()
            else:  # the task itself could not run: its workers died (KilledWorker), cancelled, ...
                try:
                    exc = fut.exception()
                    err = _short(exc) if exc is not None else fut.status
                except Exception as e:  # cancelled futures raise here
                    err = _short(e)
                row = dict.fromkeys(FIELDS, "")
                row.update(input=src, output=dst, status="failed", error=err)
            fut.release()
            record(i, row)
            bar.update(1)
    finally:
        bar.close()
        for fut in futures:  # left over only when the batch was interrupted
            fut.cancel()
