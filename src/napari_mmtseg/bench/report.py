"""Benchmark report: ``summary.md``, ``stability_per_image.csv`` and figures
(``examples.png``, ``stability.png``, ``grid.png``) from the CSV files that
:mod:`.run` writes. Can be re-run on its own: ``write_report(out_dir)``.

Aggregation: for each method/setting and each seed, the metric is averaged
over images (each image's value being the mean, or best, over its human
annotations); the table shows mean and standard deviation of those per-seed
averages over seeds. Only images that have every seed of that setting count.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from .layout import COMMANDS, GRIDS, RESULTS, STABILITY, label_path

__all__ = ["write_report", "load_rows", "summarize"]

MAIN_COLS = [  # (CSV column, header)
    ("accuracy_mean", "Acc"),
    ("miou_mean", "mIoU 1:1"),
    ("miou_kim_mean", "mIoU Kim"),
    ("pri_mean", "PRI"),
    ("voi_mean", "VoI"),
    ("n_segments", "segments"),
]
#: extra columns for microscopy masks (metrics.score_instances)
MASK_COLS = [("fg_iou", "fg IoU"), ("f1", "F1 @0.5")]
BEST_COLS = [
    ("accuracy_best", "Acc"),
    ("miou_best", "mIoU 1:1"),
    ("miou_kim_best", "mIoU Kim"),
    ("pri_best", "RI"),
    ("voi_best", "VoI"),
]


def load_rows(path) -> list:
    """Read a benchmark CSV.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV (missing: no rows).

    Returns
    -------
    list of dict
        Its rows, values as text.
    """
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _group_key(r):
    return (r["method"], r["preset"], r["setting"], r["overrides"])


def _setting_sort(setting: str):
    if "=" in setting:
        try:
            return (0, float(setting.split("=", 1)[1]))
        except ValueError:
            pass
    return (1, setting)


def summarize(rows) -> dict:
    """Group results by (method, preset, setting, overrides) and average them.

    Parameters
    ----------
    rows : list of dict
        Rows of ``results.csv``.

    Returns
    -------
    dict
        ``{group key: {"images": [...], "seeds": [...], "per_seed": {col: [average
        per seed]}, "per_image": {col: {image: mean over seeds}}, "seconds": s per
        image, "devices": set}}``.
    """
    groups = defaultdict(list)
    for r in rows:
        groups[_group_key(r)].append(r)
    out = {}
    cols = [c for c, _ in MAIN_COLS + BEST_COLS + MASK_COLS] + [
        "miou_kim_pooled",
        "seconds",
        "n_pieces",
    ]
    for key, rs in groups.items():
        seeds = sorted({int(r["seed"]) for r in rs})
        by_img = defaultdict(dict)
        for r in rs:
            by_img[r["image"]][int(r["seed"])] = r
        images = sorted(i for i, d in by_img.items() if all(s in d for s in seeds))
        if not images:
            continue
        per_seed = {
            c: [float(np.mean([_num(by_img[i][s].get(c)) for i in images])) for s in seeds]
            for c in cols
        }
        per_image = {
            c: {i: float(np.mean([_num(by_img[i][s].get(c)) for s in seeds])) for i in images}
            for c in cols
        }
        out[key] = {
            "images": images,
            "seeds": seeds,
            "per_seed": per_seed,
            "per_image": per_image,
            "devices": sorted({r["device"] for r in rs}),
        }
    return out


def _num(v) -> float:
    """A CSV cell as a float; NaN when empty (a column older result files lack)."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _rank_col(rows) -> str:
    """The column a grid's best value is picked by: object F1 on microscopy
    masks, the paper's accuracy otherwise."""
    return "f1" if rows and rows[0].get("dataset") == "masks" else "accuracy_mean"


def _pieces_median(s) -> str:
    v = np.array(list(s["per_image"]["n_pieces"].values()), dtype=float)
    return "-" if np.isnan(v).all() else f"{np.nanmedian(v):.0f}"


def _fmt(vals, digits=4) -> str:
    vals = np.asarray(vals, dtype=float)
    if np.isnan(vals).all():
        return "-"
    if vals.size > 1:
        return f"{vals.mean():.{digits}f} ± {vals.std(ddof=0):.{digits}f}"
    return f"{vals.mean():.{digits}f}"


def _label(key) -> str:
    method, preset, setting, overrides = key
    txt = method if setting == "default" else f"{method} ({setting})"
    return txt + (f" [{overrides}]" if overrides else "")


