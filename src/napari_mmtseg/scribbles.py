"""Scribbles: a few pixels a user labelled by hand, as training targets.

A scribble map has the image's spatial shape (the shape of the labels):
0 = not scribbled, any positive integer = a class. The learned methods
(Kim et al. 2020, section III-D; here also MMT and Kanezaki 2018) add a
cross-entropy term that pulls the scribbled pixels toward their class's
channel, while the unsupervised loss keeps working on the rest; the run then
ends with the scribble ids on the scribbled classes.

Each scribble class is trained on one network channel: the channel the
network already predicts most on that class's scribbled pixels when training
starts (a one-to-one Hungarian assignment), so a refinement that starts from
a previous run's networks keeps their meaning. ``q`` must exceed the number
of scribble classes. No Qt, no napari, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Scribbles", "prepare_scribbles", "assign_channels", "to_train_view", "make_scribbles"]


@dataclass
class Scribbles:
    """Validated scribbles of one image.

    Attributes
    ----------
    data : numpy.ndarray of int
        The labels' shape (the image without its channel axis); 0 = not scribbled.
    ids : numpy.ndarray of shape (K,), int64
        The scribble classes: the sorted positive ids; class ``k`` has id ``ids[k]``.
    """

    data: np.ndarray
    ids: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of scribble classes K.

        Returns
        -------
        int
            ``ids.size``.
        """
        return int(self.ids.size)

    def classes(self, plane: np.ndarray) -> np.ndarray:
        """Class index of every pixel of a scribble plane.

        Parameters
        ----------
        plane : numpy.ndarray of shape (H, W), int
            One slice of :attr:`data`.

        Returns
        -------
        numpy.ndarray of shape (H, W), int64
            Index into :attr:`ids`, -1 where not scribbled.
        """
        plane = np.asarray(plane)
        out = np.full(plane.shape, -1, dtype=np.int64)
        hit = plane > 0
        out[hit] = np.searchsorted(self.ids, plane[hit])
        return out

    def ids_of_channels(self, q: int, channel_of_class) -> np.ndarray:
        """Output id of every network channel.

        Parameters
        ----------
        q : int
            Network channels.
        channel_of_class : array_like of shape (K,), int
            The channel of each scribble class.

        Returns
        -------
        numpy.ndarray of shape (q,), int64
            The scribble id on the channel of each scribble class, fresh ids above the
            largest scribble id on the others.
        """
        channel_of_class = np.asarray(channel_of_class)
        out = np.zeros(q, dtype=np.int64)
        free = np.setdiff1d(np.arange(q), channel_of_class)
        out[free] = int(self.ids.max()) + 1 + np.arange(free.size)
        out[channel_of_class] = self.ids
        return out

    def slice_ids(
        self,
        lab: np.ndarray,
        plane: np.ndarray,
        output: str,
        q: int | None = None,
        channel_of_class=None,
    ) -> np.ndarray:
        """Output ids of one slice's labels: the scribble ids on the scribbled classes.

        Parameters
        ----------
        lab : numpy.ndarray of shape (H, W), int
            The output stage's labels of the slice (ids from 0).
        plane : numpy.ndarray of shape (H, W), int64
            The slice's scribble class indices (:meth:`classes`; -1 = not scribbled).
        output : str
            ``"clusters"``: ids are classes (network channels mapped by
            :meth:`ids_of_channels` when ``channel_of_class`` is given), and every scribbled
            pixel keeps its scribble id; ``"regions"``: instance ids, moved above the
            largest scribble id.
        q : int, optional
            Network channels (with ``channel_of_class``).
        channel_of_class : array_like of int, optional
            The network channel of each scribble class (a learned method); None: ``lab``
            already holds class ids (a method that does not learn).

        Returns
        -------
        numpy.ndarray of shape (H, W)
            The slice's output ids.
        """
        if output == "clusters" and channel_of_class is not None:
            lab = self.ids_of_channels(q, channel_of_class)[lab]
        elif output == "regions":  # instance ids, above the scribble ids
            lab = lab + int(self.ids.max()) + 1
        if output == "clusters":  # a scribbled pixel keeps its scribble (a class id)
            keep = plane >= 0
            lab[keep] = self.ids[plane[keep]]
        return lab

    def slice_order(self, layout, n_slices: int) -> list:
        """Slices with scribbles first (in order), then the others.

        Every slice after the scribbled ones then starts from networks that know the
        scribble classes.

        Parameters
        ----------
        layout : SliceLayout
            The image's slice layout (``labels_index`` maps a slice to :attr:`data`).
        n_slices : int
            Number of slices.

        Returns
        -------
        list of int
            Slice indices in training order.
        """
        has = [bool((self.data[layout.labels_index(i)] > 0).any()) for i in range(n_slices)]
        return [i for i in range(n_slices) if has[i]] + [i for i in range(n_slices) if not has[i]]


