"""Segmentation metrics (Qt-free): a label map against human annotations, and runs compared.

Every partition metric is computed from the contingency table of the two label maps
(:mod:`.table`), so the cost is one ``bincount`` over the pixels plus work on a
``K_gt x K_pred`` matrix, never on pixel pairs.

Against ground truth (``gt`` first, ``pred`` second, any integer ids; :mod:`.partition`):

- :func:`accuracy`: the paper's metric, best one-to-one (Hungarian) mapping between predicted
  clusters and GT segments, matched pixels / all pixels;
- :func:`miou`: mean IoU under that same matching, averaged over GT segments;
- :func:`miou_kim`: Kim et al. 2020's protocol, each GT segment's best IoU over the
  prediction's connected components;
- :func:`rand_index` and :func:`pri` (probabilistic Rand index against several annotations);
- :func:`variation_of_information` (bits by default, ``unit="nats"``) and :func:`voi` (nats);
- :func:`covering`: segmentation covering of the ground truth by the segmentation.

The BSDS500 region benchmark (:mod:`.bsds`): :func:`bsds_region_scores` (covering, PRI, VoI in
bits of one segmentation against all annotations) and :func:`bsds_ods_ois` (ODS and OIS over a
dataset of hierarchies or parameter grids).

Against a foreground / instance mask (:mod:`.instances`): :func:`foreground_mask`,
:func:`foreground_iou`, :func:`instance_f1`, :func:`score_instances`.

Between runs (:mod:`.runs`): :func:`agreement`, :func:`ari`, :func:`stability`.

:func:`score` (:mod:`.scoring`) scores one prediction against each human annotation and reports
the mean and the best over annotations (VoI in nats there, as its ``voi_*`` columns always
were).
"""

from .bsds import bsds_ods_ois, bsds_region_scores
from .instances import (
    foreground_iou,
    foreground_mask,
    gt_instances,
    instance_f1,
    score_instances,
)
from .partition import (
    accuracy,
    connected_components,
    covering,
    miou,
    miou_kim,
    n_pieces,
    n_segments,
    pri,
    rand_index,
    variation_of_information,
    voi,
)
from .runs import agreement, ari, stability
from .scoring import HIGHER_IS_BETTER, METRICS, score
from .table import contingency

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "accuracy",
    "agreement",
    "ari",
    "bsds_ods_ois",
    "bsds_region_scores",
    "connected_components",
    "contingency",
    "covering",
    "foreground_iou",
    "foreground_mask",
    "gt_instances",
    "instance_f1",
    "miou",
    "miou_kim",
    "n_pieces",
    "n_segments",
    "pri",
    "rand_index",
    "score",
    "score_instances",
    "stability",
    "variation_of_information",
    "voi",
]
