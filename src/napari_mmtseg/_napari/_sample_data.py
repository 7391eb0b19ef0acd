"""napari's File > Open Sample entries: the core samples as LayerData tuples."""

from __future__ import annotations

from ..samples import load_sample

__all__ = ["astronaut", "immunohistochemistry", "cell", "blobs_timelapse"]


def astronaut():
    return [(load_sample("astronaut"), {"name": "astronaut", "rgb": True}, "image")]


def immunohistochemistry():
    return [
        (
            load_sample("immunohistochemistry"),
            {"name": "immunohistochemistry", "rgb": True},
            "image",
        )
    ]


def cell():
    return [(load_sample("cell"), {"name": "cell", "colormap": "gray"}, "image")]


def blobs_timelapse():
    return [
        (
            load_sample("blobs_timelapse"),
            {"name": "blobs time-lapse", "colormap": "gray", "axis_labels": ("t", "y", "x")},
            "image",
        )
    ]
