"""napari-mmtseg: unsupervised image segmentation by Mutual Mean-Teaching.

``from napari_mmtseg import segment`` loads no Qt, napari, magicgui or vispy.
"""
__version__ = "0.1.0"

from .align import align_labels, match_from_overlap, overlap_matrix
from .engine import Progress, SegmentationResult, iter_segment, segment
from .params import LEARNED_METHODS, METHODS, PRESETS, Params, make_params

__all__ = [
    "__version__", "segment", "iter_segment", "Progress", "SegmentationResult",
    "align_labels", "overlap_matrix", "match_from_overlap",
    "METHODS", "LEARNED_METHODS", "PRESETS", "Params", "make_params",
]
