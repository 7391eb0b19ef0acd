"""Device choice: CUDA, then Apple MPS, then CPU; explicit choices honoured."""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["resolve_device", "describe_device", "torch_threads"]


def _mps_available() -> bool:
    """Whether Apple's MPS backend is usable here."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device="auto") -> torch.device:
    """Turn a device name into a usable ``torch.device``.

    Parameters
    ----------
    device : str, int, torch.device or None, optional
        ``"auto"`` (or None: CUDA when available, then Apple MPS, then the CPU), ``"cpu"``,
        ``"cuda"`` (or ``"gpu"``), ``"cuda:N"`` (or ``N``), ``"mps"``, or a
        ``torch.device``.

    Returns
    -------
    torch.device
        A device that is there.

    Raises
    ------
    ValueError
        For an unknown name, or an explicit device that is not available.
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        name = "auto" if device is None else str(device).strip().lower()
        if name.isdigit():
            name = f"cuda:{name}"
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            if _mps_available():
                return torch.device("mps")
            return torch.device("cpu")
        if name == "gpu":
            name = "cuda"
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(
                f"Unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
            ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device if isinstance(device, str) else str(dev)!r} was asked for, "
                "but PyTorch sees no CUDA GPU here; "
                "use 'auto' or 'cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(dev)!r}: only {torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif dev.type == "mps":
        if not _mps_available():
            raise ValueError(
                "device='mps' was asked for, but Apple MPS is not available here; "
                "use 'auto' or 'cpu'."
            )
    elif dev.type != "cpu":
        raise ValueError(f"Unsupported device {str(dev)!r}: use 'auto', 'cpu', 'cuda' or 'mps'.")
    return dev


def describe_device(dev: torch.device) -> str:
    """Name a device for people.

    Parameters
    ----------
    dev : torch.device
        The device.

    Returns
    -------
    str
        E.g. ``'cuda:0 (NVIDIA H100)'``, ``'mps (Apple GPU)'`` or ``'cpu (2 threads)'``.
    """
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    if dev.type == "mps":
        return "mps (Apple GPU)"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'' if n == 1 else 's'})"


@contextmanager
def torch_threads(num_threads: int | None):
    """Run a block with torch's CPU thread count set, and restore it after.

    Parameters
    ----------
    num_threads : int or None
        Threads for the block; None or 0 leaves torch's setting alone.

    Yields
    ------
    None
    """
    old = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        if num_threads:
            torch.set_num_threads(old)
