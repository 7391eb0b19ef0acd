"""The segmentation engine: ``iter_segment`` (a generator of progress events
ending with the result) and ``segment`` (runs it to the end).

Plain Python + torch + scikit-image; never imports Qt or napari.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ._input import prepare_image
from .align import align_labels, match_from_overlap, overlap_matrix
from .device import describe_device, resolve_device
from .nets import SegNet, ema_alpha, ema_update, make_models, tv_loss
from .params import LEARNED_METHODS, METHODS, Params, make_params

__all__ = ["Progress", "SegmentationResult", "iter_segment", "segment"]


@dataclass
class Progress:
    """One progress event of a run."""

    iteration: int  # steps done so far over the whole run (all slices)
    total: int  # steps the run will take at most
    losses: dict  # name -> float, of the last step
    n_labels: int  # labels in the current slice's output now
    preview: np.ndarray | None = None  # current slice's labels (H, W), full size, ids >= 1
    slice_index: int = 0
    n_slices: int = 1
    device: str = ""
    message: str = ""


@dataclass
class SegmentationResult:
    labels: np.ndarray  # spatial shape of the image, ids 1..K consecutive
    method: str
    preset: str
    params: dict
    seed: int
    device: str
    seconds: float
    history: list = field(default_factory=list)  # per step: slice, iteration, losses, n_labels
    channel_axis: int | None = None
    version: str = ""

    @property
    def n_labels(self) -> int:
        return int(self.labels.max()) if self.labels.size else 0

    def metadata(self) -> dict:
        """What to store with a result (e.g. a napari layer's metadata)."""
        return {
            "method": self.method,
            "preset": self.preset,
            "params": dict(self.params),
            "seed": self.seed,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "n_labels": self.n_labels,
            "channel_axis": self.channel_axis,
            "napari_mmtseg_version": self.version,
        }


# --------------------------------------------------------------------------- helpers


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Ids 1..K keeping the order of the old (non-negative) ids, in the
    smallest unsigned dtype that holds K. A lookup table instead of
    ``np.unique``: no sorted copy or int64 inverse of a big stack."""
    if labels.min() < 0:  # not produced by the engine; keep it correct anyway
        ids, inv = np.unique(labels, return_inverse=True)
        labels = inv.reshape(labels.shape)
    present = np.zeros(int(labels.max()) + 1, dtype=bool)
    present[labels] = True
    k = int(present.sum())
    dtype = np.uint8 if k < 255 else (np.uint16 if k < 65535 else np.uint32)
    lut = np.cumsum(present).astype(dtype)
    return lut[labels]


def _train_view(x: np.ndarray, train_size: int | None) -> np.ndarray:
    """(C, H, W) -> (C, h, w) with the longest side at most ``train_size``."""
    c, h, w = x.shape
    if not train_size or max(h, w) <= train_size:
        return x
    from skimage.transform import resize

    f = train_size / max(h, w)
    shape = (max(2, round(h * f)), max(2, round(w * f)))
    return resize(x.transpose(1, 2, 0), shape, order=1, anti_aliasing=True,
                  preserve_range=True).transpose(2, 0, 1).astype(np.float32)


def _upsample_nearest(lab: np.ndarray, shape: tuple) -> np.ndarray:
    if lab.shape == tuple(shape):
        return lab
    r = (np.arange(shape[0]) * lab.shape[0] // shape[0])
    c = (np.arange(shape[1]) * lab.shape[1] // shape[1])
    return lab[r[:, None], c[None, :]]


def _available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def training_bytes(h: int, w: int, p: Params, n_models: int) -> int:
    """Estimated peak memory of training on an ``h x w`` view: activations and
    their gradients, about ``4 * n_conv + 3`` maps of ``q`` floats per pixel
    and network (1.4 GB for the paper preset on 481x321; measured there: 1.9
    GB peak RSS including the interpreter and torch, docs/performance.md)."""
    return int(h * w * p.q * 4 * (4 * p.n_conv + 3) * n_models)


def host_bytes(n_slices: int, h: int, w: int, channels: int, itemsize: int) -> int:
    """Estimated peak host memory of the full-size arrays of a run: the int32
    labels of the whole stack and the relabelled output (up to 4 bytes each
    per pixel), plus one slice as read (``itemsize``) and as float32, its
    label map and the cross-slice alignment's temporaries (about 16 bytes per
    pixel)."""
    return int(n_slices * h * w * 8 + h * w * (channels * (itemsize + 4) + 16))


def _check_host_memory(prep, method: str, p: Params, device: torch.device) -> None:
    """Refuse up front an image whose full-size arrays cannot fit in RAM."""
    H, W = prep.yx
    need = host_bytes(prep.n_slices, H, W, prep.n_channels, np.dtype(prep.source.dtype).itemsize)
    if method in LEARNED_METHODS:  # tiled inference: one tile's activations
        t = min(p.tile, H) * min(p.tile, W)
        need += t * p.q * 4 * 3
        if device.type == "cpu":  # training shares the RAM too
            h, w = _train_shape((H, W), p)
            need += training_bytes(h, w, p, 2 if method == "mmt" else 1)
    free = _available_bytes(torch.device("cpu"))
    if free is not None and need > 0.8 * free:
        raise MemoryError(
            f"An image of {prep.n_slices} x {H}x{W} pixels with {prep.n_channels} channel(s) needs "
            f"about {need / 2**30:.1f} GiB of RAM for {method}, more than the "
            f"{free / 2**30:.1f} GiB available. Segment a crop, a downscaled copy or fewer "
            f"slices (e.g. the current slice only)."
            + (f" Lowering tile (now {p.tile}) helps a little." if method in LEARNED_METHODS else ""))


def _train_shape(shape, p: Params) -> tuple:
    h, w = shape
    if p.train_size and max(h, w) > p.train_size:
        f = p.train_size / max(h, w)
        h, w = max(2, round(h * f)), max(2, round(w * f))
    return h, w


def _check_memory(shape, p: Params, method: str, device: torch.device) -> None:
    """Refuse up front, with what to change, a run that cannot fit."""
    h, w = _train_shape(shape, p)
    need = training_bytes(h, w, p, 2 if method == "mmt" else 1)
    free = _available_bytes(device)
    if free is not None and need > 0.8 * free:
        side = int(max(h, w) * (0.8 * free / need) ** 0.5)
        raise MemoryError(
            f"Training {method} on {h}x{w} pixels with q={p.q} needs about {need / 2**30:.1f} GiB, "
            f"more than the {free / 2**30:.1f} GiB free on {device}. Set train_size={max(8, side // 8 * 8)} "
            f"or less (training on a reduced copy, labels still at full size), lower q, or use the "
            f"'fast' preset.")


_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@contextlib.contextmanager
def _oom_guard(device: torch.device, p: Params, shape):
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


@torch.no_grad()
def _freeze_bn_to_image_stats(net: SegNet, x: torch.Tensor) -> None:
    """Set every BN's running statistics to the batch statistics of ``x`` and
    switch to eval mode, so the network does at any tile what train-mode BN
    did on the whole training image."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = 1.0
    net.train()
    net(x)
    n = x.shape[0] * x.shape[-2] * x.shape[-1]
    for m, (mom, _) in zip(bns, saved):
        m.momentum = mom
        m.running_var.mul_((n - 1) / n)  # BN stores the unbiased variance, normalises with the biased one
    net.eval()