def _main_keys(summary, rank: str = "accuracy_mean") -> tuple:
    """One setting per method/preset/overrides: the only one, or for a grid the
    best on average (highest mean of ``rank`` over images and seeds).
    Returns (keys, {key: note})."""
    fam = defaultdict(list)
    for key in summary:
        fam[(key[0], key[1], key[3])].append(key)
    keys, notes = [], {}
    for _, ks in sorted(fam.items()):
        if len(ks) == 1:
            keys.append(ks[0])
            continue
        best = max(ks, key=lambda k: np.mean(summary[k]["per_seed"][rank]))
        keys.append(best)
        notes[best] = f"best on average over the grid (by {rank})"
    return keys, notes


def _oracle(summary, family_keys, col="accuracy_mean", cols=MAIN_COLS) -> dict | None:
    """Per-image oracle over a grid: each image takes its best setting (by ``col``)."""
    common = set.intersection(*[set(summary[k]["images"]) for k in family_keys])
    if not common:
        return None
    images = sorted(common)
    pick = {i: max(family_keys, key=lambda k: summary[k]["per_image"][col][i]) for i in images}
    res = {
        c: float(np.mean([summary[pick[i]]["per_image"][c][i] for i in images])) for c, _ in cols
    }
    res["images"] = len(images)
    return res


def _table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _stability(out: Path):
    rows = load_rows(out / STABILITY)
    per = defaultdict(lambda: defaultdict(list))
    for r in rows:
        per[_group_key(r)][r["image"]].append((float(r["agreement"]), float(r["ari"])))
    table, per_image = {}, []
    for key, imgs in per.items():
        ag_mean, ag_worst, ar_mean, ar_worst = [], [], [], []
        for img, pairs in sorted(imgs.items()):
            a = np.array(pairs)
            ag_mean.append(a[:, 0].mean())
            ag_worst.append(a[:, 0].min())
            ar_mean.append(a[:, 1].mean())
            ar_worst.append(a[:, 1].min())
            per_image.append(
                {
                    "image": img,
                    "method": key[0],
                    "preset": key[1],
                    "setting": key[2],
                    "overrides": key[3],
                    "pairs": len(pairs),
                    "agreement_mean": round(ag_mean[-1], 6),
                    "agreement_worst": round(ag_worst[-1], 6),
                    "ari_mean": round(ar_mean[-1], 6),
                    "ari_worst": round(ar_worst[-1], 6),
                }
            )
        table[key] = {
            "images": len(imgs),
            "ag_mean": np.mean(ag_mean),
            "ag_worst": np.min(ag_worst),
            "ar_mean": np.mean(ar_mean),
            "ar_worst": np.min(ar_worst),
            "ag_pairs": [p[0] for ps in imgs.values() for p in ps],
            "ar_pairs": [p[1] for ps in imgs.values() for p in ps],
        }
    return table, per_image


