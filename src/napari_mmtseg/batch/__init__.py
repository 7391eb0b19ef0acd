"""Many images at once: one task per image, in this process or on a dask.distributed
cluster (a local one of N worker processes, or any cluster a ``distributed.Client``
reaches: dask-jobqueue on HPC, Kubernetes, cloud).

Examples
--------
>>> from distributed import Client  # doctest: +SKIP
>>> from napari_mmtseg.batch import segment_many  # doctest: +SKIP
>>> report = segment_many(["plate1/", "extra/*.tif"], "labels/", client=Client(...),
...                       method="mmt", preset="fast", seed=0)  # doctest: +SKIP
>>> report.n_failed, report.rows, report.summary_path  # doctest: +SKIP

Each task reads its image, segments it and writes its labels itself (the client never
holds pixel data), under a temporary name then renamed, so a killed task never leaves
half a file under the output's name. Outputs that exist are skipped (a rerun does only
what is missing) unless ``overwrite=True``. A task whose worker dies is run again on
another worker by the scheduler (``distributed.scheduler.allowed-failures``, 3 by
default); a file that cannot be read or segmented is recorded with its error while the
rest go on. A summary CSV (:data:`SUMMARY_NAME`) beside the outputs has one row per
input: input, output, status, labels, seconds, device, worker, error.

Paths may be local or fsspec URLs (``s3://bucket/plate/``, ``gs://...``,
``file:///shared/...``): inputs, globs and the output folder alike.

The package by concern: :mod:`.plan` (inputs -> tasks), :mod:`.task` (one image),
:mod:`.run` (here or on a cluster), :mod:`.cluster` (cores, local clusters, threads per
task), :mod:`.summary` (the CSV and the report). ``distributed`` is imported only when a
cluster is used (the ``batch`` extra); ``from napari_mmtseg import segment`` never
imports it.
"""

from .cluster import cores, local_cluster, threads_per_worker
from .plan import IMAGE_SUFFIXES, BatchError, check_output, plan
from .run import segment_many
from .summary import FIELDS, SUMMARY_NAME, BatchReport
from .task import segment_file

__all__ = [
    "segment_many",
    "plan",
    "check_output",
    "segment_file",
    "BatchReport",
    "BatchError",
    "IMAGE_SUFFIXES",
    "SUMMARY_NAME",
    "FIELDS",
    "local_cluster",
    "cores",
    "threads_per_worker",
]
