"""The GPU check: environment, GPU tests, speed and quality in one call, with a time budget.

Writes ``gpu_check.md`` (a report) and ``gpu_check.json`` (every figure) to ``--out`` after
every step, so a run cut short still leaves what it measured. Steps, in order: environment;
``pytest -m gpu tests/test_gpu.py``; the matmul ceiling (fp32, tf32, bf16); speed of the
``paper`` and ``fast`` presets (MMT) and of the literal Algorithm 1 (benchmarks/algorithm1.py,
the 1.0 baseline) on 481 x 321 and 2048 x 2048; quality of ``paper`` against ``fast`` for MMT,
Kim 2020 and Kanezaki 2018, seeds 0 and 1, on 20 BSDS500 val images. When the estimated time
left exceeds ``--budget``, the step with the largest estimate is dropped first, and the report
says so. docs/performance.md ("Running the GPU check") gives the commands for a GPU machine:

    python benchmarks/gpu_check.py --pack-data gpu_check_data --bsds-root ../shared/data/bsds500
    PYTHONPATH=src python3 benchmarks/gpu_check.py --data gpu_check_data --out $OUT
    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check   # every step, CPU, < 1 min
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from gpu_check_quality import load_samples, pack_data, quality_estimate, quality_image
from gpu_check_report import write_report
from gpu_check_speed import speed_step
from gpu_check_steps import ROOT, Plan, environment, gpu_tests, matmul_ceiling

#: per mode: test image sizes (W, H), literal iterations per size, quality images, the
#: iterations T of an end-to-end figure, parameter overrides of every run, and time caps in
#: seconds (also the estimates before anything is measured) of the GPU tests, the ceiling, a
#: quality image and each speed configuration per size. The tests, the ceiling and the first
#: size's fast, paper and literal rows always run; the budget may drop the rest
#: (``paper_sync1``, the paper preset read every step, and ``paper_bf16`` run on the first
#: size only).
MODES = {
    "full": dict(
        sizes=((481, 321), (2048, 2048)),
        literal=(20, 3),
        images=20,
        T=1000,
        over={},
        caps=dict(
            tests=120,
            ceiling=15,
            image=60,
            speed=(
                dict(fast=30, paper=60, literal=30, paper_sync1=25, paper_bf16=25),
                dict(fast=40, paper=45, literal=30),
            ),
        ),
    ),
    "tiny": dict(
        sizes=((56, 40), (96, 72)),
        literal=(3, 2),
        images=2,
        T=3,
        over=dict(max_iter=3, q=16),
        caps=dict(
            tests=60,
            ceiling=10,
            image=30,
            speed=(dict(fast=20, paper=20, literal=20, paper_sync1=20, paper_bf16=20),) * 2,
        ),
    ),
}


def queue_steps(plan: Plan, r: dict, mode: dict, device: str, data, n_images: int) -> None:
    """Queue every step of the check, in the order they run.

    Parameters
    ----------
    plan : Plan
        The plan to fill.
    r : dict
        The check's results, filled by the steps.
    mode : dict
        One of :data:`MODES`.
    device : str
        Torch device.
    data : str or pathlib.Path or None
        The packed data folder (``--data``).
    n_images : int
        Quality images.
    """
    caps, tiny = mode["caps"], mode is MODES["tiny"]
    plan.add(
        "environment",
        lambda: 1.0,
        lambda: r.update(environment=environment(device)),
        optional=False,
    )
    plan.add(
        "matmul ceiling",
        lambda: caps["ceiling"],
        optional=False,
        fn=lambda: r.update(
            ceiling=matmul_ceiling(device, 8192 if "cuda" in device else 256 if tiny else 1024)
        ),
    )
    plan.add(
        "gpu tests",
        lambda: caps["tests"],
        optional=False,
        fn=lambda: r.update(tests=gpu_tests(max(10.0, min(caps["tests"], plan.left())))),
    )
    for si, (w, h) in enumerate(mode["sizes"]):
        for config in ("fast", "paper", "literal") + (
            ("paper_sync1", "paper_bf16") if si == 0 else ()
        ):
            plan.add(
                f"speed {config} {w}x{h}",
                lambda c=config, s=si: caps["speed"][s][c] * 1.2,
                lambda c=config, s=si: speed_step(r, c, s, mode, device),
                optional=si > 0 or config.startswith("paper_"),
            )
    samples: list = []

    def load():
        """Read the quality images (the quality steps find none if this fails)."""
        samples.extend(load_samples(data, n_images, tiny))
        r["quality"]["images"] = [s.id for s in samples]

    plan.add("quality data", lambda: 1.0, load, optional=False)
    for i in range(n_images):
        plan.add(
            f"quality image {i + 1}",
            lambda: quality_estimate(r, mode),
            lambda i=i: (
                i < len(samples)
                and quality_image(samples[i], device, mode["over"], plan, r["quality"])
            ),
        )


def _clean(v):
    """JSON-safe copy: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


