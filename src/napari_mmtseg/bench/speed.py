"""Speed benchmark: seconds per iteration, end-to-end seconds, peak memory and
FLOP/s of the engine's presets against a plain, literal transcription of
Algorithm 1 of the paper, measured in the same run on the same image.

    mmtseg bench speed [--device auto] [--size 481x321] [--presets paper,fast]

Each configuration runs in its own subprocess so that its peak memory is its
own. The literal transcription below is the 1.0 baseline: two separate
networks, two deep-copied teachers, the steps of Algorithm 1 one after the
other, label maps moved to the host every iteration for the overlap matrix
and the Hungarian assignment. It lives here, not in the engine, on purpose.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

# dense peak throughput (TFLOP/s) of known GPUs, from the vendors' data sheets
# (fp32 / tf32 dense / bf16 dense), to put achieved FLOP/s in context
_PEAKS = {"H100": (67.0, 495.0, 989.0), "H200": (67.0, 495.0, 989.0), "A100": (19.5, 156.0, 312.0)}


def _test_image(size: tuple[int, int]) -> np.ndarray:
    """A natural RGB photo shipped with scikit-image, resized to ``size`` (W, H)."""
    from skimage import data
    from skimage.transform import resize

    w, h = size
    img = resize(data.coffee(), (h, w), anti_aliasing=True, preserve_range=True)
    return img.astype(np.uint8)


def _flops_per_forward(h: int, w: int, c_in: int, q: int, n_conv: int) -> float:
    macs = c_in * 9 * q + (n_conv - 1) * q * 9 * q + q * q
    return 2.0 * h * w * macs


# --------------------------------------------------------------------------- the literal baseline


def literal_mmt(
    img: np.ndarray, iters: int, q=100, n_conv=2, beta=1.0, alpha=0.999, device="cpu", seed=0
):
    """Run Algorithm 1 of the paper transcribed literally (no batching, host-side alignment).

    Parameters
    ----------
    img : ndarray of uint8, shape (H, W, 3)
        The image.
    iters : int
        Iterations to run.
    q : int, optional
        Feature channels (the paper's q).
    n_conv : int, optional
        Convolution blocks (the paper's M).
    beta : float, optional
        Weight of the soft loss.
    alpha : float, optional
        EMA decay of the teachers.
    device : str, optional
        Torch device.
    seed : int, optional
        Torch seed.

    Returns
    -------
    list of float
        Seconds of each iteration.
    """
    import torch
    import torch.nn.functional as F
    from scipy.optimize import linear_sum_assignment

    from napari_mmtseg.nets import SegNet, tv_loss

    dev = torch.device(device)
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1) / 255.0)[None].to(dev)
    torch.manual_seed(seed)
    nets = [SegNet(3, q, n_conv).to(dev), SegNet(3, q, n_conv).to(dev)]
    means = [copy.deepcopy(n) for n in nets]
    opts = [torch.optim.SGD(n.parameters(), lr=0.1, momentum=0.9) for n in nets]

    def _h(student_lab, teacher_lab):
        s, t = student_lab.cpu().numpy().ravel(), teacher_lab.cpu().numpy().ravel()
        S = np.zeros((q, q), np.int64)
        np.add.at(S, (s, t), 1)
        r, c = linear_sum_assignment(-S)
        m = np.zeros(q, np.int64)
        m[c] = r
        return torch.from_numpy(m[t]).to(dev)

    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        for i, j in ((0, 1), (1, 0)):
            y = nets[i](x)[0, 0]
            with torch.no_grad():
                tl = means[j](x)[0, 0].argmax(0)
                target = _h(y.argmax(0), tl)
            loss = F.cross_entropy(y.reshape(q, -1).T, target) + beta * tv_loss(y)
            opts[i].zero_grad()
            loss.backward()
            opts[i].step()
            with torch.no_grad():
                for pm, p in zip(means[i].parameters(), nets[i].parameters()):
                    pm.mul_(alpha).add_(p, alpha=1 - alpha)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- one configuration


def _child(cfg: dict) -> dict:
    import torch

    from napari_mmtseg import iter_segment
    from napari_mmtseg.device import describe_device, resolve_device
    from napari_mmtseg.params import make_params

    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    dev = resolve_device(cfg["device"])
    img = _test_image(tuple(cfg["size"]))
    h, w = img.shape[:2]
    out = {"name": cfg["name"], "device": describe_device(dev)}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if cfg["name"] == "literal":
        times = literal_mmt(img, cfg["iters"], device=str(dev))
        steady = times[1:] if len(times) > 1 else times
        out.update(s_per_iter=float(np.median(steady)), iters=len(times), end_to_end=None)
        q, n_conv, th, tw = 100, 2, h, w
    else:
        p = make_params("mmt", cfg["preset"], **cfg.get("overrides", {}))
        stamps = []
        t0 = time.perf_counter()
        res = None
        for ev in iter_segment(
            img,
            "mmt",
            cfg["preset"],
            seed=0,
            device=str(dev),
            preview_every=0,
            **cfg.get("overrides", {}),
        ):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            res = ev
        total = time.perf_counter() - t0
        gaps = np.diff(stamps[1:-1])  # between iteration events
        steady = gaps[2:] if gaps.size > 4 else gaps
        out.update(
            s_per_iter=float(np.median(steady)) if steady.size else float("nan"),
            iters=len(res.history),
            end_to_end=total,
            n_labels=res.n_labels,
        )
        q, n_conv = p.q, p.n_conv
        f = 1.0 if not p.train_size or max(h, w) <= p.train_size else p.train_size / max(h, w)
        th, tw = max(2, round(h * f)), max(2, round(w * f))
    # students: forward + backward (~3 forwards) each; teachers: one forward each
    flops = 8 * _flops_per_forward(th, tw, 3, q, n_conv)
    out["gflop_per_iter"] = flops / 1e9
    out["tflops"] = flops / out["s_per_iter"] / 1e12 if out["s_per_iter"] > 0 else float("nan")
    if dev.type == "cuda":
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in _PEAKS.items() if k in name), None)
        out["peak_tflops_fp32"] = peak[0] if peak else None
    else:
        out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run_child(cfg: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "napari_mmtseg.bench.speed", "--child", json.dumps(cfg)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": cfg["name"], "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"name": cfg["name"], "error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(v, nd=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``speed`` sub-command to an argparse sub-parsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``speed`` parser (no abbreviated options).
    """
    ap = sub.add_parser(
        "speed",
        help="seconds per iteration vs a literal transcription of Algorithm 1",
        description=__doc__.split("\n\n")[0],
        allow_abbrev=False,
    )
    _add_args(ap)
    return ap


def _add_args(ap):
    ap.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    ap.add_argument(
        "--size", default="481x321", help="W x H of the test image in pixels (default: 481x321)"
    )
    ap.add_argument(
        "--presets",
        default="paper,fast",
        help="comma-separated presets of the engine to time (default: paper,fast)",
    )
    ap.add_argument(
        "--paper-iters",
        type=int,
        default=6,
        help="iterations timed for the paper preset, then extrapolated to T=1000 (default: 6)",
    )
    ap.add_argument(
        "--literal-iters",
        type=int,
        default=3,
        help="iterations of the literal baseline; 0 skips it (default: 3)",
    )
    ap.add_argument(
        "--full", action="store_true", help="run the paper preset to the end (GPU; default: off)"
    )
    ap.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads; 0: torch's own (default: 0)"
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds allowed to each configuration's subprocess (default: 1800)",
    )
    ap.add_argument(
        "--out", default=None, help="write the Markdown table to this file too (default: none)"
    )


def main(args) -> int:
    """Run ``mmtseg bench speed`` and print its Markdown table.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_parser`.

    Returns
    -------
    int
        0.
    """
    size = [int(v) for v in args.size.lower().split("x")]
    base = {"device": args.device, "size": size, "threads": args.threads}
    cfgs = [dict(base, name="literal", iters=args.literal_iters)] if args.literal_iters > 0 else []
    for preset in args.presets.split(","):
        cfg = dict(base, name=preset, preset=preset)
        if preset == "paper" and not args.full:
            cfg["overrides"] = {"max_iter": args.paper_iters, "min_labels": 1}
        cfgs.append(cfg)
    rows = []
    for cfg in cfgs:
        print(f"[speed] running {cfg['name']} on {args.device} ...", file=sys.stderr, flush=True)
        rows.append(_run_child(cfg, args.timeout))
        print(f"[speed] {rows[-1]}", file=sys.stderr, flush=True)
    lit = next((r for r in rows if r["name"] == "literal" and "error" not in r), None)
    lines = [
        f"Image: scikit-image 'coffee' resized to {size[0]}x{size[1]}, method mmt, seed 0.",
        "",
        "| config | device | iterations run | s / iteration | end-to-end s "
        "| speed-up vs literal (per iteration) | GFLOP / iteration | achieved TFLOP/s "
        "| peak memory MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | - | - | refused/failed: {r['error']} | | | | | |")
            continue
        e2e = r.get("end_to_end")
        note = ""
        if r["name"] == "paper" and not args.full:
            note = f" (extrapolated: {r['s_per_iter'] * 1000:.0f} s for T=1000)"
            e2e = None
        if r["name"] == "literal":
            note = f" (extrapolated: {r['s_per_iter'] * 1000:.0f} s for T=1000)"
        ratio = lit["s_per_iter"] / r["s_per_iter"] if lit and r["s_per_iter"] > 0 else None
        lines.append(
            f"| {r['name']} | {r['device']} | {r['iters']} | {_fmt(r['s_per_iter'])} "
            f"| {_fmt(e2e)}{note} | {_fmt(ratio)} | {_fmt(r['gflop_per_iter'])} "
            f"| {_fmt(r['tflops'])} | {_fmt(r['peak_mem_mb'], 4)} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        ap = argparse.ArgumentParser(prog="mmtseg bench speed", allow_abbrev=False)
        _add_args(ap)
        sys.exit(main(ap.parse_args()))
