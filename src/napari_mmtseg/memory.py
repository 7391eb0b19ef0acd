"""Memory: what fits is checked before any work, and an out-of-memory error
during a run becomes a :class:`MemoryError` that names what to reduce.
No Qt, no napari."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .params import LEARNED_METHODS, Params
from .train.view import train_shape

__all__ = [
    "available_bytes",
    "training_bytes",
    "host_bytes",
    "train_shape",
    "check_memory",
    "check_host_memory",
    "oom_guard",
]


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``.

    Parameters
    ----------
    device : torch.device
        A CUDA device (its free memory) or the CPU (``MemAvailable`` of
        /proc/meminfo; in a dask.distributed worker with a memory limit, at most what that
        limit leaves each task: the nanny stops a worker past it).

    Returns
    -------
    int or None
        Bytes, or None where it cannot be known (MPS, no /proc).
    """
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    free = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        pass
    left = _worker_room()
    if left is None:
        return free
    return left if free is None else min(free, left)


def _worker_room() -> int | None:
    """What a dask.distributed worker's memory limit leaves each of its tasks: the limit at
    which its nanny stops it (``distributed.worker.memory.terminate`` of it) less what its
    process holds, shared by its threads. None outside a worker, without a limit, or where
    the nanny never stops it."""
    import sys

    if "distributed" not in sys.modules:  # never imported: not in a worker
        return None
    import dask
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a worker
        return None
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
    stop = dask.config.get("distributed.worker.memory.terminate", 0.95)
    if not limit or not stop:
        return None
    import psutil

    threads = max(1, int(getattr(getattr(worker, "state", None), "nthreads", 1) or 1))
    room = int(limit * float(stop)) - int(psutil.Process().memory_info().rss)
    return max(0, room // threads)


def training_bytes(h: int, w: int, p: Params, n_models: int) -> int:
    """Estimate the peak memory of training on an ``h x w`` view.

    Activations and their gradients: about ``4 * n_conv + 3`` maps of ``q``
    floats per pixel and network (measured against peak RSS in
    docs/performance.md).

    Parameters
    ----------
    h, w : int
        The training view's size in pixels.
    p : Params
        The run's parameters (``q``, ``n_conv``).
    n_models : int
        The networks trained at once (2 for MMT).

    Returns
    -------
    int
        Bytes.
    """
    return int(h * w * p.q * 4 * (4 * p.n_conv + 3) * n_models)


def host_bytes(n_slices: int, h: int, w: int, channels: int, itemsize: int) -> int:
    """Estimate the peak host memory of the full-size arrays of a run.

    The int32 labels of the whole stack and the relabelled output (up to 4
    bytes each per pixel), plus one slice as read (``itemsize``) and as
    float32, its label map and the cross-slice alignment's temporaries
    (about 16 bytes per pixel).

    Parameters
    ----------
    n_slices : int
        The number of 2D slices.
    h, w : int
        The size of one slice in pixels.
    channels : int
        Channels per pixel.
    itemsize : int
        Bytes per value as read.

    Returns
    -------
    int
        Bytes.
    """
    return int(n_slices * h * w * 8 + h * w * (channels * (itemsize + 4) + 16))


def check_host_memory(
    prep, method: str, p: Params, device: torch.device, labelled: bool = True
) -> None:
    """Refuse up front an image whose full-size arrays cannot fit in RAM.

    Runs before any pixel of a lazy image is read (the intensity range is
    sampled with the first slice, after this check).

    Parameters
    ----------
    prep : napari_mmtseg.image.PreparedImage
        The image (its shape, channels and dtype only).
    method : str
        The method (learned methods also hold a tile's activations and, on
        the CPU, the training's).
    p : Params
        The run's parameters.
    device : torch.device
        Where the networks run.
    labelled : bool, optional
        Whether the run labels the image (False: a model is trained and nothing is
        labelled, so no stack of labels is held; one full slice still is, as read and as
        float32).

    Raises
    ------
    MemoryError
        When the estimate exceeds 80 % of the available RAM, with what to change.
    """
    H, W = prep.yx
    n = prep.n_slices if labelled else 0
    need = host_bytes(n, H, W, prep.n_channels, np.dtype(prep.source.dtype).itemsize)
    if method in LEARNED_METHODS:  # tiled inference: one tile's activations
        t = min(p.tile, H) * min(p.tile, W)
        need += t * p.q * 4 * 3
        if device.type == "cpu":  # training shares the RAM too
            h, w = train_shape((H, W), p.train_size)
            need += training_bytes(h, w, p, 2 if method == "mmt" else 1)
    free = available_bytes(torch.device("cpu"))
    if free is not None and need > 0.8 * free:
        raise MemoryError(
            f"An image of {prep.n_slices} x {H}x{W} pixels with {prep.n_channels} channel(s) needs "
            f"about {need / 2**30:.1f} GiB of RAM for {method}, more than the "
            f"{free / 2**30:.1f} GiB available. Segment a crop, a downscaled copy or fewer "
            f"slices (e.g. the current slice only)."
            + (
                f" Lowering tile (now {p.tile}) helps a little."
                if method in LEARNED_METHODS
                else ""
            )
        )


def check_memory(shape, p: Params, method: str, device: torch.device) -> None:
    """Refuse up front, with what to change, a training run that cannot fit.

    Parameters
    ----------
    shape : tuple of int
        (H, W) of one slice.
    p : Params
        The run's parameters (``train_size``, ``q``, ``n_conv``).
    method : str
        The learned method.
    device : torch.device
        Where the networks train.

    Raises
    ------
    MemoryError
        When the estimate exceeds 80 % of the free memory of ``device``.
    """
    h, w = train_shape(shape, p.train_size)
    need = training_bytes(h, w, p, 2 if method == "mmt" else 1)
    free = available_bytes(device)
    if free is not None and need > 0.8 * free:
        side = int(max(h, w) * (0.8 * free / need) ** 0.5)
        size = max(8, side // 8 * 8)
        raise MemoryError(
            f"Training {method} on {h}x{w} pixels with q={p.q} needs about {need / 2**30:.1f} GiB, "
            f"more than the {free / 2**30:.1f} GiB free on {device}. Set train_size={size} "
            f"or less (training on a reduced copy, labels still at full size), lower q, or use the "
            f"'fast' preset."
        )


_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@contextlib.contextmanager
def oom_guard(device: torch.device, p: Params, shape):
    """Turn an out-of-memory error inside the block into a MemoryError that names what to reduce.

    Parameters
    ----------
    device : torch.device
        Where the block runs (a CUDA cache is emptied after an error).
    p : Params
        The run's parameters, named in the message.
    shape : tuple of int
        The image's shape, its last two (H, W) named in the message.

    Yields
    ------
    None
        Runs the block.

    Raises
    ------
    MemoryError
        For torch's OutOfMemoryError or an allocation RuntimeError.
    """
    try:
        yield
    except _OOM as exc:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise MemoryError(
            f"Out of memory on {device} for an image of {shape[-2]}x{shape[-1]} pixels with "
            f"q={p.q} channels. Reduce train_size (now {p.train_size}), q or tile "
            f"(now {p.tile}), use the 'fast' preset, or run on device='cpu'."
        ) from exc
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise MemoryError(
                f"Out of memory on {device}: reduce train_size (now {p.train_size}), q "
                f"(now {p.q}) or tile (now {p.tile}), or segment a smaller region."
            ) from exc
        raise
