"""Batch throughput: images per minute of ``segment_many`` on a folder of
images in this process, on a local dask.distributed cluster of 1 worker
process and of 2, measured in the same run, with peak memory per worker.

    python benchmarks/batch_throughput.py --images ../shared/data/microscopy/bbbc039_dev/images
    python benchmarks/batch_throughput.py --images DIR --configs 2,1,local \
        --method mmt --preset fast

Each configuration runs in its own subprocess (so its memory is its own) on
a fresh output folder. A cluster configuration starts its cluster and has
every worker import the engine before the clock starts (startup is reported
apart): the timed part is ``segment_many`` over all images, one task per
image, torch threads per worker = cores / workers. Peak memory: the peak RSS
of each worker process (``getrusage``), or of the process itself for
``local``. The labels of every configuration are compared with the first's.
The machine's load average is printed before and after each configuration:
other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _run_config(
    cfg: str, images: str, out: str, method: str, preset: str, seed: int, limit: int | None
) -> dict:
    """In the subprocess: one configuration, timed."""
    import glob

    from napari_mmtseg.batch import cores as count_cores
    from napari_mmtseg.batch import local_cluster, segment_many

    files = (
        sorted(glob.glob(os.path.join(images, "*.tif")))[:limit]
        if limit
        else sorted(glob.glob(os.path.join(images, "*.tif")))
    )
    cores = count_cores()
    res = {"config": cfg, "images": len(files), "cores": cores, "load_before": os.getloadavg()[0]}
    client = cluster = None
    n, _, t = cfg.partition("x")  # "2": 2 workers, cores/2 threads each; "1x1": 1 worker, 1 thread
    if n == "local":
        threads = int(t) if t else cores
        import napari_mmtseg.engine  # noqa: F401  (imports before the clock, as the workers do)
    else:
        from distributed import Client

        n = int(n)
        threads = int(t) if t else max(1, cores // n)
        t0 = time.perf_counter()
        cluster = local_cluster(n)
        client = Client(cluster)
        client.run(__import__, "napari_mmtseg.engine")
        res["startup_s"] = round(time.perf_counter() - t0, 2)
    res["workers"] = 1 if n == "local" else n
    res["threads_per_worker"] = threads
    t0 = time.perf_counter()
    report = segment_many(
        files,
        out,
        client=client,
        method=method,
        preset=preset,
        seed=seed,
        device="cpu",
        num_threads=threads,
        progress=False,
        log=False,
    )
    wall = time.perf_counter() - t0
    res.update(
        seconds=round(wall, 2),
        done=report.count("done"),
        failed=report.n_failed,
        images_per_minute=round(60.0 * report.count("done") / wall, 2),
        task_seconds=[float(r["seconds"] or 0) for r in report.rows],
        load_after=os.getloadavg()[0],
    )
    if client is None:
        res["peak_mb_per_worker"] = [round(_peak_mb())]
    else:
        res["peak_mb_per_worker"] = sorted(round(v) for v in client.run(_peak_mb).values())
        res["tasks_per_worker"] = {}
        for r in report.rows:
            w = r["worker"].split(" pid ")[0]
            res["tasks_per_worker"][w] = res["tasks_per_worker"].get(w, 0) + 1
        client.close()
        cluster.close()
    return res


def _same_labels(a: str, b: str) -> tuple[int, int]:
    import numpy as np
    import tifffile

    names = sorted(p.name for p in Path(a).glob("*_labels.tif"))
    same = sum(
        np.array_equal(tifffile.imread(Path(a) / n), tifffile.imread(Path(b) / n)) for n in names
    )
    return same, len(names)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--images", required=True, help="folder of .tif images (e.g. bbbc039_dev/images)"
    )
    ap.add_argument(
        "--configs",
        default="1,2,local",
        help="comma-separated: N (a local cluster of N worker processes, cores/N torch "
        "threads each), NxT (N workers of T threads) or 'local' / 'localxT' (in "
        "this process); default 1,2,local",
    )
    ap.add_argument("--method", default="mmt")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N images only")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:  # one configuration, in its own process
        cfg, out = args._child.split("@", 1)
        print(
            json.dumps(
                _run_config(cfg, args.images, out, args.method, args.preset, args.seed, args.limit)
            )
        )
        return 0

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in [c.strip() for c in args.configs.split(",") if c.strip()]:
            out = os.path.join(tmp, f"out_{cfg}")
            cmd = [
                sys.executable,
                __file__,
                "--images",
                args.images,
                "--method",
                args.method,
                "--preset",
                args.preset,
                "--seed",
                str(args.seed),
                "--_child",
                f"{cfg}@{out}",
            ]
            if args.limit:
                cmd += ["--limit", str(args.limit)]
            print(f"# {cfg}: running ...", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["out"] = out
            results.append(res)
            print(
                f"# {cfg}: {res['images_per_minute']} images/min, load {res['load_before']:.2f} -> "
                f"{res['load_after']:.2f}",
                file=sys.stderr,
                flush=True,
            )
            if args.json:  # after each configuration: a run stopped halfway keeps what it measured
                Path(args.json).write_text(json.dumps(results, indent=1))
        base = results[0]
        for r in results:
            r["same_labels_as_first"] = "%d/%d" % _same_labels(base["out"], r["out"])
    ref = next((r for r in results if r["config"].split("x")[0] == "1"), results[0])
    print(
        f"\n{results[0]['images']} images, {args.method} preset {args.preset}, seed {args.seed}, "
        f"{results[0]['cores']} cores\n"
    )
    print(
        "| configuration | torch threads per worker | cluster startup s | batch s | images / min | "
        "ratio to 1 worker | peak RSS per worker (MB) | median s per image | "
        "load avg before -> after | "
        "same labels as first |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        name = "in-process" if r["config"].startswith("local") else f"{r['workers']} worker(s)"
        ts = sorted(r["task_seconds"])
        med = ts[len(ts) // 2] if ts else float("nan")
        print(
            f"| {name} | {r['threads_per_worker']} | {r.get('startup_s', '-')} | {r['seconds']} | "
            f"{r['images_per_minute']} | {r['images_per_minute'] / ref['images_per_minute']:.2f} | "
            f"{', '.join(str(m) for m in r['peak_mb_per_worker'])} | {med:.2f} | "
            f"{r['load_before']:.2f} -> {r['load_after']:.2f} | {r['same_labels_as_first']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
