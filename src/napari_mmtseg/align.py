"""Label alignment: overlap matrix + Hungarian matching.

Used every MMT iteration (teacher labels -> student label space), to keep ids
consistent across the slices / frames of a stack, and to compare runs.
No Qt, no napari.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["count_ids", "overlap_matrix", "match_from_overlap", "align_labels"]


def count_ids(ids, n: int):
    """Count the occurrences of every id in ``[0, n)``, with no host synchronisation.

    ``torch.bincount`` on CUDA reads the largest id back to the host to size its output;
    this scatter-add into a zeroed ``n``-vector does not, so a training step can count
    labels without waiting for the device. The counts equal ``bincount(ids, minlength=n)``.

    Parameters
    ----------
    ids : torch.Tensor of int
        Ids in ``[0, n)``, any shape, on any device.
    n : int
        Number of ids.

    Returns
    -------
    torch.Tensor of shape (n,), int64
        The counts, on ``ids``' device.
    """
    import torch

    flat = ids.reshape(-1).long()
    out = torch.zeros(n, dtype=torch.long, device=flat.device)
    return out.index_add_(0, flat, torch.ones_like(flat))


def overlap_matrix(a, b, n_a: int, n_b: int):
    """Count the pixels of every pair of ids: ``S[i, j] = #{a == i and b == j}``.

    Works on numpy arrays or torch tensors; a tensor stays on its device (one
    :func:`count_ids`, no host synchronisation), so only the small ``n_a x n_b`` matrix
    ever needs to reach the host.

    Parameters
    ----------
    a : numpy.ndarray or torch.Tensor of int
        Ids in ``[0, n_a)``, any shape.
    b : numpy.ndarray or torch.Tensor of int
        Ids in ``[0, n_b)``, the shape of ``a``.
    n_a : int
        Number of ids of ``a``.
    n_b : int
        Number of ids of ``b``.

    Returns
    -------
    numpy.ndarray or torch.Tensor of shape (n_a, n_b), int64
        The overlap counts (a tensor on ``a``'s device for tensor inputs).
    """
    if type(a).__module__.startswith("torch"):  # a tensor stays on its device
        flat = a.reshape(-1).long() * n_b + b.reshape(-1).long()
        return count_ids(flat, n_a * n_b).reshape(n_a, n_b)
    a = np.asarray(a).ravel().astype(np.int64)
    b = np.asarray(b).ravel().astype(np.int64)
    return np.bincount(a * n_b + b, minlength=n_a * n_b).reshape(n_a, n_b)


def match_from_overlap(S: np.ndarray) -> np.ndarray:
    """Map each column id (moving label) to a row id (reference label).

    Maximises the total overlap with a one-to-one assignment
    (``scipy.optimize.linear_sum_assignment``, the Hungarian matching of MMT's label
    alignment).

    Parameters
    ----------
    S : numpy.ndarray of shape (n_rows, n_cols)
        Overlap counts (:func:`overlap_matrix`); may be rectangular.

    Returns
    -------
    numpy.ndarray of shape (n_cols,), int64
        ``mapping[j]``: the new id of moving label ``j``. Columns left unmatched (more
        moving than reference labels) get fresh ids ``n_rows, n_rows + 1, ...`` so that
        no two moving labels merge.
    """
    S = np.asarray(S)
    n_ref, n_mov = S.shape
    rows, cols = linear_sum_assignment(S, maximize=True)
    mapping = np.full(n_mov, -1, dtype=np.int64)
    mapping[cols] = rows
    unmatched = np.flatnonzero(mapping < 0)
    mapping[unmatched] = n_ref + np.arange(unmatched.size)
    return mapping


def align_labels(
    reference: np.ndarray,
    moving: np.ndarray,
    next_id: int | None = None,
    earlier=(),
) -> np.ndarray:
    """Relabel ``moving`` so its ids agree with ``reference`` where they overlap.

    Each moving segment takes the id of the reference segment it is matched to
    (one-to-one, maximum total overlap). With ``earlier`` label maps (the slices before
    ``reference`` in a stack), a segment's overlap with each of them counts too, half as
    much per step back, so a class missing from ``reference`` alone (a blank slice, a
    frame where it left the field) takes its id back instead of a new one.

    Parameters
    ----------
    reference : numpy.ndarray of int
        A label map, arbitrary ids.
    moving : numpy.ndarray of int
        A label map of the same shape; not modified.
    next_id : int, optional
        Moving segments with no partner (more segments in ``moving`` than in
        ``reference``, or matched only with zero overlap) get new ids from here on
        (default ``reference.max() + 1``; pass the largest id used anywhere so far + 1 when
        aligning a stack slice by slice).
    earlier : sequence of numpy.ndarray of int, optional
        Label maps of ``reference``'s shape, the most recent last (``reference`` itself
        comes after them); the ``k``-th map back weighs ``2 ** -k`` of ``reference``.

    Returns
    -------
    numpy.ndarray
        ``moving`` relabelled, with ``reference``'s dtype (widened if needed).

    Raises
    ------
    ValueError
        When the two maps differ in shape.
    """
    refs = [np.asarray(r) for r in (*earlier, reference)]
    moving = np.asarray(moving)
    for r in refs:
        if r.shape != moving.shape:
            raise ValueError(
                f"align_labels needs label maps of one shape, got {r.shape} and {moving.shape}"
            )
    ref_ids = np.unique(np.concatenate([np.unique(r) for r in refs]))
    mov_ids, mov_inv = np.unique(moving, return_inverse=True)
    S = np.zeros((ref_ids.size, mov_ids.size))
    for back, r in enumerate(reversed(refs)):
        r_inv = np.searchsorted(ref_ids, r)
        S += 0.5**back * overlap_matrix(r_inv, mov_inv, ref_ids.size, mov_ids.size)
    mapping = match_from_overlap(S)
    matched = mapping < ref_ids.size
    cols = np.flatnonzero(matched)
    matched[cols[S[mapping[cols], cols] == 0]] = False  # no overlap: not the same segment
    if next_id is None:
        next_id = int(ref_ids.max()) + 1 if ref_ids.size else 1
    new_ids = np.empty(mov_ids.size, dtype=np.int64)
    new_ids[matched] = ref_ids[mapping[matched]]
    new_ids[~matched] = next_id + np.arange(int((~matched).sum()))
    out_dtype = np.result_type(refs[-1].dtype, np.min_scalar_type(int(new_ids.max())))
    return new_ids[mov_inv].reshape(moving.shape).astype(out_dtype)
