"""The simulated-user benchmark of Refine (issue 23), as a table for docs/benchmarks.md.

Runs :func:`napari_mmtseg.bench.interactive.run_interactive` on bbbc039_dev (nucleus F1,
foreground IoU) and BSDS500 val (covering, mIoU one-to-one): from the default result, 5
rounds of one 10-px stroke into the largest error region, compared as "paint only",
scikit-image's trainable segmenter and Refine. Writes every row to ``--csv`` as it goes and
prints, per set, the mean score of each arm after 0, 1, 3 and 5 rounds, and the share of
images on which a round lowered Refine's score.

    python benchmarks/refine_rounds.py --data /work/shared/data --limit 3 --csv rows.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from napari_mmtseg.bench.interactive import METRICS, round_table, run_interactive

#: the folder of each set under --data
SETS = {"masks": "microscopy/bbbc039_dev", "bsds": "bsds500"}


def main(argv=None) -> int:
    """Run the protocol on each set and print its table.

    Parameters
    ----------
    argv : list of str, optional
        The command line (None: ``sys.argv``).

    Returns
    -------
    int
        The exit status.
    """
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--data", default="/work/shared/data", help="the folder of both sets")
    a.add_argument("--sets", default="masks,bsds")
    a.add_argument("--limit", type=int, default=3, help="images per set")
    a.add_argument("--rounds", type=int, default=5)
    a.add_argument("--device", default="auto")
    a.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    a.add_argument("--csv", default="refine_rounds.csv")
    args = a.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.csv)
    fields = ["set", "id", "round", "arm", "f1", "fg_iou", "covering", "miou", "seconds"]
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval="")
        w.writeheader()
        for name in args.sets.split(","):
            folder, metrics = SETS[name], METRICS[name]
            rows = []
            root = Path(args.data) / folder
            for row in run_interactive(name, root, args.limit, args.rounds, device=args.device):
                rows.append(row)
                w.writerow({"set": name, **row})
                f.flush()
                print(name, row, flush=True)
            print(f"\n{name} ({root}):\n{round_table(rows, metrics)}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
