"""Cores and dask.distributed clusters: how many torch threads each task gets."""

from __future__ import annotations

import os

__all__ = ["cores", "local_cluster", "threads_per_worker"]


def cores() -> int:
    """Count the CPU cores this process may run on.

    Returns
    -------
    int
        The cores of this process's affinity mask (all cores where there is none), >= 1.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def local_cluster(n_workers: int, threads_per_worker: int = 1, **kwargs):
    """Start a local dask.distributed cluster of worker processes.

    Call it under ``if __name__ == "__main__":`` in a script (workers are spawned).

    Parameters
    ----------
    n_workers : int
        Worker processes.
    threads_per_worker : int, optional
        Tasks each worker runs at a time (default 1).
    **kwargs
        Passed to ``distributed.LocalCluster``; the dashboard (if bokeh is installed)
        goes on a free port unless ``dashboard_address`` is given.

    Returns
    -------
    distributed.LocalCluster
        The running cluster (close it when done).
    """
    from distributed import LocalCluster

    kwargs.setdefault("dashboard_address", ":0")
    return LocalCluster(
        n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True, **kwargs
    )


def threads_per_worker(client) -> dict:
    """Share each host's cores among the task slots of the workers on it.

    Parameters
    ----------
    client : distributed.Client
        A client of the cluster.

    Returns
    -------
    dict
        ``{worker address: torch threads}``, at least 1 each.
    """
    from distributed.comm import get_address_host

    nthreads = client.nthreads()
    found = client.run(cores)
    slots: dict = {}
    for addr, n in nthreads.items():
        host = get_address_host(addr)
        slots[host] = slots.get(host, 0) + int(n)
    return {
        addr: max(1, int(found.get(addr, 1)) // max(1, slots[get_address_host(addr)]))
        for addr in nthreads
    }