@torch.no_grad()
def _infer_labels(net: SegNet, model: int, x_train: torch.Tensor, x_full: np.ndarray,
                  tile: int, device: torch.device) -> np.ndarray:
    """Argmax labels of network ``model`` on the full-size slice ``x_full``
    (C, H, W), tile by tile with a halo wide enough for the receptive field.
    BN uses the statistics of the training image (see above)."""
    net = copy.deepcopy(net)
    _freeze_bn_to_image_stats(net, x_train)
    c, H, W = x_full.shape
    halo = net.n_conv + 1
    out = np.empty((H, W), dtype=np.int32)
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            y1, x1 = min(H, y0 + tile), min(W, x0 + tile)
            ya, xa = max(0, y0 - halo), max(0, x0 - halo)
            yb, xb = min(H, y1 + halo), min(W, x1 + halo)
            t = torch.from_numpy(np.ascontiguousarray(x_full[:, ya:yb, xa:xb]))[None].to(device)
            lab = net(t)[0, model].argmax(0)
            out[y0:y1, x0:x1] = lab[y0 - ya:y1 - ya, x0 - xa:x1 - xa].cpu().numpy()
    return out


# --------------------------------------------------------------------------- learned methods


def _cross_targets(slab: torch.Tensor, tlab: torch.Tensor, q: int, extra: torch.Tensor):
    """MMT's label alignment for both students at once.

    ``slab``/``tlab``: (2, h, w) argmax labels of the students and teachers.
    Student 0 learns from teacher 1 and student 1 from teacher 0, each
    teacher's labels mapped into its student's ids by the Hungarian matching
    of the overlap matrix. One host transfer: the two q x q matrices plus the
    scalar ``extra`` (a counter for the stopping rule). Returns the (2, h, w)
    targets, the (2, q) teacher->student maps on the device, the matrices and
    ``extra`` on the host.
    """
    # S[k][i, j]: pixels where student k says i and the other teacher says j
    S = torch.stack([overlap_matrix(slab[0], tlab[1], q, q), overlap_matrix(slab[1], tlab[0], q, q)])
    host = torch.cat([S.reshape(-1), extra.reshape(1).to(S.dtype)]).cpu().numpy()
    S_np = host[:-1].reshape(2, q, q)
    # match_from_overlap maps column ids (teacher) to row ids (student)
    maps = np.stack([match_from_overlap(S_np[0]), match_from_overlap(S_np[1])])
    maps_t = torch.from_numpy(maps).to(slab.device)
    target = torch.stack([maps_t[0][tlab[1]], maps_t[1][tlab[0]]])
    return target, maps_t, S_np, int(host[-1])


