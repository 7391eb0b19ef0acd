"""napari-mmtseg: unsupervised image segmentation by Mutual Mean-Teaching.

The public API: :func:`segment` and :func:`iter_segment` (a run, step by step),
:class:`Params` and :func:`make_params` (its parameters), :class:`Model`, :func:`fit_model`
and :func:`load_model` (a trained model: trained alone or kept from a run, saved, applied),
and the label alignment helpers. ``from napari_mmtseg import segment`` loads no Qt, napari,
magicgui or vispy.
"""

from ._version import __version__
from .align import align_labels, match_from_overlap, overlap_matrix
from .engine import Progress, SegmentationResult, fit_model, iter_segment, segment
from .model import Model, load_model
from .params import LEARNED_METHODS, METHODS, PRESETS, Params, make_params

__all__ = [
    "__version__",
    "segment",
    "iter_segment",
    "fit_model",
    "Progress",
    "SegmentationResult",
    "Model",
    "load_model",
    "align_labels",
    "overlap_matrix",
    "match_from_overlap",
    "METHODS",
    "LEARNED_METHODS",
    "PRESETS",
    "Params",
    "make_params",
]
