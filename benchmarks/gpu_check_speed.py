"""The speed steps of benchmarks/gpu_check.py: the engine's presets and the literal Algorithm 1.

Seconds per iteration and end to end, GFLOP per iteration (convolutions, counted), achieved
TFLOP/s and peak GPU memory, on scikit-image's ``coffee`` photo resized.
"""

from __future__ import annotations

import time

import numpy as np

#: the engine's speed configurations: preset and overrides. ``paper_sync1`` is the paper
#: preset with a host read after every step (the loop before the GPU loop of issue 26);
#: ``paper_bf16`` the paper preset in bfloat16 autocast; all but ``paper_sync1`` read the host
#: every ``sync_every`` steps (10 on CUDA)
ENGINE_CONFIGS = {
    "fast": ("fast", {}),
    "paper": ("paper", {}),
    "paper_sync1": ("paper", {"sync_every": 1}),
    "paper_bf16": ("paper", {"bf16": True}),
}


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def _per_iteration(stamps: list, k: int, t0: float) -> float:
    """Seconds per step from the progress events' times, the loop reading every ``k`` steps.

    The events of a batch of ``k`` steps all come at the batch's end: time from the end of
    the second batch (else the first) to the last step, per step in between (``k = 1``:
    from the second step); a run of one batch: from the start, setup included.
    """
    n = len(stamps)
    ref = 2 * k - 1 if n > 2 * k else k - 1 if n > k else None
    return (stamps[-1] - stamps[ref]) / (n - 1 - ref) if ref is not None else (stamps[-1] - t0) / n


def gflop_per_iter(h: int, w: int, c_in: int, q: int, n_conv: int) -> float:
    """Convolution GFLOP of one MMT iteration on an ``h x w`` training view.

    Two students' forward and backward passes (three forwards' work each) and two teacher
    forwards: eight forwards of ``n_conv`` 3 x 3 layers and the 1 x 1 head, 2 FLOP per MAC.

    Parameters
    ----------
    h, w : int
        Training view, pixels.
    c_in : int
        Image channels.
    q : int
        Network channels.
    n_conv : int
        3 x 3 layers.

    Returns
    -------
    float
        GFLOP per iteration.
    """
    macs = c_in * 9 * q + (n_conv - 1) * 9 * q * q + q * q
    return 8 * 2.0 * h * w * macs / 1e9


def engine_speed(img, preset: str, device: str, cap: float, over: dict, t_full: int) -> dict:
    """Time the engine's MMT on one image: per iteration, training, end to end.

    Runs ``iter_segment`` with ``min_labels=1`` (no stop on the label count), after a
    two-iteration warm-up on a GPU; closes the run once it passes ``cap`` seconds.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) uint8 image.
    preset : str
        ``"paper"`` or ``"fast"``.
    device : str
        Torch device.
    cap : float
        Seconds after which the run is closed (its end to end is then extrapolated).
    over : dict
        Parameter overrides (``max_iter`` for a shortened run, ``q`` in tiny mode).
    t_full : int
        Iterations of the end-to-end figure of ``paper`` (``fast``: its own ``max_iter``).

    Returns
    -------
    dict
        Iterations run, seconds per iteration, training and end-to-end seconds, end to end
        for ``t_full`` iterations (measured, or extrapolated and flagged), GFLOP per iteration,
        achieved TFLOP/s, peak GPU memory.
    """
    import torch

    from napari_mmtseg import SegmentationResult, iter_segment, make_params
    from napari_mmtseg.memory import train_shape
    from napari_mmtseg.train.sync import sync_every

    over = {"min_labels": 1, **over}
    p = make_params("mmt", preset, **over)
    if device.startswith("cuda"):
        for _ in iter_segment(
            img, "mmt", preset, device=device, preview_every=0, **{**over, "max_iter": 2}
        ):
            pass
    _peak_reset(device)
    stamps, res, t0 = [], None, time.perf_counter()
    gen = iter_segment(img, "mmt", preset, seed=0, device=device, preview_every=0, **over)
    for ev in gen:
        if isinstance(ev, SegmentationResult):
            res = ev
        else:
            stamps.append(time.perf_counter())
            if stamps[-1] - t0 > cap:
                gen.close()
                break
    total = time.perf_counter() - t0
    n = len(stamps) - 1
    k = sync_every(p, torch.device(device))
    s_iter = _per_iteration(stamps, k, t0)
    th, tw = train_shape(img.shape[:2], p.train_size)
    gf = gflop_per_iter(th, tw, img.shape[2], p.q, p.n_conv)
    row = {
        "iterations": n,
        "s_per_iter": s_iter,
        "train_s": stamps[-1] - stamps[0],
        "end_to_end_s": total if res else None,
        "cut": res is None,
        "gflop_per_iter": gf,
        "tflops": gf / s_iter / 1e3,
        "peak_mib": _peak_mib(device),
        "train_view": [th, tw],
        "sync_every": k,
        "fused": p.fused if p.fused is not None else device.startswith("cuda"),
        "bf16": p.bf16,
    }
    full = p.max_iter if preset == "fast" else t_full
    if res is not None and (n >= full or n < p.max_iter):  # all of T, or the preset's own stop
        row["end_to_end_T_s"], row["extrapolated"] = total, False
    else:
        done = total if res else stamps[-1] - t0
        row["end_to_end_T_s"], row["extrapolated"] = done + (full - n) * s_iter, True
    return row


