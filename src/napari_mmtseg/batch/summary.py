"""The batch's record: one summary CSV row per input, and the :class:`BatchReport`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from .. import storage

__all__ = ["SUMMARY_NAME", "FIELDS", "BatchReport", "read_summary", "write_summary"]

#: the summary CSV's name in the output folder
SUMMARY_NAME = "mmtseg_summary.csv"
#: the summary CSV's columns (``model``, ``model_sha256``: the file of a model applied to
#: every input and its hash, empty when each input trained its own)
FIELDS = (
    "input", "output", "status", "labels", "seconds", "device", "worker", "error",
    "model", "model_sha256",
)  # fmt: skip


def read_summary(path: str) -> dict:
    """Read the rows an earlier run left, to keep what a skipped output was made with.

    Parameters
    ----------
    path : str
        The summary CSV, local or URL.

    Returns
    -------
    dict
        ``{output path: row dict}``; empty when there is no summary or it cannot be
        read (an unreadable old summary is replaced, never fatal).
    """
    try:
        if not storage.exists(path):
            return {}
        text = storage.read_bytes(path).decode()
        return {r["output"]: r for r in csv.DictReader(io.StringIO(text))}
    except Exception:
        return {}


def write_summary(path: str, rows: list) -> None:
    """Write the summary CSV atomically (local or URL).

    Parameters
    ----------
    path : str
        The summary CSV, local or URL.
    rows : list of dict
        One row per input, keys :data:`FIELDS` (others are ignored).

    Raises
    ------
    OSError
        When the file cannot be written.
    """
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    data = buf.getvalue().encode()

    def _write(local: str) -> None:
        with open(local, "wb") as fh:
            fh.write(data)

    storage.atomic_write(path, _write)


@dataclass
class BatchReport:
    """What a batch did.

    Attributes
    ----------
    rows : list of dict
        One row per input, keys :data:`FIELDS`, in input order.
    summary_path : str or None
        The summary CSV's path (None for a single-file output).
    seconds : float
        Wall-clock seconds the batch took.
    """

    rows: list = field(default_factory=list)
    summary_path: str | None = None
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """Count the rows of one status.

        Parameters
        ----------
        status : str
            ``"done"``, ``"skipped"`` or ``"failed"``.

        Returns
        -------
        int
            Rows with that status.
        """
        return sum(r["status"] == status for r in self.rows)

    @property
    def n_failed(self) -> int:
        """Count the inputs that failed.

        Returns
        -------
        int
            Rows whose status is ``"failed"``.
        """
        return self.count("failed")

    @property
    def ok(self) -> bool:
        """Tell whether no input failed.

        Returns
        -------
        bool
            True when no row's status is ``"failed"``.
        """
        return self.n_failed == 0
