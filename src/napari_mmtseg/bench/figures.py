"""The benchmark report's figures: example segmentations, seed stability, grid curves."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .layout import COMMANDS, GRIDS, MAIN_COLS, label_path, run_label, setting_sort

__all__ = ["fig_examples", "fig_stability", "fig_grid"]


def fig_stability(table, keys, path: Path) -> bool:
    """Draw the distribution of pairwise seed agreement and ARI per method.

    Parameters
    ----------
    table : dict
        The stability table of the report, by group key.
    keys : list of tuple
        The groups to draw, in order.
    path : pathlib.Path
        The PNG to write.

    Returns
    -------
    bool
        True when a figure was written (there were seed pairs).
    """
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
        ax.set_xticklabels([run_label(k) for k in keys], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"seed pairs: {title}", fontsize=10)
        ax.set_ylim(min(0, min(min(table[k][field]) for k in keys)), 1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def fig_grid(summary, path: Path) -> bool:
    """Draw each metric against the grid parameter of the methods run on a grid.

    Parameters
    ----------
    summary : dict
        :func:`napari_mmtseg.bench.report.summarize` of the results.
    path : pathlib.Path
        The PNG to write.

    Returns
    -------
    bool
        True when a figure was written (some method ran on a grid).
    """
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
        ks = sorted(ks, key=lambda k: setting_sort(k[2]))
        x = [setting_sort(k[2])[1] for k in ks]
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


def fig_examples(out: Path, rows, keys, path: Path, n_examples: int = 4) -> bool:
    """Draw example segmentations (seed 0), one row per image.

    Parameters
    ----------
    out : pathlib.Path
        The benchmark folder (its label maps and commands.txt, for the data's root).
    rows : list of dict
        Rows of ``results.csv``.
    keys : list of tuple
        The groups to show, one column each.
    path : pathlib.Path
        The PNG to write.
    n_examples : int, optional
        Images shown.

    Returns
    -------
    bool
        True when a figure was written (the data and label maps were found).
    """
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
                axes[0, 2 + j].set_title(run_label(k) + ", seed 0", fontsize=7)
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
