"""finish_labels (output_stage.finish): regions, clusters, ids, and the regions it keeps apart."""

import inspect
from pathlib import Path

import numpy as np
import pytest

from napari_mmtseg.features import image_features
from napari_mmtseg.output_stage import finish_labels, thin_lines
from napari_mmtseg.output_stage.experiments import StepSettings, finish_labels_with

from .cases import grey, membrane_grid_with_a_dark_cell


def test_the_public_keywords_are_the_engines_and_no_ablation_switch():
    keywords = set(inspect.signature(finish_labels).parameters) - {"clusters", "x"}
    assert keywords == {
        "output",
        "n_classes",
        "min_region_size",
        "merge_threshold",
        "refine",
        "texture",
        "colour",
        "line_width",
        "keep_ids",
        "keep_apart",
        "scribbled_pixels",
        "hierarchy",
    }


def test_regions_split_a_class_into_its_connected_parts():
    clusters = np.zeros((30, 30), int)
    clusters[5:10, 5:10] = 1
    clusters[20:25, 20:25] = 1
    x = grey(np.where(clusters == 1, 0.9, 0.1))
    reg, ri = finish_labels(clusters, x, output="regions", min_region_size=1)
    cls, ci = finish_labels(clusters, x, output="clusters", min_region_size=1)
    assert np.unique(reg).size == 3 and ri.n_regions == 3 and ri.n_classes == 2
    assert np.unique(cls).size == 2 and ci.n_regions == 3
    assert reg[7, 7] != reg[22, 22] and cls[7, 7] == cls[22, 22]
    assert reg.dtype == cls.dtype == np.int32


def test_bad_output_mode_is_refused():
    with pytest.raises(ValueError, match="output must be"):
        finish_labels(np.zeros((4, 4), int), np.zeros((1, 4, 4), np.float32), output="instances")


def test_any_ids_in_and_the_methods_own_ids_out():
    clusters = np.full((20, 20), -7)
    clusters[:, 10:] = 3_000_000_000
    img = np.where(clusters > 0, 0.9, 0.1).astype(np.float32)[None]
    lab, info = finish_labels(clusters, img, output="clusters", min_region_size=1)
    assert set(np.unique(lab)) == {0, 1} and info.n_clusters_in == 2
    lab, _ = finish_labels(
        np.where(clusters > 0, 70000, 5),
        img,
        output="clusters",
        min_region_size=1,
        keep_ids=True,
    )
    assert set(np.unique(lab)) == {5, 70000}


def test_no_class_vanishes_in_the_last_clean_up():
    clusters = np.zeros((40, 40), int)
    clusters[10:22, 10:22] = 1  # a 12x12 square ...
    img = np.zeros((40, 40), np.float32)
    img[12:20, 12:20] = 1.0  # ... whose image edge is an 8x8 square: snapping shrinks it
    for n_classes in ("auto", 2):
        lab, info = finish_labels(
            clusters,
            img[None],
            output="clusters",
            n_classes=n_classes,
            min_region_size=100,
            refine=True,
        )
        assert np.unique(lab).size == 2 == info.n_classes, n_classes


def test_a_cell_of_the_membranes_class_stays_apart_from_the_membranes():
    """The thin-line rule keeps the membrane network apart from the cells; the last step used
    to undo that for a cell of the same class as the membranes (the connected parts of each
    class, now ``join_regions="class"``), joining the grey cell to the network."""
    x, clusters = membrane_grid_with_a_dark_cell()
    kw = dict(merge_threshold=3, refine=True, texture=None)
    lab, info = finish_labels(clusters, x, **kw)
    assert info.n_regions == 10 and info.n_classes == 2  # 8 bright cells, the network, the grey
    assert len({lab[36, 36], lab[24, 36], lab[10, 10]}) == 3
    lab, info = finish_labels_with(clusters, x, StepSettings(join_regions="class"), **kw)
    assert info.n_regions == 9 and lab[36, 36] == lab[24, 36]
    _, info = finish_labels_with(clusters, x, StepSettings(join_regions="stage"), **kw)
    assert info.n_regions == 10
    # without merging there is no thin-line rule to keep: the connected parts of each class
    no_merge = {**kw, "merge_threshold": 0}
    by_class = finish_labels_with(clusters, x, StepSettings(join_regions="class"), **no_merge)
    assert finish_labels(clusters, x, **no_merge)[1].n_regions == by_class[1].n_regions
    lab, info = finish_labels(clusters, x, output="clusters", **kw)  # classes are unchanged
    assert lab[36, 36] == lab[24, 36] != lab[10, 10]


def test_regions_of_one_class_that_touch_after_the_last_clean_up_are_one():
    """Two regions of one class (neither a line) that touch once a fragment between them is gone
    must become one region, as with the connected parts of each class."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(7)
    img = ndi.gaussian_filter(rng.random((64, 64)), 3)
    img = (img - img.min()) / (img.max() - img.min())
    for r in rng.integers(5, 60, 3):
        img[r : r + 2, :] = 0.0
    for c in rng.integers(5, 60, 3):
        img[:, c : c + 2] = 0.0
    img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
    clusters = np.digitize(img, np.quantile(img, [0.2, 0.4, 0.6, 0.8]))
    kw = dict(merge_threshold=1.0, refine=True, texture=None, min_region_size=40)
    lab, _ = finish_labels(clusters, img[None], **kw)
    cls, _ = finish_labels(clusters, img[None], output="clusters", **kw)
    line = thin_lines(lab + 1, image_features(img[None]), 8.0).any(1)[1:]
    a = np.concatenate([lab[:, :-1].ravel(), lab[:-1].ravel()])
    b = np.concatenate([lab[:, 1:].ravel(), lab[1:].ravel()])
    same = (a != b) & (
        np.concatenate([cls[:, :-1].ravel(), cls[:-1].ravel()])
        == np.concatenate([cls[:, 1:].ravel(), cls[1:].ravel()])
    )
    assert all(line[p] != line[q] for p, q in zip(a[same], b[same]))


_STARDIST = Path(__file__).resolve().parents[3] / "shared/data/microscopy/stardist_demo/img2d.tif"


@pytest.mark.skipif(not _STARDIST.exists(), reason="needs ../shared/data (stardist_demo)")
def test_a_clusters_result_has_no_speck_under_the_minimum():
    """Clusters output with n_classes="auto" kept the largest fragment of every class, so a
    class the clean-up had absorbed everywhere else survived as a 1-px speck (fluorescent
    nuclei, default fast run: two specks, of 1 and 2 px)."""
    import tifffile
    import torch
    from skimage.measure import label

    from napari_mmtseg import segment

    torch.set_num_threads(1)
    img = tifffile.imread(_STARDIST)[:256, :256]
    r = segment(img, output="clusters", preset="fast", seed=0, device="cpu")
    pieces = np.bincount(label(r.labels.astype(np.int64) + 1, connectivity=1).ravel())[1:]
    assert pieces.min() >= r.output["min_region_size"]
