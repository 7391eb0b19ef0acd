"""Where files live: local paths and fsspec URLs, and writing a file atomically.

One home for two rules that the batch, the image files and the benchmarks share:

- a path is an fsspec URL when it holds ``://`` (``s3://bucket/a.tif``, ``gs://...``,
  ``file:///shared/...``); anything else is a local path;
- a file is written under a temporary name in its own folder, then renamed over its
  final name (:func:`atomic_write`), so a reader or a rerun never sees half a file.

``fsspec`` is imported only when a URL is used (the ``batch`` extra).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "is_url",
    "url_fs",
    "join",
    "parent",
    "name",
    "exists",
    "local_path",
    "makedirs",
    "read_bytes",
    "atomic_path",
    "atomic_write",
    "check_writable",
    "clean_parts",
]


def is_url(path) -> bool:
    """Tell whether ``path`` is an fsspec URL rather than a local path.

    Parameters
    ----------
    path : str or os.PathLike
        A local path or a URL such as ``s3://bucket/key``.

    Returns
    -------
    bool
        True when ``path`` holds ``://``.
    """
    return "://" in str(path)


def url_fs(url: str):
    """Open the fsspec file system of a URL.

    Parameters
    ----------
    url : str
        An fsspec URL (``s3://bucket/key``, ``file:///tmp/x``, ...).

    Returns
    -------
    fs : fsspec.AbstractFileSystem
        The file system serving the URL's protocol.
    path : str
        The URL's path without its protocol, as ``fs`` names it.
    """
    import fsspec

    return fsspec.core.url_to_fs(str(url))


def _on_url_or_path(path, on_url: Callable, on_path: Callable):
    """Call ``on_url(fs, fs_path)`` for a URL (:func:`url_fs`), else ``on_path(Path(path))``."""
    if is_url(path):
        return on_url(*url_fs(path))
    return on_path(Path(path))


def join(folder, filename: str) -> str:
    """Join a folder (local or URL) and a file name.

    Parameters
    ----------
    folder : str or os.PathLike
        A local folder or a URL.
    filename : str
        A file name without folders.

    Returns
    -------
    str
        ``folder/filename``, with ``/`` for a URL and the local separator otherwise.
    """
    if is_url(folder):
        return str(folder).rstrip("/") + "/" + filename
    return str(Path(folder) / filename)


def parent(path) -> str:
    """Return the folder that holds ``path`` (local or URL).

    Parameters
    ----------
    path : str or os.PathLike
        A local path or a URL, of a file or of a folder.

    Returns
    -------
    str
        The folder part of ``path``.
    """
    if is_url(path):
        return str(path).rstrip("/").rsplit("/", 1)[0]
    return str(Path(path).parent)


def name(path) -> str:
    """Return the last part of a local path or URL (its file name).

    Parameters
    ----------
    path : str or os.PathLike
        A local path (either separator) or a URL.

    Returns
    -------
    str
        The file or folder name, without a trailing separator.
    """
    return str(path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def exists(path) -> bool:
    """Tell whether a file or folder exists (local or URL).

    Parameters
    ----------
    path : str or os.PathLike
        A local path or a URL to look up (no error when nothing is there).

    Returns
    -------
    bool
        True when something exists at ``path``.
    """
    return _on_url_or_path(path, lambda fs, p: fs.exists(p), Path.exists)


def local_path(path) -> Path | None:
    """The local path of a path or ``file://`` URL, without touching any remote file system.

    Parameters
    ----------
    path : str or os.PathLike
        A local path or a URL.

    Returns
    -------
    pathlib.Path or None
        The path on this machine; None for a URL of another file system (``s3://``, ...).
    """
    text = str(path)
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    return None if is_url(text) else Path(text)


def makedirs(folder) -> None:
    """Create a folder and its parents if missing (local or URL).

    Parameters
    ----------
    folder : str or os.PathLike
        A local folder or a URL.
    """
    _on_url_or_path(
        folder,
        lambda fs, p: fs.makedirs(p, exist_ok=True),
        lambda local: local.mkdir(parents=True, exist_ok=True),
    )


def read_bytes(path) -> bytes:
    """Read a whole file (local or URL).

    Parameters
    ----------
    path : str or os.PathLike
        A local path or a URL of a file to read whole.

    Returns
    -------
    bytes
        The file's content.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    """
    return _on_url_or_path(path, lambda fs, p: fs.cat_file(p), Path.read_bytes)


def atomic_path(path) -> Path:
    """Return a temporary name beside a local ``path`` to write to before renaming.

    Parameters
    ----------
    path : str or os.PathLike
        The final local path.

    Returns
    -------
    pathlib.Path
        ``.<name>.<random>.part`` in the same folder (a rename within one folder is atomic).
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")


def atomic_write(path, write: Callable[[str], object]) -> None:
    """Write a file (local or URL) under a temporary name, then rename it into place.

    Parameters
    ----------
    path : str or os.PathLike
        The final path or URL; its folder must exist (a URL's is created by the store).
    write : callable
        ``write(local_path)`` writes the whole file (or folder, such as a zarr store) at
        the temporary local path it is given; the writer must name its format itself,
        as the temporary name's extension is not the final one.

    Raises
    ------
    OSError
        When the file cannot be written or renamed; no partial file is left at ``path``.
    """
    if not is_url(path):
        final = Path(path)
        tmp = atomic_path(final)
        try:
            write(str(tmp))
            if tmp.is_dir() and final.is_dir():  # a folder store: the old one goes first
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        return
    fs, p = url_fs(path)
    filename = name(p)
    with tempfile.TemporaryDirectory() as folder:
        local = os.path.join(folder, filename)
        write(local)
        part = f"{parent(p)}/.{filename}.{uuid.uuid4().hex[:12]}.part"
        if os.path.isdir(local):  # a folder store
            if fs.exists(p):
                fs.rm(p, recursive=True)
            fs.put(local + "/", part, recursive=True)
            fs.mv(part, p, recursive=True)
        else:
            fs.put_file(local, part)
            fs.mv(part, p)


def check_writable(folder) -> None:
    """Check that files can be created in ``folder`` (created if missing), before any work.

    Parameters
    ----------
    folder : str or os.PathLike
        A local folder or a URL.

    Raises
    ------
    OSError
        When the folder cannot be created or a file cannot be written and removed there
        (read-only file system, no permission, a file in the way, ...).
    """
    makedirs(folder)
    probe = join(folder, f".mmtseg-write-check.{uuid.uuid4().hex[:12]}")
    if is_url(folder):
        fs, p = url_fs(probe)
        fs.pipe_file(p, b"")
        fs.rm(p)
        return
    with open(probe, "wb"):
        pass
    os.remove(probe)


def clean_parts(paths) -> list:
    """Remove temporary ``.part`` files that killed writers left beside local outputs.

    Parameters
    ----------
    paths : iterable of str
        Final output paths; URLs are skipped (their stores hold no local leftovers).

    Returns
    -------
    list of str
        The temporary files removed.
    """
    removed = []
    for path in paths:
        if is_url(path):
            continue
        final = Path(path)
        for part in final.parent.glob(f".{final.name}.*.part"):
            if part.is_dir():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)
            removed.append(str(part))
    return removed
