"""The thread a run computes in: one napari generator worker over the engine
(``_job.run_job``), started in Qt's global thread pool; torch's thread count;
a background warm-up of the imports a first run needs."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from napari.qt.threading import create_worker
from qtpy.QtCore import QThreadPool

from ..refine import iter_refine
from ._job import Job, run_job, throttled

__all__ = [
    "Run",
    "RUNNING",
    "refine_job",
    "default_threads",
    "make_worker",
    "start",
    "starting_text",
    "stop",
    "warm_up",
    "warm_up_once",
    "warning_text",
]

_WARM: list = []  # the warm-up thread, once started in this process
#: ids of the runs in progress (torch's thread count is process-wide: one run at a time)
RUNNING: set = set()


@dataclass
class Run:
    """One run of the widget: what it segments and what it holds while it goes."""

    job: Job
    method: str
    update: bool  # write into the previous result
    gen: Any = None  # the engine generator (closed by :func:`stop`)
    worker: Any = None  # the napari GeneratorWorker while it runs
    pbar: Any = None  # napari's progress bar
    preview: Any = None  # the preview Labels layer
    outcome: str = "cancelled"  # "done", "cancelled" or "error"
    cancelled: bool = False
    last_gui: float = 0.0  # when the status text was last updated
    iterations: int = 0  # training iterations done so far (the last Progress event's)
    warned: set = field(default_factory=set)  # the warnings shown (each once per run)
    plan: Any = None  # a Refine's :class:`~napari_mmtseg._napari._refine.Plan` (None: a Run)
    channel_axis: Any = None  # the widget's channel-axis choice for this run
    model: Any = None  # a kept model applied by inference alone (None: the run trains)
    model_file: str | None = None  # the file of ``model`` (None: not saved)
    output_chosen: bool = False  # whether the form's output was the user's at its launch
    target: Any = None  # the previous result a Run updates (``update``), chosen at its launch
    target_before: Any = None  # that result's labels in the run's region at its launch


def default_threads() -> int:
    """Torch threads on the CPU: all cores but one, which keeps the viewer fluid."""
    return max(1, (os.cpu_count() or 2) - 1)


def warm_up() -> None:
    """Import what a first run would otherwise import lazily in its worker.

    torch's optimiser machinery (torch._dynamo, about a second of imports) and
    scikit-image's resize: imports hold the GIL in long chunks, so in a run
    they stall the viewer for up to a few hundred ms. Runs off the GUI thread
    (:func:`warm_up_once`), so it touches no napari or Qt object, not even by
    making one: napari's objects are not thread-safe (making a layer there
    while the GUI thread adds one broke the user's layer, napari#2681). No
    torch computation either: two threads computing with torch while one
    changes its thread count can deadlock.
    """
    import skimage.transform  # noqa: F401  (training on a smaller copy)
    import torch

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def warm_up_once() -> None:
    """Start the warm-up in a plain daemon thread (not a Qt thread-pool slot), once."""
    if not _WARM:
        _WARM.append(threading.Thread(target=warm_up, name="mmtseg-warm-up", daemon=True))
        _WARM[0].start()


def _drive(gen):
    yield from gen


def starting_text(run: Run) -> str:
    """The widget's status line while ``run`` starts: what it segments, how."""
    job, plan = run.job, run.plan
    where = ""
    if job.level:
        where = f" at pyramid level {job.level} ({job.out_shape[-2]}x{job.out_shape[-1]} per slice)"
    if run.model is not None:
        return f"applying the kept {run.method} model to {job.source_name}{where} ..."
    if plan is None:
        return f"starting {run.method} on {job.source_name}{where} ..."
    origin = "from the previous networks" if plan.init_model is not None else "from scratch"
    return (
        f"refining {job.source_name} with {plan.n_scribbled} scribbled "
        f"pixels of {plan.layer_name!r}, {run.method} {origin}{where} ..."
    )


def warning_text(args, run: Run | None) -> str | None:
    """The text of a warning the engine gave in the worker, if the user should see it.

    ``args``: those of ``warnings.showwarning`` (napari's worker passes them
    on). Only UserWarnings (library deprecations and numpy's runtime
    warnings are not the user's business), each once per ``run``.
    """
    message, category = args[0], args[1]
    if not issubclass(category, UserWarning):
        return None
    text = str(message)
    if run is not None:
        if text in run.warned:
            return None
        run.warned.add(text)
    return text


def refine_job(job: Job, plan, engine_kwargs: dict, preview_every_s: float = 0.3):
    """Generator for the worker thread: a refine of ``plan``'s labels
    (:func:`napari_mmtseg.refine.iter_refine`), previews throttled.

    ``engine_kwargs``: the widget's run arguments; their ``output`` (when the user chose
    one) replaces the result's, and their device, seed, preset, previews, threads and
    axes are used. Closing it stops the refine at the next step."""
    kw = engine_kwargs
    gen = iter_refine(
        job.image,
        plan.labels,
        plan.strokes,
        plan.init_model,
        output=kw.get("output", plan.output),
        channel_axis=job.channel_axis,
        rgb=job.rgb,
        device=kw.get("device", "auto"),
        seed=kw.get("seed", 0),
        preset=kw.get("preset"),
        preview_every=kw.get("preview_every", 10),
        num_threads=kw.get("num_threads"),
        axes=kw.get("axes"),  # a Z stack's new objects joined along Z, as in the run
    )
    try:
        yield from throttled(gen, preview_every_s)
    finally:
        gen.close()


def make_worker(run: Run, engine_kwargs: dict):
    """The (not yet started) worker of ``run``: it yields the engine's events (a Refine
    of a result with networks: :func:`refine_job`'s)."""
    plan = run.plan
    if plan is not None and plan.labels is not None:
        run.gen = refine_job(run.job, plan, engine_kwargs)
    else:
        if plan is not None and "output" not in engine_kwargs and plan.target is not None:
            # learning from scribbles as classes: the result's output mode unless chosen
            out = plan.target.metadata.get("params", {}).get("output")
            if out is not None:
                engine_kwargs = {**engine_kwargs, "output": out}
        run.gen = run_job(run.job, engine_kwargs)
    run.worker = create_worker(_drive, run.gen, _start_thread=False, _ignore_errors=True)
    key = id(run)
    RUNNING.add(key)
    # connected before the start, so the end of the run frees the guard even when it
    # comes while :func:`stop` looks at the worker
    run.worker.finished.connect(lambda: RUNNING.discard(key))
    return run.worker


def start(worker) -> None:
    """Start ``worker`` in Qt's global thread pool, keeping a thread of the pool
    free: Qt's image scaling on the GUI thread (e.g. napari's activity
    spinner) splits work over that pool and waits for it, and a pool filled
    by long-running workers, which need the GIL that the waiting GUI thread
    holds, deadlocks."""
    pool = QThreadPool.globalInstance()
    if pool.activeThreadCount() + 2 > pool.maxThreadCount():
        pool.setMaxThreadCount(pool.activeThreadCount() + 2)
    worker.start()


def stop(run: Run | None) -> None:
    """Stop ``run`` and free what it holds; safe to call more than once."""
    if run is None:
        return
    worker, run.worker = run.worker, None
    if worker is not None:
        if worker.is_running:  # the widget is going away: stop at the next iteration
            worker.quit()
        else:  # the thread is done: close the engine (restores torch's thread count)
            RUNNING.discard(id(run))
            run.gen.close()
    pbar, run.pbar = run.pbar, None
    if pbar is not None:
        pbar.close()