def _fig_stability(table, keys, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if k in table]
    if not keys:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.6 * len(keys) + 3), 4), squeeze=False)
    for ax, field, title in zip(
        axes[0], ("ag_pairs", "ar_pairs"), ("pixel agreement (Hungarian)", "adjusted Rand index")
    ):
        ax.boxplot([table[k][field] for k in keys])
        ax.set_xticks(range(1, len(keys) + 1))
        ax.set_xticklabels([_label(k) for k in keys], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"seed pairs: {title}", fontsize=10)
        ax.set_ylim(min(0, min(min(table[k][field]) for k in keys)), 1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _fig_grid(summary, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = defaultdict(list)
    for k in summary:
        if k[0] in GRIDS and k[2] != "default":
            fams[(k[0], k[1], k[3])].append(k)
    fams = {f: ks for f, ks in fams.items() if len(ks) > 1}
    if not fams:
        return False
    fig, axes = plt.subplots(1, len(fams), figsize=(5 * len(fams), 3.6), squeeze=False)
    for ax, (f, ks) in zip(axes[0], sorted(fams.items())):
        ks = sorted(ks, key=lambda k: _setting_sort(k[2]))
        x = [_setting_sort(k[2])[1] for k in ks]
        for col, name in MAIN_COLS[:4]:
            ax.plot(x, [np.mean(summary[k]["per_seed"][col]) for k in ks], "o-", label=name)
        ax.set_xlabel(GRIDS[f[0]][0])
        ax.set_title(f"{f[0]} ({f[1]})", fontsize=10)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _display(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    lo, hi = np.percentile(img, [0.5, 99.5])
    return np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0, 1)


def _fig_examples(out: Path, rows, keys, path: Path, n_examples: int = 4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb
    from skimage.segmentation import mark_boundaries

    from . import datasets

    if not rows or not keys:
        return False
    r0 = rows[0]
    dataset, split = r0["dataset"], r0["split"]
    root = _read_root(out)
    images = []
    for r in rows:
        if r["image"] not in images:
            images.append(r["image"])
    images = images[:n_examples]
    if root is None:
        return False
    ncol = 2 + len(keys)
    fig, axes = plt.subplots(
        len(images), ncol, figsize=(2.2 * ncol, 1.8 * len(images) + 0.4), squeeze=False
    )
    for i, img_id in enumerate(images):
        try:
            sample = datasets.load_sample(dataset, root, split, img_id)
        except Exception:
            continue
        disp = _display(sample.image)
        axes[i, 0].imshow(disp, cmap="gray")
        axes[i, 0].set_ylabel(img_id, fontsize=7)
        gt = sample.gts[0]
        rgb = disp if disp.ndim == 3 else np.stack([disp] * 3, -1)
        axes[i, 1].imshow(mark_boundaries(label2rgb(gt, rgb, kind="avg", bg_label=-1), gt))
        for j, k in enumerate(keys):
            method, preset, setting, overrides = k
            lp = label_path(out, img_id, method, preset, setting, overrides, 0)
            ax = axes[i, 2 + j]
            if lp.exists():
                lab = np.load(lp)["labels"]
                ax.imshow(mark_boundaries(label2rgb(lab, rgb, kind="avg", bg_label=-1), lab))
                ax.set_xlabel(f"{int(np.unique(lab).size)} segments", fontsize=7)
        if i == 0:
            axes[0, 0].set_title("image", fontsize=8)
            axes[0, 1].set_title("ground truth #1", fontsize=8)
            for j, k in enumerate(keys):
                axes[0, 2 + j].set_title(_label(k) + ", seed 0", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _read_root(out: Path):
    """The --root of the latest command in commands.txt."""
    import shlex

    p = out / COMMANDS
    if not p.exists():
        return None
    root = None
    for line in p.read_text().splitlines():
        parts = shlex.split(line.split("\t", 1)[-1])
        for a, b in zip(parts, parts[1:]):
            if a == "--root":
                root = b
        for a in parts:
            if a.startswith("--root="):
                root = a.split("=", 1)[1]
    return root


def _preset_note(rows) -> str:
    from ..params import LEARNED_METHODS

    learned = {
        r["method"] for r in rows if r["method"] in LEARNED_METHODS and r["preset"] != "paper"
    }
    classical = {r["method"] for r in rows if r["method"] not in LEARNED_METHODS}
    note = ""
    if learned:
        note += (
            f" -- REDUCED setting for CPUs for {', '.join(sorted(learned))}, "
            "not the paper's setting"
        )
    if classical:
        note += (
            f" (the preset does not change {', '.join(sorted(classical))}: "
            "their parameters are k / scale, sigma, min_size / n_classes)"
        )
    return note


def write_report(out, stream=None) -> Path:
    """Write summary.md, stability_per_image.csv and figures into a benchmark folder.

    Parameters
    ----------
    out : str or os.PathLike
        The benchmark folder (its ``results.csv`` and ``stability.csv`` are read).
    stream : file, optional
        Where the closing message goes (default stderr).

    Returns
    -------
    pathlib.Path
        The summary.md written.
    """
    out = Path(out)
    stream = stream or sys.stderr
    rows = load_rows(out / RESULTS)
    summary = summarize(rows)
    rank = _rank_col(rows)
    cols = MAIN_COLS + (MASK_COLS if rank == "f1" else [])
    keys, notes = _main_keys(summary, rank)
    stab, stab_img = _stability(out)
    lines = ["# Benchmark summary", ""]
    if rows:
        ds = rows[0]["dataset"] + (f" ({rows[0]['split']})" if rows[0]["split"] else "")
        presets = sorted({r["preset"] for r in rows})
        devices = sorted({r["device"] for r in rows})
        lines += [
            f"- Data set: {ds}; images scored: {len({r['image'] for r in rows})}",
            f"- Preset(s): {', '.join(presets)}" + _preset_note(rows),
            f"- Device(s): {', '.join(devices)}",
            f"- Runs in results.csv: {len(rows)}",
        ]
    cmd_path = out / COMMANDS
    if cmd_path.exists():
        lines += ["", "Command line(s) (UTC time, command):", "", "```"]
        lines += cmd_path.read_text().strip().splitlines()
        lines += ["```"]
    lines += [
        "",
        "Values: mean ± std over seeds of the per-image mean over human annotations "
        "(Acc = one-to-one Hungarian pixel accuracy; mIoU 1:1 = mean IoU over GT segments "
        "under the same matching; mIoU Kim = connected components, best IoU per GT segment; "
        "PRI = probabilistic Rand index; VoI = variation of information, nats, lower is "
        "better; segments = segments in the output). Only images with every seed count.",
        "",
        "## Main table",
        "",
    ]
    header = (
        ["method", "images", "seeds"]
        + [h for _, h in cols]
        + ["pieces (median)", "s/image", "device"]
    )
    body = []
    for k in keys:
        s = summary[k]
        body.append(
            [_label(k) + (" *" if k in notes else ""), len(s["images"]), len(s["seeds"])]
            + [_fmt(s["per_seed"][c], 2 if c == "n_segments" else 4) for c, _ in cols]
            + [
                _pieces_median(s),
                f"{np.mean(s['per_seed']['seconds']):.2f}",
                ", ".join(s["devices"]),
            ]
        )
    lines += _table(header, body)
    if notes:
        lines += [
            "",
            f"\\* best grid value on average (highest mean {rank} over images and seeds).",
        ]

    lines += [
        "",
        "## Best annotation per image",
        "",
        "Same runs, each image scored against its best-matching human annotation "
        "(max for Acc/mIoU/RI, min for VoI).",
        "",
    ]
    header = ["method"] + [h for _, h in BEST_COLS]
    lines += _table(
        header,
        [[_label(k)] + [_fmt(summary[k]["per_seed"][c]) for c, _ in BEST_COLS] for k in keys],
    )

    fams = defaultdict(list)
    for k in summary:
        fams[(k[0], k[1], k[3])].append(k)
    grid_fams = {f: ks for f, ks in fams.items() if len(ks) > 1}
    if grid_fams:
        lines += [
            "",
            "## Parameter grids",
            "",
            "Every grid value (mean over annotations), the best value on average, and a "
            f"per-image oracle (each image takes its best value by {rank}; optimistic, "
            "shown only for reference).",
            "",
        ]
        for f, ks in sorted(grid_fams.items()):
            ks = sorted(ks, key=lambda k: _setting_sort(k[2]))
            best = max(ks, key=lambda k: np.mean(summary[k]["per_seed"][rank]))
            header = ["setting", "images", "seeds"] + [h for _, h in cols] + ["s/image"]
            body = []
            for k in ks:
                s = summary[k]
                body.append(
                    [k[2] + (" (best)" if k == best else ""), len(s["images"]), len(s["seeds"])]
                    + [_fmt(s["per_seed"][c], 2 if c == "n_segments" else 4) for c, _ in cols]
                    + [f"{np.mean(s['per_seed']['seconds']):.2f}"]
                )
            orc = _oracle(summary, ks, rank, cols)
            if orc:
                body.append(
                    ["per-image oracle", orc["images"], ""]
                    + [f"{orc[c]:.2f}" if c == "n_segments" else f"{orc[c]:.4f}" for c, _ in cols]
                    + [""]
                )
            lines += (
                [f"### {f[0]} ({f[1]}{', ' + f[2] if f[2] else ''})", ""]
                + _table(header, body)
                + [""]
            )

    lines += ["", "## Stability across seeds", ""]
    if stab:
        lines += [
            "Pairwise comparison of the runs with different seeds on the same image: pixel "
            "agreement after Hungarian alignment, and adjusted Rand index. Mean = mean over "
            "images of the per-image mean over seed pairs; worst = the lowest pair on any "
            "image. Per image: stability_per_image.csv.",
            "",
        ]
        header = ["method", "images", "agreement mean", "agreement worst", "ARI mean", "ARI worst"]
        body = [
            [
                _label(k),
                v["images"],
                f"{v['ag_mean']:.4f}",
                f"{v['ag_worst']:.4f}",
                f"{v['ar_mean']:.4f}",
                f"{v['ar_worst']:.4f}",
            ]
            for k, v in sorted(stab.items(), key=lambda kv: (kv[0][0], _setting_sort(kv[0][2])))
        ]
        lines += _table(header, body)
    else:
        lines += ["No seed pairs (one seed, or deterministic methods only)."]
    det = sorted(
        {k[0] for k in summary if len(summary[k]["seeds"]) == 1 and k[0] == "felzenszwalb"}
    )
    if det:
        lines += ["", "felzenszwalb is deterministic (no seed): it is run once per setting."]

    if stab_img:
        with open(out / "stability_per_image.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(stab_img[0]))
            w.writeheader()
            w.writerows(stab_img)

    figs = []
    try:
        if _fig_examples(out, rows, keys, out / "examples.png"):
            figs.append(("examples.png", "example segmentations (seed 0), one row per image"))
        stab_keys = sorted(stab, key=lambda k: (k[0], k[1], k[3], _setting_sort(k[2])))
        if _fig_stability(stab, stab_keys, out / "stability.png"):
            figs.append(("stability.png", "distribution of pairwise seed agreement and ARI"))
        if _fig_grid(summary, out / "grid.png"):
            figs.append(("grid.png", "metrics against the grid parameter"))
    except Exception as exc:  # figures must not lose the tables
        print(f"mmtseg bench: figure failed: {exc}", file=stream)
    if figs:
        lines += ["", "## Figures", ""] + [f"- [{n}]({n}): {d}" for n, d in figs]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"mmtseg bench: wrote {path}", file=stream)
    return path
