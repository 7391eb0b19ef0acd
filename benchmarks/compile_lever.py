"""Is torch.compile (or a CUDA graph) worth it for the MMT training step? Same run, side by side.

Times one MMT training step (both students forward + cross-entropy toward fixed targets +
TV, backward, SGD step) with the engine's networks: eager, under ``torch.compile`` (default
inductor backend) and, on CUDA only, replayed from a captured CUDA graph (whole-step
capture: forward, backward and the optimiser step, static input and targets). This is the
step the GPU loop runs between two host reads (``Params.sync_every``). Reports the first
call (compilation or capture) and the steady-state seconds per step, median of ``--steps``,
at the fast preset's training size and at the paper preset's full size.

    OMP_NUM_THREADS=2 python benchmarks/compile_lever.py [--device cpu] [--steps 20]
    python benchmarks/compile_lever.py --device cuda --bf16 --no-compile   # eager vs graph
    python benchmarks/compile_lever.py --device cuda --no-compile --students separate

The CUDA graph column has not been run yet (no GPU was lent to the session that wrote it);
docs/performance.md lists it among the measurements that await a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from napari_mmtseg.nets import make_models, tv_loss

CONFIGS = {  # name: (q, h, w)
    "fast": (32, 85, 128),  # the fast preset's training view of a 481x321 image
    "paper": (100, 321, 481),
}


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def step_fn(net, opt, x, target, q, bf16=False):
    """One training step of both students toward fixed targets; the loss, on the device."""
    opt.zero_grad(set_to_none=True)
    amp = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with amp:
        y = net(x)[0].float()  # (2, q, h, w)
    ce = F.cross_entropy(y.reshape(2, q, -1), target)
    loss = 2 * ce + 2 * tv_loss(y)
    loss.backward()
    opt.step()
    return loss.detach()


def graphed(net, opt, x, target, q, bf16):
    """Capture :func:`step_fn` in a CUDA graph (after warm-up on a side stream); its replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up: cuDNN choices, the optimiser's momentum buffers
            step_fn(net, opt, x, target, q, bf16)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with amp:
            y = net(x)[0].float()
        loss = 2 * F.cross_entropy(y.reshape(2, q, -1), target) + 2 * tv_loss(y)
        loss.backward()
        opt.step()
    return graph.replay


def measure(q, h, w, dev, steps, how, fused, bf16=False):
    """First-call and median steady-state seconds of one step, ``how`` in eager/compiled/graph."""
    torch.manual_seed(0)
    net = make_models(3, q, 2, 2, fused, "zeros").to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.rand(1, 3, h, w, device=dev)
    target = torch.randint(0, q, (2, h * w), device=dev)
    t0 = time.perf_counter()
    if how == "graph":
        replay = graphed(net, opt, x, target, q, bf16)
        fn = lambda *_: replay()  # noqa: E731
    else:
        fn = torch.compile(step_fn) if how == "compiled" else step_fn
    fn(net, opt, x, target, q, bf16)
    _sync(dev)
    first = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn(net, opt, x, target, q, bf16)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main(argv=None):
    """Print the table: eager, compiled and (CUDA) graph seconds per step per configuration."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast, as Params.bf16")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument(
        "--students",
        choices=("auto", "fused", "separate"),
        default="auto",
        help="both students in one grouped network, or two (auto: the engine's, fused on CUDA)",
    )
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    fused = dev.type == "cuda" if args.students == "auto" else args.students == "fused"
    hows = ["eager"] + ([] if args.no_compile else ["compiled"])
    hows += ["graph"] if dev.type == "cuda" else []
    print(
        f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"students {'fused' if fused else 'separate'}, {'bf16' if args.bf16 else 'fp32'}"
    )
    print("| config | " + " | ".join(f"{h} s/step | {h} first call s" for h in hows) + " |")
    print("|---|" + "---|---|" * len(hows))
    for name in args.configs.split(","):
        q, h, w = CONFIGS[name]
        steps = args.steps if q < 100 or dev.type != "cpu" else max(2, args.steps // 10)
        cells = []
        for how in hows:
            first, per = measure(q, h, w, dev, steps, how, fused, args.bf16)
            cells += [f"{per:.5f}", f"{first:.1f}"]
        print(f"| {name} (q={q}, {w}x{h}) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
