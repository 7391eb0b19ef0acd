"""Is torch.compile worth it for the MMT training step? Eager vs compiled, same run.

Times one MMT training step (both students forward + cross-entropy toward fixed
targets + TV, backward, SGD step) with the engine's networks, eager and under
``torch.compile`` (default inductor backend), at the fast preset's training
size and at the paper preset's full size. Reports the compile time (first
call) and the steady-state seconds per step, median of ``--steps``.

    OMP_NUM_THREADS=2 python benchmarks/compile_lever.py [--device cpu] [--steps 20]
"""
from __future__ import annotations

import argparse
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


def step_fn(net, opt, x, target, q):
    opt.zero_grad(set_to_none=True)
    y = net(x)[0]  # (2, q, h, w)
    ce = F.cross_entropy(y.reshape(2, q, -1), target)
    loss = 2 * ce + 2 * tv_loss(y)
    loss.backward()
    opt.step()
    return loss.detach()


def measure(name, q, h, w, dev, steps, compiled, fused):
    torch.manual_seed(0)
    net = make_models(3, q, 2, 2, fused, "zeros").to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.rand(1, 3, h, w, device=dev)
    target = torch.randint(0, q, (2, h * w), device=dev)
    fn = torch.compile(step_fn) if compiled else step_fn
    t0 = time.perf_counter()
    fn(net, opt, x, target, q)
    _sync(dev)
    first = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn(net, opt, x, target, q)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    fused = dev.type == "cuda"
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"students {'fused' if fused else 'separate'}")
    print("| config | eager s/step | compiled s/step | speed-up | compile (first call) s |")
    print("|---|---|---|---|---|")
    for name in args.configs.split(","):
        q, h, w = CONFIGS[name]
        steps = args.steps if q < 100 or dev.type != "cpu" else max(2, args.steps // 10)
        _, eager = measure(name, q, h, w, dev, steps, False, fused)
        first, comp = measure(name, q, h, w, dev, steps, True, fused)
        print(f"| {name} (q={q}, {w}x{h}) | {eager:.4f} | {comp:.4f} | {eager / comp:.2f}x | {first:.1f} |", flush=True)


if __name__ == "__main__":
    main()