def _train_slice(method: str, x_full: np.ndarray, p: Params, seed: int, device: torch.device,
                 preview_every: int, step0: int, total: int, slice_index: int, n_slices: int,
                 history: list, dev_name: str, state: dict) -> Iterator[Progress | np.ndarray]:
    """Train on one slice; yields Progress, finally the (H, W) label array.

    ``state`` carries the networks from slice to slice (empty for the first):
    the next slice of a stack continues from the previous one's networks, so
    that the same id keeps meaning the same cluster and a near-identical slice
    needs few steps."""
    H, W = x_full.shape[1:]
    xs = _train_view(x_full, p.train_size)
    x = torch.from_numpy(xs)[None].to(device)
    q = p.q
    if not state:
        n_models = 2 if method == "mmt" else 1
        torch.manual_seed(seed)
        fused = p.fused if p.fused is not None else device.type == "cuda"
        net = make_models(xs.shape[0], p.q, p.n_conv, n_models, fused, p.padding).to(device)
        state.update(net=net, opt=torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum),
                     step=0, gen=torch.Generator(device="cpu").manual_seed(seed + 1))
        if method == "mmt":
            teacher = copy.deepcopy(net)
            for prm in teacher.parameters():
                prm.requires_grad_(False)
            state["teacher"] = teacher
    net, opt, gen, teacher = state["net"], state["opt"], state["gen"], state.get("teacher")
    net.train()
    if method == "kanezaki2018":
        from skimage.segmentation import slic

        sp = slic(xs.transpose(1, 2, 0), n_segments=p.n_segments, compactness=p.compactness,
                  channel_axis=-1, start_label=0)
        n_sp = int(sp.max()) + 1
        sp_t = torch.from_numpy(sp.astype(np.int64)).to(device).reshape(-1)

    amp = (torch.autocast(device.type, dtype=torch.bfloat16) if p.bf16
           else contextlib.nullcontext())
    prev = None
    stable = 0
    for it in range(p.max_iter):
        opt.zero_grad(set_to_none=True)
        if method == "mmt":
            xin = x  # the pair repeats it per network
            if p.noise > 0:
                xin = x.repeat(1, 2, 1, 1)
                xin = xin + p.noise * torch.randn(xin.shape, generator=gen).to(device)
            with amp:
                y = net(xin)[0].float()  # (2, q, h, w)
            with torch.no_grad(), amp:
                ty = teacher(x)[0].float()
                tlab = ty.argmax(1)  # (2, h, w)
                slab = y.detach().argmax(1)
                changed = (tlab[0] != prev).sum() if prev is not None else torch.zeros((), dtype=torch.long, device=device)
                target, maps_t, S_np, n_changed = _cross_targets(slab, tlab, q, changed)
            logits = y.reshape(2, q, -1)
            ce = F.cross_entropy(logits, target.reshape(2, -1))
            loss = ce * 2
            if p.soft_weight > 0:
                # soft CE toward the other teacher's softmax, channels permuted into student space
                inv = torch.argsort(maps_t, dim=1)
                tp = torch.stack([ty[1][inv[0]], ty[0][inv[1]]]).softmax(1).reshape(2, q, -1)
                soft = -(tp * logits.log_softmax(1)).sum(1).mean()
                loss = (1 - p.soft_weight) * loss + p.soft_weight * 2 * soft
            tv = tv_loss(y) * 2
            loss = loss + p.beta * tv
            loss.backward()
            opt.step()
            ema_update(teacher, net, ema_alpha(state["step"], p.alpha, p.ema_warmup))
            n_labels = int((S_np[1].sum(0) > 0).sum())  # distinct labels of teacher 0
            cur = tlab[0]
            vals = torch.stack([loss.detach() / 2, ce.detach(), tv.detach() / 2]).tolist()  # one sync
            losses = dict(zip(("loss", "ce", "tv"), vals))
        else:
            with amp:
                y = net(x)[0, 0].float()  # (q, h, w)
            with torch.no_grad():
                lab = y.argmax(0).reshape(-1)
                if method == "kanezaki2018":
                    cnt = torch.bincount(sp_t * q + lab, minlength=n_sp * q).reshape(n_sp, q)
                    target = cnt.argmax(1)[sp_t]
                else:
                    target = lab
                hist = torch.bincount(lab, minlength=q)
                changed = (lab != prev).sum() if prev is not None else torch.zeros((), dtype=hist.dtype, device=device)
                host = torch.cat([hist, changed.reshape(1).to(hist.dtype)]).cpu().numpy()
                n_labels, n_changed = int((host[:-1] > 0).sum()), int(host[-1])
            ce = F.cross_entropy(y.reshape(q, -1).T, target)
            tv = tv_loss(y) if p.beta > 0 else torch.zeros((), device=device)
            loss = ce + p.beta * tv
            loss.backward()
            opt.step()
            cur = lab
            vals = torch.stack([loss.detach(), ce.detach(), tv.detach()]).tolist()  # one sync
            losses = dict(zip(("loss", "ce", "tv"), vals))
        state["step"] += 1
        frac = n_changed / cur.numel() if prev is not None else 1.0
        prev = cur
        history.append({"slice": slice_index, "iteration": it + 1, "n_labels": n_labels,
                        "changed": frac, **losses})
        done = n_labels <= p.min_labels
        if p.tol > 0:
            stable = stable + 1 if frac < p.tol else 0
            done = done or stable >= p.patience
        preview = None
        if preview_every and ((it + 1) % preview_every == 0 or done or it + 1 == p.max_iter):
            small = cur.reshape(xs.shape[1:]).cpu().numpy()
            preview = _upsample_nearest(small, (H, W)).astype(np.int32) + 1
        yield Progress(iteration=step0 + it + 1, total=total, losses=losses, n_labels=n_labels,
                       preview=preview, slice_index=slice_index, n_slices=n_slices,
                       device=dev_name)
        if done:
            break

    final_net = teacher if method == "mmt" and p.final_net == "teacher" else net
    yield _infer_labels(final_net, 0, x, x_full, p.tile, device)


