"""The classical baselines and the scribble-trained pixel classifier."""

import numpy as np

from conftest import make_regions
from napari_mmtseg import make_params
from napari_mmtseg.classical import classical, fit_trainable, trainable


def _slice():
    img, gt = make_regions(noise=0.02)
    return img[None], gt


def _agreement(labels, gt):
    """Share of pixels whose label is their ground-truth class's majority label."""
    hit = sum(np.bincount(labels[gt == c]).max() for c in np.unique(gt))
    return hit / gt.size


def test_kmeans_and_multiotsu_find_the_grey_levels():
    x, gt = _slice()
    km = classical("kmeans", x, make_params("kmeans", k=4), seed=0)
    assert km.shape == gt.shape and len(np.unique(km)) == 4 and _agreement(km, gt) > 0.95
    mo = classical("multiotsu", x, make_params("multiotsu", n_classes=4), seed=0)
    assert len(np.unique(mo)) == 4 and _agreement(mo, gt) > 0.95
    two = classical("multiotsu", x, make_params("multiotsu"), seed=0)  # auto: plain Otsu
    assert len(np.unique(two)) == 2


def test_felzenszwalb_gives_regions():
    x, gt = _slice()
    fz = classical("felzenszwalb", x, make_params("felzenszwalb", scale=2000.0), seed=0)
    assert fz.shape == gt.shape and 2 <= len(np.unique(fz)) < 50


def test_the_trainable_classifier_learns_from_scribbles():
    x, gt = _slice()
    plane = np.zeros(gt.shape, np.int64)
    for c in np.unique(gt):  # a few pixels of each class, ids 5 + class
        ys, xs = np.nonzero(gt == c)
        plane[ys[::40], xs[::40]] = 5 + c
    clf = fit_trainable([(x, plane)], seed=0)
    out = trainable(x, clf)
    assert set(np.unique(out)) <= {5, 6, 7, 8} and (out == gt + 5).mean() > 0.9
