"""The package's version, in a module of its own so that the package's modules can name it
without importing ``napari_mmtseg/__init__.py`` (which imports them)."""

__version__ = "0.1.0"
