"""What the stage says it did (output_stage.summary): "why" in the user's words, details apart."""

import numpy as np
import pytest

from napari_mmtseg import segment
from napari_mmtseg.output_stage import finish_labels, summarize_output

from .cases import grey

#: the output stage's own terms, which belong in ``why_details`` and not in ``why``
JARGON = (
    "transition band",
    "boundaries weaker",
    "texture",
    "Ward",
    "n_classes=",
    "clean-up",
    "clusters are left",
    " x ",
)


def _two_tones_in_bands():
    """8 bands of a ramp with a real edge: the method's 8 clusters, 2 regions after merging."""
    ramp = np.tile(np.linspace(0.0, 0.5, 64, dtype=np.float32), (48, 1))
    ramp[:, 40:] += 0.4
    return np.minimum(np.arange(64) // 8, 7)[None, :].repeat(48, 0), grey(ramp)


@pytest.mark.parametrize(
    "kw",
    [
        dict(merge_threshold=3.0, refine=True, texture=0.5, min_region_size=20),
        dict(merge_threshold=3.0, texture=None),
        dict(min_region_size=1),
        dict(output="clusters", n_classes=2, min_region_size=1),
        dict(output="clusters", n_classes=4, min_region_size=1, merge_threshold=3.0),
        dict(output="clusters", n_classes=12, min_region_size=1),
    ],
)
def test_why_is_plain_words_and_the_details_are_apart(kw):
    clusters, x = _two_tones_in_bands()
    _, info = finish_labels(clusters, x, **kw)
    assert not [w for w in JARGON if w in info.why], info.why
    assert info.why_details and info.why_details != info.why
    if kw.get("output") == "clusters":
        assert info.why.startswith(f"{info.n_classes} class")
    else:
        assert info.why.startswith(f"{info.n_regions} region")


def test_why_says_what_the_result_holds_and_why_that_many_classes():
    clusters, x = _two_tones_in_bands()
    _, info = finish_labels(clusters, x, output="clusters", merge_threshold=3.0, min_region_size=1)
    assert info.why == (
        "2 classes: the method's 8 kinds of pixel, with areas that barely differed merged into "
        "their neighbours"
    )
    assert info.why_details.startswith("2 of the method's 8 clusters are left after clean-up (")
    assert "boundaries weaker than 3 merged" in info.why_details
    _, info = finish_labels(clusters, x, output="clusters", n_classes=12, min_region_size=1)
    assert info.why.startswith("8 classes, not the 12 asked for")
    assert "; the image has only 8 distinct region(s), so 8 class(es)" in info.why_details
    _, info = finish_labels(clusters, x, min_region_size=1)
    assert info.why == "8 regions of 8 kinds: the 8 kinds of pixel the method told apart"
    assert info.why_details == "the method's 8 clusters, no clean-up"


def test_a_stack_summary_says_how_many_classes_its_slices_have():
    assert summarize_output([]) == {}
    _, info = finish_labels(np.zeros((8, 8), int), np.zeros((1, 8, 8), np.float32))
    s = summarize_output([info, info])
    assert s["n_classes"] == 1 and s["why"].startswith(info.why)
    assert "classes per slice: 1" in s["why"] and "texture" not in s["why"]
    assert s["why_details"].startswith("slice 0: ") and "classes per slice: 1" in s["why_details"]


def test_a_run_reports_both_in_its_output():
    img = np.zeros((32, 32), np.uint8)
    img[:, 16:] = 200
    out = segment(img, method="kmeans", k=2, preset="fast", device="cpu").output
    assert out["why"] == "2 classes: the 2 kinds of pixel the method told apart"
    assert out["why_details"] == "the method's 2 clusters, no clean-up"


def test_a_clusters_stack_says_its_classes_over_the_stack():
    """A clusters time-lapse's record said the first slice's class count ("4 classes ... in
    the first slice") while the stack held 6 ids."""
    from napari_mmtseg.samples import make_blobs_timelapse

    tl = make_blobs_timelapse(t=3, size=64, seed=0)
    r = segment(tl, method="kmeans", k=5, output="clusters", axes="TYX", device="cpu")
    n = int(np.unique(r.labels).size)
    assert r.output["n_classes"] == n
    assert r.output["why"].startswith(f"{n} classes over the 3 slices")