def build_parser() -> argparse.ArgumentParser:
    """The command line of the check.

    Returns
    -------
    argparse.ArgumentParser
        Its parser.
    """
    ap = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for gpu_check.md and gpu_check.json")
    ap.add_argument(
        "--tiny",
        action="store_true",
        help="every step on the CPU in under a minute: tiny images, 3 iterations",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=480.0,
        help="seconds for the whole check; the slowest steps are dropped first",
    )
    ap.add_argument(
        "--data",
        help="the folder made by --pack-data (default: gpu_check_data "
        "in the repository when it exists; tiny mode: synthetic images)",
    )
    ap.add_argument(
        "--pack-data",
        metavar="DIR",
        help="copy the quality images into DIR (then exit); run before the call",
    )
    ap.add_argument(
        "--bsds-root", default="../shared/data/bsds500", help="BSDS500 root for --pack-data"
    )
    ap.add_argument("--images", type=int, help="quality images (default 20; tiny: 2)")
    ap.add_argument("--device", help="torch device (default: auto; tiny: cpu)")
    return ap


def main(argv=None) -> int:
    """Run the check (or pack its data) and write the report.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every step ran without error and no GPU test failed, else 1.
    """
    args = build_parser().parse_args(argv)
    if (ROOT / "src" / "napari_mmtseg").is_dir() and str(ROOT / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "src"))  # this checkout's package, also without install
    if args.pack_data:
        ids = pack_data(args.pack_data, args.bsds_root, args.images or 20)
        print(f"packed {len(ids)} BSDS500 val images under {Path(args.pack_data) / 'bsds500'}")
        return 0
    if not args.out:
        build_parser().error("--out is needed (or --pack-data)")
    from napari_mmtseg.device import resolve_device

    mode = MODES["tiny" if args.tiny else "full"]
    device = str(resolve_device(args.device or ("cpu" if args.tiny else "auto")))
    data = args.data or (
        None if args.tiny or not (ROOT / "gpu_check_data").is_dir() else ROOT / "gpu_check_data"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    r = {
        "meta": {
            "command": " ".join(["python", "benchmarks/gpu_check.py", *(argv or sys.argv[1:])]),
            "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "tiny": args.tiny,
            "budget_s": args.budget,
            "device": device,
            "T": mode["T"],
            "overrides": mode["over"],
            "data": str(data) if data else None,
        },
        "environment": {},
        "tests": None,
        "ceiling": {},
        "speed": [],
        "quality": {"images": [], "runs": [], "ari": [], "cut": []},
        "dropped": [],
        "errors": [],
        "steps": [],
    }

    def save():
        """Write the JSON and the report as they stand."""
        r["meta"]["elapsed_s"] = round(time.perf_counter() - plan.t0, 1)
        (out / "gpu_check.json").write_text(json.dumps(_clean(r), indent=1) + "\n")
        write_report(_clean(r), out / "gpu_check.md")

    plan = Plan(args.budget, r, save)
    queue_steps(plan, r, mode, device, data, args.images or mode["images"])
    plan.run()
    save()
    print(f"report: {out / 'gpu_check.md'}, {out / 'gpu_check.json'}")
    tests = r["tests"] or {}
    failed = tests.get("returncode") not in (0, None) or any(
        k in ("failure", "error") for k in tests.get("counts", {})
    )
    return 1 if r["errors"] or failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
