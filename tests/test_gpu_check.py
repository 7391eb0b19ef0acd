"""benchmarks/gpu_check.py: its tiny mode runs every step on the CPU and writes the report, and
its time budget drops the slowest optional steps first, saying so."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "# GPU check",
    "## Environment",
    "## GPU tests",
    "## Matmul ceiling",
    "## Speed",
    "## Quality: paper against fast",
    "## Dropped for the time budget",
    "## Errors",
    "## Step times",
)


@pytest.mark.slow
def test_tiny_check_runs_every_step_and_writes_report_and_json(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = (out / "gpu_check.md").read_text()
    r = json.loads((out / "gpu_check.json").read_text())
    assert [s for s in SECTIONS if s not in md] == []
    assert r["errors"] == [] and r["dropped"] == []
    assert r["environment"]["torch"] == torch.__version__ and r["meta"]["device"] == "cpu"
    # the GPU tests ran (and, without CUDA, were all skipped)
    assert r["tests"]["returncode"] == 0 and r["tests"]["cases"]
    if not torch.cuda.is_available():
        assert {c["outcome"] for c in r["tests"]["cases"]} == {"skipped"}
    assert r["ceiling"]["fp32"] > 0
    # speed: fast, paper and the literal Algorithm 1 on both sizes, with figures
    assert sorted((x["size_index"], x["config"]) for x in r["speed"]) == [
        (0, "fast"),
        (0, "literal"),
        (0, "paper"),
        (0, "paper_bf16"),
        (0, "paper_sync1"),
        (1, "fast"),
        (1, "literal"),
        (1, "paper"),
    ]
    for x in r["speed"]:
        assert x["iterations"] >= 1 and x["s_per_iter"] > 0 and x["end_to_end_T_s"] > 0
        assert x["gflop_per_iter"] > 0 and x["tflops"] > 0
    assert "| 56x40 | paper |" in md and "| 96x72 | literal |" in md
    # quality: 2 images x 3 methods x 2 presets x 2 seeds, scored; a seed ARI per triple
    runs = r["quality"]["runs"]
    assert len(runs) == 24 and len(r["quality"]["ari"]) == 12
    assert {(x["method"], x["preset"]) for x in runs} == {
        (m, p) for m in ("mmt", "kim2020", "kanezaki2018") for p in ("paper", "fast")
    }
    for x in runs:
        assert 0 < x["accuracy"] <= 1 and 0 < x["miou"] <= 1 and 0 < x["pri"] <= 1
        assert x["voi"] >= 0 and x["iterations"] == 3
    assert all(-1 <= a["ari"] <= 1 for a in r["quality"]["ari"])
    assert "| kanezaki2018 | fast | 2 | 4 |" in md


def test_budget_drops_the_slowest_optional_steps_first_and_the_report_says_so(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from gpu_check_report import write_report
    from gpu_check_steps import Plan

    r = {"dropped": [], "errors": [], "steps": []}
    ran = []
    plan = Plan(10.0, r, save=lambda: None)
    # estimates in seconds; only 10 s of budget (less 2 s of margin)
    for name, est, optional in (
        ("core", 3, False),
        ("small", 2, True),
        ("slow", 6, True),
        ("medium", 3, True),
        ("fails", 1, True),
    ):
        plan.add(name, lambda e=est: e, lambda n=name: ran.append(n), optional=optional)
    plan.steps[-1] = ("fails", lambda: 1, lambda: 1 / 0, True)
    plan.run()
    assert ran == ["core", "small", "medium"]  # "slow" went first; the rest then fit
    assert [d["step"] for d in r["dropped"]] == ["slow"]
    assert [e["step"] for e in r["errors"]] == ["fails"]  # an error is recorded, not raised
    assert "ZeroDivisionError" in r["errors"][0]["error"]
    # the report names what was dropped
    r.update(
        meta={
            "command": "x",
            "started_utc": "now",
            "budget_s": 10.0,
            "device": "cpu",
            "data": None,
            "tiny": True,
            "T": 3,
            "overrides": {},
        },
        environment={},
        tests=None,
        ceiling={},
        speed=[],
        quality={"images": [], "runs": [], "ari": [], "cut": []},
    )
    write_report(r, tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "- slow (estimated 6 s" in md and "ZeroDivisionError" in md
