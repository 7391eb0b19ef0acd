"""The plan and the first steps of benchmarks/gpu_check.py: environment, GPU tests, ceiling.

Each step returns a plain dict that goes into the check's JSON; :class:`Plan` runs the steps
within the time budget. Speed: gpu_check_speed.py; quality: gpu_check_quality.py; the
report: gpu_check_report.py.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def environment(device: str) -> dict:
    """Versions, device name and memory of this machine.

    Parameters
    ----------
    device : str
        The torch device the check runs on (``"cuda"`` or ``"cpu"``).

    Returns
    -------
    dict
        Python, torch, CUDA and cuDNN versions, device name, free and total memory (GiB).
    """
    import scipy
    import skimage
    import torch

    import napari_mmtseg

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
        "napari_mmtseg": napari_mmtseg.__version__,
        "device": device,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        free, total = torch.cuda.mem_get_info()
        env.update(
            device_name=torch.cuda.get_device_name(),
            free_gib=round(free / 2**30, 2),
            total_gib=round(total / 2**30, 2),
            multiprocessors=torch.cuda.get_device_properties(0).multi_processor_count,
        )
    else:
        env["device_name"] = platform.processor() or platform.machine()
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        rev = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True
        )
        env["commit"] = rev.stdout.strip() or None
    return env


def gpu_tests(timeout: float) -> dict:
    """Run ``pytest -m gpu`` on the GPU test files in a subprocess and read its JUnit XML.

    The files: tests/test_gpu.py and tests/test_train_sync.py (the training loop's
    synchronisations per step, counted by CUDA).

    Parameters
    ----------
    timeout : float
        Seconds before the subprocess is stopped.

    Returns
    -------
    dict
        ``returncode``, ``counts`` (outcome -> number), ``cases`` (name, outcome, message)
        and the last lines of the output.
    """
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "gpu",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_gpu.py",
            "tests/test_train_sync.py",  # its gpu tests: CUDA's own count of synchronisations
            f"--junitxml={xml}",
        ]
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {
                "returncode": None,
                "counts": {},
                "cases": [],
                "output": [f"timed out after {timeout:.0f} s"],
            }
        cases = []
        if xml.exists():
            for case in ET.parse(xml).getroot().iter("testcase"):
                bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
                outcome = bad[0].tag if bad else "passed"
                msg = (bad[0].get("message") or "")[:300] if bad else ""
                cases.append({"name": case.get("name"), "outcome": outcome, "message": msg})
    counts = {o: sum(c["outcome"] == o for c in cases) for o in {c["outcome"] for c in cases}}
    return {
        "returncode": proc.returncode,
        "counts": counts,
        "cases": cases,
        "output": (proc.stdout + proc.stderr).strip().splitlines()[-15:],
    }


def matmul_ceiling(device: str, n: int) -> dict:
    """Measured matrix-product rate in TFLOP/s: fp32, tf32 and bf16, ``n x n x n``.

    Parameters
    ----------
    device : str
        Torch device.
    n : int
        Matrix side.

    Returns
    -------
    dict
        dtype name -> TFLOP/s (mean of 10 products after 3 warm-ups).
    """
    import torch

    out = {}
    old = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dtype, tf32 in (
            ("fp32", torch.float32, False),
            ("tf32", torch.float32, True),
            ("bf16", torch.bfloat16, False),
        ):
            if name == "tf32" and not device.startswith("cuda"):
                continue
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            for i in range(13):
                if i == 3:
                    _sync(device)
                    t = time.perf_counter()
                c = a @ b
            _sync(device)
            out[name] = 2.0 * n**3 * 10 / (time.perf_counter() - t) / 1e12
            del a, b, c
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return out


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- the plan


class Plan:
    """Steps run in order within a time budget; the optional step estimated slowest goes first.

    Parameters
    ----------
    budget : float
        Seconds for the whole check, counted from the plan's creation.
    results : dict
        The check's results; ``dropped``, ``steps`` and ``errors`` are appended to.
    save : callable
        Called with no argument after every step (writes the report).
    """

    def __init__(self, budget: float, results: dict, save):
        self.t0, self.budget, self.r, self.save = time.perf_counter(), budget, results, save
        self.steps: list = []

    def left(self) -> float:
        """Seconds of the budget left.

        Returns
        -------
        float
            Budget minus the time since the plan was made (negative once over).
        """
        return self.budget - (time.perf_counter() - self.t0)

    def add(self, name: str, estimate, fn, optional: bool = True) -> None:
        """Queue a step.

        Parameters
        ----------
        name : str
            What the report calls it.
        estimate : callable
            Returns the step's estimated seconds, asked again before every step.
        fn : callable
            Runs the step (no arguments); what it raises is recorded, not raised.
        optional : bool
            Whether the budget may drop it.
        """
        self.steps.append((name, estimate, fn, optional))

    def run(self) -> None:
        """Run the queued steps in order, dropping a step when its turn comes if it is among
        the slowest optional steps that the time left cannot hold (estimates asked anew)."""
        while self.steps:
            est = [s[1]() for s in self.steps]
            total, drop = sum(est), set()
            order = sorted(range(len(est)), key=lambda k: (-est[k], -k))  # slowest, then latest
            for k in (k for k in order if self.steps[k][3]):
                if total <= self.left() - 2:
                    break
                drop.add(k)
                total -= est[k]
            name, _, fn, _ = self.steps.pop(0)
            if 0 in drop:
                self.r["dropped"].append(
                    {"step": name, "estimate_s": round(est[0], 1), "left_s": round(self.left(), 1)}
                )
                continue
            t = time.perf_counter()
            try:
                fn()
            except Exception as exc:  # noqa: BLE001  (the report must still be written)
                tail = traceback.format_exc().strip().splitlines()[-6:]
                self.r["errors"].append({"step": name, "error": repr(exc), "traceback": tail})
            self.r["steps"].append({"step": name, "seconds": round(time.perf_counter() - t, 2)})
            self.save()
