"""The Markdown report of benchmarks/gpu_check.py, made from its results (the JSON's content)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

#: the speed goals of issue 26: paper preset, T iterations on 481 x 321, end to end; and its
#: speed-up over the literal Algorithm 1 on the same device
GOAL_SECONDS, GOAL_SPEEDUP = 2.0, 5.0
QUALITY = ("accuracy", "miou", "pri", "voi")


def fmt(v, digits: int = 3) -> str:
    """A number for a table cell.

    Parameters
    ----------
    v : object
        A number, None or anything else.
    digits : int
        Significant digits of a float.

    Returns
    -------
    str
        ``-`` for None, a float to ``digits`` significant digits, else ``str(v)``.
    """
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 10**digits else f"{v:.0f}"
    return str(v)


def _table(head: list, rows: list) -> list:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]


def _speed(r: dict) -> list:
    rows, ceil, t = r["speed"], r["ceiling"] or {}, r["meta"]["T"]
    if not rows:
        return ["Not run."]
    lines = [
        "scikit-image's `coffee` photo resized; MMT, seed 0, `min_labels=1` (no stop on the "
        "label count); `literal` is benchmarks/algorithm1.py, the 1.0 baseline; `paper` and "
        "`fast` read the host every `sync_every` steps (10 on CUDA: the GPU loop), "
        "`paper_sync1` after every step (the loop before it); `paper_bf16` is `paper` in "
        "bfloat16 autocast. End to end "
        f"for T = {t} iterations (`fast`: its own maximum) is extrapolated from the seconds "
        "per iteration where marked *.",
        "",
    ]
    out = []
    for x in rows:
        lit = next((y for y in rows if y["config"] == "literal" and y["size"] == x["size"]), None)
        per = lit["s_per_iter"] / x["s_per_iter"] if lit and x.get("s_per_iter") else None
        e2e = (
            lit["end_to_end_T_s"] / x["end_to_end_T_s"] if lit and x.get("end_to_end_T_s") else None
        )
        share = {k: x["tflops"] / ceil[k] if ceil.get(k) else None for k in ("tf32", "bf16")}
        its = f"{x['iterations']}" + (" (cut at the cap)" if x.get("cut") else "")
        out.append(
            [
                x["size"],
                x["config"],
                its,
                x["s_per_iter"],
                x.get("end_to_end_s"),
                fmt(x["end_to_end_T_s"]) + (" *" if x.get("extrapolated") else ""),
                per,
                e2e,
                x["gflop_per_iter"],
                x["tflops"],
                share["tf32"],
                share["bf16"],
                x.get("peak_mib"),
            ]
        )
    lines += _table(
        [
            "size",
            "config",
            "iterations run",
            "s / iteration",
            "end to end s (as run)",
            "end to end s for T",
            "speed-up / iteration",
            "speed-up end to end",
            "GFLOP / iteration",
            "TFLOP/s",
            "of tf32 ceiling",
            "of bf16 ceiling",
            "peak GPU MiB",
        ],
        out,
    )
    paper = next((x for x in rows if x["config"] == "paper" and x["size_index"] == 0), None)
    lit = next((x for x in rows if x["config"] == "literal" and x["size_index"] == 0), None)
    if paper:
        s = paper["end_to_end_T_s"]
        lines += [
            "",
            f"Goal, paper preset, T = {t} on {paper['size']}: at most {GOAL_SECONDS} s "
            f"end to end: {fmt(s)} s{' (extrapolated)' if paper.get('extrapolated') else ''}"
            f", {'met' if s <= GOAL_SECONDS else 'not met'}.",
        ]
        if lit:
            k = lit["end_to_end_T_s"] / s
            lines.append(
                f"Goal, at least {GOAL_SPEEDUP}x the literal transcription end to end: "
                f"{fmt(k)}x, {'met' if k >= GOAL_SPEEDUP else 'not met'}."
            )
    return lines


def _quality(q: dict) -> list:
    runs = q["runs"]
    if not runs:
        return ["Not run."] + [f"- {c}" for c in q.get("cut", [])]
    ari = defaultdict(list)
    for a in q["ari"]:
        ari[a["method"], a["preset"]].append(a["ari"])
    groups = defaultdict(list)
    for x in runs:
        groups[x["method"], x["preset"]].append(x)
    lines = [
        f"{len({x['image'] for x in runs})} images ({', '.join(q['images'])}), default "
        "output, seeds 0 and 1. Acc, mIoU (one-to-one), PRI and VoI: mean over the "
        "annotations of an image, then over images and seeds; seed ARI: seed 0 against "
        "seed 1, mean over images.",
        "",
    ]
    rows = [
        [
            m,
            p,
            len({x["image"] for x in g}),
            len(g),
            *[float(np.mean([x[k] for x in g])) for k in QUALITY],
            float(np.mean(ari[m, p])) if ari[m, p] else None,
            float(np.mean([x["n_segments"] for x in g])),
            float(np.mean([x["iterations"] for x in g])),
            float(np.mean([x["seconds"] for x in g])),
        ]
        for (m, p), g in groups.items()
    ]
    lines += _table(
        [
            "method",
            "preset",
            "images",
            "runs",
            "Acc",
            "mIoU 1:1",
            "PRI",
            "VoI",
            "seed ARI",
            "segments",
            "iterations",
            "s / run",
        ],
        rows,
    )
    key = {(x["image"], x["method"], x["preset"], x["seed"]): x for x in runs}
    diff = []
    for m in dict.fromkeys(x["method"] for x in runs):
        pairs = [
            (v, key[i, m, "fast", s])
            for (i, mm, p, s), v in key.items()
            if mm == m and p == "paper" and (i, m, "fast", s) in key
        ]
        if pairs:
            diff.append(
                [m, len(pairs)] + [float(np.mean([a[k] - b[k] for a, b in pairs])) for k in QUALITY]
            )
    lines += ["", "paper minus fast, paired by image and seed (VoI: lower is better):", ""]
    lines += _table(["method", "pairs", "Acc", "mIoU 1:1", "PRI", "VoI"], diff)
    return lines + [f"- cut: {c}" for c in q.get("cut", [])]


def _tests(t) -> list:
    if not t:
        return ["Not run."]
    counts = ", ".join(f"{v} {k}" for k, v in sorted(t["counts"].items())) or "no results"
    lines = [f"Exit status {fmt(t['returncode'])}: {counts}.", ""]
    lines += _table(
        ["test", "outcome", "message"],
        [
            [c["name"], c["outcome"], c["message"].replace("|", "/").replace("\n", " ")]
            for c in t["cases"]
        ],
    )
    return lines + ["", "```", *t["output"], "```"]


def write_report(r: dict, path) -> None:
    """Write the check's Markdown report.

    Parameters
    ----------
    r : dict
        The check's results, as written to ``gpu_check.json``.
    path : str or pathlib.Path
        The ``.md`` file to write.
    """
    m, env = r["meta"], r["environment"]
    over = ", ".join(f"{k}={v}" for k, v in m["overrides"].items())
    lines = [
        "# GPU check",
        "",
        f"Command: `{m['command']}`  ",
        f"Started {m['started_utc']} UTC; {fmt(m.get('elapsed_s'))} s of a "
        f"{fmt(m['budget_s'])} s budget; device {m['device']} "
        f"({env.get('device_name', '?')}); data: {m['data'] or 'synthetic'}"
        + (
            f"; **tiny mode** ({over}; tiny images: checks the script, not the method)"
            if m["tiny"]
            else ""
        )
        + ".",
        "",
        "## Environment",
        "",
    ]
    lines += _table(["item", "value"], [[k, v] for k, v in env.items()])
    lines += ["", "## GPU tests (`pytest -m gpu tests/test_gpu.py`)", "", *_tests(r["tests"])]
    lines += ["", "## Matmul ceiling", "", "n x n x n products, mean of 10 after 3 warm-ups.", ""]
    lines += _table(["dtype", "TFLOP/s"], [[k, v] for k, v in (r["ceiling"] or {}).items()])
    lines += ["", "## Speed", "", *_speed(r), "", "## Quality: paper against fast", ""]
    lines += _quality(r["quality"])
    lines += ["", "## Dropped for the time budget", ""]
    lines += [
        f"- {d['step']} (estimated {fmt(d['estimate_s'])} s, {fmt(d['left_s'])} s left)"
        for d in r["dropped"]
    ] or ["Nothing was dropped."]
    lines += ["", "## Errors", ""]
    for e in r["errors"]:
        lines += [f"- {e['step']}: `{e['error']}`", "", "```", *e["traceback"], "```"]
    if not r["errors"]:
        lines.append("None.")
    lines += ["", "## Step times", ""]
    lines += _table(["step", "seconds"], [[s["step"], s["seconds"]] for s in r["steps"]])
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
