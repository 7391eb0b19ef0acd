"""Micro-timings behind five speed-ups (docs/performance.md, "Applying a network";
docs/benchmarks.md, Refine), each against the call it replaced, one torch thread:

- channel argmax: ``Tensor.argmax(1)`` against ``nets.channel_argmax`` (``torch.max``) on
  a (2, 32, 128, 162) tensor (MMT's responses on a 128 x 162 training view);
- per-label maximum: ``scipy.ndimage.maximum`` with an index against
  ``output_stage.maps.label_maximum`` on 770,000 pixels and 400 labels;
- the scribble loss, forward and backward: the two cross-entropies on copies of the
  responses (the earlier form, written out here) against ``train.scribble_loss.scribble_ce``,
  (2, 32, 128 x 162) responses with 300 scribbled pixels;
- boundary snapping: the watershed over the whole slice (the earlier form, written out here)
  against ``output_stage.snap.snap_boundaries``, which floods the band alone, on a 700 x 1100
  map of 400 regions (SLIC superpixels; a HeLa frame's size);
- the two networks' vote and its argmax on one 512 x 512 tile of (2, 32) responses: the other
  network's channels gathered into this one's order, two softmax calls (the earlier form,
  written out here) against one softmax over channels-last responses whose order the weights
  already give (``nets.with_outputs_reordered``), summed over the two networks.

    PYTHONPATH=src python benchmarks/kernel_timings.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from napari_mmtseg.nets import channel_argmax
from napari_mmtseg.output_stage.maps import depth, label_maximum
from napari_mmtseg.output_stage.snap import snap_boundaries
from napari_mmtseg.train.scribble_loss import scribble_ce
from napari_mmtseg.train.state import ScribbleTargets


def ms(fn, n: int = 30) -> float:
    """Median milliseconds of ``n`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 32, 128, 162, generator=g)
    a, b = ms(lambda: y.argmax(1)), ms(lambda: channel_argmax(y, 1))
    print(f"channel argmax: Tensor.argmax {a:.2f} ms, channel_argmax {b:.2f} ms, ratio {b / a:.2f}")

    rng = np.random.default_rng(0)
    lab = rng.integers(0, 400, 770_000)
    val = rng.random(770_000)
    idx = np.arange(400)
    a = ms(lambda: ndi.maximum(val, lab, index=idx), 10)
    b = ms(lambda: label_maximum(val, lab, 400), 10)
    print(
        f"per-label maximum: ndimage.maximum {a:.2f} ms, label_maximum {b:.2f} ms, "
        f"ratio {b / a:.3f}"
    )

    n = 128 * 162
    logits = torch.randn(2, 32, n, generator=g, requires_grad=True)
    target = torch.randint(0, 32, (2, n), generator=g)
    marked = torch.randperm(n, generator=g)[:300].sort().values
    free = torch.from_numpy(np.setdiff1d(np.arange(n), marked.numpy()))
    chans = torch.randint(0, 32, (300,), generator=g)
    scr = ScribbleTargets(free, marked, chans, 4.0, torch.zeros(300, dtype=torch.int64), chans[:1])

    def copies():
        ce = F.cross_entropy(logits[..., free], target[..., free])
        sc = F.cross_entropy(logits[..., marked], chans.expand(2, -1))
        (ce + 4.0 * sc).backward()

    def weighted():
        scribble_ce(logits, target, scr).backward()

    a, b = ms(copies), ms(weighted)
    print(f"scribble loss step: two copies {a:.2f} ms, scribble_ce {b:.2f} ms, ratio {b / a:.2f}")

    from skimage.segmentation import slic, watershed

    img = ndi.gaussian_filter(rng.random((700, 1100)), 4)
    regions = slic(img, n_segments=400, channel_axis=None, start_label=1)
    edges = rng.random(regions.shape)

    def whole():
        dist, width = depth(regions)
        keep = (dist > 2.0) | (dist >= width[regions])
        return watershed(edges, markers=np.where(keep, regions, 0))

    assert np.array_equal(whole(), snap_boundaries(regions, edges, 2.0))
    a, b = ms(whole, 5), ms(lambda: snap_boundaries(regions, edges, 2.0), 5)
    print(f"boundary snap: whole slice {a:.0f} ms, band {b:.0f} ms, ratio {b / a:.2f}")

    resp = torch.randn(512, 512, 2, 32, generator=g)
    perm = torch.randperm(32, generator=g)

    def gathered():
        return resp[..., 0, :].softmax(-1) + resp[..., 1, perm].softmax(-1)

    a = ms(lambda: channel_argmax(gathered(), -1), 7)
    b = ms(lambda: channel_argmax(resp.softmax(-1).sum(-2), -1), 7)
    print(
        f"two-network vote: gather and two softmax {a:.0f} ms, one softmax {b:.0f} ms,"
        f" ratio {b / a:.2f}"
    )


if __name__ == "__main__":
    main()