# --------------------------------------------------------------------------- classical baselines


def _classical(method: str, x: np.ndarray, p: Params, seed: int) -> np.ndarray:
    img = x.transpose(1, 2, 0)  # (H, W, C) in [0, 1]
    if method == "felzenszwalb":
        from skimage.segmentation import felzenszwalb

        if img.shape[-1] in (1, 3):
            arg = img[..., 0] if img.shape[-1] == 1 else img
            return felzenszwalb(arg, scale=p.scale, sigma=p.sigma, min_size=p.min_size,
                                channel_axis=None if img.shape[-1] == 1 else -1)
        return felzenszwalb(img, scale=p.scale, sigma=p.sigma, min_size=p.min_size, channel_axis=-1)
    from sklearn.cluster import KMeans

    feats = img.reshape(-1, img.shape[-1]).astype(np.float64)
    rng = np.random.default_rng(seed)
    fit = feats if feats.shape[0] <= 200_000 else feats[rng.choice(feats.shape[0], 200_000, replace=False)]
    k = min(p.k, len(np.unique(fit, axis=0)))
    km = KMeans(n_clusters=max(1, k), n_init=3, random_state=seed).fit(fit)
    return km.predict(feats).reshape(img.shape[:2])


# --------------------------------------------------------------------------- public API