def literal_speed(img, device: str, iters: int, q: int, t_full: int, cap: float) -> dict:
    """Time the literal Algorithm 1 (benchmarks/algorithm1.py) on one image.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) uint8 image.
    device : str
        Torch device.
    iters : int
        Iterations timed (after a warm-up on a GPU).
    q : int
        Network channels (100: the paper's).
    t_full : int
        Iterations of the end-to-end figure.
    cap : float
        Seconds after which no further iteration starts.

    Returns
    -------
    dict
        Seconds per iteration (median), end to end for ``t_full`` iterations (extrapolated),
        GFLOP per iteration and achieved TFLOP/s, peak GPU memory.
    """
    import algorithm1

    if device.startswith("cuda"):
        algorithm1.run(img[:64, :64], iters=3, q=q, device=device)
    _peak_reset(device)
    _, secs = algorithm1.run(img, iters=iters + 1, q=q, device=device, seconds=cap)
    s_iter = float(np.median(secs))
    gf = gflop_per_iter(img.shape[0], img.shape[1], img.shape[2], q, 2)
    return {
        "iterations": len(secs),
        "s_per_iter": s_iter,
        "end_to_end_T_s": s_iter * t_full,
        "extrapolated": True,
        "gflop_per_iter": gf,
        "tflops": gf / s_iter / 1e3,
        "peak_mib": _peak_mib(device),
    }


def speed_image(w: int, h: int) -> np.ndarray:
    """scikit-image's ``coffee`` photo resized to ``w x h``: the speed steps' image.

    Parameters
    ----------
    w, h : int
        Width and height, pixels.

    Returns
    -------
    numpy.ndarray
        (h, w, 3) uint8 RGB image.
    """
    from skimage import data
    from skimage.transform import resize

    img = resize(data.coffee(), (h, w), anti_aliasing=True, preserve_range=True)
    return img.astype(np.uint8)


def speed_row(r: dict, config: str, size_index: int):
    """The speed row of one configuration and size, if measured.

    Parameters
    ----------
    r : dict
        The check's results.
    config : str
        ``"fast"``, ``"paper"`` or ``"literal"``.
    size_index : int
        Index of the test image size.

    Returns
    -------
    dict or None
        The row, or None when it was not measured.
    """
    return next(
        (x for x in r["speed"] if x["config"] == config and x["size_index"] == size_index), None
    )


def speed_step(r: dict, config: str, si: int, mode: dict, device: str) -> None:
    """Time one configuration (``literal`` or :data:`ENGINE_CONFIGS`) on image size ``si``.

    On the larger size, the iterations of ``paper`` and ``literal`` are chosen from the
    smaller size's seconds per iteration so that the run takes about 60 % of its cap.

    Parameters
    ----------
    r : dict
        The check's results; a row is appended to ``r["speed"]``.
    config : str
        ``"literal"`` or one of :data:`ENGINE_CONFIGS`.
    si : int
        Index into the mode's ``sizes``.
    mode : dict
        One of :data:`MODES`.
    device : str
        Torch device.
    """
    (w, h), (w0, h0) = mode["sizes"][si], mode["sizes"][0]
    cap, small = mode["caps"]["speed"][si][config], speed_row(r, config, 0)
    ratio = w * h / (w0 * h0)
    fit = None if not (si and small) else int(0.6 * cap / (small["s_per_iter"] * ratio))
    if config == "literal":
        iters = mode["literal"][si] if fit is None else max(1, min(mode["literal"][si], fit))
        row = literal_speed(
            speed_image(w, h), device, iters, mode["over"].get("q", 100), mode["T"], cap
        )
    else:
        preset, extra = ENGINE_CONFIGS[config]
        over = {**mode["over"], **extra}
        if preset == "paper" and fit is not None and "max_iter" not in over:
            over["max_iter"] = min(max(fit, 3), mode["T"])
        row = engine_speed(speed_image(w, h), preset, device, cap, over, mode["T"])
    r["speed"].append({"size": f"{w}x{h}", "size_index": si, "config": config, **row})
