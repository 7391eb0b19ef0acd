"""The output stage: from a method's raw cluster map to the label image a person keeps.

Every method (learned or classical) ends with a 2D map of cluster ids, one per kind of pixel.
That map is noisy: thin pieces along edges, specks inside textures, a colour gradient cut into
bands. :func:`finish_labels` turns it into either

- **clusters** (semantic classes: the same id for the same kind of pixel anywhere in the
  image), or
- **regions** (instances: one id per connected region, what a nucleus counter wants),

in scikit-image / SciPy calls, one module per step:

- :mod:`.pieces`: small pieces absorbed (:func:`remove_small_pieces`), enclosed regions no more
  distinct than the noise joined (:func:`.pieces.absorb_indistinct`), and the last clean-up
  (no region under the minimum size: :func:`.pieces.ensure_min_size`);
- :mod:`.bands`: transition bands given away (:func:`remove_transition_bands`);
- :mod:`.lines`: thin lines found (:func:`thin_lines`);
- :mod:`.spots`, :mod:`.ridges`: small spots and thin ridges found in the image itself
  (:func:`.spots.distinct_spots`, :func:`.ridges.thin_ridges`);
- :mod:`.hierarchy`: the merge tree of every level of detail (:func:`.hierarchy.build_hierarchy`);
- :mod:`.merge`: weak boundaries merged against the texture beside them
  (:func:`merge_weak_boundaries`);
- :mod:`.snap`: boundaries snapped to the image's edges (:func:`snap_boundaries`);
- :mod:`.classes`: each region's class, grouped to ``n_classes`` (:func:`group_classes`);
- :mod:`.finish`: :func:`finish_labels`, the steps in order;
- :mod:`.summary`: what the stage did (:class:`OutputInfo`, :func:`summarize_output`);
- :mod:`.experiments`: the stage with its fixed step settings open, for ablations.

docs/method.md ("The output stage") describes each step and the measurements behind the
defaults. No Qt, no napari, no torch.
"""

from .bands import remove_transition_bands
from .classes import group_classes
from .finish import finish_labels
from .lines import thin_lines
from .merge import COLOUR_TEXTURE_WEIGHT, auto_texture_weight, merge_weak_boundaries
from .pieces import auto_min_region_size, remove_small_pieces
from .snap import snap_boundaries
from .summary import OutputInfo, summarize_output

__all__ = [
    "COLOUR_TEXTURE_WEIGHT",
    "OutputInfo",
    "auto_min_region_size",
    "auto_texture_weight",
    "finish_labels",
    "group_classes",
    "merge_weak_boundaries",
    "remove_small_pieces",
    "remove_transition_bands",
    "snap_boundaries",
    "summarize_output",
    "thin_lines",
]
