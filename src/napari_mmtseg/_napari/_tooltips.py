"""Tooltips of the dock widget, kept in one place."""

TIPS = {
    "image": "The image layer to segment. Follows the layer selected in the layer list.",
    "method": (
        "mmt: Mutual Mean-Teaching (two student/teacher CNN pairs teach each other; the paper).\n"
        "kim2020: one CNN, feature similarity + spatial continuity (Kim et al. 2020).\n"
        "kanezaki2018: one CNN refined on SLIC superpixels (Kanezaki 2018).\n"
        "kmeans: k-means on pixel colours (baseline, no training).\n"
        "felzenszwalb: graph-based superpixels (baseline, no training).\n"
        "multiotsu: multi-level Otsu intensity thresholds (baseline, no training).\n"
        "trainable: scikit-image's pixel classifier (random forest) trained on your scribbles "
        "only: use Refine."
    ),
    "preset": (
        "paper: the paper's settings (q=100, 1000 iterations, full size); slow on a CPU.\n"
        "fast: q=32, 300 iterations, trains on a copy whose longest side is at most 128 px, "
        "stops once\nthe labels stop changing; meant for CPUs. Choosing a preset resets the "
        "fields below."
    ),
    "device": (
        "auto: CUDA GPU if PyTorch sees one, then Apple MPS, then the CPU.\n"
        "An explicit choice that is not available stops with a message."
    ),
    "q": "Most clusters a run can produce (the CNN's output channels, q). Training merges "
    "clusters, so the result usually has fewer.",
    "k": "Number of clusters for k-means.",
    "max_iter": "Most training iterations per 2D slice (T). The 'fast' preset may stop "
    "earlier once the labels stop changing.",
    "beta": "Weight of the total-variation (spatial continuity) term: larger values give "
    "smoother regions and fewer, larger segments.",
    "seed": "Random seed: the same image, parameters and seed give the same result on the "
    "same device.",
    "stack": (
        "For 3D (Z, Y, X) or time-lapse (T, Y, X) layers: segment only the 2D slice on "
        "screen, or every slice (ids kept consistent from slice to slice). An axis of "
        "length 1 is no stack: (64, 64, 1) and (1, 64, 64) are 2D images."
    ),
    "channel_axis": (
        "Which axis holds colour channels. RGB layers use their last axis; for RGBA, "
        "'4 channels' keeps the 4th entry, which RGBA drops as alpha. For other layers "
        "pick an axis only if it is channels (not Z or time); 'none' treats it as grey."
    ),
    "update": (
        "Write the result into the previous result layer of this image (undoable with Ctrl+Z) "
        "instead of adding a new layer. Without it a new layer is always added, so edits "
        "made to an earlier result are never lost."
    ),
    "scribbles": (
        "The Labels layer Refine learns from. A result of this widget: the pixels you changed "
        "in it since it was written (painted with another label; erased pixels are kept as "
        "you left them but teach nothing). Any other Labels layer of the image's shape: its "
        "nonzero pixels, one label per class."
    ),
    "preview": "Show the labels as they form during training in a temporary preview layer.",
    "advanced": "Less common settings; the preset fills them in.",
    "run": "Start the segmentation in the background; the viewer stays usable.",
    "refine_run": (
        "Train again with the scribbles: each scribbled pixel pulls its whole region toward its "
        "label, starting from the previous result's networks when it came from the same method. "
        "The labels go into the previous result of this image as one undoable step (Ctrl+Z); "
        "pixels you painted or erased there are left as they are."
    ),
    "cancel": "Stop the running segmentation; no result layer is added.",
    "status": "Device, progress and the number of labels of the current slice.",
    # advanced parameters (names of napari_mmtseg.Params)
    "train_size": "Longest side of the copy the networks train on (0 = full size). Labels "
    "are always predicted at full resolution.",
    "n_conv": "3x3 convolution blocks before the 1x1 head (2 + head = the paper's M = 3 layers).",
    "lr": "SGD learning rate.",
    "momentum": "SGD momentum.",
    "min_labels": "Stop once the labels of a slice fall to this many.",
    "alpha": "MMT only: EMA momentum of the teacher networks.",
    "soft_weight": "MMT only: weight of the soft cross-entropy toward the other teacher.",
    "noise": "MMT only: std of Gaussian noise added to each student's input.",
    "tol": "Stop when fewer than this fraction of pixels change label for 'patience' "
    "iterations (0 = never stop early).",
    "patience": "Iterations the labels must stay stable (see tol) before stopping.",
    "tile": "Inference tile size in pixels; bounds memory on large images.",
    "n_segments": "kanezaki2018 only: number of SLIC superpixels.",
    "compactness": "kanezaki2018 only: SLIC compactness.",
    "scale": "felzenszwalb only: larger values give larger segments.",
    "sigma": "felzenszwalb only: Gaussian smoothing before segmenting.",
    "min_size": "felzenszwalb only: smallest segment, in pixels.",
    "n_classes": "Classes the result ends with (0 = auto: the method's own clusters that are "
    "left after clean-up; the result's metadata says why). With a number, "
    "clusters are grouped by colour to exactly that many.",
    "output": "regions: one label per connected region (instances, e.g. one per nucleus).\n"
    "clusters: one label per class, the same label for the same kind of pixel anywhere.",
    "min_region_size": "Pieces smaller than this many pixels join their neighbour (0 = auto: "
    "1/5000 of the slice, at least 16).",
    "merge_threshold": "Adjacent regions whose shared boundary is weaker than this merge "
    "(image gradient, CIELAB units or % of the intensity range; 0 = off).",
    "texture_weight": "A boundary also counts as weak when it is no stronger than this times the "
    "texture (mean gradient) inside the smoother of its two regions: stripes and "
    "foliage merge, an edge beside a smooth region stays (0 = off). auto (the "
    "lowest value, the default): 0.5 on colour (RGB) images, off on grey and "
    "multichannel ones, where it merged textured cells across the edges between "
    "them.",
    "line_width": "Thin lines darker or brighter than the regions around them (membranes, cell "
    "walls) up to this mean thickness in pixels stay their own regions: they never "
    "merge into the regions they separate (0 = off).",
    "refine": "Give thin transition bands along edges to their neighbours and move every "
    "boundary onto the strongest image edge within 2 px.",
    "scribble_weight": "Weight of the cross-entropy that pulls scribbled pixels toward their "
    "class (Kim et al. 2020 use 0.5).",
    "superpixel_size": "MMT only: training targets made constant on SLIC superpixels of about "
    "this many training pixels (0 = off).",
    "threads": "CPU threads PyTorch may use (0 = all cores but one, which keeps the viewer "
    "responsive).",
}