def assign_channels(
    classes: np.ndarray, predicted: np.ndarray, n_classes: int, q: int
) -> np.ndarray:
    """Channel of each scribble class, from what the network predicts on its scribbles.

    A one-to-one assignment maximising the scribbled pixels already predicted as that
    channel (``scipy.optimize.linear_sum_assignment``).

    Parameters
    ----------
    classes : numpy.ndarray of shape (M,), int
        Class index of each scribbled pixel.
    predicted : numpy.ndarray of shape (M,), int
        The network's channel at each of them.
    n_classes : int
        Scribble classes K.
    q : int
        Network channels (more than K).

    Returns
    -------
    numpy.ndarray of shape (K,), int64
        The channel of each class.
    """
    from scipy.optimize import linear_sum_assignment

    overlap = np.zeros((n_classes, q), dtype=np.int64)
    np.add.at(overlap, (np.asarray(classes), np.asarray(predicted)), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    out = np.empty(n_classes, dtype=np.int64)
    out[rows] = cols
    return out


def prepare_scribbles(scribbles, spatial_shape: tuple, q: int | None) -> Scribbles | None:
    """Check a user's scribble map against the image and the network.

    Parameters
    ----------
    scribbles : array_like of int or None
        Shape ``spatial_shape``, 0 = not scribbled.
    spatial_shape : tuple of int
        The image's shape without its channel axis.
    q : int or None
        The network's channel count (None for methods without one).

    Returns
    -------
    Scribbles or None
        None for None or an all-zero map.

    Raises
    ------
    ValueError
        For a wrong shape, negative or too large ids, or more classes than ``q - 1``.
    TypeError
        For a map that is not integer.
    """
    if scribbles is None:
        return None
    arr = np.asarray(scribbles)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"Scribbles must be an integer label image (0 = not scribbled), not {arr.dtype}."
        )
    if arr.shape != tuple(spatial_shape):
        raise ValueError(
            f"The scribbles' shape {arr.shape} differs from the image's spatial shape "
            f"{tuple(spatial_shape)} (the image without its channel axis)."
        )
    if arr.size and arr.min() < 0:
        raise ValueError("Scribble ids must be >= 0 (0 = not scribbled).")
    if arr.size and int(arr.max()) >= 2**31 - 1024:
        raise ValueError(
            f"Scribble ids must be below {2**31 - 1024} (label images are int32); "
            f"got {int(arr.max())}."
        )
    ids = np.unique(arr[arr > 0])
    if ids.size == 0:
        return None
    if q is not None and ids.size >= q:
        raise ValueError(
            f"{ids.size} scribble classes need more network channels than q={q}; "
            f"set q to at least {ids.size + 1}."
        )
    return Scribbles(data=arr, ids=ids.astype(np.int64))