def iter_segment(image, method: str = "mmt", preset: str = "paper", seed: int = 0,
                 channel_axis: int | None = None, device="auto", *, rgb: bool | None = None,
                 preview_every: int = 10, num_threads: int | None = None,
                 **overrides) -> Iterator[Progress | SegmentationResult]:
    """Segment ``image`` step by step.

    Yields :class:`Progress` events (every ``preview_every`` steps one carries
    a ``preview`` label map of the current slice) and, last, the
    :class:`SegmentationResult`. Closing the generator (``gen.close()``, or
    just dropping it) stops the run at the next step. Arguments are those of
    :func:`segment`.
    """
    from . import __version__

    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    p = make_params(method, preset, **overrides)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    prep = prepare_image(image, channel_axis=channel_axis, rgb=rgb)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    history: list = []
    n = prep.n_slices
    learned = method in LEARNED_METHODS
    total = n * (p.max_iter if learned else 1)
    H, W = prep.yx
    out = np.empty((n, H, W), dtype=np.int32)
    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev_name = describe_device(dev)
    try:
        yield Progress(iteration=0, total=total, losses={}, n_labels=0, n_slices=n,
                       device=dev_name, message=f"{method} on {dev_name}")
        if learned:  # first: its message says which train_size fits
            _check_memory((H, W), p, method, dev)
        _check_host_memory(prep, method, p, dev)
        step0 = 0
        state: dict = {}
        top = -1
        for i in range(n):
            if learned:
                with _oom_guard(dev, p, prep.yx):
                    for ev in _train_slice(method, prep.slice(i), p, seed, dev, preview_every,
                                           step0, total, i, n, history, dev_name, state):
                        if isinstance(ev, Progress):
                            yield ev
                        else:
                            lab = ev
                step0 = (i + 1) * p.max_iter
            else:
                lab = _classical(method, prep.slice(i), p, seed)
                step0 = i + 1
            if i > 0:  # same id = same cluster through the stack; new clusters get unused ids
                lab = align_labels(out[i - 1], lab, next_id=top + 1)
            out[i] = lab
            top = max(top, int(lab.max()))  # the highest id so far, without rescanning out
            if not learned:
                k = len(np.unique(lab))
                history.append({"slice": i, "iteration": 1, "n_labels": k})
                yield Progress(iteration=step0, total=total, losses={}, n_labels=k,
                               preview=lab.astype(np.int32) + 1 if preview_every else None,
                               slice_index=i, n_slices=n, device=dev_name)
        labels = _consecutive(out).reshape(prep.spatial_shape)
        yield SegmentationResult(
            labels=labels, method=method, preset=preset, params=p.to_dict(), seed=seed,
            device=dev_name, seconds=time.perf_counter() - t0, history=history,
            channel_axis=prep.channel_axis, version=__version__)
    finally:
        if num_threads:
            torch.set_num_threads(old_threads)


def segment(image, method: str = "mmt", preset: str = "paper", seed: int = 0,
            channel_axis: int | None = None, device="auto", **overrides) -> SegmentationResult:
    """Segment ``image`` without supervision and return a :class:`SegmentationResult`.

    image: 2D grey (Y, X), RGB(A) (Y, X, 3|4), multichannel with
        ``channel_axis``, or a stack (Z|T, Y, X) / (T, Z, Y, X) whose 2D slices
        are segmented one by one with ids kept consistent across slices.
    method: ``"mmt"`` (the paper), ``"kim2020"``, ``"kanezaki2018"``,
        ``"kmeans"`` or ``"felzenszwalb"``.
    preset: ``"paper"`` (q=100, M=3, T=1000, alpha=0.999, SGD lr 0.1 momentum
        0.9) or ``"fast"`` (for CPUs); any field of :class:`Params` can be
        overridden by keyword (e.g. ``max_iter=200, beta=2``).
    device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    """
    result = None
    for ev in iter_segment(image, method, preset, seed, channel_axis, device,
                           preview_every=0, **overrides):
        result = ev
    return result
