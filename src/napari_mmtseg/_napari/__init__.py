"""napari / Qt glue for napari-mmtseg: the dock widget and sample data.

Nothing outside this subpackage imports napari or Qt; the engine
(:func:`napari_mmtseg.iter_segment`) is plain Python + torch.
"""