def to_train_view(channels: np.ndarray, shape: tuple) -> np.ndarray:
    """Scribble class indices on the training view.

    Every scribbled pixel marks the training pixel it falls in, so a 1-pixel stroke
    survives any downscaling (where strokes of two classes meet in one training pixel,
    the later row-major one wins).

    Parameters
    ----------
    channels : numpy.ndarray of shape (H, W), int
        Class index per full-size pixel (-1 = none).
    shape : tuple of int
        ``(h, w)``, the training view's size.

    Returns
    -------
    numpy.ndarray of shape (h, w), int64
        Class index per training pixel (-1 = none); ``channels`` itself at full size.
    """
    H, W = channels.shape
    h, w = shape
    if (h, w) == (H, W):
        return channels
    out = np.full((h, w), -1, dtype=np.int64)
    ys, xs = np.nonzero(channels >= 0)
    out[ys * h // H, xs * w // W] = channels[ys, xs]
    return out


def make_scribbles(
    mask,
    seed: int = 0,
    min_area: int = 64,
    erode: int = 3,
    length: int = 15,
    per_component: int = 0,
) -> np.ndarray:
    """Synthetic scribbles from a ground-truth label map, for benchmarks.

    In every segment (id) of ``mask`` with at least ``min_area`` pixels: one
    short straight stroke of at most ``length`` pixels through a pixel drawn
    at random from the segment's interior (the segment eroded by ``erode``
    pixels: distance transform > ``erode``; its deepest pixels when that is
    empty), in a random direction, clipped to that interior. With
    ``per_component=N`` > 0 the strokes go instead into up to N connected
    components of each id (drawn at random among those of at least
    ``min_area`` pixels): a few nuclei of a semantic nucleus mask, say.

    Parameters
    ----------
    mask : array_like of int
        A ground-truth label map (H, W).
    seed : int, optional
        Seed of ``numpy.random.default_rng``: the same mask and seed give the same
        scribbles.
    min_area : int, optional
        Smallest segment (or component) that gets a stroke, in pixels.
    erode : int, optional
        Depth of the interior a stroke stays in, in pixels.
    length : int, optional
        Longest stroke, in pixels.
    per_component : int, optional
        Strokes into up to this many components of each id (0: one per id).

    Returns
    -------
    numpy.ndarray of ``mask``'s shape, int32
        Stroke pixels carry the segment's id + 1 (so GT id 0, e.g. background, is scribble
        class 1), 0 elsewhere.
    """
    from skimage.measure import label

    mask = np.asarray(mask)
    rng = np.random.default_rng(seed)
    out = np.zeros(mask.shape, dtype=np.int32)
    for sid in np.unique(mask):
        seg_all = mask == sid
        if per_component:
            comps = label(seg_all, connectivity=1)
            sizes = np.bincount(comps.ravel())
            big = np.flatnonzero(sizes >= min_area)
            big = big[big > 0]
            chosen = rng.permutation(big)[:per_component]
            parts = [comps == c for c in chosen]
        else:
            parts = [seg_all] if seg_all.sum() >= min_area else []
        for seg in parts:
            rr, cc = _stroke(seg, erode, length, rng)
            out[rr, cc] = int(sid) + 1
    return out


def _stroke(seg: np.ndarray, erode: int, length: int, rng) -> tuple:
    """Pixels (rows, cols) of one random stroke inside the eroded segment ``seg``."""
    from scipy import ndimage as ndi
    from skimage.draw import line

    depth = ndi.distance_transform_edt(np.pad(seg, 1))[1:-1, 1:-1]
    inner = depth > erode
    if not inner.any():
        inner = depth >= depth.max()
    ys, xs = np.nonzero(inner)
    k = rng.integers(ys.size)
    angle = rng.uniform(0, np.pi)
    dy, dx = length / 2 * np.sin(angle), length / 2 * np.cos(angle)
    h, w = seg.shape
    p0 = (int(np.clip(round(ys[k] - dy), 0, h - 1)), int(np.clip(round(xs[k] - dx), 0, w - 1)))
    p1 = (int(np.clip(round(ys[k] + dy), 0, h - 1)), int(np.clip(round(xs[k] + dx), 0, w - 1)))
    rr, cc = line(*p0, *p1)
    keep = inner[rr, cc]
    return rr[keep], cc[keep]
